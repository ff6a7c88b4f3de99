"""Gimbal plant: isolator + 3-joint chain on a moving airframe, MuJoCo rigid-body dynamics,
FOC-driven gimbal BLDC motors, cogging, Dahl friction, cable stiffness (core: no rclpy).

Bodies (MuJoCo, free-floating base):
  base  (gimbal plate; free joint; held to the airframe by the isolator, a Python wrench)
   -> link1 (outer arm, joint 1) -> link2 (middle arm, joint 2) -> camera (joint 3, IMU site)
All joint axes intersect at the camera centre; the camera's CoM sits `camera_com_offset_m`
away (residual imbalance). The airframe is prescribed kinematics (AirframeTrajectory); it is
not a MuJoCo body, only the isolator's other end.

Isolator: n silicone balls on a square, linearised to a 6-DoF spring/damper about the base
origin (Harris' rigid-body isolator formulas): K_xy = n k_shear, K_z = n k_axial,
K_roll = K_pitch = n k_axial (s/2)^2, K_yaw = n k_shear s^2/2. Hysteretic damping with loss
factor eta is replaced by the viscous c = eta k / omega_n of each mode (equal at resonance,
pessimistic above it, where viscous transmissibility falls only as 1/f).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .base_motion import GRAVITY_M_S2, AirframeTrajectory
from .config import GimbalConfig

CAMERA_BELOW_BASE_M = 0.045   # axes' intersection (camera centre) below the isolator plane
AXIS_VEC = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}


def _box_inertia(mass, size):
    x, y, z = size
    return (mass * (y * y + z * z) / 12.0, mass * (x * x + z * z) / 12.0, mass * (x * x + y * y) / 12.0)


def build_mjcf(cfg: GimbalConfig, dt: float, variation: dict) -> str:
    order = cfg.joint_order
    lo, hi = cfg.joint_min_deg, cfg.joint_max_deg
    m_base, m_l1, m_l2 = cfg.arm_masses_kg
    cam_inertia = _box_inertia(cfg.camera_mass_kg, cfg.camera_size_m)
    cx, cy, cz = cfg.camera_com_offset_m
    joints = []
    for i in range(3):
        # MuJoCo adds hard stops a little outside the software limits (mechanical end stops).
        joints.append(
            f'<joint name="j{i + 1}" type="hinge" axis="{" ".join(map(str, AXIS_VEC[order[i]]))}" '
            f'limited="true" range="{lo[i] - 5.0} {hi[i] + 5.0}" '
            f'damping="{variation["viscous"][i]:.9g}" stiffness="{variation["cable"][i]:.9g}" '
            f'armature="{cfg.motor_rotor_inertia_kg_m2:.9g}"/>')
    return f"""
<mujoco model="skyroad_gimbal">
  <compiler angle="degree" autolimits="true"/>
  <option timestep="{dt:.9g}" gravity="0 0 {-GRAVITY_M_S2}" integrator="implicitfast">
    <flag contact="disable"/>
  </option>
  <worldbody>
    <body name="base" pos="0 0 0">
      <freejoint name="base_free"/>
      <inertial pos="0 0 0" mass="{m_base}" diaginertia="{m_base * 0.002:.6g} {m_base * 0.002:.6g} {m_base * 0.003:.6g}"/>
      <body name="link1" pos="0 0 {-CAMERA_BELOW_BASE_M}">
        {joints[0]}
        <inertial pos="{" ".join(f"{v:.6g}" for v in variation["outer_arm_com_m"])}" mass="{m_l1}" diaginertia="{m_l1 * 6e-4:.6g} {m_l1 * 6e-4:.6g} {m_l1 * 4e-4:.6g}"/>
        <body name="link2" pos="0 0 0">
          {joints[1]}
          <inertial pos="{" ".join(f"{v:.6g}" for v in variation["middle_arm_com_m"])}" mass="{m_l2}" diaginertia="{m_l2 * 4e-4:.6g} {m_l2 * 5e-4:.6g} {m_l2 * 4e-4:.6g}"/>
          <body name="camera" pos="0 0 0">
            {joints[2]}
            <inertial pos="{cx} {cy} {cz}" mass="{cfg.camera_mass_kg}" diaginertia="{cam_inertia[0]:.6g} {cam_inertia[1]:.6g} {cam_inertia[2]:.6g}"/>
            <site name="imu" pos="0 0 0"/>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
  <sensor>
    <gyro name="cam_gyro" site="imu"/>
    <accelerometer name="cam_accel" site="imu"/>
  </sensor>
</mujoco>
"""


@dataclass
class IsolatorParams:
    k_trans: tuple     # N/m (x, y, z) airframe frame
    c_trans: tuple     # N s/m
    k_rot: tuple       # N m/rad
    c_rot: tuple       # N m s/rad
    natural_hz_trans: tuple
    natural_hz_rot: tuple

    def as_dict(self):
        return {k: [round(float(v), 6) for v in getattr(self, k)] for k in
                ("k_trans", "c_trans", "k_rot", "c_rot", "natural_hz_trans", "natural_hz_rot")}


class GimbalPlant:
    """Steps the plant at dt; `set_motor_torque_commands` is the FOC torque request per joint."""

    def __init__(self, cfg: GimbalConfig, trajectory: AirframeTrajectory, rng: np.random.Generator):
        import mujoco
        self._mj = mujoco
        self.cfg = cfg
        self.dt = 1.0 / trajectory.rate_hz
        spread = cfg.plant_variation
        # Unit-to-unit spread of the poorly known quantities; the controller uses nominal values.
        vary = lambda nominal: [nominal * (1.0 + spread * rng.uniform(-1.0, 1.0)) for _ in range(3)]
        self.variation = {
            "coulomb": vary(cfg.friction_coulomb_nm),
            "viscous": vary(cfg.friction_viscous_nms),
            "cable": vary(cfg.cable_stiffness_nm_per_rad),
            "cogging": vary(cfg.motor_cogging_nm),
            "cogging_phase": [rng.uniform(0, 2 * math.pi) for _ in range(3)],
            "ripple_phase": [rng.uniform(0, 2 * math.pi) for _ in range(3)],
            "elec_offset": [rng.uniform(0, 2 * math.pi) for _ in range(3)],
            # assembly tolerance: arm CoMs within +/-1 mm of CAD (the controller knows CAD only)
            "outer_arm_com_m": [v + rng.uniform(-1e-3, 1e-3) for v in cfg.outer_arm_com_m],
            "middle_arm_com_m": [v + rng.uniform(-1e-3, 1e-3) for v in cfg.middle_arm_com_m],
        }
        self.model = mujoco.MjModel.from_xml_string(build_mjcf(cfg, self.dt, self.variation))
        self.data = mujoco.MjData(self.model)
        self.traj = trajectory
        self.base_id = self.model.body("base").id
        self.camera_id = self.model.body("camera").id
        self.n_steps = len(trajectory.quat_wxyz)
        # Attachment point of the isolator on the airframe (world), precomputed vectorised.
        from .base_motion import quat_rotate
        r_mount = np.asarray(cfg.mount_offset_m, float)
        self.att_pos = trajectory.pos_m + quat_rotate(trajectory.quat_wxyz, np.broadcast_to(r_mount, trajectory.pos_m.shape))
        self.att_vel = trajectory.vel_m_s + quat_rotate(trajectory.quat_wxyz, np.cross(trajectory.omega_body, r_mount))
        self.isolator = self._isolator_params()
        # Motor constants
        self.kt = cfg.motor_kt_nm_per_a
        self.r_ohm = cfg.motor_phase_resistance_ohm
        self.v_phase = cfg.motor_supply_v / math.sqrt(3.0)
        self.i_lim = cfg.motor_current_limit_a
        self.cur_alpha = 1.0 - math.exp(-2.0 * math.pi * cfg.motor_current_loop_hz * self.dt)
        self.pole_pairs = cfg.motor_pole_pairs
        self.cog_per_elec = math.lcm(cfg.motor_slots, 2 * cfg.motor_pole_pairs) // cfg.motor_pole_pairs
        self.sigma0 = [c / cfg.friction_presliding_rad for c in self.variation["coulomb"]]
        self.current = [0.0, 0.0, 0.0]
        self.dahl_z = [0.0, 0.0, 0.0]
        self.torque_cmd = [0.0, 0.0, 0.0]
        self.motors_enabled = True
        self.k = 0
        self.reset()

    # ------------------------------------------------------------------------------ set-up
    def _isolator_params(self) -> IsolatorParams:
        cfg = self.cfg
        n, s = cfg.isolator_balls, cfg.isolator_spacing_m
        ks, ka, eta = cfg.isolator_shear_stiffness_n_per_m, cfg.isolator_axial_stiffness_n_per_m, cfg.isolator_loss_factor
        mass = float(self.model.body_subtreemass[self.base_id])
        inertia = self._inertia_about_base()
        k_t = (n * ks, n * ks, n * ka)
        k_r = (n * ka * (s / 2) ** 2, n * ka * (s / 2) ** 2, n * ks * s * s / 2)
        wn_t = [math.sqrt(k / mass) for k in k_t]
        wn_r = [math.sqrt(k_r[i] / inertia[i]) for i in range(3)]
        return IsolatorParams(k_t, tuple(eta * k_t[i] / wn_t[i] for i in range(3)), k_r,
                              tuple(eta * k_r[i] / wn_r[i] for i in range(3)),
                              tuple(w / (2 * math.pi) for w in wn_t), tuple(w / (2 * math.pi) for w in wn_r))

    def _inertia_about_base(self):
        mj, m, d = self._mj, self.model, self.data
        mj.mj_resetData(m, d)
        mj.mj_forward(m, d)
        total = np.zeros((3, 3))
        origin = d.xpos[self.base_id].copy()
        for b in range(1, m.nbody):
            rot = d.ximat[b].reshape(3, 3)
            inertia = rot @ np.diag(m.body_inertia[b]) @ rot.T
            r = d.xipos[b] - origin
            total += inertia + m.body_mass[b] * (np.dot(r, r) * np.eye(3) - np.outer(r, r))
        return np.diag(total)

    def reset(self):
        mj, m, d = self._mj, self.model, self.data
        mj.mj_resetData(m, d)
        q = self.traj.quat_wxyz[0]
        # start at the static sag of the isolator under gravity
        mass = float(self.model.body_subtreemass[self.base_id])
        from .base_motion import quat_rotate
        sag_body = quat_rotate(np.array([q[0], -q[1], -q[2], -q[3]]), np.array([0.0, 0.0, -GRAVITY_M_S2 * mass]))
        sag_body = sag_body / np.array(self.isolator.k_trans)
        d.qpos[0:3] = self.att_pos[0] + quat_rotate(q, sag_body)
        d.qpos[3:7] = q
        d.qvel[0:3] = self.att_vel[0]
        mj.mj_forward(m, d)
        self.k = 0

    # ------------------------------------------------------------------------------ stepping
    def step(self):
        """Advances one plant step with the current torque commands (airframe from the trajectory)."""
        k = self.k if self.k < self.n_steps else self.n_steps - 1
        self.step_airframe(self.traj.quat_wxyz[k], self.att_pos[k], self.att_vel[k], self.traj.omega_body[k])

    def step_airframe(self, quat_wxyz, attach_pos, attach_vel, omega_body):
        """One plant step with the airframe state given (online use: the node)."""
        d = self.data
        qpos, qvel = d.qpos, d.qvel
        # ---- isolator wrench (airframe frame, then world) ----
        aw, ax, ay, az = quat_wxyz
        px, py, pz = attach_pos
        vx, vy, vz = attach_vel
        ox, oy, oz = omega_body
        dx, dy, dz = qpos[0] - px, qpos[1] - py, qpos[2] - pz
        ex, ey, ez = qvel[0] - vx, qvel[1] - vy, qvel[2] - vz
        # rotate world -> airframe: v' = R^T v  (conjugate quaternion)
        dx, dy, dz = _rot_inv(aw, ax, ay, az, dx, dy, dz)
        ex, ey, ez = _rot_inv(aw, ax, ay, az, ex, ey, ez)
        bw, bx, by, bz = qpos[3], qpos[4], qpos[5], qpos[6]
        # relative rotation q_rel = q_a^* q_b
        rw = aw * bw + ax * bx + ay * by + az * bz
        rx = aw * bx - ax * bw - ay * bz + az * by
        ry = aw * by + ax * bz - ay * bw - az * bx
        rz = aw * bz - ax * by + ay * bx - az * bw
        sgn = 2.0 if rw >= 0.0 else -2.0
        iso = self.isolator
        kt, ct, kr, cr = iso.k_trans, iso.c_trans, iso.k_rot, iso.c_rot
        fx = -kt[0] * dx - ct[0] * ex
        fy = -kt[1] * dy - ct[1] * ey
        fz = -kt[2] * dz - ct[2] * ez
        tx = -kr[0] * sgn * rx - cr[0] * (qvel[3] - ox)
        ty = -kr[1] * sgn * ry - cr[1] * (qvel[4] - oy)
        tz = -kr[2] * sgn * rz - cr[2] * (qvel[5] - oz)
        fx, fy, fz = _rot(aw, ax, ay, az, fx, fy, fz)
        tx, ty, tz = _rot(bw, bx, by, bz, tx, ty, tz)     # torque was in the base frame
        xfrc = d.xfrc_applied[self.base_id]
        xfrc[0] = fx; xfrc[1] = fy; xfrc[2] = fz; xfrc[3] = tx; xfrc[4] = ty; xfrc[5] = tz
        # ---- joints: FOC current loop with voltage limit, ripple, cogging, Dahl friction ----
        var = self.variation
        dt = self.dt
        qfrc = d.qfrc_applied
        for j in range(3):
            angle = qpos[7 + j]
            rate = qvel[6 + j]
            i_ref = self.torque_cmd[j] / self.kt if self.motors_enabled else 0.0
            if i_ref > self.i_lim:
                i_ref = self.i_lim
            elif i_ref < -self.i_lim:
                i_ref = -self.i_lim
            back_emf = self.kt * rate
            i_hi = (self.v_phase - back_emf) / self.r_ohm
            i_lo = (-self.v_phase - back_emf) / self.r_ohm
            if i_ref > i_hi:
                i_ref = i_hi
            elif i_ref < i_lo:
                i_ref = i_lo
            cur = self.current[j]
            cur += (i_ref - cur) * self.cur_alpha
            self.current[j] = cur
            theta_e = self.pole_pairs * angle + var["elec_offset"][j]
            torque = self.kt * cur * (1.0 + self.cfg.motor_torque_ripple * math.sin(6.0 * theta_e + var["ripple_phase"][j]))
            torque += var["cogging"][j] * math.sin(self.cog_per_elec * theta_e + var["cogging_phase"][j])
            # Dahl friction, exact update for constant rate over dt (stable for any rate).
            fc = var["coulomb"][j]
            if fc > 0.0:
                s0 = self.sigma0[j]
                z = self.dahl_z[j]
                if rate != 0.0:
                    z_ss = fc / s0 if rate > 0.0 else -fc / s0
                    z = z_ss + (z - z_ss) * math.exp(-abs(rate) * s0 / fc * dt)
                self.dahl_z[j] = z
                torque -= s0 * z
            qfrc[6 + j] = torque
        self._mj.mj_step(self.model, d)
        self.k += 1

    def cogging_calibration(self, rng: np.random.Generator):
        """What an anticogging calibration run (slow sweep, torque logged vs encoder angle)
        identifies per joint: (amplitude, mechanical harmonic, phase), amplitude within
        +/- anticogging_residual of the truth. Phase errors arise in use from encoder INL."""
        res = self.cfg.anticogging_residual
        out = []
        for j in range(3):
            amplitude = self.variation["cogging"][j] * (1.0 + res * rng.uniform(-1.0, 1.0))
            k_mech = self.cog_per_elec * self.pole_pairs
            phase = self.cog_per_elec * self.variation["elec_offset"][j] + self.variation["cogging_phase"][j]
            out.append((amplitude, float(k_mech), phase))
        return out

    # ------------------------------------------------------------------------------ accessors
    def camera_quat(self):
        q = self.data.xquat[self.camera_id]
        return (q[0], q[1], q[2], q[3])

    def joint_angles(self):
        q = self.data.qpos
        return (q[7], q[8], q[9])

    def joint_rates(self):
        v = self.data.qvel
        return (v[6], v[7], v[8])

    def imu_truth(self):
        """Camera gyro (rad/s) and specific force (m/s^2) in the camera frame."""
        s = self.data.sensordata
        return s[0], s[1], s[2], s[3], s[4], s[5]

    def base_quat(self):
        q = self.data.qpos
        return (q[3], q[4], q[5], q[6])

    def model_parameters(self) -> dict:
        cam_inertia = _box_inertia(self.cfg.camera_mass_kg, self.cfg.camera_size_m)
        return {
            "dynamics": "MuJoCo %s, free-floating base + 3 hinge joints, implicitfast, dt=%.6g s"
                        % (self._mj.__version__, self.dt),
            "joint_order": self.cfg.joint_order,
            "suspended_mass_kg": round(float(self.model.body_subtreemass[self.base_id]), 4),
            "camera_inertia_kg_m2": [round(v, 9) for v in cam_inertia],
            "camera_com_offset_m": list(self.cfg.camera_com_offset_m),
            "isolator": {"source": "4 silicone damper balls; stiffness = design value for a 16 Hz lateral mode "
                                   "(README); loss factor 0.2: Snowdon, NBS Handbook 128 (1979), silicone/natural "
                                   "rubber 0.1-0.3",
                         "per_ball_shear_n_per_m": self.cfg.isolator_shear_stiffness_n_per_m,
                         "per_ball_axial_n_per_m": self.cfg.isolator_axial_stiffness_n_per_m,
                         "loss_factor": self.cfg.isolator_loss_factor,
                         **self.isolator.as_dict()},
            "motor": {"source": "iPower GM2804H-100T class gimbal BLDC (12N14P), FOC",
                      "kt_nm_per_a": self.kt, "phase_resistance_ohm": self.r_ohm,
                      "phase_voltage_limit_v": round(self.v_phase, 4), "current_limit_a": self.i_lim,
                      "stall_torque_nm": round(self.kt * min(self.i_lim, self.v_phase / self.r_ohm), 5),
                      "current_loop_hz": self.cfg.motor_current_loop_hz,
                      "cogging_periods_per_rev": self.cog_per_elec * self.pole_pairs,
                      "cogging_nm": [round(v, 7) for v in self.variation["cogging"]],
                      "torque_ripple": self.cfg.motor_torque_ripple},
            "friction": {"model": "Dahl (pre-sliding) + viscous",
                         "coulomb_nm": [round(v, 7) for v in self.variation["coulomb"]],
                         "viscous_nms": [round(v, 9) for v in self.variation["viscous"]],
                         "presliding_rad": self.cfg.friction_presliding_rad},
            "cable_stiffness_nm_per_rad": [round(v, 7) for v in self.variation["cable"]],
            "arm_com_m": {"outer": [round(v, 5) for v in self.variation["outer_arm_com_m"]],
                          "middle": [round(v, 5) for v in self.variation["middle_arm_com_m"]]},
        }


def _rot(w, x, y, z, vx, vy, vz):
    """v' = R(q) v."""
    tx = 2.0 * (y * vz - z * vy)
    ty = 2.0 * (z * vx - x * vz)
    tz = 2.0 * (x * vy - y * vx)
    return (vx + w * tx + (y * tz - z * ty),
            vy + w * ty + (z * tx - x * tz),
            vz + w * tz + (x * ty - y * tx))


def _rot_inv(w, x, y, z, vx, vy, vz):
    """v' = R(q)^T v."""
    return _rot(w, -x, -y, -z, vx, vy, vz)

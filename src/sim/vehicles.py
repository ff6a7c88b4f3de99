"""Vehicle models behind the Gazebo systems a world declares (core: numpy only, no MuJoCo, no ROS).

* `SingleTrackModel` + `AckermannDrive`: gz-sim-ackermann-steering-system. The car is CommonRoad's
  dynamic single-track model (ST; Althoff, Würsching, "CommonRoad: Vehicle Models", 2020, sec. 5) with
  the published parameter set of vehicle 2 (BMW 320i), load transfer, linear tyres normalised by load,
  steering-rate and acceleration constraints; plus first-order steering and drive lags.
  The (slip angle, yaw rate) subsystem is linear for a given speed and is integrated with implicit
  Euler, so it stays stable at the low speeds where the explicit ST model is stiff (1/v terms).
* `MulticopterMotors` + `LeeVelocityController`: gz-sim-multicopter-motor-model-system and
  gz-sim-multicopter-control-system (geometric controller of Lee, Leok, McClamroch, CDC 2010, as
  gz's LeeVelocityController): per-rotor first-order motor lag, thrust k_f w^2 with the gz inflow
  reduction, drag torque, rotor drag and rolling moment, allocation by pseudo-inverse with limits.
* `WindModel`: gz-sim-wind-effects-system (steady wind + sinusoidal and Gaussian gusts, seeded).
* `JointPid`: gz-sim-joint-position-controller-system.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .sdf import Plugin, SdfError


# ------------------------------------------------------------------ car


@dataclass
class SingleTrackParams:
    wheel_base_m: float
    lf_m: float
    lr_m: float
    mass_kg: float
    yaw_inertia_kgm2: float
    cg_height_m: float
    c_sf_per_rad: float          # cornering stiffness per unit vertical load, front (CommonRoad C_Sf)
    c_sr_per_rad: float
    mu: float
    steering_limit_rad: float
    max_steering_rate_rad_s: float
    v_switch_m_s: float
    a_max_m_s2: float
    v_min_m_s: float
    v_max_m_s: float
    gravity_m_s2: float = 9.81
    v_kinematic_m_s: float = 0.1  # CommonRoad's switch to the kinematic model below this speed

    def cornering_stiffness_n_per_rad(self) -> tuple[float, float]:
        """Axle cornering stiffness (N/rad) at rest load: mu * C_S * F_z."""
        g = self.gravity_m_s2
        fz_f = self.mass_kg * g * self.lr_m / self.wheel_base_m
        fz_r = self.mass_kg * g * self.lf_m / self.wheel_base_m
        return self.mu * self.c_sf_per_rad * fz_f, self.mu * self.c_sr_per_rad * fz_r


class SingleTrackModel:
    """CommonRoad ST model; state at the centre of gravity: x, y, delta, v, psi, r (yaw rate), beta."""

    def __init__(self, params: SingleTrackParams, x=0.0, y=0.0, psi=0.0, v=0.0, delta=0.0):
        self.p = params
        self.x, self.y, self.psi, self.v, self.delta = x, y, psi, v, delta
        self.r = 0.0
        self.beta = 0.0
        self.ax = 0.0                   # last applied longitudinal acceleration

    def constrain(self, steer_rate: float, accel: float) -> tuple[float, float]:
        """CommonRoad steering_constraints / acceleration_constraints."""
        p = self.p
        if (self.delta <= -p.steering_limit_rad and steer_rate < 0) or \
                (self.delta >= p.steering_limit_rad and steer_rate > 0):
            steer_rate = 0.0
        steer_rate = min(max(steer_rate, -p.max_steering_rate_rad_s), p.max_steering_rate_rad_s)
        pos_limit = p.a_max_m_s2 * p.v_switch_m_s / self.v if self.v > p.v_switch_m_s else p.a_max_m_s2
        if (self.v <= p.v_min_m_s and accel <= 0) or (self.v >= p.v_max_m_s and accel >= 0):
            accel = 0.0
        accel = min(max(accel, -p.a_max_m_s2), pos_limit)
        return steer_rate, accel

    def derivatives_dynamic(self, state, steer_rate, accel):
        """Continuous CommonRoad ST right-hand side (for reference integration in tests)."""
        p = self.p
        x, y, delta, v, psi, r, beta = state
        g, h, lf, lr, mu = p.gravity_m_s2, p.cg_height_m, p.lf_m, p.lr_m, p.mu
        csf, csr, m, iz = p.c_sf_per_rad, p.c_sr_per_rad, p.mass_kg, p.yaw_inertia_kgm2
        L = lf + lr
        fzf = g * lr - accel * h
        fzr = g * lf + accel * h
        dr = (-mu * m / (v * iz * L) * (lf ** 2 * csf * fzf + lr ** 2 * csr * fzr) * r
              + mu * m / (iz * L) * (lr * csr * fzr - lf * csf * fzf) * beta
              + mu * m / (iz * L) * lf * csf * fzf * delta)
        dbeta = ((mu / (v ** 2 * L) * (csr * fzr * lr - csf * fzf * lf) - 1.0) * r
                 - mu / (v * L) * (csr * fzr + csf * fzf) * beta
                 + mu / (v * L) * csf * fzf * delta)
        return np.array([v * math.cos(psi + beta), v * math.sin(psi + beta), steer_rate, accel, r, dr, dbeta])

    def step(self, dt: float, steer_rate: float, accel: float) -> None:
        p = self.p
        steer_rate, accel = self.constrain(steer_rate, accel)
        self.ax = accel
        self.delta = min(max(self.delta + steer_rate * dt, -p.steering_limit_rad), p.steering_limit_rad)
        v0, r_prev, beta_prev = self.v, self.r, self.beta
        self.v = v0 + accel * dt
        v = self.v
        lf, lr = p.lf_m, p.lr_m
        L = lf + lr
        if v < p.v_kinematic_m_s:
            # kinematic single-track (CommonRoad KS with slip angle at the CG); also used reversing
            self.beta = math.atan(math.tan(self.delta) * lr / L)
            self.r = v * math.cos(self.beta) * math.tan(self.delta) / L
        else:
            g, h, mu = p.gravity_m_s2, p.cg_height_m, p.mu
            csf, csr, m, iz = p.c_sf_per_rad, p.c_sr_per_rad, p.mass_kg, p.yaw_inertia_kgm2
            fzf = g * lr - accel * h
            fzr = g * lf + accel * h
            a11 = -mu * m / (v * iz * L) * (lf * lf * csf * fzf + lr * lr * csr * fzr)   # d r / d r
            a12 = mu * m / (iz * L) * (lr * csr * fzr - lf * csf * fzf)                   # d r / d beta
            b1 = mu * m / (iz * L) * lf * csf * fzf
            a21 = mu / (v * v * L) * (csr * fzr * lr - csf * fzf * lf) - 1.0              # d beta / d r
            a22 = -mu / (v * L) * (csr * fzr + csf * fzf)
            b2 = mu / (v * L) * csf * fzf
            # implicit Euler: (I - dt A) z+ = z + dt B delta
            m11, m12 = 1.0 - dt * a11, -dt * a12
            m21, m22 = -dt * a21, 1.0 - dt * a22
            rhs1 = self.r + dt * b1 * self.delta
            rhs2 = self.beta + dt * b2 * self.delta
            det = m11 * m22 - m12 * m21
            self.r = (rhs1 * m22 - m12 * rhs2) / det
            self.beta = (m11 * rhs2 - m21 * rhs1) / det
        # trapezoidal position update (second order in the heading; Euler drifts ~0.2 % of distance)
        psi0, beta0 = self.psi, beta_prev
        self.psi += 0.5 * (r_prev + self.r) * dt
        v_mid = 0.5 * (v0 + v)
        heading = 0.5 * (psi0 + beta0 + self.psi + self.beta)
        self.x += v_mid * math.cos(heading) * dt
        self.y += v_mid * math.sin(heading) * dt


def _child_number(el, tag, file, default=None):
    sub = el.find(tag)
    if sub is None or sub.text is None:
        if default is None:
            raise SdfError(file, el.sourceline, el.tag, f"missing required <{tag}>")
        return float(default)
    try:
        value = float(sub.text)
    except ValueError:
        raise SdfError(file, sub.sourceline, tag, f"expected a number, got {sub.text!r}") from None
    if not math.isfinite(value):
        raise SdfError(file, sub.sourceline, tag, "must be finite")
    return value


class AckermannDrive:
    """gz AckermannSteering semantics on top of the single-track model.

    cmd_vel (linear.x speed, angular.z yaw rate) -> steering target atan(L wz / v), clamped to
    <steering_limit>; speed target clamped to [<min_velocity>, <max_velocity>]. Actuators: steering
    follows its target through a first-order lag and the ST rate limit; the drive produces
    acceleration speed_gain*(v_cmd - v), clamped to [<min_acceleration>, <max_acceleration>], through
    a first-order lag. Wheel odometry integrates rear-wheel speed and steering angle (it drifts with
    tyre slip, as a real car's does).
    """

    def __init__(self, plugin: Plugin, gravity_m_s2: float):
        el = plugin.element
        f = plugin.file
        st = el.find("skyroad_single_track")
        if st is None:
            raise SdfError(f, plugin.line, "plugin",
                           "AckermannSteering needs <skyroad_single_track> (tyre/mass data for the built-in "
                           "sim; Gazebo ignores it)")
        wheel_base = plugin.number("wheel_base", 1.0)
        lf, lr = _child_number(st, "lf", f), _child_number(st, "lr", f)
        if abs(lf + lr - wheel_base) > 1e-3:
            raise SdfError(f, st.sourceline, "skyroad_single_track",
                           f"lf + lr = {lf + lr} differs from <wheel_base> {wheel_base}")
        self.params = SingleTrackParams(
            wheel_base_m=wheel_base, lf_m=lf, lr_m=lr,
            mass_kg=_child_number(st, "mass", f), yaw_inertia_kgm2=_child_number(st, "yaw_inertia", f),
            cg_height_m=_child_number(st, "cg_height", f),
            c_sf_per_rad=_child_number(st, "cornering_stiffness_front", f),
            c_sr_per_rad=_child_number(st, "cornering_stiffness_rear", f),
            mu=_child_number(st, "friction_coefficient", f),
            steering_limit_rad=plugin.number("steering_limit", 0.5),
            max_steering_rate_rad_s=_child_number(st, "max_steering_rate", f),
            v_switch_m_s=_child_number(st, "switching_velocity", f),
            a_max_m_s2=_child_number(st, "max_abs_acceleration", f),
            v_min_m_s=plugin.number("min_velocity", -1.0),
            v_max_m_s=plugin.number("max_velocity", 1.0),
            gravity_m_s2=gravity_m_s2,
        )
        self.tau_steer_s = _child_number(st, "steering_time_constant", f)
        self.tau_drive_s = _child_number(st, "drive_time_constant", f)
        self.speed_gain = _child_number(st, "speed_gain", f)
        self.min_accel = plugin.number("min_acceleration", -1e9)
        self.max_accel = plugin.number("max_acceleration", 1e9)
        self.wheel_radius_m = plugin.number("wheel_radius", 0.2)
        self.kingpin_width_m = plugin.number("kingpin_width", 1.0)
        self.topic = plugin.text("topic")
        self.odom_topic = plugin.text("odom_topic")
        self.odom_rate_hz = plugin.number("odom_publish_frequency", 50.0)
        self.frame_id = plugin.text("frame_id", "odom")
        self.child_frame_id = plugin.text("child_frame_id", "base_link")
        self.left_joints = [e.text.strip() for e in el.findall("left_joint")]
        self.right_joints = [e.text.strip() for e in el.findall("right_joint")]
        self.left_steer = plugin.text("left_steering_joint")
        self.right_steer = plugin.text("right_steering_joint")
        self.model: SingleTrackModel | None = None
        self.cmd_speed = 0.0
        self.cmd_yaw_rate = 0.0
        self.accel_state = 0.0
        self.wheel_angle = 0.0
        # wheel odometry (rear-axle reference point)
        self.odom_x = self.odom_y = self.odom_yaw = 0.0
        self.odom_v = self.odom_wz = 0.0

    def reset(self, rear_x: float, rear_y: float, yaw: float) -> None:
        p = self.params
        self.model = SingleTrackModel(p, x=rear_x + p.lr_m * math.cos(yaw), y=rear_y + p.lr_m * math.sin(yaw), psi=yaw)
        self.odom_x, self.odom_y, self.odom_yaw = rear_x, rear_y, yaw

    def set_command(self, speed_m_s: float, yaw_rate_rad_s: float) -> None:
        if math.isfinite(speed_m_s) and math.isfinite(yaw_rate_rad_s):
            self.cmd_speed = min(max(speed_m_s, self.params.v_min_m_s), self.params.v_max_m_s)
            self.cmd_yaw_rate = yaw_rate_rad_s

    def steering_target(self) -> float:
        if abs(self.cmd_speed) < 1e-3:
            return self.model.delta          # gz keeps the wheels where they are at standstill
        target = math.atan(self.params.wheel_base_m * self.cmd_yaw_rate / self.cmd_speed)
        lim = self.params.steering_limit_rad
        return min(max(target, -lim), lim)

    def step(self, dt: float) -> None:
        m = self.model
        steer_rate = (self.steering_target() - m.delta) / self.tau_steer_s
        accel_target = min(max(self.speed_gain * (self.cmd_speed - m.v), self.min_accel), self.max_accel)
        self.accel_state += (accel_target - self.accel_state) * (1.0 - math.exp(-dt / self.tau_drive_s))
        m.step(dt, steer_rate, self.accel_state)
        # wheel odometry: rear axle speed = v cos(beta) (no longitudinal slip in the ST model)
        v_rear = m.v * math.cos(m.beta)
        self.odom_v = v_rear
        self.odom_wz = v_rear * math.tan(m.delta) / self.params.wheel_base_m
        self.odom_yaw += self.odom_wz * dt
        self.odom_x += v_rear * math.cos(self.odom_yaw) * dt
        self.odom_y += v_rear * math.sin(self.odom_yaw) * dt
        self.wheel_angle += v_rear / self.wheel_radius_m * dt

    def crash_stop(self) -> None:
        """Hard contact with an obstacle: the car stops where it is (deformation not modelled)."""
        m = self.model
        m.v = 0.0
        m.r = 0.0
        m.beta = 0.0
        self.accel_state = 0.0

    def rear_axle_pose(self) -> tuple[float, float, float]:
        m = self.model
        lr = self.params.lr_m
        return m.x - lr * math.cos(m.psi), m.y - lr * math.sin(m.psi), m.psi

    def world_velocity(self) -> tuple[float, float, float]:
        """(vx, vy) of the rear-axle point and yaw rate, world frame."""
        m = self.model
        lr = self.params.lr_m
        vx = m.v * math.cos(m.psi + m.beta) + m.r * lr * math.sin(m.psi)
        vy = m.v * math.sin(m.psi + m.beta) - m.r * lr * math.cos(m.psi)
        return vx, vy, m.r


# ------------------------------------------------------------------ multicopter


@dataclass
class Rotor:
    joint: str
    link: str
    direction: float           # +1 ccw, -1 cw (gz turningDirection)
    tau_up_s: float
    tau_down_s: float
    max_rot_velocity: float
    motor_constant: float      # thrust = k_f w^2
    moment_constant: float     # drag torque = k_m * thrust
    rotor_drag_coefficient: float
    rolling_moment_coefficient: float


def rotor_from_plugin(plugin: Plugin) -> Rotor:
    direction = plugin.text("turningDirection", "ccw")
    if direction not in ("cw", "ccw"):
        raise SdfError(plugin.file, plugin.line, "turningDirection", f"must be cw or ccw, got {direction!r}")
    motor_type = plugin.text("motorType", "velocity")
    if motor_type != "velocity":
        raise SdfError(plugin.file, plugin.line, "motorType", f"only 'velocity' motors are simulated, got {motor_type!r}")
    rotor = Rotor(
        joint=plugin.text("jointName") or "", link=plugin.text("linkName") or "",
        direction=1.0 if direction == "ccw" else -1.0,
        tau_up_s=plugin.number("timeConstantUp", 1.0 / 80.0),
        tau_down_s=plugin.number("timeConstantDown", 1.0 / 40.0),
        max_rot_velocity=plugin.number("maxRotVelocity", 838.0),
        motor_constant=plugin.number("motorConstant", 8.54858e-06),
        moment_constant=plugin.number("momentConstant", 0.016),
        rotor_drag_coefficient=plugin.number("rotorDragCoefficient", 1.0e-4),
        rolling_moment_coefficient=plugin.number("rollingMomentCoefficient", 1.0e-6),
    )
    if not rotor.joint or not rotor.link:
        raise SdfError(plugin.file, plugin.line, "plugin", "MulticopterMotorModel needs <jointName> and <linkName>")
    for name in ("tau_up_s", "tau_down_s", "max_rot_velocity", "motor_constant"):
        if getattr(rotor, name) <= 0:
            raise SdfError(plugin.file, plugin.line, "plugin", f"{name} must be > 0")
    return rotor


class MulticopterMotors:
    """Rotor speeds with first-order lag, and the forces/torques they put on the airframe."""

    def __init__(self, rotors: list[Rotor], positions_body: np.ndarray):
        self.rotors = rotors
        self.pos = np.asarray(positions_body, dtype=float)          # (n, 3) rotor hubs in body frame
        self.dir = np.array([r.direction for r in rotors])
        self.kf = np.array([r.motor_constant for r in rotors])
        self.km = np.array([r.moment_constant for r in rotors])
        self.tau_up = np.array([r.tau_up_s for r in rotors])
        self.tau_down = np.array([r.tau_down_s for r in rotors])
        self.w_max = np.array([r.max_rot_velocity for r in rotors])
        self.c_drag = np.array([r.rotor_drag_coefficient for r in rotors])
        self.c_roll = np.array([r.rolling_moment_coefficient for r in rotors])
        self.w = np.zeros(len(rotors))
        self._alpha_cache: dict = {}
        self._pos_list = [tuple(float(v) for v in p) for p in self.pos]
        self._kf_list, self._km_list = self.kf.tolist(), self.km.tolist()
        self._dir_list, self._cd_list, self._cr_list = self.dir.tolist(), self.c_drag.tolist(), self.c_roll.tolist()

    def step(self, dt: float, w_ref: np.ndarray) -> None:
        w_ref = np.clip(w_ref, 0.0, self.w_max)
        key = dt
        if key not in self._alpha_cache:
            self._alpha_cache[key] = (1.0 - np.exp(-dt / self.tau_up), 1.0 - np.exp(-dt / self.tau_down))
        a_up, a_down = self._alpha_cache[key]
        alpha = np.where(w_ref > self.w, a_up, a_down)
        self.w += (w_ref - self.w) * alpha

    def wrench_body(self, v_body: np.ndarray, omega_body: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Total force and torque about the body origin, body frame, for the current rotor speeds.
        Plain float arithmetic: for 4-8 rotors it is ~5x faster than numpy's per-call overhead."""
        vbx, vby, vbz = float(v_body[0]), float(v_body[1]), float(v_body[2])
        ox, oy, oz = float(omega_body[0]), float(omega_body[1]), float(omega_body[2])
        fx_t = fy_t = fz_t = tx = ty = tz = 0.0
        for (px, py, pz), w, kf, km, direction, cd, cr in self._rotor_rows():
            # hub velocity v + omega x r
            vx = vbx + oy * pz - oz * py
            vy = vby + oz * px - ox * pz
            vz = vbz + ox * py - oy * px
            # gz reduces thrust with inflow along the rotor axis: scalar = 1 - v_axial / 25
            scalar = min(max(1.0 - vz / 25.0, 0.0), 1.0)
            thrust = kf * w * w * scalar
            drag = w * cd                       # rotor (blade flapping) drag against in-plane velocity
            fx, fy = -drag * vx, -drag * vy
            fx_t += fx
            fy_t += fy
            fz_t += thrust
            roll = w * cr                       # rolling moment
            tx += py * thrust - pz * fy - roll * vx
            ty += pz * fx - px * thrust - roll * vy
            tz += px * fy - py * fx - direction * km * thrust   # reaction of the rotor drag torque
        return np.array([fx_t, fy_t, fz_t]), np.array([tx, ty, tz])

    def _rotor_rows(self):
        return zip(self._pos_list, self.w.tolist(), self._kf_list, self._km_list, self._dir_list,
                   self._cd_list, self._cr_list)


class LeeVelocityController:
    """gz MulticopterVelocityControl: cmd_vel (linear in the body frame, angular.z yaw rate) -> rotor
    speed references."""

    def __init__(self, plugin: Plugin, rotors: list[Rotor], positions_body: np.ndarray, mass_kg: float,
                 inertia_body: np.ndarray, gravity_m_s2: float):
        self.velocity_gain = plugin.vector("velocityGain", 3, (2.7, 2.7, 2.7))
        self.attitude_gain = plugin.vector("attitudeGain", 3, (2.0, 3.0, 0.15))
        self.rate_gain = plugin.vector("angularRateGain", 3, (0.4, 0.52, 0.18))
        self.max_accel = plugin.vector("maximumLinearAcceleration", 3, (1e9, 1e9, 1e9))
        self.max_vel = plugin.vector("maximumLinearVelocity", 3, (1e9, 1e9, 1e9))
        self.max_ang_vel = plugin.vector("maximumAngularVelocity", 3, (1e9, 1e9, 1e9))
        ns = (plugin.text("robotNamespace") or "").strip("/")
        self.topic = "/" + "/".join(p for p in (ns, plugin.text("commandSubTopic", "cmd_vel")) if p)
        self.enable_topic = "/" + "/".join(p for p in (ns, plugin.text("enableSubTopic", "enable")) if p)
        self.com_link = plugin.text("comLinkName", "base_link")
        config = plugin.element.find("rotorConfiguration")
        if config is None or not config.findall("rotor"):
            raise SdfError(plugin.file, plugin.line, "plugin", "MulticopterVelocityControl needs <rotorConfiguration>")
        by_joint = {r.joint: i for i, r in enumerate(rotors)}
        order, kf, km, direction = [], [], [], []
        for rel in config.findall("rotor"):
            joint = (rel.findtext("jointName") or "").strip()
            if joint not in by_joint:
                raise SdfError(plugin.file, rel.sourceline, "rotor",
                               f"jointName {joint!r} has no MulticopterMotorModel in this model")
            order.append(by_joint[joint])
            kf.append(_child_number(rel, "forceConstant", plugin.file))
            km.append(_child_number(rel, "momentConstant", plugin.file))
            direction.append(_child_number(rel, "direction", plugin.file))
        if sorted(order) != list(range(len(rotors))):
            raise SdfError(plugin.file, config.sourceline, "rotorConfiguration", "must list every rotor exactly once")
        self.order = np.array(order)
        self.kf = np.array(kf)
        pos = np.asarray(positions_body)[self.order]
        # [tau_x, tau_y, tau_z, T] = A @ thrusts
        a = np.vstack([pos[:, 1], -pos[:, 0], -np.array(direction) * np.array(km), np.ones(len(order))])
        self.alloc_pinv = np.linalg.pinv(a)
        self.thrust_max = self.kf * np.array([rotors[i].max_rot_velocity for i in order]) ** 2
        self.mass = mass_kg
        self.inertia = np.asarray(inertia_body, dtype=float)
        self.g = gravity_m_s2
        self.enabled = True
        self.cmd_lin = np.zeros(3)
        self.cmd_yaw_rate = 0.0

    def set_command(self, linear_xyz, yaw_rate: float) -> None:
        lin = np.asarray(linear_xyz, dtype=float)
        if np.all(np.isfinite(lin)) and math.isfinite(yaw_rate):
            self.cmd_lin = np.clip(lin, -self.max_vel, self.max_vel)
            self.cmd_yaw_rate = float(np.clip(yaw_rate, -self.max_ang_vel[2], self.max_ang_vel[2]))

    def rotor_velocities(self, rot: np.ndarray, v_world: np.ndarray, omega_body: np.ndarray) -> np.ndarray:
        n = len(self.order)
        if not self.enabled:
            return np.zeros(n)
        # scalar arithmetic: this runs every physics step and numpy's per-call overhead dominates 3-vectors
        r = rot.tolist()
        yaw = math.atan2(r[1][0], r[0][0])
        cy, sy = math.cos(yaw), math.sin(yaw)
        # gz LeeVelocityController: velocityError = v_world - R * cmd.linear (cmd in the body frame)
        c = self.cmd_lin
        vcx = r[0][0] * c[0] + r[0][1] * c[1] + r[0][2] * c[2]
        vcy = r[1][0] * c[0] + r[1][1] * c[1] + r[1][2] * c[2]
        vcz = r[2][0] * c[0] + r[2][1] * c[1] + r[2][2] * c[2]
        kv, amax = self.velocity_gain, self.max_accel
        ax = min(max(kv[0] * (vcx - v_world[0]), -amax[0]), amax[0])
        ay = min(max(kv[1] * (vcy - v_world[1]), -amax[1]), amax[1])
        az = min(max(kv[2] * (vcz - v_world[2]), -amax[2]), amax[2])
        fx, fy, fz = self.mass * ax, self.mass * ay, self.mass * (az + self.g)
        thrust = fx * r[0][2] + fy * r[1][2] + fz * r[2][2]
        fn = math.sqrt(fx * fx + fy * fy + fz * fz) or 1e-9
        b3 = (fx / fn, fy / fn, fz / fn)
        # b2d = b3d x b1c with b1c = (cy, sy, 0)
        b2 = (-b3[2] * sy, b3[2] * cy, b3[0] * sy - b3[1] * cy)
        n2 = math.sqrt(b2[0] ** 2 + b2[1] ** 2 + b2[2] ** 2) or 1e-9
        b2 = (b2[0] / n2, b2[1] / n2, b2[2] / n2)
        b1 = (b2[1] * b3[2] - b2[2] * b3[1], b2[2] * b3[0] - b2[0] * b3[2], b2[0] * b3[1] - b2[1] * b3[0])
        rd = np.array([[b1[0], b2[0], b3[0]], [b1[1], b2[1], b3[1]], [b1[2], b2[2], b3[2]]])
        rdtr = rd.T @ rot
        e_mat = rdtr - rdtr.T
        e_r = (0.5 * e_mat[2, 1], 0.5 * e_mat[0, 2], 0.5 * e_mat[1, 0])
        # desired body rate: R^T Rd (0, 0, wz) = wz * (third column of R^T Rd) = wz * rdtr[2, :]
        wz = self.cmd_yaw_rate
        w = omega_body
        ew = (w[0] - wz * rdtr[2, 0], w[1] - wz * rdtr[2, 1], w[2] - wz * rdtr[2, 2])
        j = self.inertia
        jw = (j[0] * w[0], j[1] * w[1], j[2] * w[2])
        gyro = (w[1] * jw[2] - w[2] * jw[1], w[2] * jw[0] - w[0] * jw[2], w[0] * jw[1] - w[1] * jw[0])
        kr, kw = self.attitude_gain, self.rate_gain
        wrench = np.array([-kr[0] * e_r[0] - kw[0] * ew[0] + gyro[0],
                           -kr[1] * e_r[1] - kw[1] * ew[1] + gyro[1],
                           -kr[2] * e_r[2] - kw[2] * ew[2] + gyro[2], thrust])
        # Attitude first: when the collective demand would saturate a rotor, lower the collective
        # thrust (thrusts are affine in it) instead of clipping rotors, which would distort the
        # torques and can flip the vehicle (the desaturation flight stacks such as PX4 do).
        torque_part = self.alloc_pinv[:, :3] @ wrench[:3]
        per_thrust = self.alloc_pinv[:, 3]
        headroom = [(tmax - a) / b for a, b, tmax in zip(torque_part, per_thrust, self.thrust_max) if b > 1e-12]
        if headroom:
            wrench[3] = max(0.0, min(wrench[3], min(headroom)))
        thrusts = np.clip(torque_part + per_thrust * wrench[3], 0.0, self.thrust_max)
        w_out = np.empty(n)
        w_out[self.order] = np.sqrt(thrusts / self.kf)
        return w_out


# ------------------------------------------------------------------ wind


class WindModel:
    """gz WindEffects: mean wind from <wind><linear_velocity>, magnitude/direction with first-order
    rise, sinusoidal gust and Gaussian noise; force on each wind-enabled link
    = scaling * mass * (wind - link velocity)."""

    def __init__(self, mean_velocity, plugin: Plugin | None, rng: np.random.Generator):
        self.mean = np.asarray(mean_velocity, dtype=float)
        self.rng = rng
        self.scaling = 0.0
        self.mag_rise_s = self.dir_rise_s = 1.0
        self.mag_amp = self.mag_period = self.dir_amp_deg = self.dir_period = 0.0
        self.mag_noise = self.dir_noise_deg = self.vert_noise = 0.0
        if plugin is not None:
            el = plugin.element
            f = plugin.file
            self.scaling = plugin.number("force_approximation_scaling_factor", 1.0)
            mag = el.find("horizontal/magnitude")
            if mag is not None:
                self.mag_rise_s = _child_number(mag, "time_for_rise", f, 10.0)
                self.mag_amp = _child_number(mag.find("sin"), "amplitude_percent", f, 0.0) if mag.find("sin") is not None else 0.0
                self.mag_period = _child_number(mag.find("sin"), "period", f, 1.0) if mag.find("sin") is not None else 1.0
                self.mag_noise = _child_number(mag.find("noise"), "stddev", f, 0.0) if mag.find("noise") is not None else 0.0
            dire = el.find("horizontal/direction")
            if dire is not None:
                self.dir_rise_s = _child_number(dire, "time_for_rise", f, 30.0)
                self.dir_amp_deg = _child_number(dire.find("sin"), "amplitude", f, 0.0) if dire.find("sin") is not None else 0.0
                self.dir_period = _child_number(dire.find("sin"), "period", f, 1.0) if dire.find("sin") is not None else 1.0
                self.dir_noise_deg = _child_number(dire.find("noise"), "stddev", f, 0.0) if dire.find("noise") is not None else 0.0
            vert = el.find("vertical/noise")
            if vert is not None:
                self.vert_noise = _child_number(vert, "stddev", f, 0.0)
        self.mag_state = 0.0
        self.dir_state = math.degrees(math.atan2(self.mean[1], self.mean[0]))
        self._block: list = []
        self._block_i = 0
        self.velocity = np.zeros(3)

    @property
    def active(self) -> bool:
        return self.scaling > 0.0 and (np.any(self.mean != 0.0) or self.mag_noise > 0 or self.vert_noise > 0)

    def _normal(self) -> float:
        # standard normals drawn in blocks: one Generator call per 4096 draws instead of per step
        if self._block_i >= len(self._block):
            self._block = self.rng.standard_normal(4096).tolist()
            self._block_i = 0
        self._block_i += 1
        return self._block[self._block_i - 1]

    def update(self, t: float, dt: float) -> np.ndarray:
        target = float(np.hypot(self.mean[0], self.mean[1]))
        self.mag_state += (target - self.mag_state) * min(1.0, dt / self.mag_rise_s)
        mag = self.mag_state * (1.0 + self.mag_amp * math.sin(2 * math.pi * t / self.mag_period))
        if self.mag_noise:
            mag += self.mag_noise * self._normal()
        direction = self.dir_state + self.dir_amp_deg * math.sin(2 * math.pi * t / self.dir_period)
        if self.dir_noise_deg:
            direction += self.dir_noise_deg * self._normal()
        vz = self.mean[2] + (self.vert_noise * self._normal() if self.vert_noise else 0.0)
        d = math.radians(direction)
        self.velocity = np.array([mag * math.cos(d), mag * math.sin(d), vz])
        return self.velocity


# ------------------------------------------------------------------ joint position controller


class JointPid:
    """gz JointPositionController: PID on position error -> joint effort, clamped to cmd_min/max."""

    def __init__(self, plugin: Plugin):
        self.joint = plugin.text("joint_name")
        if not self.joint:
            raise SdfError(plugin.file, plugin.line, "plugin", "JointPositionController needs <joint_name>")
        self.topic = plugin.text("topic")
        self.kp = plugin.number("p_gain", 1.0)
        self.ki = plugin.number("i_gain", 0.0)
        self.kd = plugin.number("d_gain", 0.0)
        self.i_max = plugin.number("i_max", 1.0)
        self.i_min = plugin.number("i_min", -1.0)
        self.cmd_max = plugin.number("cmd_max", 1000.0)
        self.cmd_min = plugin.number("cmd_min", -1000.0)
        self.target = plugin.number("initial_position", 0.0)
        self.integral = 0.0

    def set_target(self, position_rad: float) -> None:
        if math.isfinite(position_rad):
            self.target = position_rad

    def effort(self, position: float, velocity: float, dt: float) -> float:
        err = self.target - position
        self.integral = min(max(self.integral + self.ki * err * dt, self.i_min), self.i_max)
        u = self.kp * err + self.integral - self.kd * velocity
        return min(max(u, self.cmd_min), self.cmd_max)

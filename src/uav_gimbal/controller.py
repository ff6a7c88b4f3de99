"""Gimbal core loop: estimator + setpoint/mode logic + cascaded attitude/rate control with
base-rate feed-forward (core: no rclpy).

Per control step (`GimbalCore.step`, loop_rate_hz):
  1. estimator update from the camera IMU sample (never the true attitude);
  2. reference attitude q_cmd advanced by the reference-model rate;
  3. angle loop: camera-frame attitude error -> rate setpoint (+ reference rate);
  4. rate loop: PI on the bias-corrected camera gyro -> camera angular acceleration;
  5. torques: tau_j = a_j . (I_cam alpha) + I_j (a_j . alpha) with a_j the joint axes in
     the camera frame (J^T mapping), plus feed-forward of the joint rates that cancel the
     measured vehicle (base) rate: q_dot_ff = A^-1 (omega_sp - R_cb omega_base), used to
     compensate friction and cable torque before they disturb the camera;
  6. joint-limit barrier, torque limit.
Every `setpoint_rate_hz` the mode logic recomputes the target attitude (follow / lock /
yaw_lock / ROI / neutral / retract, angle or rate setpoints) and clamps it so that the joint
angles that realise it stay inside the limits (transforms3d Euler decomposition in the
chain's axis order). Scalar `math` throughout the fast path: >= 20k steps/s in CPython.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import transforms3d as t3d

from .config import GimbalConfig
from .base_motion import GRAVITY_M_S2
from .estimator import MahonyEstimator, MekfEstimator, TiltAiding
from .plant import CAMERA_BELOW_BASE_M

DEG = math.pi / 180.0
AXIS_INDEX = {"x": 0, "y": 1, "z": 2}


class GimbalInputError(ValueError):
    """A command or setpoint is unusable; the message says which and why."""


def _rot_t(axis, c, s, vx, vy, vz):
    """R_axis(theta)^T v for an elementary rotation with cos c, sin s."""
    if axis == 0:
        return vx, c * vy + s * vz, -s * vy + c * vz
    if axis == 1:
        return c * vx - s * vz, vy, s * vx + c * vz
    return c * vx + s * vy, -s * vx + c * vy, vz


def _rot_t_x(c, s, vx, vy, vz):
    return vx, c * vy + s * vz, -s * vy + c * vz


def _rot_t_y(c, s, vx, vy, vz):
    return c * vx - s * vz, vy, s * vx + c * vz


def _rot_t_z(c, s, vx, vy, vz):
    return c * vx + s * vy, -s * vx + c * vy, vz


_ROT_T = (_rot_t_x, _rot_t_y, _rot_t_z)
_UNIT = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


def chain_matrix(order: str, angles: Sequence[float]) -> np.ndarray:
    """R_base_camera for joint angles (outer to inner) about the axes named by `order`."""
    return t3d.euler.euler2mat(angles[0], angles[1], angles[2], "r" + order)


def chain_angles(order: str, matrix: np.ndarray):
    return t3d.euler.mat2euler(matrix, "r" + order)


def euler_zyx_matrix(roll, pitch, yaw) -> np.ndarray:
    """Camera attitude from roll/pitch/yaw (ZYX, FLU/ENU; pitch + = nose down)."""
    return t3d.euler.euler2mat(yaw, pitch, roll, "rzyx")


def roi_angles(camera_position, roi_position):
    """(pitch, yaw) that point the camera x axis from `camera_position` at `roi_position`."""
    d = np.asarray(roi_position, float) - np.asarray(camera_position, float)
    horizontal = math.hypot(d[0], d[1])
    if horizontal < 1e-9 and abs(d[2]) < 1e-9:
        raise GimbalInputError("ROI coincides with the camera position")
    return math.atan2(-d[2], horizontal), math.atan2(d[1], d[0])


def nominal_joint_inertias(cfg: GimbalConfig):
    """Extra inertia each joint moves besides the camera (arms + rotor), nominal geometry
    matching plant.build_mjcf; the loop is robust to errors here."""
    _m_base, m1, m2 = cfg.arm_masses_kg
    rotor = cfg.motor_rotor_inertia_kg_m2
    c1, c2 = cfg.outer_arm_com_m, cfg.middle_arm_com_m
    i2 = m2 * 4.5e-4 + m2 * (c2[0] ** 2 + c2[1] ** 2 + c2[2] ** 2) * 0.5
    i1 = m1 * 5e-4 + m1 * (c1[0] ** 2 + c1[1] ** 2) + i2
    return (rotor + i1, rotor + i2, rotor)


class GimbalCore:
    """Estimator + controller. Inputs are sensor samples only; outputs joint torque requests."""

    def __init__(self, cfg: GimbalConfig):
        self.cfg = cfg
        self.dt = 1.0 / cfg.loop_rate_hz
        if cfg.estimator == "mahony":
            self.est = MahonyEstimator(cfg.mahony_kp, cfg.mahony_ki, cfg.accel_gate_frac, cfg.heading_kp,
                                       int(cfg.estimator_align_s * cfg.loop_rate_hz), cfg.estimator_align_kp,
                                       1.0 - math.exp(-2 * math.pi * cfg.accel_lpf_hz / cfg.loop_rate_hz),
                                       cfg.estimator_align_ki)
        else:
            self.est = MekfEstimator(cfg.imu_gyro_noise_dps_rthz * DEG,
                                     cfg.imu_gyro_rate_random_walk_dph_rth * DEG / 3600 / 60 * 10,
                                     0.5, cfg.accel_gate_frac)
        # Tilt aiding at the setpoint rate (Mahony only): delay-matched, lever-arm-compensated.
        self.aiding = (TiltAiding(cfg.setpoint_rate_hz, cfg.accel_lpf_hz, cfg.vehicle_acc_latency_s,
                                  cfg.vehicle_acc_smoothing_hz) if cfg.estimator == "mahony" else None)
        self.acc_sum = [0.0, 0.0, 0.0]
        self.acc_n = 0
        self.vehicle_acc_w = None
        self.prev_vehicle_rate = None
        # Kinematic gyro-bias observer: over a window, the integral of camera gyro - R_cb * vehicle
        # rate - sum(a_i dq_i) is the camera gyro bias (minus the vehicle's own residual bias);
        # latency, filtering and isolator motion only add bounded end terms.
        self.bias_obs = cfg.bias_observer
        self.bias_obs_steps = max(1, int(round(cfg.bias_observer_window_s * cfg.loop_rate_hz)))
        # Recursive estimate over the whole (exponentially forgotten) history instead of a
        # low-pass of 2 s window means: the integral D(T) = b T + E(T) has a BOUNDED error E
        # (encoder INL, isolator deflection, feed latency: angle terms that telescope between
        # successive windows), so the slope error falls as E/T, not as E/(T_w sqrt(n)). With the
        # residual-bias prior b ~ N(0, sigma_b^2) and E ~ N(0, sigma_E^2) at each end, the
        # posterior mean is b = T D / (T^2 + 2 sigma_E^2 / sigma_b^2) (Kalman on a constant).
        self.bo_D = [0.0, 0.0, 0.0]     # forgotten sums of window integrals (rad) ...
        self.bo_T = 0.0                 # ... and of window durations (s)
        self.bo_applied = [0.0, 0.0, 0.0]
        self.bo_forget = math.exp(-cfg.bias_observer_window_s / cfg.bias_observer_memory_s)
        sigma_b = max(cfg.imu_gyro_residual_bias_dps, 1e-6) * DEG
        self.bo_reg_s2 = 2.0 * (cfg.bias_observer_end_error_deg * DEG) ** 2 / sigma_b ** 2
        # Drift back-correction (OFF by default: neutral on the synthetic seeds, worse on the EuRoC
        # flight, README): the attitude drift integrated so far is, for a hypothesised
        # true bias b, delta_w = A b - c with A' = R_wc - kp P A, c' = R_wc b_used - kp P c
        # (P: world tilt axes, which the accelerometer correction pulls back at kp). Each time
        # the observer refines b, A b - c is queued and removed from the estimate slowly.
        self.backcorrect = cfg.bias_observer and cfg.bias_drift_backcorrection
        self.bc_A = np.zeros((3, 3))
        self.bc_c = np.zeros(3)
        self.bc_pending_w = np.zeros(3)
        self.bc_rate = 1.0 / cfg.bias_backcorrection_time_s
        self.bc_stage = np.zeros(3)
        self.bc_every = max(1, int(round(cfg.setpoint_rate_hz / 20.0)))   # A, c at ~20 Hz
        self.bc_count = 0
        self.bc_step = (0.0, 0.0, 0.0)
        self.bo_ramp = [0.0, 0.0, 0.0]
        self.bo_ramp_ticks = max(1, int(round(cfg.bias_observer_window_s * cfg.setpoint_rate_hz)))
        self.bo_ramp_left = 0
        self.bo_sum = [0.0] * 9          # gyro, R_cb * vehicle rate, sum a_i dq_i
        self.bo_n = 0
        self.bo_prev = None
        self.lever_arm_b = (cfg.mount_offset_m[0], cfg.mount_offset_m[1], cfg.mount_offset_m[2] - CAMERA_BELOW_BASE_M)
        self.axes = tuple(AXIS_INDEX[a] for a in cfg.joint_order)
        self.order = cfg.joint_order
        m = cfg.camera_mass_kg
        x, y, z = cfg.camera_size_m
        off = cfg.camera_com_offset_m
        r2 = sum(o * o for o in off)
        self.cam_inertia = (m * (y * y + z * z) / 12 + m * (r2 - off[0] ** 2),
                            m * (x * x + z * z) / 12 + m * (r2 - off[1] ** 2),
                            m * (x * x + y * y) / 12 + m * (r2 - off[2] ** 2))
        self.joint_inertia = nominal_joint_inertias(cfg)
        # Static moments (m * r, CAD) of the inner link (camera, nominally balanced: 0), the
        # middle arm and the outer arm, each in its own link frame. The torque gravity and
        # acceleration exert on a link about the axes' intersection is -(m r) x f with f the
        # specific force there, which the camera accelerometer measures.
        _mb, m1, m2 = cfg.arm_masses_kg
        self.moment_outer = tuple(m1 * v for v in cfg.outer_arm_com_m)
        self.moment_middle = tuple(m2 * v for v in cfg.middle_arm_com_m)
        self.imbalance_ff = cfg.imbalance_ff
        # Hot-loop constants cached as plain attributes (GimbalConfig lookups are slow).
        self._rot = tuple(_ROT_T[a] for a in self.axes)
        self._unit = tuple(_UNIT[a] for a in self.axes)
        self._kpa, self._kpr, self._kir_dt = cfg.angle_kp, cfg.rate_kp, cfg.rate_ki / cfg.loop_rate_hz
        self._ilim = cfg.rate_integral_limit
        self._ffg, self._fc, self._fv = cfg.base_ff_gain, cfg.friction_coulomb_nm, cfg.friction_viscous_nms
        self._vs, self._kc, self._klim = cfg.friction_comp_smoothing_rad_s, cfg.cable_stiffness_nm_per_rad, cfg.joint_limit_stiffness
        self._lo = tuple((cfg.joint_min_deg[j] + cfg.joint_limit_margin_deg) * DEG for j in range(3))
        self._hi = tuple((cfg.joint_max_deg[j] - cfg.joint_limit_margin_deg) * DEG for j in range(3))
        self.torque_limit = cfg.motor_kt_nm_per_a * min(cfg.motor_current_limit_a,
                                                         cfg.motor_supply_v / math.sqrt(3) / cfg.motor_phase_resistance_ohm)
        self.lim_lo = [v * DEG for v in cfg.joint_min_deg]
        self.lim_hi = [v * DEG for v in cfg.joint_max_deg]
        self.margin = cfg.joint_limit_margin_deg * DEG
        self.ff_alpha = 1.0 - math.exp(-2 * math.pi * cfg.base_ff_lpf_hz * self.dt)
        self.slow_every = max(1, int(round(cfg.loop_rate_hz / cfg.setpoint_rate_hz)))
        self.slow_dt = self.slow_every * self.dt
        self.follow_alpha = 1.0 - math.exp(-self.slow_dt / cfg.follow_time_constant_s)
        # state
        self.mode = cfg.mode
        self.setpoint = [v * DEG for v in cfg.setpoint_deg]       # roll, pitch, yaw
        self.setpoint_rate = None                                  # (roll, pitch, yaw) rad/s or None
        self.roi = None
        self.vehicle_position = None
        self.heading_reference = None                              # vehicle yaw from localization
        self.q_cmd = None
        self.omega_cmd_w = (0.0, 0.0, 0.0)
        self.integ = [0.0, 0.0, 0.0]
        self.ff_rate = [0.0, 0.0, 0.0]
        self.follow_yaw = None
        self.locked_yaw = None
        self.motors_enabled = True
        self.retract_settle_s = 0.0
        self.k = 0
        self.invalid_samples = 0
        self.last_valid = None
        self.clamped = False
        self.joint = (0.0, 0.0, 0.0)
        self.tau = (0.0, 0.0, 0.0)
        self.gyro_cal = None
        self.accel_cal = None
        self.hold = False            # vehicle data stale: keep the last commanded attitude
        self.cogging_map = None      # per joint (amplitude, harmonic per rad, phase)

    def set_cogging_calibration(self, table) -> None:
        rows = [tuple(float(v) for v in row) for row in table]
        if len(rows) != 3 or any(len(r) != 3 or not all(math.isfinite(v) for v in r) for r in rows):
            raise GimbalInputError(f"cogging calibration must be 3 finite (amplitude, harmonic, phase) rows, got {table}")
        if any(abs(r[0]) > 0.1 for r in rows):
            raise GimbalInputError(f"cogging amplitudes {[r[0] for r in rows]} N m are implausible (> 0.1)")
        self.cogging_map = rows if self.cfg.anticogging else None

    def set_imu_calibration(self, gyro_matrix, accel_matrix, g_sensitivity=(0.0, 0.0, 0.0)) -> None:
        """Factory calibration (3x3, applied to raw samples; must be near identity) and the
        gyro's linear-acceleration sensitivity (rad/s per m/s^2, per axis), removed using the
        accelerometer sample."""
        gs = tuple(float(v) for v in g_sensitivity)
        if len(gs) != 3 or not all(math.isfinite(v) and abs(v) < 0.01 for v in gs):
            raise GimbalInputError(f"g-sensitivity calibration {g_sensitivity} must be 3 finite values < 0.01 rad/s/(m/s^2)")
        self.g_sens = gs
        checked = []
        for name, m in (("gyro", gyro_matrix), ("accel", accel_matrix)):
            a = np.asarray(m, float)
            if a.shape != (3, 3) or not np.isfinite(a).all():
                raise GimbalInputError(f"{name} calibration must be a finite 3x3 matrix, got {a.shape}")
            if np.abs(a - np.eye(3)).max() > 0.2:
                raise GimbalInputError(f"{name} calibration differs from identity by more than 20 %: {a.tolist()}")
            checked.append(a.tolist())
        self.gyro_cal, self.accel_cal = checked

    # -------------------------------------------------------------------------- commands
    def set_mode(self, mode: str) -> None:
        from .config import MODES
        if mode not in MODES:
            raise GimbalInputError(f"unknown gimbal mode {mode!r}; expected one of {', '.join(MODES)}")
        if mode != self.mode:
            self.mode = mode
            self.locked_yaw = None
            self.motors_enabled = True
            self.retract_settle_s = 0.0
            if mode == "neutral":
                self.setpoint = [0.0, 0.0, 0.0]
                self.setpoint_rate = None

    def set_angles_deg(self, roll: float, pitch: float, yaw: float) -> None:
        values = (roll, pitch, yaw)
        if not all(math.isfinite(v) for v in values):
            raise GimbalInputError(f"angle setpoint {values} contains NaN/Inf")
        if any(abs(v) > 360.0 for v in values):
            raise GimbalInputError(f"angle setpoint {values} deg: each must be within +/-360 deg")
        self.setpoint = [v * DEG for v in values]
        self.setpoint_rate = None

    def set_rates_dps(self, roll: float, pitch: float, yaw: float) -> None:
        values = (roll, pitch, yaw)
        if not all(math.isfinite(v) for v in values):
            raise GimbalInputError(f"rate setpoint {values} contains NaN/Inf")
        limit = self.cfg.max_slew_rate_dps
        if any(abs(v) > limit for v in values):
            raise GimbalInputError(f"rate setpoint {values} deg/s exceeds max_slew_rate_dps {limit}")
        self.setpoint_rate = tuple(v * DEG for v in values)

    def set_roi(self, point_xyz) -> None:
        p = tuple(float(v) for v in point_xyz)
        if len(p) != 3 or not all(math.isfinite(v) for v in p):
            raise GimbalInputError(f"ROI {point_xyz} must be 3 finite coordinates (m, world frame)")
        self.roi = p

    def set_vehicle_pose(self, position_xyz, yaw_rad: Optional[float]) -> None:
        p = tuple(float(v) for v in position_xyz)
        if not all(math.isfinite(v) for v in p):
            raise GimbalInputError(f"vehicle position {p} contains NaN/Inf")
        self.vehicle_position = p
        if yaw_rad is not None and math.isfinite(yaw_rad):
            self.heading_reference = yaw_rad

    def set_vehicle_acceleration(self, ax: float, ay: float, az: float) -> None:
        """World-frame (ENU) vehicle acceleration from the autopilot / localization (m/s^2)."""
        if not all(math.isfinite(v) for v in (ax, ay, az)):
            raise GimbalInputError(f"vehicle acceleration ({ax}, {ay}, {az}) contains NaN/Inf")
        if max(abs(ax), abs(ay), abs(az)) > 50.0:
            raise GimbalInputError(f"vehicle acceleration ({ax}, {ay}, {az}) m/s^2 is implausible (> 50)")
        self.vehicle_acc_w = (ax, ay, az)
        if self.aiding is None and hasattr(self.est, "set_vehicle_acceleration"):
            self.est.set_vehicle_acceleration(ax, ay, az)

    def clear_vehicle_pose(self) -> None:
        self.vehicle_position = None
        self.heading_reference = None
        self.est.heading_error = None

    # -------------------------------------------------------------------------- fast path
    def step(self, gx, gy, gz, ax, ay, az, e1, e2, e3, bx, by, bz):
        """One control step. gyro (rad/s) and accel (m/s^2) of the camera IMU, encoder angles
        (rad), vehicle body rate (rad/s). Non-finite samples are counted and replaced by the
        last valid sample (hold), never propagated."""
        if not (math.isfinite(gx + gy + gz + ax + ay + az + e1 + e2 + e3 + bx + by + bz)):
            self.invalid_samples += 1
            if self.last_valid is None:
                return (0.0, 0.0, 0.0)
            gx, gy, gz, ax, ay, az, e1, e2, e3, bx, by, bz = self.last_valid
        else:
            self.last_valid = (gx, gy, gz, ax, ay, az, e1, e2, e3, bx, by, bz)
        G = self.gyro_cal
        if G is not None:
            gx, gy, gz = (G[0][0] * gx + G[0][1] * gy + G[0][2] * gz, G[1][0] * gx + G[1][1] * gy + G[1][2] * gz,
                          G[2][0] * gx + G[2][1] * gy + G[2][2] * gz)
            A = self.accel_cal
            ax, ay, az = (A[0][0] * ax + A[0][1] * ay + A[0][2] * az, A[1][0] * ax + A[1][1] * ay + A[1][2] * az,
                          A[2][0] * ax + A[2][1] * ay + A[2][2] * az)
            S = self.g_sens
            gx -= S[0] * ax; gy -= S[1] * ay; gz -= S[2] * az
        acs = self.acc_sum
        acs[0] += ax; acs[1] += ay; acs[2] += az
        self.acc_n += 1
        bo = self.bo_sum
        bo[0] += gx; bo[1] += gy; bo[2] += gz
        dt = self.dt
        est = self.est
        est.update(gx, gy, gz, ax, ay, az, dt)
        qw, qx, qy, qz = est.q
        wx, wy, wz = est.rate
        self.joint = (e1, e2, e3)
        if self.q_cmd is None:
            self.q_cmd = est.q
        if self.k % self.slow_every == 0:
            self._slow_update()
        self.k += 1
        # ---- reference attitude: q_cmd <- exp(omega_w dt) * q_cmd (world-frame rate) ----
        ow, ox, oy, oz = 1.0, *(0.5 * dt * v for v in self.omega_cmd_w)
        cw, cx, cy, cz = self.q_cmd
        nw = ow * cw - ox * cx - oy * cy - oz * cz
        nx = ow * cx + ox * cw + oy * cz - oz * cy
        ny = ow * cy - ox * cz + oy * cw + oz * cx
        nz = ow * cz + ox * cy - oy * cx + oz * cw
        inv = 1.0 / math.sqrt(nw * nw + nx * nx + ny * ny + nz * nz)
        cw, cx, cy, cz = nw * inv, nx * inv, ny * inv, nz * inv
        self.q_cmd = (cw, cx, cy, cz)
        if not self.motors_enabled:
            self.tau = (0.0, 0.0, 0.0)
            return self.tau
        # ---- angle loop: error q_est^* q_cmd in the camera frame ----
        ew = qw * cw + qx * cx + qy * cy + qz * cz
        ex = qw * cx - qx * cw - qy * cz + qz * cy
        ey = qw * cy + qx * cz - qy * cw - qz * cx
        ez = qw * cz - qx * cy + qy * cx - qz * cw
        g = 2.0 if ew >= 0.0 else -2.0
        kpa = self._kpa
        # reference rate in the camera frame: R_est^T omega_w
        rx, ry, rz = _rot_inv(qw, qx, qy, qz, *self.omega_cmd_w)
        sx = kpa * g * ex + rx
        sy = kpa * g * ey + ry
        sz = kpa * g * ez + rz
        # ---- rate loop (PI) -> camera angular acceleration ----
        kpr, kir, lim = self._kpr, self._kir_dt, self._ilim
        i = self.integ
        dx, dy, dz = sx - wx, sy - wy, sz - wz
        i0 = i[0] + kir * dx; i1 = i[1] + kir * dy; i2 = i[2] + kir * dz
        i0 = lim if i0 > lim else (-lim if i0 < -lim else i0)
        i1 = lim if i1 > lim else (-lim if i1 < -lim else i1)
        i2 = lim if i2 > lim else (-lim if i2 < -lim else i2)
        i[0] = i0; i[1] = i1; i[2] = i2
        alx, aly, alz = kpr * dx + i0, kpr * dy + i1, kpr * dz + i2
        ic = self.cam_inertia
        tcx, tcy, tcz = ic[0] * alx, ic[1] * aly, ic[2] * alz
        # ---- joint axes in the camera frame, base rate in the camera frame ----
        r1, r2, r3 = self._rot
        c1, s1 = math.cos(e1), math.sin(e1)
        c2, s2 = math.cos(e2), math.sin(e2)
        c3, s3 = math.cos(e3), math.sin(e3)
        u1, u2, ax3 = self._unit
        ax2 = r3(c3, s3, *u2)
        ax1 = r3(c3, s3, *r2(c2, s2, *u1))
        f = self.ff_rate
        fa = self.ff_alpha
        f0 = f[0] + (bx - f[0]) * fa; f1 = f[1] + (by - f[1]) * fa; f2 = f[2] + (bz - f[2]) * fa
        f[0] = f0; f[1] = f1; f[2] = f2
        bcx, bcy, bcz = r3(c3, s3, *r2(c2, s2, *r1(c1, s1, f0, f1, f2)))
        if self.bias_obs:
            bo[3] += bcx; bo[4] += bcy; bo[5] += bcz
            prev = self.bo_prev
            if prev is not None:
                d1, d2, d3 = e1 - prev[0], e2 - prev[1], e3 - prev[2]
                bo[6] += ax1[0] * d1 + ax2[0] * d2 + ax3[0] * d3
                bo[7] += ax1[1] * d1 + ax2[1] * d2 + ax3[1] * d3
                bo[8] += ax1[2] * d1 + ax2[2] * d2 + ax3[2] * d3
            self.bo_prev = (e1, e2, e3)
            self.bo_n += 1
            if self.bo_n >= self.bias_obs_steps:
                self._bias_observer_update()
        # q_dot_ff = A^-1 (omega_sp - omega_base_c), A = [ax1 ax2 ax3] (Cramer)
        rx, ry, rz = sx - bcx, sy - bcy, sz - bcz
        a1x, a1y, a1z = ax1
        a2x, a2y, a2z = ax2
        a3x, a3y, a3z = ax3
        m23 = a2y * a3z - a2z * a3y
        det = a1x * m23 - a2x * (a1y * a3z - a1z * a3y) + a3x * (a1y * a2z - a1z * a2y)
        if det > 0.2 or det < -0.2:
            inv_det = 1.0 / det
            qd1 = (rx * m23 - a2x * (ry * a3z - rz * a3y) + a3x * (ry * a2z - rz * a2y)) * inv_det
            qd2 = (a1x * (ry * a3z - rz * a3y) - rx * (a1y * a3z - a1z * a3y) + a3x * (a1y * rz - a1z * ry)) * inv_det
            qd3 = (a1x * (a2y * rz - a2z * ry) - a2x * (a1y * rz - a1z * ry) + rx * (a1y * a2z - a1z * a2y)) * inv_det
        else:
            qd1 = qd2 = qd3 = 0.0   # near gimbal lock: no feed-forward, feedback only
        if self.imbalance_ff:
            # moments in the camera frame, summed over the links each joint carries;
            # torque needed = (m r) x f, cancelling the -(m r) x f of gravity + acceleration
            s2x, s2y, s2z = r3(c3, s3, *self.moment_middle)
            mx, my, mz = r3(c3, s3, *r2(c2, s2, *self.moment_outer))
            s1x, s1y, s1z = s2x + mx, s2y + my, s2z + mz
            imb1 = a1x * (s1y * az - s1z * ay) + a1y * (s1z * ax - s1x * az) + a1z * (s1x * ay - s1y * ax)
            imb2 = a2x * (s2y * az - s2z * ay) + a2y * (s2z * ax - s2x * az) + a2z * (s2x * ay - s2y * ax)
        else:
            imb1 = imb2 = 0.0
        ji1, ji2, ji3 = self.joint_inertia
        ffg, fc, fv, vs, kc = self._ffg, self._fc, self._fv, self._vs, self._kc
        tanh = math.tanh
        t1 = (a1x * tcx + a1y * tcy + a1z * tcz + ji1 * (a1x * alx + a1y * aly + a1z * alz)
              + ffg * (fv * qd1 + fc * tanh(qd1 / vs)) + kc * e1 + imb1)
        t2 = (a2x * tcx + a2y * tcy + a2z * tcz + ji2 * (a2x * alx + a2y * aly + a2z * alz)
              + ffg * (fv * qd2 + fc * tanh(qd2 / vs)) + kc * e2 + imb2)
        t3 = (a3x * tcx + a3y * tcy + a3z * tcz + ji3 * (a3x * alx + a3y * aly + a3z * alz)
              + ffg * (fv * qd3 + fc * tanh(qd3 / vs)) + kc * e3)
        cog = self.cogging_map
        if cog is not None:
            sin = math.sin
            t1 -= cog[0][0] * sin(cog[0][1] * e1 + cog[0][2])
            t2 -= cog[1][0] * sin(cog[1][1] * e2 + cog[1][2])
            t3 -= cog[2][0] * sin(cog[2][1] * e3 + cog[2][2])
        tau = [t1, t2, t3]
        lo, hi, klim, tl = self._lo, self._hi, self._klim, self.torque_limit
        angles = (e1, e2, e3)
        for j in range(3):
            t = tau[j]
            a = angles[j]
            if a > hi[j]:
                t -= klim * (a - hi[j])
            elif a < lo[j]:
                t += klim * (lo[j] - a)
            tau[j] = tl if t > tl else (-tl if t < -tl else t)
        self.tau = (tau[0], tau[1], tau[2])
        return self.tau

    # -------------------------------------------------------------------------- slow path
    def _slow_update(self):
        cfg = self.cfg
        q_est = self.est.q
        r_wc = t3d.quaternions.quat2mat(q_est)
        r_bc = chain_matrix(self.order, self.joint)
        r_wb = r_wc @ r_bc.T
        base_yaw = math.atan2(r_wb[1, 0], r_wb[0, 0])
        cam_yaw = math.atan2(r_wc[1, 0], r_wc[0, 0])
        if self.aiding is not None and self.acc_n > 0:
            self._tilt_aiding(r_wc, r_wb)
        if self.bo_ramp_left > 0:
            self.bo_ramp_left -= 1
            b = self.est.bias
            for i in range(3):
                b[i] += self.bo_ramp[i]
        if self.backcorrect:
            self._drift_backcorrection(r_wc)
        # heading reference from localization: steer the estimator's yaw (camera = base * joints)
        if self.heading_reference is not None:
            err = _wrap(self.heading_reference - base_yaw)
            # world-z error expressed in the camera frame
            self.est.heading_error = tuple(r_wc.T @ np.array([0.0, 0.0, err]))
        if self.hold:
            self.omega_cmd_w = (0.0, 0.0, 0.0)
            return
        if self.setpoint_rate is not None:
            for i in range(3):
                self.setpoint[i] += self.setpoint_rate[i] * self.slow_dt
        roll_sp, pitch_sp, yaw_sp = self.setpoint
        mode = self.mode
        if self.follow_yaw is None:
            self.follow_yaw = base_yaw
        self.follow_yaw += self.follow_alpha * _wrap(base_yaw - self.follow_yaw)
        if mode in ("follow", "neutral"):
            target = euler_zyx_matrix(roll_sp, pitch_sp, self.follow_yaw + yaw_sp)
        elif mode == "lock":
            north = 0.0  # world x: east in ENU when a heading reference exists, else initial heading
            target = euler_zyx_matrix(roll_sp, pitch_sp, north + yaw_sp)
        elif mode == "yaw_lock":
            if self.locked_yaw is None:
                self.locked_yaw = cam_yaw
            target = euler_zyx_matrix(roll_sp, pitch_sp, self.locked_yaw + yaw_sp)
        elif mode == "roi":
            if self.roi is None or self.vehicle_position is None:
                # no ROI or no vehicle position: hold the current target (reported by the node)
                target = t3d.quaternions.quat2mat(self.q_cmd)
            else:
                cam_pos = np.asarray(self.vehicle_position) + r_wb @ np.asarray(cfg.mount_offset_m)
                pitch, yaw = roi_angles(cam_pos, self.roi)
                target = euler_zyx_matrix(0.0, pitch, yaw)
        elif mode == "retract":
            target = r_wb @ chain_matrix(self.order, [v * DEG for v in cfg.retract_pose_deg])
            # Held by the motors (no mechanical stow lock is modelled: cable stiffness and
            # imbalance would pull an unpowered camera out of the stowed pose).
        else:  # pragma: no cover - set_mode validates
            raise GimbalInputError(f"unknown mode {mode}")
        # joint limits: clamp the joint angles that would realise the target
        r_bc_target = r_wb.T @ target
        angles = list(chain_angles(self.order, r_bc_target))
        clamped = False
        for i in range(3):
            lo = self.lim_lo[i] + self.margin
            hi = self.lim_hi[i] - self.margin
            if angles[i] < lo or angles[i] > hi:
                angles[i] = min(max(angles[i], lo), hi)
                clamped = True
        self.clamped = clamped
        if clamped:
            target = r_wb @ chain_matrix(self.order, angles)
        # reference model: world-frame rate toward the target, slew-limited
        r_cmd = t3d.quaternions.quat2mat(self.q_cmd)
        err_axis, err_angle = _axis_angle(target @ r_cmd.T)
        rate = cfg.reference_gain * err_angle
        max_rate = cfg.max_slew_rate_dps * DEG
        rate = min(rate, max_rate)
        if self.setpoint_rate is not None:
            rate = min(rate + float(np.linalg.norm(self.setpoint_rate)), max_rate)
        self.omega_cmd_w = tuple(float(v) * rate for v in err_axis)

    def _bias_observer_update(self):
        n, bo, dt = self.bo_n, self.bo_sum, self.dt
        window_s = n * dt
        integral = [(bo[i] - bo[3 + i]) * dt - bo[6 + i] for i in range(3)]   # rad over the window
        if all(math.isfinite(v) and abs(v) < 0.2 * window_s for v in integral):   # |bias| < 11 deg/s: else a glitch
            lam = self.bo_forget
            self.bo_T = lam * self.bo_T + window_s
            T = self.bo_T
            scale = T / (T * T + self.bo_reg_s2)
            b = self.est.bias
            for i in range(3):
                self.bo_D[i] = lam * self.bo_D[i] + integral[i]
                new = self.bo_D[i] * scale
                # apply the change only (the Mahony integral term keeps what it learned, e.g. the
                # vehicle feed's own residual bias, which this observer cannot see), ramped over
                # the next window at the setpoint rate: a bias STEP is a rate step, whose
                # high-passed angle transient (delta_b / (2 pi 0.5 Hz)) would itself be jitter
                self.bo_ramp[i] = (new - self.bo_applied[i]) / self.bo_ramp_ticks
                self.bo_applied[i] = new
            self.bo_ramp_left = self.bo_ramp_ticks
            if self.backcorrect:
                # hypothesis: the true bias is the estimate once this window's ramp is done
                b_target = np.asarray(b) + np.asarray(self.bo_ramp) * self.bo_ramp_ticks
                drift_w = self.bc_A @ b_target - self.bc_c
                if float(np.linalg.norm(drift_w)) < 0.1:          # < 5.7 deg: else not a bias effect
                    self.bc_pending_w += drift_w
                    self.bc_c += drift_w
        self.bo_sum = [0.0] * 9
        self.bo_n = 0

    def _drift_backcorrection(self, r_wc):
        """At the setpoint rate: apply this period's share of the queued correction (scalar
        math); every `bc_every` calls: integrate A, c and advance the correction filter (numpy)."""
        x0, x1, x2 = self.bc_step
        if x0 or x1 or x2:
            # the estimate leads the truth by delta_w (q_est = exp(delta_w) q_true): rotate back
            qw, qx, qy, qz = self.est.q
            ox, oy, oz = -0.5 * x0, -0.5 * x1, -0.5 * x2
            nw = qw - ox * qx - oy * qy - oz * qz
            nx = qx + ox * qw + oy * qz - oz * qy
            ny = qy - ox * qz + oy * qw + oz * qx
            nz = qz + ox * qy - oy * qx + oz * qw
            inv = 1.0 / math.sqrt(nw * nw + nx * nx + ny * ny + nz * nz)
            self.est.q = (nw * inv, nx * inv, ny * inv, nz * inv)
        self.bc_count += 1
        if self.bc_count < self.bc_every:
            return
        self.bc_count = 0
        dt = self.slow_dt * self.bc_every
        kp = getattr(self.est, "kp", 0.0)
        A, c = self.bc_A, self.bc_c
        keep = math.exp(-kp * dt)
        # tilt axes decay at kp; yaw only when a heading reference steers it (heading_kp)
        keep_yaw = math.exp(-self.cfg.heading_kp * dt) if getattr(self.est, "heading_error", None) is not None else 1.0
        decay = np.array([keep, keep, keep_yaw])
        A *= decay[:, None]
        A += r_wc * dt
        c *= decay
        c += (r_wc @ np.asarray(self.est.bias)) * dt
        # two first-order stages (critically damped): the correction RATE starts smoothly
        p, st = self.bc_pending_w, self.bc_stage
        k = min(1.0, 2.0 * self.bc_rate * dt)
        moved = p * k
        p -= moved
        st += moved
        x = st * k
        st -= x
        n = self.bc_every
        self.bc_step = (float(x[0]) / n, float(x[1]) / n, float(x[2]) / n)

    def _tilt_aiding(self, r_wc, r_wb):
        n = self.acc_n
        f_c = np.array(self.acc_sum) / n
        self.acc_sum = [0.0, 0.0, 0.0]
        self.acc_n = 0
        w = np.array(self.ff_rate)
        alpha = np.zeros(3) if self.prev_vehicle_rate is None else (w - self.prev_vehicle_rate) / self.slow_dt
        self.prev_vehicle_rate = w
        r = np.array(self.lever_arm_b)
        lever = np.cross(alpha, r) + np.cross(w, np.cross(w, r))
        m_w = r_wc @ f_c - r_wb @ lever
        ref = self.vehicle_acc_w
        r_w = (ref[0], ref[1], ref[2] + GRAVITY_M_S2) if ref is not None else (0.0, 0.0, GRAVITY_M_S2)
        if self.aiding.m is None:
            self.aiding.prime(m_w)
        e_w = self.aiding.update(m_w, r_w)
        if e_w is None or abs(float(np.linalg.norm(f_c)) - GRAVITY_M_S2) > 3.0 * GRAVITY_M_S2:
            self.est.slow_correction = (0.0, 0.0, 0.0)
        else:
            e = r_wc.T @ np.asarray(e_w)
            self.est.slow_correction = (float(e[0]), float(e[1]), float(e[2]))

    # -------------------------------------------------------------------------- read-outs
    def attitude(self):
        return self.est.q

    def state(self) -> dict:
        return {"mode": self.mode, "motors_enabled": self.motors_enabled, "clamped": self.clamped,
                "invalid_samples": self.invalid_samples, "bias_rad_s": list(self.est.bias)}


def _axis_angle(m):
    """(unit axis, angle in [0, pi]) of a rotation matrix; cheaper than transforms3d's
    eigen-decomposition (this runs at the setpoint rate). Near pi the axis comes from the
    diagonal."""
    cos_angle = max(-1.0, min(1.0, 0.5 * (m[0, 0] + m[1, 1] + m[2, 2] - 1.0)))
    angle = math.acos(cos_angle)
    v = np.array([m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1]])
    n = float(np.linalg.norm(v))
    if angle < 1e-12 or n < 1e-12:
        if angle < 1e-6:
            return np.array([0.0, 0.0, 1.0]), 0.0
        d = np.sqrt(np.maximum((np.diag(m) + 1.0) / 2.0, 0.0))   # angle ~ pi
        i = int(np.argmax(d))
        axis = m[:, i] + np.eye(3)[:, i]
        return axis / np.linalg.norm(axis), angle
    return v / n, angle


def _wrap(a):
    return (a + math.pi) % (2 * math.pi) - math.pi


def _rot_inv(w, x, y, z, vx, vy, vz):
    """R(q)^T v."""
    x, y, z = -x, -y, -z
    tx = 2.0 * (y * vz - z * vy)
    ty = 2.0 * (z * vx - x * vz)
    tz = 2.0 * (x * vy - y * vx)
    return (vx + w * tx + (y * tz - z * ty), vy + w * ty + (z * tx - x * tz), vz + w * tz + (x * ty - y * tx))

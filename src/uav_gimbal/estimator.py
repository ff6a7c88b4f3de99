"""Camera attitude estimators (core: no rclpy). Quaternions are (w, x, y, z), camera -> world
(ENU), camera frame FLU.

`MahonyEstimator` (default): explicit complementary filter on SO(3) with gyro-bias learning
(Mahony, Hamel, Pflimlin, IEEE TAC 2008), scalar `math` code (~3-5 us a step in CPython). In the
closed loop its tilt correction comes from `TiltAiding` at the setpoint rate (delay-matched,
lever-arm-compensated vehicle-acceleration reference).
`MekfEstimator`: multiplicative EKF (attitude error + gyro bias, 6 states, numpy), for comparison.
`bench/gimbal_estimators.py` compares both on the same recorded sensor stream (README): Mahony
~0.001 deg jitter rms vs the MEKF's 0.015-0.08 deg (its per-sample corrections inject the
accelerometer's residual errors above 0.5 Hz) at 1/20 of the cost; the MEKF's absolute level is
better (faster bias learning). Jitter is the figure that matters here, hence Mahony.
"""
from __future__ import annotations

import math

import numpy as np

from .base_motion import GRAVITY_M_S2


def tilt_quat_from_accel(ax, ay, az):
    """Attitude with yaw 0 whose 'up' matches the specific force (FLU body, ENU world)."""
    roll = math.atan2(ay, az)
    pitch = math.atan2(-ax, math.hypot(ay, az))
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    return (cr * cp, sr * cp, cr * sp, -sr * sp)


class TiltAiding:
    """Tilt error at a slow rate from the camera accelerometer vs the vehicle's acceleration,
    with the two made comparable (core: scalar math).

    The autopilot's acceleration (derivative of its velocity estimate) arrives smoothed and late;
    the camera's specific force, rotated to the world with the current estimate and stripped of
    the lever-arm acceleration (camera vs vehicle IMU: alpha x r + omega x (omega x r)), is put
    through the same smoothing and delay, then both through the same vibration low-pass. What is
    left between their directions is the estimate's tilt error, not manoeuvres or latency.
    """

    def __init__(self, rate_hz, lpf_hz, feed_latency_s, feed_smoothing_hz):
        from scipy import signal as sps
        b, a = sps.butter(2, min(feed_smoothing_hz, 0.45 * rate_hz), fs=rate_hz)
        self.b = tuple(float(v) for v in b)
        self.a = tuple(float(v) for v in a)
        self.z = [[0.0, 0.0] for _ in range(3)]      # biquad states (direct form II transposed)
        self.delay = [None] * (int(round(feed_latency_s * rate_hz)) + 1)
        self.k = 0
        self.alpha = 1.0 - math.exp(-2.0 * math.pi * lpf_hz / rate_hz)
        self.m = None
        self.r = None

    def update(self, m_w, r_w):
        """m_w: measured specific force in world (lever arm removed); r_w: expected (feed - g).
        Returns the world-frame tilt-correction vector m x r (unit vectors) or None."""
        b0, b1, b2 = self.b
        _, a1, a2 = self.a
        smoothed = []
        for i in range(3):
            x = m_w[i]
            z = self.z[i]
            y = b0 * x + z[0]
            z[0] = b1 * x - a1 * y + z[1]
            z[1] = b2 * x - a2 * y
            smoothed.append(y)
        n = len(self.delay)
        self.delay[self.k % n] = smoothed
        self.k += 1
        delayed = self.delay[self.k % n] if self.k >= n else self.delay[0]
        al = self.alpha
        if self.m is None:
            self.m, self.r = list(delayed), list(r_w)
        else:
            for i in range(3):
                self.m[i] += (delayed[i] - self.m[i]) * al
                self.r[i] += (r_w[i] - self.r[i]) * al
        mx, my, mz = self.m
        rx, ry, rz = self.r
        nm = math.sqrt(mx * mx + my * my + mz * mz)
        nr = math.sqrt(rx * rx + ry * ry + rz * rz)
        if nm <= 0.0 or nr <= 0.0:
            return None
        mx, my, mz = mx / nm, my / nm, mz / nm
        rx, ry, rz = rx / nr, ry / nr, rz / nr
        return (my * rz - mz * ry, mz * rx - mx * rz, mx * ry - my * rx)

    def prime(self, m_w):
        """Fills the filter chain with a steady value (start-up)."""
        for i in range(3):
            self.z[i] = [m_w[i] * (1.0 - self.b[0]), m_w[i] * (self.b[2] - self.a[2])]
        self.delay = [list(m_w) for _ in self.delay]


class MahonyEstimator:
    def __init__(self, kp: float, ki: float, accel_gate_frac: float, heading_kp: float = 0.0,
                 align_steps: int = 0, align_kp: float = 2.0, accel_lpf_alpha: float = 1.0,
                 align_ki: float = 0.0):
        # Start-up alignment: the first `align_steps` use `align_kp` (a fast levelling from a
        # possibly vibrating first sample), then the slow in-flight gain `kp`.
        self.kp_flight = kp
        self.ki_flight = ki
        self.kp = max(kp, align_kp) if align_steps > 0 else kp
        self.ki = max(ki, align_ki) if align_steps > 0 else ki
        self.align_steps = align_steps
        # The tilt correction uses a low-passed accelerometer: rotor vibration that survives the
        # isolator (0.5 m/s^2 rms ~ 3 deg of 'up' direction noise) would otherwise be fed into
        # the attitude through kp.
        self.acc_alpha = accel_lpf_alpha
        self.acc_f = None
        self.gate = accel_gate_frac * GRAVITY_M_S2
        self.heading_kp = heading_kp
        self.q = (1.0, 0.0, 0.0, 0.0)
        self.bias = [0.0, 0.0, 0.0]
        self.rate = (0.0, 0.0, 0.0)      # bias-corrected body rate of the last step
        self.initialised = False
        self.heading_error = None        # (ex, ey, ez) body-frame heading correction, set externally
        self.reference_world = None      # unit specific-force direction in world, from the vehicle's acceleration
        self.slow_correction = None      # body-frame tilt error held between slow updates (TiltAiding)

    def set_vehicle_acceleration(self, ax, ay, az):
        """World-frame (ENU) kinematic acceleration of the vehicle (from the autopilot's velocity
        estimate): the tilt correction then compares the accelerometer with a - g instead of
        with 'up', so manoeuvre accelerations do not tilt the horizon."""
        sz = az + GRAVITY_M_S2
        n = math.sqrt(ax * ax + ay * ay + sz * sz)
        self.reference_world = (ax / n, ay / n, sz / n)

    def initialise(self, ax, ay, az):
        self.q = tilt_quat_from_accel(ax, ay, az)
        self.initialised = True

    def update(self, gx, gy, gz, ax, ay, az, dt):
        if not self.initialised:
            self.initialise(ax, ay, az)
        if self.align_steps > 0:
            self.align_steps -= 1
            if self.align_steps == 0:
                self.kp = self.kp_flight
                self.ki = self.ki_flight
        b = self.bias
        wx, wy, wz = gx - b[0], gy - b[1], gz - b[2]
        self.rate = (wx, wy, wz)
        qw, qx, qy, qz = self.q
        sc = self.slow_correction
        if sc is not None:
            ex, ey, ez = sc
            he = self.heading_error
            if he is not None:
                hk = self.heading_kp / max(self.kp, 1e-9)
                ex += hk * he[0]; ey += hk * he[1]; ez += hk * he[2]
            kp, ki_dt = self.kp, self.ki * dt
            b[0] -= ki_dt * ex; b[1] -= ki_dt * ey; b[2] -= ki_dt * ez
            wx += kp * ex; wy += kp * ey; wz += kp * ez
            ax = None
        f = self.acc_f
        if ax is None:
            pass
        elif f is None:
            f = self.acc_f = [ax, ay, az]
        else:
            al = self.acc_alpha
            f[0] += (ax - f[0]) * al; f[1] += (ay - f[1]) * al; f[2] += (az - f[2]) * al
        if ax is not None:
            ax, ay, az = f
            norm = math.sqrt(ax * ax + ay * ay + az * az)
        else:
            norm = -1.0
        if abs(norm - GRAVITY_M_S2) < self.gate and norm > 0.0:
            inv = 1.0 / norm
            ax, ay, az = ax * inv, ay * inv, az * inv
            ref = self.reference_world
            if ref is None:
                # estimated 'up' in the body frame: R^T e_z
                ux = 2.0 * (qx * qz - qw * qy)
                uy = 2.0 * (qy * qz + qw * qx)
                uz = qw * qw - qx * qx - qy * qy + qz * qz
            else:
                # expected specific-force direction (vehicle acceleration - gravity) in the body
                ux, uy, uz = _rot_inv(qw, qx, qy, qz, ref[0], ref[1], ref[2])
            ex = ay * uz - az * uy
            ey = az * ux - ax * uz
            ez = ax * uy - ay * ux
            he = self.heading_error
            if he is not None:
                hk = self.heading_kp / max(self.kp, 1e-9)
                ex += hk * he[0]; ey += hk * he[1]; ez += hk * he[2]
            kp, ki_dt = self.kp, self.ki * dt
            b[0] -= ki_dt * ex; b[1] -= ki_dt * ey; b[2] -= ki_dt * ez
            wx += kp * ex; wy += kp * ey; wz += kp * ez
        h = 0.5 * dt
        nw = qw + h * (-qx * wx - qy * wy - qz * wz)
        nx = qx + h * (qw * wx + qy * wz - qz * wy)
        ny = qy + h * (qw * wy - qx * wz + qz * wx)
        nz = qz + h * (qw * wz + qx * wy - qy * wx)
        inv = 1.0 / math.sqrt(nw * nw + nx * nx + ny * ny + nz * nz)
        self.q = (nw * inv, nx * inv, ny * inv, nz * inv)


class MekfEstimator:
    """Multiplicative EKF: nominal quaternion + bias, 6-state error covariance (numpy)."""

    def __init__(self, gyro_noise_rad_s_rthz: float, bias_rw_rad_s2_rthz: float,
                 accel_sigma_m_s2: float, accel_gate_frac: float, accel_lpf_alpha: float = 1.0):
        self.q = (1.0, 0.0, 0.0, 0.0)
        self.bias = np.zeros(3)
        self.rate = (0.0, 0.0, 0.0)
        self.P = np.diag([1e-2] * 3 + [1e-5] * 3)
        self.qg = gyro_noise_rad_s_rthz ** 2
        self.qb = bias_rw_rad_s2_rthz ** 2
        self.r = accel_sigma_m_s2 ** 2
        self.gate = accel_gate_frac * GRAVITY_M_S2
        self.initialised = False
        self.heading_error = None
        self.specific_force_world = np.array([0.0, 0.0, GRAVITY_M_S2])
        self.acc_alpha = accel_lpf_alpha      # same accelerometer low-pass as the Mahony filter
        self.acc_f = None

    def set_vehicle_acceleration(self, ax, ay, az):
        self.specific_force_world = np.array([ax, ay, az + GRAVITY_M_S2])

    def initialise(self, ax, ay, az):
        self.q = tilt_quat_from_accel(ax, ay, az)
        self.initialised = True

    def update(self, gx, gy, gz, ax, ay, az, dt):
        if not self.initialised:
            self.initialise(ax, ay, az)
        w = np.array([gx, gy, gz]) - self.bias
        self.rate = (float(w[0]), float(w[1]), float(w[2]))
        if self.acc_f is None:
            self.acc_f = np.array([ax, ay, az], float)
        else:
            self.acc_f += (np.array([ax, ay, az]) - self.acc_f) * self.acc_alpha
        ax, ay, az = self.acc_f
        # propagate nominal
        qw, qx, qy, qz = self.q
        wx, wy, wz = w
        h = 0.5 * dt
        nw = qw + h * (-qx * wx - qy * wy - qz * wz)
        nx = qx + h * (qw * wx + qy * wz - qz * wy)
        ny = qy + h * (qw * wy - qx * wz + qz * wx)
        nz = qz + h * (qw * wz + qx * wy - qy * wx)
        inv = 1.0 / math.sqrt(nw * nw + nx * nx + ny * ny + nz * nz)
        qw, qx, qy, qz = nw * inv, nx * inv, ny * inv, nz * inv
        F = np.eye(6)
        F[0:3, 0:3] -= _skew(w) * dt
        F[0:3, 3:6] = -np.eye(3) * dt
        P = F @ self.P @ F.T
        P[0:3, 0:3] += np.eye(3) * self.qg * dt
        P[3:6, 3:6] += np.eye(3) * self.qb * dt
        norm = math.sqrt(ax * ax + ay * ay + az * az)
        if abs(norm - GRAVITY_M_S2) < self.gate:
            sw = self.specific_force_world
            pred = np.array(_rot_inv(qw, qx, qy, qz, sw[0], sw[1], sw[2]))
            H = np.zeros((3, 6))
            H[:, 0:3] = _skew(pred)
            S = H @ P @ H.T + np.eye(3) * self.r
            K = P @ H.T @ np.linalg.inv(S)
            dx = K @ (np.array([ax, ay, az]) - pred)
            P = (np.eye(6) - K @ H) @ P
            d = 0.5 * dx[0:3]
            cw, cx, cy, cz = 1.0, d[0], d[1], d[2]
            qw, qx, qy, qz = (qw * cw - qx * cx - qy * cy - qz * cz, qw * cx + qx * cw + qy * cz - qz * cy,
                              qw * cy - qx * cz + qy * cw + qz * cx, qw * cz + qx * cy - qy * cx + qz * cw)
            inv = 1.0 / math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
            qw, qx, qy, qz = qw * inv, qx * inv, qy * inv, qz * inv
            self.bias = self.bias + dx[3:6]
        self.P = 0.5 * (P + P.T)
        self.q = (qw, qx, qy, qz)


def _skew(v):
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


def _rot_inv(w, x, y, z, vx, vy, vz):
    """R(q)^T v."""
    x, y, z = -x, -y, -z
    tx = 2.0 * (y * vz - z * vy)
    ty = 2.0 * (z * vx - x * vz)
    tz = 2.0 * (x * vy - y * vx)
    return (vx + w * tx + (y * tz - z * ty), vy + w * ty + (z * tx - x * tz), vz + w * tz + (x * ty - y * tx))

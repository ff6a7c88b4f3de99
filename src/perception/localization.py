"""Localization core: EKF fusing IMU, wheel odometry and GNSS, plus geodetic -> local ENU.

Core module (numpy, filterpy, pyproj; no rclpy).

State ``x = [px, py, yaw, v, b_gyro, b_accel]`` in the local ENU frame (m, rad, m/s, rad/s,
m/s^2); yaw is measured from East, counter-clockwise. The IMU drives the prediction
(strapdown on the plane): yaw_rate = gyro_z - b_gyro, dv/dt = accel_x - b_accel,
position follows the heading (no side slip: a car at normal driving). Process noise comes
from the IMU's noise densities (per sqrt(Hz), datasheet values) and bias random walks, so the
covariance grows as the real errors do and the filter stays NEES-consistent.

Updates: wheel speed (``v``), GNSS position (ENU from ``LocalENU``). GNSS fixes are gated
by their Mahalanobis distance (chi-square, 2 dof): an outlier (multipath jump) is rejected and
counted. If fixes stay inconsistent for ``gnss_reset_after_s`` while agreeing with each other,
the filter accepts that *it* is wrong (e.g. after a long outage or a wrong start), resets the
position to GNSS and inflates the covariance.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from filterpy.kalman import ExtendedKalmanFilter
from pyproj import Transformer

from .kalman import wrap_angle

PX, PY, YAW, V, BG, BA = range(6)
CHI2_2DOF_999 = 13.8155  # chi-square 99.9 % quantile, 2 dof: GNSS outlier gate


class LocalENU:
    """WGS-84 (lat deg, lon deg, h m) <-> local East-North-Up about a fixed origin (pyproj)."""

    def __init__(self, lat0_deg: float, lon0_deg: float, h0_m: float = 0.0):
        vals = (lat0_deg, lon0_deg, h0_m)
        if not all(np.isfinite(vals)) or abs(lat0_deg) > 90 or abs(lon0_deg) > 180:
            raise ValueError(f"LocalENU origin invalid: lat={lat0_deg}, lon={lon0_deg}, h={h0_m}")
        self.origin = vals
        pipe = ("+proj=pipeline +step +proj=axisswap +order=2,1 +step +proj=unitconvert "
                "+xy_in=deg +xy_out=rad +step +proj=cart +ellps=WGS84 "
                f"+step +proj=topocentric +ellps=WGS84 +lat_0={lat0_deg} +lon_0={lon0_deg} +h_0={h0_m}")
        self._tf = Transformer.from_pipeline(pipe)

    def to_enu(self, lat_deg, lon_deg, h_m=0.0):
        e, n, u = self._tf.transform(lat_deg, lon_deg, h_m)
        return np.array([e, n, u], dtype=float)

    def to_geodetic(self, e, n, u=0.0):
        lat, lon, h = self._tf.transform(e, n, u, direction="INVERSE")
        return np.array([lat, lon, h], dtype=float)


@dataclass
class EkfNoise:
    """Sensor noise model. Defaults: Bosch BMI088 IMU datasheet (BST-BMI088-DS001): gyro
    noise density 0.014 deg/s/sqrt(Hz), accel noise density 175 ug/sqrt(Hz) (x axis);
    bias random walks are conservative values for MEMS of that class."""

    gyro_noise_density: float = np.deg2rad(0.014)        # rad/s/sqrt(Hz)
    accel_noise_density: float = 175e-6 * 9.80665         # m/s^2/sqrt(Hz)
    gyro_bias_rw: float = np.deg2rad(0.002)                # rad/s^2/sqrt(Hz)  (bias drift rate)
    accel_bias_rw: float = 1e-3                            # m/s^3/sqrt(Hz)
    position_process_std: float = 0.05                     # m/sqrt(s): unmodelled slip / model error
    wheel_speed_std: float = 0.1                           # m/s
    gnss_min_std: float = 0.3                              # m, floor for reported covariances


@dataclass
class EkfStatus:
    gnss_accepted: int = 0
    gnss_rejected: int = 0
    gnss_resets: int = 0
    consecutive_rejected_s: float = 0.0
    last_gnss_nis: float = float("nan")
    last_gnss_time_s: float = float("nan")
    last_imu_time_s: float = float("nan")


class LocalizationEKF:
    """EKF with filterpy's ``ExtendedKalmanFilter`` (Joseph-form update) on the state above."""

    def __init__(self, x0, P0, noise: EkfNoise | None = None, gnss_gate_chi2: float = CHI2_2DOF_999,
                 gnss_reset_after_s: float = 5.0, gnss_lever_arm_m=(0.0, 0.0), imu_lever_arm_x_m: float = 0.0):
        """``gnss_lever_arm_m``: antenna (x, y) in the vehicle frame (the state is the vehicle
        reference point, e.g. base_link); ``imu_lever_arm_x_m``: IMU ahead of it, whose
        centripetal term -omega^2 * x is removed from the measured longitudinal acceleration."""
        self.noise = noise or EkfNoise()
        self.ekf = ExtendedKalmanFilter(dim_x=6, dim_z=2)
        x0 = np.asarray(x0, float).reshape(6)
        P0 = np.asarray(P0, float).reshape(6, 6)
        if not (np.all(np.isfinite(x0)) and np.all(np.isfinite(P0))):
            raise ValueError("LocalizationEKF: x0 / P0 must be finite")
        self.ekf.x = x0.reshape(6, 1).copy()
        self.ekf.P = P0.copy()
        self.lever = np.asarray(gnss_lever_arm_m, float).reshape(2)
        self.imu_lever_x = float(imu_lever_arm_x_m)
        if not (np.all(np.isfinite(self.lever)) and np.isfinite(self.imu_lever_x)):
            raise ValueError("LocalizationEKF: lever arms must be finite")
        self.gate_chi2 = float(gnss_gate_chi2)
        self.reset_after_s = float(gnss_reset_after_s)
        self.status = EkfStatus()
        self.warnings: Counter = Counter()
        self._pending_reset: list[np.ndarray] = []

    # ---- accessors
    @property
    def x(self) -> np.ndarray:
        return self.ekf.x.reshape(6).copy()

    @property
    def P(self) -> np.ndarray:
        return self.ekf.P.copy()

    # ---- prediction
    def predict_imu(self, gyro_z_radps: float, accel_x_mps2: float, dt_s: float, t_s: float | None = None):
        if not (np.isfinite(gyro_z_radps) and np.isfinite(accel_x_mps2)):
            self.warnings["imu_non_finite"] += 1
            return False
        if not (np.isfinite(dt_s) and 0 < dt_s <= 1.0):
            self.warnings["imu_dt_invalid"] += 1
            return False
        n = self.noise
        x = self.ekf.x.reshape(6)
        yaw, v = x[YAW], x[V]
        c, s = np.cos(yaw), np.sin(yaw)
        F = np.eye(6)
        F[PX, YAW] = -v * s * dt_s
        F[PX, V] = c * dt_s
        F[PY, YAW] = v * c * dt_s
        F[PY, V] = s * dt_s
        F[YAW, BG] = -dt_s
        F[V, BA] = -dt_s
        Q = np.diag([n.position_process_std ** 2 * dt_s, n.position_process_std ** 2 * dt_s,
                     n.gyro_noise_density ** 2 * dt_s, n.accel_noise_density ** 2 * dt_s,
                     n.gyro_bias_rw ** 2 * dt_s, n.accel_bias_rw ** 2 * dt_s])
        xn = x.copy()
        xn[PX] += v * c * dt_s
        xn[PY] += v * s * dt_s
        w = gyro_z_radps - x[BG]
        xn[YAW] = wrap_angle(yaw + w * dt_s)
        xn[V] = v + (accel_x_mps2 + w * w * self.imu_lever_x - x[BA]) * dt_s
        self.ekf.x = xn.reshape(6, 1)
        self.ekf.P = F @ self.ekf.P @ F.T + Q
        self.ekf.P = 0.5 * (self.ekf.P + self.ekf.P.T)
        if t_s is not None:
            self.status.last_imu_time_s = float(t_s)
        return True

    # ---- updates
    def update_wheel_speed(self, speed_mps: float, std_mps: float | None = None):
        if not np.isfinite(speed_mps):
            self.warnings["wheel_non_finite"] += 1
            return False
        std = self.noise.wheel_speed_std if std_mps is None or not np.isfinite(std_mps) or std_mps <= 0 else std_mps
        H = np.zeros((1, 6))
        H[0, V] = 1.0
        self.ekf.update(np.array([[speed_mps]]), lambda _x: H, lambda x: H @ x, R=np.array([[std ** 2]]))
        return True

    def _gnss_model(self, x):
        """Predicted antenna position and its Jacobian (lever arm rotated by yaw)."""
        x = np.asarray(x, float).reshape(6)
        c, s = np.cos(x[YAW]), np.sin(x[YAW])
        lx, ly = self.lever
        h = np.array([x[PX] + c * lx - s * ly, x[PY] + s * lx + c * ly])
        H = np.zeros((2, 6))
        H[0, PX] = H[1, PY] = 1.0
        H[0, YAW] = -s * lx - c * ly
        H[1, YAW] = c * lx - s * ly
        return h, H

    def gnss_nis(self, enu_xy, R) -> float:
        h, H = self._gnss_model(self.ekf.x)
        y = np.asarray(enu_xy, float).reshape(2) - h
        S = H @ self.ekf.P @ H.T + R
        return float(y @ np.linalg.solve(S, y))

    def update_gnss(self, enu_xy, std_m: float | np.ndarray, t_s: float, dt_since_last_s: float | None = None):
        """Fuse one GNSS fix (ENU metres). Returns "accepted", "rejected", "reset" or "invalid"."""
        z = np.asarray(enu_xy, float).reshape(-1)[:2]
        std = np.broadcast_to(np.asarray(std_m, float), (2,)).copy()
        if not (np.all(np.isfinite(z)) and np.all(np.isfinite(std))):
            self.warnings["gnss_non_finite"] += 1
            return "invalid"
        std = np.maximum(std, self.noise.gnss_min_std)
        R = np.diag(std ** 2)
        nis = self.gnss_nis(z, R)
        self.status.last_gnss_nis = nis
        prev_t = self.status.last_gnss_time_s
        self.status.last_gnss_time_s = float(t_s)
        if nis <= self.gate_chi2:
            self.ekf.update(z.reshape(2, 1), lambda x: self._gnss_model(x)[1],
                            lambda x: self._gnss_model(x)[0].reshape(2, 1), R=R)
            self.status.gnss_accepted += 1
            self.status.consecutive_rejected_s = 0.0
            self._pending_reset.clear()
            return "accepted"
        self.status.gnss_rejected += 1
        gap = dt_since_last_s if dt_since_last_s is not None else (
            float(t_s) - prev_t if np.isfinite(prev_t) else 0.0)
        self.status.consecutive_rejected_s += max(gap, 0.0)
        self._pending_reset.append(z)
        if self.status.consecutive_rejected_s >= self.reset_after_s and len(self._pending_reset) >= 3:
            recent = np.array(self._pending_reset[-3:])
            # accept the jump only if the rejected fixes agree among themselves (allowing for
            # motion between them); a wildly scattering receiver is not trusted either
            if np.max(np.linalg.norm(recent - recent.mean(axis=0), axis=1)) < 5.0 * float(std.max()) + \
                    abs(self.x[V]) * self.reset_after_s:
                self.reset_position(z, R)
                return "reset"
        return "rejected"

    def reset_position(self, z_xy, R):
        x = self.ekf.x.reshape(6).copy()
        c, s = np.cos(x[YAW]), np.sin(x[YAW])
        x[:2] = np.asarray(z_xy) - np.array([c * self.lever[0] - s * self.lever[1],
                                             s * self.lever[0] + c * self.lever[1]])
        self.ekf.x = x.reshape(6, 1)
        P = self.ekf.P.copy()
        P[:2, :] = 0.0
        P[:, :2] = 0.0
        P[:2, :2] = R
        P[YAW, YAW] = max(P[YAW, YAW], np.deg2rad(10.0) ** 2)
        self.ekf.P = P
        self.status.gnss_resets += 1
        self.status.consecutive_rejected_s = 0.0
        self._pending_reset.clear()


def nees(x_est, P, x_true, idx=(PX, PY, YAW)) -> float:
    """Normalised estimation error squared on the selected states (yaw wrapped)."""
    idx = list(idx)
    e = np.asarray(x_true, float)[idx] - np.asarray(x_est, float)[idx]
    if YAW in idx:
        k = idx.index(YAW)
        e[k] = wrap_angle(e[k])
    return float(e @ np.linalg.solve(np.asarray(P)[np.ix_(idx, idx)], e))

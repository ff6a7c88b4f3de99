"""Kalman filters for tracked objects: image-plane boxes and ground-plane CV / CTRV / CTRA.

Core module (numpy only). Every filter exposes the same small interface so that one tracker
core (``tracker.py``) drives all of them:

* ``predict(dt)``             propagate state and covariance
* ``update(z)``               fuse one measurement (shape ``(dim_z,)``)
* ``project()``               predicted measurement and its innovation covariance ``S``
* ``position``                current centre estimate (used for output / cost functions)

The box filter follows the (cx, cy, aspect, height) parameterisation of DeepSORT/ByteTrack
(Wojke et al. 2017, Zhang et al. 2022) with noise proportional to box height, which keeps the
filter scale-invariant: a far (small) pedestrian and a near (large) one get the same relative
uncertainty. The ground models follow Schubert et al., "Comparison and evaluation of advanced
motion models for vehicle tracking", FUSION 2008 (CTRV / CTRA).
"""
from __future__ import annotations

import numpy as np

_TWO_PI = 2.0 * np.pi


def wrap_angle(a):
    """Wrap an angle (rad) to [-pi, pi)."""
    return (np.asarray(a) + np.pi) % _TWO_PI - np.pi


def _kf_update(x, P, z, H, R, residual=None):
    """Joseph-form Kalman update; returns (x, P). ``residual`` may wrap angles."""
    y = z - H @ x if residual is None else residual
    S = H @ P @ H.T + R
    PHt = P @ H.T
    K = np.linalg.solve(S, PHt.T).T  # S symmetric
    x = x + K @ y
    I_KH = -K @ H
    I_KH[np.diag_indices_from(I_KH)] += 1.0
    P = I_KH @ P @ I_KH.T + K @ R @ K.T
    return x, 0.5 * (P + P.T)


def box_ltwh_to_xyah(ltwh):
    ltwh = np.asarray(ltwh, dtype=float)
    out = ltwh.copy()
    out[..., 0] = ltwh[..., 0] + 0.5 * ltwh[..., 2]
    out[..., 1] = ltwh[..., 1] + 0.5 * ltwh[..., 3]
    out[..., 2] = ltwh[..., 2] / ltwh[..., 3]
    return out


def box_xyah_to_ltwh(xyah):
    xyah = np.asarray(xyah, dtype=float)
    out = xyah.copy()
    w = xyah[..., 2] * xyah[..., 3]
    out[..., 2] = w
    out[..., 0] = xyah[..., 0] - 0.5 * w
    out[..., 1] = xyah[..., 1] - 0.5 * xyah[..., 3]
    return out


class BoxKalmanFilter:
    """Constant-velocity KF on (cx, cy, aspect, height) of an image box; dt in frames.

    Noise scales with the box height (std = weight * h) so the same filter works for boxes
    of 20 px and 400 px; weights are the DeepSORT/ByteTrack values (1/20 position, 1/160
    velocity), which describe pedestrian-camera motion in general, not one sequence.
    """

    dim_x = 8
    dim_z = 4

    def __init__(self, z_xyah, std_weight_position=1.0 / 20.0, std_weight_velocity=1.0 / 160.0):
        z = np.asarray(z_xyah, dtype=float)
        self.w_pos = float(std_weight_position)
        self.w_vel = float(std_weight_velocity)
        self.x = np.concatenate([z, np.zeros(4)])
        h = z[3]
        std = np.array([2 * self.w_pos * h, 2 * self.w_pos * h, 1e-2, 2 * self.w_pos * h,
                        10 * self.w_vel * h, 10 * self.w_vel * h, 1e-5, 10 * self.w_vel * h])
        self.P = np.diag(std ** 2)
        self.H = np.hstack([np.eye(4), np.zeros((4, 4))])

    def predict(self, dt: float = 1.0):
        F = np.eye(8)
        F[:4, 4:] = dt * np.eye(4)
        h = max(self.x[3], 1e-3)
        std_pos = np.array([self.w_pos * h, self.w_pos * h, 1e-2, self.w_pos * h])
        std_vel = np.array([self.w_vel * h, self.w_vel * h, 1e-5, self.w_vel * h])
        Q = np.diag(np.concatenate([std_pos, std_vel]) ** 2) * max(dt, 1e-6)
        self.x = F @ self.x
        self.P = F @ self.P @ F.T + Q
        if self.x[3] < 1e-3:  # a shrinking box must never turn inside out
            self.x[3] = 1e-3
            self.x[7] = 0.0

    def measurement_cov(self) -> np.ndarray:
        h = max(self.x[3], 1e-3)
        return np.diag(np.array([self.w_pos * h, self.w_pos * h, 1e-1, self.w_pos * h]) ** 2)

    def project(self):
        R = self.measurement_cov()
        return self.H @ self.x, self.H @ self.P @ self.H.T + R

    def update(self, z_xyah):
        self.x, self.P = _kf_update(self.x, self.P, np.asarray(z_xyah, float), self.H,
                                    self.measurement_cov())

    @property
    def position(self):
        return self.x[:2].copy()

    def box_ltwh(self):
        return box_xyah_to_ltwh(self.x[:4])


class ConstantVelocityFilter:
    """Ground-plane CV model, state (x, y, vx, vy); white-noise acceleration (std ``accel_std``)."""

    dim_x = 4
    dim_z = 2

    def __init__(self, z_xy, pos_std_m=0.3, accel_std_mps2=2.0, init_speed_std_mps=5.0):
        self.x = np.array([z_xy[0], z_xy[1], 0.0, 0.0], dtype=float)
        self.P = np.diag([pos_std_m ** 2, pos_std_m ** 2, init_speed_std_mps ** 2,
                          init_speed_std_mps ** 2])
        self.R = np.eye(2) * pos_std_m ** 2
        self.q = accel_std_mps2 ** 2
        self.H = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])

    def predict(self, dt: float):
        F = np.eye(4)
        F[0, 2] = F[1, 3] = dt
        g = np.array([[0.5 * dt * dt, 0], [0, 0.5 * dt * dt], [dt, 0], [0, dt]])
        self.x = F @ self.x
        self.P = F @ self.P @ F.T + self.q * g @ g.T

    def project(self, R=None):
        return self.H @ self.x, self.H @ self.P @ self.H.T + (self.R if R is None else R)

    def update(self, z_xy, R=None):
        self.x, self.P = _kf_update(self.x, self.P, np.asarray(z_xy, float)[:2], self.H,
                                    self.R if R is None else R)

    @property
    def position(self):
        return self.x[:2].copy()

    @property
    def velocity(self):
        return self.x[2:4].copy()

    @property
    def yaw(self):
        return float(np.arctan2(self.x[3], self.x[2]))


class CTRVFilter:
    """Constant turn rate and velocity EKF, state (x, y, yaw, v, yaw_rate), measures (x, y).

    Process noise: longitudinal acceleration std ``accel_std`` and yaw acceleration std
    ``yaw_accel_std`` (Schubert et al. 2008, eq. for CTRV with noise on v and omega).
    """

    dim_x = 5
    dim_z = 2

    def __init__(self, z_xy, yaw0=0.0, pos_std_m=0.3, accel_std_mps2=2.0,
                 yaw_accel_std_radps2=0.5, init_speed_std_mps=5.0):
        self.x = np.array([z_xy[0], z_xy[1], yaw0, 0.0, 0.0], dtype=float)
        self.P = np.diag([pos_std_m ** 2, pos_std_m ** 2, np.pi ** 2, init_speed_std_mps ** 2, 0.5 ** 2])
        self.R = np.eye(2) * pos_std_m ** 2
        self.sa2 = accel_std_mps2 ** 2
        self.sw2 = yaw_accel_std_radps2 ** 2
        self.H = np.zeros((2, self.dim_x))
        self.H[0, 0] = self.H[1, 1] = 1.0
        self._pos_std = pos_std_m
        self._init_speed_std = init_speed_std_mps
        # two-point initialisation: with v = 0 the heading has zero gain in the EKF (d pos /
        # d yaw = v * ...), so heading and speed are seeded from the first displacement
        self._z_first = np.array(z_xy[:2], float)
        self._t_since_first = 0.0
        self._initialised = False

    def _two_point_init(self, z):
        d = z - self._z_first
        dist = float(np.hypot(*d))
        if self._t_since_first <= 0 or dist < 3.0 * self._pos_std:
            if self._t_since_first > 2.0:  # parked: re-base so a later start is timed right
                self._z_first = z.copy()
                self._t_since_first = 0.0
            return  # not moved measurably yet: keep waiting (a parked object keeps v ~ 0)
        self.x[0:2] = z
        self.x[2] = np.arctan2(d[1], d[0])
        self.x[3] = dist / self._t_since_first
        self.x[4:] = 0.0
        P = np.diag(np.full(self.dim_x, 1.0))
        P[0, 0] = P[1, 1] = self._pos_std ** 2
        sig_v = np.sqrt(2.0) * self._pos_std / self._t_since_first
        P[2, 2] = min((sig_v / max(self.x[3], 1e-3)) ** 2, np.pi ** 2)
        P[3, 3] = sig_v ** 2
        P[4, 4] = 0.5 ** 2
        if self.dim_x > 5:
            P[5, 5] = 2.0 ** 2
        self.P = P
        self._initialised = True

    def _propagate(self, x, dt):
        """Works on one state (n,) or a batch (k, n) (used by the Jacobian)."""
        x = np.asarray(x, float)
        px, py, yaw, v, w = (x[..., i] for i in range(5))
        out = x.copy()
        small = np.abs(w) <= 1e-4
        w_safe = np.where(small, 1.0, w)
        turn_x = v / w_safe * (np.sin(yaw + w * dt) - np.sin(yaw))
        turn_y = v / w_safe * (-np.cos(yaw + w * dt) + np.cos(yaw))
        out[..., 0] = px + np.where(small, v * dt * np.cos(yaw), turn_x)
        out[..., 1] = py + np.where(small, v * dt * np.sin(yaw), turn_y)
        out[..., 2] = wrap_angle(yaw + w * dt)
        return out

    def _jacobian(self, x, dt):
        # Numerical Jacobian (one batched propagation): exact enough for 5-6 states and
        # immune to the w -> 0 singularity of the closed form.
        n = len(x)
        eps = 1e-6
        batch = np.vstack([x, x + eps * np.eye(n)])
        f = self._propagate(batch, dt)
        diff = f[1:] - f[0]
        diff[:, 2] = wrap_angle(diff[:, 2])
        return (diff / eps).T

    def _process_noise(self, dt):
        yaw = self.x[2]
        G = np.zeros((self.dim_x, 2))
        G[0, 0] = 0.5 * dt * dt * np.cos(yaw)
        G[1, 0] = 0.5 * dt * dt * np.sin(yaw)
        G[3, 0] = dt
        G[2, 1] = 0.5 * dt * dt
        G[4, 1] = dt
        return G @ np.diag([self.sa2, self.sw2]) @ G.T

    def predict(self, dt: float):
        t_prev = self._t_since_first
        self._t_since_first += dt
        F = self._jacobian(self.x, dt)
        Q = self._process_noise(dt)
        if not self._initialised:
            # heading unknown: the object may have moved in any direction at up to the
            # initial speed std, so the position variance grows isotropically as (sigma_v t)^2
            # An object that has not moved 3 sigma in t seconds is slower than 3 sigma / t,
            # so the spread saturates at (3 sigma)^2 instead of growing without bound.
            def spread(t):
                return (min(self._init_speed_std, 3.0 * self._pos_std / max(t, 1e-9)) * t) ** 2
            grow = max(spread(self._t_since_first) - spread(t_prev), 0.0)
            Q[0, 0] += grow
            Q[1, 1] += grow
        self.x = self._propagate(self.x, dt)
        self.P = F @ self.P @ F.T + Q
        self.P = 0.5 * (self.P + self.P.T)

    def project(self, R=None):
        return self.H @ self.x, self.H @ self.P @ self.H.T + (self.R if R is None else R)

    def update(self, z_xy, R=None):
        z = np.asarray(z_xy, float)[:2]
        if not self._initialised:
            self._two_point_init(z)
            if self._initialised:
                return
        self.x, self.P = _kf_update(self.x, self.P, z, self.H, self.R if R is None else R)
        self.x[2] = wrap_angle(self.x[2])
        if self.x[3] < 0:  # v < 0 with yaw is the same motion as v > 0 with yaw + pi
            self.x[3] = -self.x[3]
            self.x[2] = wrap_angle(self.x[2] + np.pi)

    @property
    def position(self):
        return self.x[:2].copy()

    @property
    def velocity(self):
        return np.array([self.x[3] * np.cos(self.x[2]), self.x[3] * np.sin(self.x[2])])

    @property
    def yaw(self):
        return float(self.x[2])


class CTRAFilter(CTRVFilter):
    """Constant turn rate and acceleration EKF, state (x, y, yaw, v, yaw_rate, a), measures (x, y)."""

    dim_x = 6

    def __init__(self, z_xy, yaw0=0.0, pos_std_m=0.3, jerk_std_mps3=2.0,
                 yaw_accel_std_radps2=0.5, init_speed_std_mps=5.0):
        super().__init__(z_xy, yaw0, pos_std_m, jerk_std_mps3, yaw_accel_std_radps2, init_speed_std_mps)
        self.x = np.append(self.x, 0.0)
        P = np.zeros((6, 6))
        P[:5, :5] = self.P
        P[5, 5] = 2.0 ** 2
        self.P = P
        self.H = np.zeros((2, 6))
        self.H[0, 0] = self.H[1, 1] = 1.0

    def _propagate(self, x, dt):
        # Integrate the CTRA ODE with 4 sub-steps of midpoint rule: closed forms exist but are
        # long and ill-conditioned for small yaw rates; the error here is << measurement noise.
        out = np.array(x, float, copy=True)
        n = 4
        h = dt / n
        for _ in range(n):
            yaw, v, w, a = out[..., 2].copy(), out[..., 3].copy(), out[..., 4], out[..., 5]
            ym = yaw + 0.5 * w * h
            vm = v + 0.5 * a * h
            out[..., 0] += vm * np.cos(ym) * h
            out[..., 1] += vm * np.sin(ym) * h
            out[..., 2] = yaw + w * h
            out[..., 3] = v + a * h
        out[..., 2] = wrap_angle(out[..., 2])
        return out

    def _process_noise(self, dt):
        yaw = self.x[2]
        G = np.zeros((6, 2))
        G[0, 0] = dt ** 3 / 6 * np.cos(yaw)
        G[1, 0] = dt ** 3 / 6 * np.sin(yaw)
        G[3, 0] = 0.5 * dt * dt
        G[5, 0] = dt
        G[2, 1] = 0.5 * dt * dt
        G[4, 1] = dt
        return G @ np.diag([self.sa2, self.sw2]) @ G.T

"""Kalman filters for tracked objects: image-plane boxes and ground-plane CV / CTRV / CTRA.

Core module (numpy only). Every filter exposes the same small interface so that one tracker
core (``tracker.py``) drives all of them:

* ``predict(dt)``             propagate state and covariance
* ``update(z)``               fuse one measurement (shape ``(dim_z,)``)
* ``project()``               predicted measurement and its innovation covariance ``S``
* ``position``                current centre estimate (used for output / cost functions)

and the batched class methods ``predict_many(filters, dt)`` / ``update_many(filters, Z, R)``,
which stack the states of many filters of one class and run the same arithmetic as one
(N, n) / (N, n, n) array operation: a tracker with 200 objects then costs a few numpy calls
per frame instead of 200 Python-level predict/update calls. The single-filter methods are the
batch of one, so both paths are the same code.

Ground filters also take two state settings from the tracker's motion-state detection
(``tracker.py``, variable-dimension filtering): ``pin_at_rest_many(filters, pos, P_pos)`` (the
object is at rest: position from the rest estimate, every rate state zero with zero variance)
and ``set_kinematics(pos, vel, P)`` (the object has started: position and velocity vector from
the onset fit, with their 4x4 covariance, in the model's own state).

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


def _kf_update_many(X, P, Y, R):
    """Batched Joseph-form update for measurements of the first m state entries (H = [I 0]).

    X (N, n), P (N, n, n), residuals Y (N, m), R (N, m, m); returns (X, P)."""
    m = Y.shape[1]
    S = P[:, :m, :m] + R
    PHt = P[:, :, :m]                                              # (N, n, m)
    K = np.linalg.solve(S, PHt.transpose(0, 2, 1)).transpose(0, 2, 1)  # S symmetric
    X = X + np.einsum("nij,nj->ni", K, Y)
    I_KH = np.broadcast_to(np.eye(X.shape[1]), P.shape).copy()
    I_KH[:, :, :m] -= K
    P = I_KH @ P @ I_KH.transpose(0, 2, 1) + K @ R @ K.transpose(0, 2, 1)
    return X, 0.5 * (P + P.transpose(0, 2, 1))


def _gather(filters):
    return np.array([f.x for f in filters], float), np.array([f.P for f in filters], float)


def _scatter(filters, X, P):
    for f, x, p in zip(filters, X, P):
        f.x, f.P = x, p


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

    @staticmethod
    def predict_many(filters, dt: float = 1.0):
        if not filters:
            return
        X, P = _gather(filters)
        wp = np.array([f.w_pos for f in filters])[:, None]
        wv = np.array([f.w_vel for f in filters])[:, None]
        h = np.maximum(X[:, 3:4], 1e-3)
        one = np.ones_like(h)
        std = np.hstack([wp * h, wp * h, 1e-2 * one, wp * h, wv * h, wv * h, 1e-5 * one, wv * h])
        F = np.eye(8)
        F[:4, 4:] = dt * np.eye(4)
        X = X @ F.T
        P = F @ P @ F.T
        P[:, np.arange(8), np.arange(8)] += std ** 2 * max(dt, 1e-6)
        flat = X[:, 3] < 1e-3  # a shrinking box must never turn inside out
        X[flat, 3] = 1e-3
        X[flat, 7] = 0.0
        _scatter(filters, X, P)

    def predict(self, dt: float = 1.0):
        self.predict_many([self], dt)

    @staticmethod
    def measurement_cov_many(filters, X=None) -> np.ndarray:
        X = np.array([f.x for f in filters]) if X is None else X
        wp = np.array([f.w_pos for f in filters])
        h = np.maximum(X[:, 3], 1e-3)
        R = np.zeros((len(filters), 4, 4))
        R[:, 0, 0] = R[:, 1, 1] = R[:, 3, 3] = (wp * h) ** 2
        R[:, 2, 2] = 1e-2
        return R

    def measurement_cov(self) -> np.ndarray:
        return self.measurement_cov_many([self])[0]

    def project(self):
        R = self.measurement_cov()
        return self.H @ self.x, self.H @ self.P @ self.H.T + R

    @staticmethod
    def update_many(filters, Z, R=None):
        if not filters:
            return
        X, P = _gather(filters)
        R = BoxKalmanFilter.measurement_cov_many(filters, X) if R is None else R
        X, P = _kf_update_many(X, P, np.asarray(Z, float) - X[:, :4], R)
        _scatter(filters, X, P)

    def update(self, z_xyah):
        self.update_many([self], np.asarray(z_xyah, float)[None])

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

    @staticmethod
    def predict_many(filters, dt: float):
        if not filters:
            return
        X, P = _gather(filters)
        q = np.array([f.q for f in filters])
        F = np.eye(4)
        F[0, 2] = F[1, 3] = dt
        g = np.array([[0.5 * dt * dt, 0], [0, 0.5 * dt * dt], [dt, 0], [0, dt]])
        _scatter(filters, X @ F.T, F @ P @ F.T + q[:, None, None] * (g @ g.T))

    def predict(self, dt: float):
        self.predict_many([self], dt)

    def project(self, R=None):
        return self.H @ self.x, self.H @ self.P @ self.H.T + (self.R if R is None else R)

    @staticmethod
    def update_many(filters, Z, R=None):
        if not filters:
            return
        X, P = _gather(filters)
        R = np.array([f.R for f in filters]) if R is None else np.asarray(R, float)
        X, P = _kf_update_many(X, P, np.asarray(Z, float)[:, :2] - X[:, :2], R)
        _scatter(filters, X, P)

    def update(self, z_xy, R=None):
        self.update_many([self], np.asarray(z_xy, float)[None, :2], None if R is None else R[None])

    @staticmethod
    def pin_at_rest_many(filters, pos, P_pos):
        """At rest: position ``pos`` (N, 2) with covariance ``P_pos`` (N, 2, 2); velocity zero
        and known (a static object has no velocity to estimate: none is reported)."""
        if not filters:
            return
        X = np.zeros((len(filters), 4))
        X[:, :2] = pos
        P = np.zeros((len(filters), 4, 4))
        P[:, :2, :2] = P_pos
        _scatter(filters, X, P)

    def set_kinematics(self, pos, vel, P4):
        """State from a position and velocity vector with their (4, 4) covariance."""
        self.x = np.concatenate([np.asarray(pos, float), np.asarray(vel, float)])
        self.P = 0.5 * (np.asarray(P4, float) + np.asarray(P4, float).T)

    @property
    def position(self):
        return self.x[:2].copy()

    @property
    def velocity(self):
        return self.x[2:4].copy()

    @staticmethod
    def speed_many(filters) -> np.ndarray:
        """|velocity| of many filters at once (m/s)."""
        X = np.array([f.x for f in filters], float).reshape(-1, 4)
        return np.hypot(X[:, 2], X[:, 3])

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
        self.x = self.x.copy()
        self.x[0:2] = z
        self.x[2] = np.arctan2(d[1], d[0])
        self.x[3] = dist / self._t_since_first
        self.x[4:] = 0.0
        P = np.diag(np.full(self.dim_x, 1.0))
        P[0, 0] = P[1, 1] = self._pos_std ** 2
        sig_v = np.sqrt(2.0) * self._pos_std / self._t_since_first
        P[2, 2] = min((sig_v / max(self.x[3], 1e-3)) ** 2, np.pi ** 2)
        P[3, 3] = sig_v ** 2
        P[4, 4] = self._start_yaw_rate_std ** 2
        if self.dim_x > 5:
            P[5, 5] = self._start_accel_std ** 2
        self.P = P
        self._initialised = True

    @staticmethod
    def _propagate(x, dt):
        """Works on one state (n,) or a batch (k, n)."""
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

    @classmethod
    def _jacobian_many(cls, X, dt):
        # Numerical Jacobian (one batched propagation of every state and its n perturbations):
        # exact enough for 5-6 states and immune to the w -> 0 singularity of the closed form.
        N, n = X.shape
        eps = 1e-6
        offs = np.vstack([np.zeros(n), eps * np.eye(n)])              # (n + 1, n)
        f = cls._propagate((X[:, None, :] + offs[None]).reshape(-1, n), dt).reshape(N, n + 1, n)
        diff = f[:, 1:] - f[:, :1]
        diff[..., 2] = wrap_angle(diff[..., 2])
        return (diff / eps).transpose(0, 2, 1)

    @staticmethod
    def _noise_gain_many(X, dt):
        """G (N, n, 2): how longitudinal and yaw acceleration noise enter the state."""
        G = np.zeros((len(X), X.shape[1], 2))
        G[:, 0, 0] = 0.5 * dt * dt * np.cos(X[:, 2])
        G[:, 1, 0] = 0.5 * dt * dt * np.sin(X[:, 2])
        G[:, 3, 0] = dt
        G[:, 2, 1] = 0.5 * dt * dt
        G[:, 4, 1] = dt
        return G

    @classmethod
    def predict_many(cls, filters, dt: float):
        if not filters:
            return
        X, P = _gather(filters)
        t_prev = np.array([f._t_since_first for f in filters])
        for f in filters:
            f._t_since_first += dt
        F = cls._jacobian_many(X, dt)
        G = cls._noise_gain_many(X, dt)
        q = np.array([[f.sa2, f.sw2] for f in filters])
        Q = (G * q[:, None, :]) @ G.transpose(0, 2, 1)
        uninit = np.array([not f._initialised for f in filters])
        if uninit.any():
            # heading unknown: the object may have moved in any direction at up to the
            # initial speed std, so the position variance grows isotropically as (sigma_v t)^2
            # An object that has not moved 3 sigma in t seconds is slower than 3 sigma / t,
            # so the spread saturates at (3 sigma)^2 instead of growing without bound.
            sv = np.array([f._init_speed_std for f in filters])
            ps = np.array([f._pos_std for f in filters])

            def spread(t):
                return (np.minimum(sv, 3.0 * ps / np.maximum(t, 1e-9)) * t) ** 2
            grow = np.where(uninit, np.maximum(spread(t_prev + dt) - spread(t_prev), 0.0), 0.0)
            Q[:, 0, 0] += grow
            Q[:, 1, 1] += grow
        X = cls._propagate(X, dt)
        P = F @ P @ F.transpose(0, 2, 1) + Q
        _scatter(filters, X, 0.5 * (P + P.transpose(0, 2, 1)))

    def predict(self, dt: float):
        self.predict_many([self], dt)

    def project(self, R=None):
        return self.H @ self.x, self.H @ self.P @ self.H.T + (self.R if R is None else R)

    @staticmethod
    def update_many(filters, Z, R=None):
        if not filters:
            return
        Z = np.asarray(Z, float)[:, :2]
        kf = np.ones(len(filters), bool)
        for i, f in enumerate(filters):
            if not f._initialised:
                f._two_point_init(Z[i])
                kf[i] = not f._initialised  # just initialised from two points: no KF update
        idx = np.flatnonzero(kf)
        if idx.size == 0:
            return
        fs = [filters[i] for i in idx]
        X, P = _gather(fs)
        R = np.array([f.R for f in fs]) if R is None else np.asarray(R, float)[idx]
        X, P = _kf_update_many(X, P, Z[idx] - X[:, :2], R)
        X[:, 2] = wrap_angle(X[:, 2])
        neg = X[:, 3] < 0  # v < 0 with yaw is the same motion as v > 0 with yaw + pi
        if neg.any():
            # (and a -> -a for CTRA: the acceleration is along the heading)
            flip = [3] + [5] * (X.shape[1] > 5)
            X[np.ix_(neg, flip)] *= -1.0
            X[neg, 2] = wrap_angle(X[neg, 2] + np.pi)
            # the same flip in the covariance: d(-v) = -dv, d(yaw + pi) = dyaw
            T = np.broadcast_to(np.eye(X.shape[1]), (int(neg.sum()),) + P.shape[1:]).copy()
            T[:, flip, flip] = -1.0
            P[neg] = T @ P[neg] @ T
        _scatter(fs, X, P)

    def update(self, z_xy, R=None):
        self.update_many([self], np.asarray(z_xy, float)[None, :2], None if R is None else R[None])

    # prior std of the yaw rate and (CTRA) acceleration when a motion starts from a fitted
    # velocity (two-point initialisation, onset from rest): not observed by that fit
    _start_yaw_rate_std = 0.5
    _start_accel_std = 2.0

    @staticmethod
    def pin_at_rest_many(filters, pos, P_pos):
        """At rest: position ``pos`` with covariance ``P_pos``; speed, yaw rate (and
        acceleration) zero and known. The heading is undefined at v = 0 (the EKF has no gain on
        it, d pos / d yaw = v ...), so it is kept with a full-circle variance and set afresh
        from the velocity fitted when the object starts (``set_kinematics``)."""
        if not filters:
            return
        X, _ = _gather(filters)
        X[:, :2] = pos
        X[:, 3:] = 0.0
        P = np.zeros((len(filters), X.shape[1], X.shape[1]))
        P[:, :2, :2] = P_pos
        P[:, 2, 2] = np.pi ** 2
        _scatter(filters, X, P)
        for f in filters:
            f._initialised = True  # the state is defined (v = 0): no two-point waiting

    def set_kinematics(self, pos, vel, P4):
        """State from a position and velocity vector with their (4, 4) covariance: heading and
        speed are the velocity's angle and norm, their covariance the polar Jacobian's image."""
        vel = np.asarray(vel, float)
        P4 = 0.5 * (np.asarray(P4, float) + np.asarray(P4, float).T)
        s = max(float(np.hypot(*vel)), 1e-6)
        J = np.array([[-vel[1] / s ** 2, vel[0] / s ** 2],      # d yaw / d (vx, vy)
                      [vel[0] / s, vel[1] / s]])                # d v / d (vx, vy)
        n = self.dim_x
        x = np.zeros(n)
        x[:2] = pos
        x[2] = np.arctan2(vel[1], vel[0])
        x[3] = s
        P = np.zeros((n, n))
        P[:2, :2] = P4[:2, :2]
        P[:2, 2:4] = P4[:2, 2:] @ J.T
        P[2:4, :2] = P[:2, 2:4].T
        P[2:4, 2:4] = J @ P4[2:, 2:] @ J.T
        if P[2, 2] > np.pi ** 2:   # a slow fit: the heading is no better than unknown
            c = np.pi / np.sqrt(P[2, 2])
            P[2, :] *= c
            P[:, 2] *= c
        P[4, 4] = self._start_yaw_rate_std ** 2
        if n > 5:
            P[5, 5] = self._start_accel_std ** 2
        self.x, self.P = x, 0.5 * (P + P.T)
        self._initialised = True

    @property
    def position(self):
        return self.x[:2].copy()

    @property
    def velocity(self):
        return np.array([self.x[3] * np.cos(self.x[2]), self.x[3] * np.sin(self.x[2])])

    @staticmethod
    def speed_many(filters) -> np.ndarray:
        """|velocity| of many filters at once (m/s)."""
        return np.abs(np.array([f.x[3] for f in filters], float))

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

    @staticmethod
    def _propagate(x, dt):
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

    @staticmethod
    def _noise_gain_many(X, dt):
        G = np.zeros((len(X), 6, 2))
        G[:, 0, 0] = dt ** 3 / 6 * np.cos(X[:, 2])
        G[:, 1, 0] = dt ** 3 / 6 * np.sin(X[:, 2])
        G[:, 3, 0] = 0.5 * dt * dt
        G[:, 5, 0] = dt
        G[:, 2, 1] = 0.5 * dt * dt
        G[:, 4, 1] = dt
        return G

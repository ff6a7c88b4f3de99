"""Frenet-frame trajectory planner among moving obstacles (core, no rclpy).

Werling et al., "Optimal trajectory generation for dynamic street scenarios in a Frenet
frame" (ICRA 2010): lateral motion d(t) = quintic and longitudinal motion s(t) = quartic
(velocity keeping) or quintic (stopping at a point) polynomials, which minimise the
integrated squared jerk between the current and a sampled end state. Below
``FrenetConfig.low_speed_mps`` the lateral motion is a quintic in arc length, d(s), as the
paper prescribes for low speeds: d(t) there ties the heading change to time, not distance, so
a car standing at an angle to its lane (stopped mid-turn for a pedestrian) had only crawling
candidates within the steering limit and crept on at 0.2-0.6 m/s. All candidates share
one time grid (shorter manoeuvres continue at constant lateral offset / speed), so
conversion to Cartesian coordinates, limit checks, costs and collision checks run as numpy
array operations over every candidate at once.

Checks per candidate: speed within [0, v_max], longitudinal acceleration within
[-a_brake, a_max], longitudinal jerk, path curvature (steering limit), lateral acceleration,
friction circle; collision with predicted object boxes (ego = three discs) and with the
static clearance map. If none survives, an emergency-stop profile (maximum jerk-limited
braking along the current lateral offset) is returned with ``emergency=True``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from .grid import PlanningError, validate_path


# --------------------------------------------------------------------------------------
# Reference path
# --------------------------------------------------------------------------------------
class ReferencePath:
    """Smooth arc-length parametrised reference line built from an (N, 2) polyline."""

    def __init__(self, xy, spacing_m: float = 0.5, smoothing_m: float = 1.5, extend_m: float = 30.0):
        pts = validate_path(xy, "reference path")[:, :2]
        keep = np.concatenate([[True], np.hypot(*np.diff(pts, axis=0).T) > 1e-6])
        pts = pts[keep]
        if len(pts) < 2:
            raise PlanningError("invalid_input", "reference path needs at least two distinct points")
        # Straight extensions at both ends keep projections well-defined past the ends.
        d0 = pts[1] - pts[0]
        d1 = pts[-1] - pts[-2]
        pts = np.vstack([pts[0] - extend_m * d0 / np.linalg.norm(d0), pts, pts[-1] + extend_m * d1 / np.linalg.norm(d1)])
        seg = np.hypot(*np.diff(pts, axis=0).T)
        s = np.concatenate([[0.0], np.cumsum(seg)])
        n = max(3, int(math.ceil(s[-1] / spacing_m)) + 1)
        s_new = np.linspace(0.0, s[-1], n)
        x = np.interp(s_new, s, pts[:, 0])
        y = np.interp(s_new, s, pts[:, 1])
        # Lane centre lines are polylines: smoothing removes curvature spikes at their vertices.
        sigma = smoothing_m / (s_new[1] - s_new[0])
        if sigma > 0:
            x = ndimage.gaussian_filter1d(x, sigma, mode="nearest")
            y = ndimage.gaussian_filter1d(y, sigma, mode="nearest")
        seg = np.hypot(np.diff(x), np.diff(y))
        self.s = np.concatenate([[0.0], np.cumsum(seg)])
        self.x = x
        self.y = y
        self.theta = np.unwrap(np.arctan2(np.gradient(y), np.gradient(x)))
        self.kappa = np.gradient(self.theta) / np.maximum(np.gradient(self.s), 1e-9)
        self.offset_m = extend_m  # s of the first original point
        self.length_m = float(self.s[-1])
        self._tree = cKDTree(np.stack([x, y], axis=1))

    def eval(self, s):
        """x, y, theta, kappa at arc length(s) ``s`` (clamped to the path)."""
        s = np.asarray(s, dtype=float)
        return (np.interp(s, self.s, self.x), np.interp(s, self.s, self.y),
                np.interp(s, self.s, self.theta), np.interp(s, self.s, self.kappa))

    def project(self, xy):
        """(s, d) of point(s) ``xy`` (..., 2); d > 0 left of the path."""
        xy = np.asarray(xy, dtype=float)
        flat = xy.reshape(-1, 2)
        _dist, i = self._tree.query(flat)
        i = np.clip(i, 1, len(self.s) - 2)
        best_s = np.empty(len(flat))
        best_d = np.full(len(flat), np.inf)
        for j in (i - 1, i):  # the two segments around the nearest sample
            ax, ay = self.x[j], self.y[j]
            bx, by = self.x[j + 1], self.y[j + 1]
            vx, vy = bx - ax, by - ay
            seg2 = np.maximum(vx * vx + vy * vy, 1e-12)
            u = np.clip(((flat[:, 0] - ax) * vx + (flat[:, 1] - ay) * vy) / seg2, 0.0, 1.0)
            px, py = ax + u * vx, ay + u * vy
            dist = np.hypot(flat[:, 0] - px, flat[:, 1] - py)
            side = np.sign(vx * (flat[:, 1] - ay) - vy * (flat[:, 0] - ax))
            better = dist < np.abs(best_d)
            best_s = np.where(better, self.s[j] + u * (self.s[j + 1] - self.s[j]), best_s)
            best_d = np.where(better, np.where(side == 0, 1.0, side) * dist, best_d)
        return best_s.reshape(xy.shape[:-1]), best_d.reshape(xy.shape[:-1])


# --------------------------------------------------------------------------------------
# Static clearance map
# --------------------------------------------------------------------------------------
class ClearanceMap:
    """Distance (m) from each cell to the nearest blocked cell, for disc collision checks.

    ``blocked``: (H, W) bool, True where the vehicle must not be (obstacles, off-road).
    ``outside_clearance_m``: clearance reported outside the map (0 = outside is forbidden,
    inf = outside is unknown-free, e.g. a local perception grid).
    """

    def __init__(self, blocked, resolution_m: float, origin_xy, outside_clearance_m: float = 0.0):
        blocked = np.asarray(blocked, dtype=bool)
        if blocked.ndim != 2:
            raise PlanningError("invalid_input", f"clearance map must be 2-D, got shape {blocked.shape}")
        self.resolution_m = float(resolution_m)
        self.origin_xy = (float(origin_xy[0]), float(origin_xy[1]))
        # Distances are centre to centre; half a cell is subtracted so that a blocked cell
        # counts from its edge, not its centre (conservative).
        if blocked.any():
            dist = ndimage.distance_transform_edt(~blocked) * self.resolution_m - 0.5 * self.resolution_m
        else:
            dist = np.full(blocked.shape, np.inf)
        self.clearance_m = np.maximum(dist, 0.0)
        self.outside_clearance_m = float(outside_clearance_m)

    def query(self, xy) -> np.ndarray:
        xy = np.asarray(xy, dtype=float)
        col = np.floor((xy[..., 0] - self.origin_xy[0]) / self.resolution_m).astype(np.int64)
        row = np.floor((xy[..., 1] - self.origin_xy[1]) / self.resolution_m).astype(np.int64)
        h, w = self.clearance_m.shape
        inside = (row >= 0) & (row < h) & (col >= 0) & (col < w)
        out = np.full(xy.shape[:-1], self.outside_clearance_m)
        out[inside] = self.clearance_m[row[inside], col[inside]]
        return out


# --------------------------------------------------------------------------------------
# Configuration and result types
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VehicleLimits:
    """Vehicle geometry and dynamic limits. Defaults: BMW 320i (CommonRoad vehicle id 2,
    vehiclemodels parameters_vehicle2: l=4.508 m, w=1.610 m, wheelbase 2.578 m, max
    steering 0.910 rad, a_max 11.5 m/s^2) with comfort-oriented acceleration limits."""

    length_m: float = 4.508
    width_m: float = 1.610
    wheelbase_m: float = 2.578
    max_steer_rad: float = 0.910
    v_max_mps: float = 40.0
    a_max_mps2: float = 3.0
    a_brake_mps2: float = 8.0
    jerk_max_mps3: float = 15.0
    lat_acc_max_mps2: float = 5.0
    friction_acc_max_mps2: float = 9.0
    # Body (footprint) centre ahead of the planning reference point along the body axis. 0 when
    # poses are the body centre (CommonRoad); a car whose odometry frame sits at the rear axle
    # (REP 105 base_link of an Ackermann car, the sim's skyroad_car: +1.164 m) needs it, or the
    # discs would cover the rear overhang and leave the front of the car unchecked.
    center_offset_m: float = 0.0

    @property
    def kappa_max_1pm(self) -> float:
        return math.tan(self.max_steer_rad) / self.wheelbase_m

    def disc_offsets_m(self) -> np.ndarray:
        """Three discs along the body axis covering the rectangle."""
        return self.center_offset_m + np.array([-self.length_m / 3.0, 0.0, self.length_m / 3.0])

    @property
    def disc_radius_m(self) -> float:
        return math.hypot(self.width_m / 2.0, self.length_m / 6.0)


@dataclass(frozen=True)
class FrenetConfig:
    dt_s: float = 0.1
    horizon_s: float = 4.0
    maneuver_times_s: tuple = (2.0, 3.0, 4.0)
    lateral_offsets_m: tuple = tuple(np.round(np.arange(-4.0, 4.01, 0.5), 3))
    n_speed_samples: int = 9
    speed_sample_span_mps: float = 8.0
    obstacle_margin_m: float = 0.3
    obstacle_margin_growth_mps: float = 0.15  # moving objects' predicted boxes grow this much per second ahead
    static_margin_m: float = 0.1
    w_lat_jerk: float = 0.05
    w_lon_jerk: float = 0.05
    w_lat_offset: float = 1.0
    w_speed: float = 1.0
    w_rendezvous: float = 2.0
    w_time: float = 1.0
    w_clearance: float = 2.0
    comfortable_clearance_m: float = 1.0
    # Low-speed mode (below low_speed_mps): lateral profiles d(s) over these distances of travel
    # (the tightest, 6 m, turns a 25-degree heading error and 1 m of offset within the BMW 320i's
    # 0.61 rad steering limit); their nominal duration for the time cost is distance / low_speed_mps.
    low_speed_mps: float = 2.0
    low_speed_lateral_distances_m: tuple = (6.0, 10.0, 15.0)
    # Objects directly behind the ego in its lane (rear-end: the follower must keep its
    # distance, as traffic law has it) are not collision constraints; otherwise a tailgater
    # predicted at constant speed would forbid every braking manoeuvre.
    ignore_followers: bool = True
    follower_lateral_band_m: float = 1.5


@dataclass
class FrenetGoal:
    """What the planner steers towards. ``s_stop_m`` requests a stop at that arc length;
    ``rendezvous`` = (s_m, t_s) asks to be at s at time t (e.g. a goal's time window)."""

    speed_mps: float
    lateral_offset_m: float = 0.0
    s_stop_m: float | None = None
    rendezvous: tuple | None = None
    # Yielding (a person in the path): start braking now, at the constant deceleration that ends
    # at s_stop_m, and never speed up. Without it the speed reference only falls where a comfortable
    # stop must begin, which is the right shape for a route's end but leaves the car at speed
    # towards someone who may still step further in.
    brake_now: bool = False


@dataclass
class FrenetState:
    s: float
    s_d: float
    s_dd: float
    d: float
    d_d: float
    d_dd: float
    # d' = dd/ds and d'' (arc-length derivatives): the heading and curvature relative to the
    # reference, which d_d, d_dd lose at standstill; NaN = derive d' from d_d / s_d
    d_prime: float = math.nan
    d_pprime: float = math.nan


@dataclass
class Trajectory:
    """Time-stamped planned motion; every array has shape (N,)."""

    t_s: np.ndarray
    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray
    v_mps: np.ndarray
    a_mps2: np.ndarray
    kappa_1pm: np.ndarray
    s: np.ndarray
    d: np.ndarray


@dataclass
class PlanResult:
    trajectory: Trajectory
    emergency: bool
    cost: float
    n_candidates: int
    n_feasible: int
    reason: str = ""
    stats: dict = field(default_factory=dict)
    evasive: bool = False   # emergency, but braking was worse: best-effort candidate returned


# --------------------------------------------------------------------------------------
# Polynomials (vectorised over candidates)
# --------------------------------------------------------------------------------------
def quintic_coeffs(x0, v0, a0, x1, v1, a1, T):
    """Coefficients c0..c5 (each (M,)) of the jerk-optimal quintic between two states."""
    x0, v0, a0, x1, v1, a1, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x0, v0, a0, x1, v1, a1, T)))
    T2, T3, T4, T5 = T ** 2, T ** 3, T ** 4, T ** 5
    c0, c1, c2 = x0, v0, a0 / 2.0
    r0 = x1 - (c0 + c1 * T + c2 * T2)
    r1 = v1 - (c1 + 2 * c2 * T)
    r2 = a1 - 2 * c2
    c3 = (10 * r0 - 4 * r1 * T + 0.5 * r2 * T2) / T3
    c4 = (-15 * r0 + 7 * r1 * T - r2 * T2) / T4
    c5 = (6 * r0 - 3 * r1 * T + 0.5 * r2 * T2) / T5
    return np.stack([c0, c1, c2, c3, c4, c5], axis=-1)


def quartic_coeffs(x0, v0, a0, v1, a1, T):
    """Coefficients c0..c5 (c5 = 0) of the jerk-optimal quartic reaching speed v1, accel a1."""
    x0, v0, a0, v1, a1, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x0, v0, a0, v1, a1, T)))
    T2, T3 = T ** 2, T ** 3
    c0, c1, c2 = x0, v0, a0 / 2.0
    r1 = v1 - (c1 + 2 * c2 * T)
    r2 = a1 - 2 * c2
    c3 = (3 * r1 - r2 * T) / (3 * T2)
    c4 = (-2 * r1 + r2 * T) / (4 * T3)
    return np.stack([c0, c1, c2, c3, c4, np.zeros_like(c0)], axis=-1)


def _horner(coeffs, x):
    """Value and first three derivatives of quintics (M, 6) at points x (M, N)."""
    c = coeffs[:, None, :]
    p = c[..., 0] + x * (c[..., 1] + x * (c[..., 2] + x * (c[..., 3] + x * (c[..., 4] + x * c[..., 5]))))
    p1 = c[..., 1] + x * (2 * c[..., 2] + x * (3 * c[..., 3] + x * (4 * c[..., 4] + x * 5 * c[..., 5])))
    p2 = 2 * c[..., 2] + x * (6 * c[..., 3] + x * (12 * c[..., 4] + x * 20 * c[..., 5]))
    p3 = 6 * c[..., 3] + x * (24 * c[..., 4] + x * 60 * c[..., 5])
    return p, p1, p2, p3


def eval_poly(coeffs, T, t):
    """Position, velocity, acceleration, jerk of polynomials (M, 6) on grid t (N,); after each
    candidate's own duration T (M,) the motion continues with the end velocity, zero accel."""
    p, v, a, j = _horner(coeffs, np.minimum(t[None, :], T[:, None]))
    after = t[None, :] > T[:, None]
    extra = np.maximum(t[None, :] - T[:, None], 0.0)
    p = p + v * extra
    a = np.where(after, 0.0, a)
    j = np.where(after, 0.0, j)
    return p, v, a, j


# --------------------------------------------------------------------------------------
# The planner
# --------------------------------------------------------------------------------------
def frenet_state_from_cartesian(ref: ReferencePath, x, y, yaw, v, a=0.0, kappa=0.0) -> FrenetState:
    """Frenet state of a vehicle at (x, y, yaw, speed v, accel a, path curvature kappa)."""
    vals = np.array([x, y, yaw, v, a, kappa], dtype=float)
    if not np.all(np.isfinite(vals)):
        raise PlanningError("invalid_input", f"ego state contains NaN/inf: x={x}, y={y}, yaw={yaw}, v={v}, a={a}")
    s, d = ref.project(np.array([x, y]))
    s, d = float(s), float(d)
    _, _, th_r, k_r = ref.eval(s)
    dth = math.atan2(math.sin(yaw - th_r), math.cos(yaw - th_r))
    one_m_kd = max(1.0 - k_r * d, 0.1)
    s_d = v * math.cos(dth) / one_m_kd
    d_d = v * math.sin(dth)
    dth_dt = v * kappa - k_r * s_d
    s_dd = (a * math.cos(dth) - v * math.sin(dth) * dth_dt) / one_m_kd
    d_dd = a * math.sin(dth) + v * math.cos(dth) * dth_dt
    # arc-length form (reference curvature's own derivative neglected); beyond 80 degrees off
    # the reference the d(s) description breaks down, so the angle is clamped there
    dth_c = max(-1.4, min(1.4, dth))
    tan_th, cos_th = math.tan(dth_c), math.cos(dth_c)
    d_prime = one_m_kd * tan_th
    d_pprime = -k_r * d_prime * tan_th + one_m_kd / cos_th ** 2 * (kappa * one_m_kd / cos_th - k_r)
    return FrenetState(s, s_d, s_dd, d, d_d, d_dd, d_prime, d_pprime)


def _to_cartesian(ref: ReferencePath, s, s_d, s_dd, d, d_d, dt_s):
    xr, yr, thr, kr = ref.eval(s)
    nx, ny = -np.sin(thr), np.cos(thr)
    x = xr + d * nx
    y = yr + d * ny
    one_m_kd = np.maximum(1.0 - kr * d, 0.1)
    along = s_d * one_m_kd
    yaw = thr + np.arctan2(d_d, np.maximum(along, 1e-3))
    v = np.hypot(along, d_d) * np.sign(np.where(s_d < 0, -1.0, 1.0))
    # Path curvature from the heading rate: kappa = dyaw/dt / v (undefined at standstill).
    dyaw = np.gradient(np.unwrap(yaw, axis=1), dt_s, axis=1)
    kappa = np.where(np.abs(v) > 0.5, dyaw / np.where(np.abs(v) > 0.5, v, 1.0), 0.0)
    a = np.gradient(v, dt_s, axis=1)
    return x, y, yaw, v, a, kappa


def _eval_poly_at(coeffs, length, x):
    """Value and first three derivatives of polynomials (M, 6) at points x (M, N), each held at
    its end value (zero derivatives) beyond its own length (M,) and at its start before 0."""
    p, p1, p2, p3 = _horner(coeffs, np.clip(x, 0.0, length[:, None]))
    after = x >= length[:, None]
    return p, np.where(after, 0.0, p1), np.where(after, 0.0, p2), np.where(after, 0.0, p3)


def _to_cartesian_arc(ref: ReferencePath, s, s_d, d, d_p, d_pp, dt_s):
    """Cartesian states of candidates whose lateral motion is d(s): heading and curvature come
    from the path's geometry (d', d''), so they stay defined where the car stands still."""
    xr, yr, thr, kr = ref.eval(s)
    x = xr - d * np.sin(thr)
    y = yr + d * np.cos(thr)
    one_m_kd = np.maximum(1.0 - kr * d, 0.1)
    tan_th = d_p / one_m_kd
    dth = np.arctan(tan_th)
    cos_th = np.cos(dth)
    yaw = thr + dth
    kappa = ((d_pp + kr * d_p * tan_th) * cos_th ** 2 / one_m_kd + kr) * cos_th / one_m_kd
    v = s_d * one_m_kd / cos_th
    a = np.gradient(v, dt_s, axis=1)
    return x, y, yaw, v, a, kappa


def _box_distance(px, py, boxes):
    """Distance from points (..., N, C) to boxes (K, N, 5) -> (..., N, C, K)."""
    bx, by, byaw, bl, bw = (boxes[..., i] for i in range(5))  # (K, N)
    # put K last for broadcasting with (M, N, C)
    bx, by, byaw, bl, bw = (b.T[None, :, None, :] for b in (bx, by, byaw, bl, bw))  # (1, N, 1, K)
    dx = px[..., None] - bx
    dy = py[..., None] - by
    c, s = np.cos(byaw), np.sin(byaw)
    lx = np.abs(c * dx + s * dy) - bl / 2.0
    ly = np.abs(-s * dx + c * dy) - bw / 2.0
    return np.hypot(np.maximum(lx, 0.0), np.maximum(ly, 0.0))


def _near_box_distance(ex, ey, cx, cy, boxes, offsets, reach):
    """min over discs and boxes of the disc-centre-to-box distance, (B, N); exact only where
    it matters: pairs (candidate, time, box) whose centres are farther apart than the ego's
    and the box's circumscribed radii plus ``reach`` (B, N) cannot come closer than reach,
    so they are reported as inf without the box geometry."""
    bx, by, bl, bw = boxes[..., 0].T, boxes[..., 1].T, boxes[..., 3].T, boxes[..., 4].T   # (N, K)
    circ = 0.5 * np.hypot(bl, bw) + float(np.max(np.abs(offsets)))
    dc = np.hypot(ex[..., None] - bx[None], ey[..., None] - by[None])                      # (B, N, K)
    close = dc < circ[None] + np.broadcast_to(reach, ex.shape)[..., None]
    out = np.full(ex.shape, np.inf)
    if not close.any():
        return out
    b_i, n_i, k_i = np.nonzero(close)
    sub = boxes[k_i, n_i]                                                                   # (P, 5)
    dx = cx[b_i, n_i] - sub[:, None, 0]                                                     # (P, C)
    dy = cy[b_i, n_i] - sub[:, None, 1]
    c, s = np.cos(sub[:, None, 2]), np.sin(sub[:, None, 2])
    lx = np.abs(c * dx + s * dy) - sub[:, None, 3] / 2.0
    ly = np.abs(-s * dx + c * dy) - sub[:, None, 4] / 2.0
    d = np.hypot(np.maximum(lx, 0.0), np.maximum(ly, 0.0)).min(axis=1)
    flat = out.reshape(-1)
    np.minimum.at(flat, b_i * out.shape[1] + n_i, d)
    return out


def _first_contact_s(x, y, yaw, t, offsets, r, obstacles, clearance, cfg) -> np.ndarray:
    """(M,) time of the first physical contact (discs touching a box or a blocked cell,
    margins dropped) of trajectories (M, N); inf when none."""
    cx = x[..., None] + np.cos(yaw)[..., None] * offsets
    cy = y[..., None] + np.sin(yaw)[..., None] * offsets
    hit = np.zeros(x.shape, dtype=bool)
    if clearance is not None:
        hit |= np.any(clearance.query(np.stack([cx, cy], axis=-1)) < r, axis=-1)
    if obstacles is not None and len(obstacles):
        present = np.all(np.isfinite(obstacles), axis=2)
        boxes = np.where(present[..., None], obstacles, 1e9)
        reach = np.full((1, x.shape[1]), r)
        hit |= _near_box_distance(x, y, cx, cy, boxes, offsets, reach) < r
    first = np.where(hit.any(axis=1), np.argmax(hit, axis=1), -1)
    return np.where(first >= 0, t[np.maximum(first, 0)], np.inf)


def _followers(obstacles, ex, ey, eyaw, limits: VehicleLimits, band_m: float) -> np.ndarray:
    """(K,) True for objects that are now behind the ego's rear bumper, within +-band_m of
    its centre line, and heading the same way (within 45 degrees)."""
    ob = obstacles[:, 0]
    ok = np.all(np.isfinite(ob), axis=1)
    c, s = math.cos(eyaw), math.sin(eyaw)
    dx = np.where(ok, ob[:, 0], 0.0) - ex
    dy = np.where(ok, ob[:, 1], 0.0) - ey
    lon = c * dx + s * dy - limits.center_offset_m   # along the body axis, from the body centre
    lat = -s * dx + c * dy
    same_dir = np.cos(np.where(ok, ob[:, 2], eyaw) - eyaw) > math.cos(math.pi / 4)
    behind = lon + np.where(ok, ob[:, 3], 0.0) / 2.0 < -limits.length_m / 2.0
    return ok & behind & (np.abs(lat) < band_m) & same_dir


def emergency_stop(ref: ReferencePath, state: FrenetState, limits: VehicleLimits, cfg: FrenetConfig) -> Trajectory:
    """Jerk-limited maximum braking that keeps the current lateral offset."""
    t = np.arange(0.0, cfg.horizon_s + 1e-9, cfg.dt_s)
    v = np.empty_like(t)
    a = np.empty_like(t)
    vel, acc = max(state.s_d, 0.0), min(state.s_dd, 0.0)
    for i in range(len(t)):
        v[i], a[i] = vel, acc
        acc = max(acc - limits.jerk_max_mps3 * cfg.dt_s, -limits.a_brake_mps2)
        vel = max(vel + acc * cfg.dt_s, 0.0)
        if vel == 0.0:
            acc = 0.0
    s = state.s + np.concatenate([[0.0], np.cumsum(0.5 * (v[1:] + v[:-1]) * cfg.dt_s)])
    d = np.full_like(t, state.d)
    x, y, yaw, vv, aa, kappa = _to_cartesian(ref, s[None], v[None], a[None], d[None], np.zeros((1, len(t))), cfg.dt_s)
    return Trajectory(t, x[0], y[0], yaw[0], vv[0], a, kappa[0], s, d)


def plan_frenet(ref: ReferencePath, state: FrenetState, goal: FrenetGoal, limits: VehicleLimits = VehicleLimits(),
                cfg: FrenetConfig = FrenetConfig(), obstacles: np.ndarray | None = None,
                clearance: ClearanceMap | None = None) -> PlanResult:
    """Best collision-free candidate, or an emergency stop.

    Args:
        ref: reference line.
        state: current Frenet state (see :func:`frenet_state_from_cartesian`).
        goal: target speed / lateral offset / optional stop point and rendezvous.
        obstacles: predicted boxes (K, N, 5) on this planner's time grid ``arange(0, horizon+dt, dt)``
            (see :func:`skyroad.planning.prediction.predict_boxes`); NaN rows = object absent.
        clearance: static clearance map (off-road and static obstacles).
    """
    for name in ("s", "s_d", "s_dd", "d", "d_d", "d_dd"):
        if not math.isfinite(getattr(state, name)):
            raise PlanningError("invalid_input", f"Frenet state field {name} is NaN/inf")
    if not math.isfinite(goal.speed_mps) or goal.speed_mps < 0:
        raise PlanningError("invalid_input", f"goal speed_mps must be finite and >= 0, got {goal.speed_mps}")
    t = np.arange(0.0, cfg.horizon_s + 1e-9, cfg.dt_s)
    n_t = len(t)
    if obstacles is not None:
        obstacles = np.asarray(obstacles, dtype=float)
        if obstacles.ndim != 3 or obstacles.shape[1] != n_t or obstacles.shape[2] != 5:
            raise PlanningError("invalid_input", f"obstacles must have shape (K, {n_t}, 5), got {obstacles.shape}")

    v0 = max(state.s_d, 0.0)
    # ---- longitudinal candidates
    span = cfg.speed_sample_span_mps
    v_targets = np.unique(np.clip(np.concatenate([
        np.linspace(v0 - span, v0 + span, cfg.n_speed_samples), [goal.speed_mps, 0.0]]), 0.0, limits.v_max_mps))
    Ts = np.asarray(cfg.maneuver_times_s, dtype=float)
    lon_T, lon_v = np.meshgrid(Ts, v_targets, indexing="ij")
    lon_T, lon_v = lon_T.ravel(), lon_v.ravel()
    a0 = state.s_dd
    if v0 < 0.2:
        # (nearly) standing: a measured deceleration is the brake that has just stopped the car;
        # planned from, it sends every profile backwards (reverse), and nothing is feasible
        a0 = max(a0, 0.0)
    if goal.brake_now and goal.s_stop_m is not None:
        # lift off and brake at once: every profile starts at the constant deceleration that ends
        # at the stop point (a step of the acceleration request, as a driver's foot makes it)
        gap_m = max(goal.s_stop_m - state.s, 0.05)
        a0 = min(a0, -min(v0 * v0 / (2.0 * gap_m), limits.a_brake_mps2))
    lon_c = quartic_coeffs(state.s, v0, a0, lon_v, 0.0, lon_T)
    if goal.s_stop_m is not None and goal.s_stop_m > state.s:
        stop_T = Ts
        stop_c = quintic_coeffs(state.s, v0, a0, goal.s_stop_m, 0.0, 0.0, stop_T)
        lon_c = np.vstack([lon_c, stop_c])
        lon_T = np.concatenate([lon_T, stop_T])
        lon_v = np.concatenate([lon_v, np.zeros_like(stop_T)])
    # ---- lateral candidates
    d_targets = np.unique(np.concatenate([np.asarray(cfg.lateral_offsets_m, dtype=float), [goal.lateral_offset_m]]))
    low_speed = v0 < cfg.low_speed_mps
    # d(s) at low speed: lat_T then holds each profile's length of travel [m], not its duration
    lat_span = np.asarray(cfg.low_speed_lateral_distances_m, dtype=float) if low_speed else Ts
    lat_T, lat_d = (g.ravel() for g in np.meshgrid(lat_span, d_targets, indexing="ij"))
    if low_speed:
        d_v0 = state.d_prime if math.isfinite(state.d_prime) else state.d_d / max(state.s_d, 0.1)
        d_a0 = state.d_pprime if math.isfinite(state.d_pprime) else 0.0
    else:
        d_v0, d_a0 = state.d_d, state.d_dd
    lat_c = quintic_coeffs(state.d, d_v0, d_a0, lat_d, 0.0, 0.0, lat_T)

    s, s_d, s_dd, s_ddd = eval_poly(lon_c, lon_T, t)
    n_lon, n_lat = len(lon_T), len(lat_T)
    # combine every lateral with every longitudinal profile: (n_lon * n_lat, N)
    S = np.repeat(s, n_lat, axis=0)
    SD = np.repeat(s_d, n_lat, axis=0)
    SDD = np.repeat(s_dd, n_lat, axis=0)
    SJ = np.repeat(s_ddd, n_lat, axis=0)
    m = S.shape[0]
    stop_mask = goal.s_stop_m is not None
    if low_speed:
        D, d_p, d_pp, d_ppp = _eval_poly_at(np.tile(lat_c, (n_lon, 1)), np.tile(lat_T, n_lon), S - state.s)
        # time derivatives of d(s(t)) by the chain rule: the lateral jerk the cost weighs
        DJ = d_ppp * SD ** 3 + 3.0 * d_pp * SD * SDD + d_p * SJ
        x, y, yaw, v, a, kappa = _to_cartesian_arc(ref, S, SD, D, d_p, d_pp, cfg.dt_s)
    else:
        d, d_d, d_dd, d_ddd = eval_poly(lat_c, lat_T, t)
        D = np.tile(d, (n_lon, 1))
        DD = np.tile(d_d, (n_lon, 1))
        DJ = np.tile(d_ddd, (n_lon, 1))
        x, y, yaw, v, a, kappa = _to_cartesian(ref, S, SD, SDD, D, DD, cfg.dt_s)

    # ---- kinematic limits
    a_lon = SDD
    a_max = limits.a_max_mps2
    lat_acc = v * v * kappa
    limit_ok = {   # each limit's verdict per candidate, kept for the diagnostics (stats)
        "speed": np.all(SD >= -0.05, axis=1) & np.all(SD <= limits.v_max_mps + 0.5, axis=1),
        "accel": np.all(a_lon <= a_max + 1e-6, axis=1) & np.all(a_lon >= -limits.a_brake_mps2 - 1e-6, axis=1),
        "jerk": np.all(np.abs(SJ) <= limits.jerk_max_mps3, axis=1),
        "curvature": np.all(np.abs(kappa) <= limits.kappa_max_1pm, axis=1),
        "lat_acc": np.all(np.abs(lat_acc) <= limits.lat_acc_max_mps2, axis=1),
        "friction": np.all(a_lon ** 2 + lat_acc ** 2 <= limits.friction_acc_max_mps2 ** 2, axis=1),
    }
    if stop_mask:  # do not roll past the stop point
        limit_ok["stop_point"] = np.all(S <= goal.s_stop_m + 0.5, axis=1)
    feasible = np.logical_and.reduce(list(limit_ok.values()))

    # ---- costs
    dt = cfg.dt_s
    lon_T_all = np.repeat(lon_T, n_lat)
    lat_T_all = np.tile(lat_T / cfg.low_speed_mps if low_speed else lat_T, n_lon)
    cost = cfg.w_lat_jerk * np.sum(DJ ** 2, axis=1) * dt + cfg.w_lon_jerk * np.sum(SJ ** 2, axis=1) * dt
    cost += cfg.w_lat_offset * np.mean((D - goal.lateral_offset_m) ** 2, axis=1)
    if stop_mask and goal.brake_now:
        gap_m = max(goal.s_stop_m - state.s, 1e-3)
        v_ref = np.minimum(v0 * np.sqrt(np.clip(1.0 - (S - state.s) / gap_m, 0.0, 1.0)), goal.speed_mps)
        feasible &= np.all(SD <= v0 + 0.05, axis=1)
    elif stop_mask:
        v_ref = np.sqrt(np.maximum(2.0 * 0.5 * limits.a_max_mps2 * np.maximum(goal.s_stop_m - S, 0.0), 0.0))
        v_ref = np.minimum(v_ref, goal.speed_mps)
    else:
        v_ref = goal.speed_mps
    cost += cfg.w_speed * np.mean((SD - v_ref) ** 2, axis=1)
    cost += cfg.w_time * (1.0 / lon_T_all + 1.0 / lat_T_all)
    if goal.rendezvous is not None:
        s_goal, t_goal = goal.rendezvous
        k = int(np.clip(round(t_goal / dt), 0, n_t - 1))
        # beyond the horizon, extrapolate with the final speed
        s_at = S[:, k] + SD[:, -1] * max(t_goal - t[k], 0.0)
        cost += cfg.w_rendezvous * ((s_at - s_goal) / max(t_goal, 1.0)) ** 2

    stats = {"n_candidates": int(m), "n_feasible": int(feasible.sum()), "low_speed_mode": bool(low_speed),
             "violations": {k: int((~ok).sum()) for k, ok in limit_ok.items()}}
    order = np.argsort(np.where(feasible, cost, np.inf))
    order = order[: int(feasible.sum())]
    offsets = limits.disc_offsets_m()
    r = limits.disc_radius_m
    margin_t = np.full(n_t, cfg.obstacle_margin_m)
    checked = obstacles
    if obstacles is not None and len(obstacles):
        # Prediction uncertainty grows with look-ahead time for objects that move: their boxes grow
        # by obstacle_margin_growth_mps * t on every side. A standing one (parked car, pole: its
        # predicted box stays put) is where it is; growing it too left a car that had stopped
        # beside a parked car only crawling candidates past it.
        moved_m = np.hypot(*(obstacles[:, -1, :2] - obstacles[:, 0, :2]).T)
        moving = np.nan_to_num(moved_m, nan=np.inf) > 0.5
        checked = obstacles.copy()
        checked[moving, :, 3:5] += 2.0 * cfg.obstacle_margin_growth_mps * t[None, :, None]
    chosen = -1
    # cheapest candidates first: usually one of the first 64 is safe; if not, the rest are
    # checked in one vectorised batch instead of many small ones
    bounds = sorted({0, min(64, len(order)), min(512, len(order)), len(order)}) if len(order) else []
    contact_t = []   # time of first physical contact (margins dropped) per checked candidate
    for start, stop in zip(bounds[:-1], bounds[1:]):
        idx = order[start:stop]
        touch = np.zeros((len(idx), n_t), dtype=bool)
        cx = x[idx][..., None] + np.cos(yaw[idx])[..., None] * offsets
        cy = y[idx][..., None] + np.sin(yaw[idx])[..., None] * offsets
        ok = np.ones(len(idx), dtype=bool)
        extra = np.zeros(len(idx))
        if clearance is not None:
            cl = clearance.query(np.stack([cx, cy], axis=-1))  # (B, N, C)
            ok &= np.all(cl >= r + cfg.static_margin_m, axis=(1, 2))
            touch |= np.any(cl < r, axis=2)
        if obstacles is not None and len(obstacles):
            present = np.all(np.isfinite(obstacles), axis=2)  # (K, N)
            if cfg.ignore_followers:
                present &= ~_followers(obstacles, x[0, 0], y[0, 0], yaw[0, 0], limits,
                                       cfg.follower_lateral_band_m)[:, None]
            boxes = np.where(present[..., None], checked, 1e9)
            reach = r + margin_t[None, :] + cfg.comfortable_clearance_m
            dist = _near_box_distance(x[idx], y[idx], cx, cy, boxes, offsets, reach)  # (B, N)
            ok &= np.all(dist >= r + margin_t[None, :], axis=1)
            touch |= dist < r
            # soft cost: prefer trajectories that keep a comfortable gap
            gap = np.clip(cfg.comfortable_clearance_m - (dist - r - margin_t[None, :]), 0.0, None)
            extra = cfg.w_clearance * np.mean(gap ** 2, axis=1)
        contact_t.append(np.where(touch.any(axis=1), t[np.argmax(touch, axis=1)], np.inf))
        if ok.any():
            c = cost[idx] + extra
            c = np.where(ok, c, np.inf)
            chosen = int(idx[int(np.argmin(c))])
            best_cost = float(c.min())
            break
    if chosen < 0:
        stop = emergency_stop(ref, state, limits, cfg)
        if not feasible.any():
            return PlanResult(stop, True, float("inf"), stats["n_candidates"], stats["n_feasible"],
                              "no feasible candidate", stats)
        # Nothing keeps the safety margins. Braking is the default answer (an object ahead),
        # but not when the threat comes from behind or the side: then braking only brings the
        # contact closer. Pick whichever of {emergency stop, feasible candidates} has the
        # latest first physical contact (margins dropped); ties go to the stop.
        idx = order
        t_stop = _first_contact_s(stop.x[None], stop.y[None], stop.yaw[None], t, offsets, r, obstacles,
                                  clearance, cfg)[0]
        t_cand = np.concatenate(contact_t)
        best = int(np.argmax(t_cand))  # order is cost-sorted: argmax keeps the cheapest among ties
        if t_cand[best] > t_stop:
            k = int(idx[best])
            traj = Trajectory(t.copy(), x[k], y[k], yaw[k], v[k], a[k], kappa[k], S[k], D[k])
            return PlanResult(traj, True, float(cost[k]), stats["n_candidates"], stats["n_feasible"],
                              f"every feasible candidate collides; evasive best effort (first contact "
                              f"{t_cand[best]:.1f} s vs {t_stop:.1f} s when braking)", stats, evasive=True)
        return PlanResult(stop, True, float("inf"), stats["n_candidates"], stats["n_feasible"],
                          "every feasible candidate collides", stats)
    traj = Trajectory(t.copy(), x[chosen], y[chosen], yaw[chosen], v[chosen], a[chosen], kappa[chosen],
                      S[chosen], D[chosen])
    return PlanResult(traj, False, best_cost, stats["n_candidates"], stats["n_feasible"], "", stats)

"""Reference path geometry shared by every tracker: arc length, heading, curvature, projection.

Core module: numpy only, no rclpy. A `ReferencePath` is built once per received trajectory and
queried every control cycle. Projection is windowed around the previous progress so that a
path that loops back on itself (a parking manoeuvre, an S-bend close to itself) never makes
the tracker jump to a far-away part of the path with the same Euclidean distance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class PathError(ValueError):
    """A reference path that cannot be tracked (too short, NaN, inconsistent arrays)."""


def wrap_angle(angle_rad):
    """Wrap to [-pi, pi). Works on scalars and arrays."""
    return (np.asarray(angle_rad) + np.pi) % (2.0 * np.pi) - np.pi


@dataclass(frozen=True)
class Projection:
    """Where a pose lies relative to the path."""

    s_m: float                 # arc length of the foot point
    index: int                 # segment index (points[index] -> points[index+1])
    x_m: float                 # foot point
    y_m: float
    lateral_error_m: float     # signed, + when the pose is LEFT of the path (ENU, heading CCW)
    path_yaw_rad: float        # interpolated path heading at the foot point
    curvature_1pm: float       # interpolated path curvature at the foot point, + = left turn
    distance_to_end_m: float   # remaining arc length


class ReferencePath:
    """Polyline reference with arc length, vertex headings and signed curvature.

    points: (N, 2) x, y in metres (N >= 2 after dropping repeated points).
    speeds_mps: optional (N,) reference speed at each point (from a trajectory's arrival times).
    times_s: optional (N,) arrival time at each point.
    """

    #: points closer than this are treated as duplicates (a planner repeating its last pose)
    MIN_SPACING_M = 1e-6

    def __init__(self, points, speeds_mps=None, times_s=None, name: str = "path"):
        pts = np.asarray(points, dtype=float)
        if pts.ndim != 2 or pts.shape[1] < 2:
            raise PathError(f"{name}: expected an (N, 2) array of x, y, got shape {pts.shape}")
        pts = pts[:, :2]
        if not np.all(np.isfinite(pts)):
            bad = int(np.argmax(~np.all(np.isfinite(pts), axis=1)))
            raise PathError(f"{name}: point {bad} is not finite ({pts[bad].tolist()})")
        extras = {}
        for label, arr in (("speeds_mps", speeds_mps), ("times_s", times_s)):
            if arr is None:
                continue
            a = np.asarray(arr, dtype=float).reshape(-1)
            if a.shape[0] != pts.shape[0]:
                raise PathError(f"{name}: {label} has {a.shape[0]} entries for {pts.shape[0]} points")
            if not np.all(np.isfinite(a)):
                raise PathError(f"{name}: {label} contains NaN/inf")
            extras[label] = a
        # drop repeated points (keep the first of each run)
        if pts.shape[0] >= 2:
            step = np.linalg.norm(np.diff(pts, axis=0), axis=1)
            keep = np.concatenate(([True], step > self.MIN_SPACING_M))
        else:
            keep = np.ones(pts.shape[0], dtype=bool)
        pts = pts[keep]
        extras = {k: v[keep] for k, v in extras.items()}
        if pts.shape[0] < 2:
            raise PathError(f"{name}: needs at least 2 distinct points, got {pts.shape[0]}")
        self.name = name
        self.points = pts
        self.speeds_mps = extras.get("speeds_mps")
        self.times_s = extras.get("times_s")
        seg = np.diff(pts, axis=0)
        self.seg_len = np.linalg.norm(seg, axis=1)
        self.seg_yaw = np.arctan2(seg[:, 1], seg[:, 0])
        self.s = np.concatenate(([0.0], np.cumsum(self.seg_len)))
        self.length_m = float(self.s[-1])
        # Vertex heading: mean direction of the two adjacent segments, unwrapped so that linear
        # interpolation between vertices never goes the long way round.
        seg_yaw_unwrapped = np.unwrap(self.seg_yaw)
        vy = np.empty(pts.shape[0])
        vy[0] = seg_yaw_unwrapped[0]
        vy[-1] = seg_yaw_unwrapped[-1]
        if pts.shape[0] > 2:
            vy[1:-1] = 0.5 * (seg_yaw_unwrapped[:-1] + seg_yaw_unwrapped[1:])
        self.yaw_unwrapped = vy
        # Signed curvature at vertices: heading change over the mean adjacent length.
        kappa = np.zeros(pts.shape[0])
        if pts.shape[0] > 2:
            dyaw = np.diff(seg_yaw_unwrapped)
            ds = 0.5 * (self.seg_len[:-1] + self.seg_len[1:])
            kappa[1:-1] = dyaw / ds
            kappa[0] = kappa[1]
            kappa[-1] = kappa[-2]
        self.curvature = kappa

    # ------------------------------------------------------------------ queries
    def project(self, x_m: float, y_m: float, s_hint_m: float | None = None,
                window_back_m: float = 5.0, window_ahead_m: float = 30.0) -> Projection:
        """Foot point of (x, y) on the path.

        With s_hint_m only the segments within [s_hint - window_back, s_hint + window_ahead]
        are searched (progress continuity). Without it the whole path is searched.
        """
        a = self.points[:-1]
        d = np.diff(self.points, axis=0)
        if s_hint_m is not None:
            lo = np.searchsorted(self.s, s_hint_m - window_back_m, side="right") - 1
            hi = np.searchsorted(self.s, s_hint_m + window_ahead_m, side="left")
            lo = int(np.clip(lo, 0, len(a) - 1))
            hi = int(np.clip(hi, lo + 1, len(a)))
        else:
            lo, hi = 0, len(a)
        aa, dd, ll = a[lo:hi], d[lo:hi], self.seg_len[lo:hi]
        rel = np.array([x_m, y_m]) - aa
        t = np.clip(np.einsum("ij,ij->i", rel, dd) / (ll * ll), 0.0, 1.0)
        foot = aa + dd * t[:, None]
        dist2 = np.sum((np.array([x_m, y_m]) - foot) ** 2, axis=1)
        k = int(np.argmin(dist2))
        idx = lo + k
        tk = float(t[k])
        fx, fy = foot[k]
        s_m = float(self.s[idx] + tk * self.seg_len[idx])
        yaw = self.yaw_at(s_m)
        # Sign from the segment direction (not the interpolated heading): exact on straights.
        cross = dd[k, 0] * (y_m - aa[k, 1]) - dd[k, 1] * (x_m - aa[k, 0])
        dist = float(np.sqrt(dist2[k]))
        # Past either end the foot is the end point; use the perpendicular distance to the
        # extended end segment so that the error does not include the along-track overshoot.
        if (tk >= 1.0 and idx == len(a) - 1) or (tk <= 0.0 and idx == 0):
            lat = float(cross / ll[k])
        else:
            lat = float(np.copysign(dist, cross)) if dist > 0 else 0.0
        return Projection(s_m=s_m, index=idx, x_m=float(fx), y_m=float(fy),
                          lateral_error_m=float(lat), path_yaw_rad=float(wrap_angle(yaw)),
                          curvature_1pm=float(self.curvature_at(s_m)),
                          distance_to_end_m=float(self.length_m - s_m))

    def point_at(self, s_m):
        """(x, y) at arc length s (array or scalar). Beyond the end the last segment is extended
        in a straight line, so a lookahead past the goal still points along the final heading."""
        s_arr = np.atleast_1d(np.asarray(s_m, dtype=float))
        x = np.interp(s_arr, self.s, self.points[:, 0])
        y = np.interp(s_arr, self.s, self.points[:, 1])
        over = s_arr > self.length_m
        if np.any(over):
            extra = s_arr[over] - self.length_m
            x[over] = self.points[-1, 0] + extra * np.cos(self.seg_yaw[-1])
            y[over] = self.points[-1, 1] + extra * np.sin(self.seg_yaw[-1])
        under = s_arr < 0.0
        if np.any(under):
            x[under] = self.points[0, 0] + s_arr[under] * np.cos(self.seg_yaw[0])
            y[under] = self.points[0, 1] + s_arr[under] * np.sin(self.seg_yaw[0])
        if np.ndim(s_m) == 0:
            return float(x[0]), float(y[0])
        return x, y

    def yaw_at(self, s_m):
        """Interpolated heading (unwrapped; wrap it where a comparison needs it)."""
        return np.interp(s_m, self.s, self.yaw_unwrapped)

    def curvature_at(self, s_m):
        return np.interp(s_m, self.s, self.curvature)

    def speed_at(self, s_m, default_mps: float):
        if self.speeds_mps is None:
            return np.full(np.shape(s_m), default_mps) if np.ndim(s_m) else float(default_mps)
        return np.interp(s_m, self.s, self.speeds_mps)

    def max_abs_curvature(self, s_from_m: float, s_to_m: float) -> float:
        """Largest |curvature| at the vertices between two arc lengths (speed regulation)."""
        # include the vertex behind s_from: the curvature at s_from interpolates from it
        lo = int(np.searchsorted(self.s, s_from_m, side="right")) - 1
        hi = int(np.searchsorted(self.s, s_to_m, side="right"))
        lo = max(0, min(lo, len(self.s) - 1))
        hi = max(lo + 1, min(hi, len(self.s)))
        return float(np.max(np.abs(self.curvature[lo:hi])))


def speeds_from_times(points, times_s) -> np.ndarray:
    """Reference speed at each point from planned arrival times (trajectory stamps).

    Segment speed = length / dt, assigned to the segment's start point; the last point gets 0
    when the trajectory ends (a stop), matching how planners stamp a final stop pose.
    Raises PathError when times are not non-decreasing.
    """
    pts = np.asarray(points, dtype=float)[:, :2]
    t = np.asarray(times_s, dtype=float).reshape(-1)
    if t.shape[0] != pts.shape[0]:
        raise PathError(f"times_s has {t.shape[0]} entries for {pts.shape[0]} points")
    dt = np.diff(t)
    if np.any(dt < 0):
        bad = int(np.argmax(dt < 0))
        raise PathError(f"trajectory stamps go backwards at pose {bad + 1} "
                        f"({t[bad]:.3f} s -> {t[bad + 1]:.3f} s)")
    ds = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(dt > 1e-9, ds / np.maximum(dt, 1e-9), 0.0)
    return np.concatenate((v, [0.0]))

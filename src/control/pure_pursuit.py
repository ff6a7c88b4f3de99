"""Pure pursuit with adaptive lookahead and curvature-regulated speed (a fallback tracker).

Geometry (Coulter 1992, CMU-RI-TR-92-01): with the rear axle at the origin, a goal point at
distance l_d and bearing alpha is reached on a circle of curvature 2 sin(alpha) / l_d, so the
bicycle steering angle is  delta = atan(2 L sin(alpha) / l_d).

Lookahead grows with speed (l_d = lookahead_min + lookahead_time * v, clipped), as in Nav2's
Regulated Pure Pursuit, because a short lookahead at speed oscillates and a long one at low
speed cuts corners. Speed is regulated by the sharpest curvature inside the lookahead window
(v <= sqrt(a_lat_max / |kappa|)) and by the distance left (v <= sqrt(2 a_dec d)).

Core: numpy only. `command()` is the whole per-cycle API.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._checks import check_positive, check_range, ControlConfigError
from .path import ReferencePath, wrap_angle


@dataclass(frozen=True)
class PurePursuitConfig:
    wheelbase_m: float = 2.7               # rear axle to front axle
    max_steer_rad: float = 0.6             # mechanical steering limit at the road wheels
    lookahead_min_m: float = 2.0
    lookahead_max_m: float = 20.0
    lookahead_time_s: float = 0.8          # l_d grows by this many seconds of travel
    max_speed_mps: float = 10.0            # used when the path carries no speeds
    max_lateral_accel_mps2: float = 2.5    # curvature speed regulation
    max_decel_mps2: float = 2.0            # approach to the end of the path
    goal_tolerance_m: float = 0.3          # within this of the end: stop
    rear_axle_offset_m: float = 0.0        # pose frame origin is this far AHEAD of the rear axle

    def __post_init__(self):
        o = "pure_pursuit"
        for name in ("wheelbase_m", "lookahead_min_m", "lookahead_max_m", "max_speed_mps",
                     "max_lateral_accel_mps2", "max_decel_mps2", "goal_tolerance_m"):
            check_positive(o, name, getattr(self, name))
        check_range(o, "max_steer_rad", self.max_steer_rad, lo=0.0, hi=math.pi / 2, lo_open=True)
        check_range(o, "lookahead_time_s", self.lookahead_time_s, lo=0.0)
        check_range(o, "rear_axle_offset_m", self.rear_axle_offset_m)
        if self.lookahead_max_m < self.lookahead_min_m:
            raise ControlConfigError(
                f"{o}.lookahead_max_m={self.lookahead_max_m} < lookahead_min_m={self.lookahead_min_m}")


@dataclass(frozen=True)
class TrackingStatus:
    """What the last command was based on (for diagnostics and tests)."""

    lateral_error_m: float
    heading_error_rad: float
    s_m: float
    distance_to_end_m: float
    lookahead_m: float
    target_xy: tuple
    goal_reached: bool


def as_reference_path(path, name="path") -> ReferencePath:
    return path if isinstance(path, ReferencePath) else ReferencePath(path, name=name)


class PathProgress:
    """Remembers which path is being tracked and how far along it we are (windowed projection).

    A new path (different object or different points) restarts with a global projection.
    """

    def __init__(self):
        self._path: ReferencePath | None = None
        self._raw = None
        self.s_m: float | None = None

    def reference(self, path) -> ReferencePath:
        if isinstance(path, ReferencePath):
            if path is not self._path:
                self._path, self._raw, self.s_m = path, None, None
            return path
        arr = np.asarray(path, dtype=float)
        if self._raw is None or self._raw.shape != arr.shape or not np.array_equal(self._raw, arr):
            self._path = ReferencePath(arr)
            self._raw = arr.copy()
            self.s_m = None
        return self._path

    def project(self, ref: ReferencePath, x: float, y: float, speed_mps: float, dt_hint_s=0.5):
        # Window ahead covers a generous multiple of one cycle's travel; never less than 5 m.
        ahead = max(5.0, 3.0 * abs(speed_mps) * dt_hint_s + 5.0)
        proj = ref.project(x, y, s_hint_m=self.s_m, window_back_m=2.0, window_ahead_m=ahead)
        self.s_m = proj.s_m
        return proj

    def reset(self):
        self._path, self._raw, self.s_m = None, None, None


class PurePursuit:
    """Adaptive-lookahead pure pursuit for an Ackermann car.

    command(x, y, yaw, speed, path) -> (speed_cmd_mps, steering_angle_rad)
    `path` is an (N, 2) array or a ReferencePath (one with speeds_mps uses them as the
    reference speed). Raises PathError for an unusable path (caller stops the car).
    """

    def __init__(self, config: PurePursuitConfig | None = None):
        self.config = config or PurePursuitConfig()
        self.progress = PathProgress()
        self.status: TrackingStatus | None = None

    def reset(self):
        self.progress.reset()
        self.status = None

    def lookahead_m(self, speed_mps: float) -> float:
        c = self.config
        return float(np.clip(c.lookahead_min_m + c.lookahead_time_s * abs(speed_mps),
                             c.lookahead_min_m, c.lookahead_max_m))

    def command(self, x_m: float, y_m: float, yaw_rad: float, speed_mps: float, path):
        c = self.config
        ref = self.progress.reference(path)
        # Track with the rear axle: pure pursuit geometry is exact there.
        rx = x_m - c.rear_axle_offset_m * math.cos(yaw_rad)
        ry = y_m - c.rear_axle_offset_m * math.sin(yaw_rad)
        proj = self.progress.project(ref, rx, ry, speed_mps)
        ld = self.lookahead_m(speed_mps)
        if proj.distance_to_end_m <= c.goal_tolerance_m:
            self.status = TrackingStatus(proj.lateral_error_m,
                                         float(wrap_angle(yaw_rad - proj.path_yaw_rad)), proj.s_m,
                                         proj.distance_to_end_m, ld, (proj.x_m, proj.y_m), True)
            return 0.0, 0.0
        tx, ty = ref.point_at(proj.s_m + ld)
        dx, dy = tx - rx, ty - ry
        dist = math.hypot(dx, dy)
        alpha = float(wrap_angle(math.atan2(dy, dx) - yaw_rad))
        steer = math.atan2(2.0 * c.wheelbase_m * math.sin(alpha), max(dist, 1e-6))
        steer = float(np.clip(steer, -c.max_steer_rad, c.max_steer_rad))
        speed = self.speed_limit_mps(ref, proj.s_m, proj.distance_to_end_m, ld)
        self.status = TrackingStatus(proj.lateral_error_m,
                                     float(wrap_angle(yaw_rad - proj.path_yaw_rad)), proj.s_m,
                                     proj.distance_to_end_m, ld, (tx, ty), False)
        return speed, steer

    def speed_limit_mps(self, ref: ReferencePath, s_m: float, distance_to_end_m: float,
                        window_m: float) -> float:
        """Reference speed limited by curvature ahead and by the stopping distance."""
        c = self.config
        v = float(ref.speed_at(s_m, c.max_speed_mps))
        v = min(v, c.max_speed_mps)
        kappa = ref.max_abs_curvature(s_m, s_m + window_m)
        if kappa > 1e-6:
            v = min(v, math.sqrt(c.max_lateral_accel_mps2 / kappa))
        v = min(v, math.sqrt(2.0 * c.max_decel_mps2 * max(0.0, distance_to_end_m - c.goal_tolerance_m)))
        return max(0.0, v)

"""Motion prediction of tracked objects for the trajectory planner (core, no rclpy).

Constant velocity (CV) and constant turn rate and velocity (CTRV) models, vectorised over
objects and time. Objects come as arrays, one row per object, so the planner can run them for
every candidate trajectory at once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .grid import PlanningError

#: columns of a predicted box array (..., 5)
BOX_FIELDS = ("x", "y", "yaw", "length", "width")

# Below this turn rate CTRV falls back to CV: the closed form divides by the yaw rate.
_MIN_YAW_RATE_RPS = 1e-3


@dataclass(frozen=True)
class ObjectStates:
    """Current object states, each field an (K,) array (SI units, map frame)."""

    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray
    speed_mps: np.ndarray
    yaw_rate_rps: np.ndarray
    length_m: np.ndarray
    width_m: np.ndarray

    @staticmethod
    def from_arrays(x, y, yaw, speed_mps, yaw_rate_rps=None, length_m=None, width_m=None,
                    default_length_m: float = 4.5, default_width_m: float = 1.8) -> "ObjectStates":
        x = np.atleast_1d(np.asarray(x, dtype=float))
        k = x.shape[0]

        def col(name, v, default):
            arr = np.full(k, float(default)) if v is None else np.atleast_1d(np.asarray(v, dtype=float))
            if arr.shape != (k,):
                raise PlanningError("invalid_input", f"object field {name} has shape {arr.shape}, expected ({k},)")
            return arr

        out = ObjectStates(x, col("y", y, 0), col("yaw", yaw, 0), col("speed_mps", speed_mps, 0),
                           col("yaw_rate_rps", yaw_rate_rps, 0), col("length_m", length_m, default_length_m),
                           col("width_m", width_m, default_width_m))
        for name in ("x", "y", "yaw", "speed_mps", "yaw_rate_rps", "length_m", "width_m"):
            if not np.all(np.isfinite(getattr(out, name))):
                raise PlanningError("invalid_input", f"object field {name} contains NaN/inf")
        return out

    @staticmethod
    def from_velocity(x, y, vx, vy, yaw=None, yaw_rate_rps=None, length_m=None, width_m=None) -> "ObjectStates":
        """Build from a velocity vector (perception/objects carries vx, vy); heading = velocity
        direction when the object moves faster than 0.5 m/s, else the reported yaw."""
        vx = np.atleast_1d(np.asarray(vx, dtype=float))
        vy = np.atleast_1d(np.asarray(vy, dtype=float))
        speed = np.hypot(vx, vy)
        heading = np.arctan2(vy, vx)
        if yaw is not None:
            heading = np.where(speed > 0.5, heading, np.asarray(yaw, dtype=float))
        return ObjectStates.from_arrays(x, y, heading, speed, yaw_rate_rps, length_m, width_m)

    def __len__(self):
        return int(self.x.shape[0])


def predict_boxes(objects: ObjectStates, times_s: np.ndarray, model: str = "ctrv") -> np.ndarray:
    """Predicted boxes (K, N, 5) [x, y, yaw, length, width] at ``times_s`` (N,) from now.

    ``model``: ``"cv"`` (straight line at constant speed) or ``"ctrv"`` (constant turn rate
    and speed; reduces to CV where |yaw rate| < 1e-3 rad/s).
    """
    if model not in ("cv", "ctrv"):
        raise PlanningError("invalid_input", f"prediction model must be 'cv' or 'ctrv', got {model!r}")
    t = np.asarray(times_s, dtype=float)[None, :]
    k = len(objects)
    out = np.empty((k, t.shape[1], 5))
    v = objects.speed_mps[:, None]
    yaw0 = objects.yaw[:, None]
    w = objects.yaw_rate_rps[:, None] if model == "ctrv" else np.zeros((k, 1))
    turning = np.abs(w) >= _MIN_YAW_RATE_RPS
    w_safe = np.where(turning, w, 1.0)
    yaw_t = yaw0 + w * t
    x_turn = objects.x[:, None] + v / w_safe * (np.sin(yaw_t) - np.sin(yaw0))
    y_turn = objects.y[:, None] - v / w_safe * (np.cos(yaw_t) - np.cos(yaw0))
    x_cv = objects.x[:, None] + v * np.cos(yaw0) * t
    y_cv = objects.y[:, None] + v * np.sin(yaw0) * t
    out[..., 0] = np.where(turning, x_turn, x_cv)
    out[..., 1] = np.where(turning, y_turn, y_cv)
    out[..., 2] = yaw_t
    out[..., 3] = objects.length_m[:, None]
    out[..., 4] = objects.width_m[:, None]
    return out

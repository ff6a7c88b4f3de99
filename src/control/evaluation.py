"""Closed-loop evaluation of a tracker against a plant model (used by tests and bench/control.py).

Lateral error is measured against the reference geometry (exact arcs from `courses`) at the
plant's rear axle, every control period, from start until the tracker reports the goal.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .path import ReferencePath
from .tracker import Trajectory, TrajectoryTracker
from .vehicle import KinematicBicycleLag


@dataclass
class TrackingRun:
    t_s: np.ndarray
    lateral_error_m: np.ndarray
    steer_cmd_rad: np.ndarray
    speed_mps: np.ndarray
    xy: np.ndarray
    compute_ms: np.ndarray
    goal_reached: bool

    def summary(self, settle_s: float = 0.0) -> dict:
        keep = self.t_s >= settle_s
        e = self.lateral_error_m[keep]
        return {
            "lateral_rms_m": float(np.sqrt(np.mean(e ** 2))) if e.size else math.nan,
            "lateral_max_m": float(np.max(np.abs(e))) if e.size else math.nan,
            "goal_reached": bool(self.goal_reached),
            "duration_s": float(self.t_s[-1]) if self.t_s.size else 0.0,
            "compute_ms_p50": float(np.median(self.compute_ms)) if self.compute_ms.size else math.nan,
            "compute_ms_p95": float(np.percentile(self.compute_ms, 95)) if self.compute_ms.size else math.nan,
        }


def steering_sign_changes(steer_rad, deadband_rad: float) -> int:
    """Sign changes of the steering command, ignoring values inside +-deadband (a command
    that small does not turn the wheels on a real rack: backlash / EPS dead zone)."""
    s = np.asarray(steer_rad)
    sig = np.sign(s[np.abs(s) > deadband_rad])
    return int(np.sum(sig[1:] != sig[:-1])) if sig.size > 1 else 0


def timed_course(points, speed_mps: float) -> Trajectory:
    """A trajectory along `points` at constant speed (stamps = arc length / speed)."""
    ref = ReferencePath(points)
    return Trajectory(ref.points, times_s=ref.s / speed_mps)


def run_tracking(tracker: TrajectoryTracker, trajectory: Trajectory, car: KinematicBicycleLag,
                 period_s: float = 0.02, t_max_s: float = 120.0, t0_s: float = 0.0) -> TrackingRun:
    tracker.set_trajectory(trajectory)
    truth = trajectory.path
    s_hint = None
    rec = {k: [] for k in ("t", "e", "d", "v", "xy", "ms")}
    goal = False
    t = t0_s
    for _ in range(int(t_max_s / period_s)):
        out = tracker.command(t, car.x, car.y, car.yaw, car.v,
                              yaw_rate_radps=car.v * math.tan(car.delta) / car.p.wheelbase_m)
        if out.goal_reached:
            goal = True
            break
        proj = truth.project(car.x, car.y, s_hint, 2.0, 10.0 + car.v)
        s_hint = proj.s_m
        rec["t"].append(t - t0_s)
        rec["e"].append(proj.lateral_error_m)
        rec["d"].append(out.steer_cmd_rad)
        rec["v"].append(car.v)
        rec["xy"].append((car.x, car.y))
        rec["ms"].append(out.compute_ms)
        car.step(out.speed_cmd_mps, out.steer_cmd_rad, period_s)
        t += period_s
    return TrackingRun(np.array(rec["t"]), np.array(rec["e"]), np.array(rec["d"]), np.array(rec["v"]),
                       np.array(rec["xy"]).reshape(-1, 2), np.array(rec["ms"]), goal)

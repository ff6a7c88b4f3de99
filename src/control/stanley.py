"""Stanley lateral controller (Hoffmann, Tomlin, Montemerlo, Thrun, ACC 2007), a fallback.

    delta = delta_ff - e_psi - atan(k e_fa / (k_soft + v))  [ - k_d (yaw_rate - yaw_rate_ref) ]

e_fa is the lateral error of the FRONT axle (+ = left of the path), e_psi the heading error
(+ = vehicle heading CCW of the path), delta_ff = atan(L kappa) the curvature feed-forward.
The softening speed k_soft keeps the cross-track term bounded at low speed; the yaw-rate
damping term is the paper's "steer damping" for speed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._checks import check_positive, check_range
from .path import ReferencePath, wrap_angle


@dataclass(frozen=True)
class StanleyConfig:
    wheelbase_m: float = 2.7
    max_steer_rad: float = 0.6
    gain_cross_track: float = 2.5          # k, 1/s
    softening_speed_mps: float = 1.0       # k_soft
    # k_d: with a 0.4 rad/s steering rack (CommonRoad vehicle 2) 0.1 s let the course's S-bend
    # grow into a limit cycle (16 m error, measured); 0.6 s keeps it stable at 0.4 and 1.2 rad/s
    yaw_rate_damping_s: float = 0.6

    def __post_init__(self):
        for name in ("wheelbase_m", "max_steer_rad", "gain_cross_track", "softening_speed_mps"):
            check_positive("stanley", name, getattr(self, name))
        check_range("stanley", "yaw_rate_damping_s", self.yaw_rate_damping_s, lo=0.0)


class Stanley:
    def __init__(self, config: StanleyConfig | None = None):
        self.config = config or StanleyConfig()
        self._s_front: float | None = None

    def reset(self):
        self._s_front = None

    def steer(self, ref: ReferencePath, x_rear: float, y_rear: float, yaw: float, speed_mps: float,
              yaw_rate_radps: float | None = None) -> float:
        c = self.config
        fx = x_rear + c.wheelbase_m * math.cos(yaw)
        fy = y_rear + c.wheelbase_m * math.sin(yaw)
        proj = ref.project(fx, fy, s_hint_m=self._s_front, window_back_m=2.0,
                           window_ahead_m=5.0 + abs(speed_mps))
        self._s_front = proj.s_m
        e_psi = float(wrap_angle(yaw - proj.path_yaw_rad))
        kappa = proj.curvature_1pm
        v = abs(speed_mps)
        delta = (math.atan(c.wheelbase_m * kappa) - e_psi
                 - math.atan(c.gain_cross_track * proj.lateral_error_m / (c.softening_speed_mps + v)))
        if yaw_rate_radps is not None and math.isfinite(yaw_rate_radps):
            delta -= c.yaw_rate_damping_s * (yaw_rate_radps - v * kappa)
        return float(np.clip(delta, -c.max_steer_rad, c.max_steer_rad))

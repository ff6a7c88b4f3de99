"""Discrete LQR on the path-error model with steering lag AND the steering-rate limit in the
model, gain-scheduled on speed.

State x = (e_y, e_psi, delta - delta_ff, u_prev - delta_ff); input = the change of the
steering command over one control period (du). Making the command's RATE the input is what
keeps this law stable on a slow steering rack: an LQR that outputs the angle directly assumes
any step is realisable, and on a 0.4 rad/s rack (CommonRoad vehicle 2) it went into a growing
limit cycle on the 20 m course (measured: 16 m lateral error). Weights follow Bryson's rule:
each term is divided by the largest acceptable value squared (lateral_scale_m,
heading_scale_rad, and the rate limit times the period for du), so the input weight is set by
the actuator. The state scales (1 m, 0.2 rad) are the smallest that kept the law stable with
its input saturated (30 deg heading error, 0.4 rad/s rack, measured); smaller scales track the
course tighter on a fast rack (0.1 m: 0.014 m RMS at 1.2 rad/s) but oscillate when saturated.

The Riccati equation is solved per speed bin (0.25 m/s) and cached, so a cycle costs one
4-vector product. Feed-forward uses the curvature one steering time-constant ahead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from ._checks import check_positive, check_range
from .lateral_mpc import batched_expm
from .path import ReferencePath, wrap_angle


@dataclass(frozen=True)
class LQRConfig:
    wheelbase_m: float = 2.7
    max_steer_rad: float = 0.6
    max_steer_rate_radps: float = 1.0
    steer_time_constant_s: float = 0.1
    period_s: float = 0.02
    lateral_scale_m: float = 1.0         # Bryson: acceptable lateral error
    heading_scale_rad: float = 0.2       # Bryson: acceptable heading error
    speed_bin_mps: float = 0.25

    def __post_init__(self):
        for name in ("wheelbase_m", "max_steer_rad", "max_steer_rate_radps", "period_s",
                     "lateral_scale_m", "heading_scale_rad", "speed_bin_mps"):
            check_positive("lqr", name, getattr(self, name))
        check_range("lqr", "steer_time_constant_s", self.steer_time_constant_s, lo=0.0)


class LateralLQR:
    def __init__(self, config: LQRConfig | None = None):
        self.config = config or LQRConfig()
        self._gains: dict = {}
        self._u_prev: float | None = None

    def reset(self):
        self._u_prev = None

    def gain(self, speed_mps: float) -> np.ndarray:
        c = self.config
        v = max(abs(speed_mps), 0.5)   # below walking pace the model loses controllability
        key = int(round(v / c.speed_bin_mps))
        k = self._gains.get(key)
        if k is None:
            v = key * c.speed_bin_mps
            tau = max(c.steer_time_constant_s, 1e-3)
            M = np.zeros((1, 4, 4))
            M[0, 0, 1] = v
            M[0, 1, 2] = v / c.wheelbase_m
            M[0, 2, 2] = -1.0 / tau
            M[0, 2, 3] = 1.0 / tau
            E = batched_expm(M * c.period_s)[0]
            Ad, Bd = E[:3, :3], E[:3, 3]
            A = np.zeros((4, 4))
            A[:3, :3] = Ad
            A[:3, 3] = Bd
            A[3, 3] = 1.0
            B = np.concatenate((Bd, [1.0])).reshape(4, 1)
            Q = np.diag([1.0 / c.lateral_scale_m ** 2, 1.0 / c.heading_scale_rad ** 2, 0.0, 0.0])
            R = np.array([[1.0 / (c.max_steer_rate_radps * c.period_s) ** 2]])
            P = scipy.linalg.solve_discrete_are(A, B, Q, R)
            k = np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A).reshape(4)
            self._gains[key] = k
        return k

    def steer(self, ref: ReferencePath, s_m: float, lateral_error_m: float, heading_error_rad: float,
              steer_rad: float, speed_mps: float, last_command_rad: float | None = None) -> float:
        c = self.config
        kappa = float(ref.curvature_at(s_m + abs(speed_mps) * c.steer_time_constant_s))
        ff = math.atan(c.wheelbase_m * kappa)
        u_prev = last_command_rad if last_command_rad is not None else (
            self._u_prev if self._u_prev is not None else steer_rad)
        x = np.array([lateral_error_m, float(wrap_angle(heading_error_rad)), steer_rad - ff, u_prev - ff])
        du = -float(self.gain(speed_mps) @ x)
        dmax = c.max_steer_rate_radps * c.period_s
        u = float(np.clip(u_prev + np.clip(du, -dmax, dmax), -c.max_steer_rad, c.max_steer_rad))
        self._u_prev = u
        return u

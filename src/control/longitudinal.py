"""Longitudinal control for a speed-commanded vehicle: PID on the station error of a timed
trajectory, with speed and acceleration feed-forward.

The vehicle takes a SPEED command (cmd_vel.linear.x; its own drivetrain loop follows it with
a lag). A trajectory's stamps say where the car should be when: s_ref(t). So

    speed_cmd = v_ref(t) + tau_v a_ref(t)                      feed-forward
              + kp e_s + ki integral(e_s) + kd (v_ref - v)     PID on e_s = s_ref(t) - s

(kd acts on d e_s/dt = v_ref - v, measured, not differentiated). The correction is clamped
(a car far behind its plan must not sprint: the planner replans) and the integrator stops
while clamped (anti-windup). Without stamps the station terms are off and it tracks v_ref(s).
The result is limited by max speed, by the distance left (v <= sqrt(2 a_dec d)) and by the
acceleration limits per cycle.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._checks import check_positive, check_range


@dataclass(frozen=True)
class LongitudinalConfig:
    kp_1ps: float = 0.8
    ki_1ps2: float = 0.1
    kd: float = 0.5
    speed_time_constant_s: float = 0.5     # drivetrain lag, for the acceleration feed-forward
    max_correction_mps: float = 2.0
    max_speed_mps: float = 15.0
    max_accel_mps2: float = 2.0
    max_decel_mps2: float = 4.0

    def __post_init__(self):
        for name in ("max_correction_mps", "max_speed_mps", "max_accel_mps2", "max_decel_mps2"):
            check_positive("longitudinal", name, getattr(self, name))
        for name in ("kp_1ps", "ki_1ps2", "kd", "speed_time_constant_s"):
            check_range("longitudinal", name, getattr(self, name), lo=0.0)


class LongitudinalPID:
    def __init__(self, config: LongitudinalConfig | None = None):
        self.config = config or LongitudinalConfig()
        self.reset()

    def reset(self):
        self._integral = 0.0
        self._last_cmd: float | None = None
        self._last_t: float | None = None

    def hold(self, speed_cmd_mps: float) -> None:
        """The caller overrode the last command (a speed cap): rate limits continue from it."""
        self._last_cmd = float(speed_cmd_mps)

    def command(self, t_s: float, speed_mps: float, v_ref_mps: float, a_ref_mps2: float = 0.0,
                station_error_m: float | None = None, distance_to_end_m: float = math.inf,
                stop_at_end: bool = True) -> float:
        c = self.config
        dt = 0.0 if self._last_t is None else max(0.0, t_s - self._last_t)
        self._last_t = t_s
        ff = v_ref_mps + c.speed_time_constant_s * a_ref_mps2
        corr = c.kd * (v_ref_mps - speed_mps)
        if station_error_m is not None:
            corr += c.kp_1ps * station_error_m + c.ki_1ps2 * self._integral
        sat = abs(corr) > c.max_correction_mps
        corr = float(np.clip(corr, -c.max_correction_mps, c.max_correction_mps))
        if station_error_m is not None and not sat:
            self._integral += station_error_m * dt
        cmd = min(ff + corr, c.max_speed_mps)
        if stop_at_end:
            # the drivetrain follows the command with a lag: the distance it covers meanwhile
            # (v tau) is not available for braking
            d_brake = distance_to_end_m - max(0.0, speed_mps) * c.speed_time_constant_s
            cmd = min(cmd, math.sqrt(2.0 * c.max_decel_mps2 * max(0.0, d_brake)))
        cmd = max(0.0, cmd)
        # acceleration limits on the command itself (a step in the command is a step in torque).
        # Downwards the limit applies below the current speed only: a setpoint that was above it
        # (accelerating: v + tau a) may drop at once to what braking at max_decel from the current
        # speed asks; otherwise a brake request would wait (cmd - v) / (max_decel dt) cycles for the
        # setpoint to ramp down through the speed the car already has.
        if self._last_cmd is not None and dt > 0:
            lo = self._last_cmd - c.max_decel_mps2 * dt
            lo = min(lo, max(0.0, speed_mps - c.speed_time_constant_s * c.max_decel_mps2))
            cmd = float(np.clip(cmd, lo, self._last_cmd + c.max_accel_mps2 * dt))
        self._last_cmd = cmd
        return cmd

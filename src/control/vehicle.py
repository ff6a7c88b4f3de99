"""Plant models the controllers are designed on and evaluated against (tests, bench).

KinematicBicycleLag: rear-axle kinematic bicycle with first-order steering lag
(tau_delta * d(delta)/dt = delta_cmd - delta) and a steering-rate limit, and a first-order
longitudinal response with an acceleration limit. This is the model of issue 6's bench (0.1 s
steering lag); the built-in simulator has its own (tyre slip) model.

VelocityLagPlant: a multirotor under an inner velocity loop, modelled as a first-order lag with
acceleration limits (how Gazebo's Lee velocity controller behaves at small tilt).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._checks import check_positive, check_range


@dataclass(frozen=True)
class BicycleParams:
    wheelbase_m: float = 2.7
    max_steer_rad: float = 0.6
    steer_time_constant_s: float = 0.1
    max_steer_rate_radps: float = 1.2      # ~70 deg/s at the road wheels: EPS-typical
    speed_time_constant_s: float = 0.5
    max_accel_mps2: float = 3.0
    max_decel_mps2: float = 6.0
    # Rear-axle slip angle per unit lateral acceleration (rad per m/s^2), a linear-tyre stand-in
    # for a real car drifting outwards in curves; 0 = the pure kinematic model of issue 6.
    rear_slip_compliance: float = 0.0

    def __post_init__(self):
        check_range("bicycle", "rear_slip_compliance", self.rear_slip_compliance, lo=-0.1, hi=0.1)
        for name in ("wheelbase_m", "max_steer_rad", "max_steer_rate_radps",
                     "max_accel_mps2", "max_decel_mps2"):
            check_positive("bicycle", name, getattr(self, name))
        check_range("bicycle", "steer_time_constant_s", self.steer_time_constant_s, lo=0.0)
        check_range("bicycle", "speed_time_constant_s", self.speed_time_constant_s, lo=0.0)


class KinematicBicycleLag:
    """State [x, y, yaw, v, delta] at the rear axle; RK4 integration in fixed sub-steps."""

    def __init__(self, params: BicycleParams | None = None, x=0.0, y=0.0, yaw=0.0, v=0.0,
                 delta=0.0, substep_s: float = 0.005):
        self.p = params or BicycleParams()
        self.state = np.array([x, y, yaw, v, delta], dtype=float)
        self.substep_s = check_positive("bicycle", "substep_s", substep_s)

    def _deriv(self, s, speed_cmd, steer_cmd):
        p = self.p
        x, y, yaw, v, delta = s
        if p.steer_time_constant_s > 0:
            ddelta = (steer_cmd - delta) / p.steer_time_constant_s
        else:
            ddelta = 0.0
        ddelta = float(np.clip(ddelta, -p.max_steer_rate_radps, p.max_steer_rate_radps))
        if p.speed_time_constant_s > 0:
            dv = (speed_cmd - v) / p.speed_time_constant_s
        else:
            dv = 0.0
        dv = float(np.clip(dv, -p.max_decel_mps2, p.max_accel_mps2))
        yaw_rate = v * math.tan(delta) / p.wheelbase_m
        # slip: the rear axle moves at angle alpha to the heading, outwards of the turn
        alpha = -p.rear_slip_compliance * v * yaw_rate
        return np.array([v * math.cos(yaw + alpha), v * math.sin(yaw + alpha), yaw_rate, dv, ddelta])

    def step(self, speed_cmd_mps: float, steer_cmd_rad: float, dt_s: float) -> np.ndarray:
        p = self.p
        steer_cmd = float(np.clip(steer_cmd_rad, -p.max_steer_rad, p.max_steer_rad))
        n = max(1, int(math.ceil(dt_s / self.substep_s - 1e-9)))
        h = dt_s / n
        s = self.state
        for _ in range(n):
            if p.steer_time_constant_s == 0:
                s[4] = steer_cmd
            if p.speed_time_constant_s == 0:
                s[3] = speed_cmd_mps
            k1 = self._deriv(s, speed_cmd_mps, steer_cmd)
            k2 = self._deriv(s + 0.5 * h * k1, speed_cmd_mps, steer_cmd)
            k3 = self._deriv(s + 0.5 * h * k2, speed_cmd_mps, steer_cmd)
            k4 = self._deriv(s + h * k3, speed_cmd_mps, steer_cmd)
            s = s + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
            s[4] = float(np.clip(s[4], -p.max_steer_rad, p.max_steer_rad))
        self.state = s
        return s.copy()

    @property
    def x(self):
        return float(self.state[0])

    @property
    def y(self):
        return float(self.state[1])

    @property
    def yaw(self):
        return float(self.state[2])

    @property
    def v(self):
        return float(self.state[3])

    @property
    def delta(self):
        return float(self.state[4])


class VelocityLagPlant:
    """Point mass whose velocity follows a setpoint with a first-order lag and accel limits."""

    def __init__(self, position, time_constant_s=0.3, max_accel_mps2=4.0, yaw_rad=0.0):
        self.position = np.asarray(position, dtype=float).reshape(3).copy()
        self.velocity = np.zeros(3)
        self.yaw = float(yaw_rad)
        self.tau = check_positive("velocity_plant", "time_constant_s", time_constant_s)
        self.a_max = check_positive("velocity_plant", "max_accel_mps2", max_accel_mps2)

    def step(self, velocity_setpoint_enu, yaw_rate_radps: float, dt_s: float):
        acc = (np.asarray(velocity_setpoint_enu, float) - self.velocity) / self.tau
        n = float(np.linalg.norm(acc))
        if n > self.a_max:
            acc *= self.a_max / n
        self.position += self.velocity * dt_s + 0.5 * acc * dt_s ** 2
        self.velocity += acc * dt_s
        self.yaw = float((self.yaw + yaw_rate_radps * dt_s + math.pi) % (2 * math.pi) - math.pi)

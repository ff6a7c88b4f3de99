"""Multirotor waypoint follower: position loop -> ENU velocity setpoint + yaw rate.

The vehicle's own velocity loop (Gazebo's MulticopterVelocityControl / Lee velocity controller,
or the built-in sim's copy of it) closes velocity -> attitude -> rotor speeds; this module is the
outer loop of that cascade, as PX4's mc_pos_control is for its velocity controller:

  position error  --P (+ path feed-forward)-->  desired velocity
  desired velocity --limits (speed per axis, acceleration slew)--> velocity setpoint

Along a mission leg the desired velocity is the leg direction times a speed profile (a
trapezoid: accelerate, cruise, brake to the speed allowed at the next corner, which depends on
the turn angle), plus a P correction towards the leg (cross-track and altitude). That keeps the
vehicle on the straight line between waypoints (what geofence reroutes assume) instead of
cutting corners as a pure point-to-point P controller would.

Acceptance: a waypoint is reached inside `acceptance_radius_m` (PX4 NAV_ACC_RAD semantics); the
mission completes at the last one, after which the follower holds that position.

Core: numpy only. `update()` is the per-cycle API; `twist.enu_velocity_to_body` turns the
setpoint into the body-frame Twist that MulticopterVelocityControl expects.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ._checks import check_positive, check_range
from .path import wrap_angle


@dataclass(frozen=True)
class MultirotorConfig:
    acceptance_radius_m: float = 1.0
    max_speed_xy_mps: float = 5.0
    max_speed_up_mps: float = 2.5
    max_speed_down_mps: float = 1.5
    max_accel_xy_mps2: float = 2.0
    max_accel_z_mps2: float = 1.5
    position_gain_1ps: float = 1.0        # cross-track / hold P gain: 1 m error -> 1 m/s
    max_yaw_rate_radps: float = 0.8
    yaw_gain_1ps: float = 1.5
    face_travel_min_speed_mps: float = 0.5  # below this the heading is held (no spinning in hover)

    def __post_init__(self):
        o = "multirotor"
        for name in ("acceptance_radius_m", "max_speed_xy_mps", "max_speed_up_mps",
                     "max_speed_down_mps", "max_accel_xy_mps2", "max_accel_z_mps2",
                     "position_gain_1ps", "max_yaw_rate_radps", "yaw_gain_1ps"):
            check_positive(o, name, getattr(self, name))
        check_range(o, "face_travel_min_speed_mps", self.face_travel_min_speed_mps, lo=0.0)


@dataclass(frozen=True)
class MultirotorCommand:
    velocity_enu_mps: np.ndarray   # (3,) setpoint, ENU
    yaw_rate_radps: float
    target_index: int              # waypoint being flown to
    distance_to_target_m: float
    mission_complete: bool


class MissionError(ValueError):
    """A mission that cannot be flown (empty, NaN, wrong shape)."""


def validate_waypoints(waypoints, name="mission") -> np.ndarray:
    wp = np.asarray(waypoints, dtype=float)
    if wp.ndim != 2 or wp.shape[1] != 3:
        raise MissionError(f"{name}: expected (N, 3) ENU waypoints, got shape {wp.shape}")
    if wp.shape[0] == 0:
        raise MissionError(f"{name}: no waypoints")
    if not np.all(np.isfinite(wp)):
        bad = int(np.argmax(~np.all(np.isfinite(wp), axis=1)))
        raise MissionError(f"{name}: waypoint {bad} is not finite ({wp[bad].tolist()})")
    return wp


@dataclass
class _State:
    waypoints: np.ndarray
    yaws: np.ndarray              # desired heading per waypoint, NaN = face travel direction
    leg_start: np.ndarray         # start of the current leg (mission start position for leg 0)
    index: int = 0
    complete: bool = False
    setpoint: np.ndarray = field(default_factory=lambda: np.zeros(3))


class WaypointFollower:
    """Flies a list of ENU waypoints; see module docstring."""

    def __init__(self, config: MultirotorConfig | None = None):
        self.config = config or MultirotorConfig()
        self._st: _State | None = None

    # ------------------------------------------------------------- mission handling
    def set_mission(self, waypoints, position_enu, yaws_rad=None, velocity_enu=None):
        """Start a new mission from the current position. Raises MissionError."""
        wp = validate_waypoints(waypoints)
        pos = np.asarray(position_enu, dtype=float).reshape(3)
        if not np.all(np.isfinite(pos)):
            raise MissionError(f"mission start position is not finite: {pos.tolist()}")
        yaws = np.full(wp.shape[0], np.nan) if yaws_rad is None else np.asarray(yaws_rad, float)
        if yaws.shape != (wp.shape[0],):
            raise MissionError(f"mission: {yaws.shape} yaws for {wp.shape[0]} waypoints")
        v0 = np.zeros(3) if velocity_enu is None else np.asarray(velocity_enu, float).reshape(3)
        self._st = _State(waypoints=wp, yaws=yaws, leg_start=pos.copy(),
                          setpoint=np.where(np.isfinite(v0), v0, 0.0))

    @property
    def has_mission(self) -> bool:
        return self._st is not None

    @property
    def mission_complete(self) -> bool:
        return self._st is not None and self._st.complete

    def clear(self):
        self._st = None

    # ------------------------------------------------------------- control
    def update(self, position_enu, velocity_enu, yaw_rad: float, dt_s: float) -> MultirotorCommand:
        """One control cycle. Without a mission it commands zero velocity (hover)."""
        c = self.config
        pos = np.asarray(position_enu, dtype=float).reshape(3)
        vel = np.asarray(velocity_enu, dtype=float).reshape(3)
        if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(vel)) and math.isfinite(yaw_rad)):
            raise ValueError("multirotor state is not finite "
                             f"(position {pos.tolist()}, velocity {vel.tolist()}, yaw {yaw_rad})")
        if not (dt_s > 0.0 and math.isfinite(dt_s)):
            raise ValueError(f"dt_s must be > 0, got {dt_s}")
        st = self._st
        if st is None:
            return MultirotorCommand(np.zeros(3), 0.0, -1, 0.0, False)

        # Advance through every waypoint already inside the acceptance radius.
        while not st.complete and np.linalg.norm(st.waypoints[st.index] - pos) <= c.acceptance_radius_m:
            if st.index == len(st.waypoints) - 1:
                st.complete = True
            else:
                st.leg_start = st.waypoints[st.index].copy()
                st.index += 1

        target = st.waypoints[st.index]
        if st.complete:
            desired = self._hold(pos, target)
        else:
            desired = self._leg_velocity(pos, st)
        desired = self._clip_speed(desired)
        st.setpoint = self._slew(st.setpoint, desired, dt_s, self._leg_direction(st))
        yaw_rate = self._yaw_rate(yaw_rad, st, st.setpoint)
        return MultirotorCommand(st.setpoint.copy(), yaw_rate, st.index,
                                 float(np.linalg.norm(target - pos)), st.complete)

    def _hold(self, pos, target):
        return self.config.position_gain_1ps * (target - pos)

    def _leg_velocity(self, pos, st: _State) -> np.ndarray:
        c = self.config
        a, b = st.leg_start, st.waypoints[st.index]
        leg = b - a
        leg_len = float(np.linalg.norm(leg))
        if leg_len < 1e-6:
            return c.position_gain_1ps * (b - pos)
        u = leg / leg_len
        along = float(np.dot(pos - a, u))
        foot = a + np.clip(along, 0.0, leg_len) * u
        remaining = float(np.linalg.norm(b - pos))
        # Speed allowed when arriving at b: 0 at the last waypoint, else set by the turn angle.
        if st.index == len(st.waypoints) - 1:
            v_end = 0.0
        else:
            nxt = st.waypoints[st.index + 1] - b
            n = float(np.linalg.norm(nxt))
            if n < 1e-6:
                v_end = 0.0
            else:
                cos_turn = float(np.clip(np.dot(u, nxt / n), -1.0, 1.0))
                turn = math.acos(cos_turn)
                # The velocity component across the next leg, v sin(turn), has to be braked
                # within the acceptance radius (the turn starts that far before the corner):
                # (v sin(turn))^2 / (2 a) <= R_acc. Beyond 90 deg the vehicle must also stop
                # its motion along the old leg: scale down to 0 at a full reversal.
                v_cross = math.sqrt(2.0 * self._max_accel_along(u) * c.acceptance_radius_m)
                v_end = v_cross / max(math.sin(turn), 1e-6) if turn <= math.pi / 2 else \
                    v_cross * (math.pi - turn) / (math.pi / 2)
                v_end = min(v_end, self._max_speed_along(u))
        a_max = self._max_accel_along(u)
        # reach v_end where the next leg takes over (acceptance radius), 0 at the last waypoint
        switch_m = c.acceptance_radius_m if st.index < len(st.waypoints) - 1 else 0.0
        v_brake = math.sqrt(v_end ** 2 + 2.0 * a_max * max(0.0, remaining - switch_m))
        speed = min(self._max_speed_along(u), v_brake)
        # Direction: along the leg towards a carrot slightly ahead of the foot point, so that a
        # vehicle off the leg converges onto it; plus P pull onto the leg.
        cross = foot - pos
        v = speed * u + c.position_gain_1ps * cross
        # Near the end of the leg head straight at the waypoint (no overshoot past it).
        if remaining < max(c.acceptance_radius_m * 2.0, 1e-3) and st.index == len(st.waypoints) - 1:
            v = c.position_gain_1ps * (b - pos)
        return v

    def _max_speed_along(self, u) -> float:
        """Largest speed along unit direction u that respects the per-axis limits."""
        c = self.config
        h = math.hypot(u[0], u[1])
        lim = math.inf
        if h > 1e-9:
            lim = c.max_speed_xy_mps / h
        if u[2] > 1e-9:
            lim = min(lim, c.max_speed_up_mps / u[2])
        elif u[2] < -1e-9:
            lim = min(lim, c.max_speed_down_mps / -u[2])
        return lim

    def _max_accel_along(self, u) -> float:
        c = self.config
        h = math.hypot(u[0], u[1])
        lim = math.inf
        if h > 1e-9:
            lim = c.max_accel_xy_mps2 / h
        if abs(u[2]) > 1e-9:
            lim = min(lim, c.max_accel_z_mps2 / abs(u[2]))
        return lim

    def _clip_speed(self, v) -> np.ndarray:
        c = self.config
        out = v.copy()
        h = math.hypot(v[0], v[1])
        if h > c.max_speed_xy_mps:
            out[:2] *= c.max_speed_xy_mps / h
        out[2] = float(np.clip(v[2], -c.max_speed_down_mps, c.max_speed_up_mps))
        return out

    @staticmethod
    def _leg_direction(st: _State):
        if st.complete:
            return None
        leg = st.waypoints[st.index] - st.leg_start
        n = float(np.linalg.norm(leg))
        return None if n < 1e-6 else leg / n

    def _max_step(self, base, dv, dt_s) -> float:
        """Largest s in [0, 1] with base + s*dv inside the acceleration box (xy norm, z)."""
        c = self.config
        bxy, bz = c.max_accel_xy_mps2 * dt_s, c.max_accel_z_mps2 * dt_s
        s = 1.0
        if abs(dv[2]) > 1e-12:
            lim = (bz - base[2]) / dv[2] if dv[2] > 0 else (-bz - base[2]) / dv[2]
            s = min(s, max(0.0, lim))
        # |b + s d|^2 <= bxy^2 in the horizontal plane: positive root of the quadratic
        a2 = dv[0] ** 2 + dv[1] ** 2
        if a2 > 1e-18:
            b1 = base[0] * dv[0] + base[1] * dv[1]
            c0 = base[0] ** 2 + base[1] ** 2 - bxy ** 2
            disc = b1 * b1 - a2 * c0
            s = min(s, max(0.0, (-b1 + math.sqrt(disc)) / a2) if disc >= 0 else 0.0)
        return s

    def _slew(self, prev, desired, dt_s, leg_dir=None) -> np.ndarray:
        """Acceleration limit on the setpoint (horizontal by vector norm, vertical by axis).

        With a leg direction the budget goes first to the change ACROSS the leg (braking the
        previous leg's velocity, pulling back onto the line) and only what is left to the
        change along it, so a vehicle turning a corner neither swings wide nor climbs ahead.
        """
        dv = desired - prev
        if leg_dir is None:
            return prev + self._max_step(np.zeros(3), dv, dt_s) * dv
        along = float(np.dot(dv, leg_dir)) * leg_dir
        across = dv - along
        step = self._max_step(np.zeros(3), across, dt_s) * across
        step = step + self._max_step(step, along, dt_s) * along
        return prev + step

    def _yaw_rate(self, yaw_rad, st: _State, setpoint) -> float:
        c = self.config
        want = st.yaws[st.index]
        if not math.isfinite(want):
            if math.hypot(setpoint[0], setpoint[1]) < c.face_travel_min_speed_mps:
                return 0.0
            want = math.atan2(setpoint[1], setpoint[0])
        err = float(wrap_angle(want - yaw_rad))
        return float(np.clip(c.yaw_gain_1ps * err, -c.max_yaw_rate_radps, c.max_yaw_rate_radps))

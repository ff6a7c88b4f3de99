"""UAV mission planning: operator waypoints -> a flyable route around restricted airspace.

Core (numpy; no rclpy). A mission is an (N, 3) list of ENU waypoints in the `map` frame
(z = height above the map origin, the geofence's local frame). The route is planned leg by
leg from the vehicle's current position:

- with a zone set (`skyroad.airspace_geofence.index.ZoneSet`), each leg is the geofence's
  shortest path around the active restricting volumes with `margin_m` of clearance
  (`skyroad.airspace_geofence.reroute.plan_route`); a leg that cannot be planned (goal inside a
  zone, no path) is a `MissionError` naming the leg and the reason;
- without zones (or with the geofence package unavailable) the legs are the straight segments.

The route keeps every operator waypoint (they are the mission) and adds the detour vertices
between them; `route.is_waypoint` marks which is which.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

try:  # the geofence is another subsystem: optional here so that straight legs always work
    from skyroad.airspace_geofence.reroute import RouteError, plan_route
except ImportError:  # pragma: no cover - only where the geofence package is absent
    plan_route = None

    class RouteError(RuntimeError):  # type: ignore[no-redef]
        pass


class MissionError(ValueError):
    """The mission cannot be planned; the message names the waypoint or leg and the reason."""


@dataclass(frozen=True)
class MissionRoute:
    points: np.ndarray          # (M, 3) ENU route, first = start position
    is_waypoint: np.ndarray     # (M,) bool: an operator waypoint (True) or a detour vertex
    leg_of_point: np.ndarray    # (M,) int: the mission leg each point belongs to (0 = start->wp0)
    rerouted_legs: tuple        # legs that the geofence bent around a zone
    length_m: float
    planner: str                # "geofence-reroute" or "straight"


def validate_mission(waypoints, name: str = "mission") -> np.ndarray:
    wp = np.asarray(waypoints, dtype=float)
    if wp.ndim != 2 or wp.shape[1] != 3:
        raise MissionError(f"{name}: expected (N, 3) ENU waypoints, got shape {wp.shape}")
    if wp.shape[0] == 0:
        raise MissionError(f"{name}: no waypoints")
    finite = np.all(np.isfinite(wp), axis=1)
    if not np.all(finite):
        bad = int(np.argmax(~finite))
        raise MissionError(f"{name}: waypoint {bad} is not finite ({wp[bad].tolist()})")
    return wp


def plan_mission_route(waypoints, start_enu, zones=None, margin_m: float = 10.0,
                       min_altitude_m: Optional[float] = None, **reroute_kwargs) -> MissionRoute:
    """Route from `start_enu` through every waypoint; see the module docstring.

    min_altitude_m: when given, waypoints below it are rejected (a mission that flies into
    the ground is an operator error, reported, not silently lifted).
    reroute_kwargs go to `plan_route` (when, authorised, vertical_margin_m, layers_z_m, ...).
    """
    wp = validate_mission(waypoints)
    start = np.asarray(start_enu, dtype=float).reshape(-1)
    if start.shape != (3,) or not np.all(np.isfinite(start)):
        raise MissionError(f"mission start position must be a finite 3-D point, got {start.tolist()}")
    if not (math.isfinite(margin_m) and margin_m >= 0.0):
        raise MissionError(f"margin_m must be finite and >= 0, got {margin_m}")
    if min_altitude_m is not None:
        low = np.where(wp[:, 2] < min_altitude_m)[0]
        if low.size:
            raise MissionError(f"mission: waypoint {int(low[0])} at z={wp[low[0], 2]:.1f} m is below the "
                               f"minimum altitude {min_altitude_m:.1f} m")
    use_zones = zones is not None and plan_route is not None
    pts = [start]
    is_wp = [False]
    leg_of = [0]
    rerouted = []
    prev = start
    for leg, goal in enumerate(wp):
        if np.linalg.norm(goal - prev) < 1e-6:
            pts.append(goal)
            is_wp.append(True)
            leg_of.append(leg)
            continue
        if use_zones:
            try:
                path = np.asarray(plan_route(zones, prev, goal, margin_m, **reroute_kwargs), dtype=float)
            except (RouteError, ValueError) as error:
                src = "start" if leg == 0 else f"waypoint {leg - 1}"
                raise MissionError(f"mission leg {leg} ({src} -> waypoint {leg}): {error}") from None
            if path.ndim != 2 or path.shape[1] != 3 or path.shape[0] < 2 or not np.all(np.isfinite(path)):
                raise MissionError(f"mission leg {leg}: geofence reroute returned an unusable path "
                                   f"(shape {path.shape})")
            inner = path[1:-1]
            if inner.shape[0]:
                rerouted.append(leg)
            for p in inner:
                pts.append(p)
                is_wp.append(False)
                leg_of.append(leg)
        pts.append(goal)
        is_wp.append(True)
        leg_of.append(leg)
        prev = goal
    points = np.array(pts)
    length = float(np.sum(np.linalg.norm(np.diff(points, axis=0), axis=1)))
    return MissionRoute(points, np.array(is_wp), np.array(leg_of), tuple(rerouted), length,
                        "geofence-reroute" if use_zones else "straight")

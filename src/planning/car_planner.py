"""Car planning session: route to a goal + Frenet trajectories among moving objects (core).

The planner node feeds this class converted messages; everything that decides lives here so
it is tested without ROS:

* ``set_goal``: a coarse route from the ego position to the goal with grid A* on the current
  occupancy grid (or a straight line when the goal lies outside the grid), with the grid
  planner's clear errors (goal in obstacle, unreachable, ...);
* ``set_route``: a route given as waypoints (``mission``);
* ``plan``: one replanning cycle: Frenet trajectory along the route, objects predicted with
  CV/CTRV, static obstacles from the occupancy grid, stopping at the route's end; an
  emergency stop when no candidate is safe.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .frenet import (ClearanceMap, FrenetConfig, FrenetGoal, PlanResult, ReferencePath, Trajectory,
                     VehicleLimits, emergency_stop, frenet_state_from_cartesian, plan_frenet)
from .grid import PlanningError, validate_path
from .grid_astar import plan_grid_path
from .prediction import ObjectStates, predict_boxes


@dataclass
class EgoState:
    x: float
    y: float
    yaw: float
    speed_mps: float
    accel_mps2: float = 0.0
    curvature_1pm: float = 0.0

    def check(self):
        vals = (self.x, self.y, self.yaw, self.speed_mps, self.accel_mps2, self.curvature_1pm)
        if not all(math.isfinite(v) for v in vals):
            raise PlanningError("invalid_input", f"ego state has NaN/inf: {vals}")


@dataclass
class GridInFrame:
    """An occupancy grid (True = occupied) whose frame sits at ``frame_pose`` (x, y, yaw) in
    the planning frame; a base_link grid moves with the vehicle, a map grid has (0, 0, 0)."""

    occupied: np.ndarray
    resolution_m: float
    origin_xy: tuple
    frame_pose: tuple = (0.0, 0.0, 0.0)

    def to_grid(self, xy) -> np.ndarray:
        xy = np.asarray(xy, dtype=float)
        fx, fy, fyaw = self.frame_pose
        c, s = math.cos(fyaw), math.sin(fyaw)
        dx, dy = xy[..., 0] - fx, xy[..., 1] - fy
        return np.stack([c * dx + s * dy, -s * dx + c * dy], axis=-1)

    def to_world(self, xy) -> np.ndarray:
        xy = np.asarray(xy, dtype=float)
        fx, fy, fyaw = self.frame_pose
        c, s = math.cos(fyaw), math.sin(fyaw)
        return np.stack([fx + c * xy[..., 0] - s * xy[..., 1], fy + s * xy[..., 0] + c * xy[..., 1]], axis=-1)

    def contains(self, xy) -> bool:
        g = self.to_grid(xy)
        h, w = self.occupied.shape
        return (self.origin_xy[0] <= g[0] < self.origin_xy[0] + w * self.resolution_m and
                self.origin_xy[1] <= g[1] < self.origin_xy[1] + h * self.resolution_m)


class FramedClearance(ClearanceMap):
    """ClearanceMap of a grid whose frame is displaced from the planning frame."""

    def __init__(self, grid: GridInFrame, outside_clearance_m: float):
        super().__init__(grid.occupied, grid.resolution_m, grid.origin_xy, outside_clearance_m)
        self._grid = grid

    def query(self, xy):
        return super().query(self._grid.to_grid(xy))


@dataclass
class CarPlannerConfig:
    cruise_speed_mps: float = 8.0
    goal_tolerance_m: float = 0.5
    robot_radius_m: float = 1.0          # disc used by the coarse grid route
    prediction_model: str = "ctrv"
    unknown_outside_grid: bool = True    # outside the local grid counts as free (not seen yet)
    limits: VehicleLimits = field(default_factory=VehicleLimits)
    frenet: FrenetConfig = field(default_factory=FrenetConfig)
    # Yield to small objects in the path (pedestrians, cyclists, anything a lidar cluster of a
    # person's size can be): stop short of them instead of swerving past at speed. A person can
    # turn or stop at any moment, so the constant-velocity prediction that lets the planner thread
    # past a car is not trusted for them (Autoware's obstacle_stop / crosswalk modules stop too).
    yield_to_small_objects: bool = True
    yield_max_size_m: float = 1.2        # footprint (max of length, width) up to this is "small"
    yield_lateral_margin_m: float = 0.3  # yield when its edge would come closer than this to the ego's side
    yield_lookahead_s: float = 2.0       # also yield to a moving one predicted (CV) to enter within this
    yield_moving_mps: float = 0.5        # speed above which the prediction is used (below: tracker noise)
    yield_pass_margin_s: float = 1.0     # go first when the ego clears a person's crossing this much earlier
    yield_standoff_m: float = 2.5        # stop this far before it (front bumper to its edge)
    yield_range_m: float = 60.0          # objects farther than this are not considered yet
    # footprint radius taken for every small object: a lidar cluster shows only the side of a person
    # facing the sensor (0.45-0.5 m of a ~0.5 m wide body), and a walking adult's envelope with arm
    # swing is ~0.6 m wide
    yield_person_radius_m: float = 0.3


@dataclass
class PlanOutput:
    trajectory: Trajectory | None       # None: hold still (no route / goal reached)
    status: str                         # ok | yield | emergency_stop | emergency_evasive | goal_reached | no_route
    message: str
    result: PlanResult | None = None


class CarPlanner:
    def __init__(self, config: CarPlannerConfig = CarPlannerConfig()):
        if config.prediction_model not in ("cv", "ctrv"):
            raise PlanningError("invalid_input", f"prediction_model must be 'cv' or 'ctrv', got {config.prediction_model!r}")
        self.cfg = config
        self.route: np.ndarray | None = None
        self.ref: ReferencePath | None = None
        self.goal_xy: np.ndarray | None = None
        self.route_source = ""

    # ---- routes ------------------------------------------------------------------------
    def clear(self):
        self.route = self.ref = self.goal_xy = None

    def set_route(self, waypoints, source: str = "mission"):
        pts = validate_path(waypoints, "mission waypoints")[:, :2]
        if len(pts) < 2 or np.hypot(*(pts[-1] - pts[0])) < 1e-3 and len(pts) == 2:
            raise PlanningError("invalid_input", "mission needs at least two distinct waypoints")
        self.route = pts
        self.ref = ReferencePath(pts)
        self.goal_xy = pts[-1].copy()
        self.route_source = source

    def set_goal(self, ego: EgoState, goal_xy, grid: GridInFrame | None = None) -> str:
        """Coarse route ego -> goal. Returns how it was built; raises PlanningError."""
        ego.check()
        goal = np.asarray(goal_xy, dtype=float).reshape(-1)[:2]
        if goal.size != 2 or not np.all(np.isfinite(goal)):
            raise PlanningError("invalid_input", f"goal position must be finite (x, y), got {goal_xy!r}")
        start = np.array([ego.x, ego.y])
        if np.hypot(*(goal - start)) < self.cfg.goal_tolerance_m:
            self.route = np.vstack([start, goal])
            self.ref = ReferencePath(np.vstack([start, start + [math.cos(ego.yaw), math.sin(ego.yaw)]]))
            self.goal_xy = goal
            self.route_source = "already_at_goal"
            return self.route_source
        if grid is not None and grid.contains(start) and grid.contains(goal):
            path_g = plan_grid_path(grid.occupied, grid.resolution_m, grid.origin_xy, grid.to_grid(start),
                                    grid.to_grid(goal), self.cfg.robot_radius_m)
            route = grid.to_world(path_g)
            source = "grid_astar"
        else:
            # The goal lies beyond what the vehicle has mapped: head straight for it and let
            # the local planner avoid what perception reports on the way.
            route = np.vstack([start, goal])
            source = "straight_line_goal_outside_grid" if grid is not None else "straight_line_no_grid"
        self.route = route
        self.ref = ReferencePath(route)
        self.goal_xy = goal
        self.route_source = source
        return source

    # ---- one cycle -----------------------------------------------------------------------
    def plan(self, ego: EgoState, objects: ObjectStates | None = None,
             grid: GridInFrame | None = None) -> PlanOutput:
        ego.check()
        if self.ref is None:
            return PlanOutput(None, "no_route", "no goal or mission received")
        dist_goal = float(np.hypot(self.goal_xy[0] - ego.x, self.goal_xy[1] - ego.y))
        if dist_goal <= self.cfg.goal_tolerance_m and abs(ego.speed_mps) < 0.3:
            return PlanOutput(None, "goal_reached", f"goal reached ({dist_goal:.2f} m)")
        cfg = self.cfg.frenet
        fs = frenet_state_from_cartesian(self.ref, ego.x, ego.y, ego.yaw, ego.speed_mps, ego.accel_mps2,
                                         ego.curvature_1pm)
        s_goal, _d_goal = self.ref.project(self.goal_xy)
        s_stop = float(s_goal)
        # the front bumper's offset too: a car standing at an angle to its lane (stopped mid-turn)
        # sweeps the corridor around its front next, not the one around its rear axle
        front_m = self.cfg.limits.center_offset_m + 0.5 * self.cfg.limits.length_m
        _s_front, d_front = self.ref.project(np.array([ego.x + front_m * math.cos(ego.yaw),
                                                       ego.y + front_m * math.sin(ego.yaw)]))
        yield_s, yield_k = self.yield_stop_s(fs.s, fs.d, objects, ego.speed_mps, float(d_front))
        yielding = yield_s < s_stop
        if yielding:
            s_stop = yield_s
        goal = FrenetGoal(speed_mps=self.cfg.cruise_speed_mps, lateral_offset_m=0.0, s_stop_m=s_stop,
                          brake_now=yielding)
        times = np.arange(0.0, cfg.horizon_s + 1e-9, cfg.dt_s)
        boxes = None
        if objects is not None and len(objects):
            boxes = predict_boxes(objects, times, self.cfg.prediction_model)
        clearance = None
        if grid is not None:
            clearance = FramedClearance(grid, np.inf if self.cfg.unknown_outside_grid else 0.0)
        res = plan_frenet(self.ref, fs, goal, self.cfg.limits, cfg, obstacles=boxes, clearance=clearance)
        if yielding:
            gap_m = yield_s - fs.s
            what = (f"yielding to a small object at ({objects.x[yield_k]:.1f}, {objects.y[yield_k]:.1f}) "
                    f"in the path: stop point {gap_m:.1f} m ahead")
            if res.emergency:
                status = "emergency_evasive" if res.evasive else "emergency_stop"
                return PlanOutput(res.trajectory, status, f"{what}; no safe trajectory ({res.reason})", res)
            return PlanOutput(res.trajectory, "yield", what, res)
        if res.emergency and res.evasive:
            return PlanOutput(res.trajectory, "emergency_evasive", f"no safe trajectory ({res.reason})", res)
        if res.emergency:
            return PlanOutput(res.trajectory, "emergency_stop", f"no safe trajectory ({res.reason}): braking", res)
        return PlanOutput(res.trajectory, "ok", f"{res.n_feasible}/{res.n_candidates} candidates feasible", res)

    def yield_stop_s(self, ego_s: float, ego_d: float, objects: ObjectStates | None,
                     ego_speed_mps: float = 0.0, ego_front_d: float | None = None) -> tuple[float, int]:
        """(arc length on the reference at which the ego reference point must stop, index of the
        object) for the nearest small object in the ego's corridor ahead now or within
        ``yield_lookahead_s``; (inf, -1) when none.

        Pass first: a person not yet in the path, predicted to step in at t_enter, is not yielded
        to when the ego's rear clears their crossing point at its current speed by
        ``yield_pass_margin_s`` before that, or when it clears it before t_enter at all and can no
        longer stop short of the stop point (braking then would leave the car standing in the
        person's way: a late yield is worse than none)."""
        cfg, lim = self.cfg, self.cfg.limits
        if not cfg.yield_to_small_objects or objects is None or len(objects) == 0:
            return math.inf, -1
        size = np.maximum(objects.length_m, objects.width_m)
        x0, y0, _, _ = self.ref.eval(ego_s)
        near = (size <= cfg.yield_max_size_m) & (np.hypot(objects.x - x0, objects.y - y0) <= cfg.yield_range_m)
        if not near.any():
            return math.inf, -1
        times = np.arange(0.0, cfg.yield_lookahead_s + 1e-9, 0.25)
        boxes = predict_boxes(objects, times, "cv")                     # (K, N, 5)
        # a standing object is judged where it is: its tracked velocity is noise (and a pole or an
        # occluded sliver of a parked car at the kerb must not stop the car)
        moving = objects.speed_mps >= cfg.yield_moving_mps
        boxes[~moving, :, :2] = boxes[~moving, :1, :2]
        s_obj, d_obj = self.ref.project(boxes[..., :2])                  # (K, N)
        # a person's radius, not the cluster's: the cluster is a partial view (of a person, or of
        # something bigger whose centre then lies inside that bigger thing)
        radius = np.full((len(objects), 1), cfg.yield_person_radius_m)
        half_lane = 0.5 * lim.width_m + cfg.yield_lateral_margin_m + radius
        # the corridor the ego drives: around the reference line and around its current offset
        # (rear axle and front bumper)
        in_corridor = (np.abs(d_obj) <= half_lane) | (np.abs(d_obj - ego_d) <= half_lane)
        if ego_front_d is not None:
            in_corridor |= np.abs(d_obj - ego_front_d) <= half_lane
        front_s = ego_s + lim.center_offset_m + 0.5 * lim.length_m
        ahead = s_obj - radius > front_s - 0.3
        hit = in_corridor & ahead & near[:, None]
        if not hit.any():
            return math.inf, -1
        edge = np.where(hit, s_obj - radius, np.inf).min(axis=1)           # nearest point per object
        # where the ego reference point stops: standoff from the object's edge to the front bumper
        stop_at_s = edge - cfg.yield_standoff_m - lim.center_offset_m - 0.5 * lim.length_m
        v0 = max(float(ego_speed_mps), 0.0)
        rear_s = ego_s + lim.center_offset_m - 0.5 * lim.length_m
        # braking distance at full braking after one planning cycle (jerk-limited onset ~ a / j)
        brake_m = v0 * v0 / (2.0 * lim.a_brake_mps2) + v0 * (0.1 + lim.a_brake_mps2 / lim.jerk_max_mps3 / 2.0)
        for j in np.nonzero(np.isfinite(edge))[0]:
            if hit[j, 0] or v0 < 0.5:
                continue                       # in the path now (or the ego is crawling): yield
            first = int(np.argmax(hit[j]))
            t_enter_s = float(times[first])
            far_s = float(s_obj[j, first] + radius[j, 0]) + cfg.yield_lateral_margin_m
            t_clear_s = (far_s - rear_s) / v0
            stop_gap_m = float(stop_at_s[j]) - ego_s
            if t_clear_s + cfg.yield_pass_margin_s <= t_enter_s or (t_clear_s < t_enter_s and brake_m > stop_gap_m):
                stop_at_s[j] = np.inf
        if not np.isfinite(stop_at_s).any():
            return math.inf, -1
        k = int(np.argmin(stop_at_s))
        return float(stop_at_s[k]), k

    def hold_trajectory(self, ego: EgoState) -> Trajectory:
        """Standstill at the current pose (goal reached / no route): braking profile from now."""
        ref = ReferencePath(np.vstack([[ego.x, ego.y], [ego.x + math.cos(ego.yaw), ego.y + math.sin(ego.yaw)]]))
        fs = frenet_state_from_cartesian(ref, ego.x, ego.y, ego.yaw, max(ego.speed_mps, 0.0), 0.0, 0.0)
        return emergency_stop(ref, fs, self.cfg.limits, self.cfg.frenet)

"""planner_node: goal / mission + perception + odometry -> planning/trajectory (thin adapter).

Subscribes ``goal_pose`` (PoseStamped), ``mission`` (nav_msgs/Path waypoints),
``perception/occupancy`` (OccupancyGrid, any frame: a ``base_link`` grid is placed with the
latest odometry), ``perception/objects`` (PointCloud2 fields x y z vx vy yaw length width height
id class score) and ``localization/odom`` (Odometry). Publishes ``planning/trajectory``
(nav_msgs/Path in the odometry frame; every pose's stamp is its planned arrival time) at
``replan_rate_hz`` and ``/diagnostics``.

Stop semantics for the controller: an emergency stop is a braking trajectory (speeds from
the stamps fall to zero); a Path with **no poses** means "no valid plan: stop and hold" and is
published when odometry is stale, the goal is unreachable / inside an obstacle, or the goal
has been reached. The algorithms live in ``car_planner.py`` / ``frenet.py`` / ``grid_astar.py``.
"""
from __future__ import annotations

import math
import time

import numpy as np
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import OccupancyGrid, Odometry, Path
from sensor_msgs.msg import PointCloud2

from ..common.params import ParamSpec
from ..common.ros import (LATCHED_QOS, RELIABLE_QOS, DiagLevel, SkyroadNode, run_node, s_to_stamp, stamp_to_s)
from .car_planner import CarPlanner, CarPlannerConfig, EgoState, GridInFrame
from .frenet import FrenetConfig, VehicleLimits
from .grid import PlanningError
from .prediction import ObjectStates
from skyroad.common.geometry import yaw_of




class PlannerNode(SkyroadNode):
    PARAMS = (
        ParamSpec("replan_rate_hz", 10.0, "trajectory replanning rate", min=1.0, max=50.0, unit="Hz"),
        ParamSpec("cruise_speed_mps", 8.0, "desired speed along the route", min=0.5, max=40.0, unit="m/s"),
        ParamSpec("goal_tolerance_m", 0.5, "goal reached within this distance (and speed < 0.3 m/s)",
                  min=0.05, max=10.0, unit="m"),
        ParamSpec("robot_radius_m", 1.0, "disc radius for the coarse grid A* route", min=0.05, max=5.0, unit="m"),
        ParamSpec("prediction_model", "ctrv", "object motion prediction", choices=("cv", "ctrv")),
        ParamSpec("horizon_s", 4.0, "trajectory horizon", min=1.0, max=10.0, unit="s"),
        ParamSpec("dt_s", 0.1, "trajectory time step", min=0.02, max=0.5, unit="s"),
        ParamSpec("vehicle_length_m", 4.508, "vehicle length", min=0.3, max=20.0, unit="m"),
        ParamSpec("vehicle_width_m", 1.61, "vehicle width", min=0.2, max=5.0, unit="m"),
        ParamSpec("wheelbase_m", 2.578, "wheelbase", min=0.2, max=10.0, unit="m"),
        ParamSpec("max_steer_rad", 0.61, "steering limit used for the curvature limit", min=0.05, max=1.2, unit="rad"),
        ParamSpec("a_max_mps2", 3.0, "max planned acceleration", min=0.1, max=10.0, unit="m/s^2"),
        ParamSpec("a_brake_mps2", 8.0, "max planned braking", min=0.5, max=12.0, unit="m/s^2"),
        ParamSpec("jerk_max_mps3", 15.0, "max longitudinal jerk", min=0.5, max=100.0, unit="m/s^3"),
        ParamSpec("lat_acc_max_mps2", 4.0, "max lateral acceleration", min=0.5, max=12.0, unit="m/s^2"),
        ParamSpec("lateral_span_m", 3.0, "lateral offsets sampled within +- this", min=0.0, max=10.0, unit="m"),
        ParamSpec("occupied_threshold", 50, "OccupancyGrid value counted as occupied", min=1, max=100),
        ParamSpec("unknown_is_occupied", False, "treat -1 (unknown) cells as occupied"),
        ParamSpec("odom_timeout_s", 0.5, "odometry silence timeout (steady clock; sim time under use_sim_time)", min=0.05, max=10.0, unit="s"),
        ParamSpec("objects_timeout_s", 1.0, "objects older than this are ignored", min=0.05, max=10.0, unit="s"),
        ParamSpec("occupancy_timeout_s", 2.0, "occupancy older than this is ignored", min=0.05, max=30.0, unit="s"),
        ParamSpec("body_center_x_m", 0.0, "footprint centre ahead of the odometry reference point along the "
                  "body axis (an Ackermann base_link at the rear axle: about half the wheelbase)",
                  min=-10.0, max=10.0, unit="m"),
        ParamSpec("yield_to_small_objects", True, "stop short of small objects (people) in the path instead of "
                  "swerving past them"),
        ParamSpec("yield_max_size_m", 1.2, "objects with a footprint up to this are yielded to", min=0.1, max=5.0,
                  unit="m"),
        ParamSpec("yield_lateral_margin_m", 0.3, "yield when an object's edge comes within this of the vehicle's "
                  "side", min=0.0, max=5.0, unit="m"),
        ParamSpec("yield_lookahead_s", 2.0, "also yield to a moving object predicted to enter the path within this",
                  min=0.0, max=10.0, unit="s"),
        ParamSpec("yield_standoff_m", 2.5, "stopping gap between the front bumper and the object", min=0.5,
                  max=20.0, unit="m"),
        ParamSpec("yield_pass_margin_s", 1.0, "go first when the car clears a person's crossing this much before "
                  "they step in (and always when it can no longer stop short of them but clears first)",
                  min=0.0, max=10.0, unit="s"),
        ParamSpec("yield_person_radius_m", 0.3, "footprint radius taken for a small object (a lidar cluster shows "
                  "only the near side of a person; a walking adult with arm swing is ~0.6 m wide)",
                  min=0.05, max=1.0, unit="m"),
        ParamSpec("replan_on_objects", True, "also replan at once when perception/objects arrives (cuts the "
                  "reaction time to a new object from up to one timer period to one planning cycle)"),
    )

    def __init__(self, context=None, **node_kwargs):
        super().__init__("planner_node", context=context, **node_kwargs)
        self._build_core()
        # input ages on the steady clock, or on sim time under use_sim_time (SkyroadNode.freshness_clock)
        self._clock_s = self.freshness_clock()
        self.ego: EgoState | None = None
        self.odom_frame = "odom"
        self.grid: GridInFrame | None = None
        self.grid_rx_s = -math.inf
        self.objects: ObjectStates | None = None
        self.objects_rx_s = -math.inf
        self.pending_goal = None
        self.last_status = ""
        self.plan_ms: list = []
        self.pub_traj = self.create_publisher(Path, "planning/trajectory", RELIABLE_QOS)
        self.create_subscription(Odometry, "localization/odom", self.on_odom, RELIABLE_QOS)
        self.create_subscription(PoseStamped, "goal_pose", self.on_goal, RELIABLE_QOS)
        self.create_subscription(Path, "mission", self.on_mission, RELIABLE_QOS)
        self.create_subscription(OccupancyGrid, "perception/occupancy", self.on_occupancy, RELIABLE_QOS)
        # Prior map (map_server convention: latched) for the coarse route to a goal; the local
        # perception/occupancy grid only reaches the sensor's range, so a goal beyond it would
        # otherwise be routed in a straight line through whatever lies between.
        self.map_grid: GridInFrame | None = None
        self.map_frame = ""
        self.create_subscription(OccupancyGrid, "map", self.on_map, LATCHED_QOS)
        self.active_goal = None
        self.create_subscription(PointCloud2, "perception/objects", self.on_objects, RELIABLE_QOS)
        self.odom_watchdog = self.add_watchdog("odom", timeout_s=self.p.odom_timeout_s)
        self.timer = self.create_timer(1.0 / self.p.replan_rate_hz, self.on_timer)
        self.diag.update("planner", DiagLevel.OK, "waiting for goal_pose or mission")

    def _build_core(self):
        p = self.p
        limits = VehicleLimits(length_m=p.vehicle_length_m, width_m=p.vehicle_width_m, wheelbase_m=p.wheelbase_m,
                               max_steer_rad=p.max_steer_rad, v_max_mps=max(p.cruise_speed_mps * 1.2, 1.0),
                               a_max_mps2=p.a_max_mps2, a_brake_mps2=p.a_brake_mps2, jerk_max_mps3=p.jerk_max_mps3,
                               lat_acc_max_mps2=p.lat_acc_max_mps2, center_offset_m=p.body_center_x_m)
        span = p.lateral_span_m
        offsets = tuple(np.round(np.arange(-span, span + 1e-9, 0.5), 3)) if span > 0 else (0.0,)
        frenet = FrenetConfig(dt_s=p.dt_s, horizon_s=p.horizon_s,
                              maneuver_times_s=tuple(t for t in (2.0, 3.0, 4.0) if t <= p.horizon_s) or (p.horizon_s,),
                              lateral_offsets_m=offsets)
        old = getattr(self, "planner", None)
        self.planner = CarPlanner(CarPlannerConfig(cruise_speed_mps=p.cruise_speed_mps,
                                                   goal_tolerance_m=p.goal_tolerance_m,
                                                   robot_radius_m=p.robot_radius_m,
                                                   prediction_model=p.prediction_model,
                                                   yield_to_small_objects=p.yield_to_small_objects,
                                                   yield_max_size_m=p.yield_max_size_m,
                                                   yield_lateral_margin_m=p.yield_lateral_margin_m,
                                                   yield_lookahead_s=p.yield_lookahead_s,
                                                   yield_standoff_m=p.yield_standoff_m,
                                                   yield_pass_margin_s=p.yield_pass_margin_s,
                                                   yield_person_radius_m=p.yield_person_radius_m,
                                                   limits=limits, frenet=frenet))
        if old is not None and old.ref is not None:  # keep the current route across a parameter change
            self.planner.route, self.planner.ref = old.route, old.ref
            self.planner.goal_xy, self.planner.route_source = old.goal_xy, old.route_source

    def on_params_changed(self, changed: dict):
        self._build_core()
        if "replan_rate_hz" in changed:
            self.timer.cancel()
            self.timer = self.create_timer(1.0 / self.p.replan_rate_hz, self.on_timer)
        if "odom_timeout_s" in changed:
            self.odom_watchdog.timeout_s = float(self.p.odom_timeout_s)

    # ---- inputs ------------------------------------------------------------------------
    def on_odom(self, msg: Odometry):
        pos, q, tw = msg.pose.pose.position, msg.pose.pose.orientation, msg.twist.twist
        vals = (pos.x, pos.y, q.x, q.y, q.z, q.w, tw.linear.x, tw.linear.y, tw.angular.z)
        if not all(math.isfinite(v) for v in vals):
            self.odom_watchdog.reject()
            self.diag.update("odom", DiagLevel.WARN, "rejected odometry with NaN/inf")
            return
        speed = math.hypot(tw.linear.x, tw.linear.y)
        if tw.linear.x < 0:
            speed = -speed
        kappa = tw.angular.z / speed if abs(speed) > 0.5 else 0.0
        prev = self.ego
        accel = 0.0
        if prev is not None and self._last_odom_stamp is not None:
            dt = stamp_to_s(msg.header.stamp) - self._last_odom_stamp
            if 1e-3 < dt < 1.0:
                accel = float(np.clip((speed - prev.speed_mps) / dt, -10.0, 10.0))
        self.ego = EgoState(pos.x, pos.y, yaw_of(q), speed, accel, float(np.clip(kappa, -1.0, 1.0)))
        self._last_odom_stamp = stamp_to_s(msg.header.stamp)
        self.odom_frame = msg.header.frame_id or "odom"
        self.odom_watchdog.feed()
        if self.pending_goal is not None:
            self._route_to(self.pending_goal)

    _last_odom_stamp = None
    _last_plan_s = -math.inf

    def on_goal(self, msg: PoseStamped):
        g = (msg.pose.position.x, msg.pose.position.y)
        if not all(math.isfinite(v) for v in g):
            self._fail("invalid_input", f"goal_pose has NaN/inf position {g}")
            return
        if msg.header.frame_id and msg.header.frame_id not in (self.odom_frame, "map", "odom"):
            self._fail("invalid_input", f"goal_pose frame '{msg.header.frame_id}' is not the odometry frame "
                                        f"'{self.odom_frame}' (no tf2 in this stack: send goals in that frame)")
            return
        if self.active_goal is not None and self.planner.ref is not None and \
                math.hypot(g[0] - self.active_goal[0], g[1] - self.active_goal[1]) < 1e-3:
            return  # the same goal re-sent (latched / periodic operator): keep the route, do not re-plan it
        if self.ego is None:
            self.pending_goal = g
            self.diag.update("planner", DiagLevel.WARN, "goal received, waiting for localization/odom")
            return
        self._route_to(g)

    def _route_to(self, goal_xy):
        self.pending_goal = None
        self.active_goal = (float(goal_xy[0]), float(goal_xy[1]))
        grid = self.map_grid if self.map_grid is not None else self._fresh_grid()
        try:
            source = self.planner.set_goal(self.ego, goal_xy, grid)
        except PlanningError as exc:
            self.planner.clear()
            self._fail(exc.reason, exc.message)
            return
        if grid is self.map_grid and source == "grid_astar":
            source = "grid_astar_on_map"
        self.diag.update("route", DiagLevel.OK, f"route to goal via {source}",
                         goal_x=float(goal_xy[0]), goal_y=float(goal_xy[1]),
                         route_points=len(self.planner.route))

    def on_mission(self, msg: Path):
        pts = np.array([[p.pose.position.x, p.pose.position.y] for p in msg.poses], dtype=float).reshape(-1, 2)
        try:
            if len(pts) == 0:
                raise PlanningError("invalid_input", "mission Path is empty")
            if self.planner.route_source == "mission" and self.planner.route is not None and \
                    self.planner.route.shape == pts.shape and np.allclose(self.planner.route, pts, atol=1e-6):
                return  # the same mission re-sent: keep the route
            self.planner.set_route(pts)
            self.active_goal = None
        except PlanningError as exc:
            self.planner.clear()
            self._fail(exc.reason, exc.message)
            return
        self.diag.update("route", DiagLevel.OK, f"mission with {len(pts)} waypoints")

    def on_map(self, msg: OccupancyGrid):
        grid = self._grid_from_msg(msg, "map")
        if grid is None:
            return
        changed = self.map_grid is None or grid.occupied.shape != self.map_grid.occupied.shape or \
            not np.array_equal(grid.occupied, self.map_grid.occupied) or grid.origin_xy != self.map_grid.origin_xy
        self.map_grid = grid
        if changed:
            self.diag.update("map", DiagLevel.OK, f"prior map {grid.occupied.shape[1]}x{grid.occupied.shape[0]} cells, "
                             f"{int(grid.occupied.sum())} occupied")
            # a route built before the map arrived (straight line) or on an older map: re-route
            if self.active_goal is not None and self.ego is not None and self.planner.ref is not None \
                    and self.planner.route_source != "already_at_goal":
                self._route_to(self.active_goal)

    def on_occupancy(self, msg: OccupancyGrid):
        grid = self._grid_from_msg(msg, "occupancy")
        if grid is None:
            return
        self.grid = grid
        self.grid_rx_s = self._clock_s()
        self.diag.update("occupancy", DiagLevel.OK, f"{grid.occupied.shape[1]}x{grid.occupied.shape[0]} grid, "
                         f"{int(grid.occupied.sum())} occupied cells")

    def _grid_from_msg(self, msg: OccupancyGrid, name: str):
        info = msg.info
        h, w = int(info.height), int(info.width)
        if h < 2 or w < 2 or len(msg.data) != h * w or not (info.resolution > 0 and math.isfinite(info.resolution)):
            self.diag.update(name, DiagLevel.WARN,
                             f"rejected OccupancyGrid: {w}x{h} cells, {len(msg.data)} values, "
                             f"resolution {info.resolution}")
            return None
        data = np.asarray(msg.data, dtype=np.int16).reshape(h, w)
        occ = data >= self.p.occupied_threshold
        if self.p.unknown_is_occupied:
            occ |= data < 0
        oq = info.origin.orientation
        oyaw = yaw_of(oq)
        ox, oy = info.origin.position.x, info.origin.position.y
        if abs(oyaw) > 1e-6:  # rotated grid origin: fold the rotation into the frame pose
            frame_local = (ox, oy, oyaw)
            origin = (0.0, 0.0)
        else:
            frame_local = (0.0, 0.0, 0.0)
            origin = (ox, oy)
        if msg.header.frame_id == "base_link":
            if self.ego is None:
                self.diag.update(name, DiagLevel.WARN, "base_link grid before any odometry: ignored")
                return None
            e = self.ego
            c, s = math.cos(e.yaw), math.sin(e.yaw)
            fx = e.x + c * frame_local[0] - s * frame_local[1]
            fy = e.y + s * frame_local[0] + c * frame_local[1]
            frame = (fx, fy, e.yaw + frame_local[2])
        else:
            frame = frame_local
        return GridInFrame(occ, float(info.resolution), origin, frame)

    def on_objects(self, msg: PointCloud2):
        from ..perception.ros_convert import CloudFormatError, cloud_fields

        try:
            arr = cloud_fields(msg, ("x", "y", "vx", "vy", "yaw", "length", "width"))
        except CloudFormatError as exc:
            self.diag.update("objects", DiagLevel.WARN, f"rejected perception/objects: {exc}")
            return
        ok = np.all(np.isfinite(arr), axis=1)
        if not ok.all():
            self.diag.update("objects", DiagLevel.WARN, f"dropped {int((~ok).sum())} objects with NaN/inf fields")
        arr = arr[ok]
        if msg.header.frame_id == "base_link" and self.ego is not None and len(arr):
            e = self.ego
            c, s = math.cos(e.yaw), math.sin(e.yaw)
            x = e.x + c * arr[:, 0] - s * arr[:, 1]
            y = e.y + s * arr[:, 0] + c * arr[:, 1]
            vx = c * arr[:, 2] - s * arr[:, 3]
            vy = s * arr[:, 2] + c * arr[:, 3]
            arr = np.column_stack([x, y, vx, vy, arr[:, 4] + e.yaw, arr[:, 5], arr[:, 6]])
        self.objects = ObjectStates.from_velocity(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], yaw=arr[:, 4],
                                                  length_m=np.maximum(arr[:, 5], 0.1),
                                                  width_m=np.maximum(arr[:, 6], 0.1))
        self.objects_rx_s = self._clock_s()
        # react at once (rate-limited to 50 Hz) instead of waiting for the next timer tick
        if self.p.replan_on_objects and self.planner.ref is not None and self._clock_s() - self._last_plan_s > 0.02:
            self.on_timer()

    def _fresh_grid(self):
        if self.grid is None or self._clock_s() - self.grid_rx_s > self.p.occupancy_timeout_s:
            return None
        return self.grid

    # ---- output ------------------------------------------------------------------------
    def _fail(self, reason: str, message: str):
        self.diag.update("planner", DiagLevel.ERROR, f"{reason}: {message}; publishing stop (empty path)")
        self.get_logger().error(f"{reason}: {message}")
        self._publish_stop()
        self.last_status = reason

    def _publish_stop(self):
        path = Path()
        path.header.stamp = self.get_clock().now().to_msg()
        path.header.frame_id = self.odom_frame
        self.pub_traj.publish(path)

    def on_timer(self):
        fresh = self.check_watchdogs()
        if not fresh or self.ego is None:
            status = self.odom_watchdog.status(self.now_s())
            self.diag.update("planner", DiagLevel.ERROR,
                             f"stale_odom: localization/odom {status.reason}; publishing stop (empty path)")
            self._publish_stop()
            return
        objects = self.objects if self._clock_s() - self.objects_rx_s <= self.p.objects_timeout_s else None
        t0 = time.perf_counter()
        self._last_plan_s = self._clock_s()
        try:
            out = self.planner.plan(self.ego, objects, self._fresh_grid())
        except PlanningError as exc:
            self._fail(exc.reason, exc.message)
            return
        ms = (time.perf_counter() - t0) * 1e3
        self.plan_ms = (self.plan_ms + [ms])[-200:]
        if out.trajectory is None:
            level = DiagLevel.OK if out.status == "goal_reached" else DiagLevel.WARN
            if out.status == "no_route" and self.last_status in ("unreachable", "goal_in_obstacle", "invalid_input",
                                                                 "start_in_obstacle", "goal_outside_map",
                                                                 "start_outside_map"):
                level = DiagLevel.ERROR  # keep reporting why there is no route
                self._publish_stop()
                return
            self.diag.update("planner", level, out.message)
            self._publish_stop()
            self.last_status = out.status
            return
        self._publish_trajectory(out.trajectory)
        level = DiagLevel.ERROR if out.status.startswith("emergency") else DiagLevel.OK
        self.diag.update("planner", level, f"{out.status}: {out.message}", plan_ms=ms,
                         plan_ms_p95=float(np.percentile(self.plan_ms, 95)))
        self.last_status = out.status

    def _publish_trajectory(self, traj):
        now_s = self.now_s()
        path = Path()
        path.header.stamp = s_to_stamp(now_s)
        path.header.frame_id = self.odom_frame
        # cut repeated standstill points at the end: arc length must keep growing
        step = np.hypot(np.diff(traj.x), np.diff(traj.y))
        moving = np.concatenate([[True], step > 1e-4])
        last = int(np.nonzero(moving)[0][-1])
        if last < 1:
            # a braking profile from standstill: no motion left, which is "stop and hold"
            self._publish_stop()
            return
        for i in range(last + 1):
            ps = PoseStamped()
            ps.header.frame_id = self.odom_frame
            ps.header.stamp = s_to_stamp(now_s + float(traj.t_s[i]))
            ps.pose.position.x = float(traj.x[i])
            ps.pose.position.y = float(traj.y[i])
            ps.pose.orientation.z = math.sin(float(traj.yaw[i]) / 2.0)
            ps.pose.orientation.w = math.cos(float(traj.yaw[i]) / 2.0)
            path.poses.append(ps)
        self.pub_traj.publish(path)


def main(args=None):
    run_node(PlannerNode, args)


if __name__ == "__main__":
    main()

"""Demo autopilots: thin ROS nodes around the planning and control helpers' cores.

`skyroad demo` runs them in-process next to the launched stack when the launch file does not
start planner/controller nodes of its own (see skyroad.sim.demo). No algorithm lives here:
  car:  skyroad.planning.grid_astar.plan_grid_path (A* with footprint inflation on the prior map)
        + skyroad.control.pure_pursuit.PurePursuit, with a stop when lidar returns lie in the
        swept corridor of the path ahead (stopping for actors);
  uav:  skyroad.control.multirotor.WaypointFollower -> body-frame cmd_vel for
        MulticopterVelocityControl.
"""
from __future__ import annotations

import math

import numpy as np
from geometry_msgs.msg import PoseStamped, Twist
from nav_msgs.msg import OccupancyGrid, Odometry, Path
from sensor_msgs.msg import LaserScan

from ..common.params import ParamSpec
from ..common.ros import LATCHED_QOS, RELIABLE_QOS, SENSOR_QOS, DiagLevel, SkyroadNode
from ..control.multirotor import MultirotorConfig, WaypointFollower
from ..control.pure_pursuit import PurePursuit, PurePursuitConfig
from ..control.twist import ackermann_to_twist, enu_velocity_to_body
from ..planning.grid import PlanningError
from ..planning.grid_astar import plan_grid_path
from ..common.geometry import yaw_of




def corridor_blocked(points_xy: np.ndarray, path_xy: np.ndarray, start_index: int, half_width_m: float,
                     ahead_m: float) -> bool:
    """True when a point lies within half_width_m of the path polyline, no more than ahead_m of
    path length past start_index. Core geometry, kept here because only the demo uses it."""
    if len(points_xy) == 0 or len(path_xy) < 2:
        return False
    seg_len = np.linalg.norm(np.diff(path_xy, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    i0 = min(start_index, len(path_xy) - 2)
    last = int(np.searchsorted(cum, cum[i0] + ahead_m)) + 1
    a = path_xy[i0:min(last, len(path_xy) - 1)]
    b = path_xy[i0 + 1:min(last, len(path_xy) - 1) + 1]
    if len(a) == 0:
        return False
    ab = b - a
    denom = np.maximum(np.sum(ab * ab, axis=1), 1e-12)
    ap = points_xy[:, None, :] - a[None, :, :]
    t = np.clip(np.sum(ap * ab[None], axis=2) / denom[None], 0.0, 1.0)
    closest = a[None] + t[..., None] * ab[None]
    dist = np.linalg.norm(points_xy[:, None, :] - closest, axis=2)
    return bool(np.any(dist <= half_width_m))


class CarAutopilot(SkyroadNode):
    PARAMS = (
        ParamSpec("control_rate_hz", 20.0, "pure pursuit rate", min=1.0, max=200.0, unit="Hz"),
        ParamSpec("wheelbase_m", 2.578, "wheelbase (CommonRoad vehicle 2)", min=0.5, max=6.0, unit="m"),
        ParamSpec("max_steer_rad", 0.5, "steering limit of the car model", min=0.05, max=1.2, unit="rad"),
        ParamSpec("cruise_speed_mps", 6.0, "speed on straight path", min=0.5, max=20.0, unit="m/s"),
        ParamSpec("robot_radius_m", 1.3, "disc footprint for A* inflation (half width + margin)", min=0.1,
                  max=5.0, unit="m"),
        ParamSpec("rear_axle_offset_m", 0.0, "odom frame origin ahead of the rear axle", min=-5.0, max=5.0, unit="m"),
        ParamSpec("lidar_x_m", 3.45, "lidar mount x in base_link", min=-5.0, max=5.0, unit="m"),
        ParamSpec("corridor_half_width_m", 1.1, "half width of the swept corridor checked for obstacles "
                  "(car half width 0.805 m + 0.3 m; below robot_radius_m so the walls along the path never block)",
                  min=0.3, max=5.0, unit="m"),
        ParamSpec("body_x_range_m", [-1.2, 3.55], "car body extent along x in base_link: lidar returns from the "
                  "car itself (its wheels) are dropped", length=2, unit="m"),
        ParamSpec("body_half_width_m", 0.9, "car body half width for the self filter", min=0.1, max=3.0, unit="m"),
        ParamSpec("stop_decel_mps2", 3.0, "deceleration assumed for the stopping distance", min=0.5, max=10.0,
                  unit="m/s^2"),
        ParamSpec("stop_margin_m", 4.0, "extra distance kept to an obstacle in the corridor", min=0.5, max=20.0,
                  unit="m"),
    )

    def __init__(self, context=None, **kw):
        super().__init__("car_autopilot", context=context, **kw)
        self.pp = PurePursuit(PurePursuitConfig(wheelbase_m=self.p.wheelbase_m, max_steer_rad=self.p.max_steer_rad,
                                                max_speed_mps=self.p.cruise_speed_mps, goal_tolerance_m=0.5,
                                                rear_axle_offset_m=self.p.rear_axle_offset_m))
        self.map_msg = None
        self.goal = None
        self.path = None
        self.odom = None
        self.scan_points_xy = np.zeros((0, 2))
        self.blocked = False
        self.goal_reached = False
        self.cmd_pub = self.create_publisher(Twist, "cmd_vel", RELIABLE_QOS)
        self.path_pub = self.create_publisher(Path, "planning/trajectory", LATCHED_QOS)
        self.create_subscription(Odometry, "odom", self._on_odom, RELIABLE_QOS)
        self.create_subscription(PoseStamped, "goal_pose", self._on_goal, LATCHED_QOS)
        self.create_subscription(OccupancyGrid, "/map", self._on_map, LATCHED_QOS)
        self.create_subscription(LaserScan, "sensors/scan", self._on_scan, SENSOR_QOS)
        self.create_timer(1.0 / self.p.control_rate_hz, self._control)

    def _on_odom(self, msg):
        self.odom = msg

    def _on_map(self, msg):
        changed = self.map_msg is None or list(self.map_msg.data) != list(msg.data)
        self.map_msg = msg
        if changed:
            self._plan()

    def _on_goal(self, msg):
        goal = (msg.pose.position.x, msg.pose.position.y)
        if goal == self.goal and self.path is not None:
            return          # re-sent goal: keep the current path
        self.goal = goal
        self.goal_reached = False
        self._plan()

    def _on_scan(self, msg):
        if self.odom is None:
            return
        r = np.asarray(msg.ranges, dtype=float)
        ang = msg.angle_min + msg.angle_increment * np.arange(len(r))
        ok = np.isfinite(r)
        px = self.p.lidar_x_m + r[ok] * np.cos(ang[ok])
        py = r[ok] * np.sin(ang[ok])
        x0, x1 = self.p.body_x_range_m
        own = (px >= x0) & (px <= x1) & (np.abs(py) <= self.p.body_half_width_m)
        px, py = px[~own], py[~own]
        pose = self.odom.pose.pose
        yaw = yaw_of(pose.orientation)
        c, s = math.cos(yaw), math.sin(yaw)
        self.scan_points_xy = np.stack([pose.position.x + c * px - s * py, pose.position.y + s * px + c * py], axis=1)

    def _plan(self):
        if self.map_msg is None or self.goal is None or self.odom is None:
            return
        m = self.map_msg
        grid = np.asarray(m.data, dtype=np.int16).reshape(m.info.height, m.info.width) >= 50
        start = (self.odom.pose.pose.position.x, self.odom.pose.pose.position.y)
        try:
            path = plan_grid_path(grid, m.info.resolution, (m.info.origin.position.x, m.info.origin.position.y),
                                  start, self.goal, self.p.robot_radius_m)
        except PlanningError as exc:
            self.diag.update("planner", DiagLevel.ERROR, f"no path: {exc}")
            self.get_logger().error(f"no path to goal: {exc}")
            self.path = None
            return
        self.path = path
        self.pp.reset()
        out = Path()
        out.header.frame_id = "map"
        out.header.stamp = self.get_clock().now().to_msg()
        for x, y in path:
            ps = PoseStamped()
            ps.header.frame_id = "map"
            ps.pose.position.x, ps.pose.position.y = float(x), float(y)
            out.poses.append(ps)
        self.path_pub.publish(out)
        self.diag.update("planner", DiagLevel.OK, f"path of {len(path)} points")

    def _control(self):
        cmd = Twist()
        if self.path is None or self.odom is None:
            if self.odom is not None and self.goal is not None and self.map_msg is not None:
                self._plan()
            self.cmd_pub.publish(cmd)
            return
        pose = self.odom.pose.pose
        yaw = yaw_of(pose.orientation)
        v = self.odom.twist.twist.linear.x
        speed, steer = self.pp.command(pose.position.x, pose.position.y, yaw, v, self.path)
        nearest = int(np.argmin(np.linalg.norm(self.path - [pose.position.x, pose.position.y], axis=1)))
        ahead = v * v / (2.0 * self.p.stop_decel_mps2) + self.p.stop_margin_m + self.p.lidar_x_m
        self.blocked = corridor_blocked(self.scan_points_xy, self.path, nearest, self.p.corridor_half_width_m, ahead)
        if self.blocked:
            speed = 0.0
            self.diag.update("corridor", DiagLevel.WARN, "obstacle in the path ahead: stopped")
        else:
            self.diag.update("corridor", DiagLevel.OK, "clear")
        if self.pp.status is not None and getattr(self.pp.status, "goal_reached", False):
            self.goal_reached = True
        lin, ang = ackermann_to_twist(speed, steer, self.p.wheelbase_m)
        cmd.linear.x, cmd.angular.z = float(lin), float(ang)
        self.cmd_pub.publish(cmd)


class UavAutopilot(SkyroadNode):
    PARAMS = (
        ParamSpec("control_rate_hz", 20.0, "waypoint follower rate", min=1.0, max=200.0, unit="Hz"),
        ParamSpec("max_speed_xy_mps", 4.0, "horizontal speed limit", min=0.2, max=15.0, unit="m/s"),
        ParamSpec("acceptance_radius_m", 1.0, "waypoint reached within", min=0.1, max=10.0, unit="m"),
    )

    def __init__(self, context=None, **kw):
        super().__init__("uav_autopilot", context=context, **kw)
        self.follower = WaypointFollower(MultirotorConfig(max_speed_xy_mps=self.p.max_speed_xy_mps,
                                                          acceptance_radius_m=self.p.acceptance_radius_m))
        self.odom = None
        self.pending = None
        self._mission = None
        self.mission_complete = False
        self.cmd_pub = self.create_publisher(Twist, "cmd_vel", RELIABLE_QOS)
        self.create_subscription(Odometry, "odom", self._on_odom, RELIABLE_QOS)
        self.create_subscription(Path, "mission", self._on_mission, LATCHED_QOS)
        self.create_timer(1.0 / self.p.control_rate_hz, self._control)
        self._last_t = None

    def _on_odom(self, msg):
        self.odom = msg

    def _on_mission(self, msg):
        wp = np.array([[p.pose.position.x, p.pose.position.y, p.pose.position.z] for p in msg.poses])
        if self._mission is not None and wp.shape == self._mission.shape and np.array_equal(wp, self._mission):
            return          # the operator re-sends its mission; only a new one restarts
        self._mission = wp
        self.pending = wp

    def _state(self):
        pose = self.odom.pose.pose
        q = pose.orientation
        yaw = yaw_of(q)
        # odometry twist is in the body frame: rotate to ENU with the full attitude
        w, x, y, z = q.w, q.x, q.y, q.z
        rot = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
        t = self.odom.twist.twist.linear
        vel = rot @ np.array([t.x, t.y, t.z])
        return np.array([pose.position.x, pose.position.y, pose.position.z]), vel, yaw

    def _control(self):
        cmd = Twist()
        if self.odom is None:
            self.cmd_pub.publish(cmd)
            return
        pos, vel, yaw = self._state()
        if self.pending is not None:
            self.follower.set_mission(self.pending, pos, velocity_enu=vel)
            self.pending = None
        now = self.now_s()
        dt = 1.0 / self.p.control_rate_hz if self._last_t is None else max(1e-3, now - self._last_t)
        self._last_t = now
        out = self.follower.update(pos, vel, yaw, dt)
        self.mission_complete = out.mission_complete
        body = enu_velocity_to_body(out.velocity_enu_mps, yaw)
        cmd.linear.x, cmd.linear.y, cmd.linear.z = (float(v) for v in body)
        cmd.angular.z = float(out.yaw_rate_radps)
        self.cmd_pub.publish(cmd)

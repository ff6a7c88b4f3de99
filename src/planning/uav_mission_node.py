"""uav_mission_node: `mission` (nav_msgs/Path waypoints) -> route -> `control/cmd_vel_nominal`.

Thin adapter: the route comes from `planning.uav_mission.plan_mission_route` (geofence reroute
around the zones in `zone_files`, else straight legs), the velocity setpoints from
`control.multirotor.WaypointFollower`. The geofence node gates `control/cmd_vel_nominal` to
`cmd_vel`, so this node never publishes `cmd_vel` itself.

Subscribes  mission (nav_msgs/Path, map frame, z = height above the map origin),
            localization/odom (nav_msgs/Odometry: pose in map, twist in the child frame)
Publishes   control/cmd_vel_nominal (geometry_msgs/Twist; frame per `cmd_frame`: body_yaw =
            heading-rotated body frame, what Gazebo's MulticopterVelocityControl takes),
            planning/route (nav_msgs/Path, latched: the planned route), /diagnostics.
Stale odometry -> zero velocity (hover) + ERROR; a mission that cannot be planned -> hover +
ERROR naming the leg and the reason; never a crash.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
from geometry_msgs.msg import PoseStamped, Twist
from nav_msgs.msg import Odometry, Path

from skyroad.common.geometry import yaw_from_quaternion
from skyroad.common.params import ParameterConfigError, ParamSpec
from skyroad.common.ros import (LATCHED_QOS, RELIABLE_QOS, SENSOR_QOS, DiagLevel, SkyroadNode,
                                run_node, stamp_to_s)
from skyroad.control._checks import ControlConfigError
from skyroad.control.multirotor import MissionError as FollowerMissionError
from skyroad.control.multirotor import MultirotorConfig, WaypointFollower
from skyroad.control.twist import enu_velocity_to_body

from .uav_mission import MissionError, plan_mission_route


def _quat_rotate(q, v):
    """Rotate vector v by unit quaternion q = (x, y, z, w)."""
    x, y, z, w = q
    n = math.sqrt(x * x + y * y + z * z + w * w)
    if n < 1e-9:
        raise ValueError("zero-norm quaternion")
    x, y, z, w = x / n, y / n, z / n, w / n
    u = np.array([x, y, z])
    v = np.asarray(v, dtype=float)
    return 2.0 * np.dot(u, v) * u + (w * w - np.dot(u, u)) * v + 2.0 * w * np.cross(u, v)


class UavMissionNode(SkyroadNode):
    PARAMS = (
        ParamSpec("rate_hz", 20.0, "control rate", min=1.0, max=500.0, unit="Hz", read_only=True),
        ParamSpec("acceptance_radius_m", 1.0, "waypoint reached within", min=0.05, max=100.0, unit="m"),
        ParamSpec("max_speed_xy_mps", 5.0, "horizontal speed limit", min=0.1, max=50.0, unit="m/s"),
        ParamSpec("max_speed_up_mps", 2.5, "climb rate limit", min=0.1, max=20.0, unit="m/s"),
        ParamSpec("max_speed_down_mps", 1.5, "descent rate limit", min=0.1, max=20.0, unit="m/s"),
        ParamSpec("max_accel_xy_mps2", 2.0, "horizontal acceleration limit", min=0.1, max=20.0, unit="m/s^2"),
        ParamSpec("max_accel_z_mps2", 1.5, "vertical acceleration limit", min=0.1, max=20.0, unit="m/s^2"),
        ParamSpec("position_gain_1ps", 1.0, "position loop gain", min=0.01, max=20.0, unit="1/s"),
        ParamSpec("max_yaw_rate_radps", 0.8, "yaw rate limit", min=0.01, max=10.0, unit="rad/s"),
        ParamSpec("cmd_frame", "body_yaw", "frame of the velocity command: body_yaw (Gazebo "
                  "MulticopterVelocityControl) or map", choices=("body_yaw", "map")),
        ParamSpec("odom_timeout_s", 0.5, "odometry silent this long -> hover", min=0.01, max=10.0, unit="s"),
        ParamSpec("odom_max_age_s", 1.0, "odometry stamp older than this -> hover", min=0.01, max=10.0, unit="s"),
        ParamSpec("min_altitude_m", -1000.0, "waypoints below this height are rejected",
                  min=-10000.0, max=10000.0, unit="m"),
        ParamSpec("reroute_margin_m", 10.0, "clearance kept from restricted zones", min=0.0,
                  max=10000.0, unit="m"),
        ParamSpec("zone_files", [""], "zone files for rerouting (same as the geofence's); empty = "
                  "straight legs"),
        ParamSpec("authorised_zones", [""], "zone identifiers this vehicle may enter"),
        ParamSpec("origin_lat_deg", 46.5, "latitude of the map origin", min=-89.9, max=89.9, unit="deg"),
        ParamSpec("origin_lon_deg", 7.0, "longitude of the map origin", min=-180.0, max=180.0, unit="deg"),
        ParamSpec("origin_alt_amsl_m", 500.0, "altitude AMSL of the map origin", min=-500.0,
                  max=9000.0, unit="m"),
        ParamSpec("ground_elevation_amsl_m", 500.0, "terrain elevation for AGL limits", min=-500.0,
                  max=9000.0, unit="m"),
        ParamSpec("geoid_undulation_m", 0.0, "geoid undulation", min=-120.0, max=120.0, unit="m"),
    )

    def __init__(self, context=None, **node_kwargs):
        super().__init__("uav_mission_node", context=context, **node_kwargs)
        try:
            self._follower = WaypointFollower(self._follower_config(self.p.as_dict()))
        except ControlConfigError as error:
            raise ParameterConfigError(f"{self.get_fully_qualified_name()}: {error}") from error
        self._zones = None
        reason = self._load_zones(self.p.as_dict())
        if reason:
            raise ParameterConfigError(f"{self.get_fully_qualified_name()}: parameter 'zone_files' "
                                       f"rejected at start-up: {reason}")
        self._odom_wd = self.add_watchdog("odom", timeout_s=self.p.odom_timeout_s,
                                          max_stamp_age_s=self.p.odom_max_age_s)
        self._state: Optional[tuple] = None      # position, velocity_enu, yaw
        self._pending: Optional[np.ndarray] = None
        self._frame = "map"
        self._last_t: Optional[float] = None
        self.route = None
        self.mission_error: Optional[str] = None
        self.last_velocity_enu = np.zeros(3)
        self._pub = self.create_publisher(Twist, "control/cmd_vel_nominal", RELIABLE_QOS)
        self._route_pub = self.create_publisher(Path, "planning/route", LATCHED_QOS)
        self.create_subscription(Odometry, "localization/odom", self._on_odom, SENSOR_QOS)
        self.create_subscription(Path, "mission", self._on_mission, RELIABLE_QOS)
        self.create_timer(1.0 / self.p.rate_hz, self._on_timer)

    # ---- configuration -----------------------------------------------------------------------
    @staticmethod
    def _follower_config(p) -> MultirotorConfig:
        return MultirotorConfig(acceptance_radius_m=p["acceptance_radius_m"],
                                max_speed_xy_mps=p["max_speed_xy_mps"], max_speed_up_mps=p["max_speed_up_mps"],
                                max_speed_down_mps=p["max_speed_down_mps"],
                                max_accel_xy_mps2=p["max_accel_xy_mps2"], max_accel_z_mps2=p["max_accel_z_mps2"],
                                position_gain_1ps=p["position_gain_1ps"],
                                max_yaw_rate_radps=p["max_yaw_rate_radps"])

    def _load_zones(self, p) -> Optional[str]:
        files = [f for f in p["zone_files"] if f.strip()]
        if not files:
            self._zones = None
            return None
        try:
            from skyroad.airspace_geofence.geodesy import LocalFrame
            from skyroad.airspace_geofence.importers import load_zone_file
            from skyroad.airspace_geofence.index import VerticalDatum, ZoneSet
            from skyroad.airspace_geofence.model import ZoneError
        except ImportError as error:
            return f"geofence package unavailable for rerouting: {error}"
        try:
            zones = []
            for path in files:
                zones += load_zone_file(path).zones
            frame = LocalFrame(p["origin_lat_deg"], p["origin_lon_deg"], p["origin_alt_amsl_m"])
            datum = VerticalDatum(p["ground_elevation_amsl_m"], p["geoid_undulation_m"])
            self._zones = ZoneSet(zones, frame=frame, datum=datum) if zones else None
        except (ZoneError, ValueError) as error:
            return str(error)
        return None

    def check_params(self, values: dict):
        try:
            self._follower_config(values)
        except ControlConfigError as error:
            return str(error)
        return None

    def on_params_changed(self, changed: dict) -> None:
        self._follower.config = self._follower_config(self.p.as_dict())
        if {"zone_files", "origin_lat_deg", "origin_lon_deg", "origin_alt_amsl_m",
                "ground_elevation_amsl_m", "geoid_undulation_m"} & set(changed):
            reason = self._load_zones(self.p.as_dict())
            if reason:
                self.diag.update("zones", DiagLevel.ERROR, f"zones not reloaded: {reason}")

    # ---- inputs ----------------------------------------------------------------------------
    def _on_odom(self, msg: Odometry) -> None:
        p = msg.pose.pose
        q = (p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w)
        try:
            pos = np.array([p.position.x, p.position.y, p.position.z])
            vel = _quat_rotate(q, [msg.twist.twist.linear.x, msg.twist.twist.linear.y,
                                   msg.twist.twist.linear.z])
            yaw = yaw_from_quaternion(*q)
        except ValueError:
            self._odom_wd.reject()
            return
        if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(vel)) and math.isfinite(yaw)):
            self._odom_wd.reject()
            return
        self._state = (pos, vel, yaw)
        self._odom_wd.feed(stamp_s=stamp_to_s(msg.header.stamp), now_stamp_s=self.now_s())
        if self._pending is not None:
            waypoints, self._pending = self._pending, None
            self._start_mission(waypoints)

    def _on_mission(self, msg: Path) -> None:
        waypoints = np.array([[ps.pose.position.x, ps.pose.position.y, ps.pose.position.z]
                              for ps in msg.poses], dtype=float).reshape(-1, 3)
        self._frame = msg.header.frame_id or "map"
        if self._state is None:
            self._pending = waypoints     # planned from the first position we get
            self.diag.update("mission", DiagLevel.WARN, "mission received, waiting for odometry",
                             waypoints=len(waypoints))
            return
        self._start_mission(waypoints)

    def _start_mission(self, waypoints: np.ndarray) -> None:
        pos, vel, _ = self._state
        try:
            route = plan_mission_route(waypoints, pos, zones=self._zones, margin_m=self.p.reroute_margin_m,
                                       min_altitude_m=self.p.min_altitude_m,
                                       authorised=[z for z in self.p.authorised_zones if z.strip()])
            self._follower.set_mission(route.points[1:], pos, velocity_enu=vel)
        except (MissionError, FollowerMissionError) as error:
            self._reject_mission(str(error))
            return
        except Exception as error:  # noqa: BLE001 - a reroute failure must not take the node down
            self.get_logger().error(f"mission planning failed: {type(error).__name__}: {error}")
            self._reject_mission(f"mission planning failed ({type(error).__name__}: {error})")
            return
        self.route = route
        self.mission_error = None
        self._publish_route(route)
        self.get_logger().info(f"mission: {len(waypoints)} waypoints, route {route.length_m:.0f} m "
                               f"({route.planner}, rerouted legs {list(route.rerouted_legs)})")
        self.diag.update("mission", DiagLevel.OK, "mission started", waypoints=len(waypoints),
                         route_points=len(route.points), route_length_m=route.length_m,
                         planner=route.planner)

    def _reject_mission(self, reason: str) -> None:
        self.route = None
        self.mission_error = reason
        self._follower.clear()
        self.diag.update("mission", DiagLevel.ERROR, f"mission rejected, hovering: {reason}")

    def _publish_route(self, route) -> None:
        msg = Path()
        msg.header.frame_id = self._frame
        msg.header.stamp = self.get_clock().now().to_msg()
        for p in route.points:
            ps = PoseStamped()
            ps.header.frame_id = self._frame
            ps.pose.position.x, ps.pose.position.y, ps.pose.position.z = map(float, p)
            ps.pose.orientation.w = 1.0
            msg.poses.append(ps)
        self._route_pub.publish(msg)

    # ---- loop ------------------------------------------------------------------------------
    def _hover(self, level: DiagLevel, reason: str) -> None:
        self._pub.publish(Twist())
        self.last_velocity_enu = np.zeros(3)
        self.diag.update("control", level, reason)

    def _on_timer(self) -> None:
        now = self.now_s()
        dt = 1.0 / self.p.rate_hz if self._last_t is None else max(1e-3, now - self._last_t)
        self._last_t = now
        self.check_watchdogs()
        if self._state is None or self._odom_wd.is_stale(now):
            self._hover(DiagLevel.ERROR, "HOVER: odometry stale or missing")
            return
        if not self._follower.has_mission:
            self._hover(DiagLevel.ERROR if self.mission_error else DiagLevel.OK,
                        f"HOVER: {self.mission_error}" if self.mission_error else "idle, no mission")
            return
        pos, vel, yaw = self._state
        try:
            cmd = self._follower.update(pos, vel, yaw, dt)
        except Exception as error:  # noqa: BLE001 - hover rather than lose the node
            self.get_logger().error(f"waypoint follower failed: {type(error).__name__}: {error}")
            self._hover(DiagLevel.ERROR, f"HOVER: waypoint follower failed ({type(error).__name__}: {error})")
            return
        v = cmd.velocity_enu_mps
        lin = enu_velocity_to_body(v, yaw) if self.p.cmd_frame == "body_yaw" else v
        msg = Twist()
        msg.linear.x, msg.linear.y, msg.linear.z = map(float, lin)
        msg.angular.z = float(cmd.yaw_rate_radps)
        self._pub.publish(msg)
        self.last_velocity_enu = v
        self.diag.update("control", DiagLevel.OK,
                         "mission complete, holding position" if cmd.mission_complete else "flying mission",
                         target_index=cmd.target_index, distance_to_target_m=cmd.distance_to_target_m,
                         mission_complete=cmd.mission_complete)

    @property
    def mission_complete(self) -> bool:
        return self._follower.mission_complete


def main(args=None):
    run_node(UavMissionNode, args)


if __name__ == "__main__":
    main()

"""geofence_node: the single gate between commands and the vehicle (`cmd_vel`).

Subscribes `localization/odom` (nav_msgs/Odometry, pose in `map`, twist in the child frame)
and `control/cmd_vel_nominal` (geometry_msgs/Twist); publishes `cmd_vel` (the nominal command
mapped to the closest safe one by the core SafetyFilter), latched `geofence/zones`
(visualization_msgs/MarkerArray) and `/diagnostics` (CLEAR / WARNING / AVOIDING / BREACH,
nearest zone, distances, time-to-breach). Stale or missing odometry -> zero velocity (hover)
and an ERROR status. All algorithms live in the core modules; this file converts messages.

The `map` frame is the geofence's local frame (geodesy.LocalFrame) at `origin_*`:
x east, y north (azimuthal equidistant), z = altitude AMSL - origin_alt_amsl_m.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Optional

import numpy as np
from geometry_msgs.msg import Point, Twist
from nav_msgs.msg import Odometry
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from skyroad.common.params import ParameterConfigError, ParamSpec
from skyroad.common.ros import (LATCHED_QOS, RELIABLE_QOS, SENSOR_QOS, DiagLevel, SkyroadNode,
                                run_node, stamp_to_s)

from .geodesy import LocalFrame
from .importers import load_zone_file
from .index import VerticalDatum, ZoneSet
from .model import ZoneError, parse_utc
from .outlines import zone_outlines
from .safety import FenceStatus, FilterConfig, SafetyFilter, StoppingModel, limit_speed

_LEVEL = {FenceStatus.CLEAR: DiagLevel.OK, FenceStatus.WARNING: DiagLevel.WARN,
          FenceStatus.AVOIDING: DiagLevel.WARN, FenceStatus.BREACH: DiagLevel.ERROR}


def _quat_to_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    n = math.sqrt(x * x + y * y + z * z + w * w)
    if n < 1e-9:
        raise ValueError("zero-norm quaternion")
    x, y, z, w = x / n, y / n, z / n, w / n
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


class GeofenceNode(SkyroadNode):
    PARAMS = (
        ParamSpec("zone_files", [""], "zone files (ED-269, ED-318, GeoJSON, QGC .plan); empty = none"),
        ParamSpec("origin_lat_deg", 46.5, "latitude of the map frame origin", min=-89.9, max=89.9, unit="deg"),
        ParamSpec("origin_lon_deg", 7.0, "longitude of the map frame origin", min=-180.0, max=180.0, unit="deg"),
        ParamSpec("origin_alt_amsl_m", 500.0, "altitude AMSL of the map frame origin (z = 0)",
                  min=-500.0, max=9000.0, unit="m"),
        ParamSpec("ground_elevation_amsl_m", 500.0, "terrain elevation for AGL limits",
                  min=-500.0, max=9000.0, unit="m"),
        ParamSpec("geoid_undulation_m", 0.0, "geoid undulation N for WGS84-referenced limits",
                  min=-120.0, max=120.0, unit="m"),
        ParamSpec("authorised_zones", [""], "zone identifiers this vehicle is authorised for"),
        ParamSpec("zone_time", "wall", "clock for zone applicability (sim time starts at 1970)",
                  choices=("wall", "ros", "fixed")),
        ParamSpec("zone_time_fixed_iso", "2026-01-01T12:00:00Z", "UTC time used when zone_time is fixed"),
        ParamSpec("gnss_sigma_h_m", 3.0, "horizontal position sigma", min=0.0, max=100.0, unit="m"),
        ParamSpec("gnss_sigma_v_m", 4.5, "vertical position sigma", min=0.0, max=100.0, unit="m"),
        ParamSpec("gnss_k_sigma", 5.0, "margin in sigmas", min=0.0, max=10.0),
        ParamSpec("buffer_h_m", 2.0, "horizontal buffer beyond the GNSS margin", min=0.0, max=1000.0, unit="m"),
        ParamSpec("buffer_v_m", 2.0, "vertical buffer beyond the GNSS margin", min=0.0, max=1000.0, unit="m"),
        ParamSpec("reaction_time_s", 0.5, "latency + velocity-loop lag of the stopping model",
                  min=0.0, max=5.0, unit="s"),
        ParamSpec("max_decel_mps2", 3.0, "braking deceleration guaranteed in wind", min=0.1, max=30.0, unit="m/s^2"),
        ParamSpec("max_jerk_mps3", 15.0, "jerk limit of the braking", min=0.1, max=500.0, unit="m/s^3"),
        ParamSpec("max_speed_h_mps", 20.0, "horizontal speed limit", min=0.1, max=100.0, unit="m/s"),
        ParamSpec("max_speed_up_mps", 5.0, "climb rate limit", min=0.1, max=30.0, unit="m/s"),
        ParamSpec("max_speed_down_mps", 3.0, "descent rate limit", min=0.1, max=30.0, unit="m/s"),
        ParamSpec("max_exit_speed_mps", 3.0, "speed of the way out of a zone", min=0.1, max=30.0, unit="m/s"),
        ParamSpec("warn_time_s", 10.0, "WARNING when a breach is predicted within", min=0.0, max=600.0, unit="s"),
        ParamSpec("cmd_frame", "body_yaw", "frame of cmd_vel: body_yaw (yaw-rotated, Gazebo "
                  "MulticopterVelocityControl) or map", choices=("body_yaw", "map")),
        ParamSpec("rate_hz", 20.0, "watchdog / hold rate", min=1.0, max=500.0, unit="Hz", read_only=True),
        ParamSpec("odom_timeout_s", 0.5, "odometry older than this -> hover", min=0.01, max=10.0, unit="s"),
        ParamSpec("cmd_timeout_s", 0.5, "nominal command older than this -> hold (zero nominal)",
                  min=0.01, max=10.0, unit="s"),
        ParamSpec("marker_radius_m", 50_000.0, "zones drawn within this radius of the origin",
                  min=10.0, max=2_000_000.0, unit="m"),
    )

    def __init__(self, context=None, **node_kwargs):
        super().__init__("geofence_node", context=context, **node_kwargs)
        self._zones: Optional[ZoneSet] = None
        self._filter: Optional[SafetyFilter] = None
        self._pending_zones = None
        reason = self._load_zones(self.p.as_dict())
        if reason:
            raise ParameterConfigError(f"{self.get_fully_qualified_name()}: parameter 'zone_files' rejected "
                                       f"at start-up: {reason}")
        self._odom_watchdog = self.add_watchdog("odom", timeout_s=self.p.odom_timeout_s)
        self._cmd_watchdog = self.add_watchdog("cmd_vel_nominal", timeout_s=self.p.cmd_timeout_s)
        self._position: Optional[np.ndarray] = None
        self._velocity = np.zeros(3)
        self._yaw = 0.0
        self._nominal = Twist()
        self._cmd_pub = self.create_publisher(Twist, "cmd_vel", RELIABLE_QOS)
        self._marker_pub = self.create_publisher(MarkerArray, "geofence/zones", LATCHED_QOS)
        self.create_subscription(Odometry, "localization/odom", self._on_odom, SENSOR_QOS)
        self.create_subscription(Twist, "control/cmd_vel_nominal", self._on_nominal, RELIABLE_QOS)
        self.create_timer(1.0 / self.p.rate_hz, self._on_timer)
        self.last_status: Optional[FenceStatus] = None
        self._publish_markers()

    # ---- configuration ---------------------------------------------------------------------
    def _filter_config(self, p: dict) -> FilterConfig:
        return FilterConfig(
            stopping=StoppingModel(p["reaction_time_s"], p["max_decel_mps2"], p["max_jerk_mps3"]),
            gnss_sigma_h_m=p["gnss_sigma_h_m"], gnss_sigma_v_m=p["gnss_sigma_v_m"],
            gnss_k_sigma=p["gnss_k_sigma"], buffer_h_m=p["buffer_h_m"], buffer_v_m=p["buffer_v_m"],
            max_speed_h_mps=p["max_speed_h_mps"], max_speed_up_mps=p["max_speed_up_mps"],
            max_speed_down_mps=p["max_speed_down_mps"], max_exit_speed_mps=p["max_exit_speed_mps"],
            warn_time_s=p["warn_time_s"])

    def _build_zones(self, p: dict):
        files = [f for f in p["zone_files"] if f.strip()]
        frame = LocalFrame(p["origin_lat_deg"], p["origin_lon_deg"], p["origin_alt_amsl_m"])
        datum = VerticalDatum(p["ground_elevation_amsl_m"], p["geoid_undulation_m"])
        zones = []
        for path in files:
            zones += load_zone_file(path).zones
        if p["zone_time"] == "fixed":
            parse_utc(p["zone_time_fixed_iso"])
        return ZoneSet(zones, frame=frame, datum=datum) if zones else None

    def _load_zones(self, p: dict) -> Optional[str]:
        try:
            zones = self._build_zones(p)
        except (ZoneError, ValueError) as error:
            return str(error)
        self._zones = zones
        self._filter = SafetyFilter(zones, self._filter_config(p)) if zones is not None else None
        if zones is not None:
            for zone in zones.zones:
                for repair in zone.repairs:
                    self.get_logger().warning(f"zone '{zone.identifier}' repaired: {repair}")
            self.get_logger().info(f"loaded {len(zones)} zones ({zones.n_volumes} volumes)")
        else:
            self.get_logger().warning("no zone files given: commands pass through (limits and "
                                      "odometry watchdog still apply)")
        return None

    _ZONE_KEYS = ("zone_files", "origin_lat_deg", "origin_lon_deg", "origin_alt_amsl_m",
                  "ground_elevation_amsl_m", "geoid_undulation_m", "zone_time", "zone_time_fixed_iso")

    def check_params(self, values: dict) -> Optional[str]:
        changed = any(values[k] != self.p.as_dict().get(k) for k in self._ZONE_KEYS) if hasattr(self, "p") else False
        if changed:
            try:
                self._pending_zones = (dict(values), self._build_zones(values))
            except (ZoneError, ValueError) as error:
                return f"zones: {error}"
        return None

    def on_params_changed(self, changed: dict) -> None:
        p = self.p.as_dict()
        if any(k in changed for k in self._ZONE_KEYS):
            pending = self._pending_zones
            if pending is not None and all(pending[0][k] == p[k] for k in self._ZONE_KEYS):
                self._zones = pending[1]
            else:
                self._zones = self._build_zones(p)
            self._pending_zones = None
            self._publish_markers()
        if self._zones is not None:
            self._filter = SafetyFilter(self._zones, self._filter_config(p))
        else:
            self._filter = None
        if "odom_timeout_s" in changed:
            self._odom_watchdog.timeout_s = changed["odom_timeout_s"]
        if "cmd_timeout_s" in changed:
            self._cmd_watchdog.timeout_s = changed["cmd_timeout_s"]

    # ---- inputs ---------------------------------------------------------------------------
    def _on_odom(self, msg: Odometry) -> None:
        pose, twist = msg.pose.pose, msg.twist.twist
        values = (pose.position.x, pose.position.y, pose.position.z, pose.orientation.x, pose.orientation.y,
                  pose.orientation.z, pose.orientation.w, twist.linear.x, twist.linear.y, twist.linear.z)
        try:
            if not all(math.isfinite(v) for v in values):
                raise ValueError("non-finite odometry")
            rotation = _quat_to_matrix(pose.orientation.x, pose.orientation.y, pose.orientation.z,
                                       pose.orientation.w)
        except ValueError as error:
            self._odom_watchdog.reject()
            self.diag.update("odometry", DiagLevel.WARN, f"rejected: {error}")
            return
        self._position = np.array([pose.position.x, pose.position.y, pose.position.z])
        # nav_msgs/Odometry: twist is in child_frame_id (body) -> rotate to map
        self._velocity = rotation @ np.array([twist.linear.x, twist.linear.y, twist.linear.z])
        self._yaw = math.atan2(rotation[1, 0], rotation[0, 0])
        self._odom_watchdog.feed(stamp_s=stamp_to_s(msg.header.stamp), now_stamp_s=self.now_s())

    def _on_nominal(self, msg: Twist) -> None:
        values = (msg.linear.x, msg.linear.y, msg.linear.z, msg.angular.x, msg.angular.y, msg.angular.z)
        if not all(math.isfinite(v) for v in values):
            self._cmd_watchdog.reject()
            self.diag.update("command", DiagLevel.WARN, "non-finite cmd_vel_nominal rejected")
            return
        self._nominal = msg
        self._cmd_watchdog.feed()
        if not self._odom_watchdog.is_stale():
            self._publish_filtered(self._nominal)
        else:
            self._hover("odometry stale")

    def _on_timer(self) -> None:
        self.check_watchdogs()
        if self._odom_watchdog.is_stale():
            self._hover("odometry stale")
        elif self._cmd_watchdog.is_stale():
            # no fresh nominal: hold position, but still leave a zone / margin if inside one
            self._publish_filtered(Twist())

    # ---- outputs -------------------------------------------------------------------------------
    def _zone_time(self) -> dt.datetime:
        mode = self.p.zone_time
        if mode == "fixed":
            return parse_utc(self.p.zone_time_fixed_iso)
        if mode == "ros":
            return dt.datetime.fromtimestamp(self.now_s(), dt.timezone.utc)
        return dt.datetime.now(dt.timezone.utc)

    def _hover(self, reason: str) -> None:
        self._cmd_pub.publish(Twist())
        self.last_status = None
        self.diag.update("geofence", DiagLevel.ERROR, f"HOVER: {reason}; commanding zero velocity")

    def _publish_filtered(self, nominal: Twist) -> None:
        c, s = math.cos(self._yaw), math.sin(self._yaw)
        v = np.array([nominal.linear.x, nominal.linear.y, nominal.linear.z])
        if self.p.cmd_frame == "body_yaw":
            v = np.array([c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]])
        out = Twist()
        out.angular.z = nominal.angular.z  # yaw rate passes through; the fence is about position
        if self._filter is None:
            safe = limit_speed(v[None], self._filter_config(self.p.as_dict()))[0]
            status, fields = FenceStatus.CLEAR, {"zones": 0}
        else:
            result = self._filter.filter(self._position[None], self._velocity[None], v[None],
                                         self._zone_time(), [a for a in self.p.authorised_zones if a])
            safe = result.velocity[0]
            status = FenceStatus(int(result.status[0]))
            volume = int(result.nearest_volume[0])
            fields = {
                "nearest_zone": self._zones.zone_of_volume(volume).identifier if volume >= 0 else "",
                "horizontal_m": float(result.nearest_horizontal_m[0]),
                "vertical_m": float(result.nearest_vertical_m[0]),
                "clearance_m": float(result.min_clearance_m[0]),
                "time_to_breach_s": float(result.time_to_breach_s[0]),
                "zones": len(self._zones)}
        if self.p.cmd_frame == "body_yaw":
            safe = np.array([c * safe[0] + s * safe[1], -s * safe[0] + c * safe[1], safe[2]])
        out.linear.x, out.linear.y, out.linear.z = (float(x) for x in safe)
        self._cmd_pub.publish(out)
        self.last_status = status
        self.diag.update("geofence", _LEVEL[status], status.name, **fields)

    def _publish_markers(self) -> None:
        array = MarkerArray()
        clear = Marker()
        clear.action = Marker.DELETEALL
        array.markers.append(clear)
        if self._zones is not None:
            for outline in zone_outlines(self._zones, radius_m=self.p.marker_radius_m):
                marker = Marker()
                marker.header.frame_id = "map"
                marker.ns = outline.namespace
                marker.id = outline.volume
                marker.type = Marker.LINE_LIST
                marker.action = Marker.ADD
                marker.pose.orientation.w = 1.0
                marker.scale.x = 2.0
                marker.color = ColorRGBA(r=outline.colour[0], g=outline.colour[1], b=outline.colour[2],
                                         a=outline.colour[3])
                marker.text = outline.zone_id
                marker.points = [Point(x=float(p[0]), y=float(p[1]), z=float(p[2]))
                                 for p in outline.segments.reshape(-1, 3)]
                array.markers.append(marker)
        self._marker_pub.publish(array)


def main(args=None):
    return run_node(GeofenceNode, args)


if __name__ == "__main__":
    main()

"""skyroad.airspace_geofence: UAS geographical zones (ED-269 / ED-318 / GeoJSON / QGC plan),
spatial index, predictive breach, CBF safety filter and reroute (see README.md here).

Core API (no rclpy): `load_zone_files`, `ZoneSet`, `LocalFrame`, `VerticalDatum`,
`SafetyFilter`, `plan_route`. The ROS node is `skyroad.airspace_geofence.node`.
"""
from .geodesy import LocalFrame
from .index import VerticalDatum, ZoneSet, load_zone_files
from .model import Restriction, Zone, ZoneError
from .reroute import RouteError, plan_route
from .safety import FenceStatus, FilterConfig, SafetyFilter, StoppingModel

__all__ = ["LocalFrame", "VerticalDatum", "ZoneSet", "load_zone_files", "Restriction", "Zone", "ZoneError",
           "RouteError", "plan_route", "FenceStatus", "FilterConfig", "SafetyFilter", "StoppingModel"]

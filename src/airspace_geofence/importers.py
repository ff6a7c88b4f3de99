"""Zone file importers (core: no rclpy).

Formats, detected from the content (the file name is never trusted):
- EUROCAE ED-269 JSON: `{"UASZoneList": [...]}` or `{"features": [...]}` whose items carry
  `geometry: [{horizontalProjection, lowerLimit, ...}]`.
- EUROCAE ED-318 GeoJSON (LayeredGeoJSON): FeatureCollection whose geometries carry a
  `layer` (and Points an `extent` circle), properties with `identifier` and `type`.
- Plain GeoJSON: Polygon / MultiPolygon features (or Point + `radius`), optional properties
  `restriction`, `lower`, `upper`, `uom`, `lowerReference`, `upperReference`, `keep_in`.
  Without a restriction, a plain polygon is PROHIBITED from the ground up, unlimited.
- QGroundControl `.plan` (`fileType: Plan`): `geoFence.polygons` / `geoFence.circles`, each
  `inclusion: true` (keep-in) or false (keep-out).

Every error is a `ZoneError` naming the file, the zone and the field. Invalid polygons
(self-intersection, repeated vertices, unclosed rings) are repaired (shapely `make_valid`,
repeated-point removal) and the repair is recorded in `Zone.repairs`, never silent.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Iterable, List, Optional, Tuple

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from .model import (Applicability, Circle, DailyPeriod, Restriction, Unit, VerticalLimit,
                    VerticalRef, Volume, Zone, ZoneError, parse_days, parse_time_of_day,
                    parse_utc)

FORMAT_ED269 = "ED-269"
FORMAT_ED318 = "ED-318"
FORMAT_GEOJSON = "GeoJSON"
FORMAT_QGC_PLAN = "QGC-plan"

# Largest radius accepted for a circle: a 'radius' beyond a continent is a unit mistake.
MAX_CIRCLE_RADIUS_M = 2_000_000.0


@dataclass
class LoadResult:
    """What one file gave: its zones, its detected format, and the repairs made."""
    source: str
    format: str
    zones: List[Zone] = field(default_factory=list)

    @property
    def repairs(self) -> List[str]:
        return [f"zone '{z.identifier}': {r}" for z in self.zones for r in z.repairs]


class _Ctx:
    """Names the place of an error: file, zone identifier, field path."""

    def __init__(self, source: str, zone: str = ""):
        self.source = source
        self.zone = zone

    def error(self, field: str, message: str) -> ZoneError:
        return ZoneError(message, source=self.source, zone=self.zone, field=field)


# --------------------------------------------------------------------------------------------
# entry points

def load_zone_file(path: str) -> LoadResult:
    source = os.fspath(path)
    try:
        with open(source, "rb") as handle:
            raw = handle.read()
    except OSError as error:
        raise ZoneError(f"cannot read file: {error.strerror or error}", source=source) from None
    return load_zone_text(raw, source=source)


def load_zone_text(raw, source: str = "<text>") -> LoadResult:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ZoneError(f"not UTF-8 text ({error.reason} at byte {error.start})", source=source) from None
    if not raw.strip():
        raise ZoneError("file is empty", source=source)
    try:
        document = json.loads(raw, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise ZoneError(f"invalid JSON: {error.msg} at line {error.lineno} column {error.colno}",
                        source=source) from None
    except ValueError as error:  # NaN / Infinity literals
        raise ZoneError(f"invalid JSON: {error}", source=source) from None
    return load_zone_document(document, source=source)


def _reject_constant(name: str):
    raise ValueError(f"non-finite number literal {name} is not allowed in zone data")


def detect_format(document) -> str:
    """Format of a parsed JSON document, from its content."""
    if not isinstance(document, dict):
        raise ValueError(f"top level must be a JSON object, got {type(document).__name__}")
    if document.get("fileType") == "Plan" or "geoFence" in document:
        return FORMAT_QGC_PLAN
    if "UASZoneList" in document:
        return FORMAT_ED269
    if document.get("type") == "Feature":
        document = {"features": [document]}
    features = document.get("features")
    if isinstance(features, list):
        first = next((f for f in features if isinstance(f, dict)), None)
        if first is None:
            return FORMAT_GEOJSON
        geometry = first.get("geometry")
        if isinstance(geometry, list) or "horizontalProjection" in json.dumps(geometry)[:2000]:
            return FORMAT_ED269
        props = first.get("properties") if isinstance(first.get("properties"), dict) else {}
        if isinstance(geometry, dict) and ("layer" in geometry or "extent" in geometry
                                           or _has_layer(geometry)):
            return FORMAT_ED318
        if "identifier" in props and "type" in props and "variant" in props:
            return FORMAT_ED318
        if "identifier" in first and "restriction" in first:
            return FORMAT_ED269
        return FORMAT_GEOJSON
    raise ValueError("not a recognised zone format: expected an ED-269 'UASZoneList' or "
                     "'features' list, an ED-318 / GeoJSON FeatureCollection, or a "
                     "QGroundControl plan with 'geoFence'")


def _has_layer(geometry: dict) -> bool:
    parts = geometry.get("geometries")
    return isinstance(parts, list) and any(isinstance(p, dict) and "layer" in p for p in parts)


def load_zone_document(document, source: str = "<document>") -> LoadResult:
    try:
        fmt = detect_format(document)
    except ValueError as error:
        raise ZoneError(str(error), source=source) from None
    if fmt == FORMAT_QGC_PLAN:
        zones = _load_qgc_plan(document, source)
    elif fmt == FORMAT_ED269:
        zones = _load_ed269(document, source)
    elif fmt == FORMAT_ED318:
        zones = _load_ed318(document, source)
    else:
        zones = _load_geojson(document, source)
    for zone in zones:
        zone.source = source
        zone.source_format = fmt
    return LoadResult(source=source, format=fmt, zones=zones)


# --------------------------------------------------------------------------------------------
# shared field readers

def _require(obj, key: str, ctx: _Ctx, path: str):
    if not isinstance(obj, dict):
        raise ctx.error(path, f"expected an object, got {type(obj).__name__}")
    if key not in obj:
        raise ctx.error(f"{path}.{key}" if path else key, "missing required field")
    return obj[key]


def _number(value, ctx: _Ctx, path: str, *, allow_none_as=None) -> float:
    if value is None and allow_none_as is not None:
        return allow_none_as
    if isinstance(value, bool):
        raise ctx.error(path, f"expected a number, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ctx.error(path, f"expected a number, got {value!r}") from None
    if not isinstance(value, (int, float)):
        raise ctx.error(path, f"expected a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ctx.error(path, f"number {value} is not finite")
    return value


def _enum(parser, value, ctx: _Ctx, path: str):
    try:
        return parser(value)
    except ValueError as error:
        raise ctx.error(path, str(error)) from None


def _text(value) -> str:
    """ED-318 text fields are lists of {text, lang}; take en-GB, else the first."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = [v for v in value if isinstance(v, dict) and isinstance(v.get("text"), str)]
        for entry in texts:
            if str(entry.get("lang", "")).lower().startswith("en"):
                return entry["text"]
        if texts:
            return texts[0]["text"]
    return ""


def _identifier(value, ctx: _Ctx, path: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise ctx.error(path, f"expected a non-empty identifier string, got {value!r}")
    return value.strip()


def _position(value, ctx: _Ctx, path: str) -> Tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) < 2:
        raise ctx.error(path, f"expected a [lon, lat] position, got {value!r}")
    lon = _number(value[0], ctx, f"{path}[0]")
    lat = _number(value[1], ctx, f"{path}[1]")
    if not -180.0 <= lon <= 180.0:
        raise ctx.error(f"{path}[0]", f"longitude {lon} outside [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        raise ctx.error(f"{path}[1]", f"latitude {lat} outside [-90, 90]")
    return lon, lat


def _fast_positions(value) -> Optional[np.ndarray]:
    """Whole ring at numpy speed when every position is a plain, finite, in-range [lon, lat]
    (national sets: hundreds of thousands of vertices); None sends it to the checking path."""
    try:
        array = np.array(value, dtype=float)
    except (TypeError, ValueError):
        return None
    if array.ndim != 2 or array.shape[1] < 2 or array.shape[0] == 0:
        return None
    if any(isinstance(p, (str, bool)) or isinstance(p[0], (str, bool)) or isinstance(p[1], (str, bool))
           for p in value):
        return None   # "7.1" or true would convert silently: let the checking path decide
    xy = array[:, :2]
    if not np.all(np.isfinite(xy)) or np.any(np.abs(xy[:, 0]) > 180.0) or np.any(np.abs(xy[:, 1]) > 90.0):
        return None
    return xy.copy()


def _ring(value, ctx: _Ctx, path: str, repairs: List[str]) -> np.ndarray:
    if not isinstance(value, (list, tuple)):
        raise ctx.error(path, f"expected a ring (list of positions), got {type(value).__name__}")
    points = _fast_positions(value)
    if points is None:  # slow path: validates each position and names the bad one
        points = np.array([_position(p, ctx, f"{path}[{i}]") for i, p in enumerate(value)], float).reshape(-1, 2)
    if len(points) == 0:
        raise ctx.error(path, "empty ring: a polygon needs at least 3 distinct vertices")
    if not np.array_equal(points[0], points[-1]):
        points = np.vstack([points, points[:1]])
        repairs.append(f"{path}: ring was not closed; closed it")
    keep = np.ones(len(points), bool)
    keep[1:] = np.any(points[1:] != points[:-1], axis=1)
    removed = int((~keep).sum())
    if removed:
        points = points[keep]
        repairs.append(f"{path}: removed {removed} repeated consecutive vertex"
                       f"{'es' if removed > 1 else ''}")
    if len(points) < 4:  # closed ring: 3 distinct vertices + closing one
        raise ctx.error(path, f"degenerate ring: {len(points) - 1 if len(points) > 1 else len(points)} "
                              f"distinct vertices, a polygon needs at least 3")
    return points


def _polygon(coords, ctx: _Ctx, path: str, repairs: List[str]):
    if not isinstance(coords, (list, tuple)) or len(coords) == 0:
        raise ctx.error(path, "empty polygon: no rings")
    exterior = _ring(coords[0], ctx, f"{path}[0]", repairs)
    holes = [_ring(r, ctx, f"{path}[{i}]", repairs) for i, r in enumerate(coords[1:], start=1)]
    return _repaired(Polygon(exterior, holes), ctx, path, repairs)


def _multipolygon(coords, ctx: _Ctx, path: str, repairs: List[str]):
    if not isinstance(coords, (list, tuple)) or len(coords) == 0:
        raise ctx.error(path, "empty multipolygon: no polygons")
    parts = [_polygon(c, ctx, f"{path}[{i}]", repairs) for i, c in enumerate(coords)]
    union = shapely.union_all(parts)
    return _polygonal(union, ctx, path)


def _polygonal(geometry, ctx: _Ctx, path: str):
    if isinstance(geometry, (Polygon, MultiPolygon)):
        result = geometry
    else:
        parts = [g for g in shapely.get_parts(geometry) if isinstance(g, (Polygon, MultiPolygon))]
        result = shapely.union_all(parts) if parts else Polygon()
    if result.is_empty or result.area <= 0.0:
        raise ctx.error(path, "polygon has no area (all vertices collinear or coincident)")
    return result


def _repaired(polygon, ctx: _Ctx, path: str, repairs: List[str]):
    if polygon.is_valid:
        return _polygonal(polygon, ctx, path)
    reason = shapely.is_valid_reason(polygon)
    fixed = _polygonal(shapely.make_valid(polygon), ctx, path)
    repairs.append(f"{path}: invalid polygon ({reason}); repaired with make_valid, area "
                   f"{polygon.area:.3e} -> {fixed.area:.3e} deg^2, {len(shapely.get_parts(fixed))} part(s)")
    return fixed


def _circle(center, radius, ctx: _Ctx, path_center: str, path_radius: str, unit: Unit = Unit.M) -> Circle:
    lon, lat = _position(center, ctx, path_center)
    radius_m = unit.to_m(_number(radius, ctx, path_radius))
    if not 0.0 < radius_m <= MAX_CIRCLE_RADIUS_M:
        raise ctx.error(path_radius, f"circle radius {radius_m} m must be > 0 and <= {MAX_CIRCLE_RADIUS_M:g} m")
    return Circle(lon, lat, radius_m)


def _band(lower_value, lower_ref, upper_value, upper_ref, unit, ctx: _Ctx, path: str,
          names=("lowerLimit", "lowerVerticalReference", "upperLimit", "upperVerticalReference",
                 "uomDimensions")) -> Tuple[VerticalLimit, VerticalLimit]:
    unit_e = _enum(Unit.parse, unit, ctx, f"{path}.{names[4]}")
    lower = _number(lower_value, ctx, f"{path}.{names[0]}", allow_none_as=0.0)
    # A missing upper limit means unlimited (ED-269 example LSXX publishes upperLimit: null).
    upper = _number(upper_value, ctx, f"{path}.{names[2]}", allow_none_as=math.inf) \
        if upper_value is not None else math.inf
    lower_r = _enum(VerticalRef.parse, lower_ref if lower_ref is not None else "AGL", ctx, f"{path}.{names[1]}")
    upper_r = _enum(VerticalRef.parse, upper_ref if upper_ref is not None else lower_r.name, ctx,
                    f"{path}.{names[3]}")
    if lower_r == upper_r and upper <= lower:
        raise ctx.error(f"{path}.{names[2]}", f"upper limit {upper} is not above lower limit {lower}")
    return VerticalLimit(lower, unit_e, lower_r), VerticalLimit(upper, unit_e, upper_r)


def _applicability_list(entries, ctx: _Ctx, path: str, schedule_key_candidates=("schedule", "dailyPeriod"),
                        zone_warnings: Optional[List[str]] = None) -> Tuple[Applicability, ...]:
    if entries is None:
        return (Applicability(),)
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list):
        raise ctx.error(path, f"expected a list of applicability entries, got {type(entries).__name__}")
    if not entries:
        return (Applicability(),)
    result = []
    for i, entry in enumerate(entries):
        here = f"{path}[{i}]"
        if not isinstance(entry, dict):
            raise ctx.error(here, f"expected an object, got {type(entry).__name__}")
        permanent_text = entry.get("permanent")
        permanent = False
        if permanent_text is not None:
            if isinstance(permanent_text, bool):
                permanent = permanent_text
            elif isinstance(permanent_text, str) and permanent_text.upper() in ("YES", "NO"):
                permanent = permanent_text.upper() == "YES"
            else:
                raise ctx.error(f"{here}.permanent", f"expected YES or NO, got {permanent_text!r}")
        start = end = None
        for key in ("startDateTime", "startDatetime"):
            if entry.get(key) is not None:
                start = _enum(lambda v: parse_utc(v), entry[key], ctx, f"{here}.{key}")
        for key in ("endDateTime", "endDatetime"):
            if entry.get(key) is not None:
                end = _enum(lambda v: parse_utc(v), entry[key], ctx, f"{here}.{key}")
        if start is not None and end is not None and end <= start:
            raise ctx.error(f"{here}.endDateTime", f"end {end.isoformat()} is not after start {start.isoformat()}")
        periods = []
        for key in schedule_key_candidates:
            raw = entry.get(key)
            if raw is None:
                continue
            if isinstance(raw, dict):
                raw = [raw]
            if not isinstance(raw, list):
                raise ctx.error(f"{here}.{key}", f"expected a list of daily periods, got {type(raw).__name__}")
            for j, period in enumerate(raw):
                parsed = _daily_period(period, ctx, f"{here}.{key}[{j}]", zone_warnings)
                if parsed is not None:
                    periods.append(parsed)
        if permanent and (start is not None or end is not None or periods):
            # ED-269 permanent YES with dates: the dates are informative; keep the published
            # window and schedule (more restrictive only when the data says so).
            pass
        result.append(Applicability(permanent=permanent, start=start, end=end, schedule=tuple(periods)))
    return tuple(result)


def _daily_period(period, ctx: _Ctx, path: str, zone_warnings) -> Optional[DailyPeriod]:
    if not isinstance(period, dict):
        raise ctx.error(path, f"expected an object, got {type(period).__name__}")
    days_raw = period.get("day", [])
    if days_raw is None:
        days_raw = []
    days = _enum(parse_days, days_raw, ctx, f"{path}.day")
    start_raw, end_raw = period.get("startTime"), period.get("endTime")
    events = period.get("startEvent") or period.get("endEvent")
    if not days and start_raw is None and end_raw is None and not events:
        return None  # ED-269 placeholder {"day": [], "startTime": null, ...}: no schedule
    if not days:
        days = frozenset(range(7))
    if events and (start_raw is None or end_raw is None):
        if zone_warnings is not None:
            zone_warnings.append(f"{path}: daylight-event schedule ({events}) treated as active all day")
        return DailyPeriod(days=days, event_based=True)
    start_s = 0.0 if start_raw is None else _enum(parse_time_of_day, start_raw, ctx, f"{path}.startTime")
    end_s = 86400.0 if end_raw is None else _enum(parse_time_of_day, end_raw, ctx, f"{path}.endTime")
    if end_s == start_s:
        raise ctx.error(f"{path}.endTime", f"period of zero length ({start_raw} to {end_raw})")
    return DailyPeriod(days=days, start_s=start_s, end_s=end_s)


def _list_of(value, ctx: _Ctx, path: str) -> list:
    if not isinstance(value, list):
        raise ctx.error(path, f"expected a list, got {type(value).__name__}")
    return value


# --------------------------------------------------------------------------------------------
# ED-269

def _load_ed269(document, source: str) -> List[Zone]:
    ctx = _Ctx(source)
    key = "UASZoneList" if "UASZoneList" in document else "features"
    items = _list_of(document[key], ctx, key)
    zones = []
    for i, item in enumerate(items):
        zctx = _Ctx(source, f"#{i}")
        if not isinstance(item, dict):
            raise zctx.error(f"{key}[{i}]", f"expected a zone object, got {type(item).__name__}")
        identifier = _identifier(_require(item, "identifier", zctx, ""), zctx, "identifier")
        zctx.zone = identifier
        restriction = _enum(Restriction.parse, _require(item, "restriction", zctx, ""), zctx, "restriction")
        geometries = _list_of(_require(item, "geometry", zctx, ""), zctx, "geometry")
        if not geometries:
            raise zctx.error("geometry", "empty: a zone needs at least one volume")
        repairs: List[str] = []
        warnings: List[str] = []
        volumes = []
        for j, geometry in enumerate(geometries):
            path = f"geometry[{j}]"
            if not isinstance(geometry, dict):
                raise zctx.error(path, f"expected an object, got {type(geometry).__name__}")
            # references are required: a limit without one is ambiguous by hundreds of metres
            lower, upper = _band(_require(geometry, "lowerLimit", zctx, path),
                                 _require(geometry, "lowerVerticalReference", zctx, path),
                                 geometry.get("upperLimit"), _require(geometry, "upperVerticalReference", zctx, path),
                                 _require(geometry, "uomDimensions", zctx, path), zctx, path)
            projection = _require(geometry, "horizontalProjection", zctx, path)
            volume_repairs: List[str] = []
            horizontal = _ed269_projection(projection, zctx, f"{path}.horizontalProjection", volume_repairs)
            repairs += volume_repairs
            volumes.append(Volume(horizontal, lower, upper, tuple(volume_repairs)))
        applicability = _applicability_list(item.get("applicability"), zctx, "applicability",
                                            zone_warnings=warnings)
        zones.append(Zone(identifier=identifier, restriction=restriction, volumes=volumes,
                          name=_text(item.get("name")), applicability=applicability,
                          message=_text(item.get("message")), country=str(item.get("country") or ""),
                          reasons=tuple(map(str, item.get("reason") or ())), repairs=repairs,
                          warnings=warnings))
    return zones


def _ed269_projection(projection, ctx: _Ctx, path: str, repairs: List[str]):
    kind = _require(projection, "type", ctx, path)
    if kind == "Polygon":
        return _polygon(_require(projection, "coordinates", ctx, path), ctx, f"{path}.coordinates", repairs)
    if kind == "MultiPolygon":
        return _multipolygon(_require(projection, "coordinates", ctx, path), ctx, f"{path}.coordinates", repairs)
    if kind == "Circle":
        return _circle(_require(projection, "center", ctx, path), _require(projection, "radius", ctx, path),
                       ctx, f"{path}.center", f"{path}.radius")
    raise ctx.error(f"{path}.type", f"unknown horizontal projection type {kind!r}; expected Polygon, "
                                    "MultiPolygon or Circle")


# --------------------------------------------------------------------------------------------
# ED-318

def _load_ed318(document, source: str) -> List[Zone]:
    ctx = _Ctx(source)
    if document.get("type") == "Feature":
        document = {"features": [document]}
    features = _list_of(_require(document, "features", ctx, ""), ctx, "features")
    zones = []
    for i, feature in enumerate(features):
        zctx = _Ctx(source, f"#{i}")
        if not isinstance(feature, dict):
            raise zctx.error(f"features[{i}]", f"expected a Feature object, got {type(feature).__name__}")
        props = _require(feature, "properties", zctx, "")
        if not isinstance(props, dict):
            raise zctx.error("properties", f"expected an object, got {type(props).__name__}")
        identifier = _identifier(_require(props, "identifier", zctx, "properties"), zctx, "properties.identifier")
        zctx.zone = identifier
        restriction = _enum(Restriction.parse, _require(props, "type", zctx, "properties"), zctx, "properties.type")
        geometry = _require(feature, "geometry", zctx, "")
        repairs: List[str] = []
        warnings: List[str] = []
        volumes = _ed318_geometry(geometry, zctx, "geometry", repairs)
        applicability = _applicability_list(props.get("limitedApplicability"), zctx,
                                            "properties.limitedApplicability", zone_warnings=warnings)
        zones.append(Zone(identifier=identifier, restriction=restriction, volumes=volumes,
                          name=_text(props.get("name")), applicability=applicability,
                          message=_text(props.get("message")), country=str(props.get("country") or ""),
                          reasons=tuple(map(str, props.get("reason") or ())), repairs=repairs,
                          warnings=warnings))
    return zones


def _ed318_geometry(geometry, ctx: _Ctx, path: str, repairs: List[str], layer=None) -> List[Volume]:
    if not isinstance(geometry, dict):
        raise ctx.error(path, f"expected a geometry object, got {type(geometry).__name__}")
    kind = _require(geometry, "type", ctx, path)
    if kind == "GeometryCollection":
        parts = _list_of(_require(geometry, "geometries", ctx, path), ctx, f"{path}.geometries")
        if not parts:
            raise ctx.error(f"{path}.geometries", "empty geometry collection")
        volumes = []
        for j, part in enumerate(parts):
            volumes += _ed318_geometry(part, ctx, f"{path}.geometries[{j}]", repairs,
                                       layer=geometry.get("layer", layer))
        return volumes
    layer = geometry.get("layer", layer)
    if layer is None:
        raise ctx.error(f"{path}.layer", "missing required field (ED-318 vertical layer)")
    if not isinstance(layer, dict):
        raise ctx.error(f"{path}.layer", f"expected an object, got {type(layer).__name__}")
    lower, upper = _band(_require(layer, "lower", ctx, f"{path}.layer"), _require(layer, "lowerReference", ctx, f"{path}.layer"),
                         _require(layer, "upper", ctx, f"{path}.layer"), _require(layer, "upperReference", ctx, f"{path}.layer"),
                         layer.get("uom", "m"), ctx, f"{path}.layer",
                         names=("lower", "lowerReference", "upper", "upperReference", "uom"))
    volume_repairs: List[str] = []
    if kind == "Polygon":
        horizontal = _polygon(_require(geometry, "coordinates", ctx, path), ctx, f"{path}.coordinates", volume_repairs)
    elif kind == "MultiPolygon":
        horizontal = _multipolygon(_require(geometry, "coordinates", ctx, path), ctx, f"{path}.coordinates", volume_repairs)
    elif kind == "Point":
        extent = _require(geometry, "extent", ctx, path)
        if not isinstance(extent, dict) or str(extent.get("subType", "")).lower() != "circle":
            raise ctx.error(f"{path}.extent.subType", f"expected 'Circle', got {extent!r}")
        horizontal = _circle(_require(geometry, "coordinates", ctx, path), _require(extent, "radius", ctx, f"{path}.extent"),
                             ctx, f"{path}.coordinates", f"{path}.extent.radius")
    else:
        raise ctx.error(f"{path}.type", f"unsupported geometry type {kind!r}; expected Polygon, "
                                        "MultiPolygon, Point with circle extent, or GeometryCollection")
    repairs += volume_repairs
    return [Volume(horizontal, lower, upper, tuple(volume_repairs))]


# --------------------------------------------------------------------------------------------
# plain GeoJSON

def _load_geojson(document, source: str) -> List[Zone]:
    ctx = _Ctx(source)
    if document.get("type") == "Feature":
        features = [document]
    elif document.get("type") in ("Polygon", "MultiPolygon"):
        features = [{"type": "Feature", "geometry": document, "properties": {}}]
    else:
        features = _list_of(_require(document, "features", ctx, ""), ctx, "features")
    zones = []
    for i, feature in enumerate(features):
        zctx = _Ctx(source, f"#{i}")
        if not isinstance(feature, dict):
            raise zctx.error(f"features[{i}]", f"expected a Feature object, got {type(feature).__name__}")
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            raise zctx.error("properties", f"expected an object, got {type(props).__name__}")
        raw_id = next((props[k] for k in ("identifier", "id", "name") if props.get(k) not in (None, "")),
                      feature.get("id", f"feature-{i}"))
        identifier = _identifier(raw_id, zctx, "properties.identifier")
        zctx.zone = identifier
        restriction = _enum(Restriction.parse, props.get("restriction", "PROHIBITED"), zctx, "properties.restriction")
        keep_in = props.get("keep_in", props.get("inclusion", False))
        if not isinstance(keep_in, bool):
            raise zctx.error("properties.keep_in", f"expected true or false, got {keep_in!r}")
        lower, upper = _band(props.get("lower", 0.0), props.get("lowerReference", "AGL"),
                             props.get("upper"), props.get("upperReference"), props.get("uom", "M"),
                             zctx, "properties",
                             names=("lower", "lowerReference", "upper", "upperReference", "uom"))
        geometry = _require(feature, "geometry", zctx, "")
        if not isinstance(geometry, dict):
            raise zctx.error("geometry", f"expected a geometry object, got {geometry!r}")
        kind = _require(geometry, "type", zctx, "geometry")
        repairs: List[str] = []
        if kind == "Polygon":
            horizontal = _polygon(_require(geometry, "coordinates", zctx, "geometry"), zctx, "geometry.coordinates", repairs)
        elif kind == "MultiPolygon":
            horizontal = _multipolygon(_require(geometry, "coordinates", zctx, "geometry"), zctx, "geometry.coordinates", repairs)
        elif kind == "Point":
            horizontal = _circle(_require(geometry, "coordinates", zctx, "geometry"),
                                 _require(props, "radius", zctx, "properties"), zctx,
                                 "geometry.coordinates", "properties.radius")
        else:
            raise zctx.error("geometry.type", f"unsupported geometry type {kind!r}; expected Polygon, "
                                              "MultiPolygon or Point with properties.radius")
        applicability = _applicability_list(props.get("applicability"), zctx, "properties.applicability")
        zones.append(Zone(identifier=identifier, restriction=restriction,
                          volumes=[Volume(horizontal, lower, upper, tuple(repairs))],
                          name=_text(props.get("name")), keep_in=keep_in, applicability=applicability,
                          repairs=repairs))
    return zones


# --------------------------------------------------------------------------------------------
# QGroundControl .plan

def _load_qgc_plan(document, source: str) -> List[Zone]:
    ctx = _Ctx(source)
    fence = _require(document, "geoFence", ctx, "")
    if not isinstance(fence, dict):
        raise ctx.error("geoFence", f"expected an object, got {type(fence).__name__}")
    zones = []
    for i, item in enumerate(_list_of(fence.get("polygons", []), ctx, "geoFence.polygons")):
        zctx = _Ctx(source, f"polygon-{i}")
        path = f"geoFence.polygons[{i}]"
        inclusion = _qgc_inclusion(item, zctx, path)
        repairs: List[str] = []
        raw = _list_of(_require(item, "polygon", zctx, path), zctx, f"{path}.polygon")
        # QGC stores [lat, lon] pairs, unclosed.
        lonlat = []
        for j, p in enumerate(raw):
            if not isinstance(p, (list, tuple)) or len(p) < 2:
                raise zctx.error(f"{path}.polygon[{j}]", f"expected [lat, lon], got {p!r}")
            lonlat.append([p[1], p[0]])
        if lonlat and lonlat[0] != lonlat[-1]:
            lonlat.append(lonlat[0])  # QGC never closes rings: not a repair
        horizontal = _polygon([lonlat], zctx, f"{path}.polygon", repairs)
        zones.append(_qgc_zone(zctx.zone, inclusion, horizontal, repairs))
    for i, item in enumerate(_list_of(fence.get("circles", []), ctx, "geoFence.circles")):
        zctx = _Ctx(source, f"circle-{i}")
        path = f"geoFence.circles[{i}]"
        inclusion = _qgc_inclusion(item, zctx, path)
        circle = _require(item, "circle", zctx, path)
        center = _require(circle, "center", zctx, f"{path}.circle")
        if not isinstance(center, (list, tuple)) or len(center) < 2:
            raise zctx.error(f"{path}.circle.center", f"expected [lat, lon], got {center!r}")
        horizontal = _circle([center[1], center[0]], _require(circle, "radius", zctx, f"{path}.circle"),
                             zctx, f"{path}.circle.center", f"{path}.circle.radius")
        zones.append(_qgc_zone(zctx.zone, inclusion, horizontal, []))
    if not zones:
        raise ctx.error("geoFence", "plan holds no fence polygons or circles")
    return zones


def _qgc_inclusion(item, ctx: _Ctx, path: str) -> bool:
    inclusion = _require(item, "inclusion", ctx, path)
    if not isinstance(inclusion, bool):
        raise ctx.error(f"{path}.inclusion", f"expected true or false, got {inclusion!r}")
    return inclusion


def _qgc_zone(identifier: str, inclusion: bool, horizontal, repairs: List[str]) -> Zone:
    # A QGC fence has no vertical band: ground to unlimited.
    lower = VerticalLimit(0.0, Unit.M, VerticalRef.AGL)
    upper = VerticalLimit(math.inf, Unit.M, VerticalRef.AGL)
    return Zone(identifier=identifier, restriction=Restriction.PROHIBITED,
                volumes=[Volume(horizontal, lower, upper, tuple(repairs))], keep_in=inclusion,
                name=("inclusion" if inclusion else "exclusion") + " fence", repairs=repairs)


def load_zone_files_raw(paths: Iterable[str]) -> List[LoadResult]:
    return [load_zone_file(p) for p in paths]

"""`skyroad zones` command (core: no rclpy). Scripts and CI use it: keep it stable.

  skyroad zones validate FILE...        exit 0 when every zone of every file loads (repairs
                                        are reported), 1 otherwise (the error names file, zone
                                        and field)
  skyroad zones info FILE... [--json]   zones, volumes, repaired, time_limited,
                                        by_restriction, load_seconds
  skyroad zones check FILE... --lat --lon --alt [--alt-ref AGL|AMSL] [--ground-elevation M]
        [--geoid-undulation M] [--time ISO8601] [--authorised ID,...] [--json]
                                        inside: ids of the active zones whose volume holds the
                                        point; nearest: the nearest active restricting zone
                                        (id, horizontal_m, vertical_m)

Also runnable as `python -m skyroad.airspace_geofence.cli ...`. Exit codes: 0 success,
1 a zone file is unusable, 2 bad command-line arguments.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
from collections import Counter
from typing import List

import numpy as np

from .geodesy import LocalFrame
from .importers import load_zone_file
from .index import VerticalDatum, ZoneSet
from .model import ZoneError, parse_utc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="zones_command", metavar="{validate,info,check}")
    sub.required = True
    validate = sub.add_parser("validate", help="load every zone; exit 0 when all load")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--json", action="store_true", help="one JSON object on stdout")
    info = sub.add_parser("info", help="counts of zones, volumes, repairs, schedules")
    info.add_argument("files", nargs="+", metavar="FILE")
    info.add_argument("--json", action="store_true", help="one JSON object on stdout")
    check = sub.add_parser("check", help="zones containing a point, and the nearest one")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--lat", type=float, required=True, help="latitude, degrees WGS84")
    check.add_argument("--lon", type=float, required=True, help="longitude, degrees WGS84")
    check.add_argument("--alt", type=float, required=True, help="altitude, metres (see --alt-ref)")
    check.add_argument("--alt-ref", choices=("AGL", "AMSL"), default="AMSL",
                       help="reference of --alt (default AMSL)")
    check.add_argument("--ground-elevation", type=float, default=0.0, metavar="M",
                       help="terrain elevation AMSL at the point, for AGL limits and --alt-ref AGL (default 0)")
    check.add_argument("--geoid-undulation", type=float, default=0.0, metavar="M",
                       help="geoid undulation N (ellipsoid minus AMSL) for WGS84-referenced limits (default 0)")
    check.add_argument("--time", default=None, metavar="ISO8601",
                       help="UTC time to evaluate applicability at (default: now)")
    check.add_argument("--authorised", default="", metavar="ID,...",
                       help="zone identifiers the vehicle holds an authorisation for")
    check.add_argument("--json", action="store_true", help="one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    try:
        if args.zones_command == "validate":
            return _validate(args)
        if args.zones_command == "info":
            return _info(args)
        if args.zones_command == "check":
            return _check(args)
    except ZoneError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except _UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"error: unknown zones command {args.zones_command!r}", file=sys.stderr)
    return 2


class _UsageError(ValueError):
    pass


def _validate(args) -> int:
    report = {"files": [], "ok": True}
    for path in args.files:
        try:
            result = load_zone_file(path)
        except ZoneError as error:
            report["ok"] = False
            report["files"].append({"file": path, "ok": False, "error": str(error),
                                    "zone": error.zone, "field": error.field})
            if not args.json:
                print(f"FAIL {error}", file=sys.stderr)
            continue
        entry = {"file": path, "ok": True, "format": result.format, "zones": len(result.zones),
                 "repairs": result.repairs,
                 "warnings": [f"zone '{z.identifier}': {w}" for z in result.zones for w in z.warnings]}
        report["files"].append(entry)
        if not args.json:
            print(f"OK   {path}: {len(result.zones)} zone(s), format {result.format}")
            for line in entry["repairs"]:
                print(f"     repaired: {line}")
            for line in entry["warnings"]:
                print(f"     warning: {line}")
    if args.json:
        print(json.dumps(report))
    return 0 if report["ok"] else 1


def _load_all(paths: List[str]):
    zones, formats = [], {}
    for path in paths:
        result = load_zone_file(path)
        zones += result.zones
        formats[path] = result.format
    return zones, formats


def _info(args) -> int:
    t0 = time.perf_counter()
    zones, formats = _load_all(args.files)
    load_s = time.perf_counter() - t0
    info = {
        "zones": len(zones),
        "volumes": sum(len(z.volumes) for z in zones),
        "repaired": sum(1 for z in zones if z.repairs),
        "time_limited": sum(1 for z in zones if z.time_limited),
        "by_restriction": dict(sorted(Counter(("KEEP_IN" if z.keep_in else z.restriction.value)
                                              for z in zones).items())),
        "load_seconds": round(load_s, 6),
        "formats": formats,
        "circles": sum(1 for z in zones for v in z.volumes if v.is_circle),
        "vertices": int(sum(_vertex_count(v) for z in zones for v in z.volumes)),
    }
    if args.json:
        print(json.dumps(info))
    else:
        for key, value in info.items():
            print(f"{key}: {value}")
    return 0


def _vertex_count(volume) -> int:
    if volume.is_circle:
        return 0
    import shapely
    return int(shapely.get_num_coordinates(volume.horizontal))


def _check(args) -> int:
    for name in ("lat", "lon", "alt", "ground_elevation", "geoid_undulation"):
        if not math.isfinite(getattr(args, name)):
            raise _UsageError(f"--{name.replace('_', '-')} must be a finite number")
    if not -90.0 < args.lat < 90.0:
        raise _UsageError(f"--lat {args.lat} outside (-90, 90)")
    if not -180.0 <= args.lon <= 180.0:
        raise _UsageError(f"--lon {args.lon} outside [-180, 180]")
    try:
        when = parse_utc(args.time) if args.time else dt.datetime.now(dt.timezone.utc)
    except ValueError as error:
        raise _UsageError(f"--time: {error}") from None
    authorised = [a.strip() for a in args.authorised.split(",") if a.strip()]
    zones, _ = _load_all(args.files)
    alt_amsl = args.alt + (args.ground_elevation if args.alt_ref == "AGL" else 0.0)
    # frame centred on the query point: its distances are exact geodesic distances
    frame = LocalFrame(args.lat, args.lon, alt_amsl)
    zone_set = ZoneSet(zones, frame=frame, datum=VerticalDatum(args.ground_elevation, args.geoid_undulation))
    point = np.zeros(3)
    inside = zone_set.zones_containing(point, when, authorised, constraining_only=False)
    restricting = zone_set.zones_containing(point, when, authorised, constraining_only=True)
    nearest = zone_set.nearest(point, when, authorised)
    result = {
        "point": {"lat": args.lat, "lon": args.lon, "alt_m": args.alt, "alt_ref": args.alt_ref,
                  "alt_amsl_m": alt_amsl, "ground_elevation_m": args.ground_elevation},
        "time": when.isoformat().replace("+00:00", "Z"),
        "authorised": authorised,
        "inside": inside,
        "inside_restricting": restricting,
        "nearest": None if nearest is None else {
            "id": nearest["id"], "restriction": nearest["restriction"],
            "horizontal_m": round(nearest["horizontal_m"], 3), "vertical_m": round(nearest["vertical_m"], 3),
            "distance_m": round(nearest["distance_m"], 3), "inside": nearest["inside"]},
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"time: {result['time']}")
        print(f"inside: {', '.join(inside) if inside else '-'}")
        print(f"inside restricting: {', '.join(restricting) if restricting else '-'}")
        if nearest is None:
            print("nearest: -")
        else:
            print(f"nearest: {nearest['id']} ({nearest['restriction']}) horizontal {nearest['horizontal_m']:.1f} m, "
                  f"vertical {nearest['vertical_m']:.1f} m{' (inside)' if nearest['inside'] else ''}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="skyroad zones", description="UAS geographical zone files")
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())

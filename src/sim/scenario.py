"""Scenario files (scenarios/*.yaml) and `skyroad scenario`: simulation CI with JUnit XML.

Schema (every key checked; unknown keys are errors naming the file):
  name, description, world (sim_worlds name or path), seed, timeout_s (sim), wall_timeout_s,
  map: {resolution_m, bounds_xy: [x_min, x_max, y_min, y_max]}          prior map on /map
  car: {model, goal_xy: [x, y], goal_tolerance_m}                        optional
  uav: {model, mission: [[x, y, z], ...], waypoint_tolerance_m}          optional
  expect: {max_collisions, car_min_stopped_for_obstacles_s}              optional
Each scenario runs like `skyroad demo` (skyroad.sim.demo.run_demo) and becomes one JUnit test case.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import yaml
from ..common.paths import package_share_dir

SHARE_DIR = package_share_dir()
DEMO_SCENARIO = SHARE_DIR / "scenarios" / "demo.yaml"


class ScenarioError(ValueError):
    pass


@dataclass
class Scenario:
    name: str
    world: str
    path: Path
    description: str = ""
    seed: int = 0
    timeout_s: float = 120.0
    wall_timeout_s: float = 110.0
    map_resolution_m: float = 0.25
    map_bounds_xy: tuple = (-50.0, 50.0, -50.0, 50.0)
    car_model: str | None = None
    car_goal_xy: tuple | None = None
    car_goal_tolerance_m: float = 1.5
    uav_model: str | None = None
    uav_mission: list = field(default_factory=list)
    uav_waypoint_tolerance_m: float = 1.5
    max_collisions: int = 0
    car_min_stopped_s: float = 0.0


def _num(where, value, name, positive=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ScenarioError(f"{where}: {name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ScenarioError(f"{where}: {name} must be > 0, got {value}")
    return float(value)


def _keys(where, d, allowed, required=()):
    if not isinstance(d, dict):
        raise ScenarioError(f"{where}: expected a mapping")
    unknown = set(d) - set(allowed)
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(allowed)})")
    missing = [k for k in required if k not in d]
    if missing:
        raise ScenarioError(f"{where}: missing {missing}")


def load_scenario(path) -> Scenario:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ScenarioError(f"{path}{':' + str(mark.line + 1) if mark else ''}: malformed YAML") from None
    w = str(path)
    _keys(w, raw, {"name", "description", "world", "seed", "timeout_s", "wall_timeout_s", "map", "car", "uav",
                   "expect"}, ("name", "world"))
    sc = Scenario(name=str(raw["name"]), world=str(raw["world"]), path=path, description=str(raw.get("description", "")))
    sc.seed = int(raw.get("seed", 0))
    sc.timeout_s = _num(w, raw.get("timeout_s", 120.0), "timeout_s", True)
    sc.wall_timeout_s = _num(w, raw.get("wall_timeout_s", 110.0), "wall_timeout_s", True)
    if "map" in raw:
        _keys(f"{w}: map", raw["map"], {"resolution_m", "bounds_xy"})
        sc.map_resolution_m = _num(f"{w}: map", raw["map"].get("resolution_m", 0.25), "resolution_m", True)
        b = raw["map"].get("bounds_xy", sc.map_bounds_xy)
        if not isinstance(b, list) or len(b) != 4 or not (b[0] < b[1] and b[2] < b[3]):
            raise ScenarioError(f"{w}: map.bounds_xy must be [x_min, x_max, y_min, y_max] with min < max, got {b!r}")
        sc.map_bounds_xy = tuple(_num(f"{w}: map", v, "bounds_xy") for v in b)
    if "car" in raw:
        c = raw["car"]
        _keys(f"{w}: car", c, {"model", "goal_xy", "goal_tolerance_m"}, ("model", "goal_xy"))
        if not isinstance(c["goal_xy"], list) or len(c["goal_xy"]) != 2:
            raise ScenarioError(f"{w}: car.goal_xy must be [x, y]")
        sc.car_model = str(c["model"])
        sc.car_goal_xy = tuple(_num(f"{w}: car", v, "goal_xy") for v in c["goal_xy"])
        sc.car_goal_tolerance_m = _num(f"{w}: car", c.get("goal_tolerance_m", 1.5), "goal_tolerance_m", True)
    if "uav" in raw:
        u = raw["uav"]
        _keys(f"{w}: uav", u, {"model", "mission", "waypoint_tolerance_m"}, ("model", "mission"))
        mission = u["mission"]
        if not isinstance(mission, list) or not mission or any(not isinstance(p, list) or len(p) != 3 for p in mission):
            raise ScenarioError(f"{w}: uav.mission must be a non-empty list of [x, y, z]")
        sc.uav_model = str(u["model"])
        sc.uav_mission = [tuple(_num(f"{w}: uav.mission", v, "waypoint") for v in p) for p in mission]
        sc.uav_waypoint_tolerance_m = _num(f"{w}: uav", u.get("waypoint_tolerance_m", 1.5), "waypoint_tolerance_m", True)
    if sc.car_model is None and sc.uav_model is None:
        raise ScenarioError(f"{w}: a scenario needs a car and/or a uav task")
    if "expect" in raw:
        e = raw["expect"]
        _keys(f"{w}: expect", e, {"max_collisions", "car_min_stopped_for_obstacles_s"})
        sc.max_collisions = int(e.get("max_collisions", 0))
        sc.car_min_stopped_s = _num(f"{w}: expect", e.get("car_min_stopped_for_obstacles_s", 0.0),
                                    "car_min_stopped_for_obstacles_s")
    return sc


def check_expectations(sc: Scenario, report: dict) -> list[str]:
    """Failure messages (empty = pass)."""
    fails = []
    if sc.car_model and not report["car"]["success"]:
        fails.append(f"{sc.car_model} did not reach {list(sc.car_goal_xy)} "
                     f"(final distance {report['car']['final_distance_to_goal_m']} m)")
    if sc.uav_model and not report["uav"]["success"]:
        fails.append(f"{sc.uav_model} reached {report['uav']['waypoints_reached']}/{len(sc.uav_mission)} waypoints")
    if report["collision_count"] > sc.max_collisions:
        fails.append(f"{report['collision_count']} collisions > {sc.max_collisions}: {report['collisions']}")
    if sc.car_model and report["car"]["stopped_for_obstacles_s"] < sc.car_min_stopped_s:
        fails.append(f"car stopped {report['car']['stopped_for_obstacles_s']} s for obstacles, expected >= "
                     f"{sc.car_min_stopped_s} s")
    return fails


def junit_xml(results: list) -> str:
    """results: [(scenario, report | None, failures, wall_s)]."""
    n_fail = sum(1 for _, _, f, _ in results if f)
    total = sum(w for *_, w in results)
    cases = []
    for sc, report, fails, wall in results:
        body = ""
        if fails:
            body = f'<failure message={quoteattr(fails[0])}>{escape(chr(10).join(fails))}</failure>'
        if report is not None:
            body += f"<system-out>{escape(json.dumps(report))}</system-out>"
        cases.append(f'  <testcase classname="skyroad.scenarios" name={quoteattr(sc.name)} '
                     f'file={quoteattr(str(sc.path))} time="{wall:.2f}">{body}</testcase>')
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            f'<testsuite name="skyroad-scenarios" tests="{len(results)}" failures="{n_fail}" errors="0" '
            f'time="{total:.2f}">\n' + "\n".join(cases) + "\n</testsuite>\n")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", default=None, help="scenario YAML files (default: scenarios/*.yaml)")
    parser.add_argument("--junit", default="out/scenarios/junit.xml", help="JUnit XML output")
    parser.add_argument("--out", default="out/scenarios", help="folder for per-scenario reports")
    parser.add_argument("--no-plot", action="store_true", help="skip the report.png figures")


def run(args: argparse.Namespace) -> int:
    from .demo import run_demo
    files = [Path(f) for f in args.files] if args.files else sorted((SHARE_DIR / "scenarios").glob("*.yaml"))
    try:
        scenarios = [load_scenario(f) for f in files]
    except ScenarioError as exc:
        print(f"skyroad scenario: error: {exc}", file=sys.stderr)
        return 2
    results = []
    for sc in scenarios:
        t0 = time.monotonic()
        try:
            report = run_demo(Path(args.out) / sc.name, sc, plot=not args.no_plot,
                              log=lambda m: print(m, file=sys.stderr))
            fails = check_expectations(sc, report)
        except Exception as exc:   # one broken scenario must not hide the others' results
            report, fails = None, [f"{type(exc).__name__}: {exc}"]
        results.append((sc, report, fails, time.monotonic() - t0))
        print(f"{'PASS' if not fails else 'FAIL'} {sc.name}" + ("" if not fails else ": " + "; ".join(fails)))
    junit = Path(args.junit)
    junit.parent.mkdir(parents=True, exist_ok=True)
    junit.write_text(junit_xml(results))
    print(f"JUnit XML: {junit}", file=sys.stderr)
    return 0 if all(not f for _, _, f, _ in results) else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="skyroad scenario", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""`skyroad demo`: the whole loop in the built-in simulator, headless, self-terminating.

1. launch/demo.launch.xml is loaded by skyroad.launcher and its nodes are built in this process
   (composed mode, one executor; they talk over real DDS), with rtf:=0: the sim steps as fast as
   the CPU allows and every other node's timers run on /clock between sim chunks.
2. The operator part of this module publishes the prior map (/map, from the SDF's static
   obstacles), car1's goal_pose and uav1's waypoint mission. car1 is driven by the stack nodes of
   the launch file (stack:=true: obstacle_node -> planner_node -> controller_node, on ground-truth
   odometry). With --autopilot (stack:=false), or for a vehicle the launch file starts no nodes for
   (uav1: uav_mission_node has no console script yet), the demo autopilots of skyroad.sim.autopilot
   (grid A* + pure pursuit, waypoint follower, from the planning/control cores) close the loops.
3. It stops when both vehicles are done (or on timeout) and writes out/demo/report.json and
   out/demo/report.png. Exit code 0 only when both missions succeeded with no collision.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_LAUNCH = REPO / "launch" / "demo.launch.xml"

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out/demo", help="output folder for report.json / report.png")
    parser.add_argument("--scenario", default=None, help="scenario YAML (default scenarios/demo.yaml)")
    parser.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    parser.add_argument("--launch", default=str(DEFAULT_LAUNCH), help="launch file to run")
    parser.add_argument("--no-plot", action="store_true", help="skip report.png")
    parser.add_argument("--autopilot", action="store_true", help="drive car1 with the built-in demo autopilot "
                        "(grid A* + pure pursuit on ground truth) instead of the stack nodes of the launch file "
                        "(obstacle_node, planner_node, controller_node; the default)")
    parser.add_argument("--stack", action="store_true", help=argparse.SUPPRESS)   # old spelling of the default


@dataclass
class Track:
    t: list = field(default_factory=list)
    xyz: list = field(default_factory=list)

    def add(self, t, p):
        self.t.append(float(t))
        self.xyz.append([float(v) for v in p])

    def length_xy(self) -> float:
        a = np.asarray(self.xyz)
        return float(np.sum(np.linalg.norm(np.diff(a[:, :2], axis=0), axis=1))) if len(a) > 1 else 0.0

    def length_3d(self) -> float:
        a = np.asarray(self.xyz)
        return float(np.sum(np.linalg.norm(np.diff(a, axis=0), axis=1))) if len(a) > 1 else 0.0


class Evaluator:
    """Reads the simulator directly (same process) for ground truth, clearance and contacts."""

    def __init__(self, sim, sc, sample_period_s: float = 0.2, actor_near_m: float = 10.0):
        self.sim = sim
        self.sc = sc
        self.goal = None if sc.car_goal_xy is None else np.asarray(sc.car_goal_xy, dtype=float)
        self.mission = np.asarray(sc.uav_mission, dtype=float).reshape(-1, 3)
        self.period = sample_period_s
        self.next_t = 0.0
        self.car, self.uav = Track(), Track()
        self.actors: dict = {}
        self.min_clearance = {"car": math.inf, "uav": math.inf}
        self.visited = 0
        self.car_done_t = None
        self.uav_done_t = None
        self.car_autopilot = None
        self.car_blocked_s = 0.0
        # "stopped for an obstacle", judged from ground truth whatever drives the car: standing still
        # (< 0.3 m/s) after it first moved, short of its goal, with an actor within actor_near_m
        self.actor_near_m = actor_near_m
        self.car_moved = False
        self.car_handle = next((c for c in sim.cars if c.name == sc.car_model), None)
        self.uav_handle = next((c for c in sim.copters if c.name == sc.uav_model), None)
        if sc.car_model and self.car_handle is None:
            raise RuntimeError(f"{sc.path}: world {sim.world.name} has no Ackermann car {sc.car_model!r}")
        if sc.uav_model and self.uav_handle is None:
            raise RuntimeError(f"{sc.path}: world {sim.world.name} has no multicopter {sc.uav_model!r}")

    def sample(self) -> None:
        sim, sc = self.sim, self.sc
        t = sim.time_s
        if t + 1e-9 < self.next_t:
            return
        self.next_t = t + self.period
        for name, p in sim.actor_positions().items():
            self.actors.setdefault(name, Track()).add(t, p)
        if self.car_handle is not None:
            car_pos, _ = sim.body_pose(sc.car_model)
            self.car.add(t, car_pos)
            self.min_clearance["car"] = min(self.min_clearance["car"], sim.clearance(sc.car_model, 10.0))
            speed = abs(self.car_handle.drive.model.v)
            self.car_moved |= speed > 0.5
            if self.car_moved and self.car_done_t is None and speed < 0.3:
                actors = np.asarray(list(sim.actor_positions().values()), dtype=float).reshape(-1, 3)
                if len(actors) and np.min(np.linalg.norm(actors[:, :2] - car_pos[:2], axis=1)) < self.actor_near_m:
                    self.car_blocked_s += self.period
            if self.car_done_t is None and np.linalg.norm(car_pos[:2] - self.goal) < sc.car_goal_tolerance_m \
                    and speed < 0.3:
                self.car_done_t = t
        if self.uav_handle is not None:
            uav_pos, _ = sim.body_pose(sc.uav_model)
            self.uav.add(t, uav_pos)
            if uav_pos[2] > 1.0:   # airborne; the pad and the ground are not obstacles
                self.min_clearance["uav"] = min(self.min_clearance["uav"], sim.clearance(sc.uav_model, 10.0))
            # waypoints must be passed in order
            if self.visited < len(self.mission) and \
                    np.linalg.norm(uav_pos - self.mission[self.visited]) < sc.uav_waypoint_tolerance_m:
                self.visited += 1
            q = self.uav_handle.qvel
            speed = float(np.linalg.norm(sim.d.qvel[q:q + 3]))
            if self.uav_done_t is None and self.visited == len(self.mission) and speed < 0.3:
                self.uav_done_t = t

    @property
    def done(self) -> bool:
        return (self.car_handle is None or self.car_done_t is not None) and \
            (self.uav_handle is None or self.uav_done_t is not None)


def _build_nodes(launch_file: str, world: str, seed: int, context, stack: bool = True):
    """Nodes of the launch file, constructed in-process exactly as `skyroad launch --composed` does."""
    from ..launcher.composed import prepare
    from ..launcher.description import load_launch_file
    args = {"world": world, "rtf": "0.0", "seed": str(seed), "cameras": "false"}
    args["stack"] = "true" if stack else "false"
    desc = load_launch_file(launch_file, args)
    nodes = []
    for spec, node_class in prepare(desc.nodes):
        nodes.append((spec, node_class(context=context, cli_args=spec.ros_arguments(), use_global_arguments=False)))
    return nodes


def _operator_messages(world, sc, stamp_clock):
    from geometry_msgs.msg import PoseStamped
    from nav_msgs.msg import OccupancyGrid, Path as PathMsg

    from .worldmap import occupancy_from_world
    occ = occupancy_from_world(world, sc.map_resolution_m, sc.map_bounds_xy)
    grid = OccupancyGrid()
    grid.header.frame_id = "map"
    grid.header.stamp = stamp_clock
    grid.info.resolution = float(occ.resolution_m)
    grid.info.height, grid.info.width = occ.occupied.shape
    grid.info.origin.position.x, grid.info.origin.position.y = (float(v) for v in occ.origin_xy)
    grid.info.origin.orientation.w = 1.0
    grid.data = (occ.occupied.astype(np.int8) * 100).ravel().tolist()
    goal = None
    if sc.car_goal_xy is not None:
        goal = PoseStamped()
        goal.header.frame_id = "map"
        goal.pose.position.x, goal.pose.position.y = sc.car_goal_xy
        goal.pose.orientation.w = 1.0
    mission = None
    if sc.uav_mission:
        mission = PathMsg()
        mission.header.frame_id = "map"
        for x, y, z in sc.uav_mission:
            ps = PoseStamped()
            ps.header.frame_id = "map"
            ps.pose.position.x, ps.pose.position.y, ps.pose.position.z = x, y, z
            ps.pose.orientation.w = 1.0
            mission.poses.append(ps)
    return occ, grid, goal, mission


def run_demo(out_dir: Path, sc=None, launch_file: str = str(DEFAULT_LAUNCH), plot: bool = True, log=print,
             stack: bool = True) -> dict:
    """Run scenario `sc` (skyroad.sim.scenario.Scenario; default scenarios/demo.yaml)."""
    from .scenario import DEMO_SCENARIO, load_scenario
    sc = sc or load_scenario(DEMO_SCENARIO)
    seed, timeout_s, wall_timeout_s = sc.seed, sc.timeout_s, sc.wall_timeout_s
    import rclpy
    from rclpy.parameter import Parameter

    from ..common.ros import (LATCHED_QOS, SkyroadNode, destroy_nodes, make_executor, s_to_stamp,
                              spin_until_quiet)
    from .autopilot import CarAutopilot, UavAutopilot
    from .node import SimNode

    context = rclpy.context.Context()
    rclpy.init(args=[], context=context)
    created = []
    wall0 = time.monotonic()
    try:
        built = _build_nodes(launch_file, sc.world, seed, context, stack)
        created += [n for _, n in built]
        sims = [n for n in created if isinstance(n, SimNode)]
        if len(sims) != 1:
            raise RuntimeError(f"{launch_file} must start exactly one built-in sim_node (found {len(sims)})")
        sim_node = sims[0]
        sim = sim_node.sim
        names = {n.get_fully_qualified_name() for n in created}
        autopilots = []
        sim_time = [Parameter("use_sim_time", value=True)]
        gt_remap = ["--ros-args", "-r", "odom:=ground_truth/odom"]
        if sc.car_model and not any(name.startswith(f"/{sc.car_model}/") for name in names):
            autopilots.append(CarAutopilot(context=context, namespace=sc.car_model, parameter_overrides=sim_time,
                                           cli_args=gt_remap))
        if sc.uav_model and not any(name.startswith(f"/{sc.uav_model}/") for name in names):
            autopilots.append(UavAutopilot(context=context, namespace=sc.uav_model, parameter_overrides=sim_time,
                                           cli_args=gt_remap))
        created += autopilots
        operator = SkyroadNode("demo_operator", context=context)
        created.append(operator)
        from geometry_msgs.msg import PoseStamped
        from nav_msgs.msg import OccupancyGrid, Path as PathMsg
        occ, grid, goal, mission = _operator_messages(sim.world, sc, operator.get_clock().now().to_msg())
        # Latched, and re-sent every second of sim time: subscribers with volatile QoS (and nodes whose
        # inputs time out) get them too; receivers ignore an unchanged goal/mission.
        operator_msgs = [(operator.create_publisher(OccupancyGrid, "/map", LATCHED_QOS), grid)]
        if goal is not None:
            operator_msgs.append((operator.create_publisher(PoseStamped, f"/{sc.car_model}/goal_pose", LATCHED_QOS),
                                  goal))
        if mission is not None:
            operator_msgs.append((operator.create_publisher(PathMsg, f"/{sc.uav_model}/mission", LATCHED_QOS),
                                  mission))
        next_publish_s = 0.0
        executor = make_executor(context)
        for n in created:
            executor.add_node(n)
        ev = Evaluator(sim, sc)
        ev.car_autopilot = next((a for a in autopilots if isinstance(a, CarAutopilot)), None)
        log(f"[demo] {len(created)} nodes in one process: " + ", ".join(sorted(n.get_fully_qualified_name()
                                                                               for n in created)))
        # Lock-step: advance the sim one chunk, then let every node handle what that chunk produced
        # (clock, sensors) and publish its commands before the next chunk. Deterministic in sim time:
        # a slow machine only makes the run take longer.
        sim_node.stop_timer()
        chunk_s = sim_node.p.chunk_s
        for _ in range(20):                      # discovery of the in-process participants
            executor.spin_once(timeout_sec=0.01)
        reason = "timeout (sim time)"
        while True:
            sim_node.advance_to(sim.time_s + chunk_s)
            spin_until_quiet(executor, created)
            ev.sample()
            if sim.time_s >= next_publish_s:
                next_publish_s = sim.time_s + 1.0
                for pub, msg in operator_msgs:
                    msg.header.stamp = s_to_stamp(sim.time_s)
                    pub.publish(msg)
            if ev.done:
                reason = "all tasks complete"
                break
            if sim.time_s >= timeout_s:
                break
            if time.monotonic() - wall0 > wall_timeout_s:
                reason = "timeout (wall time)"
                break
        wall = time.monotonic() - wall0
        report = _report(ev, sim, sim_node, reason, wall, sc)
        executor.shutdown()
    finally:
        destroy_nodes(created, context)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    if plot:
        from .report_plot import plot_report
        plot_report(out_dir / "report.png", sim.world, occ, ev, sc, report)
    return report


def _report(ev: Evaluator, sim, sim_node, reason: str, wall_s: float, sc) -> dict:
    collisions = [dict(time_s=round(e.time_s, 3), vehicle=e.vehicle, other=e.other, speed_m_s=round(e.speed_m_s, 2),
                       position=[round(v, 2) for v in e.position]) for e in sim.contacts.events]
    car_ok = sc.car_model is None or (ev.car_done_t is not None and
                                      not any(c["vehicle"] == sc.car_model for c in collisions))
    uav_ok = sc.uav_model is None or (ev.uav_done_t is not None and
                                      not any(c["vehicle"] == sc.uav_model for c in collisions))
    report = {
        "scenario": sc.name,
        "success": bool(car_ok and uav_ok and len(collisions) <= sc.max_collisions),
        "end_reason": reason,
        "world": str(sim.world.path.name),
        "seed": sc.seed,
        "sim_time_s": round(sim.time_s, 3),
        "wall_time_s": round(wall_s, 2),
        "real_time_factor": round(sim.time_s / wall_s, 2) if wall_s > 0 else None,
        "sim_stepping_rtf": round(sim_node.achieved_rtf(), 2),
        "collisions": collisions,
        "collision_count": len(collisions),
    }
    if sc.car_model:
        report["car"] = {
            "model": sc.car_model, "success": bool(car_ok), "goal_xy": list(sc.car_goal_xy),
            "time_to_goal_s": None if ev.car_done_t is None else round(ev.car_done_t, 2),
            "final_distance_to_goal_m": round(float(np.linalg.norm(np.asarray(ev.car.xyz[-1][:2]) - ev.goal)), 2)
            if ev.car.xyz else None,
            "path_length_m": round(ev.car.length_xy(), 2),
            "final_position": [round(v, 2) for v in ev.car.xyz[-1]] if ev.car.xyz else None,
            "min_clearance_m": round(ev.min_clearance["car"], 3),
            "stopped_for_obstacles_s": round(ev.car_blocked_s, 2),
        }
    if sc.uav_model:
        report["uav"] = {
            "model": sc.uav_model, "success": bool(uav_ok), "waypoints": [list(w) for w in sc.uav_mission],
            "waypoints_reached": ev.visited,
            "time_to_complete_s": None if ev.uav_done_t is None else round(ev.uav_done_t, 2),
            "path_length_m": round(ev.uav.length_3d(), 2),
            "min_clearance_m": round(ev.min_clearance["uav"], 3),
            "max_altitude_m": round(max((p[2] for p in ev.uav.xyz), default=0.0), 2),
            "final_position": [round(v, 2) for v in ev.uav.xyz[-1]] if ev.uav.xyz else None,
        }
    return report


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")
    from .scenario import DEMO_SCENARIO, ScenarioError, load_scenario
    try:
        sc = load_scenario(args.scenario or DEMO_SCENARIO)
        if args.seed is not None:
            sc.seed = args.seed
        report = run_demo(Path(args.out), sc, launch_file=args.launch, plot=not args.no_plot,
                          log=lambda m: print(m, file=sys.stderr), stack=not args.autopilot)
    except Exception as exc:   # the demo is a CLI: report, do not dump a traceback
        from ..launcher.errors import LaunchError
        from ..common.params import ParameterConfigError
        if isinstance(exc, (LaunchError, ParameterConfigError, RuntimeError, FileNotFoundError, ScenarioError)):
            print(f"skyroad demo: error: {exc}", file=sys.stderr)
            return 2
        raise
    print(json.dumps({k: report[k] for k in ("success", "end_reason", "sim_time_s", "wall_time_s",
                                               "real_time_factor", "collision_count")}))
    print(f"report: {Path(args.out) / 'report.json'}", file=sys.stderr)
    return 0 if report["success"] else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="skyroad demo", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

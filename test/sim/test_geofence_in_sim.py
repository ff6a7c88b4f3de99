"""Airspace geofence in the simulator, over real DDS (issue 4's simulator acceptance bullet).

launch/uav_geofence.launch.xml is loaded by skyroad.launcher and its nodes are built in this
process on one executor (the launcher's composed mode): sim_node (airfield.sdf, Flugplatz
Reichenbach, uav1), /uav1/geofence_node and, in the first test, /uav1/uav_mission_node. The sim is
lock-stepped (rtf 0): one 20 ms chunk, then every node handles what it produced, so runs are
deterministic in sim time. The zone is scenarios/zones/lsgr_approach.ed269.json, a PROHIBITED
polygon 0-120 m AGL over the runway north of the pad, at the world's real location.

1. A mission whose straight line crosses the zone: uav_mission_node reroutes it (geofence
   plan_route), the ground-truth track never enters the zone and reaches the goal.
2. No mission node; the test publishes a raw control/cmd_vel_nominal straight north into the
   zone: geofence_node stops the UAV before the boundary (ground truth never crosses it) and its
   /diagnostics say AVOIDING.

Ground truth is read from the simulator (MuJoCo state, every chunk); the zone geometry for the
checks is loaded by the core (ZoneSet) from the same file, in the same map frame.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("mujoco")

import shapely  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import PoseStamped, Twist  # noqa: E402
from nav_msgs.msg import Path as PathMsg  # noqa: E402

from skyroad.airspace_geofence.geodesy import LocalFrame  # noqa: E402
from skyroad.airspace_geofence.index import VerticalDatum, load_zone_files  # noqa: E402
from skyroad.common.ros import LATCHED_QOS, RELIABLE_QOS, SkyroadNode, make_executor, spin_until_quiet  # noqa: E402
from skyroad.launcher.composed import prepare  # noqa: E402
from skyroad.launcher.description import load_launch_file  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
LAUNCH = REPO / "launch" / "uav_geofence.launch.xml"
ZONE_FILE = REPO / "scenarios" / "zones" / "lsgr_approach.ed269.json"
# airfield.sdf <spherical_coordinates>: the map origin of config/uav_geofence.yaml
ORIGIN = (46.612893, 7.67807, 706.0)
UAV = "uav1"
CHUNK_S = 0.02
# the geofence's horizontal margin in config/uav_geofence.yaml: 5 sigma * 3 m + 2 m buffer
FILTER_MARGIN_H_M = 17.0


def _zones():
    return load_zone_files([str(ZONE_FILE)], frame=LocalFrame(*ORIGIN),
                           datum=VerticalDatum(ground_elevation_amsl_m=ORIGIN[2], geoid_undulation_m=50.0))


def _horizontal_clearance(zones, xyz: np.ndarray) -> np.ndarray:
    """Signed horizontal distance to the union of the zone outlines (negative inside)."""
    union = shapely.union_all(zones.geoms)
    pts = shapely.points(xyz[:, 0], xyz[:, 1])
    d = shapely.distance(union.boundary, pts)
    return np.where(shapely.contains_xy(union, xyz[:, 0], xyz[:, 1]), -d, d)


class Harness:
    """The launch file's nodes + a test operator node, one executor, lock-stepped sim."""

    def __init__(self, context, mission_node: bool, seed: int = 3):
        desc = load_launch_file(str(LAUNCH), {"rtf": "0.0", "seed": str(seed), "cameras": "false",
                                              "mission": "true" if mission_node else "false",
                                              "zone_file": str(ZONE_FILE)})
        self.nodes = []
        for spec, node_class in prepare(desc.nodes):
            self.nodes.append(node_class(context=context, cli_args=spec.ros_arguments(),
                                         use_global_arguments=False))
        names = sorted(n.get_fully_qualified_name() for n in self.nodes)
        expected = ["/sim_node", f"/{UAV}/geofence_node"] + ([f"/{UAV}/uav_mission_node"] if mission_node else [])
        assert names == sorted(expected), names
        self.sim_node = next(n for n in self.nodes if n.get_fully_qualified_name() == "/sim_node")
        self.sim = self.sim_node.sim
        self.mission_node = next((n for n in self.nodes if n.get_name() == "uav_mission_node"), None)
        self.operator = SkyroadNode("geofence_test_operator", context=context)   # counted callbacks
        self.nodes.append(self.operator)
        self.diag_messages: list = []     # (sim time, message, values) of /uav1/geofence_node: geofence
        self.route_msgs: list = []
        self.operator.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, RELIABLE_QOS)
        self.operator.create_subscription(PathMsg, f"/{UAV}/planning/route", self.route_msgs.append, LATCHED_QOS)
        self.executor = make_executor(context)
        for n in self.nodes:
            self.executor.add_node(n)
        self.sim_node.stop_timer()
        for _ in range(20):                       # discovery of the in-process participants
            self.executor.spin_once(timeout_sec=0.01)
        self.t, self.xyz, self.speed = [], [], []

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == f"{UAV}/geofence_node: geofence":
                self.diag_messages.append((self.sim.time_s, status.message,
                                           {kv.key: kv.value for kv in status.values}))

    def step(self) -> None:
        self.sim_node.advance_to(self.sim.time_s + CHUNK_S)
        spin_until_quiet(self.executor, self.nodes)   # every node handles this chunk's messages
        pos, _ = self.sim.body_pose(UAV)
        handle = next(c for c in self.sim.copters if c.name == UAV)
        self.t.append(self.sim.time_s)
        self.xyz.append(np.array(pos, float))
        self.speed.append(float(np.linalg.norm(self.sim.d.qvel[handle.qvel:handle.qvel + 3])))

    def close(self) -> None:
        self.executor.shutdown()
        for n in self.nodes:
            n.destroy_node()

    def statuses(self) -> set:
        return {m for _, m, _ in self.diag_messages}


def _mission_msg(waypoints) -> PathMsg:
    msg = PathMsg()
    msg.header.frame_id = "map"
    for x, y, z in waypoints:
        ps = PoseStamped()
        ps.header.frame_id = "map"
        ps.pose.position.x, ps.pose.position.y, ps.pose.position.z = float(x), float(y), float(z)
        ps.pose.orientation.w = 1.0
        msg.poses.append(ps)
    return msg


def test_mission_across_prohibited_zone_is_rerouted_and_flown_around(ros_context):
    zones = _zones()
    cruise_z = 25.0
    start_xy = (10.0, -20.0)                      # uav1's pad in airfield.sdf
    waypoints = np.array([[*start_xy, cruise_z], [10.0, 170.0, cruise_z]])
    # precondition: the straight leg crosses the prohibited zone (else the test shows nothing)
    _, vol, _ = zones.segment_hits(waypoints[:1], waypoints[1:])
    assert len(vol) > 0 and zones.zone_of_volume(int(vol[0])).identifier == "SKYROAD-LSGR-P1"

    h = Harness(ros_context, mission_node=True)
    wall0 = time.monotonic()
    try:
        pub = h.operator.create_publisher(PathMsg, f"/{UAV}/mission", RELIABLE_QOS)
        mission = _mission_msg(waypoints)
        goal = waypoints[-1]
        done_t = None
        while h.sim.time_s < 120.0:
            if not h.route_msgs and h.mission_node.route is None and \
                    len(h.t) % 10 == 0 and h.mission_node.mission_error is None:
                pub.publish(mission)              # until the node has odometry and plans it
            h.step()
            if np.linalg.norm(h.xyz[-1] - goal) < 1.5 and h.speed[-1] < 0.3:
                done_t = h.sim.time_s
                break
        wall = time.monotonic() - wall0
        assert h.mission_node.mission_error is None, h.mission_node.mission_error
        route = h.mission_node.route
        assert route is not None and route.planner == "geofence-reroute", \
            None if route is None else route.planner
        assert 1 in route.rerouted_legs, route.rerouted_legs
        # the route travelled over DDS is the planned one, and it keeps the reroute margin
        assert h.route_msgs, "planning/route never arrived"
        route_xyz = np.array([[p.pose.position.x, p.pose.position.y, p.pose.position.z]
                              for p in h.route_msgs[-1].poses])
        np.testing.assert_allclose(route_xyz, route.points, atol=1e-9)
        _, near, _ = zones.segment_hits(route_xyz[:-1], route_xyz[1:], inflate_m=FILTER_MARGIN_H_M)
        assert len(near) == 0, "planned route passes within the geofence margin"

        xyz = np.array(h.xyz)
        clearance = _horizontal_clearance(zones, xyz)
        assert not zones.violations(xyz).any(), \
            f"ground truth entered the prohibited zone (min clearance {clearance.min():.1f} m)"
        assert clearance.min() > 0.0
        # the geofence gated every command (its status arrived over /diagnostics) and never saw a breach
        assert h.statuses() and "BREACH" not in h.statuses(), h.statuses()
        assert not h.sim.contacts.events, h.sim.contacts.events
        assert done_t is not None, f"goal not reached: final {xyz[-1].round(2)}, goal {goal}"
        assert h.mission_node.mission_complete
        figures = {"case": "rerouted_mission", "time_to_goal_s": round(done_t, 2),
                   "route_points": len(route.points), "route_length_m": round(route.length_m, 1),
                   # pad -> climb -> straight line to the goal, what the mission would be without reroute
                   "unrerouted_length_m": round(float(waypoints[0][2] + np.linalg.norm(goal - waypoints[0])), 1),
                   "flown_length_m": round(float(np.sum(np.linalg.norm(np.diff(xyz, axis=0), axis=1))), 1),
                   "min_horizontal_clearance_m": round(float(clearance.min()), 2),
                   "geofence_statuses": sorted(h.statuses()), "wall_s": round(wall, 1)}
        print(json.dumps(figures))
    finally:
        h.close()


def test_raw_nominal_into_zone_is_stopped_at_the_boundary(ros_context):
    zones = _zones()
    h = Harness(ros_context, mission_node=False)
    wall0 = time.monotonic()
    try:
        pub = h.operator.create_publisher(Twist, f"/{UAV}/control/cmd_vel_nominal", RELIABLE_QOS)
        cruise_z, speed_mps = 25.0, 6.0
        nominal_log = []
        h.step()
        while h.sim.time_s < 45.0:
            # The operator: climb to cruise altitude, then fly due north (straight at the zone's
            # south edge) at 6 m/s, never stopping. The command is body-yaw (what the vehicle and
            # the geofence take): the operator rotates "north" by the heading it sees, as a
            # ground station's map-relative stick mode does (the heading drifts under a zero
            # yaw-rate command in wind, so a fixed body command would curve away).
            z = h.xyz[-1][2]
            _, rot = h.sim.body_pose(UAV)
            yaw = math.atan2(rot[1, 0], rot[0, 0])
            north = speed_mps if z > cruise_z - 5.0 else 0.0
            cmd = Twist()
            cmd.linear.x = float(math.sin(yaw) * north)      # ENU (0, v) -> body: R(-yaw)
            cmd.linear.y = float(math.cos(yaw) * north)
            cmd.linear.z = float(np.clip(0.8 * (cruise_z - z), -1.0, 2.5))
            pub.publish(cmd)
            nominal_log.append(north)
            h.step()
        wall = time.monotonic() - wall0
        xyz = np.array(h.xyz)
        clearance = _horizontal_clearance(zones, xyz)
        # ground truth never crossed the boundary; the UAV was held near it (stopped at the
        # boundary, not far before it) and is at rest there
        assert not zones.violations(xyz).any(), \
            f"ground truth entered the prohibited zone (min clearance {clearance.min():.1f} m)"
        assert clearance.min() > 0.0
        # the command really points into the zone: 30 m north of the held position is inside it
        final = xyz[-1]
        ahead = final + np.array([0.0, 30.0, 0.0])
        assert zones.violations(ahead[None]).any(), "nominal direction does not point into the zone"
        assert nominal_log[-1] == speed_mps
        assert clearance[-1] < FILTER_MARGIN_H_M + 8.0, f"held {clearance[-1]:.1f} m from the zone"
        late = np.array(h.t) > h.t[-1] - 5.0
        assert np.max(np.array(h.speed)[late]) < 0.5, "not holding at the boundary"
        statuses = h.statuses()
        assert "AVOIDING" in statuses, statuses
        # the predicted breach is reported before the filter has to act
        warn_t = [t for t, m, _ in h.diag_messages if m == "WARNING"]
        assert warn_t and min(warn_t) < min(t for t, m, _ in h.diag_messages if m == "AVOIDING"), statuses
        assert not h.sim.contacts.events, h.sim.contacts.events
        assert "BREACH" not in statuses, statuses
        last = [v for _, m, v in h.diag_messages if m == "AVOIDING"][-1]
        assert last["nearest_zone"] == "SKYROAD-LSGR-P1"
        figures = {"case": "raw_nominal_stopped", "min_horizontal_clearance_m": round(float(clearance.min()), 2),
                   "held_clearance_m": round(float(clearance[-1]), 2),
                   "final_position": [round(float(v), 2) for v in final],
                   "first_avoiding_s": round(min(t for t, m, _ in h.diag_messages if m == "AVOIDING"), 2),
                   "first_warning_s": next((round(t, 2) for t, m, _ in h.diag_messages if m == "WARNING"), None),
                   "geofence_statuses": sorted(statuses), "wall_s": round(wall, 1)}
        print(json.dumps(figures))
    finally:
        h.close()

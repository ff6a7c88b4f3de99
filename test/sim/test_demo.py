"""The demo loop over real DDS, in-process: launch file (sim + car1 stack: obstacle_node, planner_node,
controller_node) + UAV autopilot + operator + evaluation."""
import json

import pytest

pytest.importorskip("rclpy")

from skyroad.sim.demo import run_demo  # noqa: E402


def test_demo_reaches_goal_flies_mission_without_collision(tmp_path):
    report = run_demo(tmp_path, log=lambda m: None)
    assert report["collision_count"] == 0, report["collisions"]
    assert report["car"]["success"], report["car"]
    assert report["uav"]["success"], report["uav"]
    assert report["success"]
    # the pedestrian crossing the north street: the stack's planner predicts it and either waits for it
    # or passes behind it (measured 0.2-1.2 s standing with it near), so what must hold is the distance
    # kept to it and to everything else (body to body, ground truth)
    assert report["car"]["min_clearance_m"] > 0.3, report["car"]
    assert report["uav"]["waypoints_reached"] == 6
    written = json.loads((tmp_path / "report.json").read_text())
    assert written["success"] and (tmp_path / "report.png").stat().st_size > 10_000

"""Scenario files: schema checks with clear errors, expectations, JUnit XML."""
from pathlib import Path

import pytest
from lxml import etree

from skyroad.sim.scenario import ScenarioError, check_expectations, junit_xml, load_scenario

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "scenarios").glob("*.yaml")))
def test_shipped_scenarios_load(name):
    sc = load_scenario(REPO / "scenarios" / name)
    assert (REPO / "sim_worlds" / sc.world).is_file()
    assert sc.car_model or sc.uav_model


@pytest.mark.parametrize("text, fragment", [
    ("name: x\nworld: demo.sdf\n", "needs a car and/or a uav task"),
    ("name: x\nworld: demo.sdf\ncar: {model: car1, goal_xy: [1]}\n", "car.goal_xy must be [x, y]"),
    ("name: x\nworld: demo.sdf\nuav: {model: uav1, mission: [[1, 2]]}\n", "uav.mission must be"),
    ("name: x\nworld: demo.sdf\nspeed: 3\ncar: {model: c, goal_xy: [1, 2]}\n", "unknown keys ['speed']"),
    ("name: x\nworld: demo.sdf\ntimeout_s: -1\ncar: {model: c, goal_xy: [1, 2]}\n", "timeout_s must be > 0"),
    ("name: [unclosed\n", "malformed YAML"),
])
def test_bad_scenarios_are_named_errors(tmp_path, text, fragment):
    p = tmp_path / "s.yaml"
    p.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(p)
    assert str(p) in str(info.value) and fragment in str(info.value)


def test_expectations_and_junit(tmp_path):
    sc = load_scenario(REPO / "scenarios" / "demo.yaml")
    sc.car_min_stopped_s = 0.5  # exercise the wait expectation whatever demo.yaml asks
    good = {"collision_count": 0, "collisions": [], "car": {"success": True, "stopped_for_obstacles_s": 2.0,
                                                             "final_distance_to_goal_m": 0.4},
            "uav": {"success": True, "waypoints_reached": 6}}
    assert check_expectations(sc, good) == []
    bad = dict(good, car=dict(good["car"], stopped_for_obstacles_s=0.0), collision_count=1,
               collisions=[{"vehicle": "car1", "other": "pedestrian_3"}])
    fails = check_expectations(sc, bad)
    assert len(fails) == 2 and "collisions" in fails[0] and "stopped" in fails[1]
    xml = junit_xml([(sc, good, [], 10.0), (sc, bad, fails, 12.0)])
    root = etree.fromstring(xml.encode())
    assert root.get("tests") == "2" and root.get("failures") == "1"
    assert root.findall("testcase")[1].find("failure") is not None

"""CommonRoad benchmark on the real scenarios in ../shared/data/commonroad (checked with the
drivability checker's valid_solution), its JSON output, and that the checker can say no."""
import json
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "commonroad"

cr = pytest.importorskip("commonroad", reason="commonroad-io not installed (pip install commonroad-io==2024.3)")
pytest.importorskip("commonroad_dc", reason="commonroad-drivability-checker not installed")

from skyroad.planning import commonroad_eval as ce  # noqa: E402


def _need(name):
    path = DATA / f"{name}.xml"
    if not path.is_file():
        pytest.skip(f"CommonRoad scenario {path} not present (shared data folder absent)")
    return path


@pytest.mark.parametrize("name", ["USA_US101-3_3_T-1", "ZAM_Tutorial-1_2_T-1"])
def test_planner_solves_real_scenarios(name):
    entry = ce.evaluate_scenario(_need(name))
    assert entry["valid"], entry["failed_checks"]
    assert entry["failed_checks"] == []
    assert entry["cost_sm1"] is not None and entry["cost_sm1"] > 0
    assert entry["plan_ms_p50"] <= entry["plan_ms_p95"]


def test_checker_rejects_a_solution_that_ignores_traffic_and_road():
    from commonroad.common.file_reader import CommonRoadFileReader
    scenario, pps = CommonRoadFileReader(str(_need("USA_US101-3_3_T-1"))).open()
    pid, pp = next(iter(pps.planning_problem_dict.items()))
    # steer left for 1.5 s at full speed: leaves the road and misses the goal
    inputs = [np.array([0.1, 0.0])] * 15 + [np.array([0.0, 0.0])] * 15
    run = ce.ProblemRun(inputs=inputs, states=[], plan_ms=[], emergencies=0)
    failed, valid, _cost = ce.check_solution(scenario, pps, {pid: run})
    assert not valid
    assert "boundary_collision" in failed and "goal_reached" in failed
    assert not any("checker error" in f for f in failed)
    # an input beyond the friction circle is a failed check, not a crash
    failed, valid, _ = ce.check_solution(scenario, pps, {pid: ce.ProblemRun([np.array([0.39, 0.0])] * 30, [], [], 0)})
    assert not valid and "feasibility" in failed


def test_cli_prints_exactly_the_benchmark_json(capsys):
    path = _need("ZAM_Tutorial-1_1_T-1")
    missing = DATA / "no_such_scenario.xml"
    assert ce.main([str(path), str(missing), "--json"]) == 2       # names the missing file, no traceback
    assert "no_such_scenario.xml" in capsys.readouterr().err
    assert ce.main([str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"scenarios", "valid_fraction"}
    (entry,) = out["scenarios"]
    assert set(entry) == {"id", "valid", "failed_checks", "cost_sm1", "plan_ms_p50", "plan_ms_p95"}
    assert entry["id"] == "ZAM_Tutorial-1_1_T-1" and out["valid_fraction"] == (1.0 if entry["valid"] else 0.0)


def test_unreadable_scenario_is_reported_invalid_not_skipped(tmp_path):
    bad = tmp_path / "broken.xml"
    bad.write_text("<commonRoad><this is not valid")
    entry = ce.evaluate_scenario(bad)
    assert entry["valid"] is False and entry["failed_checks"][0].startswith("read_error")


def test_lane_prediction_follows_the_lanelet_and_keeps_the_offset():
    from commonroad.common.file_reader import CommonRoadFileReader
    scenario, _pps = CommonRoadFileReader(str(_need("USA_US101-3_3_T-1"))).open()
    net = scenario.lanelet_network
    lanes = ce.LanePredictor(net)
    ll = net.lanelets[0]
    cv = ll.center_vertices
    i = len(cv) // 3
    heading = float(np.arctan2(*(cv[i + 1] - cv[i])[::-1]))
    normal = np.array([-np.sin(heading), np.cos(heading)])
    start = cv[i] + 0.4 * normal
    times = np.linspace(0.0, 2.0, 21)
    row = lanes.predict(np.array([*start, heading + 0.05, 4.5, 1.8]), 10.0, times)
    assert row is not None
    assert np.allclose(row[0, :2], start, atol=0.3)
    ref = lanes._ref(ll.lanelet_id)
    s, d = ref.project(row[:, :2])
    assert np.allclose(d, d[0], atol=0.1)                       # keeps its lateral offset
    assert np.allclose(np.diff(s), 1.0, atol=0.05)               # 10 m/s along the lane
    # an object across the lane (heading off by 90 degrees) gets no lane prediction
    assert lanes.predict(np.array([*start, heading + np.pi / 2, 4.5, 1.8]), 10.0, times) is None

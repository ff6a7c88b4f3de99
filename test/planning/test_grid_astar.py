"""Grid A*: optimality against an independent Dijkstra, clearance, and clear errors."""
import numpy as np
import pytest

from skyroad.planning.grid import GridMap, dijkstra_field
from skyroad.planning.grid_astar import PlanningError, plan_grid_path, smooth_path


def _path_clearance(path, occ, res, origin):
    grid = GridMap.create(occ, res, origin)
    clear = grid.clearance_m()
    dense = np.concatenate([np.linspace(a, b, 20) for a, b in zip(path[:-1], path[1:])])
    rc = grid.world_to_cell(dense)
    return clear[rc[:, 0], rc[:, 1]].min()


def _random_map(seed, shape=(80, 100), n_blocks=25):
    rng = np.random.default_rng(seed)
    occ = np.zeros(shape, bool)
    for _ in range(n_blocks):
        r, c = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        occ[r:r + rng.integers(2, 12), c:c + rng.integers(2, 12)] = True
    return occ


@pytest.mark.parametrize("seed", range(6))
def test_unsmoothed_path_length_equals_dijkstra_optimum(seed):
    occ = _random_map(seed)
    res, origin, radius = 0.2, (-3.0, 5.0), 0.3
    grid = GridMap.create(occ, res, origin)
    blocked = grid.inflate(radius)
    free_rc = np.argwhere(~blocked)
    rng = np.random.default_rng(100 + seed)
    s_rc, g_rc = free_rc[rng.integers(len(free_rc))], free_rc[rng.integers(len(free_rc))]
    start, goal = grid.cell_to_world(s_rc), grid.cell_to_world(g_rc)
    field = dijkstra_field(blocked, g_rc, res)
    if not np.isfinite(field[tuple(s_rc)]):
        with pytest.raises(PlanningError) as err:
            plan_grid_path(occ, res, origin, start, goal, radius)
        assert err.value.reason == "unreachable"
        return
    path = plan_grid_path(occ, res, origin, start, goal, radius, smooth=False)
    length = np.hypot(*np.diff(path, axis=0).T).sum()
    assert length == pytest.approx(field[tuple(s_rc)], abs=1e-6)
    assert np.allclose(path[0], start) and np.allclose(path[-1], goal)
    # every step is one 8-connected move and never enters the inflated margin
    steps = np.abs(np.diff(grid.world_to_cell(path), axis=0))
    assert steps.max() <= 1
    rc = grid.world_to_cell(path)
    assert not blocked[rc[:, 0], rc[:, 1]].any()


def test_smoothed_path_is_shorter_and_keeps_clearance():
    occ = np.zeros((120, 160), bool)
    occ[20:100, 60:70] = True
    occ[0:40, 110:115] = True
    res, radius = 0.1, 0.45
    raw = plan_grid_path(occ, res, (0, 0), (1.0, 6.0), (15.0, 2.0), radius, smooth=False)
    smooth = plan_grid_path(occ, res, (0, 0), (1.0, 6.0), (15.0, 2.0), radius)
    length = lambda p: np.hypot(*np.diff(p, axis=0).T).sum()
    assert length(smooth) < length(raw) - 0.1
    assert _path_clearance(smooth, occ, res, (0, 0)) >= radius
    # the 8-connected staircase is gone: the path turns less in total
    def total_turn(p):
        d = np.diff(p, axis=0)
        return np.abs(np.angle(np.exp(1j * np.diff(np.arctan2(d[:, 1], d[:, 0]))))).sum()
    assert total_turn(smooth) < 0.8 * total_turn(raw)


def test_errors_name_the_problem():
    occ = np.zeros((50, 50), bool)
    occ[:, 24:27] = True  # wall splits the map
    occ[10, 5] = True
    with pytest.raises(PlanningError, match="goal_in_obstacle"):
        plan_grid_path(occ, 0.1, (0, 0), (0.5, 0.5), (2.55, 3.0), 0.2)
    with pytest.raises(PlanningError, match="margin"):  # goal free, but inside the inflated margin
        plan_grid_path(occ, 0.1, (0, 0), (0.5, 0.5), (0.55, 1.15), 0.2)
    with pytest.raises(PlanningError, match="start_in_obstacle"):
        plan_grid_path(occ, 0.1, (0, 0), (2.5, 0.5), (0.5, 0.5), 0.2)
    with pytest.raises(PlanningError, match="unreachable"):
        plan_grid_path(occ, 0.1, (0, 0), (0.5, 0.5), (4.5, 4.5), 0.2)
    with pytest.raises(PlanningError, match="goal_outside_map"):
        plan_grid_path(occ, 0.1, (0, 0), (0.5, 0.5), (9.0, 0.5), 0.2)
    with pytest.raises(PlanningError, match="start_xy contains NaN"):
        plan_grid_path(occ, 0.1, (0, 0), (np.nan, 0.5), (0.5, 0.5), 0.2)
    with pytest.raises(PlanningError, match="resolution_m"):
        plan_grid_path(occ, 0.0, (0, 0), (0.5, 0.5), (1.5, 0.5), 0.2)
    with pytest.raises(PlanningError, match="2-D"):
        plan_grid_path(np.zeros(10, bool), 0.1, (0, 0), (0.5, 0.5), (1.5, 0.5), 0.2)
    with pytest.raises(PlanningError, match="robot_radius_m"):
        plan_grid_path(occ, 0.1, (0, 0), (0.5, 0.5), (1.5, 0.5), -1.0)


def test_smooth_path_rejects_empty_and_nan():
    occ = np.zeros((10, 10), bool)
    with pytest.raises(PlanningError, match="empty"):
        smooth_path(np.zeros((0, 2)), occ, 0.1, (0, 0), 0.1)
    with pytest.raises(PlanningError, match="NaN/inf at point 1"):
        smooth_path([[0.1, 0.1], [np.nan, 0.2], [0.5, 0.5]], occ, 0.1, (0, 0), 0.1)

"""Hybrid-A* and Reeds-Shepp: exact goal poses, turning radius, footprint clearance, clear errors."""
import math

import cv2
import numpy as np
import pytest

from skyroad.planning.grid import PlanningError
from skyroad.planning.hybrid_astar import (Footprint, HybridAStarConfig, _discrete_curvature,
                                           plan_hybrid_astar)
from skyroad.planning.maps import maze, parking_lot
from skyroad.planning.reeds_shepp import reeds_shepp_paths


def _integrate(path, start, radius, step=0.01):
    return path.sample(start, radius, step)[-1, :3]


def test_reeds_shepp_paths_end_exactly_at_the_goal():
    rng = np.random.default_rng(7)
    radius = 4.0
    solved = 0
    for _ in range(200):
        start = rng.uniform([-5, -5, -math.pi], [5, 5, math.pi])
        goal = rng.uniform([-20, -20, -math.pi], [20, 20, math.pi])
        paths = reeds_shepp_paths(start, goal, radius)
        if not paths:
            continue
        solved += 1
        p = paths[0]
        end = _integrate(p, start, radius)          # fine numerical integration, independent of end_pose
        assert np.hypot(*(end[:2] - goal[:2])) < 1e-6
        assert abs(math.remainder(end[2] - goal[2], 2 * math.pi)) < 1e-6
        assert p.length_m >= np.hypot(*(goal[:2] - start[:2])) - 1e-9
        assert [q.length_m for q in paths] == sorted(q.length_m for q in paths)
    assert solved >= 190      # the implemented families connect nearly every pose pair
    straight = reeds_shepp_paths((0, 0, 0), (10, 0, 0), radius)[0]
    assert straight.length_m == pytest.approx(10.0) and straight.segments == (("S", 10.0),)
    backwards = reeds_shepp_paths((0, 0, 0), (-7, 0, 0), radius)[0]
    assert backwards.segments == (("S", -7.0),)


def _footprint_overlap(occ, res, pose, fp):
    """Independent check: rasterise the rectangle with OpenCV and intersect with the grid."""
    x, y, yaw = pose
    c, s = math.cos(yaw), math.sin(yaw)
    cx, cy = x + fp.center_offset_m * c, y + fp.center_offset_m * s
    hl, hw = fp.length_m / 2, fp.width_m / 2
    corners = np.array([(cx + c * dx - s * dy, cy + s * dx + c * dy)
                        for dx, dy in ((hl, hw), (hl, -hw), (-hl, -hw), (-hl, hw))])
    mask = np.zeros(occ.shape, np.uint8)
    cv2.fillPoly(mask, [np.round(corners / res - 0.5).astype(np.int32).reshape(-1, 1, 2)], 1)
    return bool((mask.astype(bool) & occ).any())


@pytest.mark.parametrize("case", [parking_lot(1), parking_lot(3), maze(1)], ids=lambda c: c.name)
def test_paths_reach_the_goal_collision_free_within_turning_radius(case):
    fp = Footprint()
    cfg = HybridAStarConfig()
    r = plan_hybrid_astar(case.occupied, case.resolution_m, case.origin_xy, case.start_pose, case.goal_pose, fp, cfg)
    assert np.allclose(r.poses[0], case.start_pose, atol=1e-6)
    assert np.hypot(*(r.poses[-1, :2] - case.goal_pose[:2])) < 1e-3
    assert abs(math.remainder(r.poses[-1, 2] - case.goal_pose[2], 2 * math.pi)) < 1e-3
    for pose in r.poses:
        assert not _footprint_overlap(case.occupied, case.resolution_m, pose, fp)
    # curvature per driving-direction segment stays within the turning radius (2 % numerics)
    cuts = np.nonzero(np.diff(r.directions))[0] + 1
    for seg in np.split(np.arange(len(r.poses)), cuts):
        if len(seg) > 2:
            assert _discrete_curvature(r.poses[seg, :2]).max() <= 1.02 / cfg.min_turn_radius_m
    # consecutive poses are close: no jumps
    assert np.hypot(*np.diff(r.poses[:, :2], axis=0).T).max() < 0.8
    assert set(np.unique(r.directions)) <= {-1.0, 1.0}


def test_errors_for_goal_in_obstacle_unreachable_and_nan():
    case = parking_lot(3)
    occ = case.occupied.copy()
    with pytest.raises(PlanningError, match="goal_in_obstacle"):
        plan_hybrid_astar(occ, 0.1, (0, 0), case.start_pose, (1.0, 1.0, 0.0))   # overlaps the outer wall
    with pytest.raises(PlanningError, match="start_in_obstacle"):
        plan_hybrid_astar(occ, 0.1, (0, 0), (0.5, 20.0, 0.0), case.goal_pose)
    closed = np.zeros((200, 200), bool)
    closed[:, 100:104] = True                                # wall splitting the map
    with pytest.raises(PlanningError, match="unreachable"):
        plan_hybrid_astar(closed, 0.1, (0, 0), (3.0, 10.0, 0.0), (16.0, 10.0, 0.0))
    with pytest.raises(PlanningError, match="goal_pose contains NaN"):
        plan_hybrid_astar(occ, 0.1, (0, 0), case.start_pose, (np.nan, 1.0, 0.0))
    with pytest.raises(PlanningError, match="goal_outside_map"):
        plan_hybrid_astar(occ, 0.1, (0, 0), case.start_pose, (100.0, 1.0, 0.0))
    with pytest.raises(PlanningError, match="timeout"):
        plan_hybrid_astar(maze(1).occupied, 0.1, (0, 0), maze(1).start_pose, maze(1).goal_pose,
                          config=HybridAStarConfig(max_expansions=3, analytic_every=1000, analytic_near_m=0.0))

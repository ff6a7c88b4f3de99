"""Grid A* for coarse routes (core, no rclpy).

8-connected A* on an occupancy grid inflated by the robot's radius (scipy Euclidean distance
transform), octile heuristic (admissible and consistent for 8-connected moves), no cutting of
occupied corners. ``smooth_path`` shortens the staircase with line-of-sight shortcuts and then
relaxes it (elastic smoothing) without leaving free space.
"""
from __future__ import annotations

import heapq
import math

import numpy as np

from scipy import ndimage

from .grid import GridMap, PlanningError, fmt_point, check_endpoints, segment_free, validate_path

__all__ = ["plan_grid_path", "smooth_path", "PlanningError"]

_SQRT2 = math.sqrt(2.0)


def _astar(blocked: np.ndarray, start_rc, goal_rc, max_expansions: int) -> list:
    """Cells (flat indices of ``blocked``) from start to goal, [] when unreachable.

    The grid is padded with one blocked cell on every side, so neighbours need no bounds
    checks; moves are precomputed as flat index deltas (pure-Python inner loop, ~2x faster
    than row/column arithmetic)."""
    h, w = blocked.shape
    wp = w + 2
    padded = np.ones((h + 2, wp), dtype=bool)
    padded[1:-1, 1:-1] = blocked
    blocked_flat = padded.ravel().tolist()  # Python list indexing is ~5x faster than numpy scalars
    start = (int(start_rc[0]) + 1) * wp + int(start_rc[1]) + 1
    goal = (int(goal_rc[0]) + 1) * wp + int(goal_rc[1]) + 1
    gr, gc = divmod(goal, wp)
    # (flat delta, step cost, flat deltas of the two cells a diagonal move passes between)
    moves = []
    for dr, dc in ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)):
        diag = dr != 0 and dc != 0
        moves.append((dr * wp + dc, _SQRT2 if diag else 1.0, dr * wp if diag else 0, dc if diag else 0))
    k = _SQRT2 - 2.0

    g_cost = {start: 0.0}
    parent = {start: -1}
    closed = set()
    sr, sc = divmod(start, wp)
    dr0, dc0 = abs(sr - gr), abs(sc - gc)
    open_heap = [(dr0 + dc0 + k * min(dr0, dc0), 0.0, start)]
    expansions = 0
    push, pop = heapq.heappush, heapq.heappop
    while open_heap:
        _f, g, node = pop(open_heap)
        if node in closed:
            continue
        if node == goal:
            out = []
            while node != -1:
                r, c = divmod(node, wp)
                out.append((r - 1) * w + (c - 1))
                node = parent[node]
            return out[::-1]
        closed.add(node)
        expansions += 1
        if expansions > max_expansions:
            raise PlanningError("timeout", f"A* gave up after {max_expansions} expansions (max_expansions)")
        for delta, step, side_a, side_b in moves:
            nxt = node + delta
            if blocked_flat[nxt] or nxt in closed:
                continue
            if side_a and (blocked_flat[node + side_a] or blocked_flat[node + side_b]):
                continue  # do not squeeze diagonally between two blocked cells
            ng = g + step
            if ng < g_cost.get(nxt, math.inf):
                g_cost[nxt] = ng
                parent[nxt] = node
                r, c = divmod(nxt, wp)
                dr, dc = abs(r - gr), abs(c - gc)
                # octile distance in cells: admissible and consistent for 8-connected moves
                push(open_heap, (ng + dr + dc + k * (dr if dr < dc else dc), ng, nxt))
    return []


def plan_grid_path(occupied, resolution_m: float, origin_xy, start_xy, goal_xy, robot_radius_m: float,
                   smooth: bool = True, max_expansions: int = 2_000_000) -> np.ndarray:
    """Shortest collision-free 8-connected path from ``start_xy`` to ``goal_xy`` (world metres).

    Args:
        occupied: (H, W) bool (or numeric, non-zero = occupied), row = y, col = x.
        resolution_m: cell size in metres.
        origin_xy: world position of the corner of cell (0, 0).
        start_xy, goal_xy: world positions (x, y).
        robot_radius_m: disc footprint radius; obstacles are inflated by it.
        smooth: apply :func:`smooth_path` (line-of-sight shortcuts + elastic relaxation).

    Returns:
        (N, 2) array of world xy, first point = start, last point = goal.

    Raises:
        PlanningError with ``reason`` in {invalid_input, start_outside_map, goal_outside_map,
        start_in_obstacle, goal_in_obstacle, unreachable, timeout}.
    """
    grid = GridMap.create(occupied, resolution_m, origin_xy)
    blocked = grid.inflate(robot_radius_m)
    s_rc, g_rc = check_endpoints(grid, blocked, start_xy, goal_xy)
    start = np.asarray(start_xy, dtype=float)[:2]
    goal = np.asarray(goal_xy, dtype=float)[:2]
    # Cheap early exit: different 8-connected free components cannot be joined (saves a full
    # A* flood of the start's component).
    labels, _n = ndimage.label(~blocked, structure=np.ones((3, 3), dtype=bool))
    same_component = labels[tuple(s_rc)] == labels[tuple(g_rc)]
    cells = _astar(blocked, s_rc, g_rc, max_expansions) if same_component else []
    if not cells:
        raise PlanningError("unreachable", f"no collision-free path from {fmt_point(start)} to {fmt_point(goal)} "
                                           f"for robot_radius_m={robot_radius_m} (the goal's free region is "
                                           f"not connected to the start's)")
    rc = np.stack(np.divmod(np.asarray(cells), blocked.shape[1]), axis=1)
    path = grid.cell_to_world(rc)
    path[0] = start
    path[-1] = goal
    if smooth:
        path = smooth_path(path, occupied, resolution_m, origin_xy, robot_radius_m)
    return path


def smooth_path(path, occupied, resolution_m: float, origin_xy, robot_radius_m: float,
                iterations: int = 50, weight_data: float = 0.3, weight_smooth: float = 0.4,
                spacing_m: float | None = None) -> np.ndarray:
    """Shorten and smooth a grid path while keeping every segment in free (inflated) space.

    1. Greedy line-of-sight shortcuts (string pulling) remove the 8-connected staircase.
    2. The result is resampled at ``spacing_m`` (default 2 cells) and relaxed by gradient
       descent on data + smoothness terms; a point whose move would put a segment into an
       inflated cell keeps its old position. End points are fixed.
    """
    pts = validate_path(path)[:, :2]
    grid = GridMap.create(occupied, resolution_m, origin_xy)
    blocked = grid.inflate(robot_radius_m)
    if len(pts) <= 2:
        return pts.copy()
    # 1. string pulling
    keep = [0]
    i = 0
    while i < len(pts) - 1:
        j = len(pts) - 1
        while j > i + 1 and not segment_free(blocked, grid, pts[i], pts[j]):
            j -= 1
        keep.append(j)
        i = j
    pulled = pts[keep]
    # 2. resample + elastic relaxation
    spacing = spacing_m if spacing_m is not None else 2.0 * grid.resolution_m
    seg = np.hypot(*np.diff(pulled, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] <= 0:
        return pulled
    n = max(2, int(np.ceil(s[-1] / spacing)) + 1)
    s_new = np.linspace(0.0, s[-1], n)
    dense = np.stack([np.interp(s_new, s, pulled[:, 0]), np.interp(s_new, s, pulled[:, 1])], axis=1)
    orig = dense.copy()
    out = dense.copy()
    for _ in range(iterations):
        cand = out.copy()
        cand[1:-1] += weight_data * (orig[1:-1] - out[1:-1]) + weight_smooth * (out[:-2] + out[2:] - 2 * out[1:-1])
        rc = grid.world_to_cell(cand)
        ok = grid.in_bounds(rc)
        ok[ok] = ~blocked[rc[ok, 0], rc[ok, 1]]
        ok[0] = ok[-1] = True
        out = np.where(ok[:, None], cand, out)
    # Final guard: if relaxation created a segment through an obstacle, fall back to string pulling.
    for a, b in zip(out[:-1], out[1:]):
        if not segment_free(blocked, grid, a, b):
            return pulled
    return out

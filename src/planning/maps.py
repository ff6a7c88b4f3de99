"""Seeded test maps for the planners: parking lots and mazes (core, no rclpy).

Both return a ``MapCase`` with the occupancy grid, its geometry and a start/goal pose that
the generator has placed in free space; whether a path exists is left to the planner.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class MapCase:
    name: str
    occupied: np.ndarray
    resolution_m: float
    origin_xy: tuple
    start_pose: tuple
    goal_pose: tuple


def _fill_rect(occ, res, cx, cy, length, width, yaw):
    """Mark a rotated rectangle (world metres, origin at 0,0) as occupied."""
    h, w = occ.shape
    r = 0.5 * math.hypot(length, width)
    c0, c1 = int(max(0, (cx - r) / res)), int(min(w, (cx + r) / res + 1))
    r0, r1 = int(max(0, (cy - r) / res)), int(min(h, (cy + r) / res + 1))
    if c0 >= c1 or r0 >= r1:
        return
    rr, cc = np.mgrid[r0:r1, c0:c1]
    x = (cc + 0.5) * res - cx
    y = (rr + 0.5) * res - cy
    c, s = math.cos(yaw), math.sin(yaw)
    lx = c * x + s * y
    ly = -s * x + c * y
    occ[r0:r1, c0:c1] |= (np.abs(lx) <= length / 2) & (np.abs(ly) <= width / 2)


def parking_lot(seed: int, size: int = 384, resolution_m: float = 0.1) -> MapCase:
    """Two rows of perpendicular bays facing a central aisle; most bays taken by parked cars
    (slightly jittered), the goal is one free bay (enter forwards or backwards)."""
    rng = np.random.default_rng(seed)
    occ = np.zeros((size, size), dtype=bool)
    extent = size * resolution_m
    wall = max(2, int(0.3 / resolution_m))
    occ[:wall, :] = occ[-wall:, :] = occ[:, :wall] = occ[:, -wall:] = True
    bay_w, bay_l = 2.7, 5.2
    aisle_y = extent / 2.0
    aisle_half = 3.6 + rng.uniform(0.0, 0.8)
    n_bays = int((extent - 2.0) // bay_w)
    x0 = (extent - n_bays * bay_w) / 2.0
    free_bays = []
    taken = rng.random((2, n_bays)) < 0.75
    taken[int(rng.integers(2)), int(rng.integers(n_bays))] = False   # at least one free bay
    for row, sign in ((0, -1.0), (1, 1.0)):
        bay_cy = aisle_y + sign * (aisle_half + bay_l / 2.0)
        for i in range(n_bays):
            cx = x0 + (i + 0.5) * bay_w
            if taken[row, i]:
                _fill_rect(occ, resolution_m, cx + rng.normal(0, 0.1), bay_cy + rng.normal(0, 0.15),
                           4.6, 1.85, math.pi / 2 + rng.normal(0, 0.03))
            else:
                free_bays.append((cx, bay_cy, sign))
        # kerb/wall behind the row
        yb = aisle_y + sign * (aisle_half + bay_l + 0.3)
        r = int(yb / resolution_m)
        occ[max(r - wall, 0):r + wall, :] = True
    gx, gy, sign = free_bays[int(rng.integers(len(free_bays)))]
    # nose-in or tail-in; the planning reference point (rear axle) sits 1.25 m behind the
    # centre of a 4.5 m car with 1 m rear overhang (hybrid_astar.Footprint defaults)
    goal_yaw = math.pi / 2 if rng.random() < 0.5 else -math.pi / 2
    gx -= 1.25 * math.cos(goal_yaw)
    gy -= 1.25 * math.sin(goal_yaw)
    start = (rng.uniform(3.0, 6.0), aisle_y + rng.uniform(-0.5, 0.5), 0.0)
    if rng.random() < 0.5:
        start = (extent - start[0], start[1], math.pi)
    return MapCase(f"parking-{seed}", occ, resolution_m, (0.0, 0.0), start, (gx, gy, goal_yaw))


def maze(seed: int, size: int = 384, resolution_m: float = 0.1, cells: int = 4) -> MapCase:
    """A perfect maze (recursive backtracker) of ``cells`` x ``cells`` rooms; start and goal in
    opposite corners, so the path must turn through several corridors."""
    rng = np.random.default_rng(seed)
    occ = np.zeros((size, size), dtype=bool)
    wall = max(2, int(0.3 / resolution_m))
    cell_px = size // cells
    # walls[i][j] = (east wall present, north wall present)
    east = np.ones((cells, cells), dtype=bool)
    north = np.ones((cells, cells), dtype=bool)
    visited = np.zeros((cells, cells), dtype=bool)
    stack = [(0, 0)]
    visited[0, 0] = True
    while stack:
        i, j = stack[-1]
        nbrs = [(i + di, j + dj) for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1))
                if 0 <= i + di < cells and 0 <= j + dj < cells and not visited[i + di, j + dj]]
        if not nbrs:
            stack.pop()
            continue
        ni, nj = nbrs[int(rng.integers(len(nbrs)))]
        if ni == i + 1:
            east[i, j] = False
        elif ni == i - 1:
            east[ni, nj] = False
        elif nj == j + 1:
            north[i, j] = False
        else:
            north[ni, nj] = False
        visited[ni, nj] = True
        stack.append((ni, nj))
    occ[:wall, :] = occ[-wall:, :] = occ[:, :wall] = occ[:, -wall:] = True
    for i in range(cells):          # i = column (x), j = row (y)
        for j in range(cells):
            x1 = (i + 1) * cell_px
            y1 = (j + 1) * cell_px
            if east[i, j] and i < cells - 1:
                occ[j * cell_px:(j + 1) * cell_px + wall, x1 - wall:x1 + wall] = True
            if north[i, j] and j < cells - 1:
                occ[y1 - wall:y1 + wall, i * cell_px:(i + 1) * cell_px + wall] = True
    cm = cell_px * resolution_m
    start = (0.5 * cm - 1.0, 0.5 * cm, 0.0)
    goal = ((cells - 0.5) * cm - 1.0, (cells - 0.5) * cm, float(rng.choice([0.0, math.pi / 2, math.pi, -math.pi / 2])))
    return MapCase(f"maze-{seed}", occ, resolution_m, (0.0, 0.0), start, goal)

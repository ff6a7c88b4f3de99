"""Occupancy-grid helpers shared by the grid A* and Hybrid-A* planners (core, no rclpy).

Conventions follow nav_msgs/OccupancyGrid: ``occupied[row, col]`` with row = y index and
col = x index, ``origin_xy`` is the world position of the *corner* of cell (0, 0), cell
(r, c) has its centre at ``origin + ((c + 0.5) * res, (r + 0.5) * res)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra


class PlanningError(ValueError):
    """A planning request that cannot be served; ``reason`` is a short machine-readable code.

    Codes: ``invalid_input``, ``start_in_obstacle``, ``goal_in_obstacle``, ``start_outside_map``,
    ``goal_outside_map``, ``unreachable``, ``timeout``.
    """

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def _as_point(name: str, value) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise PlanningError("invalid_input", f"{name} must be numeric, got {value!r}") from exc
    if arr.size < 2:
        raise PlanningError("invalid_input", f"{name} needs at least (x, y), got {value!r}")
    if not np.all(np.isfinite(arr)):
        raise PlanningError("invalid_input", f"{name} contains NaN/inf: {value!r}")
    return arr


def fmt_point(pt) -> str:
    return "(" + ", ".join(f"{float(v):.3f}" for v in pt) + ")"


@dataclass(frozen=True)
class GridMap:
    """A validated occupancy grid (True = occupied)."""

    occupied: np.ndarray
    resolution_m: float
    origin_xy: tuple

    @staticmethod
    def create(occupied, resolution_m: float, origin_xy) -> "GridMap":
        occ = np.asarray(occupied)
        if occ.ndim != 2 or occ.shape[0] < 2 or occ.shape[1] < 2:
            raise PlanningError("invalid_input", f"occupied must be a 2-D (H, W) array with H, W >= 2, "
                                                 f"got shape {occ.shape}")
        if occ.dtype != bool:
            if not np.issubdtype(occ.dtype, np.number):
                raise PlanningError("invalid_input", f"occupied must be bool or numeric, got {occ.dtype}")
            occ = occ != 0
        if not (np.isfinite(resolution_m) and resolution_m > 0):
            raise PlanningError("invalid_input", f"resolution_m must be > 0, got {resolution_m!r}")
        origin = _as_point("origin_xy", origin_xy)[:2]
        return GridMap(occ, float(resolution_m), (float(origin[0]), float(origin[1])))

    @property
    def shape(self):
        return self.occupied.shape

    def world_to_cell(self, xy) -> np.ndarray:
        """(..., 2) world xy -> (..., 2) integer (row, col); may be outside the grid."""
        xy = np.asarray(xy, dtype=float)
        col = np.floor((xy[..., 0] - self.origin_xy[0]) / self.resolution_m).astype(np.int64)
        row = np.floor((xy[..., 1] - self.origin_xy[1]) / self.resolution_m).astype(np.int64)
        return np.stack([row, col], axis=-1)

    def cell_to_world(self, rc) -> np.ndarray:
        """(..., 2) (row, col) -> (..., 2) world xy of the cell centres."""
        rc = np.asarray(rc, dtype=float)
        x = self.origin_xy[0] + (rc[..., 1] + 0.5) * self.resolution_m
        y = self.origin_xy[1] + (rc[..., 0] + 0.5) * self.resolution_m
        return np.stack([x, y], axis=-1)

    def in_bounds(self, rc) -> np.ndarray:
        rc = np.asarray(rc)
        return (rc[..., 0] >= 0) & (rc[..., 0] < self.shape[0]) & (rc[..., 1] >= 0) & (rc[..., 1] < self.shape[1])

    def clearance_m(self) -> np.ndarray:
        """Distance (m) from every cell centre to the nearest occupied cell centre."""
        if not self.occupied.any():
            return np.full(self.shape, np.inf)
        return ndimage.distance_transform_edt(~self.occupied) * self.resolution_m

    def inflate(self, radius_m: float) -> np.ndarray:
        """Cells whose centre is closer than ``radius_m`` to an obstacle cell (a disc footprint).

        Distance is measured centre to centre, so half a cell is added: an obstacle cell covers
        its whole square, not only its centre.
        """
        if not (np.isfinite(radius_m) and radius_m >= 0):
            raise PlanningError("invalid_input", f"robot_radius_m must be finite and >= 0, got {radius_m!r}")
        return self.clearance_m() < radius_m + 0.5 * self.resolution_m


def check_endpoints(grid: GridMap, blocked: np.ndarray, start_xy, goal_xy):
    """Validate start/goal against the map; returns their (row, col) cells."""
    start = _as_point("start_xy", start_xy)[:2]
    goal = _as_point("goal_xy", goal_xy)[:2]
    s_rc = grid.world_to_cell(start)
    g_rc = grid.world_to_cell(goal)
    if not grid.in_bounds(s_rc):
        raise PlanningError("start_outside_map", f"start {fmt_point(start)} is outside the map "
                                                 f"(origin {grid.origin_xy}, {grid.shape[1]}x{grid.shape[0]} cells "
                                                 f"of {grid.resolution_m} m)")
    if not grid.in_bounds(g_rc):
        raise PlanningError("goal_outside_map", f"goal {fmt_point(goal)} is outside the map "
                                                f"(origin {grid.origin_xy}, {grid.shape[1]}x{grid.shape[0]} cells "
                                                f"of {grid.resolution_m} m)")
    if grid.occupied[tuple(s_rc)] or blocked[tuple(s_rc)]:
        why = "an occupied cell" if grid.occupied[tuple(s_rc)] else "the inflated footprint margin of an obstacle"
        raise PlanningError("start_in_obstacle", f"start {fmt_point(start)} lies in {why}")
    if grid.occupied[tuple(g_rc)] or blocked[tuple(g_rc)]:
        why = "an occupied cell" if grid.occupied[tuple(g_rc)] else "the inflated footprint margin of an obstacle"
        raise PlanningError("goal_in_obstacle", f"goal {fmt_point(goal)} lies in {why}")
    return s_rc, g_rc


_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def dijkstra_field(blocked: np.ndarray, goal_rc, resolution_m: float, limit_m: float = np.inf) -> np.ndarray:
    """Shortest 8-connected path length (m) from every free cell to ``goal_rc``; inf where unreachable.

    Built on scipy's C Dijkstra over a sparse graph constructed with numpy, so a 384x384 field
    takes tens of milliseconds instead of seconds of Python heap operations. Used as the
    obstacle-aware heuristic of Hybrid-A*. Diagonal moves are refused when they would cut an
    occupied corner.
    """
    h, w = blocked.shape
    free = ~blocked
    idx = np.arange(h * w).reshape(h, w)
    rows, cols, costs = [], [], []
    for dr, dc in _NEIGHBOURS:
        r0, r1 = max(0, -dr), h - max(0, dr)
        c0, c1 = max(0, -dc), w - max(0, dc)
        ok = free[r0:r1, c0:c1] & free[r0 + dr:r1 + dr, c0 + dc:c1 + dc]
        if dr and dc:  # no corner cutting
            ok &= free[r0 + dr:r1 + dr, c0:c1] & free[r0:r1, c0 + dc:c1 + dc]
        src = idx[r0:r1, c0:c1][ok]
        dst = idx[r0 + dr:r1 + dr, c0 + dc:c1 + dc][ok]
        rows.append(src)
        cols.append(dst)
        costs.append(np.full(src.size, np.hypot(dr, dc) * resolution_m))
    graph = csr_matrix((np.concatenate(costs), (np.concatenate(rows), np.concatenate(cols))), shape=(h * w, h * w))
    # The graph is symmetric, so distances *from* the goal equal distances *to* it.
    dist = dijkstra(graph, directed=True, indices=int(goal_rc[0]) * w + int(goal_rc[1]), limit=limit_m)
    return dist.reshape(h, w)


def segment_free(blocked: np.ndarray, grid: GridMap, a_xy, b_xy) -> bool:
    """True when the straight segment a->b stays in free, in-bounds cells (sampled at res/2)."""
    a = np.asarray(a_xy, dtype=float)
    b = np.asarray(b_xy, dtype=float)
    n = max(2, int(np.ceil(np.hypot(*(b - a)) / (0.5 * grid.resolution_m))) + 1)
    pts = a + np.linspace(0.0, 1.0, n)[:, None] * (b - a)
    rc = grid.world_to_cell(pts)
    if not grid.in_bounds(rc).all():
        return False
    return not blocked[rc[:, 0], rc[:, 1]].any()


def validate_path(path, name: str = "path") -> np.ndarray:
    """Reject empty / non-finite / wrongly shaped paths with a clear message."""
    try:
        arr = np.asarray(path, dtype=float)
    except (TypeError, ValueError) as exc:
        raise PlanningError("invalid_input", f"{name} must be an (N, 2) numeric array") from exc
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise PlanningError("invalid_input", f"{name} must have shape (N, 2+), got {arr.shape}")
    if arr.shape[0] == 0:
        raise PlanningError("invalid_input", f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        bad = int(np.argwhere(~np.isfinite(arr))[0, 0])
        raise PlanningError("invalid_input", f"{name} has NaN/inf at point {bad}")
    return arr

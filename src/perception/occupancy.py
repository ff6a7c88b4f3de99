"""Local occupancy grid from a 2-D laser scan: ray-traced free space, hits, inflation.

Core module (numpy / scipy, no rclpy). Values follow nav_msgs/OccupancyGrid: -1 unknown,
0 free, 100 occupied; cells within ``inflation_radius_m`` of a hit get ``INFLATED`` (99), so a
planner treating >= 99 as lethal keeps its footprint radius off obstacles.

Ray tracing is an integer DDA that visits the same cells as Bresenham's line algorithm
(one cell per step along the major axis, rounding the minor axis), vectorised over all beams:
every beam gets ``max_steps`` samples and samples past the beam's own length are masked.

LaserScan conventions (REP 117): NaN = invalid (skipped, counted), -Inf = too close (skipped,
counted), +Inf = no return within range (free space up to ``range_max``, no hit), readings
outside [range_min, range_max] are treated the same way.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

UNKNOWN, FREE, OCCUPIED, INFLATED = -1, 0, 100, 99


@dataclass
class GridSpec:
    resolution_m: float = 0.1
    width_cells: int = 400
    height_cells: int = 400
    origin_x_m: float = -20.0  # map-frame position of cell (0, 0)'s corner
    origin_y_m: float = -20.0

    def validate(self):
        if not (np.isfinite(self.resolution_m) and self.resolution_m > 0):
            raise ValueError(f"GridSpec.resolution_m must be > 0, got {self.resolution_m}")
        if self.width_cells < 1 or self.height_cells < 1:
            raise ValueError(f"GridSpec width/height must be >= 1, got {self.width_cells}x{self.height_cells}")

    @classmethod
    def centred(cls, x_m, y_m, size_m=40.0, resolution_m=0.1):
        n = int(round(size_m / resolution_m))
        return cls(resolution_m, n, n, x_m - size_m / 2, y_m - size_m / 2)


def scan_to_grid(ranges, angle_min_rad: float, angle_increment_rad: float, range_min_m: float,
                 range_max_m: float, sensor_pose_xyyaw, spec: GridSpec,
                 inflation_radius_m: float = 0.3, warnings: Counter | None = None) -> np.ndarray:
    """Return an int8 grid (height_cells, width_cells), row = y index, column = x index."""
    spec.validate()
    warnings = warnings if warnings is not None else Counter()
    grid = np.full((spec.height_cells, spec.width_cells), UNKNOWN, dtype=np.int8)
    r = np.asarray(ranges, dtype=float).reshape(-1)
    if r.size == 0:
        warnings["scan_empty"] += 1
        return grid
    if not (np.isfinite(angle_min_rad) and np.isfinite(angle_increment_rad)
            and np.isfinite(range_max_m) and range_max_m > 0):
        warnings["scan_header_invalid"] += 1
        return grid
    sx, sy, syaw = (float(v) for v in sensor_pose_xyyaw)
    if not all(np.isfinite([sx, sy, syaw])):
        warnings["sensor_pose_non_finite"] += 1
        return grid
    ang = angle_min_rad + angle_increment_rad * np.arange(r.size) + syaw
    nan = np.isnan(r)
    neg_inf = np.isneginf(r)
    warnings["range_nan"] += int(nan.sum())
    warnings["range_neg_inf"] += int(neg_inf.sum())
    too_close = np.isfinite(r) & (r < range_min_m)
    warnings["range_below_min"] += int(too_close.sum())
    valid = ~nan & ~neg_inf & ~too_close
    no_return = valid & (~np.isfinite(r) | (r > range_max_m))
    hit = valid & ~no_return
    length = np.where(hit, r, range_max_m)
    length = np.where(valid, length, 0.0)

    res = spec.resolution_m
    gx0 = (sx - spec.origin_x_m) / res
    gy0 = (sy - spec.origin_y_m) / res
    gx1 = gx0 + length * np.cos(ang) / res
    gy1 = gy0 + length * np.sin(ang) / res
    ix0, iy0 = int(np.floor(gx0)), int(np.floor(gy0))
    ix1, iy1 = np.floor(gx1).astype(np.int64), np.floor(gy1).astype(np.int64)
    dx, dy = ix1 - ix0, iy1 - iy0
    steps = np.maximum(np.abs(dx), np.abs(dy))
    sel = np.flatnonzero(valid & (steps > 0))
    if sel.size:
        max_steps = int(steps[sel].max())
        t = np.arange(max_steps)  # exclude the end cell: it is the hit (or the range limit)
        frac = t[None, :] / steps[sel, None]
        cx = ix0 + np.rint(frac * dx[sel, None]).astype(np.int64)
        cy = iy0 + np.rint(frac * dy[sel, None]).astype(np.int64)
        m = (t[None, :] < steps[sel, None]) & (cx >= 0) & (cy >= 0) & \
            (cx < spec.width_cells) & (cy < spec.height_cells)
        grid[cy[m], cx[m]] = FREE
    hx, hy = ix1[hit], iy1[hit]
    inside = (hx >= 0) & (hy >= 0) & (hx < spec.width_cells) & (hy < spec.height_cells)
    occ = np.zeros(grid.shape, bool)
    occ[hy[inside], hx[inside]] = True
    if inflation_radius_m > 0 and occ.any():
        dist_cells = ndimage.distance_transform_edt(~occ)
        grid[(dist_cells * res <= inflation_radius_m) & ~occ] = INFLATED
    grid[occ] = OCCUPIED
    return grid

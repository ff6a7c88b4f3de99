"""Static occupancy grid of an SDF world (core, numpy only): the prior map a planner gets.

Every static model's collision geometry whose height band overlaps [z_min, z_max] is rasterised
(box: oriented rectangle from its yaw; cylinder/sphere/capsule: disc; mesh/other: its bounding
disc, conservative). Terrain (planes, heightmaps) is not an obstacle. Actors are not in the map:
they move, and the vehicle's sensors have to see them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .sdf import World


@dataclass
class OccupancyMap:
    occupied: np.ndarray          # (H, W) bool, row = y, col = x
    resolution_m: float
    origin_xy: tuple              # world position of the corner of cell (0, 0)

    @property
    def extent(self) -> tuple:
        h, w = self.occupied.shape
        x0, y0 = self.origin_xy
        return x0, x0 + w * self.resolution_m, y0, y0 + h * self.resolution_m


def footprints(world: World, z_min: float = 0.05, z_max: float = 2.5) -> list[tuple]:
    """[(kind, params, model name)] of static obstacle shapes in the ground plane:
    ("box", (cx, cy, yaw, sx, sy)), ("disc", (cx, cy, r))."""
    shapes = []
    for model in world.models:
        if not model.static:
            continue
        for link in model.links:
            for col in link.collisions:
                g = col.geometry
                if g.kind in ("plane", "heightmap"):
                    continue
                tf = model.pose @ link.pose @ col.pose
                cx, cy, cz = tf[:3, 3]
                if g.kind == "box":
                    half_z = 0.5 * float(np.abs(tf[2, :3]) @ np.asarray(g.size))
                elif g.kind in ("cylinder", "capsule"):
                    half_z = 0.5 * g.size[1] + (g.size[0] if g.kind == "capsule" else 0.0)
                elif g.kind == "sphere":
                    half_z = g.size[0]
                else:
                    half_z = math.inf
                if cz + half_z < z_min or cz - half_z > z_max:
                    continue
                if g.kind == "box":
                    yaw = math.atan2(tf[1, 0], tf[0, 0])
                    shapes.append(("box", (cx, cy, yaw, g.size[0], g.size[1]), model.name))
                elif g.kind in ("cylinder", "capsule", "sphere"):
                    shapes.append(("disc", (cx, cy, g.size[0]), model.name))
                else:
                    shapes.append(("disc", (cx, cy, 5.0 * max(g.scale)), model.name))
    return shapes


def occupancy_from_world(world: World, resolution_m: float, bounds_xy: tuple, z_min: float = 0.05,
                         z_max: float = 2.5) -> OccupancyMap:
    """bounds_xy = (x_min, x_max, y_min, y_max) of the grid."""
    if resolution_m <= 0:
        raise ValueError(f"resolution_m must be > 0, got {resolution_m}")
    x0, x1, y0, y1 = bounds_xy
    w = int(math.ceil((x1 - x0) / resolution_m))
    h = int(math.ceil((y1 - y0) / resolution_m))
    xs = x0 + (np.arange(w) + 0.5) * resolution_m
    ys = y0 + (np.arange(h) + 0.5) * resolution_m
    gx, gy = np.meshgrid(xs, ys)
    occ = np.zeros((h, w), dtype=bool)
    for kind, p, _ in footprints(world, z_min, z_max):
        if kind == "box":
            cx, cy, yaw, sx, sy = p
            c, s = math.cos(yaw), math.sin(yaw)
            dx, dy = gx - cx, gy - cy
            lx, ly = c * dx + s * dy, -s * dx + c * dy
            # a cell is occupied if any part of it is: pad by half a cell
            pad = 0.5 * resolution_m
            occ |= (np.abs(lx) <= sx / 2 + pad) & (np.abs(ly) <= sy / 2 + pad)
        else:
            cx, cy, r = p
            occ |= (gx - cx) ** 2 + (gy - cy) ** 2 <= (r + 0.5 * resolution_m) ** 2
    return OccupancyMap(occ, resolution_m, (x0, y0))

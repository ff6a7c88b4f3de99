"""Display outlines of zone volumes (core: no rclpy; the node turns them into markers).

Each volume becomes a set of 3-D line segments: its boundary rings at the band's floor and
ceiling, and vertical edges at up to `max_vertical_edges` boundary vertices. Unlimited or
very high ceilings are drawn at `max_display_z_m` so displays stay usable.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

import numpy as np
import shapely

from .index import ZoneSet
from .model import Restriction

COLOURS = {  # RGBA
    Restriction.PROHIBITED: (0.9, 0.1, 0.1, 0.9),
    Restriction.REQ_AUTHORISATION: (1.0, 0.55, 0.0, 0.9),
    Restriction.CONDITIONAL: (1.0, 0.9, 0.1, 0.9),
    Restriction.USPACE: (0.6, 0.2, 0.9, 0.9),
    Restriction.NO_RESTRICTION: (0.2, 0.8, 0.2, 0.6),
}
KEEP_IN_COLOUR = (0.1, 0.4, 1.0, 0.9)


@dataclass
class Outline:
    volume: int
    zone_id: str
    namespace: str
    colour: Tuple[float, float, float, float]
    segments: np.ndarray  # (M, 2, 3) line segments, local frame


def zone_outlines(zones: ZoneSet, centre_xy=(0.0, 0.0), radius_m: float = 50_000.0,
                  max_display_z_m: float = 500.0, simplify_m: float = 1.0,
                  max_vertical_edges: int = 16, max_volumes: int = 5000) -> List[Outline]:
    query = shapely.Point(*centre_xy).buffer(radius_m, quad_segs=8)
    volumes = np.sort(zones.tree.query(query, predicate="intersects"))[:max_volumes]
    if volumes.size == 0:
        return []
    lo, hi = zones.band_z(volumes)
    hi = np.minimum(hi, max_display_z_m)
    lo = np.minimum(lo, hi)
    simplified = shapely.simplify(zones.geoms[volumes], simplify_m, preserve_topology=True)
    outlines = []
    for k, volume in enumerate(volumes):
        zone = zones.zone_of_volume(int(volume))
        segments = []
        for ring in shapely.get_rings(simplified[k]):
            xy = np.asarray(ring.coords)
            if len(xy) < 2:
                continue
            for z in (lo[k], hi[k]):
                pts = np.column_stack([xy, np.full(len(xy), z)])
                segments.append(np.stack([pts[:-1], pts[1:]], axis=1))
            step = max(1, (len(xy) - 1) // max_vertical_edges)
            corners = xy[:-1:step]
            vertical = np.stack([np.column_stack([corners, np.full(len(corners), lo[k])]),
                                 np.column_stack([corners, np.full(len(corners), hi[k])])], axis=1)
            segments.append(vertical)
        colour = KEEP_IN_COLOUR if zone.keep_in else COLOURS[zone.restriction]
        namespace = "KEEP_IN" if zone.keep_in else zone.restriction.value
        outlines.append(Outline(int(volume), zone.identifier, namespace, colour,
                                np.concatenate(segments) if segments else np.zeros((0, 2, 3))))
    return outlines

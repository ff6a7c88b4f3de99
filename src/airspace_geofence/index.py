"""Compiled zone set: local-frame geometry, STRtree spatial index, vectorised queries
(core: no rclpy).

Every volume of every zone becomes one row: a shapely polygon in the local frame (metres,
see geodesy.py) in an STRtree, and numpy arrays for its vertical band, restriction, keep-in
flag and owning zone. Queries take (N,3) local positions and work on all N at once:
bounding-box candidates from the tree (C speed), then `shapely.intersects_xy` on the
*prepared* candidate polygons for the exact horizontal test, then the vertical band and the
time/authorisation mask with numpy.

Circles are turned into circumscribed regular polygons (vertices at r / cos(pi/n)), so the
polygon always contains the published circle and overshoots it by at most
`circle_tolerance_m` (n chosen per circle from its radius, capped at `max_circle_vertices`).

Vertical: a local position's z is altitude AMSL minus the frame origin's altitude. Band
limits convert to the same z with the `VerticalDatum`: AGL limits add the terrain elevation,
WGS84 (ellipsoid) limits subtract the geoid undulation N (h = H + N).
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import shapely
from shapely import STRtree

from .geodesy import LocalFrame
from .model import AUTHORISABLE, Restriction, VerticalRef, Zone, ZoneError

_RESTRICTION_CODES = {r: i for i, r in enumerate(Restriction)}


@dataclass(frozen=True)
class VerticalDatum:
    """How published vertical references map to altitude AMSL.

    ground_elevation_amsl_m: terrain elevation used for AGL limits where no `terrain` function
      is given (a mission area's ground level; for large areas pass `terrain`).
    geoid_undulation_m: N = ellipsoid height - AMSL altitude at the operating area (e.g. about
      +49..+53 m over Switzerland, EGM96/CHGeo2004), used for WGS84-referenced limits.
    terrain: optional callable (x_m, y_m arrays in the local frame) -> ground AMSL metres.
    """
    ground_elevation_amsl_m: float = 0.0
    geoid_undulation_m: float = 0.0
    terrain: Optional[Callable[[np.ndarray, np.ndarray], np.ndarray]] = None

    def __post_init__(self):
        for name in ("ground_elevation_amsl_m", "geoid_undulation_m"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f"VerticalDatum.{name} must be finite, got {value}")


@dataclass
class ProximityPairs:
    """Result of `ZoneSet.proximity`: one row per (query point, nearby volume).

    barrier_m: signed clearance: for keep-out volumes the 3-D distance to the volume (negative
      = inside, minus the depth of the shortest way out); for keep-in volumes the depth inside
      (negative = outside by that distance).
    normal: unit 3-D direction in which barrier_m grows fastest (away from a keep-out volume,
      towards the inside of a keep-in one; when inside a keep-out volume: the shortest way out).
    horizontal_m / vertical_m: the horizontal and vertical components of that clearance.
    """
    point: np.ndarray
    volume: np.ndarray
    barrier_m: np.ndarray
    normal: np.ndarray
    horizontal_m: np.ndarray
    vertical_m: np.ndarray
    keep_in: np.ndarray


class ZoneSet:
    """Zones compiled for queries in one local frame."""

    def __init__(self, zones: Sequence[Zone], frame: Optional[LocalFrame] = None,
                 datum: VerticalDatum = VerticalDatum(), circle_tolerance_m: float = 0.25,
                 max_circle_vertices: int = 256, local_geometries: Optional[Sequence] = None):
        if not (circle_tolerance_m > 0 and math.isfinite(circle_tolerance_m)):
            raise ValueError(f"circle_tolerance_m must be > 0, got {circle_tolerance_m}")
        self.zones: List[Zone] = list(zones)
        self.datum = datum
        self.circle_tolerance_m = float(circle_tolerance_m)
        self.max_circle_vertices = int(max_circle_vertices)
        volumes = [(zi, v) for zi, z in enumerate(self.zones) for v in z.volumes]
        self.volume_zone = np.fromiter((zi for zi, _ in volumes), np.int64, len(volumes))
        if frame is None:
            frame = _frame_for(self.zones) if local_geometries is None else LocalFrame(0.0, 0.0, 0.0)
        self.frame = frame
        if local_geometries is not None:
            if len(local_geometries) != len(volumes):
                raise ValueError(f"{len(local_geometries)} local geometries for {len(volumes)} volumes")
            self.geoms = np.asarray(local_geometries, dtype=object)
        else:
            self.geoms = self._project([v for _, v in volumes])
        n = len(volumes)
        self.lower_m = np.fromiter((v.lower.value_m for _, v in volumes), float, n)
        self.upper_m = np.fromiter((v.upper.value_m for _, v in volumes), float, n)
        self.lower_ref = np.fromiter((int(v.lower.ref) for _, v in volumes), np.int8, n)
        self.upper_ref = np.fromiter((int(v.upper.ref) for _, v in volumes), np.int8, n)
        self.keep_in = np.fromiter((self.zones[zi].keep_in for zi, _ in volumes), bool, n)
        self.restriction = np.fromiter((_RESTRICTION_CODES[z.restriction] for z in self.zones), np.int8,
                                       len(self.zones))
        self.zone_ids = [z.identifier for z in self.zones]
        self._zones_by_id: Dict[str, List[int]] = {}
        for zi, z in enumerate(self.zones):
            self._zones_by_id.setdefault(z.identifier, []).append(zi)
        self._time_limited = np.array([zi for zi, z in enumerate(self.zones) if z.time_limited], np.int64)
        shapely.prepare(self.geoms)
        self.tree = STRtree(self.geoms)
        self.bounds = shapely.bounds(self.geoms)
        self._boundaries = None
        self._grid = None
        self._band_cache: Optional[Tuple[np.ndarray, np.ndarray]] = None
        self._mask_cache: Dict[tuple, np.ndarray] = {}
        self.has_keep_in = bool(self.keep_in.any())

    # ---- construction -------------------------------------------------------------------
    def _project(self, volumes) -> np.ndarray:
        geoms = np.empty(len(volumes), dtype=object)
        poly_idx = [i for i, v in enumerate(volumes) if not v.is_circle]
        circle_idx = [i for i, v in enumerate(volumes) if v.is_circle]
        if poly_idx:
            lonlat = np.array([volumes[i].horizontal for i in poly_idx], dtype=object)
            geoms[poly_idx] = shapely.transform(lonlat, self.frame.transform_coords)
        if circle_idx:
            lon = np.array([volumes[i].horizontal.lon for i in circle_idx])
            lat = np.array([volumes[i].horizontal.lat for i in circle_idx])
            radius = np.array([volumes[i].horizontal.radius_m for i in circle_idx])
            cx, cy = self.frame.to_local_xy(lon, lat)
            geoms[circle_idx] = circle_polygons(cx, cy, radius, self.circle_tolerance_m, self.max_circle_vertices)
        return geoms

    @classmethod
    def from_local(cls, geometries: Sequence, zones: Sequence[Zone], **kwargs) -> "ZoneSet":
        """Zone set whose volumes are already polygons in a local metric frame (synthetic
        data, tests). `zones` give restriction/band/applicability, one volume per geometry."""
        return cls(zones, local_geometries=geometries, **kwargs)

    # ---- sizes ----------------------------------------------------------------------------
    @property
    def n_volumes(self) -> int:
        return len(self.geoms)

    @property
    def n_vertices(self) -> int:
        return int(shapely.get_num_coordinates(self.geoms).sum())

    def __len__(self) -> int:
        return len(self.zones)

    @property
    def boundaries(self) -> np.ndarray:
        if self._boundaries is None:
            self._boundaries = shapely.boundary(self.geoms)
        return self._boundaries

    # ---- vertical ----------------------------------------------------------------------------
    def _ref_offset(self, ref: np.ndarray, ground_amsl: np.ndarray) -> np.ndarray:
        """Offset (m) that turns a limit in `ref` into altitude AMSL."""
        return np.where(ref == int(VerticalRef.AGL), ground_amsl,
                        np.where(ref == int(VerticalRef.WGS84), -self.datum.geoid_undulation_m, 0.0))

    def band_z(self, volumes: np.ndarray, x: Optional[np.ndarray] = None,
               y: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
        """Lower/upper z (local frame) of `volumes`; with a terrain model, at (x, y)."""
        volumes = np.asarray(volumes, np.int64)
        if self.datum.terrain is None:
            if self._band_cache is None:
                ground = np.full(self.n_volumes, self.datum.ground_elevation_amsl_m)
                origin = self.frame.origin_alt_amsl_m
                self._band_cache = (self.lower_m + self._ref_offset(self.lower_ref, ground) - origin,
                                    self.upper_m + self._ref_offset(self.upper_ref, ground) - origin)
            return self._band_cache[0][volumes], self._band_cache[1][volumes]
        ground = np.asarray(self.datum.terrain(np.asarray(x, float), np.asarray(y, float)), float)
        ground = np.broadcast_to(ground, volumes.shape)
        origin = self.frame.origin_alt_amsl_m
        lo = self.lower_m[volumes] + self._ref_offset(self.lower_ref[volumes], ground) - origin
        hi = self.upper_m[volumes] + self._ref_offset(self.upper_ref[volumes], ground) - origin
        return lo, hi

    def ground_z(self, x, y) -> np.ndarray:
        if self.datum.terrain is None:
            return np.full(np.shape(x), self.datum.ground_elevation_amsl_m - self.frame.origin_alt_amsl_m)
        return np.asarray(self.datum.terrain(np.asarray(x, float), np.asarray(y, float)), float) \
            - self.frame.origin_alt_amsl_m

    # ---- time and authorisation ----------------------------------------------------------
    def zone_active(self, when: Optional[dt.datetime]) -> np.ndarray:
        """Per zone: active at `when` (None: all active, the safe assumption)."""
        active = np.ones(len(self.zones), bool)
        if when is not None:
            for zi in self._time_limited:
                active[zi] = self.zones[zi].active(when)
        return active

    def volume_mask(self, when: Optional[dt.datetime] = None, authorised: Iterable[str] = (),
                    constraining_only: bool = True) -> np.ndarray:
        """Per volume: active at `when` and (if constraining_only) restricting this vehicle."""
        authorised = frozenset(authorised)
        key = (None if when is None else int(when.timestamp()), authorised, constraining_only)
        cached = self._mask_cache.get(key)
        if cached is not None:
            return cached
        zone_ok = self.zone_active(when)
        if constraining_only:
            zone_ok &= self.restriction != _RESTRICTION_CODES[Restriction.NO_RESTRICTION]
            for identifier in authorised:
                for zi in self._zones_by_id.get(identifier, ()):
                    if self.zones[zi].restriction in AUTHORISABLE and not self.zones[zi].keep_in:
                        zone_ok[zi] = False
        mask = zone_ok[self.volume_zone]
        if len(self._mask_cache) > 64:
            self._mask_cache.clear()
        self._mask_cache[key] = mask
        return mask

    # ---- point queries --------------------------------------------------------------------
    def point_hits(self, points: np.ndarray, when: Optional[dt.datetime] = None,
                   authorised: Iterable[str] = (), constraining_only: bool = True,
                   include_keep_in: bool = False, method: str = "grid") -> Tuple[np.ndarray, np.ndarray]:
        """(point index, volume index) pairs: volume contains the point (horizontally, border
        included, and within its vertical band) and is active. Vectorised over all points.

        method "grid" (default) gets bounding-box candidates from a uniform grid over the
        volumes' bounding boxes with numpy only (no shapely Point objects: creating them
        costs more than the rest of the query); "strtree" asks the STRtree with shapely
        points (kept as the baseline the benchmark compares against)."""
        points = _as_points(points)
        if method == "grid":
            p_idx, v_idx = self._grid_candidates(points)
        elif method == "strtree":
            p_idx, v_idx = self.tree.query(shapely.points(points[:, :2]))
        else:
            raise ValueError(f"unknown method {method!r}; expected 'grid' or 'strtree'")
        mask = self.volume_mask(when, authorised, constraining_only)
        keep = mask[v_idx]
        if not include_keep_in:
            keep &= ~self.keep_in[v_idx]
        p_idx, v_idx = p_idx[keep], v_idx[keep]
        lo, hi = self.band_z(v_idx, points[p_idx, 0], points[p_idx, 1])
        z = points[p_idx, 2]
        keep = (z >= lo) & (z <= hi)
        p_idx, v_idx = p_idx[keep], v_idx[keep]
        keep = shapely.intersects_xy(self.geoms[v_idx], points[p_idx, 0], points[p_idx, 1])
        return p_idx[keep], v_idx[keep]

    # ---- uniform grid over bounding boxes (bulk point queries) -------------------------------
    _GRID_MAX_CELLS_PER_VOLUME = 256

    def _build_grid(self) -> None:
        b = self.bounds
        size = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
        # cell ~ twice the median volume size: most volumes fall in 1-4 cells, a point meets
        # few candidates; huge volumes (> 256 cells) are tested by bounding box directly
        cell = float(max(2.0 * np.median(size) if len(size) else 1.0, 1.0))
        x0, y0 = float(b[:, 0].min()), float(b[:, 1].min())
        ix0 = np.floor((b[:, 0] - x0) / cell).astype(np.int64)
        ix1 = np.floor((b[:, 2] - x0) / cell).astype(np.int64)
        iy0 = np.floor((b[:, 1] - y0) / cell).astype(np.int64)
        iy1 = np.floor((b[:, 3] - y0) / cell).astype(np.int64)
        ny = int(iy1.max()) + 2
        nx_span, ny_span = ix1 - ix0 + 1, iy1 - iy0 + 1
        spans = nx_span * ny_span
        big = spans > self._GRID_MAX_CELLS_PER_VOLUME
        small = np.flatnonzero(~big)
        rep = spans[small]
        vol = np.repeat(small, rep)
        offset = np.arange(rep.sum()) - np.repeat(np.cumsum(rep) - rep, rep)
        cx = ix0[vol] + offset // ny_span[vol]
        cy = iy0[vol] + offset % ny_span[vol]
        cid = cx * ny + cy
        order = np.argsort(cid, kind="stable")
        cid, vol = cid[order], vol[order]
        cells, start, count = np.unique(cid, return_index=True, return_counts=True)
        nx = int(ix1.max()) + 2
        # dense cell -> slot table when small enough (a gather instead of a binary search:
        # measured 2x faster on 1 M points over 100 k zones); sorted cells + searchsorted else
        dense = None
        if nx * ny <= 32_000_000:
            dense = np.full(nx * ny, -1, np.int32 if len(cells) < 2 ** 31 else np.int64)
            dense[cells] = np.arange(len(cells))
        self._grid = dict(cell=cell, x0=x0, y0=y0, nx=nx, ny=ny, cells=cells, start=start, count=count,
                          entries=vol, big=np.flatnonzero(big), dense=dense)

    def _grid_candidates(self, points: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        if self.n_volumes == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        if getattr(self, "_grid", None) is None:
            self._build_grid()
        g = self._grid
        x, y = points[:, 0], points[:, 1]
        cx = np.floor((x - g["x0"]) / g["cell"]).astype(np.int64)
        cy = np.floor((y - g["y0"]) / g["cell"]).astype(np.int64)
        valid = (cx >= 0) & (cy >= 0) & (cy < g["ny"]) & (cx < g["nx"])
        cid = np.where(valid, cx * g["ny"] + cy, 0)
        if g["dense"] is not None:
            pos = g["dense"][cid]
            found = valid & (pos >= 0)
            pos = np.maximum(pos, 0)
        else:
            pos = np.searchsorted(g["cells"], cid)
            pos = np.minimum(pos, len(g["cells"]) - 1)
            found = valid & (g["cells"][pos] == cid)
        pts = np.flatnonzero(found)
        count = g["count"][pos[pts]]
        start = g["start"][pos[pts]]
        p_idx = np.repeat(pts, count)
        first = np.repeat(start - (np.cumsum(count) - count), count)
        v_idx = g["entries"][first + np.arange(len(p_idx))]
        if g["big"].size:
            bp = np.repeat(np.arange(len(points)), g["big"].size)
            bv = np.tile(g["big"], len(points))
            p_idx, v_idx = np.concatenate([p_idx, bp]), np.concatenate([v_idx, bv])
        b = self.bounds[v_idx]
        px, py = x[p_idx], y[p_idx]
        keep = (px >= b[:, 0]) & (px <= b[:, 2]) & (py >= b[:, 1]) & (py <= b[:, 3])
        return p_idx[keep], v_idx[keep]

    def violations(self, points: np.ndarray, when: Optional[dt.datetime] = None,
                   authorised: Iterable[str] = ()) -> np.ndarray:
        """Per point: True when inside an active restricting volume, or outside every active
        keep-in volume (when the set has any)."""
        points = _as_points(points)
        p_idx, _ = self.point_hits(points, when, authorised)
        bad = np.zeros(len(points), bool)
        bad[p_idx] = True
        if self.has_keep_in:
            active_keep_in = self.volume_mask(when, authorised) & self.keep_in
            if active_keep_in.any():
                p_in, v_in = self.point_hits(points, when, authorised, include_keep_in=True)
                inside_keep_in = np.zeros(len(points), bool)
                inside_keep_in[p_in[self.keep_in[v_in]]] = True
                bad |= ~inside_keep_in
        return bad

    def check_point(self, x: float, y: float, z: float, when: Optional[dt.datetime] = None,
                    authorised: Iterable[str] = ()) -> bool:
        """Single point: True when it violates (see `violations`). Low-latency path: one
        bbox query, numpy filters on the few candidates, one prepared point-in-polygon test."""
        if self.has_keep_in:
            return bool(self.violations(np.array([[x, y, z]], float), when, authorised)[0])
        candidates = self.tree.query(shapely.Point(x, y))
        if candidates.size == 0:
            return False
        mask = self.volume_mask(when, authorised)
        lo, hi = self.band_z(candidates, np.full(len(candidates), x), np.full(len(candidates), y))
        candidates = candidates[mask[candidates] & (z >= lo) & (z <= hi)]
        if candidates.size == 0:
            return False
        return bool(shapely.intersects_xy(self.geoms[candidates], x, y).any())

    def zones_containing(self, point, when: Optional[dt.datetime] = None,
                         authorised: Iterable[str] = (), constraining_only: bool = False) -> List[str]:
        """Identifiers (unique, ordered) of the zones whose volume contains `point`."""
        _, volumes = self.point_hits(np.asarray(point, float).reshape(1, 3), when, authorised,
                                     constraining_only=constraining_only, include_keep_in=True)
        seen = []
        for zi in self.volume_zone[np.sort(volumes)]:
            identifier = self.zones[zi].identifier
            if identifier not in seen:
                seen.append(identifier)
        return seen

    # ---- distance / proximity ---------------------------------------------------------------
    def proximity(self, points: np.ndarray, radius_m, when: Optional[dt.datetime] = None,
                  authorised: Iterable[str] = (), constraining_only: bool = True) -> ProximityPairs:
        """Every active volume within `radius_m` (horizontal) of each point, with the signed
        3-D clearance and its gradient direction. Keep-in volumes are always included
        (they bound from the inside). Vectorised over points and pairs."""
        points = _as_points(points)
        radius = np.broadcast_to(np.asarray(radius_m, float), (len(points),))
        query = shapely.points(points[:, :2])
        pairs = self.tree.query(query, predicate="dwithin", distance=radius)
        p_idx, v_idx = pairs[0], pairs[1]
        mask = self.volume_mask(when, authorised, constraining_only)
        keep = mask[v_idx]
        p_idx, v_idx = p_idx[keep], v_idx[keep]
        if self.has_keep_in:
            # A keep-in fence bounds from inside: a point far inside is not 'within radius'
            # of its polygon's area but is of its boundary, so add all active keep-ins.
            active_keep_in = np.flatnonzero(mask & self.keep_in)
            if active_keep_in.size:
                extra_p = np.repeat(np.arange(len(points)), active_keep_in.size)
                extra_v = np.tile(active_keep_in, len(points))
                not_keep_in = ~self.keep_in[v_idx]
                p_idx = np.concatenate([p_idx[not_keep_in], extra_p])
                v_idx = np.concatenate([v_idx[not_keep_in], extra_v])
        pairs = self._prism_geometry(points, p_idx, v_idx)
        return self._split_concave(points, pairs, radius)

    # ---- non-convex volumes: one constraint per nearby edge ---------------------------------
    def _volume_convex(self) -> np.ndarray:
        if getattr(self, "_convex", None) is None:
            area = shapely.area(self.geoms)
            hull = shapely.area(shapely.convex_hull(self.geoms))
            self._convex = (hull - area) <= 1e-9 * np.maximum(hull, 1.0)
        return self._convex

    def _edges_of(self, volumes: np.ndarray):
        """CSR of boundary edges (x0, y0, x1, y1) for `volumes`, cached per volume."""
        cache = getattr(self, "_edge_cache", None)
        if cache is None:
            cache = self._edge_cache = {}
        missing = [int(v) for v in np.unique(volumes) if int(v) not in cache]
        if missing:
            rings, ring_vol = shapely.get_rings(self.geoms[missing], return_index=True)
            coords, ring_of = shapely.get_coordinates(rings, return_index=True)
            same = ring_of[1:] == ring_of[:-1]
            edges = np.column_stack([coords[:-1], coords[1:]])[same]
            edge_vol = np.asarray(missing)[ring_vol[ring_of[:-1][same]]]
            order = np.argsort(edge_vol, kind="stable")
            edges, edge_vol = edges[order], edge_vol[order]
            for volume in missing:
                lo = np.searchsorted(edge_vol, volume, side="left")
                hi = np.searchsorted(edge_vol, volume, side="right")
                cache[volume] = edges[lo:hi]
        return cache

    def _split_concave(self, points: np.ndarray, pairs: "ProximityPairs", radius: np.ndarray) -> "ProximityPairs":
        """For a non-convex volume seen from outside, the distance to it is the minimum over
        its edges, and the edge that becomes nearest next (the far wall of a notch) must be
        constrained before it is the nearest: each edge within the radius becomes a row."""
        if len(pairs.point) == 0:
            return pairs
        convex = self._volume_convex()
        split = ~convex[pairs.volume] & ~pairs.keep_in & (pairs.horizontal_m > 0) & (pairs.barrier_m > 0)
        if not split.any():
            return pairs
        rows = np.flatnonzero(split)
        cache = self._edges_of(pairs.volume[rows])
        edge_list = [cache[int(v)] for v in pairs.volume[rows]]
        counts = np.fromiter((len(e) for e in edge_list), np.int64, len(edge_list))
        edges = np.concatenate(edge_list) if edge_list else np.zeros((0, 4))
        row_of = np.repeat(rows, counts)
        pt = points[pairs.point[row_of]]
        a, b = edges[:, :2], edges[:, 2:]
        ab = b - a
        denom = np.maximum((ab * ab).sum(1), 1e-18)
        t = np.clip(((pt[:, :2] - a) * ab).sum(1) / denom, 0.0, 1.0)
        nearest = a + t[:, None] * ab
        delta = pt[:, :2] - nearest
        dh = np.hypot(delta[:, 0], delta[:, 1])
        keep = dh <= radius[pairs.point[row_of]]
        row_of, delta, dh = row_of[keep], delta[keep], dh[keep]
        # vertical part is the volume's: same as the row it came from
        dz = pairs.vertical_m[row_of]
        nz = np.where(pairs.vertical_m[row_of] > 0, np.sign(pairs.normal[row_of, 2]), 0.0)
        d3 = np.hypot(dh, dz)
        inv = 1.0 / np.maximum(d3, 1e-12)
        normal = np.column_stack([delta[:, 0] * inv, delta[:, 1] * inv, dz * nz * inv])
        keep_rows = np.ones(len(pairs.point), bool)
        keep_rows[rows] = False
        return ProximityPairs(
            point=np.concatenate([pairs.point[keep_rows], pairs.point[row_of]]),
            volume=np.concatenate([pairs.volume[keep_rows], pairs.volume[row_of]]),
            barrier_m=np.concatenate([pairs.barrier_m[keep_rows], d3]),
            normal=np.concatenate([pairs.normal[keep_rows], normal]),
            horizontal_m=np.concatenate([pairs.horizontal_m[keep_rows], dh]),
            vertical_m=np.concatenate([pairs.vertical_m[keep_rows], dz]),
            keep_in=np.concatenate([pairs.keep_in[keep_rows], np.zeros(len(row_of), bool)]))

    def _prism_geometry(self, points: np.ndarray, p_idx: np.ndarray, v_idx: np.ndarray) -> ProximityPairs:
        n = len(p_idx)
        x, y, z = points[p_idx, 0], points[p_idx, 1], points[p_idx, 2]
        if n == 0:
            empty = np.zeros(0)
            return ProximityPairs(p_idx, v_idx, empty, np.zeros((0, 3)), empty, empty, np.zeros(0, bool))
        inside_h = shapely.intersects_xy(self.geoms[v_idx], x, y)
        line = shapely.shortest_line(self.boundaries[v_idx], shapely.points(np.column_stack([x, y])))
        nearest = shapely.get_coordinates(shapely.get_point(line, 0))
        dx, dy = x - nearest[:, 0], y - nearest[:, 1]
        dist_b = np.hypot(dx, dy)
        # direction away from the boundary point (outward if outside, inward if inside)
        with np.errstate(invalid="ignore", divide="ignore"):
            ux = np.where(dist_b > 1e-9, dx / dist_b, 0.0)
            uy = np.where(dist_b > 1e-9, dy / dist_b, 0.0)
        on_edge = dist_b <= 1e-9
        if on_edge.any():
            # exactly on the boundary: treat as inside with zero depth; the inward direction
            # (u points away from the edge, into the polygon) falls back to the centroid's
            c = shapely.get_coordinates(shapely.centroid(self.geoms[v_idx[on_edge]]))
            ddx, ddy = c[:, 0] - x[on_edge], c[:, 1] - y[on_edge]
            norm = np.maximum(np.hypot(ddx, ddy), 1e-9)
            ux[on_edge], uy[on_edge] = ddx / norm, ddy / norm
            inside_h[on_edge] = True
        lo, hi = self.band_z(v_idx, x, y)
        ground = self.ground_z(x, y)
        below = lo - z   # > 0: under the band
        above = z - hi   # > 0: over the band
        in_band = (below <= 0) & (above <= 0)
        keep_in = self.keep_in[v_idx]

        barrier = np.empty(n)
        normal = np.zeros((n, 3))
        hor = np.zeros(n)
        ver = np.zeros(n)

        # outside horizontally (keep-out or keep-in alike: distance to the prism)
        out_h = ~inside_h
        dz = np.where(below > 0, below, np.where(above > 0, above, 0.0))
        sz = np.where(below > 0, -1.0, np.where(above > 0, 1.0, 0.0))  # moving along sz gains clearance
        d3 = np.hypot(dist_b, dz)
        sel = out_h
        with np.errstate(invalid="ignore", divide="ignore"):
            inv = np.where(d3 > 0, 1.0 / d3, 0.0)
        barrier[sel] = d3[sel]
        normal[sel, 0] = (dist_b * ux * inv)[sel]
        normal[sel, 1] = (dist_b * uy * inv)[sel]
        normal[sel, 2] = (dz * sz * inv)[sel]
        hor[sel] = dist_b[sel]
        ver[sel] = dz[sel]

        # inside horizontally, outside the band: vertical clearance only
        sel = inside_h & ~in_band
        barrier[sel] = dz[sel]
        normal[sel, 2] = sz[sel]
        ver[sel] = dz[sel]

        # inside the prism: depth of the shortest way out (keep-out) / clearance (keep-in)
        sel = inside_h & in_band
        up = np.where(np.isfinite(hi), hi - z, np.inf)
        # leaving through the floor is only a way out if the floor is above the ground
        down = np.where(lo > ground + 0.5, z - lo, np.inf)
        down_keep_in = np.where(np.isfinite(lo), z - lo, np.inf)
        options = np.stack([dist_b, up, np.where(keep_in, down_keep_in, down)], axis=1)
        which = np.argmin(options, axis=1)
        depth = options[np.arange(n), which]
        # keep-out: barrier = -depth, normal = way out; keep-in: barrier = +depth, normal inward
        sign = np.where(keep_in, -1.0, 1.0)  # way-out direction multiplier for the normal
        way_out = np.zeros((n, 3))
        way_out[:, 0] = np.where(which == 0, -ux, 0.0)   # u points inward (away from the edge)
        way_out[:, 1] = np.where(which == 0, -uy, 0.0)
        way_out[:, 2] = np.where(which == 1, 1.0, np.where(which == 2, -1.0, 0.0))
        barrier[sel] = np.where(keep_in, depth, -depth)[sel]
        normal[sel] = (way_out * sign[:, None])[sel]
        hor[sel] = np.where(which == 0, depth, 0.0)[sel]
        ver[sel] = np.where(which == 0, 0.0, depth)[sel]

        # keep-in outside: negate (outside a keep-in is the violation)
        sel = keep_in & ~(inside_h & in_band)
        barrier[sel] = -barrier[sel]
        normal[sel] = -normal[sel]
        return ProximityPairs(p_idx, v_idx, barrier, normal, hor, ver, keep_in)

    def nearest(self, point, when: Optional[dt.datetime] = None, authorised: Iterable[str] = (),
                search_radii_m: Sequence[float] = (1_000.0, 10_000.0, 100_000.0, math.inf),
                constraining_only: bool = True) -> Optional[dict]:
        """Nearest active keep-out volume to one point (3-D clearance): zone id, volume,
        horizontal and vertical distance, inside flag. None when there is none at all."""
        point = np.asarray(point, float).reshape(1, 3)
        for radius in search_radii_m:
            query_radius = radius if math.isfinite(radius) else 1e9
            pairs = self.proximity(point, query_radius, when, authorised, constraining_only)
            keep = ~pairs.keep_in
            if not keep.any():
                continue
            barrier = pairs.barrier_m[keep]
            best = int(np.argmin(barrier))
            volume = int(pairs.volume[keep][best])
            # radius search is horizontal: a closer hit is certain only within `radius`
            if barrier[best] > query_radius:
                continue
            zone = self.zones[self.volume_zone[volume]]
            return {"id": zone.identifier, "volume": volume, "distance_m": float(barrier[best]),
                    "horizontal_m": float(pairs.horizontal_m[keep][best]),
                    "vertical_m": float(pairs.vertical_m[keep][best]),
                    "inside": bool(barrier[best] < 0), "restriction": zone.restriction.value}
        return None

    # ---- segments ------------------------------------------------------------------------------
    def segment_hits(self, start: np.ndarray, end: np.ndarray, when: Optional[dt.datetime] = None,
                     authorised: Iterable[str] = (), inflate_m: float = 0.0,
                     inflate_v_m: float = 0.0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Straight 3-D segments start[i] -> end[i] against the active restricting volumes,
        optionally inflated (horizontal buffer `inflate_m`, band widened by `inflate_v_m`).
        Returns (segment index, volume index, entry fraction in [0, 1]) for every segment that
        enters a volume, one row per (segment, volume), exact for prisms."""
        start, end = _as_points(start), _as_points(end)
        if start.shape != end.shape:
            raise ValueError(f"start {start.shape} and end {end.shape} differ in shape")
        lines = shapely.linestrings(np.stack([start[:, :2], end[:, :2]], axis=1))
        degenerate = np.all(np.isclose(start[:, :2], end[:, :2]), axis=1)
        if degenerate.any():
            lines[degenerate] = shapely.points(start[degenerate, :2])
        if inflate_m > 0:
            pairs = self.tree.query(lines, predicate="dwithin", distance=inflate_m)
        else:
            pairs = self.tree.query(lines, predicate="intersects")
        s_idx, v_idx = pairs[0], pairs[1]
        keep = self.volume_mask(when, authorised)[v_idx] & ~self.keep_in[v_idx]
        s_idx, v_idx = s_idx[keep], v_idx[keep]
        if s_idx.size == 0:
            return s_idx, v_idx, np.zeros(0)
        geoms = self.geoms[v_idx]
        if inflate_m > 0:
            geoms = shapely.buffer(geoms, inflate_m, quad_segs=4)
        pieces = shapely.intersection(lines[s_idx], geoms)
        parts, part_of = shapely.get_parts(pieces, return_index=True)
        coords, coord_of = shapely.get_coordinates(parts, return_index=True)
        pair_of_coord = part_of[coord_of]
        seg = s_idx[pair_of_coord]
        d = end[seg, :2] - start[seg, :2]
        dd = np.maximum((d * d).sum(1), 1e-18)
        t = np.where(degenerate[seg], 0.0, ((coords - start[seg, :2]) * d).sum(1) / dd)
        n_parts = len(parts)
        t_min = np.full(n_parts, np.inf)
        t_max = np.full(n_parts, -np.inf)
        np.minimum.at(t_min, coord_of, t)
        np.maximum.at(t_max, coord_of, t)
        pair = part_of
        lo, hi = self.band_z(v_idx[pair], start[s_idx[pair], 0], start[s_idx[pair], 1])
        lo, hi = lo - inflate_v_m, hi + inflate_v_m
        z0 = start[s_idx[pair], 2]
        dz = end[s_idx[pair], 2] - z0
        with np.errstate(divide="ignore", invalid="ignore"):
            ta = (lo - z0) / dz
            tb = (hi - z0) / dz
        flat = np.abs(dz) < 1e-12
        v_start = np.where(flat, np.where((z0 >= lo) & (z0 <= hi), 0.0, np.inf), np.minimum(ta, tb))
        v_end = np.where(flat, np.where((z0 >= lo) & (z0 <= hi), 1.0, -np.inf), np.maximum(ta, tb))
        # overlap of the horizontal-inside interval [t_min, t_max] (within [0, 1] by
        # construction) and the in-band interval [v_start, v_end]
        entry = np.maximum(np.maximum(t_min, v_start), 0.0)
        exit_ = np.minimum(np.minimum(t_max, v_end), 1.0)
        ok = entry <= exit_
        if not ok.any():
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        pair_ok = pair[ok]
        best = np.full(len(s_idx), np.inf)
        np.minimum.at(best, pair_ok, entry[ok])
        hit = np.isfinite(best)
        return s_idx[hit], v_idx[hit], best[hit]

    def first_entry(self, start, end, **kwargs) -> Tuple[np.ndarray, np.ndarray]:
        """Per segment: earliest entry fraction (inf = none) and the volume entered (-1)."""
        start = _as_points(start)
        s_idx, v_idx, t = self.segment_hits(start, end, **kwargs)
        first = np.full(len(start), np.inf)
        volume = np.full(len(start), -1, np.int64)
        order = np.lexsort((t, s_idx))
        s_sorted, v_sorted, t_sorted = s_idx[order], v_idx[order], t[order]
        first_row = np.ones(len(s_sorted), bool)
        first_row[1:] = s_sorted[1:] != s_sorted[:-1]
        first[s_sorted[first_row]] = t_sorted[first_row]
        volume[s_sorted[first_row]] = v_sorted[first_row]
        return first, volume

    # ---- summaries -----------------------------------------------------------------------------
    def zone_of_volume(self, volume: int) -> Zone:
        return self.zones[int(self.volume_zone[volume])]


def circle_polygons(cx: np.ndarray, cy: np.ndarray, radius: np.ndarray, tolerance_m: float,
                    max_vertices: int = 256) -> np.ndarray:
    """Circumscribed regular polygons (conservative) for circles, vectorised.
    n vertices so that the gap between polygon and circle, r (1/cos(pi/n) - 1), is within
    `tolerance_m` (capped at `max_vertices`; the gap is then larger, still conservative)."""
    cx, cy, radius = (np.atleast_1d(np.asarray(a, float)) for a in (cx, cy, radius))
    ratio = np.clip(1.0 / (1.0 + tolerance_m / radius), -1.0, 1.0)
    n = np.ceil(np.pi / np.arccos(ratio)).astype(int)
    n = np.clip(n, 8, max_vertices)
    out = np.empty(len(cx), dtype=object)
    for count in np.unique(n):
        idx = np.flatnonzero(n == count)
        angles = np.linspace(0.0, 2 * np.pi, count, endpoint=False)
        r_out = radius[idx] / np.cos(np.pi / count)
        ring = np.empty((len(idx), count + 1, 2))
        ring[:, :count, 0] = cx[idx, None] + r_out[:, None] * np.cos(angles)
        ring[:, :count, 1] = cy[idx, None] + r_out[:, None] * np.sin(angles)
        ring[:, count] = ring[:, 0]
        out[idx] = shapely.polygons(ring)
    return out


def _frame_for(zones: Sequence[Zone]) -> LocalFrame:
    lons, lats = [], []
    for zone in zones:
        for volume in zone.volumes:
            if volume.is_circle:
                lons.append(volume.horizontal.lon)
                lats.append(volume.horizontal.lat)
            else:
                b = volume.horizontal.bounds
                lons += [b[0], b[2]]
                lats += [b[1], b[3]]
    if not lons:
        return LocalFrame(0.0, 0.0, 0.0)
    return LocalFrame.centred_on(np.array(lons), np.array(lats))


def _as_points(points) -> np.ndarray:
    array = np.asarray(points, float)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"expected (N, 3) positions, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("positions must be finite (NaN/inf given)")
    return array


def load_zone_files(paths: Sequence[str], frame: Optional[LocalFrame] = None,
                    datum: VerticalDatum = VerticalDatum(), **kwargs) -> ZoneSet:
    """Loads zone files (any supported format, detected from content) into one ZoneSet.
    Raises ZoneError naming file, zone and field on the first unusable item."""
    from .importers import load_zone_file
    zones: List[Zone] = []
    for path in paths:
        zones += load_zone_file(path).zones
    if not zones:
        raise ZoneError("no zones loaded", source=", ".join(map(str, paths)))
    return ZoneSet(zones, frame=frame, datum=datum, **kwargs)

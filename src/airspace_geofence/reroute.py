"""Reroute: shortest 3-D path between two points around the active restricting zones
(core: no rclpy).

Method: a reduced visibility graph per altitude layer, built lazily.
1. The volumes that matter at a layer are the active, restricting ones whose vertical band
   (widened by the vertical margin) overlaps the altitudes the path will fly at.
2. Obstacles are those volumes buffered by the horizontal margin plus a tolerance, then
   simplified by that tolerance (Douglas-Peucker keeps the boundary within the tolerance, so
   the simplified obstacle still contains the volume buffered by the margin).
3. Only obstacles in play are used: the ones the straight start-goal segment passes within
   the margin of; the shortest path over their visibility graph is then checked against every
   relevant volume, any newly hit obstacle joins the set, and the search repeats. Obstacles
   far from the start-goal corridor are never touched, which keeps the graph small around
   thousands of zones.
4. Graph nodes: start, goal and the *convex* vertices of the obstacles in play (a shortest
   path bends only there) that lie in free space; edges: node pairs that are tangent at both
   ends (bitangents, vectorised cross-product test) and whose segment crosses no obstacle
   interior (STRtree query on slightly shrunk obstacles). A* with the straight-line
   heuristic searches it, generating a node's edges only when it is expanded (lazy), which
   gives the exact shortest path among the polygonal obstacles while touching a fraction of
   the graph.

`plan_route(zones, start_enu, goal_enu, margin_m, ...)` -> (N,3) waypoints, the API the UAV
mission planner calls. Errors are `RouteError` with the reason (goal inside a zone, no path).
"""
from __future__ import annotations

import datetime as dt
import heapq
import math
from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np
import shapely
from shapely import STRtree

from .index import ZoneSet


class RouteError(RuntimeError):
    """No route can be planned; the message says why (and names the zone when one is the cause)."""


@dataclass
class RouteResult:
    waypoints: np.ndarray
    length_m: float
    layer_z_m: Optional[float]
    obstacles_used: int
    graph_nodes: int
    iterations: int


class _ObstacleCache:
    """Inflated + simplified obstacle polygons per (volume, margin, tolerance), built on first
    use and kept with the zone set, so repeated plans around the same zones reuse them."""

    def __init__(self):
        self._store: Dict[Tuple[float, float], Dict[int, object]] = {}

    def get(self, zones: ZoneSet, volumes: np.ndarray, margin_m: float, tolerance_m: float) -> np.ndarray:
        store = self._store.setdefault((round(margin_m, 6), round(tolerance_m, 6)), {})
        missing = [int(v) for v in volumes if int(v) not in store]
        if missing:
            # tolerance grows with the obstacle (0.5 % of its half-size): a 2 km-radius airport
            # keeps ~32 vertices instead of ~60, which halves the A* expansions around it, and
            # lengthens a route by at most that tolerance per bend
            b = zones.bounds[missing]
            half_size = 0.25 * ((b[:, 2] - b[:, 0]) + (b[:, 3] - b[:, 1]))
            tol = np.maximum(tolerance_m, 0.005 * half_size)
            buffered = shapely.buffer(zones.geoms[missing], margin_m + tol, quad_segs=4)
            simplified = shapely.simplify(buffered, tol, preserve_topology=True)
            simplified = shapely.orient_polygons(simplified) if hasattr(shapely, "orient_polygons") \
                else simplified
            for volume, geometry in zip(missing, simplified):
                store[volume] = geometry
        return np.array([store[int(v)] for v in volumes], dtype=object)


def _cache_for(zones: ZoneSet) -> _ObstacleCache:
    cache = getattr(zones, "_route_obstacle_cache", None)
    if cache is None:
        cache = _ObstacleCache()
        zones._route_obstacle_cache = cache
    return cache


def plan_route(zones_index: ZoneSet, start_enu, goal_enu, margin_m: float, *,
               when: Optional[dt.datetime] = None, authorised: Iterable[str] = (),
               vertical_margin_m: Optional[float] = None, layers_z_m: Sequence[float] = (),
               vertical_cost: float = 1.0, tolerance_m: Optional[float] = None,
               max_iterations: int = 50) -> np.ndarray:
    """Shortest route start -> goal (local frame, metres) keeping `margin_m` horizontally
    (and `vertical_margin_m`, default = margin_m) from every active restricting volume.

    layers_z_m: extra cruise altitudes to consider (climb at the start, cruise, descend at
      the goal); without them the path flies the straight altitude ramp from start to goal
      and avoids every volume overlapping that altitude range. The cheapest option wins,
      vertical metres weighted by `vertical_cost`.
    Returns an (N,3) array of waypoints, first = start, last = goal.
    """
    return plan_route_detailed(zones_index, start_enu, goal_enu, margin_m, when=when,
                               authorised=authorised, vertical_margin_m=vertical_margin_m,
                               layers_z_m=layers_z_m, vertical_cost=vertical_cost,
                               tolerance_m=tolerance_m, max_iterations=max_iterations).waypoints


def plan_route_detailed(zones_index: ZoneSet, start_enu, goal_enu, margin_m: float, *,
                        when=None, authorised=(), vertical_margin_m=None, layers_z_m=(),
                        vertical_cost: float = 1.0, tolerance_m=None, max_iterations: int = 50) -> RouteResult:
    start = np.asarray(start_enu, float).reshape(-1)
    goal = np.asarray(goal_enu, float).reshape(-1)
    if start.shape != (3,) or goal.shape != (3,):
        raise ValueError(f"start and goal must be 3-D points, got shapes {start.shape} and {goal.shape}")
    if not (np.all(np.isfinite(start)) and np.all(np.isfinite(goal))):
        raise ValueError("start and goal must be finite")
    if not (margin_m >= 0 and math.isfinite(margin_m)):
        raise ValueError(f"margin_m must be finite and >= 0, got {margin_m}")
    vertical_margin = margin_m if vertical_margin_m is None else float(vertical_margin_m)
    tolerance = tolerance_m if tolerance_m is not None else max(0.5, min(5.0, 0.1 * margin_m))
    authorised = frozenset(authorised)
    options = [None] + [float(z) for z in layers_z_m]
    best: Optional[RouteResult] = None
    errors = []
    for layer in options:
        try:
            result = _plan_layer(zones_index, start, goal, layer, margin_m, vertical_margin, tolerance,
                                 when, authorised, max_iterations)
        except RouteError as error:
            errors.append(str(error))
            continue
        cost = _cost(result.waypoints, vertical_cost)
        if best is None or cost < _cost(best.waypoints, vertical_cost):
            best = result
    if best is None:
        raise RouteError("; ".join(dict.fromkeys(errors)))
    return best


def _cost(waypoints: np.ndarray, vertical_cost: float) -> float:
    d = np.diff(waypoints, axis=0)
    return float(np.hypot(d[:, 0], d[:, 1]).sum() + vertical_cost * np.abs(d[:, 2]).sum())


def _plan_layer(zones: ZoneSet, start, goal, layer, margin, vertical_margin, tolerance, when,
                authorised, max_iterations) -> RouteResult:
    # the horizontal part flies the start-goal altitude ramp, or the cruise layer; with a layer
    # the vertical legs (climb at the start, descent at the goal) are checked on their own
    z_values = [start[2], goal[2]] if layer is None else [layer]
    z_lo, z_hi = min(z_values) - vertical_margin, max(z_values) + vertical_margin
    if layer is not None:
        legs_from = np.array([start, [goal[0], goal[1], layer]])
        legs_to = np.array([[start[0], start[1], layer], goal])
        s_idx, v_idx, _ = zones.segment_hits(legs_from, legs_to, when=when, authorised=authorised,
                                             inflate_m=max(margin - 1e-3, 0.0), inflate_v_m=vertical_margin)
        if len(s_idx):
            zone = zones.zone_of_volume(int(v_idx[0]))
            raise RouteError(f"layer {layer:g} m: the {'climb' if s_idx[0] == 0 else 'descent'} "
                             f"passes zone '{zone.identifier}'")
    mask = zones.volume_mask(when, authorised) & ~zones.keep_in
    lo, hi = zones.band_z(np.arange(zones.n_volumes))
    relevant = mask & (hi >= z_lo) & (lo <= z_hi)
    a, b = start[:2], goal[:2]
    cache = _cache_for(zones)

    def hits_of(path_xy: np.ndarray) -> np.ndarray:
        if len(path_xy) == 1:
            lines = shapely.points(path_xy)
        else:
            lines = shapely.linestrings(np.stack([path_xy[:-1], path_xy[1:]], axis=1))
        pairs = zones.tree.query(lines, predicate="dwithin", distance=max(margin - 1e-3, 0.0))
        volumes = np.unique(pairs[1])
        return volumes[relevant[volumes]]

    # Goal inside an obstacle: no route. Start inside: escape first (shortest way out).
    goal_hits = hits_of(b[None])
    if goal_hits.size:
        zone = zones.zone_of_volume(int(goal_hits[0]))
        raise RouteError(f"goal lies within {margin:g} m of zone '{zone.identifier}' "
                         f"({zone.restriction.value}) at the planned altitude")
    prefix = []
    start_hits = hits_of(a[None])
    if start_hits.size:
        obstacles = cache.get(zones, start_hits, margin, tolerance)
        union = shapely.union_all(obstacles)
        boundary_point = shapely.get_coordinates(shapely.shortest_line(union.boundary, shapely.Point(a)))[0]
        direction = boundary_point - a
        norm = np.linalg.norm(direction)
        escape = boundary_point + (direction / norm if norm > 1e-9 else np.array([1.0, 0.0])) * tolerance
        prefix = [a]
        a = escape

    in_play = set(int(v) for v in hits_of(np.array([a, b])))
    iterations = 0
    path_xy = np.array([a, b])
    nodes_count = 2
    while in_play:
        iterations += 1
        if iterations > max_iterations:
            raise RouteError(f"no route found within {max_iterations} obstacle-set iterations")
        volumes = np.array(sorted(in_play), np.int64)
        obstacles = cache.get(zones, volumes, margin, tolerance)
        # An end point closer than margin + tolerance to a volume (but not closer than the
        # margin: checked above) can sit inside the simplified obstacle; use the finely
        # buffered volume there instead (chords inside the margin by <= margin (1 - cos(pi/64))).
        ends_inside = shapely.contains_xy(obstacles, a[0], a[1]) | shapely.contains_xy(obstacles, b[0], b[1])
        if ends_inside.any():
            obstacles = obstacles.copy()
            obstacles[ends_inside] = shapely.buffer(zones.geoms[volumes[ends_inside]], margin, quad_segs=16)
        path_xy, nodes_count = _visibility_path(a, b, obstacles, tolerance, volumes, zones)
        new_hits = set(int(v) for v in hits_of(path_xy)) - in_play
        if not new_hits:
            break
        in_play |= new_hits
    full_xy = np.vstack(prefix + [path_xy]) if prefix else path_xy
    waypoints = _lift(full_xy, start, goal, layer)
    return RouteResult(waypoints, float(np.linalg.norm(np.diff(waypoints, axis=0), axis=1).sum()),
                       layer, len(in_play), nodes_count, iterations)


def _lift(path_xy: np.ndarray, start, goal, layer) -> np.ndarray:
    """Horizontal path -> 3-D waypoints (altitude ramp, or climb/cruise/descend at a layer)."""
    if layer is None:
        seg = np.hypot(*np.diff(path_xy, axis=0).T)
        total = seg.sum()
        s = np.concatenate([[0.0], np.cumsum(seg)]) / total if total > 0 else np.zeros(len(path_xy))
        z = start[2] + s * (goal[2] - start[2])
        points = np.column_stack([path_xy, z])
        points[0], points[-1] = start, goal
        return points
    middle = np.column_stack([path_xy, np.full(len(path_xy), layer)])
    points = [start] + ([middle[0]] if abs(layer - start[2]) > 1e-9 else []) + list(middle[1:-1]) \
        + ([middle[-1]] if abs(layer - goal[2]) > 1e-9 else []) + [goal]
    return np.array(points)


def _visibility_path(a, b, obstacles: np.ndarray, tolerance: float, volumes, zones: ZoneSet):
    # nodes: convex vertices of every obstacle ring (exterior CCW: left turn = convex)
    ring_xy, ring_prev, ring_next = [], [], []
    for geometry in obstacles:
        for polygon in shapely.get_parts(geometry):
            rings = [polygon.exterior] + list(polygon.interiors)
            for ring_index, ring in enumerate(rings):
                xy = np.asarray(ring.coords)[:-1]
                if len(xy) < 3:
                    continue
                ccw = shapely.is_ccw(ring)
                prev_xy = np.roll(xy, 1, axis=0)
                next_xy = np.roll(xy, -1, axis=0)
                cross = _cross(xy - prev_xy, next_xy - xy)
                # exterior CCW: convex = left turn; holes: the free space is inside, so the
                # useful vertices are the hole's reflex ones seen from inside (same test, flipped)
                left_is_convex = ccw if ring_index == 0 else not ccw
                convex = cross > 0 if left_is_convex else cross < 0
                ring_xy.append(xy[convex])
                ring_prev.append(prev_xy[convex])
                ring_next.append(next_xy[convex])
    if ring_xy:
        vx = np.vstack(ring_xy)
        vprev = np.vstack(ring_prev)
        vnext = np.vstack(ring_next)
    else:
        vx = vprev = vnext = np.zeros((0, 2))
    # vertices inside another obstacle are not in free space
    shrunk = shapely.buffer(obstacles, -min(1e-3, 0.01 * tolerance), quad_segs=1)
    shapely.prepare(shrunk)
    if len(vx):
        tree = STRtree(shrunk)
        inside = tree.query(shapely.points(vx), predicate="within")
        free = np.ones(len(vx), bool)
        free[inside[0]] = False
        vx, vprev, vnext = vx[free], vprev[free], vnext[free]
    else:
        tree = STRtree(shrunk)
    nodes = np.vstack([a[None], b[None], vx])
    prev_ = np.vstack([a[None], b[None], vprev]) - nodes
    next_ = np.vstack([a[None], b[None], vnext]) - nodes
    path = _lazy_astar(nodes, prev_, next_, tree)
    if path is None:
        zone_ids = sorted({zones.zone_of_volume(int(v)).identifier for v in volumes})
        raise RouteError(f"no route around zones {', '.join(zone_ids[:5])}"
                         f"{' ...' if len(zone_ids) > 5 else ''}: goal enclosed at this altitude")
    return nodes[path], len(nodes)


def _lazy_astar(nodes: np.ndarray, to_prev: np.ndarray, to_next: np.ndarray, tree: STRtree):
    """A* from node 0 to node 1 over the visibility graph, generated lazily: the edges of a
    node are computed only when it is expanded (tangent test against every node, vectorised,
    then one STRtree query for the segments of the candidates). Heuristic: straight-line
    distance to the goal (admissible and consistent), so the first goal pop is optimal."""
    n = len(nodes)
    goal = nodes[1]
    h = np.hypot(nodes[:, 0] - goal[0], nodes[:, 1] - goal[1])
    g = np.full(n, np.inf)
    g[0] = 0.0
    parent = np.full(n, -1, np.int64)
    closed = np.zeros(n, bool)
    is_vertex = np.ones(n, bool)
    is_vertex[:2] = False
    heap = [(h[0], 0)]
    while heap:
        _, u = heapq.heappop(heap)
        if closed[u]:
            continue
        if u == 1:
            path = [1]
            while path[-1] != 0:
                path.append(int(parent[path[-1]]))
            return path[::-1]
        closed[u] = True
        d = nodes - nodes[u]                      # u -> v
        ok = ~closed
        ok[u] = False
        if is_vertex[u]:
            ok &= _tangent(d, to_prev[u], to_next[u])
            if parent[u] >= 0:
                # a shortest path bends at u only by wrapping around u's obstacle: the turn
                # (incoming -> outgoing) goes to the side the obstacle is on
                d_in = nodes[u] - nodes[parent[u]]
                turn = _cross(d_in, d)
                side = _cross(d, to_prev[u] + to_next[u])
                scale = np.abs(d_in).sum() * np.abs(d).sum(-1)
                ok &= turn * np.sign(side) >= -1e-9 * scale
        ok &= _tangent(-d, to_prev, to_next) | ~is_vertex
        candidates = np.flatnonzero(ok)
        if candidates.size == 0:
            continue
        new_g = g[u] + np.hypot(d[candidates, 0], d[candidates, 1])
        # only edges that improve a node and can still beat the best goal cost found so far
        better = (new_g < g[candidates]) & (new_g + h[candidates] < g[1])
        candidates, new_g = candidates[better], new_g[better]
        if candidates.size == 0:
            continue
        lines = shapely.linestrings(np.stack([np.broadcast_to(nodes[u], (len(candidates), 2)),
                                              nodes[candidates]], axis=1))
        # bbox candidates from the tree, exact test on the prepared obstacles (measured ~1.8x
        # faster than the tree's own predicate path, which prepares the lines instead)
        line_idx, obstacle_idx = tree.query(lines)
        blocked = line_idx[shapely.intersects(tree.geometries[obstacle_idx], lines[line_idx])]
        visible = np.ones(len(candidates), bool)
        visible[blocked] = False
        for v, cost in zip(candidates[visible], new_g[visible]):
            g[v] = cost
            parent[v] = u
            heapq.heappush(heap, (cost + h[v], int(v)))
    return None


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


def _tangent(direction, to_prev, to_next) -> np.ndarray:
    """The line along `direction` through a vertex leaves both its neighbours (given as
    offsets from the vertex) on one side, collinear allowed (relative tolerance 1e-9)."""
    s1 = _cross(direction, to_prev)
    s2 = _cross(direction, to_next)
    scale = (np.abs(direction).sum(-1) * (np.abs(to_prev).sum(-1) + np.abs(to_next).sum(-1)))
    tol = 1e-9 * scale
    return ((s1 >= -tol) & (s2 >= -tol)) | ((s1 <= tol) & (s2 <= tol))

"""Reroute: clearance, optimality against a brute-force visibility graph, layers, errors."""
import math

import numpy as np
import pytest
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from skyroad.airspace_geofence.index import ZoneSet
from skyroad.airspace_geofence.model import Restriction, Unit, VerticalLimit, VerticalRef, Volume, Zone
from skyroad.airspace_geofence.reroute import RouteError, _cache_for, plan_route, plan_route_detailed
from skyroad.airspace_geofence.synthetic import reference_time, synthetic_zone_set


def zone(identifier, lower=0.0, upper=120.0, restriction=Restriction.PROHIBITED):
    return Zone(identifier, restriction, [Volume(None, VerticalLimit(lower, Unit.M, VerticalRef.AGL),
                                                 VerticalLimit(upper, Unit.M, VerticalRef.AGL))])


def assert_clear(zones, waypoints, margin, when=None):
    hits = zones.segment_hits(waypoints[:-1], waypoints[1:], when=when, inflate_m=margin - 0.05)
    assert len(hits[0]) == 0, f"route passes within the margin of volumes {hits[1]}"


def test_straight_when_free_and_around_a_circle():
    disc = shapely.Point(0, 0).buffer(500, quad_segs=32)
    zones = ZoneSet.from_local([disc], [zone("D")])
    free = plan_route(zones, [-2000, 1000, 50], [2000, 1000, 60], 30.0)
    np.testing.assert_allclose(free, [[-2000, 1000, 50], [2000, 1000, 60]])
    route = plan_route(zones, [-2000, 0, 50], [2000, 0, 50], 30.0)
    assert route.shape[1] == 3 and len(route) > 2
    assert_clear(zones, route, 30.0)
    # closed form: two tangents + arc around a circle of radius R = 530 from +-2000
    r, d = 530.0, 2000.0
    tangent = math.sqrt(d * d - r * r)
    arc = r * (math.pi - 2 * math.acos(r / d))
    length = np.linalg.norm(np.diff(route, axis=0), axis=1).sum()
    assert length == pytest.approx(2 * tangent + arc, rel=0.01)
    assert length >= 2 * tangent + arc - 1.0   # never shorter than possible


def brute_force_length(zones, start, goal, margin, tolerance):
    """Full visibility graph (all obstacle vertices, all pairs) + Dijkstra, no pruning."""
    volumes = np.arange(zones.n_volumes)
    obstacles = _cache_for(zones).get(zones, volumes, margin, tolerance)
    shrunk = shapely.buffer(obstacles, -1e-3, quad_segs=1)
    nodes = [start[:2], goal[:2]]
    for geometry in obstacles:
        for polygon in shapely.get_parts(geometry):
            nodes += list(np.asarray(polygon.exterior.coords)[:-1])
    nodes = np.array(nodes)
    i, j = np.triu_indices(len(nodes), 1)
    lines = shapely.linestrings(np.stack([nodes[i], nodes[j]], axis=1))
    blocked = np.zeros(len(i), bool)
    for polygon in shrunk:
        blocked |= shapely.intersects(lines, polygon)
    i, j = i[~blocked], j[~blocked]
    w = np.hypot(*(nodes[j] - nodes[i]).T)
    graph = coo_matrix((w, (i, j)), shape=(len(nodes), len(nodes))).tocsr()
    return dijkstra(graph, directed=False, indices=0)[1]


@pytest.mark.parametrize("seed", [1, 2])
def test_optimal_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    polys = []
    for _ in range(12):
        c = rng.uniform(-3000, 3000, 2)
        n = int(rng.integers(5, 12))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = rng.uniform(150, 500) * rng.uniform(0.5, 1.0, n)
        poly = shapely.Polygon(np.column_stack([c[0] + rad * np.cos(ang), c[1] + rad * np.sin(ang)]))
        polys.append(poly if poly.is_valid else poly.convex_hull)
    zones = ZoneSet.from_local(polys, [zone(f"Z{i}") for i in range(len(polys))])
    margin, tolerance = 20.0, 2.0
    for _ in range(4):
        while True:
            start = np.r_[rng.uniform(-4000, 4000, 2), 50.0]
            goal = np.r_[rng.uniform(-4000, 4000, 2), 50.0]
            if not zones.proximity(np.array([start, goal]), margin + tolerance + 1).point.size:
                break
        result = plan_route_detailed(zones, start, goal, margin, tolerance_m=tolerance)
        assert_clear(zones, result.waypoints, margin)
        expected = brute_force_length(zones, start, goal, margin, tolerance)
        assert result.length_m == pytest.approx(expected, rel=1e-6)


def test_layers_fly_over_a_low_zone_when_cheaper():
    low = shapely.box(-1000, -3000, 1000, 3000)
    zones = ZoneSet.from_local([low], [zone("LOW", upper=60.0)])
    ramp = plan_route_detailed(zones, [-2000, 0, 40], [2000, 0, 40], 20.0)
    assert ramp.layer_z_m is None and ramp.length_m > 7000       # around the 6 km long block
    over = plan_route_detailed(zones, [-2000, 0, 40], [2000, 0, 40], 20.0, layers_z_m=[100.0, 150.0])
    assert over.layer_z_m == 100.0
    np.testing.assert_allclose(over.waypoints, [[-2000, 0, 40], [-2000, 0, 100], [2000, 0, 100], [2000, 0, 40]])
    assert_clear(zones, over.waypoints, 20.0)


def test_goal_inside_zone_is_an_error_naming_it_and_start_inside_escapes():
    disc = shapely.Point(0, 0).buffer(500, quad_segs=32)
    zones = ZoneSet.from_local([disc], [zone("AIRPORT")])
    with pytest.raises(RouteError, match="goal .* zone 'AIRPORT'"):
        plan_route(zones, [-2000, 0, 50], [100, 0, 50], 30.0)
    route = plan_route(zones, [0, 510, 50], [0, 2000, 50], 30.0)  # start within the margin
    assert route[1, 1] >= 530.0 - 0.1   # first leg leaves the inflated zone
    assert_clear(zones, route[1:], 30.0)


def test_enclosed_goal_is_an_error():
    ring = shapely.Point(0, 0).buffer(1000).difference(shapely.Point(0, 0).buffer(500))
    zones = ZoneSet.from_local([ring], [zone("RING")])
    with pytest.raises(RouteError, match="enclosed"):
        plan_route(zones, [-3000, 0, 50], [0, 0, 50], 30.0)
    # from inside the hole to inside the hole is fine
    route = plan_route(zones, [-200, 0, 50], [200, 0, 50], 30.0)
    assert len(route) == 2


def test_thousand_zones_routes_clear_and_time_respected():
    zones = synthetic_zone_set(1000, seed=1)
    when = reference_time()
    rng = np.random.default_rng(9)
    half = float(np.abs(zones.bounds).max()) * 0.9
    done = 0
    while done < 15:
        start = np.r_[rng.uniform(-half, half, 2), rng.uniform(30, 100)]
        goal = np.r_[rng.uniform(-half, half, 2), rng.uniform(30, 100)]
        if zones.proximity(np.array([start, goal]), 35.0, when).point.size:
            continue
        route = plan_route(zones, start, goal, 30.0, when=when)
        assert_clear(zones, route, 30.0, when)
        np.testing.assert_allclose(route[0], start)
        np.testing.assert_allclose(route[-1], goal)
        done += 1

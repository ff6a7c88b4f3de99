"""Spatial index and queries against brute force and closed-form answers."""
import datetime as dt
import math

import numpy as np
import pytest
import shapely
from pyproj import Geod

from skyroad.airspace_geofence.geodesy import LocalFrame
from skyroad.airspace_geofence.index import VerticalDatum, ZoneSet, circle_polygons, load_zone_files
from skyroad.airspace_geofence.model import (FEET_TO_M, Restriction, Unit, VerticalLimit, VerticalRef,
                                             Volume, Zone)
from skyroad.airspace_geofence.synthetic import reference_time, synthetic_zone_set

UTC = dt.timezone.utc
GEOD = Geod(ellps="WGS84")


def local_zone(identifier, lower=(0.0, "M", "AGL"), upper=(120.0, "M", "AGL"), restriction=Restriction.PROHIBITED,
               keep_in=False):
    lo = VerticalLimit(lower[0], Unit[lower[1]], VerticalRef[lower[2]])
    hi = VerticalLimit(upper[0], Unit[upper[1]], VerticalRef[upper[2]])
    return Zone(identifier, restriction, [Volume(None, lo, hi)], keep_in=keep_in)


def test_geodesy_distances_match_geodesic():
    frame = LocalFrame(46.8, 8.2, 500.0)
    rng = np.random.default_rng(0)
    lon = 8.2 + rng.uniform(-1.5, 1.5, 200)
    lat = 46.8 + rng.uniform(-1.0, 1.0, 200)
    x, y = frame.to_local_xy(lon, lat)
    _, _, dist = GEOD.inv(np.full(200, 8.2), np.full(200, 46.8), lon, lat)
    np.testing.assert_allclose(np.hypot(x, y), dist, rtol=0, atol=1e-6)   # AEQD: exact from the origin
    # between two points 130 km out, the error stays within the documented d^2/(6R^2) bound
    _, _, d12 = GEOD.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
    local = np.hypot(np.diff(x), np.diff(y))
    r_max = np.maximum(np.hypot(x[:-1], y[:-1]), np.hypot(x[1:], y[1:]))
    assert np.all(np.abs(local - d12) <= d12 * LocalFrame.relative_scale_error(r_max) + 1e-6)
    back_lon, back_lat = frame.to_geodetic_xy(x, y)
    np.testing.assert_allclose(back_lon, lon, atol=1e-10)
    np.testing.assert_allclose(back_lat, lat, atol=1e-10)
    # true tangent-plane ENU: the curvature drop at 10 km is ~ d^2 / 2R = 7.8 m
    enu = frame.enu_from_geodetic([8.2], [46.8 + 10_000 / 111_200], [550.0], 550.0)
    assert 7.0 < -enu[0, 2] < 8.5


def test_real_zones_point_queries(geozones_dir):
    files = sorted(geozones_dir.glob("*.json"))
    ground = 372.0
    zones = load_zone_files(files, frame=LocalFrame(46.43, 6.91, 0.0), datum=VerticalDatum(ground, 50.0))
    assert len(zones) == 10 and zones.n_volumes == 14
    montreux = zones.frame.to_local(np.array([6.913146]), np.array([46.430758]), np.array([ground + 50.0]))[0]
    saturday = dt.datetime(2022, 7, 2, 18, 0, tzinfo=UTC)
    friday = dt.datetime(2022, 7, 1, 18, 0, tzinfo=UTC)
    assert zones.zones_containing(montreux, saturday) == ["Montreux Concert Area", "MONTREUX Wildlife Preserve"]
    assert zones.zones_containing(montreux, friday) == ["MONTREUX Wildlife Preserve"]
    assert zones.zones_containing(montreux, friday, authorised=["MONTREUX Wildlife Preserve"],
                                  constraining_only=True) == []
    # Montreux ceiling is 6259 m AMSL (not AGL): at 6000 m AMSL still inside, 6300 m outside
    high = montreux.copy()
    high[2] = 6000.0
    assert "Montreux Concert Area" in zones.zones_containing(high, saturday)
    high[2] = 6300.0
    assert zones.zones_containing(high, saturday) == []
    # 2.9 km east of the centre: inside the 3 km circle; 3.05 km: outside by ~50 m
    lon, lat, _ = GEOD.fwd(6.913146, 46.430758, 90.0, 2900.0)
    p = zones.frame.to_local(np.array([lon]), np.array([lat]), np.array([ground + 10.0]))[0]
    assert "Montreux Concert Area" in zones.zones_containing(p, saturday)
    lon, lat, _ = GEOD.fwd(6.913146, 46.430758, 90.0, 3050.0)
    p = zones.frame.to_local(np.array([lon]), np.array([lat]), np.array([ground + 10.0]))[0]
    nearest = zones.nearest(p, saturday, authorised=["MONTREUX Wildlife Preserve"])
    assert nearest["id"] == "Montreux Concert Area" and not nearest["inside"]
    assert abs(nearest["horizontal_m"] - 50.0) < 0.5   # circle polygon overshoots by <= 0.25 m


def test_reichenbach_stacked_volumes_and_feet(geozones_dir):
    zones = load_zone_files([geozones_dir / "che-geo-awareness-1.ed269.json"],
                            frame=LocalFrame(46.612893, 7.67807, 0.0), datum=VerticalDatum(800.0))
    when = dt.datetime(2022, 12, 1, 12, 0, tzinfo=UTC)
    at = lambda r, agl: np.array([r, 0.0, 800.0 + agl])  # noqa: E731
    assert zones.zones_containing(at(500, 10), when) == ["Flugplatz Reichenbach"]
    assert zones.zones_containing(at(2000, 10), when) == []        # under the 50 m floor of ring 2
    assert zones.zones_containing(at(2000, 60), when) == ["Flugplatz Reichenbach"]
    assert zones.zones_containing(at(3000, 60), when) == []        # ring 3 starts at 100 m
    assert zones.zones_containing(at(3000, 110), when) == ["Flugplatz Reichenbach"]
    assert zones.zones_containing(at(500, 125), when) == []        # above 120 m AGL
    # Gantrisch: 250 ft AGL = 76.2 m
    frame = LocalFrame(46.77, 7.4, 0.0)
    zones = load_zone_files([geozones_dir / "che-geo-awareness-1.ed269.json"], frame=frame,
                            datum=VerticalDatum(1000.0))
    assert "Gantrisch Nature Park" in zones.zones_containing([0, 0, 1000 + 250 * FEET_TO_M - 0.1], when)
    assert zones.zones_containing([0, 0, 1000 + 250 * FEET_TO_M + 0.1], when) == []


def test_vertical_references_wgs84_and_amsl():
    square = shapely.box(-100, -100, 100, 100)
    zone = local_zone("W", lower=(1000.0, "M", "WGS84"), upper=(1100.0, "M", "AMSL"))
    zones = ZoneSet.from_local([square], [zone], frame=LocalFrame(46.0, 7.0, 900.0),
                               datum=VerticalDatum(ground_elevation_amsl_m=400.0, geoid_undulation_m=50.0))
    lo, hi = zones.band_z([0])
    # 1000 m ellipsoid = 950 m AMSL -> z 50; 1100 m AMSL -> z 200
    assert lo[0] == pytest.approx(50.0) and hi[0] == pytest.approx(200.0)


def test_vectorised_hits_equal_brute_force_and_strtree():
    zones = synthetic_zone_set(400, seed=3)
    rng = np.random.default_rng(4)
    half = float(np.abs(zones.bounds).max())
    points = np.column_stack([rng.uniform(-half, half, 20000), rng.uniform(-half, half, 20000),
                              rng.uniform(0, 200, 20000)])
    when = reference_time()
    p_grid, v_grid = zones.point_hits(points, when)
    p_tree, v_tree = zones.point_hits(points, when, method="strtree")
    assert set(zip(p_grid.tolist(), v_grid.tolist())) == set(zip(p_tree.tolist(), v_tree.tolist()))
    # brute force: every point against every active volume
    mask = zones.volume_mask(when)
    lo, hi = zones.band_z(np.arange(zones.n_volumes))
    expected = set()
    for v in np.flatnonzero(mask):
        inside = shapely.intersects_xy(zones.geoms[v], points[:, 0], points[:, 1])
        inside &= (points[:, 2] >= lo[v]) & (points[:, 2] <= hi[v])
        expected |= {(int(p), int(v)) for p in np.flatnonzero(inside)}
    assert set(zip(p_grid.tolist(), v_grid.tolist())) == expected
    assert len(expected) > 100
    single = np.array([zones.check_point(*p, when) for p in points[:3000]])
    np.testing.assert_array_equal(single, zones.violations(points[:3000], when))


def test_time_and_authorisation_mask():
    square = shapely.box(0, 0, 10, 10)
    zones = ZoneSet.from_local([square, square, square],
                               [local_zone("P"), local_zone("A", restriction=Restriction.REQ_AUTHORISATION),
                                local_zone("N", restriction=Restriction.NO_RESTRICTION)])
    assert zones.zones_containing([5, 5, 10], constraining_only=True) == ["P", "A"]
    assert zones.zones_containing([5, 5, 10], authorised=["A", "P"], constraining_only=True) == ["P"]
    assert zones.zones_containing([5, 5, 10], constraining_only=False) == ["P", "A", "N"]


def test_nearest_and_proximity_closed_form():
    circle = circle_polygons(np.array([0.0]), np.array([0.0]), np.array([100.0]), 0.01, 256)[0]
    raised = shapely.box(500, -50, 600, 50)
    zones = ZoneSet.from_local([circle, raised], [local_zone("C"), local_zone("R", lower=(60, "M", "AGL"))])
    near = zones.nearest([0.0, 250.0, 50.0])
    assert near["id"] == "C" and near["horizontal_m"] == pytest.approx(150.0, abs=0.02) and near["vertical_m"] == 0
    near = zones.nearest([550.0, 0.0, 20.0])
    assert near["id"] == "R" and near["vertical_m"] == pytest.approx(40.0) and near["horizontal_m"] == 0
    near = zones.nearest([0.0, 0.0, 50.0])   # centre of the circle: way out is up (70 m) not sideways (100 m)
    assert near["inside"] and near["distance_m"] == pytest.approx(-70.0)
    pairs = zones.proximity(np.array([[700.0, 0.0, 100.0]]), 200.0)
    (row,) = np.flatnonzero(pairs.volume == 1)
    assert pairs.barrier_m[row] == pytest.approx(100.0)
    np.testing.assert_allclose(pairs.normal[row], [1.0, 0.0, 0.0], atol=1e-9)
    pairs = zones.proximity(np.array([[650.0, 0.0, 40.0]]), 200.0)   # beside and below the floor
    (row,) = np.flatnonzero(pairs.volume == 1)
    assert pairs.barrier_m[row] == pytest.approx(math.hypot(50.0, 20.0))
    np.testing.assert_allclose(pairs.normal[row], np.array([50.0, 0.0, -20.0]) / math.hypot(50, 20), atol=1e-9)


def test_segment_hits_against_dense_sampling():
    zones = synthetic_zone_set(300, seed=5)
    rng = np.random.default_rng(6)
    half = float(np.abs(zones.bounds).max())
    start = np.column_stack([rng.uniform(-half, half, (400, 2)), rng.uniform(0, 200, 400)])
    end = start + np.column_stack([rng.uniform(-3000, 3000, (400, 2)), rng.uniform(-100, 100, 400)])
    when = reference_time()
    first, _ = zones.first_entry(start, end, when=when)
    t = np.linspace(0.0, 1.0, 2001)
    grazes = 0
    for i in range(400):
        samples = start[i] + t[:, None] * (end[i] - start[i])
        bad = zones.violations(samples, when)
        if bad.any():
            assert np.isfinite(first[i])
            assert first[i] <= t[np.argmax(bad)] + 1e-9
            assert first[i] >= t[max(np.argmax(bad) - 1, 0)] - 1e-9
        elif np.isfinite(first[i]):
            grazes += 1   # entered for less than one sample spacing (a corner): rare
    assert grazes <= 4
    assert np.isfinite(first).sum() > 40


def test_keep_in_fence_violation():
    field = shapely.box(-100, -100, 100, 100)
    zones = ZoneSet.from_local([field], [local_zone("F", upper=(math.inf, "M", "AGL"), keep_in=True)])
    result = zones.violations(np.array([[0, 0, 50.0], [150, 0, 50.0], [99, 99, 10.0]]))
    np.testing.assert_array_equal(result, [False, True, False])
    assert zones.check_point(150, 0, 50) and not zones.check_point(0, 0, 50)


@pytest.mark.parametrize("n", [30_000])
def test_scale_thousands_of_zones_hundreds_of_thousands_of_vertices(n):
    zones = synthetic_zone_set(n, seed=11)
    assert zones.n_vertices > 500_000
    rng = np.random.default_rng(12)
    half = float(np.abs(zones.bounds).max())
    points = np.column_stack([rng.uniform(-half, half, 50_000), rng.uniform(-half, half, 50_000),
                              rng.uniform(0, 200, 50_000)])
    bad = zones.violations(points, reference_time())
    assert 0.005 < bad.mean() < 0.3
    p, v = zones.point_hits(points[:2000], reference_time(), method="strtree")
    assert np.array_equal(np.unique(p), np.flatnonzero(bad[:2000]))

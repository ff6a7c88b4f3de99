"""Lidar objects and occupancy grid on synthetic scenes with known truth."""
from collections import Counter

import numpy as np
import pytest

from skyroad.perception.lidar import (CLASS_SMALL, CLASS_VEHICLE, LidarDetectorConfig, detect_objects,
                                      euclidean_clusters, lshape_fit, remove_ground_grid,
                                      remove_ground_ransac)
from skyroad.perception.occupancy import FREE, INFLATED, OCCUPIED, UNKNOWN, GridSpec, scan_to_grid


def car_points(rng, cx, cy, yaw, n=800, length=4.5, width=1.8, height=1.5, sensor=(0.0, 0.0)):
    """Points on the two sides of a box that face the sensor (what a lidar sees)."""
    c, s = np.cos(yaw), np.sin(yaw)
    rel = np.array([sensor[0] - cx, sensor[1] - cy])
    lx_face = np.sign(c * rel[0] + s * rel[1]) * length / 2
    ly_face = np.sign(-s * rel[0] + c * rel[1]) * width / 2
    t = rng.uniform(-0.5, 0.5, n)
    side = rng.integers(0, 2, n)
    lx = np.where(side == 0, t * length, lx_face)
    ly = np.where(side == 0, ly_face, t * width)
    z = rng.uniform(0.2, height, n)
    pts = np.column_stack([cx + c * lx - s * ly, cy + s * lx + c * ly, z])
    return pts + rng.normal(0, 0.02, pts.shape)


def scene(rng, ground_tilt=0.0):
    g = np.column_stack([rng.uniform(-30, 30, 15000), rng.uniform(-30, 30, 15000)])
    gz = ground_tilt * g[:, 0] + rng.normal(0, 0.03, len(g))
    cars = [(10.0, 5.0, 0.3), (-15.0, 8.0, 1.2), (20.0, -12.0, -0.7)]
    poles = [(3.0, 3.0), (-5.0, -7.0)]
    parts = [np.column_stack([g, gz])]
    for cx, cy, yaw in cars:
        p = car_points(rng, cx, cy, yaw)
        p[:, 2] += ground_tilt * p[:, 0]
        parts.append(p)
    for x, y in poles:
        parts.append(np.column_stack([x + rng.normal(0, 0.05, 200), y + rng.normal(0, 0.05, 200),
                                      rng.uniform(0, 3, 200) + ground_tilt * x]))
    return np.vstack(parts), cars, poles


def test_pipeline_finds_every_object_with_correct_boxes():
    rng = np.random.default_rng(11)
    pts, cars, poles = scene(rng)
    objs = detect_objects(pts, rng=np.random.default_rng(0))
    assert len(objs) == len(cars) + len(poles)
    for cx, cy, yaw in cars:
        o = min(objs, key=lambda o: np.hypot(o.x - cx, o.y - cy))
        assert o.cls == CLASS_VEHICLE and np.hypot(o.x - cx, o.y - cy) < 0.3
        dyaw = (o.yaw - yaw + np.pi / 2) % np.pi - np.pi / 2
        assert abs(dyaw) < np.deg2rad(3) and abs(o.length - 4.5) < 0.3 and abs(o.width - 1.8) < 0.3
    for x, y in poles:
        o = min(objs, key=lambda o: np.hypot(o.x - x, o.y - y))
        assert o.cls == CLASS_SMALL and np.hypot(o.x - x, o.y - y) < 0.2


def test_ground_removal_ransac_on_a_slope_and_grid():
    rng = np.random.default_rng(2)
    pts, cars, _ = scene(rng, ground_tilt=np.tan(np.deg2rad(5)))
    ng, ground, plane = remove_ground_ransac(pts, rng=np.random.default_rng(0))
    assert plane is not None and np.degrees(np.arccos(plane.normal[2])) == pytest.approx(5, abs=0.5)
    assert ground[:15000].mean() > 0.98 and ground[15000:].mean() < 0.15
    ng2, ground2 = remove_ground_grid(pts, cell_m=1.0, height_threshold_m=0.2)
    assert ground2[:15000].mean() > 0.95


def test_clustering_respects_tolerance_and_sizes():
    a = np.column_stack([np.linspace(0, 5, 51), np.zeros(51), np.zeros(51)])       # 0.1 m spacing
    b = a + [0, 1.0, 0]                                                           # 1 m away
    c = np.array([[20.0, 20, 0], [20.1, 20, 0]])                                  # too small
    lab = euclidean_clusters(np.vstack([a, b, c]), tolerance_m=0.5, min_points=5)
    assert len(set(lab[:51])) == 1 and len(set(lab[51:102])) == 1 and lab[0] != lab[51]
    assert np.all(lab[102:] == -1)
    lab = euclidean_clusters(np.vstack([a, b]), tolerance_m=1.2, min_points=5)
    assert len(set(lab)) == 1
    lab = euclidean_clusters(np.vstack([a, b]), tolerance_m=0.5, min_points=5, max_points=40)
    assert np.all(lab == -1)
    with pytest.raises(ValueError, match="tolerance_m"):
        euclidean_clusters(a, tolerance_m=0)


def test_lshape_fit_recovers_heading_for_all_quadrants():
    rng = np.random.default_rng(4)
    for yaw in np.deg2rad([0, 20, 45, 70, 89, 135]):
        p = car_points(rng, 0.0, 0.0, yaw, sensor=(15.0, 7.0))[:, :2]
        cx, cy, fy, length, width = lshape_fit(p)
        d = (fy - yaw + np.pi / 2) % np.pi - np.pi / 2
        assert abs(d) < np.deg2rad(2.5), (np.degrees(yaw), np.degrees(fy))
        assert abs(length - 4.5) < 0.2 and abs(width - 1.8) < 0.2


def test_bad_clouds_never_crash():
    w = Counter()
    assert detect_objects(np.empty((0, 3)), warnings=w) == [] and w["cloud_empty"] == 1
    pts = np.array([[np.nan, 0, 0], [np.inf, 1, 1], [1, 1, 1]] * 10, float)
    detect_objects(pts, LidarDetectorConfig(ground_method="none"), warnings=w)
    assert w["point_non_finite"] == 20
    with pytest.raises(ValueError, match="shape"):
        detect_objects(np.zeros((5, 2)))


def test_occupancy_grid_free_hit_unknown_and_inflation():
    spec = GridSpec.centred(0.0, 0.0, size_m=20.0, resolution_m=0.1)
    angles = np.linspace(-np.pi, np.pi, 720, endpoint=False)
    # a wall at x = 5 m in front, nothing elsewhere within 8 m range
    ranges = np.full(angles.shape, np.inf)
    front = np.abs(angles) < np.deg2rad(40)
    ranges[front] = 5.0 / np.cos(angles[front])
    ranges[10] = np.nan
    ranges[11] = -np.inf
    w = Counter()
    g = scan_to_grid(ranges, -np.pi, 2 * np.pi / 720, 0.1, 8.0, (0.0, 0.0, 0.0), spec,
                     inflation_radius_m=0.3, warnings=w)

    def cell(x, y):
        return g[int((y - spec.origin_y_m) / 0.1), int((x - spec.origin_x_m) / 0.1)]

    assert cell(5.02, 0.0) == OCCUPIED and cell(2.5, 0.5) == FREE
    assert cell(4.85, 0.0) == INFLATED                  # within 0.3 m of the wall
    assert cell(-5.0, 0.0) == FREE                      # no return: free up to range_max
    assert cell(-9.5, 0.0) == UNKNOWN and cell(7.0, 0.0) == UNKNOWN  # beyond range / behind wall
    assert w["range_nan"] == 1 and w["range_neg_inf"] == 1
    empty = scan_to_grid([], 0, 0.01, 0.1, 8.0, (0, 0, 0), spec, warnings=w)
    assert np.all(empty == UNKNOWN) and w["scan_empty"] == 1


def test_grid_clusters_never_split_what_euclidean_joins():
    from skyroad.perception.lidar import grid_clusters
    rng = np.random.default_rng(8)
    pts, _, _ = scene(rng)
    ng, _, _ = remove_ground_ransac(pts, rng=np.random.default_rng(0))
    flat = np.column_stack([ng[:, :2], np.zeros(len(ng))])
    exact = euclidean_clusters(flat, 0.3, 1, 10 ** 6, voxel_m=0)
    grid = grid_clusters(ng, 0.3, 1, 10 ** 6)
    for lab in np.unique(exact):  # each exact cluster lies inside one grid cluster
        assert len(np.unique(grid[exact == lab])) == 1
    objs = detect_objects(pts, LidarDetectorConfig(cluster_method="grid"), rng=np.random.default_rng(0))
    assert len(objs) == 5

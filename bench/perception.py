"""Perception benchmarks: prints ONE JSON object (medians of repeats).

tracker update time for 10/50/200 ground objects (and image boxes), clustering of a 30,000-point
cloud (target <= 30 ms: a third of a 10 Hz lidar period) with the raw-point KD-tree clustering
as in-process baseline, the full lidar pipeline, L-shape fit, occupancy ray tracing and one
EKF predict + update step.

    .venv/bin/python bench/perception.py
"""
import json
import os
import platform
import time

import numpy as np

from skyroad.perception.lidar import LidarDetectorConfig, detect_objects, euclidean_clusters, grid_clusters, lshape_fit
from skyroad.perception.localization import LocalizationEKF
from skyroad.perception.occupancy import GridSpec, scan_to_grid
from skyroad.perception.tracker import MultiObjectTracker, TrackerConfig


def median_ms(fn, repeats=15, warmup=2):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return round(float(np.median(ts)), 3)


def cloud_30k(rng):
    """30,000 points: 18k ground (80 m x 80 m), 12 cars, 20 poles, 1.6k scattered clutter."""
    parts = [np.column_stack([rng.uniform(-40, 40, 18000), rng.uniform(-40, 40, 18000), rng.normal(0, 0.03, 18000)])]
    for _ in range(12):
        cx, cy, yaw = rng.uniform(-35, 35), rng.uniform(-35, 35), rng.uniform(-np.pi, np.pi)
        t = rng.uniform(-0.5, 0.5, 700)
        side = rng.integers(0, 2, 700)
        lx, ly = np.where(side == 0, t * 4.5, 2.25), np.where(side == 0, 0.9, t * 1.8)
        c, s = np.cos(yaw), np.sin(yaw)
        parts.append(np.column_stack([cx + c * lx - s * ly, cy + s * lx + c * ly, rng.uniform(0.2, 1.5, 700)]))
    for _ in range(20):
        x, y = rng.uniform(-35, 35, 2)
        parts.append(np.column_stack([x + rng.normal(0, .05, 100), y + rng.normal(0, .05, 100), rng.uniform(0, 3, 100)]))
    parts.append(rng.uniform([-40, -40, 0], [40, 40, 3], (1600, 3)))
    return np.vstack(parts)[:30000]


def bench_tracker(n, rng, space="ground"):
    cfg = TrackerConfig(score_mode="absolute", high_score=0.5, low_score=0.1, birth_score=0.5)
    trk = MultiObjectTracker(cfg, space=space, motion_model="ctrv" if space == "ground" else "cv", frame_rate_hz=10)
    pos = rng.uniform(-100, 100, (n, 2))
    vel = rng.uniform(-10, 10, (n, 2))
    state = {"k": 0}

    def frame():
        state["k"] += 1
        p = pos + vel * 0.1 * state["k"] + rng.normal(0, 0.2, (n, 2))
        if space == "ground":
            d = np.column_stack([p, np.zeros(n), np.zeros(n), np.full(n, 4.5), np.full(n, 1.8), np.full(n, 1.5), np.ones(n)])
        else:
            d = np.column_stack([p * 5 + 1000, np.full(n, 40.0), np.full(n, 100.0)])
        trk.update(d, np.full(n, 0.9), dt=0.1 if space == "ground" else 1.0)
    for _ in range(5):
        frame()  # tracks confirmed
    return median_ms(frame, repeats=20)


def main():
    rng = np.random.default_rng(0)
    out = {"machine": {"platform": platform.platform(), "python": platform.python_version(),
                       "cpu_count": os.cpu_count(), "processor": platform.processor()}}
    out["tracker_update_ms"] = {f"ground_ctrv_{n}": bench_tracker(n, rng) for n in (10, 50, 200)}
    out["tracker_update_ms"].update({f"image_box_{n}": bench_tracker(n, rng, "image") for n in (10, 50, 200)})
    cloud = cloud_30k(rng)
    out["cloud_points"] = int(len(cloud))
    tol = LidarDetectorConfig().cluster_tolerance_m
    out["cluster_tolerance_m"] = tol
    out["clustering_30k_ms"] = median_ms(lambda: euclidean_clusters(cloud, tol, 5, 50000))
    out["clustering_30k_raw_kdtree_baseline_ms"] = median_ms(lambda: euclidean_clusters(cloud, tol, 5, 50000, voxel_m=0), repeats=5)
    flat = np.column_stack([cloud[:, :2], np.zeros(len(cloud))])
    out["clustering_30k_2d_ms"] = median_ms(lambda: euclidean_clusters(flat, tol, 5, 50000))
    out["clustering_30k_grid_ms"] = median_ms(lambda: grid_clusters(cloud, tol, 5, 50000))
    out["clustering_target_ms"] = 30.0
    out["lidar_pipeline_30k_ms"] = median_ms(lambda: detect_objects(cloud, rng=np.random.default_rng(0)), repeats=7)
    car = rng.normal(0, 1, (400, 2)) * [2.0, 0.8]
    out["lshape_fit_400pts_ms"] = median_ms(lambda: lshape_fit(car))
    ranges = rng.uniform(0.5, 30, 1080)
    spec = GridSpec.centred(0, 0, 60.0, 0.1)
    out["occupancy_1080_beams_600x600_ms"] = median_ms(
        lambda: scan_to_grid(ranges, -np.pi, 2 * np.pi / 1080, 0.1, 30.0, (0, 0, 0), spec, 0.3))
    ekf = LocalizationEKF(np.zeros(6), np.eye(6))

    def ekf_step():
        ekf.predict_imu(0.01, 0.1, 0.01)
        ekf.update_wheel_speed(1.0)
    out["ekf_predict_plus_wheel_update_ms"] = median_ms(ekf_step, repeats=200)
    out["ekf_gnss_update_ms"] = median_ms(lambda: ekf.update_gnss([0.1, 0.2], 1.5, t_s=0.0), repeats=200)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

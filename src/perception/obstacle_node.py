"""obstacle_node: lidar objects + tracking + local occupancy grid (thin rclpy adapter).

Subscribes ``sensors/points`` (PointCloud2) and ``sensors/scan`` (LaserScan), optionally
``localization/odom`` (to track in the odom/map frame, so velocities are over ground).
Publishes ``perception/objects`` (PointCloud2 fields x y z vx vy yaw length width height id
class score), ``perception/objects/markers`` (MarkerArray) and ``perception/occupancy``
(OccupancyGrid). Algorithms live in ``lidar.py``, ``tracker.py``, ``occupancy.py``.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
from nav_msgs.msg import OccupancyGrid, Odometry
from sensor_msgs.msg import LaserScan, PointCloud2
from visualization_msgs.msg import MarkerArray

from skyroad.common.params import ParamSpec
from skyroad.common.ros import (RELIABLE_QOS, SENSOR_QOS, DiagLevel, SkyroadNode, run_node,
                                stamp_to_s)

from .lidar import LidarDetectorConfig, detect_objects, finite_points
from .occupancy import GridSpec, scan_to_grid
from .ros_convert import CloudFormatError, cloud_fields, objects_to_cloud, objects_to_markers
from .tracker import CHI2_99, MultiObjectTracker, TrackerConfig
from skyroad.common.geometry import yaw_of




class ObstacleNode(SkyroadNode):
    PARAMS = (
        ParamSpec("ground_method", "ransac", "ground removal for 3-D clouds", choices=("ransac", "grid", "none")),
        ParamSpec("ground_threshold_m", 0.15, "max distance of a ground point from the ground", min=0.01, max=2.0, unit="m"),
        ParamSpec("cluster_tolerance_m", 0.3, "Euclidean clustering distance (x, y)", min=0.05, max=5.0, unit="m"),
        ParamSpec("cluster_method", "kdtree", "kdtree: exact Euclidean; grid: fast, merges up to 2.8x tolerance",
                  choices=("kdtree", "grid")),
        ParamSpec("cluster_min_points", 5, "smallest cluster kept", min=1, max=100000),
        ParamSpec("cluster_max_points", 20000, "largest cluster kept", min=1, max=1000000),
        ParamSpec("max_range_m", 60.0, "ignore points farther than this", min=1.0, max=500.0, unit="m"),
        ParamSpec("small_max_extent_m", 1.0, "clusters up to this footprint become cylinders", min=0.1, max=5.0, unit="m"),
        ParamSpec("motion_model", "ctrv", "tracker motion model", choices=("cv", "ctrv", "ctra")),
        ParamSpec("max_age_s", 1.0, "coast time before a track is deleted", min=0.0, max=10.0, unit="s"),
        ParamSpec("min_hits", 3, "hits to confirm a track", min=1, max=50),
        ParamSpec("gate_chi2", CHI2_99[2], "Mahalanobis association gate (2 dof)", min=0.5, max=100.0),
        ParamSpec("max_distance_m", 5.0, "Euclidean association gate", min=0.1, max=50.0, unit="m"),
        ParamSpec("manoeuvre_recovery", True, "before a birth, re-find a confirmed track that left its gate by a "
                  "manoeuvre (turn-round, hard braking) within the distance it can reach"),
        ParamSpec("manoeuvre_accel_mps2", 5.0, "speed gain per second assumed by that recovery", min=0.0, max=20.0,
                  unit="m/s^2"),
        ParamSpec("rest_detection", True, "rest / moving motion state: objects at rest report zero velocity and "
                  "their start is detected by a likelihood-ratio test (no Kalman lag when a person walks off)"),
        ParamSpec("rest_window_s", 1.0, "window of the stationarity test for entering rest", min=0.3, max=10.0,
                  unit="s"),
        ParamSpec("onset_false_alarm", 1e-6, "per-frame false-alarm probability of the start test (leaving rest)",
                  min=1e-12, max=0.1),
        ParamSpec("min_meas_std_m", 0.01, "floor of a track's learnt detection noise", min=0.001, max=1.0,
                  unit="m"),
        ParamSpec("use_odom", True, "track in the odometry frame using localization/odom"),
        ParamSpec("sensor_offset", [0.0, 0.0, 0.0, 0.0], "sensor pose in base_link: x, y, z, yaw",
                  length=4),
        ParamSpec("self_filter_box", [0.0, 0.0, 0.0, 0.0], "own body in base_link: x_min, x_max, y_min, y_max; "
                  "returns inside are the vehicle itself (wheels, mirrors seen by a bumper lidar) and are dropped "
                  "(all zero = off)", length=4, unit="m"),
        ParamSpec("grid_size_m", 40.0, "occupancy grid side", min=2.0, max=500.0, unit="m"),
        ParamSpec("grid_resolution_m", 0.1, "occupancy cell size", min=0.01, max=2.0, unit="m"),
        ParamSpec("inflation_radius_m", 0.3, "obstacle inflation radius", min=0.0, max=5.0, unit="m"),
        ParamSpec("seed", 0, "RANSAC random seed", min=0, max=2 ** 31 - 1),
    )

    def __init__(self, context=None, **node_kwargs):
        super().__init__("obstacle_node", context=context, **node_kwargs)
        self.warnings: Counter = Counter()
        self.rng = np.random.default_rng(self.p.seed)
        self._build_cores()
        self.pose = None  # (x, y, yaw) of base_link in odom
        self.pub_objects = self.create_publisher(PointCloud2, "perception/objects", RELIABLE_QOS)
        self.pub_markers = self.create_publisher(MarkerArray, "perception/objects/markers", RELIABLE_QOS)
        self.pub_grid = self.create_publisher(OccupancyGrid, "perception/occupancy", RELIABLE_QOS)
        self.create_subscription(PointCloud2, "sensors/points", self.on_points, SENSOR_QOS)
        self.create_subscription(LaserScan, "sensors/scan", self.on_scan, SENSOR_QOS)
        self.create_subscription(Odometry, "localization/odom", self.on_odom, RELIABLE_QOS)
        self.last_stamp_s = None
        self.points_watchdog = self.add_watchdog("points", timeout_s=1.0)
        self.create_timer(1.0, self.check_watchdogs)

    def _build_cores(self):
        p = self.p
        self.det_cfg = LidarDetectorConfig(p.ground_method, p.ground_threshold_m, p.cluster_tolerance_m,
                                           p.cluster_min_points, p.cluster_max_points, p.max_range_m,
                                           small_max_extent_m=p.small_max_extent_m,
                                           cluster_method=p.cluster_method)
        cfg = TrackerConfig(score_mode="absolute", high_score=0.5, low_score=0.1, birth_score=0.5,
                            min_hits=p.min_hits, max_age_s=p.max_age_s, gate_chi2=p.gate_chi2,
                            max_distance_m=p.max_distance_m, manoeuvre_recovery=p.manoeuvre_recovery,
                            manoeuvre_accel_mps2=p.manoeuvre_accel_mps2, rest_detection=p.rest_detection,
                            rest_window_s=p.rest_window_s, onset_false_alarm=p.onset_false_alarm,
                            min_meas_std_m=p.min_meas_std_m)
        self.tracker = MultiObjectTracker(cfg, space="ground", motion_model=p.motion_model, frame_rate_hz=10.0)

    def check_params(self, values):
        if values["cluster_min_points"] > values["cluster_max_points"]:
            return "cluster_min_points must be <= cluster_max_points"
        return None

    def on_params_changed(self, changed):
        self._build_cores()  # tracks restart: gates / models changed under them

    def on_odom(self, msg: Odometry):
        p = msg.pose.pose
        vals = (p.position.x, p.position.y, yaw_of(p.orientation))
        if all(np.isfinite(vals)):
            self.pose = vals
            self.odom_frame = msg.header.frame_id or "odom"

    def _to_output_frame(self, pts: np.ndarray, header_frame: str):
        """Sensor points -> base_link (sensor_offset) -> odom (latest pose) if use_odom."""
        ox, oy, oz, oyaw = self.p.sensor_offset
        c, s = np.cos(oyaw), np.sin(oyaw)
        out = pts.copy()
        out[:, 0] = ox + c * pts[:, 0] - s * pts[:, 1]
        out[:, 1] = oy + s * pts[:, 0] + c * pts[:, 1]
        out[:, 2] = pts[:, 2] + oz
        out = out[~self._inside_self(out[:, 0], out[:, 1])]
        frame = header_frame or "base_link"
        self.sensor_xy = (ox, oy)
        if self.p.use_odom and self.pose is not None:
            x, y, yaw = self.pose
            c, s = np.cos(yaw), np.sin(yaw)
            bx, by = out[:, 0].copy(), out[:, 1].copy()
            out[:, 0] = x + c * bx - s * by
            out[:, 1] = y + s * bx + c * by
            self.sensor_xy = (x + c * ox - s * oy, y + s * ox + c * oy)
            frame = self.odom_frame
        return out, frame

    def _inside_self(self, bx, by) -> np.ndarray:
        """True for base_link points inside the vehicle's own body box (self_filter_box)."""
        x0, x1, y0, y1 = self.p.self_filter_box
        if x1 <= x0 or y1 <= y0:
            return np.zeros(np.shape(bx), dtype=bool)
        return (bx >= x0) & (bx <= x1) & (by >= y0) & (by <= y1)

    def _process(self, pts: np.ndarray, header, ground_method=None):
        stamp_s = stamp_to_s(header.stamp)
        self.points_watchdog.feed(stamp_s=stamp_s, now_stamp_s=self.now_s())
        dt = 0.1 if self.last_stamp_s is None else stamp_s - self.last_stamp_s
        if not (np.isfinite(dt) and 0 < dt <= 5.0):
            self.warnings["stamp_not_increasing"] += int(self.last_stamp_s is not None)
            dt = 0.1
        self.last_stamp_s = stamp_s
        pts = finite_points(pts, self.warnings)  # NaN/Inf points: counted, dropped
        pts, frame = self._to_output_frame(pts, header.frame_id)
        cfg = self.det_cfg
        if ground_method is not None:
            cfg = LidarDetectorConfig(**{**cfg.__dict__, "ground_method": ground_method})
        objs = detect_objects(pts, cfg, rng=self.rng, warnings=self.warnings, sensor_xy=self.sensor_xy)
        rows = np.array([o.as_row() for o in objs]).reshape(-1, 8)
        scores = np.array([o.score for o in objs])
        tracks = self.tracker.update(rows, scores, dt=dt)
        header.frame_id = frame
        self.pub_objects.publish(objects_to_cloud(header, tracks))
        self.pub_markers.publish(objects_to_markers(header, tracks))
        bad = sum(self.warnings.values()) + sum(self.tracker.warnings.values())
        self.diag.update("objects", DiagLevel.WARN if bad and self._warned_recently() else DiagLevel.OK,
                         f"{len(objs)} clusters, {len(tracks)} tracks", detections=len(objs),
                         tracks=len(tracks), **{k: v for k, v in self.warnings.items()},
                         **{f"tracker_{k}": v for k, v in self.tracker.warnings.items()})

    def _warned_recently(self) -> bool:
        total = sum(self.warnings.values()) + sum(self.tracker.warnings.values())
        prev = getattr(self, "_prev_warn_total", 0)
        self._prev_warn_total = total
        return total > prev

    def on_points(self, msg: PointCloud2):
        try:
            pts = cloud_fields(msg, ("x", "y", "z"))
        except CloudFormatError as exc:
            self.warnings["cloud_format"] += 1
            self.diag.update("objects", DiagLevel.WARN, f"rejected cloud: {exc}")
            return
        self._process(pts, msg.header)

    def on_scan(self, msg: LaserScan):
        ranges = np.asarray(msg.ranges, dtype=float)
        p = self.p
        spec = GridSpec.centred(0.0, 0.0, p.grid_size_m, p.grid_resolution_m)
        ox, oy, _, oyaw = p.sensor_offset
        # returns from the own body: unknown (NaN) for the grid, not counted as bad ranges
        ang = msg.angle_min + msg.angle_increment * np.arange(ranges.size) + oyaw
        with np.errstate(invalid="ignore"):
            own = np.isfinite(ranges) & self._inside_self(ox + ranges * np.cos(ang), oy + ranges * np.sin(ang))
        grid_ranges = np.where(own, np.nan, ranges)
        grid = scan_to_grid(grid_ranges, msg.angle_min, msg.angle_increment, msg.range_min, msg.range_max,
                            (ox, oy, oyaw), spec, p.inflation_radius_m, warnings=self.warnings)
        if own.any():
            self.warnings["range_nan"] -= int(own.sum())
            if self.warnings["range_nan"] <= 0:
                del self.warnings["range_nan"]
        out = OccupancyGrid()
        out.header.stamp = msg.header.stamp
        out.header.frame_id = "base_link"
        out.info.map_load_time = msg.header.stamp
        out.info.resolution = float(spec.resolution_m)
        out.info.width, out.info.height = spec.width_cells, spec.height_cells
        out.info.origin.position.x, out.info.origin.position.y = spec.origin_x_m, spec.origin_y_m
        out.info.origin.orientation.w = 1.0
        out.data = grid.reshape(-1).astype(np.int8).tolist()
        self.pub_grid.publish(out)
        # A 2-D scan also yields objects when no 3-D cloud is configured.
        if self.count_publishers("sensors/points") == 0:
            ang = msg.angle_min + msg.angle_increment * np.arange(ranges.size)
            ok = np.isfinite(ranges) & (ranges >= msg.range_min) & (ranges <= msg.range_max)
            pts = np.column_stack([ranges[ok] * np.cos(ang[ok]), ranges[ok] * np.sin(ang[ok]),
                                   np.zeros(int(ok.sum()))])
            self._process(pts, msg.header, ground_method="none")


def main(args=None):
    return run_node(ObstacleNode, args)


if __name__ == "__main__":
    main()

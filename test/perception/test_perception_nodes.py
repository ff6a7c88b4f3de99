"""perception nodes over real DDS, in-process (one executor, test publishers/subscribers)."""
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import OccupancyGrid, Odometry
from sensor_msgs.msg import Imu, LaserScan, NavSatFix, NavSatStatus, PointCloud2
from std_msgs.msg import Header

from skyroad.common.ros import RELIABLE_QOS, make_executor, s_to_stamp
from skyroad.perception.kinematic_sim import SimConfig, simulate_drive
from skyroad.perception.localization import LocalENU
from skyroad.perception.localization_node import LocalizationNode
from skyroad.perception.obstacle_node import ObstacleNode
from skyroad.perception.ros_convert import OBJECT_FIELDS, cloud_fields, make_cloud

from test_perception_lidar_occupancy import scene


def spin_until(executor, predicate, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.01)
        if predicate():
            return True
    return False


def diag_messages(store, component):
    return [(s.level[0], s.message) for arr in store for s in arr.status if s.name.endswith(component)]


def test_localization_node_tracks_drive_and_reports_dropouts(ros_context):
    node = LocalizationNode(context=ros_context)
    io = rclpy_node(ros_context, "loc_test_io")
    pub_imu = io.create_publisher(Imu, "sensors/imu", RELIABLE_QOS)
    pub_wh = io.create_publisher(Odometry, "sensors/wheel_odom", RELIABLE_QOS)
    pub_g = io.create_publisher(NavSatFix, "sensors/gnss", RELIABLE_QOS)
    odoms, diags = [], []
    io.create_subscription(Odometry, "localization/odom", odoms.append, RELIABLE_QOS)
    io.create_subscription(DiagnosticArray, "/diagnostics", diags.append, RELIABLE_QOS)
    ex = make_executor(ros_context)
    ex.add_node(node)
    ex.add_node(io)
    try:
        assert spin_until(ex, lambda: pub_imu.get_subscription_count() and pub_g.get_subscription_count()
                          and io.count_publishers("localization/odom"))
        cfg = SimConfig(duration_s=20.0, imu_rate_hz=50.0, wheel_rate_hz=10.0)
        data = simulate_drive(cfg, np.random.default_rng(3))
        origin = LocalENU(47.0, 8.0, 400.0)
        events = [(t, 0, i) for i, t in enumerate(data.imu[:, 0])] + \
                 [(t, 1, i) for i, t in enumerate(data.wheel[:, 0])] + \
                 [(t, 2, i) for i, t in enumerate(data.gnss[:, 0])]
        t0 = 1000.0
        for t, kind, i in sorted(events):
            h = Header(stamp=s_to_stamp(t0 + t), frame_id="base_link")
            if kind == 0:
                m = Imu(header=h)
                m.angular_velocity.z, m.linear_acceleration.x = float(data.imu[i, 1]), float(data.imu[i, 2])
                pub_imu.publish(m)
            elif kind == 1:
                m = Odometry(header=h)
                m.twist.twist.linear.x = float(data.wheel[i, 1])
                pub_wh.publish(m)
            else:
                lat, lon, alt = origin.to_geodetic(data.gnss[i, 1], data.gnss[i, 2], 0.0)
                pub_g.publish(NavSatFix(header=h, latitude=lat, longitude=lon, altitude=alt,
                                        status=NavSatStatus(status=NavSatStatus.STATUS_FIX)))
            for _ in range(3):
                ex.spin_once(timeout_sec=0.0)
        spin_until(ex, lambda: False, 0.2)
        assert len(odoms) > 500
        last = odoms[-1]
        truth_enu = data.truth[-1, :2]
        # the node's origin is the first fix (noisy): compare in geodetic terms via the origin
        first = origin.to_geodetic(data.gnss[0, 1], data.gnss[0, 2], 0.0)
        node_enu = LocalENU(*first)
        lat, lon, _ = node_enu.to_geodetic(last.pose.pose.position.x, last.pose.pose.position.y, 0.0)
        est = origin.to_enu(lat, lon, first[2])[:2]
        assert np.hypot(*(est - truth_enu)) < 2.0
        assert last.pose.covariance[0] > 0 and last.header.frame_id == "map"
        # GNSS dropout: keep IMU flowing for 1.5 s of wall time, no fixes
        t_end = time.monotonic() + 1.5
        k = 0
        while time.monotonic() < t_end:
            k += 1
            m = Imu(header=Header(stamp=s_to_stamp(t0 + 20.0 + 0.02 * k)))
            pub_imu.publish(m)
            spin_until(ex, lambda: False, 0.02)
        assert any(lvl == 1 and "dropout" in msg for lvl, msg in diag_messages(diags, "gnss"))
        # IMU stops: node coasts and says so
        n_before = len(odoms)
        spin_until(ex, lambda: any("IMU stale" in msg for _, msg in diag_messages(diags, "localization")), 3.0)
        assert any("IMU stale" in msg for _, msg in diag_messages(diags, "localization"))
        assert spin_until(ex, lambda: len(odoms) > n_before, 2.0)
        assert odoms[-1].header.stamp.sec >= 1020  # coasted stamps continue the sensor time line
    finally:
        ex.shutdown()
        node.destroy_node()
        io.destroy_node()


def rclpy_node(context, name):
    import rclpy.node
    return rclpy.node.Node(name, context=context)


def test_obstacle_node_publishes_tracked_objects_and_grid(ros_context):
    node = ObstacleNode(context=ros_context, parameter_overrides=[])
    io = rclpy_node(ros_context, "obs_test_io")
    pub_pts = io.create_publisher(PointCloud2, "sensors/points", RELIABLE_QOS)
    pub_scan = io.create_publisher(LaserScan, "sensors/scan", RELIABLE_QOS)
    objs, grids = [], []
    io.create_subscription(PointCloud2, "perception/objects", objs.append, RELIABLE_QOS)
    io.create_subscription(OccupancyGrid, "perception/occupancy", grids.append, RELIABLE_QOS)
    ex = make_executor(ros_context)
    ex.add_node(node)
    ex.add_node(io)
    try:
        assert spin_until(ex, lambda: pub_pts.get_subscription_count() and io.count_publishers("perception/objects"))
        rng = np.random.default_rng(5)
        for k in range(5):
            pts, cars, poles = scene(rng)
            pts = np.vstack([pts, [[np.nan, 0, 0], [np.inf, 1, 1]]])  # bad points: skipped, counted
            h = Header(stamp=s_to_stamp(50.0 + 0.1 * k), frame_id="lidar")
            pub_pts.publish(make_cloud(h, {"x": pts[:, 0], "y": pts[:, 1], "z": pts[:, 2],
                                          "intensity": np.ones(len(pts))}))
            assert spin_until(ex, lambda: len(objs) > k, 5.0)
        last = objs[-1]
        assert [f.name for f in last.fields] == list(OBJECT_FIELDS)
        arr = cloud_fields(last, OBJECT_FIELDS)
        assert len(arr) == len(cars) + len(poles)
        for cx, cy, _ in cars:
            assert np.min(np.hypot(arr[:, 0] - cx, arr[:, 1] - cy)) < 0.5
        assert len(set(arr[:, OBJECT_FIELDS.index("id")])) == len(arr)
        assert node.warnings["point_non_finite"] == 10
        # a cloud without z is rejected with a counted warning, the node survives
        pub_pts.publish(make_cloud(Header(stamp=s_to_stamp(51.0)), {"x": [1.0], "y": [2.0]}))
        spin_until(ex, lambda: node.warnings["cloud_format"] > 0, 2.0)
        assert node.warnings["cloud_format"] == 1
        scan = LaserScan(header=Header(stamp=s_to_stamp(51.1), frame_id="laser"),
                         angle_min=-np.pi, angle_max=np.pi, angle_increment=2 * np.pi / 360,
                         range_min=0.1, range_max=10.0)
        r = np.full(360, 5.0)
        r[:10] = np.nan
        scan.ranges = r.astype(np.float32).tolist()
        pub_scan.publish(scan)
        assert spin_until(ex, lambda: len(grids) > 0, 5.0)
        g = np.array(grids[0].data).reshape(grids[0].info.height, grids[0].info.width)
        assert (g == 100).sum() > 100 and (g == 0).sum() > 1000 and node.warnings["range_nan"] == 10
        empty = LaserScan(header=Header(stamp=s_to_stamp(51.2)), angle_increment=0.01, range_max=10.0)
        pub_scan.publish(empty)
        assert spin_until(ex, lambda: len(grids) > 1, 5.0)
        assert node.warnings["scan_empty"] == 1
    finally:
        ex.shutdown()
        node.destroy_node()
        io.destroy_node()


def test_shipped_yaml_loads_and_bad_values_fail_naming_the_parameter(ros_context, tmp_path):
    from pathlib import Path

    from skyroad.common.params import ParameterConfigError
    cfg = Path(__file__).resolve().parents[2] / "config" / "perception.yaml"
    for cls in (LocalizationNode, ObstacleNode):
        n = cls(context=ros_context, cli_args=["--ros-args", "--params-file", str(cfg)])
        n.destroy_node()
    bad = tmp_path / "bad.yaml"
    bad.write_text("obstacle_node:\n  ros__parameters:\n    cluster_tolerance_m: -1.0\n")
    with pytest.raises(ParameterConfigError, match="cluster_tolerance_m"):
        ObstacleNode(context=ros_context, cli_args=["--ros-args", "--params-file", str(bad)])

"""controller_node over real DDS, in-process: stop + /diagnostics on every bad input, and a
closed loop (kinematic bicycle integrated by the test, odometry over DDS) that converges."""
import math
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import PoseStamped, Twist  # noqa: E402
from nav_msgs.msg import Odometry, Path  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from skyroad.common.params import ParameterConfigError  # noqa: E402
from skyroad.common.ros import RELIABLE_QOS, SENSOR_QOS, make_executor, s_to_stamp  # noqa: E402
from skyroad.control.node import ControllerNode  # noqa: E402
from skyroad.control.twist import twist_to_ackermann  # noqa: E402
from skyroad.control.vehicle import KinematicBicycleLag  # noqa: E402


class Harness:
    def __init__(self, context, **params):
        overrides = [Parameter(k, value=v) for k, v in params.items()]
        self.node = ControllerNode(context=context, parameter_overrides=overrides)
        self.io = rclpy.create_node("control_test_io", context=context)
        self.odom_pub = self.io.create_publisher(Odometry, "localization/odom", SENSOR_QOS)
        self.traj_pub = self.io.create_publisher(Path, "planning/trajectory", RELIABLE_QOS)
        self.cmds = []
        self.diags = []
        self.io.create_subscription(Twist, "control/cmd_vel_nominal", self.cmds.append, RELIABLE_QOS)
        self.io.create_subscription(DiagnosticArray, "/diagnostics", self.diags.append, RELIABLE_QOS)
        self.executor = make_executor(context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.io)

    def now(self):
        return self.io.get_clock().now().nanoseconds * 1e-9

    def spin(self, seconds, until=None):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.01)
            if until is not None and until():
                return True
        return until is None

    def odom(self, x, y, yaw, v, frame="map", yaw_rate=0.0):
        m = Odometry()
        m.header.stamp = s_to_stamp(self.now())
        m.header.frame_id = frame
        m.pose.pose.position.x, m.pose.pose.position.y = float(x), float(y)
        m.pose.pose.orientation.z, m.pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
        m.twist.twist.linear.x = float(v)
        m.twist.twist.angular.z = float(yaw_rate)
        self.odom_pub.publish(m)

    def trajectory(self, points, speed_mps=None, frame="map", t0=None):
        msg = Path()
        msg.header.frame_id = frame
        t0 = self.now() if t0 is None else t0
        s = np.concatenate(([0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))))
        for p, si in zip(points, s):
            ps = PoseStamped()
            ps.header.frame_id = frame
            if speed_mps is not None and np.isfinite(si):
                ps.header.stamp = s_to_stamp(t0 + si / speed_mps)
            ps.pose.position.x, ps.pose.position.y = float(p[0]), float(p[1])
            msg.poses.append(ps)
        self.traj_pub.publish(msg)

    def last_status(self, component="tracking"):
        for arr in reversed(self.diags):
            for st in arr.status:
                if st.name.endswith(component):
                    return st
        return None

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        self.io.destroy_node()


@pytest.fixture
def harness(ros_context):
    h = Harness(ros_context)
    yield h
    h.close()


def _straight(length=200.0, y=0.0):
    x = np.arange(0.0, length + 0.5, 1.0)
    return np.stack([x, np.full_like(x, y)], axis=1)


def test_stops_and_reports_without_odometry(harness):
    harness.trajectory(_straight(), 5.0)
    assert harness.spin(3.0, lambda: harness.last_status() is not None
                        and "odometry stale" in harness.last_status().message)
    assert harness.last_status().level == bytes([2])           # ERROR
    assert all(c.linear.x == 0.0 and c.angular.z == 0.0 for c in harness.cmds)


def test_tracks_and_steers_towards_the_path_then_stops_on_stale_odometry(harness):
    harness.trajectory(_straight(y=1.0), 5.0)                  # path 1 m to the LEFT
    got = lambda: len(harness.cmds) > 5 and harness.cmds[-1].linear.x > 0.0  # noqa: E731
    end = time.monotonic() + 4.0
    while time.monotonic() < end and not got():
        harness.odom(0.0, 0.0, 0.0, 5.0)
        harness.spin(0.02)
    assert got()
    assert harness.cmds[-1].angular.z > 0.0                    # turning left, towards it
    st = harness.last_status()
    assert st.message == "tracking" and st.level == bytes([0])
    # odometry stops: within the timeout the command drops to zero and /diagnostics says why
    assert harness.spin(3.0, lambda: harness.cmds[-1].linear.x == 0.0
                        and "odometry stale" in harness.last_status().message)


@pytest.mark.parametrize("points, expected, level", [
    # the planner's "stop and hold" (planning/node.py): a deliberate stop, not a fault
    (np.zeros((0, 2)), "empty trajectory from the planner (stop and hold)", 0),
    (np.array([[0.0, 0.0], [np.nan, 1.0], [2.0, 0.0]]), "pose 1 is not finite", 2),
    (np.array([[1.0, 1.0], [1.0, 1.0]]), "at least 2 distinct points", 2),
])
def test_bad_trajectory_stops_with_a_specific_reason(harness, points, expected, level):
    harness.trajectory(points, 5.0)
    ok = lambda: harness.last_status() is not None and expected in harness.last_status().message  # noqa: E731
    end = time.monotonic() + 4.0
    while time.monotonic() < end and not ok():
        harness.odom(0.0, 0.0, 0.0, 0.0)
        harness.spin(0.02)
    assert ok(), harness.last_status()
    assert harness.last_status().message.startswith("STOP")
    assert harness.last_status().level == bytes([level])
    assert harness.cmds[-1].linear.x == 0.0


def test_frame_mismatch_stops(harness):
    harness.trajectory(_straight(), 5.0, frame="map")
    ok = lambda: harness.last_status() is not None and "frame mismatch" in harness.last_status().message  # noqa
    end = time.monotonic() + 4.0
    while time.monotonic() < end and not ok():
        harness.odom(0.0, 0.0, 0.0, 0.0, frame="odom")
        harness.spin(0.02)
    assert ok()


def test_closed_loop_over_dds_converges_onto_the_path(ros_context):
    h = Harness(ros_context, controller="mpc", odom_timeout_s=1.0)
    try:
        car = KinematicBicycleLag(v=5.0, y=-1.0)
        t_plan = h.now()
        last = t_plan
        last_plan = -1.0
        t_end = time.monotonic() + 5.0
        errs = []
        while time.monotonic() < t_end:
            now = h.now()
            if now - last_plan >= 0.1:          # the planner republishes its plan at 10 Hz
                h.trajectory(_straight(), 5.0, t0=t_plan)
                last_plan = now
            dt = now - last
            last = now
            if h.cmds:
                speed, steer = twist_to_ackermann(h.cmds[-1].linear.x, h.cmds[-1].angular.z, 2.7)
                car.step(speed, steer, max(dt, 1e-3))
            h.odom(car.x, car.y, car.yaw, car.v, yaw_rate=car.v * math.tan(car.delta) / 2.7)
            errs.append(car.y)
            h.spin(0.02)
        assert car.x > 10.0                       # it drove
        assert abs(car.y) < 0.2 and abs(car.yaw) < 0.1, (car.x, car.y, car.yaw)
    finally:
        h.close()


def test_invalid_start_up_and_runtime_parameters(ros_context):
    with pytest.raises(ParameterConfigError, match="controller"):
        ControllerNode(context=ros_context, parameter_overrides=[Parameter("controller", value="bogus")])
    with pytest.raises(ParameterConfigError, match="mpc_weight_lateral"):
        ControllerNode(context=ros_context, parameter_overrides=[Parameter("mpc_weight_lateral", value=0.0)])
    node = ControllerNode(context=ros_context)
    try:
        res = node.set_parameters([Parameter("wheelbase_m", value=-1.0)])[0]
        assert not res.successful and node.p.wheelbase_m == 2.7
        assert node.set_parameters([Parameter("controller", value="stanley")])[0].successful
        assert node._tracker.config.lateral == "stanley"
    finally:
        node.destroy_node()


def test_shipped_yaml_loads_into_both_nodes(ros_context):
    from pathlib import Path as FsPath

    from skyroad.planning.uav_mission_node import UavMissionNode
    yaml_path = FsPath(__file__).resolve().parents[2] / "config" / "controller.yaml"
    args = ["--ros-args", "--params-file", str(yaml_path)]
    node = ControllerNode(context=ros_context, cli_args=args)
    uav = UavMissionNode(context=ros_context, cli_args=args)
    try:
        assert node.p.wheelbase_m == 2.578 and node.p.max_steer_rate_radps == 0.4
        assert node._tracker.config.mpc.max_steer_rate_radps == 0.4   # reaches the core
        assert uav.p.min_altitude_m == 0.0 and uav.p.cmd_frame == "body_yaw"
    finally:
        node.destroy_node()
        uav.destroy_node()


def _objects_cloud(rows):
    from sensor_msgs.msg import PointCloud2, PointField
    names = ("x", "y", "z", "vx", "vy", "yaw", "length", "width", "height", "id", "class", "score")
    msg = PointCloud2()
    msg.fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                  for i, n in enumerate(names)]
    msg.point_step = 4 * len(names)
    msg.height, msg.width = 1, len(rows)
    msg.row_step = msg.point_step * len(rows)
    msg.data = np.asarray(rows, dtype="<f4").tobytes()
    return msg


def test_objects_cloud_parsing():
    from skyroad.control.node import objects_from_cloud
    msg = _objects_cloud([[10, 2, 0, -1, 0.5, 0, 4, 3, 1.5, 7, 1, 0.9],
                          [5, 5, 0, np.nan, 0, 0, 1, 1, 1, 8, 2, 0.9]])
    objs = objects_from_cloud(msg)
    np.testing.assert_allclose(objs, [[10, 2, -1, 0.5, 2.5]])     # NaN row dropped, r = 5 / 2
    msg.fields = msg.fields[:3]
    with pytest.raises(ValueError, match="lacks field"):
        objects_from_cloud(msg)


def test_mppi_controller_brakes_for_an_object_on_its_path_over_dds(ros_context):
    from sensor_msgs.msg import PointCloud2
    # generous odometry timeout: this test is about the objects, not about a loaded CI machine
    h = Harness(ros_context, controller="mppi", mppi_samples=300, odom_timeout_s=1.0)
    pub = h.io.create_publisher(PointCloud2, "perception/objects", SENSOR_QOS)
    try:
        speeds = []
        emergency = False
        t_plan = h.now()
        end = time.monotonic() + 3.0
        last_plan = -1.0
        while time.monotonic() < end:
            if h.now() - last_plan > 0.1:
                h.trajectory(_straight(), 5.0, t0=t_plan)
                last_plan = h.now()
            h.odom(0.0, 0.0, 0.0, 5.0)
            # a wall of objects 8 m ahead across the whole road: no collision-free rollout
            pub.publish(_objects_cloud([[8.0, y, 0, 0, 0, 0, 1.5, 1.5, 1.5, i, 1, 0.9]
                                        for i, y in enumerate(np.arange(-10.0, 10.5, 1.0))]))
            h.spin(0.05)
            st = h.last_status()
            if st is not None and any(kv.value.startswith("no collision-free") for kv in st.values):
                emergency = True
            if h.cmds and emergency:
                speeds.append(h.cmds[-1].linear.x)
        assert emergency, h.last_status()
        assert speeds and speeds[-1] == 0.0
    finally:
        h.close()


def test_path_orientations_give_gears_and_unset_ones_mean_forward():
    from skyroad.control.node import path_to_arrays
    msg = Path()
    for x, yaw in ((0.0, math.pi), (-1.0, math.pi), (-2.0, math.pi)):      # driving west, facing west
        ps = PoseStamped()
        ps.pose.position.x = x
        ps.pose.orientation.z, ps.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
        msg.poses.append(ps)
    _, _, yaws = path_to_arrays(msg)
    np.testing.assert_allclose(np.abs(yaws), math.pi)
    for ps in msg.poses:                                                    # ROS 2 default: identity
        ps.pose.orientation.z, ps.pose.orientation.w = 0.0, 1.0
    assert path_to_arrays(msg)[2] is None
    msg.poses[1].pose.orientation.w = 0.0                                   # one zero quaternion
    with pytest.raises(Exception, match="pose 1 has an invalid orientation"):
        path_to_arrays(msg)

"""sim_node over real DDS, in-process: every config/gz_bridge.yaml entry is honoured."""
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from skyroad.common.params import ParameterConfigError  # noqa: E402
from skyroad.sim import bridge  # noqa: E402
from skyroad.sim.node import ROS_TYPES, SimNode  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def spin_until(executor, predicate, timeout_s):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and not predicate():
        executor.spin_once(timeout_sec=0.01)
    return predicate()


def test_bridge_file_parses_and_rejects_bad_entries(tmp_path):
    entries = bridge.load_bridge(REPO / "config" / "gz_bridge.yaml")
    assert any(e.ros_topic == "/clock" for e in entries)
    bad = tmp_path / "b.yaml"
    bad.write_text('- ros_topic_name: "/x"\n  gz_topic_name: "/y"\n  ros_type_name: "sensor_msgs/msg/Imu"\n'
                   '  gz_type_name: "gz.msgs.LaserScan"\n  direction: GZ_TO_ROS\n')
    with pytest.raises(bridge.BridgeConfigError, match="entry 1 \\(/x\\): sensor_msgs/msg/Imu pairs with gz.msgs.IMU"):
        bridge.load_bridge(bad)
    bad.write_text("- [unclosed\n")
    with pytest.raises(bridge.BridgeConfigError, match="malformed YAML"):
        bridge.load_bridge(bad)


def test_every_bridge_entry_is_served_over_dds(ros_context):
    entries = bridge.load_bridge(REPO / "config" / "gz_bridge.yaml")
    node = SimNode(context=ros_context, parameter_overrides=[
        Parameter("world", value="demo.sdf"), Parameter("real_time_factor", value=0.0),
        Parameter("duration_s", value=1.0), Parameter("enable_cameras", value=True)])
    probe = rclpy.create_node("bridge_probe", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    executor.add_node(probe)
    try:
        cameras_off = not node.sim.cameras_enabled
        received = {}
        expected_out = []
        for e in entries:
            if e.to_ros:
                if cameras_off and e.gz_type in ("gz.msgs.Image", "gz.msgs.CameraInfo"):
                    assert any(u[0] == e for u in node.unserved)   # reported, not silently dropped
                    continue
                expected_out.append(e.ros_topic)
                probe.create_subscription(ROS_TYPES[e.ros_type], e.ros_topic,
                                          lambda msg, t=e.ros_topic: received.__setitem__(t, msg), 10)
        assert not [u for u in node.unserved if u[0].gz_type not in ("gz.msgs.Image", "gz.msgs.CameraInfo")]
        assert spin_until(executor, lambda: set(expected_out) <= set(received), 60.0), \
            f"never received: {sorted(set(expected_out) - set(received))}"
        for topic, msg in received.items():
            entry = next(e for e in entries if e.ros_topic == topic)
            assert type(msg) is ROS_TYPES[entry.ros_type]
        # ROS -> gz: each command reaches its Gazebo system
        from geometry_msgs.msg import Twist
        from std_msgs.msg import Bool, Float64
        pubs = {e.ros_topic: probe.create_publisher(ROS_TYPES[e.ros_type], e.ros_topic, 10)
                for e in entries if e.to_gz}
        car_cmd = Twist()
        car_cmd.linear.x = 4.0
        gimbal = Float64(data=0.3)
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline:
            pubs["/car1/cmd_vel"].publish(car_cmd)
            uav_cmd = Twist()
            uav_cmd.linear.z = 0.5
            pubs["/uav1/cmd_vel"].publish(uav_cmd)
            pubs["/uav1/enable"].publish(Bool(data=False))
            for axis in ("yaw", "roll", "pitch"):
                pubs[f"/uav1/gimbal/joint_cmd/{axis}"].publish(gimbal)
            executor.spin_once(timeout_sec=0.02)
            sim = node.sim
            if (sim.cars[0].drive.cmd_speed == 4.0 and sim.copters[0].controller.cmd_lin[2] == 0.5
                    and not sim.copters[0].controller.enabled and all(p.target == 0.3 for p, _, _ in sim.joint_pids)):
                break
        assert sim.cars[0].drive.cmd_speed == 4.0
        assert sim.copters[0].controller.cmd_lin[2] == 0.5 and not sim.copters[0].controller.enabled
        assert all(p.target == 0.3 for p, _, _ in sim.joint_pids)
        clock = received["/clock"]
        assert clock.clock.sec + clock.clock.nanosec * 1e-9 > 0.0
    finally:
        executor.shutdown()
        probe.destroy_node()
        node.destroy_node()


def test_bad_world_is_a_configuration_error(ros_context, tmp_path):
    bad = tmp_path / "bad.sdf"
    bad.write_text('<sdf version="1.9"><world name="w"><model name="m"><link name="l"><warp/></link></model></world></sdf>')
    with pytest.raises(ParameterConfigError, match=r"bad.sdf:1: <warp>: element not supported"):
        SimNode(context=ros_context, parameter_overrides=[Parameter("world", value=str(bad))])

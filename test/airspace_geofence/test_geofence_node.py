"""geofence_node over real DDS, in-process: a kinematic multirotor in the test closes the loop
(odometry out, cmd_vel in) and a nominal command points straight into a prohibited zone."""
import json
import math
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.node import Node
from visualization_msgs.msg import MarkerArray

from skyroad.common.params import ParameterConfigError
from skyroad.common.ros import LATCHED_QOS, RELIABLE_QOS, SENSOR_QOS, make_executor, s_to_stamp
from skyroad.airspace_geofence.geodesy import LocalFrame
from skyroad.airspace_geofence.node import GeofenceNode

ORIGIN = (46.5, 7.0, 500.0)
ZONE_X0 = 100.0   # west edge of the prohibited square, metres east of the origin


def write_zone(tmp_path):
    frame = LocalFrame(*ORIGIN)
    xs = np.array([ZONE_X0, 400.0, 400.0, ZONE_X0, ZONE_X0])
    ys = np.array([-300.0, -300.0, 300.0, 300.0, -300.0])
    lon, lat = frame.to_geodetic_xy(xs, ys)
    doc = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"id": "BLOCK", "restriction": "PROHIBITED", "upper": 120,
                                          "uom": "M", "upperReference": "AGL"},
        "geometry": {"type": "Polygon", "coordinates": [np.column_stack([lon, lat]).tolist()]}}]}
    path = tmp_path / "block.geojson"
    path.write_text(json.dumps(doc))
    return str(path)


def params(zone_file, **extra):
    from rclpy.parameter import Parameter
    values = {"zone_files": [zone_file], "origin_lat_deg": ORIGIN[0], "origin_lon_deg": ORIGIN[1],
              "origin_alt_amsl_m": ORIGIN[2], "ground_elevation_amsl_m": ORIGIN[2], "cmd_frame": "map",
              "gnss_sigma_h_m": 1.0, "gnss_k_sigma": 3.0, "buffer_h_m": 2.0, "zone_time": "fixed"}
    values.update(extra)
    return [Parameter(k, value=v) for k, v in values.items()]


class Harness(Node):
    """Kinematic multirotor: integrates cmd_vel (map frame) at 50 Hz, publishes odometry."""

    def __init__(self, context, start, nominal):
        super().__init__("geofence_harness", context=context)
        self.position = np.array(start, float)
        self.velocity = np.zeros(3)
        self.nominal = nominal
        self.publish_odom = True
        self.cmds, self.diags, self.markers = [], [], []
        self.odom_pub = self.create_publisher(Odometry, "localization/odom", SENSOR_QOS)
        self.nominal_pub = self.create_publisher(Twist, "control/cmd_vel_nominal", RELIABLE_QOS)
        self.create_subscription(Twist, "cmd_vel", self.on_cmd, RELIABLE_QOS)
        self.create_subscription(DiagnosticArray, "/diagnostics", lambda m: self.diags.append(m), RELIABLE_QOS)
        self.last = time.monotonic()
        self.create_timer(0.02, self.step)

    def on_cmd(self, msg):
        self.cmds.append((time.monotonic(), msg))
        self.velocity = np.array([msg.linear.x, msg.linear.y, msg.linear.z])

    def step(self):
        now = time.monotonic()
        self.position += self.velocity * (now - self.last)
        self.last = now
        if self.publish_odom:
            odom = Odometry()
            odom.header.stamp = s_to_stamp(self.get_clock().now().nanoseconds * 1e-9)
            odom.header.frame_id, odom.child_frame_id = "map", "base_link"
            odom.pose.pose.position.x, odom.pose.pose.position.y, odom.pose.pose.position.z = map(float, self.position)
            odom.pose.pose.orientation.w = 1.0
            odom.twist.twist.linear.x, odom.twist.twist.linear.y, odom.twist.twist.linear.z = map(float, self.velocity)
            self.odom_pub.publish(odom)
        cmd = Twist()
        cmd.linear.x, cmd.linear.y, cmd.linear.z = self.nominal
        self.nominal_pub.publish(cmd)


def spin_for(executor, seconds, until=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.01)
        if until is not None and until():
            return True
    return False


def statuses(harness):
    return [(s.message, {kv.key: kv.value for kv in s.values}) for d in harness.diags for s in d.status
            if s.name.endswith("geofence")]


def test_nominal_into_zone_is_stopped_at_the_boundary_and_stale_odom_hovers(ros_context, tmp_path):
    node = GeofenceNode(context=ros_context, parameter_overrides=params(write_zone(tmp_path)))
    margin = 3.0 * 1.0 + 2.0
    harness = Harness(ros_context, start=[40.0, 0.0, 50.0], nominal=(10.0, 2.0, 0.0))
    executor = make_executor(ros_context)
    executor.add_node(node)
    executor.add_node(harness)
    try:
        trace = []
        deadline = time.monotonic() + 9.0
        while time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.01)
            trace.append(harness.position.copy())
        trace = np.array(trace)
        assert len(harness.cmds) > 50
        # never entered, never even reached the boundary; parked at the margin
        assert trace[:, 0].max() < ZONE_X0
        assert ZONE_X0 - trace[-1, 0] == pytest.approx(margin, abs=1.5)
        assert abs(harness.velocity[0]) < 0.3 and harness.velocity[1] == pytest.approx(2.0, abs=0.1)
        seen = statuses(harness)
        assert any(msg == "AVOIDING" and fields.get("nearest_zone") == "BLOCK" for msg, fields in seen)
        assert any(msg == "WARNING" for msg, _ in seen)

        # latched zone markers reach a late subscriber
        got = []
        late = Node("late_display", context=ros_context)
        late.create_subscription(MarkerArray, "geofence/zones", lambda m: got.append(m), LATCHED_QOS)
        executor.add_node(late)
        assert spin_for(executor, 3.0, until=lambda: bool(got))
        markers = [m for m in got[0].markers if m.ns == "PROHIBITED"]
        assert len(markers) == 1 and markers[0].text == "BLOCK" and len(markers[0].points) > 8

        # odometry stops: zero velocity and an ERROR status
        harness.publish_odom = False
        assert spin_for(executor, 3.0, until=lambda: any(s.message.startswith("HOVER")
                                                         for d in harness.diags for s in d.status))
        spin_for(executor, 0.3)
        _, last = harness.cmds[-1]
        assert (last.linear.x, last.linear.y, last.linear.z) == (0.0, 0.0, 0.0)
        hover = [s for d in harness.diags for s in d.status if s.message.startswith("HOVER")]
        assert hover and hover[-1].level == bytes([2]) and "odometry stale" in hover[-1].message
        executor.remove_node(late)
        late.destroy_node()
    finally:
        executor.remove_node(harness)
        executor.remove_node(node)
        harness.destroy_node()
        node.destroy_node()


def test_bad_zone_file_fails_start_up_naming_parameter_zone_and_field(ros_context, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"UASZoneList": [{"identifier": "Q9", "restriction": "MAYBE", "geometry": []}]}')
    with pytest.raises(ParameterConfigError, match=r"zone_files.*zone 'Q9'.*field 'restriction'"):
        GeofenceNode(context=ros_context, parameter_overrides=params(str(bad)))


def test_body_yaw_commands_are_rotated_and_filtered(ros_context, tmp_path):
    """Facing north (yaw 90 deg) 4 m inside the 5 m margin west of the zone: a hover nominal
    becomes 'move left' (west) in the body-yaw frame; a forward (north) nominal is kept."""
    node = GeofenceNode(context=ros_context, parameter_overrides=params(write_zone(tmp_path), cmd_frame="body_yaw"))
    peer = Node("yaw_peer", context=ros_context)
    cmds = []
    odom_pub = peer.create_publisher(Odometry, "localization/odom", SENSOR_QOS)
    nominal_pub = peer.create_publisher(Twist, "control/cmd_vel_nominal", RELIABLE_QOS)
    peer.create_subscription(Twist, "cmd_vel", lambda m: cmds.append(m), RELIABLE_QOS)
    executor = make_executor(ros_context)
    executor.add_node(node)
    executor.add_node(peer)

    def send(forward):
        odom = Odometry()
        odom.header.stamp = s_to_stamp(peer.get_clock().now().nanoseconds * 1e-9)
        odom.pose.pose.position.x, odom.pose.pose.position.z = ZONE_X0 - 1.0, 50.0
        odom.pose.pose.orientation.z, odom.pose.pose.orientation.w = math.sin(math.pi / 4), math.cos(math.pi / 4)
        odom_pub.publish(odom)
        spin_for(executor, 0.05)
        nominal = Twist()
        nominal.linear.x = forward
        nominal_pub.publish(nominal)

    try:
        cmds.clear()
        assert spin_for(executor, 4.0, until=lambda: (send(0.0), len(cmds) > 5)[1])
        last = cmds[-1]
        assert last.linear.y > 0.5 and abs(last.linear.x) < 1e-6    # body left = map west: way out
        cmds.clear()
        assert spin_for(executor, 4.0, until=lambda: (send(6.0), len(cmds) > 5)[1])
        forward = [c for c in cmds if c.linear.x > 1.0]
        assert forward and forward[-1].linear.x == pytest.approx(6.0, abs=1e-6) and forward[-1].linear.y > 0.5
    finally:
        executor.remove_node(peer)
        executor.remove_node(node)
        peer.destroy_node()
        node.destroy_node()


def test_runtime_parameter_sets(ros_context, tmp_path):
    from rclpy.parameter import Parameter
    node = GeofenceNode(context=ros_context, parameter_overrides=params(write_zone(tmp_path)))
    try:
        bad = tmp_path / "bad.json"
        bad.write_text("{not json")
        result = node.set_parameters([Parameter("zone_files", value=[str(bad)])])[0]
        assert not result.successful and "invalid JSON" in result.reason
        assert len(node._zones) == 1                       # unchanged
        result = node.set_parameters([Parameter("max_decel_mps2", value=math.nan)])[0]
        assert not result.successful
        assert node.set_parameters([Parameter("authorised_zones", value=["BLOCK"])])[0].successful
        assert node.set_parameters([Parameter("zone_files", value=[""])])[0].successful
        assert node._zones is None and node._filter is None
    finally:
        node.destroy_node()


def test_shipped_config_file_starts_the_node(ros_context):
    from pathlib import Path
    config = Path(__file__).resolve().parents[2] / "config" / "geofence.yaml"
    node = GeofenceNode(context=ros_context, cli_args=["--ros-args", "--params-file", str(config)])
    try:
        assert node.p.cmd_frame == "body_yaw" and node.p.geoid_undulation_m == 50.0
        assert node._zones is None   # no zone files configured by default
    finally:
        node.destroy_node()

"""UAV mission: route planning (straight / geofence reroute) and the mission node over DDS,
flown closed loop against a velocity-lag plant."""
import math
import time

import numpy as np
import pytest

from skyroad.planning.uav_mission import MissionError, plan_mission_route


def test_straight_route_keeps_every_waypoint():
    wp = [[10, 0, 5], [10, 10, 5], [0, 10, 8]]
    r = plan_mission_route(wp, [0, 0, 0])
    assert r.planner == "straight" and r.rerouted_legs == ()
    np.testing.assert_allclose(r.points, [[0, 0, 0]] + wp)
    assert r.is_waypoint.tolist() == [False, True, True, True]
    assert r.length_m == pytest.approx(math.sqrt(125) + 10 + math.sqrt(109))


@pytest.mark.parametrize("wp, start, msg", [
    (np.zeros((0, 3)), [0, 0, 0], "no waypoints"),
    ([[0, 0]], [0, 0, 0], "expected \\(N, 3\\)"),
    ([[0, 0, 1], [1, np.nan, 1]], [0, 0, 0], "waypoint 1 is not finite"),
    ([[0, 0, 1]], [0, np.inf, 0], "start position"),
])
def test_bad_missions_are_rejected_with_the_reason(wp, start, msg):
    with pytest.raises(MissionError, match=msg):
        plan_mission_route(wp, start)


def test_waypoint_below_minimum_altitude_is_rejected():
    with pytest.raises(MissionError, match="waypoint 1 at z=-3.0 m is below the minimum altitude 0.0"):
        plan_mission_route([[0, 0, 5], [5, 0, -3]], [0, 0, 0], min_altitude_m=0.0)


def _zone_set():
    shapely = pytest.importorskip("shapely")
    index = pytest.importorskip("skyroad.airspace_geofence.index")
    model = pytest.importorskip("skyroad.airspace_geofence.model")
    zone = model.Zone("NOFLY", model.Restriction.PROHIBITED,
                      [model.Volume(None, model.VerticalLimit(0.0, model.Unit.M, model.VerticalRef.AGL),
                                    model.VerticalLimit(120.0, model.Unit.M, model.VerticalRef.AGL))])
    return index.ZoneSet.from_local([shapely.Point(100.0, 0.0).buffer(30.0, quad_segs=16)], [zone])


def test_geofence_reroute_bends_the_leg_through_a_zone_and_keeps_clearance():
    zones = _zone_set()
    r = plan_mission_route([[200.0, 0.0, 30.0], [200.0, 60.0, 30.0]], [0.0, 0.0, 30.0], zones=zones,
                           margin_m=10.0)
    assert r.planner == "geofence-reroute"
    assert r.rerouted_legs == (0,)            # only the leg through the disc was bent
    assert r.is_waypoint.sum() == 2 and len(r.points) > 3
    # every route segment stays >= margin from the disc (centre (100, 0), radius 30)
    seg_a, seg_b = r.points[:-1, :2], r.points[1:, :2]
    t = np.linspace(0.0, 1.0, 200)[:, None, None]
    samples = seg_a[None] + t * (seg_b - seg_a)[None]
    clearance = np.hypot(samples[..., 0] - 100.0, samples[..., 1]) - 30.0
    assert clearance.min() >= 10.0 - 0.6      # margin minus the reroute's polygon tolerance


def test_goal_inside_a_zone_names_the_leg():
    zones = _zone_set()
    with pytest.raises(MissionError, match=r"mission leg 1 \(waypoint 0 -> waypoint 1\)"):
        plan_mission_route([[0.0, 60.0, 30.0], [100.0, 0.0, 30.0]], [0.0, 0.0, 30.0], zones=zones,
                           margin_m=10.0)


# ----------------------------------------------------------------------------- node over DDS
rclpy = pytest.importorskip("rclpy")


def test_mission_node_flies_the_mission_closed_loop_over_dds(ros_context):
    from geometry_msgs.msg import PoseStamped, Twist
    from nav_msgs.msg import Odometry, Path
    from rclpy.parameter import Parameter
    from rosgraph_msgs.msg import Clock

    from skyroad.common.ros import RELIABLE_QOS, SENSOR_QOS, make_executor, s_to_stamp
    from skyroad.control.twist import body_velocity_to_enu
    from skyroad.control.vehicle import VelocityLagPlant
    from skyroad.planning.uav_mission_node import UavMissionNode

    # Lock-stepped on sim time: the test owns /clock, steps the plant 20 ms per tick and waits
    # for the node's command of that tick, so the loop's dynamics do not depend on machine load.
    node = UavMissionNode(context=ros_context, parameter_overrides=[
        Parameter("use_sim_time", value=True),
        Parameter("rate_hz", value=50.0), Parameter("max_speed_xy_mps", value=6.0),
        Parameter("max_accel_xy_mps2", value=4.0), Parameter("max_speed_up_mps", value=4.0),
        Parameter("max_accel_z_mps2", value=4.0), Parameter("position_gain_1ps", value=1.5),
        Parameter("odom_timeout_s", value=2.0)])
    io = rclpy.create_node("uav_test_io", context=ros_context)
    odom_pub = io.create_publisher(Odometry, "localization/odom", SENSOR_QOS)
    mission_pub = io.create_publisher(Path, "mission", RELIABLE_QOS)
    clock_pub = io.create_publisher(Clock, "/clock", RELIABLE_QOS)
    cmds = []
    io.create_subscription(Twist, "control/cmd_vel_nominal", cmds.append, RELIABLE_QOS)
    ex = make_executor(ros_context)
    ex.add_node(node)
    ex.add_node(io)
    plant = VelocityLagPlant([0.0, 0.0, 0.0], time_constant_s=0.2, max_accel_mps2=6.0)
    tick_s = 0.02
    try:
        mission = Path()
        mission.header.frame_id = "map"
        for p in ([0.0, 0.0, 4.0], [12.0, 0.0, 4.0], [12.0, 8.0, 6.0]):
            ps = PoseStamped()
            ps.pose.position.x, ps.pose.position.y, ps.pose.position.z = p
            mission.poses.append(ps)
        sim_time_s = 100.0
        wall_deadline = time.monotonic() + 60.0
        while sim_time_s < 100.0 + 25.0 and not node.mission_complete and time.monotonic() < wall_deadline:
            if cmds:
                c = cmds[-1]
                v_enu = body_velocity_to_enu([c.linear.x, c.linear.y, c.linear.z], plant.yaw)
                plant.step(v_enu, c.angular.z, tick_s)
            sim_time_s += tick_s
            clock_pub.publish(Clock(clock=s_to_stamp(sim_time_s)))
            odom = Odometry()
            odom.header.stamp = s_to_stamp(sim_time_s)
            odom.header.frame_id = "map"
            odom.pose.pose.position.x, odom.pose.pose.position.y, odom.pose.pose.position.z = \
                map(float, plant.position)
            odom.pose.pose.orientation.z = math.sin(plant.yaw / 2)
            odom.pose.pose.orientation.w = math.cos(plant.yaw / 2)
            # twist in the child (body) frame, as nav_msgs/Odometry specifies
            c, s = math.cos(plant.yaw), math.sin(plant.yaw)
            vx, vy, vz = plant.velocity
            odom.twist.twist.linear.x, odom.twist.twist.linear.y = c * vx + s * vy, -s * vx + c * vy
            odom.twist.twist.linear.z = vz
            odom_pub.publish(odom)
            if node.route is None:  # (re)send the mission until planned: discovery takes a moment
                mission_pub.publish(mission)
            commands_before = len(cmds)
            tick_deadline = time.monotonic() + 0.5
            while len(cmds) == commands_before and time.monotonic() < tick_deadline:
                ex.spin_once(timeout_sec=0.005)
        assert node.mission_complete, (plant.position, node.route)
        assert np.linalg.norm(plant.position - [12.0, 8.0, 6.0]) <= 1.0 + 0.3
        assert node.route.planner == "straight"
    finally:
        ex.shutdown()
        node.destroy_node()
        io.destroy_node()


def test_mission_node_hovers_without_odometry_and_rejects_bad_missions(ros_context):
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import Twist

    from skyroad.common.ros import RELIABLE_QOS, make_executor
    from skyroad.planning.uav_mission_node import UavMissionNode

    node = UavMissionNode(context=ros_context)
    io = rclpy.create_node("uav_test_io2", context=ros_context)
    cmds, diags = [], []
    io.create_subscription(Twist, "control/cmd_vel_nominal", cmds.append, RELIABLE_QOS)
    io.create_subscription(DiagnosticArray, "/diagnostics", diags.append, RELIABLE_QOS)
    ex = make_executor(ros_context)
    ex.add_node(node)
    ex.add_node(io)
    try:
        def has(text):
            return any(text in st.message for a in diags for st in a.status)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and not (cmds and has("odometry stale")):
            ex.spin_once(timeout_sec=0.02)
        assert cmds and all(c.linear.x == 0 and c.linear.z == 0 for c in cmds)
        assert has("HOVER: odometry stale")
        # a NaN mission with a known position: rejected with the reason, hover
        node._state = (np.zeros(3), np.zeros(3), 0.0)
        node._start_mission(np.array([[1.0, 0.0, 2.0], [np.nan, 0.0, 2.0]]))
        assert "waypoint 1 is not finite" in node.mission_error
        assert not node._follower.has_mission
    finally:
        ex.shutdown()
        node.destroy_node()
        io.destroy_node()

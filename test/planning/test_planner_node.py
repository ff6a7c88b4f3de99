"""planner_node over real DDS, in-process: trajectory around a wall, objects, and clear
diagnostics + stop (empty path) for a goal inside an obstacle and for stale odometry."""
import math
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import OccupancyGrid, Odometry, Path
from rclpy.parameter import Parameter
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Header

from skyroad.common.params import ParameterConfigError
from skyroad.common.ros import RELIABLE_QOS, make_executor, stamp_to_s
from skyroad.perception.ros_convert import OBJECT_FIELDS, make_cloud
from skyroad.planning.node import PlannerNode


def spin_until(executor, predicate, timeout_s=5.0, tick=None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if tick:
            tick()
        executor.spin_once(timeout_sec=0.02)
        if predicate():
            return True
    return False


def _grid_msg(io, occ, res, origin):
    msg = OccupancyGrid()
    msg.header.frame_id = "odom"
    msg.header.stamp = io.get_clock().now().to_msg()
    msg.info.resolution = res
    msg.info.height, msg.info.width = occ.shape
    msg.info.origin.position.x, msg.info.origin.position.y = origin
    msg.info.origin.orientation.w = 1.0
    msg.data = np.where(occ, 100, 0).astype(np.int8).ravel().tolist()
    return msg


def _odom_msg(io, x, y, yaw, v):
    msg = Odometry()
    msg.header.frame_id = "odom"
    msg.header.stamp = io.get_clock().now().to_msg()
    msg.pose.pose.position.x, msg.pose.pose.position.y = x, y
    msg.pose.pose.orientation.z, msg.pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
    msg.twist.twist.linear.x = v
    return msg


def _diag(store, component):
    return [(s.level[0], s.message) for arr in store for s in arr.status if s.name.endswith(component)]


def test_planner_node_end_to_end(ros_context):
    import rclpy.node
    node = PlannerNode(context=ros_context, parameter_overrides=[
        Parameter("odom_timeout_s", value=0.4), Parameter("cruise_speed_mps", value=5.0)])
    io = rclpy.node.Node("planner_test_io", context=ros_context)
    pub_odom = io.create_publisher(Odometry, "localization/odom", RELIABLE_QOS)
    pub_grid = io.create_publisher(OccupancyGrid, "perception/occupancy", RELIABLE_QOS)
    pub_goal = io.create_publisher(PoseStamped, "goal_pose", RELIABLE_QOS)
    pub_obj = io.create_publisher(PointCloud2, "perception/objects", RELIABLE_QOS)
    paths, diags = [], []
    io.create_subscription(Path, "planning/trajectory", paths.append, RELIABLE_QOS)
    io.create_subscription(DiagnosticArray, "/diagnostics", diags.append, RELIABLE_QOS)
    ex = make_executor(ros_context)
    ex.add_node(node)
    ex.add_node(io)
    try:
        occ = np.zeros((200, 200), bool)               # 0.25 m cells, 50 x 50 m, origin (-25, -25)
        occ[60:200, 138:142] = True                    # wall at x = 10 m from y = -10 m upwards
        odom = lambda: pub_odom.publish(_odom_msg(io, 0.0, 0.0, 0.0, 2.0))
        assert spin_until(ex, lambda: node.ego is not None, tick=odom)
        pub_grid.publish(_grid_msg(io, occ, 0.25, (-25.0, -25.0)))
        assert spin_until(ex, lambda: node.grid is not None, tick=odom)
        # a parked car on the route's way, as perception reports it
        cols = {k: np.zeros(1) for k in OBJECT_FIELDS}
        cols.update(x=np.array([4.0]), y=np.array([-3.0]), length=np.array([4.5]), width=np.array([1.8]))
        cloud = make_cloud(Header(stamp=io.get_clock().now().to_msg(), frame_id="odom"), cols)
        pub_obj.publish(cloud)
        goal = PoseStamped()
        goal.header.frame_id = "odom"
        goal.pose.position.x, goal.pose.position.y = 20.0, 0.0
        pub_goal.publish(goal)
        n0 = len(paths)
        assert spin_until(ex, lambda: any(len(p.poses) > 5 for p in paths[n0:]), timeout_s=8.0, tick=odom)
        traj = next(p for p in paths[n0:] if len(p.poses) > 5)
        stamps = np.array([stamp_to_s(ps.header.stamp) for ps in traj.poses])
        xy = np.array([[ps.pose.position.x, ps.pose.position.y] for ps in traj.poses])
        assert traj.header.frame_id == "odom" and np.all(np.diff(stamps) > 0)
        rc = np.floor((xy[:, ::-1] + 25.0) / 0.25).astype(int)
        assert not occ[rc[:, 0], rc[:, 1]].any()
        assert node.planner.route_source == "grid_astar" and node.planner.route[:, 1].min() < -9.0
        assert node.objects is not None and len(node.objects) == 1

        # goal inside the wall: ERROR naming the reason, and a stop (empty path)
        goal.pose.position.x, goal.pose.position.y = 10.0, 5.0
        pub_goal.publish(goal)
        assert spin_until(ex, lambda: any("goal_in_obstacle" in m and lvl == 2
                                          for lvl, m in _diag(diags, "planner")), tick=odom)
        n1 = len(paths)
        assert spin_until(ex, lambda: any(len(p.poses) == 0 for p in paths[n1:]), tick=odom)

        # odometry stops: stale_odom ERROR and empty paths
        n2 = len(diags)
        assert spin_until(ex, lambda: any("stale_odom" in m for _l, m in _diag(diags[n2:], "planner")), timeout_s=4.0)
        n3 = len(paths)
        assert spin_until(ex, lambda: len(paths) > n3 + 1)
        assert all(len(p.poses) == 0 for p in paths[n3:])
    finally:
        ex.shutdown()
        node.destroy_node()
        io.destroy_node()


def test_invalid_parameter_is_rejected_at_startup(ros_context):
    with pytest.raises(ParameterConfigError, match="replan_rate_hz"):
        PlannerNode(context=ros_context, parameter_overrides=[Parameter("replan_rate_hz", value=0.0)])


def test_config_file_matches_the_node_parameters():
    import yaml
    from pathlib import Path
    from skyroad.common.params import validate_value
    cfg = Path(__file__).resolve().parents[2] / "config" / "planner.yaml"
    values = yaml.safe_load(cfg.read_text())["/**/planner_node"]["ros__parameters"]
    specs = {s.name: s for s in PlannerNode.PARAMS}
    assert set(values) == set(specs)
    for name, value in values.items():
        assert validate_value(specs[name], value) is None, name

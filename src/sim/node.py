"""sim_node: the built-in simulator on ROS 2 (thin adapter around skyroad.sim.simulator).

Publishes and subscribes exactly what config/gz_bridge.yaml lists (ros_gz_bridge format), with
/clock for use_sim_time. Stepping runs in a timer: with real_time_factor r > 0 the sim keeps
sim_time = r * wall_time; with r = 0 it runs as fast as it can, in chunks of `chunk_s` of sim time
between which the executor delivers commands (so commands take effect at chunk boundaries).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, Imu, JointState, LaserScan, NavSatFix, NavSatStatus, PointCloud2, PointField
from std_msgs.msg import Bool, Float64

from ..common.paths import share_path
from ..common.params import ParameterConfigError, ParamSpec
from ..common.ros import RELIABLE_QOS, DiagLevel, SkyroadNode, run_node, s_to_stamp
from . import bridge as bridge_mod
from .sdf import SdfError
from .simulator import SimError, Simulator

WORLDS_DIR = share_path("sim_worlds")

ROS_TYPES = {
    "rosgraph_msgs/msg/Clock": Clock, "sensor_msgs/msg/Imu": Imu, "sensor_msgs/msg/LaserScan": LaserScan,
    "sensor_msgs/msg/PointCloud2": PointCloud2, "sensor_msgs/msg/NavSatFix": NavSatFix,
    "sensor_msgs/msg/Image": Image, "sensor_msgs/msg/CameraInfo": CameraInfo,
    "sensor_msgs/msg/JointState": JointState, "nav_msgs/msg/Odometry": Odometry,
    "geometry_msgs/msg/Twist": Twist, "std_msgs/msg/Float64": Float64, "std_msgs/msg/Bool": Bool,
}


def resolve_world(name: str) -> Path:
    p = Path(name)
    if p.is_file():
        return p
    for candidate in (WORLDS_DIR / name, WORLDS_DIR / f"{name}.sdf"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"world {name!r} not found (as a path or in {WORLDS_DIR})")


# ------------------------------------------------------------------ conversions


def _header(msg, stamp, frame_id):
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    return msg


def imu_msg(data, stamp) -> Imu:
    msg = _header(Imu(), stamp, data.frame_id)
    q = data.orientation_xyzw
    msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w = (float(v) for v in q)
    msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z = (float(v) for v in data.angular_velocity)
    a = data.linear_acceleration
    msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z = (float(v) for v in a)
    msg.angular_velocity_covariance = [float(data.angular_velocity_variance[0]), 0.0, 0.0, 0.0,
                                       float(data.angular_velocity_variance[1]), 0.0, 0.0, 0.0,
                                       float(data.angular_velocity_variance[2])]
    msg.linear_acceleration_covariance = [float(data.linear_acceleration_variance[0]), 0.0, 0.0, 0.0,
                                          float(data.linear_acceleration_variance[1]), 0.0, 0.0, 0.0,
                                          float(data.linear_acceleration_variance[2])]
    return msg


def scan_msg(data, stamp) -> LaserScan:
    msg = _header(LaserScan(), stamp, data.frame_id)
    msg.angle_min, msg.angle_max, msg.angle_increment = float(data.angle_min), float(data.angle_max), float(data.angle_increment)
    msg.range_min, msg.range_max = float(data.range_min), float(data.range_max)
    msg.scan_time = float(data.scan_time)
    msg.time_increment = 0.0
    msg.ranges = data.ranges.astype(np.float32)
    return msg


def cloud_msg(data, stamp) -> PointCloud2:
    msg = _header(PointCloud2(), stamp, data.frame_id)
    n = len(data.points)
    arr = np.zeros((n, 4), dtype=np.float32)
    arr[:, :3] = data.points
    arr[:, 3] = data.intensities
    msg.height, msg.width = 1, n
    msg.fields = [PointField(name=name, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                  for i, name in enumerate(("x", "y", "z", "intensity"))]
    msg.is_bigendian = False
    msg.point_step = 16
    msg.row_step = 16 * n
    msg.is_dense = True
    msg.data = arr.tobytes()
    return msg


def navsat_msg(data, stamp) -> NavSatFix:
    msg = _header(NavSatFix(), stamp, data.frame_id)
    msg.status.status = NavSatStatus.STATUS_FIX
    msg.status.service = NavSatStatus.SERVICE_GPS
    msg.latitude, msg.longitude, msg.altitude = data.latitude_deg, data.longitude_deg, data.altitude_m
    v = data.position_variance_enu
    msg.position_covariance = [float(v[0]), 0.0, 0.0, 0.0, float(v[1]), 0.0, 0.0, 0.0, float(v[2])]
    msg.position_covariance_type = NavSatFix.COVARIANCE_TYPE_DIAGONAL_KNOWN
    return msg


def odom_msg(data, stamp) -> Odometry:
    msg = _header(Odometry(), stamp, data.frame_id)
    msg.child_frame_id = data.child_frame_id
    p, q = data.position, data.orientation_xyzw
    msg.pose.pose.position.x, msg.pose.pose.position.y, msg.pose.pose.position.z = (float(v) for v in p)
    o = msg.pose.pose.orientation
    o.x, o.y, o.z, o.w = (float(v) for v in q)
    t = msg.twist.twist
    t.linear.x, t.linear.y, t.linear.z = (float(v) for v in data.linear_velocity)
    t.angular.x, t.angular.y, t.angular.z = (float(v) for v in data.angular_velocity)
    return msg


def image_msg(data, stamp) -> Image:
    msg = _header(Image(), stamp, data.frame_id)
    msg.height, msg.width, msg.encoding = data.height, data.width, data.encoding
    msg.is_bigendian = 0
    msg.step = data.width * 3
    msg.data = np.ascontiguousarray(data.pixels).tobytes()
    return msg


def camera_info_msg(data, stamp) -> CameraInfo:
    msg = _header(CameraInfo(), stamp, data.frame_id)
    msg.height, msg.width = data.height, data.width
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = [float(v) for v in data.k.ravel()]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [float(v) for v in data.p.ravel()]
    return msg


def joint_state_msg(data, stamp) -> JointState:
    msg = JointState()
    msg.header.stamp = stamp
    msg.name = list(data.names)
    msg.position = [float(v) for v in data.positions]
    msg.velocity = [float(v) for v in data.velocities]
    msg.effort = [float(v) for v in data.efforts]
    return msg


CONVERTERS = {
    "gz.msgs.IMU": imu_msg, "gz.msgs.LaserScan": scan_msg, "gz.msgs.PointCloudPacked": cloud_msg,
    "gz.msgs.NavSat": navsat_msg, "gz.msgs.Odometry": odom_msg, "gz.msgs.Image": image_msg,
    "gz.msgs.CameraInfo": camera_info_msg, "gz.msgs.Model": joint_state_msg,
}


class SimNode(SkyroadNode):
    PARAMS = (
        ParamSpec("world", "demo.sdf", "SDF world: a path, or a file name in sim_worlds/", read_only=True),
        ParamSpec("bridge_config", "", "ros_gz_bridge YAML; empty = the package's config/gz_bridge.yaml",
                  read_only=True),
        ParamSpec("real_time_factor", 1.0, "sim time / wall time; 0 = as fast as possible", min=0.0, max=1000.0),
        ParamSpec("seed", 0, "seed of every noise source (same seed + same commands = same run)", min=0,
                  read_only=True),
        ParamSpec("enable_cameras", True, "render camera sensors (needs an OpenGL backend: MUJOCO_GL=egl/osmesa)",
                  read_only=True),
        ParamSpec("chunk_s", 0.02, "sim time stepped per timer callback when real_time_factor = 0", min=0.004,
                  max=1.0, unit="s"),
        ParamSpec("clock_period_s", 0.01, "sim-time period of /clock messages", min=0.001, max=0.1, unit="s"),
        ParamSpec("duration_s", 0.0, "stop stepping after this much sim time (0 = never)", min=0.0, unit="s"),
    )

    def __init__(self, context=None, simulator: Simulator | None = None, **node_kwargs):
        super().__init__("sim_node", context=context, **node_kwargs)
        try:
            if simulator is None:
                world = resolve_world(self.p.world)
                simulator = Simulator(world, seed=self.p.seed, enable_cameras=self.p.enable_cameras)
            self.sim = simulator
            bridge_file = self.p.bridge_config or str(bridge_mod.DEFAULT_BRIDGE_FILE)
            entries = bridge_mod.load_bridge(bridge_file)
        except (SdfError, SimError, FileNotFoundError, bridge_mod.BridgeConfigError) as exc:
            raise ParameterConfigError(f"{self.get_fully_qualified_name()}: {exc}") from None
        if self.sim.camera_error:
            self.get_logger().warning(self.sim.camera_error)
        publish, subscribe, unserved = bridge_mod.match_world(entries, self.sim.outputs, self.sim.inputs)
        disabled = getattr(self.sim, "disabled_outputs", {})
        unserved = [(e, disabled.get(e.gz_topic, r)) for e, r in unserved]
        self.unserved = unserved
        for entry, reason in unserved:
            self.get_logger().warning(f"bridge entry {entry.ros_topic} not served: {reason}")
        self.publishers_by_gz: dict = {}
        for e in publish:
            pub = self.create_publisher(ROS_TYPES[e.ros_type], e.ros_topic, RELIABLE_QOS)
            self.publishers_by_gz.setdefault(e.gz_topic, []).append(pub)
        self.subscriptions_by_gz: dict = {}
        for e in subscribe:
            self.subscriptions_by_gz[e.gz_topic] = self.create_subscription(
                ROS_TYPES[e.ros_type], e.ros_topic, lambda msg, e=e: self._on_command(e, msg), RELIABLE_QOS)
        self.served_entries = publish + subscribe
        self.clock_pubs = self.publishers_by_gz.get("/clock", [])
        self._next_clock_s = 0.0
        self._wall0 = time.monotonic()
        self._sim0 = self.sim.time_s
        self.wall_stepping_s = 0.0
        self.finished = False
        self.commands_received = 0
        self._n_collisions = 0
        self.diag.update("simulator", DiagLevel.OK, f"world {self.sim.world.name}", served=len(self.served_entries),
                         unserved=len(unserved))
        self._timer = self.create_timer(0.005 if self.p.real_time_factor > 0 else 0.0005, self._tick)
        self.get_logger().info(
            f"world {self.sim.world.name} ({self.sim.world.path}), step {self.sim.dt * 1000:.1f} ms, "
            f"real_time_factor {self.p.real_time_factor}, {len(publish)} published / {len(subscribe)} subscribed topics")

    def on_params_changed(self, changed: dict) -> None:
        if "real_time_factor" in changed:
            self._wall0 = time.monotonic()
            self._sim0 = self.sim.time_s
            self._timer.cancel()
            self._timer = self.create_timer(0.005 if self.p.real_time_factor > 0 else 0.0005, self._tick)

    # ------------------------------------------------------------ ROS -> sim

    def _on_command(self, entry, msg) -> None:
        self.commands_received += 1
        if entry.gz_type == "gz.msgs.Twist":
            value = ((msg.linear.x, msg.linear.y, msg.linear.z), (msg.angular.x, msg.angular.y, msg.angular.z))
            if not all(math.isfinite(v) for part in value for v in part):
                self.get_logger().warning(f"{entry.ros_topic}: non-finite Twist ignored")
                return
        else:
            value = msg.data
        self.sim.command(entry.gz_topic, value)

    # ------------------------------------------------------------ stepping

    def _tick(self) -> None:
        if self.finished:
            return
        rtf = self.p.real_time_factor
        if rtf > 0:
            target = self._sim0 + rtf * (time.monotonic() - self._wall0)
            # never fall more than 0.1 s of sim time behind in one callback (keeps the executor live)
            target = min(target, self.sim.time_s + 0.1)
        else:
            target = self.sim.time_s + self.p.chunk_s
        if self.p.duration_s > 0:
            target = min(target, self.p.duration_s)
        self.advance_to(target)
        if self.p.duration_s > 0 and self.sim.time_s + 1e-9 >= self.p.duration_s:
            self.finished = True
            self.get_logger().info(f"duration {self.p.duration_s} s reached; stepping stopped")

    def stop_timer(self) -> None:
        """Hand stepping to the caller (lock-step drivers such as skyroad demo call advance_to)."""
        self._timer.cancel()

    def advance_to(self, target: float) -> None:
        """Step the simulation up to sim time `target`, publishing everything that falls due."""
        t0 = time.perf_counter()
        while self.sim.time_s + 1e-9 < target - self.sim.dt * 0.5:
            for out in self.sim.step():
                pubs = self.publishers_by_gz.get(out.topic)
                if pubs:
                    msg = CONVERTERS[out.gz_type](out.data, s_to_stamp(out.stamp_s))
                    for pub in pubs:
                        pub.publish(msg)
            if self.sim.time_s + 1e-9 >= self._next_clock_s:
                self._publish_clock()
        self.wall_stepping_s += time.perf_counter() - t0
        if len(self.sim.contacts.events) != self._n_collisions:
            self._n_collisions = len(self.sim.contacts.events)
            ev = self.sim.contacts.events[-1]
            self.diag.update("collisions", DiagLevel.ERROR, f"{ev.vehicle} hit {ev.other} at t={ev.time_s:.2f} s",
                             count=self._n_collisions)

    def _publish_clock(self) -> None:
        period = self.p.clock_period_s
        while self._next_clock_s <= self.sim.time_s + 1e-9:
            self._next_clock_s += period
        if self.clock_pubs:
            msg = Clock()
            msg.clock = s_to_stamp(self.sim.time_s)
            for pub in self.clock_pubs:
                pub.publish(msg)

    def achieved_rtf(self) -> float:
        return self.sim.time_s / self.wall_stepping_s if self.wall_stepping_s > 0 else float("nan")


def main(args=None):
    run_node(SimNode, args)


if __name__ == "__main__":
    main()

"""config/gz_bridge.yaml (ros_gz_bridge's YAML format) for the built-in simulator. Core: no rclpy.

Each entry: ros_topic_name + gz_topic_name (or topic_name for both), ros_type_name, gz_type_name,
direction GZ_TO_ROS | ROS_TO_GZ | BIDIRECTIONAL (ros_gz_bridge's default). Optional keys that
ros_gz_bridge knows (lazy, subscriber_queue, publisher_queue, qos_profile) are accepted.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from ..common.paths import share_path

# ros_gz_bridge's pairs for the message types the built-in sim produces or consumes
ROS_TO_GZ_TYPES = {
    "rosgraph_msgs/msg/Clock": "gz.msgs.Clock",
    "sensor_msgs/msg/Imu": "gz.msgs.IMU",
    "sensor_msgs/msg/LaserScan": "gz.msgs.LaserScan",
    "sensor_msgs/msg/PointCloud2": "gz.msgs.PointCloudPacked",
    "sensor_msgs/msg/NavSatFix": "gz.msgs.NavSat",
    "sensor_msgs/msg/Image": "gz.msgs.Image",
    "sensor_msgs/msg/CameraInfo": "gz.msgs.CameraInfo",
    "sensor_msgs/msg/JointState": "gz.msgs.Model",
    "nav_msgs/msg/Odometry": "gz.msgs.Odometry",
    "geometry_msgs/msg/Twist": "gz.msgs.Twist",
    "std_msgs/msg/Float64": "gz.msgs.Double",
    "std_msgs/msg/Bool": "gz.msgs.Boolean",
}
DIRECTIONS = ("GZ_TO_ROS", "ROS_TO_GZ", "BIDIRECTIONAL")
KNOWN_KEYS = {"ros_topic_name", "gz_topic_name", "topic_name", "ros_type_name", "gz_type_name", "direction",
              "lazy", "subscriber_queue", "publisher_queue", "qos_profile"}
DEFAULT_BRIDGE_FILE = share_path("config", "gz_bridge.yaml")


class BridgeConfigError(ValueError):
    pass


@dataclass(frozen=True)
class BridgeEntry:
    ros_topic: str
    gz_topic: str
    ros_type: str
    gz_type: str
    direction: str
    index: int

    @property
    def to_ros(self) -> bool:
        return self.direction in ("GZ_TO_ROS", "BIDIRECTIONAL")

    @property
    def to_gz(self) -> bool:
        return self.direction in ("ROS_TO_GZ", "BIDIRECTIONAL")


def load_bridge(path) -> list[BridgeEntry]:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise BridgeConfigError(f"{path}: cannot read bridge config: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise BridgeConfigError(f"{where}: malformed YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, list):
        raise BridgeConfigError(f"{path}: expected a YAML list of bridge entries")
    entries = []
    for i, item in enumerate(raw):
        where = f"{path}: entry {i + 1}"
        if not isinstance(item, dict):
            raise BridgeConfigError(f"{where}: expected a mapping")
        unknown = set(item) - KNOWN_KEYS
        if unknown:
            raise BridgeConfigError(f"{where}: unknown keys {sorted(unknown)}")
        ros_topic = item.get("ros_topic_name", item.get("topic_name"))
        gz_topic = item.get("gz_topic_name", item.get("topic_name"))
        if not ros_topic or not gz_topic:
            raise BridgeConfigError(f"{where}: needs ros_topic_name and gz_topic_name (or topic_name)")
        ros_type, gz_type = item.get("ros_type_name"), item.get("gz_type_name")
        if ros_type not in ROS_TO_GZ_TYPES:
            raise BridgeConfigError(f"{where} ({ros_topic}): ros_type_name {ros_type!r} not bridged by the built-in sim "
                                    f"(known: {', '.join(sorted(ROS_TO_GZ_TYPES))})")
        if ROS_TO_GZ_TYPES[ros_type] != gz_type:
            raise BridgeConfigError(f"{where} ({ros_topic}): {ros_type} pairs with {ROS_TO_GZ_TYPES[ros_type]}, "
                                    f"not {gz_type!r}")
        direction = item.get("direction", "BIDIRECTIONAL")
        if direction not in DIRECTIONS:
            raise BridgeConfigError(f"{where} ({ros_topic}): direction {direction!r} not one of {DIRECTIONS}")
        entries.append(BridgeEntry(str(ros_topic), str(gz_topic), ros_type, gz_type, direction, i))
    return entries


def match_world(entries: list[BridgeEntry], outputs: dict, inputs: dict) -> tuple[list, list, list]:
    """Split entries into (publish: GZ->ROS served by the sim, subscribe: ROS->GZ served,
    unserved: (entry, reason)). `outputs`: gz topic -> gz type; `inputs`: gz topic -> (gz type, _)."""
    publish, subscribe, unserved = [], [], []
    for e in entries:
        served = False
        if e.to_ros and e.gz_topic in outputs:
            if outputs[e.gz_topic] != e.gz_type:
                unserved.append((e, f"world publishes {e.gz_topic} as {outputs[e.gz_topic]}, bridge says {e.gz_type}"))
                continue
            publish.append(e)
            served = True
        if e.to_gz and e.gz_topic in inputs:
            if inputs[e.gz_topic][0] != e.gz_type:
                unserved.append((e, f"world takes {e.gz_topic} as {inputs[e.gz_topic][0]}, bridge says {e.gz_type}"))
                continue
            subscribe.append(e)
            served = True
        if not served:
            unserved.append((e, f"no {'publisher' if e.to_ros else 'subscriber'} of gz topic {e.gz_topic} in this world"))
    return publish, subscribe, unserved

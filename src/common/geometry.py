"""Small geometry shared by the nodes (core: no rclpy). ENU, radians."""
from __future__ import annotations

import math


def yaw_from_quaternion(x: float, y: float, z: float, w: float) -> float:
    """Heading (rotation about +z) of a unit quaternion, in (-pi, pi] rad: the ZYX yaw."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def yaw_of(orientation) -> float:
    """Yaw of any object with x, y, z, w attributes (geometry_msgs/Quaternion)."""
    return yaw_from_quaternion(orientation.x, orientation.y, orientation.z, orientation.w)

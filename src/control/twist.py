"""Conversions between controller outputs and the geometry_msgs/Twist that vehicles take.

Ackermann car (Gazebo `gz-sim-ackermann-steering-system`, and the built-in sim): cmd_vel
linear.x = speed, angular.z = yaw rate; the plugin turns the yaw rate back into a steering
angle with the bicycle relation  yaw_rate = v * tan(delta) / L.

Multirotor (Gazebo `gz-sim-multicopter-control-system`, MulticopterVelocityControl): the
Lee velocity controller computes `velocityError = v_world - R_body * cmd.linear`, i.e. the
commanded linear velocity is in the BODY frame (FLU), angular.z a yaw rate. Our position
controller works in ENU, so its setpoint is rotated by the heading before it is sent. Only the
heading is used: roll/pitch of a hovering multirotor are a few degrees, and using them would feed
the vehicle's own tilt back into its velocity command.
"""
from __future__ import annotations

import math

import numpy as np


def ackermann_to_twist(speed_mps: float, steering_rad: float, wheelbase_m: float):
    """(linear_x_mps, angular_z_radps) for a bicycle model at the rear axle."""
    if not wheelbase_m > 0.0:
        raise ValueError(f"wheelbase_m must be > 0, got {wheelbase_m}")
    return float(speed_mps), float(speed_mps * math.tan(steering_rad) / wheelbase_m)


def twist_to_ackermann(linear_x_mps: float, angular_z_radps: float, wheelbase_m: float,
                       min_speed_mps: float = 1e-3):
    """Inverse of ackermann_to_twist: (speed, steering). Below min_speed the steering is 0
    (a yaw rate at standstill is not reachable by an Ackermann car)."""
    if not wheelbase_m > 0.0:
        raise ValueError(f"wheelbase_m must be > 0, got {wheelbase_m}")
    if abs(linear_x_mps) < min_speed_mps:
        return float(linear_x_mps), 0.0
    return float(linear_x_mps), float(math.atan(angular_z_radps * wheelbase_m / linear_x_mps))


def enu_velocity_to_body(v_enu, yaw_rad: float) -> np.ndarray:
    """ENU velocity -> heading-aligned body frame (x forward, y left, z up)."""
    v = np.asarray(v_enu, dtype=float).reshape(3)
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    return np.array([c * v[0] + s * v[1], -s * v[0] + c * v[1], v[2]])


def body_velocity_to_enu(v_body, yaw_rad: float) -> np.ndarray:
    v = np.asarray(v_body, dtype=float).reshape(3)
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]])

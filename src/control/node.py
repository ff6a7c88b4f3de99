"""controller_node: `planning/trajectory` + `localization/odom` -> `control/cmd_vel_nominal`.

Thin adapter around `tracker.TrajectoryTracker` (and `mppi.MPPIController` when
`controller:=mppi`). Subscribes
  planning/trajectory   nav_msgs/Path, each pose's stamp = planned arrival time (all-zero
                        stamps = an untimed path, tracked at `default_speed_mps`)
  localization/odom     nav_msgs/Odometry (pose in the trajectory's frame, twist in base_link)
  perception/objects    sensor_msgs/PointCloud2 (x y vx vy length width ...), MPPI only
publishes
  control/cmd_vel_nominal  geometry_msgs/Twist: linear.x = speed, angular.z = v tan(delta) / L
                           (what Gazebo's AckermannSteering takes back as a steering angle)
  /diagnostics             tracking errors, solver status; ERROR + stop command on stale
                           odometry, stale/empty/NaN trajectory or a frame mismatch.
Every failure mode commands a stop (zero Twist) and says why on /diagnostics; none raises.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry, Path
from sensor_msgs.msg import PointCloud2

from skyroad.common.params import ParamSpec
from skyroad.common.ros import (RELIABLE_QOS, SENSOR_QOS, DiagLevel, SkyroadNode, run_node,
                                stamp_to_s)

from ._checks import ControlConfigError
from .lateral_mpc import LateralMPCConfig
from .longitudinal import LongitudinalConfig
from .path import PathError
from .pure_pursuit import PurePursuitConfig
from .tracker import LATERAL_LAWS, TrackerConfig, TrajectoryTracker, split_by_gear
from .twist import ackermann_to_twist
from skyroad.common.geometry import yaw_from_quaternion

CONTROLLERS = LATERAL_LAWS + ("mppi",)




def path_to_arrays(msg: Path):
    """(points (N,2), times (N,), yaws (N,) or None) from a nav_msgs/Path; raises PathError
    naming the problem. Headings come from the pose orientations. When every orientation is
    the zero quaternion or every one is the identity (ROS 2's default: the publisher did not
    set them) there are none and the whole path is driven forwards -- an unset orientation
    must never be read as "reverse along a path that does not run east"."""
    n = len(msg.poses)
    if n == 0:
        raise PathError("planning/trajectory is empty (0 poses)")
    pts = np.empty((n, 2))
    times = np.empty(n)
    quats = np.empty((n, 4))
    for i, ps in enumerate(msg.poses):
        pts[i] = (ps.pose.position.x, ps.pose.position.y)
        times[i] = stamp_to_s(ps.header.stamp)
        o = ps.pose.orientation
        quats[i] = (o.x, o.y, o.z, o.w)
    norms = np.linalg.norm(quats, axis=1)
    yaws = None
    unset = np.all(norms < 1e-9) or np.all(quats == np.array([0.0, 0.0, 0.0, 1.0]))
    if not unset:
        if np.any(norms < 1e-9) or not np.all(np.isfinite(quats)):
            bad = int(np.argmax((norms < 1e-9) | ~np.all(np.isfinite(quats), axis=1)))
            raise PathError(f"planning/trajectory pose {bad} has an invalid orientation "
                            f"({quats[bad].tolist()})")
        q = quats / norms[:, None]
        yaws = np.arctan2(2.0 * (q[:, 3] * q[:, 2] + q[:, 0] * q[:, 1]),
                          1.0 - 2.0 * (q[:, 1] ** 2 + q[:, 2] ** 2))
    if not np.all(np.isfinite(pts)):
        bad = int(np.argmax(~np.all(np.isfinite(pts), axis=1)))
        raise PathError(f"planning/trajectory pose {bad} is not finite ({pts[bad].tolist()})")
    return pts, times, yaws


_PC2_DTYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}


def objects_from_cloud(msg: PointCloud2) -> np.ndarray:
    """(M, 5) x, y, vx, vy, radius_m from perception/objects (PointCloud2 with fields
    x y z vx vy yaw length width height id class score). radius = half the footprint diagonal
    (circumscribed circle). Raises ValueError naming a missing field."""
    fields = {f.name: f for f in msg.fields}
    need = ("x", "y", "vx", "vy", "length", "width")
    missing = [n for n in need if n not in fields]
    if missing:
        raise ValueError(f"perception/objects lacks field(s) {', '.join(missing)}")
    n = msg.width * msg.height
    if n == 0:
        return np.zeros((0, 5))
    endian = ">" if msg.is_bigendian else "<"
    dtype = np.dtype({"names": list(need),
                      "formats": [endian + _PC2_DTYPES[fields[k].datatype] for k in need],
                      "offsets": [fields[k].offset for k in need], "itemsize": msg.point_step})
    if len(msg.data) < n * msg.point_step:
        raise ValueError(f"perception/objects data has {len(msg.data)} bytes for {n} points of "
                         f"{msg.point_step} bytes")
    rec = np.frombuffer(bytes(msg.data[:n * msg.point_step]), dtype=dtype, count=n)
    out = np.stack([rec["x"], rec["y"], rec["vx"], rec["vy"],
                    0.5 * np.hypot(rec["length"], rec["width"])], axis=1).astype(float)
    return out[np.all(np.isfinite(out), axis=1)]


class ControllerNode(SkyroadNode):
    PARAMS = (
        ParamSpec("controller", "mpc", "tracking law", choices=CONTROLLERS),
        ParamSpec("rate_hz", 50.0, "control rate", min=1.0, max=500.0, unit="Hz", read_only=True),
        ParamSpec("wheelbase_m", 2.7, "rear to front axle", min=0.1, max=20.0, unit="m"),
        ParamSpec("max_steer_rad", 0.6, "road-wheel steering limit", min=0.01, max=1.4, unit="rad"),
        ParamSpec("max_steer_rate_radps", 1.0, "steering rate limit", min=0.01, max=10.0, unit="rad/s"),
        ParamSpec("steer_time_constant_s", 0.1, "first-order steering lag (model)", min=0.0, max=2.0, unit="s"),
        ParamSpec("rear_axle_offset_m", 0.0, "odometry frame origin ahead of the rear axle",
                  min=-10.0, max=10.0, unit="m"),
        ParamSpec("default_speed_mps", 5.0, "speed for an untimed path", min=0.1, max=40.0, unit="m/s"),
        ParamSpec("max_speed_mps", 15.0, "speed command limit", min=0.1, max=60.0, unit="m/s"),
        ParamSpec("max_accel_mps2", 2.0, "acceleration limit of the command", min=0.1, max=10.0, unit="m/s^2"),
        ParamSpec("max_decel_mps2", 8.0, "deceleration limit of the command (>= the planner's "
                  "emergency braking, or the controller would slow its stop down)", min=0.1, max=12.0,
                  unit="m/s^2"),
        ParamSpec("max_lateral_accel_mps2", 3.0, "curvature speed limit for untimed paths",
                  min=0.1, max=12.0, unit="m/s^2"),
        ParamSpec("speed_time_constant_s", 0.5, "drivetrain speed lag (acceleration feed-forward, "
                  "stopping distance)", min=0.0, max=5.0, unit="s"),
        ParamSpec("goal_tolerance_m", 0.3, "stop within this of the path end", min=0.01, max=10.0, unit="m"),
        ParamSpec("odom_timeout_s", 0.2, "odometry silent this long -> stop", min=0.01, max=10.0, unit="s"),
        ParamSpec("odom_max_age_s", 0.5, "odometry stamp older than this -> stop", min=0.01, max=10.0, unit="s"),
        ParamSpec("trajectory_timeout_s", 1.0, "no new trajectory this long -> stop (the planner "
                  "replans at >= 10 Hz; an old plan ignores what moved since)", min=0.05, max=60.0, unit="s"),
        ParamSpec("mpc_horizon_steps", 40, "MPC horizon length", min=2, max=400),
        ParamSpec("mpc_step_s", 0.05, "MPC step", min=0.005, max=0.5, unit="s"),
        ParamSpec("mpc_weight_lateral", 10.0, "MPC lateral error weight", min=1e-6, max=1e6),
        ParamSpec("mpc_weight_heading", 20.0, "MPC heading error weight", min=0.0, max=1e6),
        ParamSpec("mpc_weight_steer_rate", 0.1, "MPC steering rate weight", min=0.0, max=1e6),
        ParamSpec("pp_lookahead_min_m", 2.0, "pure pursuit minimum lookahead", min=0.1, max=50.0, unit="m"),
        ParamSpec("pp_lookahead_time_s", 0.8, "pure pursuit lookahead growth with speed", min=0.0, max=5.0, unit="s"),
        ParamSpec("mppi_samples", 1000, "MPPI rollouts per iteration", min=16, max=20000),
        ParamSpec("mppi_horizon_steps", 56, "MPPI horizon", min=5, max=400),
        ParamSpec("mppi_seed", 0, "MPPI noise seed", min=0, max=2 ** 31 - 1),
        ParamSpec("objects_timeout_s", 0.5, "MPPI: obstacle list older than this is dropped",
                  min=0.01, max=10.0, unit="s"),
    )

    def __init__(self, context=None, **node_kwargs):
        super().__init__("controller_node", context=context, **node_kwargs)
        self._odom_wd = self.add_watchdog("odom", timeout_s=self.p.odom_timeout_s,
                                          max_stamp_age_s=self.p.odom_max_age_s)
        self._traj_wd = self.add_watchdog("trajectory", timeout_s=self.p.trajectory_timeout_s)
        self._tracker: Optional[TrajectoryTracker] = None
        self._mppi = None
        self._build_controller()
        self._odom: Optional[tuple] = None
        self._odom_frame = ""
        self._trajectory: Optional[list] = None     # gear legs (split_by_gear)
        self._traj_frame = ""
        self._traj_error: Optional[str] = None
        self._objects = np.zeros((0, 6))
        self._objects_wall_s = -math.inf
        self._stopped_reason: Optional[str] = "no trajectory yet"
        self._stop_requested = False
        self._pub = self.create_publisher(Twist, "control/cmd_vel_nominal", RELIABLE_QOS)
        self.create_subscription(Odometry, "localization/odom", self._on_odom, SENSOR_QOS)
        self.create_subscription(Path, "planning/trajectory", self._on_trajectory, RELIABLE_QOS)
        self.create_subscription(PointCloud2, "perception/objects", self._on_objects, SENSOR_QOS)
        self.create_timer(1.0 / self.p.rate_hz, self._on_timer)
        self.last_command = (0.0, 0.0)

    # ---- configuration ------------------------------------------------------------------
    def _tracker_config(self, p) -> TrackerConfig:
        lateral = p["controller"] if p["controller"] in LATERAL_LAWS else "mpc"
        return TrackerConfig(
            lateral=lateral, wheelbase_m=p["wheelbase_m"], max_steer_rad=p["max_steer_rad"],
            max_steer_rate_radps=p["max_steer_rate_radps"],
            steer_time_constant_s=p["steer_time_constant_s"],
            rear_axle_offset_m=p["rear_axle_offset_m"], period_s=1.0 / p["rate_hz"],
            default_speed_mps=p["default_speed_mps"],
            max_lateral_accel_mps2=p["max_lateral_accel_mps2"],
            goal_tolerance_m=p["goal_tolerance_m"],
            mpc=LateralMPCConfig(horizon_steps=p["mpc_horizon_steps"], step_s=p["mpc_step_s"],
                                 weight_lateral=p["mpc_weight_lateral"],
                                 weight_heading=p["mpc_weight_heading"],
                                 weight_steer_rate=p["mpc_weight_steer_rate"]),
            pure_pursuit=PurePursuitConfig(lookahead_min_m=p["pp_lookahead_min_m"],
                                           lookahead_max_m=max(20.0, p["pp_lookahead_min_m"]),
                                           lookahead_time_s=p["pp_lookahead_time_s"],
                                           max_speed_mps=p["max_speed_mps"]),
            longitudinal=LongitudinalConfig(max_speed_mps=p["max_speed_mps"],
                                            speed_time_constant_s=p["speed_time_constant_s"],
                                            max_accel_mps2=p["max_accel_mps2"],
                                            max_decel_mps2=p["max_decel_mps2"]),
        )

    def _mppi_config(self, p):
        from .mppi import MPPIConfig
        return MPPIConfig(wheelbase_m=p["wheelbase_m"], max_steer_rad=p["max_steer_rad"],
                          max_steer_rate_radps=p["max_steer_rate_radps"],
                          steer_time_constant_s=p["steer_time_constant_s"],
                          samples=p["mppi_samples"], horizon_steps=p["mppi_horizon_steps"],
                          max_speed_mps=p["max_speed_mps"], max_accel_mps2=p["max_accel_mps2"],
                          max_decel_mps2=p["max_decel_mps2"])

    def check_params(self, values: dict):
        try:
            self._tracker_config(values)
            if values["controller"] == "mppi":
                self._mppi_config(values)
        except ControlConfigError as error:
            return str(error)
        return None

    def _build_controller(self):
        p = self.p.as_dict()
        try:
            self._tracker = TrajectoryTracker(self._tracker_config(p))
            self._mppi = None
            if p["controller"] == "mppi":
                from .mppi import MPPIController
                self._mppi = MPPIController(self._mppi_config(p), seed=p["mppi_seed"])
        except ControlConfigError as error:
            from skyroad.common.params import ParameterConfigError
            raise ParameterConfigError(f"{self.get_fully_qualified_name()}: {error}") from error

    def on_params_changed(self, changed: dict) -> None:
        self._build_controller()
        if self._trajectory is not None:
            self._tracker.set_trajectory(self._trajectory)
            if self._mppi is not None and self._trajectory[0].direction > 0:
                self._mppi.set_trajectory(self._trajectory[0])

    # ---- inputs --------------------------------------------------------------------------
    def _on_odom(self, msg: Odometry) -> None:
        p = msg.pose.pose
        vals = (p.position.x, p.position.y, yaw_from_quaternion(p.orientation.x, p.orientation.y,
                                                                  p.orientation.z, p.orientation.w),
                msg.twist.twist.linear.x, msg.twist.twist.angular.z)
        if not all(map(math.isfinite, vals)):
            self._odom_wd.reject()
            return
        self._odom = vals
        self._odom_frame = msg.header.frame_id
        self._odom_wd.feed(stamp_s=stamp_to_s(msg.header.stamp), now_stamp_s=self.now_s())

    def _on_trajectory(self, msg: Path) -> None:
        if len(msg.poses) == 0:
            # the planner's "no valid plan / goal reached: stop and hold" (planning/node.py);
            # a deliberate command, not a fault: the planner's diagnostics say why
            self._traj_error = None
            self._trajectory = None
            self._stop_requested = True
            self._traj_wd.feed()
            return
        self._stop_requested = False
        try:
            pts, times, yaws = path_to_arrays(msg)
            legs = split_by_gear(pts, times, yaws, name="planning/trajectory")
        except PathError as error:
            self._traj_error = str(error)
            self._trajectory = None
            self._traj_wd.reject()
            return
        self._traj_error = None
        self._trajectory = legs
        self._traj_frame = msg.header.frame_id
        self._traj_wd.feed()
        self._tracker.set_trajectory(legs)
        if self._mppi is not None:
            # MPPI samples forward motion only: it drives the first leg if that is forward
            if legs[0].direction < 0:
                self._traj_error = ("MPPI is forward-only and this trajectory starts in reverse "
                                    "(use controller:=mpc for reversing)")
                self._trajectory = None
                return
            self._mppi.set_trajectory(legs[0])
            if len(legs) > 1:
                self.diag.update("mppi", DiagLevel.WARN, "MPPI is forward-only: it tracks the first "
                                 "forward leg and stops at the cusp; use controller:=mpc for reversing")

    def _on_objects(self, msg: PointCloud2) -> None:
        try:
            self._objects = objects_from_cloud(msg)
            self._objects_wall_s = self.now_s()
        except (ValueError, KeyError) as error:
            self.diag.update("objects", DiagLevel.WARN, f"perception/objects unusable: {error}")

    # ---- loop ------------------------------------------------------------------------------
    def _stop(self, component: str, level: DiagLevel, reason: str, **values) -> None:
        self._pub.publish(Twist())
        self.last_command = (0.0, 0.0)
        self._stopped_reason = reason
        self.diag.update(component, level, f"STOP: {reason}", **values)

    def _on_timer(self) -> None:
        now = self.now_s()
        self.check_watchdogs()
        if self._odom_wd.is_stale(now):
            self._stop("tracking", DiagLevel.ERROR, f"odometry stale ({self._odom_wd.status(now).reason})")
            return
        if self._traj_error is not None:
            self._stop("tracking", DiagLevel.ERROR, f"invalid trajectory: {self._traj_error}")
            return
        if self._stop_requested:
            self._stop("tracking", DiagLevel.OK, "empty trajectory from the planner (stop and hold)")
            return
        if self._trajectory is None:
            self._stop("tracking", DiagLevel.WARN, "no trajectory received yet")
            return
        if self._traj_wd.is_stale(now):
            self._stop("tracking", DiagLevel.ERROR, f"trajectory stale ({self._traj_wd.status(now).reason})")
            return
        if self._traj_frame and self._odom_frame and self._traj_frame != self._odom_frame:
            self._stop("tracking", DiagLevel.ERROR, f"frame mismatch: trajectory in '{self._traj_frame}', "
                       f"odometry in '{self._odom_frame}' (no tf here; publish both in one frame)")
            return
        x, y, yaw, v, yaw_rate = self._odom
        try:
            if self._mppi is not None:
                objects = self._objects if now - self._objects_wall_s <= self.p.objects_timeout_s \
                    else np.zeros((0, 6))
                out = self._mppi.command(now, x, y, yaw, v, objects)
            else:
                out = self._tracker.command(now, x, y, yaw, v, yaw_rate_radps=yaw_rate)
        except (PathError, ValueError) as error:
            self._stop("tracking", DiagLevel.ERROR, f"controller rejected its input: {error}")
            return
        except Exception as error:  # noqa: BLE001 - a controller bug must stop the car, not the node
            self.get_logger().error(f"controller failed: {type(error).__name__}: {error}")
            self._stop("tracking", DiagLevel.ERROR, f"controller failed ({type(error).__name__}: {error})")
            return
        speed, steer = out.speed_cmd_mps, out.steer_cmd_rad
        if not (math.isfinite(speed) and math.isfinite(steer)):
            # A solver fallback that returns NaN must stop the car with a reason, never publish
            # a NaN Twist (the vehicle ignores it and the car would stand without explanation).
            self._stop("tracking", DiagLevel.ERROR, f"controller produced a non-finite command "
                       f"(speed {speed}, steering {steer}); stopping",
                       heading_error_rad=out.heading_error_rad)
            return
        linear, angular = ackermann_to_twist(speed, steer, self.p.wheelbase_m)
        msg = Twist()
        msg.linear.x = linear
        msg.angular.z = angular
        self._pub.publish(msg)
        self.last_command = (speed, steer)
        self._stopped_reason = None
        values = dict(controller=self.p.controller, lateral_error_m=out.lateral_error_m,
                      heading_error_rad=out.heading_error_rad, station_error_m=out.station_error_m,
                      distance_to_end_m=out.distance_to_end_m, compute_ms=out.compute_ms,
                      solver=out.solver_status)
        if out.solver_status.startswith("no collision-free"):
            self.diag.update("tracking", DiagLevel.ERROR, "emergency braking: every MPPI rollout "
                             "collides with a predicted object", **values)
        elif out.goal_reached and out.solver_status != "goal":
            self.diag.update("tracking", DiagLevel.WARN, f"STOP: {out.solver_status}", **values)
        elif out.goal_reached:
            self.diag.update("tracking", DiagLevel.OK, "goal reached, holding stop", **values)
        elif out.path_behind:
            self.diag.update("tracking", DiagLevel.WARN, "path points backwards (>90 deg heading "
                             "error): forward-only tracker, replan needed", **values)
        else:
            self.diag.update("tracking", DiagLevel.OK, "tracking", **values)


def main(args=None):
    run_node(ControllerNode, args)


if __name__ == "__main__":
    main()

"""gimbal_node: thin ROS 2 adapter around the gimbal core.

The kHz loop runs inside the node, as on the gimbal's microcontroller: a 100 Hz timer runs
loop_rate/100 control steps of GimbalCore against the gimbal hardware model (MuJoCo plant +
ICM-42688-P + AS5048A), whose airframe motion is the vehicle IMU (`sensors/imu`) held between
samples. ROS carries setpoints and status only.

Subscribes: sensors/imu (Imu), localization/odom (Odometry), gimbal/command (Vector3Stamped:
roll, pitch, yaw deg; header.frame_id = mode, or '<mode>_rate' for rates in deg/s),
gimbal/roi (PointStamped, world frame). Publishes gimbal/attitude (QuaternionStamped),
gimbal/joint_states (JointState) at publish_rate_hz and /diagnostics with live jitter.
Stale vehicle IMU: the last commanded attitude is held and reported (WARN).
"""
from __future__ import annotations

import collections
import math

import numpy as np
from geometry_msgs.msg import PointStamped, QuaternionStamped, Vector3Stamped
from nav_msgs.msg import Odometry
from sensor_msgs.msg import Imu, JointState

from skyroad.common.ros import (RELIABLE_QOS, SENSOR_QOS, DiagLevel, SkyroadNode, run_node,
                                s_to_stamp, stamp_to_s)

from .base_motion import GRAVITY_M_S2, AirframeTrajectory, OnlineAirframe
from .config import GIMBAL_PARAMS, MODES, GimbalConfig
from .controller import GimbalCore, GimbalInputError
from .plant import GimbalPlant
from .sensors import EncoderModel, FirstOrderLowPass3, ImuModel

TICK_HZ = 100.0
JOINT_NAMES = {"x": "gimbal_roll_joint", "y": "gimbal_pitch_joint", "z": "gimbal_yaw_joint"}


class GimbalNode(SkyroadNode):
    PARAMS = GIMBAL_PARAMS

    def __init__(self, context=None, **node_kwargs):
        super().__init__("gimbal_node", context=context, **node_kwargs)
        self.cfg = GimbalConfig(self.p.as_dict(), source=self.get_fully_qualified_name())
        self._build_loop()
        self.imu_watchdog = self.add_watchdog("imu", timeout_s=self.cfg.imu_timeout_s, max_stamp_age_s=0.5)
        self.odom_watchdog = self.add_watchdog("odom", timeout_s=self.cfg.odom_timeout_s)
        self.create_subscription(Imu, "sensors/imu", self._on_imu, SENSOR_QOS)
        self.create_subscription(Odometry, "localization/odom", self._on_odom, SENSOR_QOS)
        self.create_subscription(Vector3Stamped, "gimbal/command", self._on_command, RELIABLE_QOS)
        self.create_subscription(PointStamped, "gimbal/roi", self._on_roi, RELIABLE_QOS)
        self.attitude_pub = self.create_publisher(QuaternionStamped, "gimbal/attitude", RELIABLE_QOS)
        self.joint_pub = self.create_publisher(JointState, "gimbal/joint_states", RELIABLE_QOS)
        self.create_timer(1.0 / TICK_HZ, self._tick)
        self.create_timer(1.0 / self.cfg.publish_rate_hz, self._publish)
        self.create_timer(1.0, self._report)

    # ---------------------------------------------------------------------------- loop
    def _build_loop(self):
        cfg = self.cfg
        rng = np.random.default_rng(cfg.seed)
        plant_hz = cfg.loop_rate_hz * cfg.plant_substeps
        level = AirframeTrajectory(plant_hz, np.array([[1.0, 0, 0, 0]]), np.zeros((1, 3)), np.zeros((1, 3)), np.zeros((1, 3)))
        self.plant = GimbalPlant(cfg, level, rng)
        self.airframe = OnlineAirframe(cfg.mount_offset_m)
        # 10 s of pre-generated sensor noise, cycled (the node runs indefinitely)
        self.imu = ImuModel(cfg, int(10 * cfg.loop_rate_hz), cfg.loop_rate_hz, rng)
        self.encoders = EncoderModel(cfg, rng)
        self.core = GimbalCore(cfg)
        self.core.set_imu_calibration(self.imu.gyro_calibration, self.imu.accel_calibration,
                                      self.imu.g_sensitivity_calibration)
        self.aaf = FirstOrderLowPass3(cfg.imu_filter_hz, plant_hz, self.plant.imu_truth())
        self.delay = collections.deque(maxlen=cfg.imu_latency_samples + 1)
        self.k = 0
        self.vehicle_gyro = None
        self.vehicle_accel = None
        self.last_imu_stamp = None
        self.last_odom = None
        self.odom_acc = [0.0, 0.0, 0.0]
        self.errors = collections.deque(maxlen=int(cfg.jitter_window_s * cfg.loop_rate_hz))
        self.rejected_imu = 0
        self.rejected_commands = 0
        self.steps_done = 0

    def on_params_changed(self, changed: dict):
        # Mode and setpoints apply live; structural parameters rebuild the loop.
        live = {"mode", "setpoint_deg"}
        self.cfg = GimbalConfig(self.p.as_dict(), source=self.get_fully_qualified_name())
        if set(changed) - live:
            self._build_loop()
        if "mode" in changed:
            self.core.set_mode(changed["mode"])
        if "setpoint_deg" in changed:
            self.core.set_angles_deg(*changed["setpoint_deg"])

    def _tick(self):
        fresh = self.check_watchdogs()
        imu_fresh = not self.imu_watchdog.is_stale()
        self.core.hold = not imu_fresh
        if self.vehicle_gyro is None:
            return
        cfg = self.cfg
        dt_plant = 1.0 / (cfg.loop_rate_hz * cfg.plant_substeps)
        steps = int(round(cfg.loop_rate_hz / TICK_HZ))
        gyro, accel = self.vehicle_gyro, self.vehicle_accel
        if not imu_fresh:
            gyro = (0.0, 0.0, 0.0)   # sample-and-hold of a rate would spin the world: hold still
        for _ in range(steps):
            for _ in range(cfg.plant_substeps):
                airframe = self.airframe.step(gyro, accel, dt_plant)
                self.plant.step_airframe(*airframe)
                self.aaf.update(self.plant.imu_truth())
            sample = self.imu.sample(self.k % len(self.imu.gyro_add), *self.aaf.state)
            self.delay.append(sample)
            used = self.delay[0]
            ja = self.plant.joint_angles()
            enc = [self.encoders.read(j, ja[j]) for j in range(3)]
            tau = self.core.step(*used, *enc, *gyro)
            self.plant.torque_cmd = tau
            self.plant.motors_enabled = self.core.motors_enabled
            self.errors.append(self._pointing_error())
            self.k += 1
        self.steps_done += steps
        self.diag.update("loop", DiagLevel.OK if fresh else DiagLevel.WARN,
                         "running" if imu_fresh else "vehicle IMU stale: holding last attitude",
                         mode=self.core.mode, steps=self.steps_done, hold=self.core.hold)

    def _pointing_error(self):
        """Small-angle error q_cmd^* q_true in the camera frame, degrees (scalar math: this runs
        at the loop rate)."""
        tw, tx, ty, tz = self.plant.camera_quat()
        cw, cx, cy, cz = self.core.q_cmd
        w = cw * tw + cx * tx + cy * ty + cz * tz
        k = 114.59155902616465 if w >= 0.0 else -114.59155902616465   # 2 * 180/pi
        return (k * (cw * tx - cx * tw - cy * tz + cz * ty),
                k * (cw * ty + cx * tz - cy * tw - cz * tx),
                k * (cw * tz - cx * ty + cy * tx - cz * tw))

    # ---------------------------------------------------------------------------- inputs
    def _on_imu(self, msg: Imu):
        g = (msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z)
        a = (msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z)
        stamp = stamp_to_s(msg.header.stamp)
        if not all(math.isfinite(v) for v in g + a):
            self.rejected_imu += 1
            self.imu_watchdog.reject()
            self.diag.update("imu input", DiagLevel.WARN, "non-finite IMU sample rejected", rejected=self.rejected_imu)
            return
        if self.last_imu_stamp is not None and stamp < self.last_imu_stamp:
            self.rejected_imu += 1
            self.imu_watchdog.reject()
            self.diag.update("imu input", DiagLevel.WARN, "IMU stamp went backwards; sample rejected",
                             rejected=self.rejected_imu, stamp_s=stamp, last_s=self.last_imu_stamp)
            return
        if abs(math.sqrt(sum(v * v for v in a)) - GRAVITY_M_S2) > 30 * GRAVITY_M_S2:
            self.rejected_imu += 1
            return
        self.last_imu_stamp = stamp
        self.vehicle_gyro, self.vehicle_accel = g, a
        self.imu_watchdog.feed(stamp_s=stamp, now_stamp_s=self.now_s())

    def _on_odom(self, msg: Odometry):
        p = msg.pose.pose.position
        o = msg.pose.pose.orientation
        values = (p.x, p.y, p.z, o.w, o.x, o.y, o.z)
        if not all(math.isfinite(v) for v in values):
            self.diag.update("odom input", DiagLevel.WARN, "non-finite odometry rejected")
            return
        yaw = math.atan2(2 * (o.w * o.z + o.x * o.y), 1 - 2 * (o.y * o.y + o.z * o.z))
        self.core.set_vehicle_pose((p.x, p.y, p.z), yaw)
        # world-frame acceleration for the tilt aiding: derivative of the odometry velocity
        # (twist is in the child frame: rotate to the world), low-passed
        v = msg.twist.twist.linear
        qn = math.sqrt(o.w * o.w + o.x * o.x + o.y * o.y + o.z * o.z)
        v_world = None
        if qn > 0.5 and all(math.isfinite(c) for c in (v.x, v.y, v.z)):
            v_world = _rotate((o.w / qn, o.x / qn, o.y / qn, o.z / qn), (v.x, v.y, v.z))
        stamp = stamp_to_s(msg.header.stamp)
        if v_world is not None and self.last_odom is not None and stamp > self.last_odom[0]:
            dt = stamp - self.last_odom[0]
            acc = [(v_world[i] - self.last_odom[1][i]) / dt for i in range(3)]
            alpha = min(1.0, dt * 2.0 * math.pi * self.cfg.vehicle_acc_smoothing_hz)
            self.odom_acc = [self.odom_acc[i] + alpha * (acc[i] - self.odom_acc[i]) for i in range(3)]
            try:
                self.core.set_vehicle_acceleration(*self.odom_acc)
            except GimbalInputError as error:
                self.diag.update("odom input", DiagLevel.WARN, f"acceleration rejected: {error}")
        if v_world is not None:
            self.last_odom = (stamp, v_world)
        self.odom_watchdog.feed()

    def _on_command(self, msg: Vector3Stamped):
        frame = msg.header.frame_id.strip().lower()
        rate = frame.endswith("_rate")
        mode = frame[:-5] if rate else frame
        try:
            if mode and mode not in MODES:
                raise GimbalInputError(f"unknown mode {mode!r} in gimbal/command frame_id (one of {', '.join(MODES)}, "
                                       "optionally with _rate)")
            if mode:
                self.core.set_mode(mode)
            if rate:
                self.core.set_rates_dps(msg.vector.x, msg.vector.y, msg.vector.z)
            else:
                self.core.set_angles_deg(msg.vector.x, msg.vector.y, msg.vector.z)
            self.diag.update("command", DiagLevel.OK, f"mode {self.core.mode}")
        except GimbalInputError as error:
            self.rejected_commands += 1
            self.get_logger().warning(f"gimbal/command rejected: {error}")
            self.diag.update("command", DiagLevel.WARN, f"rejected: {error}", rejected=self.rejected_commands)

    def _on_roi(self, msg: PointStamped):
        try:
            self.core.set_roi((msg.point.x, msg.point.y, msg.point.z))
            self.core.set_mode("roi")
            self.diag.update("command", DiagLevel.OK, "mode roi")
        except GimbalInputError as error:
            self.rejected_commands += 1
            self.diag.update("command", DiagLevel.WARN, f"ROI rejected: {error}", rejected=self.rejected_commands)

    # ---------------------------------------------------------------------------- outputs
    def _publish(self):
        now = self.get_clock().now().to_msg()
        att = QuaternionStamped()
        att.header.stamp = now
        att.header.frame_id = "odom"
        q = self.core.attitude()
        att.quaternion.w, att.quaternion.x, att.quaternion.y, att.quaternion.z = (float(v) for v in q)
        self.attitude_pub.publish(att)
        js = JointState()
        js.header.stamp = now
        js.name = [JOINT_NAMES[a] for a in self.cfg.joint_order]
        js.position = [float(v) for v in self.core.joint]
        js.effort = [float(v) for v in self.core.tau]
        self.joint_pub.publish(js)

    def _report(self):
        if len(self.errors) < 10:
            return
        err = np.asarray(self.errors)
        jitter = err - err.mean(axis=0)   # window-mean removed: live proxy of the 0.5 Hz high-pass
        rms = np.sqrt((jitter ** 2).mean(axis=0))
        peak = np.percentile(np.abs(jitter), 99.7, axis=0)
        level = DiagLevel.OK if peak.max() <= 0.005 else DiagLevel.WARN
        self.diag.update("jitter", level, f"peak {peak.max():.4f} deg over {self.cfg.jitter_window_s:g} s",
                         rms_roll_deg=float(rms[0]), rms_pitch_deg=float(rms[1]), rms_yaw_deg=float(rms[2]),
                         peak_roll_deg=float(peak[0]), peak_pitch_deg=float(peak[1]), peak_yaw_deg=float(peak[2]),
                         mode=self.core.mode, hold=self.core.hold, invalid_samples=self.core.invalid_samples)


def _rotate(q, v):
    w, x, y, z = q
    vx, vy, vz = v
    tx = 2.0 * (y * vz - z * vy)
    ty = 2.0 * (z * vx - x * vz)
    tz = 2.0 * (x * vy - y * vx)
    return (vx + w * tx + (y * tz - z * ty), vy + w * ty + (z * tx - x * tz), vz + w * tz + (x * ty - y * tx))


def main(args=None):
    run_node(GimbalNode, args)


if __name__ == "__main__":
    main()

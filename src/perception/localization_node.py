"""localization_node: EKF over IMU, wheel odometry and GNSS (thin rclpy adapter).

Subscribes ``sensors/imu`` (Imu: angular_velocity.z, linear_acceleration.x in base_link),
``sensors/wheel_odom`` (Odometry: twist.linear.x), ``sensors/gnss`` (NavSatFix). Publishes
``localization/odom`` (Odometry, frame ``map`` -> ``base_link``) with pose and twist covariance
after every IMU step. The filter is ``localization.LocalizationEKF``.

Start-up: the ENU origin is ``origin_lat_deg/lon_deg/alt_m`` or, with ``origin_from_first_fix``,
the first valid fix. Heading is unknown until the vehicle has moved ``init_course_distance_m``
between fixes; the course over ground then seeds the heading (nothing is published before).

Diagnostics: ``gnss`` (OK / WARN on dropout > ``gnss_timeout_s``, i.e. dead reckoning / WARN
on rejected jumps, with counts), ``imu`` via the input watchdog (stale IMU: the filter coasts at
constant speed and heading, covariance growing, and says so), ``localization`` (state).
"""
from __future__ import annotations

import numpy as np
from nav_msgs.msg import Odometry
from sensor_msgs.msg import Imu, NavSatFix, NavSatStatus

from skyroad.common.params import ParamSpec
from skyroad.common.ros import (RELIABLE_QOS, SENSOR_QOS, DiagLevel, SkyroadNode, run_node,
                                s_to_stamp, stamp_to_s)

from .localization import BA, BG, EkfNoise, LocalENU, LocalizationEKF


class LocalizationNode(SkyroadNode):
    PARAMS = (
        ParamSpec("origin_from_first_fix", True, "use the first GNSS fix as ENU origin"),
        ParamSpec("origin_lat_deg", 0.0, "ENU origin latitude", min=-90.0, max=90.0, unit="deg"),
        ParamSpec("origin_lon_deg", 0.0, "ENU origin longitude", min=-180.0, max=180.0, unit="deg"),
        ParamSpec("origin_alt_m", 0.0, "ENU origin altitude", min=-1000.0, max=10000.0, unit="m"),
        ParamSpec("gnss_std_m", 1.5, "GNSS std when the fix has no covariance", min=0.01, max=100.0, unit="m"),
        ParamSpec("gnss_timeout_s", 1.0, "no fix for this long = dropout", min=0.05, max=60.0, unit="s"),
        ParamSpec("gnss_reset_after_s", 5.0, "accept a persistent GNSS offset after", min=0.5, max=120.0, unit="s"),
        ParamSpec("gyro_noise_density", float(np.deg2rad(0.014)), "gyro white noise (BMI088)", min=1e-7, max=1.0, unit="rad/s/sqrt(Hz)"),
        ParamSpec("accel_noise_density", 175e-6 * 9.80665, "accel white noise (BMI088)", min=1e-7, max=10.0, unit="m/s^2/sqrt(Hz)"),
        ParamSpec("gyro_bias_rw", float(np.deg2rad(0.002)), "gyro bias random walk", min=1e-9, max=1.0),
        ParamSpec("accel_bias_rw", 1e-3, "accel bias random walk", min=1e-9, max=1.0),
        ParamSpec("wheel_speed_std", 0.1, "wheel speed std when odometry has no covariance", min=1e-3, max=10.0, unit="m/s"),
        ParamSpec("imu_timeout_s", 0.1, "IMU silence before it is stale", min=0.005, max=5.0, unit="s"),
        ParamSpec("init_course_distance_m", 5.0, "travel needed to seed heading from GNSS course", min=0.5, max=100.0, unit="m"),
        ParamSpec("gnss_lever_arm_m", [0.0, 0.0], "GNSS antenna x, y in base_link", length=2, min=-20.0, max=20.0, unit="m"),
        ParamSpec("imu_lever_arm_x_m", 0.0, "IMU x in base_link (centripetal correction)", min=-20.0, max=20.0, unit="m"),
        ParamSpec("frame_id", "map", "frame of the published pose"),
        ParamSpec("child_frame_id", "base_link", "vehicle frame"),
    )

    def __init__(self, context=None, **node_kwargs):
        super().__init__("localization_node", context=context, **node_kwargs)
        self.enu = None
        if not self.p.origin_from_first_fix:
            self.enu = LocalENU(self.p.origin_lat_deg, self.p.origin_lon_deg, self.p.origin_alt_m)
        self.ekf: LocalizationEKF | None = None
        self.first_fix = None
        self.last_speed = 0.0
        self.last_imu_t = None
        self.coast_t = None  # stamp of the last coasted (IMU-less) estimate
        self.last_imu = (0.0, 0.0)
        self.last_gnss_rx_s = None
        self.jumps_reported = 0
        self.pub = self.create_publisher(Odometry, "localization/odom", RELIABLE_QOS)
        self.create_subscription(Imu, "sensors/imu", self.on_imu, SENSOR_QOS)
        self.create_subscription(Odometry, "sensors/wheel_odom", self.on_wheel, SENSOR_QOS)
        self.create_subscription(NavSatFix, "sensors/gnss", self.on_gnss, SENSOR_QOS)
        self.imu_watchdog = self.add_watchdog("imu", timeout_s=self.p.imu_timeout_s)
        self.create_timer(0.1, self.on_timer)
        self.diag.update("localization", DiagLevel.WARN, "waiting for GNSS fix and motion")

    def _noise(self):
        p = self.p
        return EkfNoise(gyro_noise_density=p.gyro_noise_density, accel_noise_density=p.accel_noise_density,
                        gyro_bias_rw=p.gyro_bias_rw, accel_bias_rw=p.accel_bias_rw,
                        wheel_speed_std=p.wheel_speed_std)

    def on_params_changed(self, changed):
        if self.ekf is not None:
            self.ekf.noise = self._noise()
            self.ekf.reset_after_s = self.p.gnss_reset_after_s

    # ---------------------------------------------------------------- callbacks
    def on_imu(self, msg: Imu):
        t = stamp_to_s(msg.header.stamp)
        g, a = msg.angular_velocity.z, msg.linear_acceleration.x
        if not (np.isfinite(g) and np.isfinite(a) and np.isfinite(t)):
            self.imu_watchdog.reject()
            self.diag.update("imu", DiagLevel.WARN, "non-finite IMU sample rejected")
            return
        if self.last_imu_t is not None and t <= self.last_imu_t:
            self.diag.update("imu", DiagLevel.WARN, "IMU stamp not increasing, sample dropped")
            return
        self.imu_watchdog.feed(stamp_s=t, now_stamp_s=self.now_s())
        self.coast_t = None
        if self.ekf is not None and self.last_imu_t is not None:
            # zero-order hold of the previous sample over [t_prev, t)
            self.ekf.predict_imu(self.last_imu[0], self.last_imu[1], t - self.last_imu_t, t_s=t)
            self.publish(msg.header.stamp)
        self.last_imu_t = t
        self.last_imu = (g, a)

    def on_wheel(self, msg: Odometry):
        v = msg.twist.twist.linear.x
        if not np.isfinite(v):
            return
        self.last_speed = v
        if self.ekf is not None:
            cov = msg.twist.covariance[0]
            std = float(np.sqrt(cov)) if np.isfinite(cov) and cov > 0 else None
            self.ekf.update_wheel_speed(v, std)

    def on_gnss(self, msg: NavSatFix):
        t = stamp_to_s(msg.header.stamp)
        if msg.status.status < NavSatStatus.STATUS_FIX or not all(
                np.isfinite([msg.latitude, msg.longitude, msg.altitude])):
            self.diag.update("gnss", DiagLevel.WARN, "no fix / invalid fix ignored")
            return
        if self.enu is None:
            self.enu = LocalENU(msg.latitude, msg.longitude, msg.altitude)
        enu = self.enu.to_enu(msg.latitude, msg.longitude, msg.altitude)
        std = self.p.gnss_std_m
        if msg.position_covariance_type != NavSatFix.COVARIANCE_TYPE_UNKNOWN:
            c = np.asarray(msg.position_covariance, float)
            if np.all(np.isfinite(c[[0, 4]])) and c[0] > 0 and c[4] > 0:
                std = np.sqrt(np.array([c[0], c[4]]))
        prev_rx = self.last_gnss_rx_s
        self.last_gnss_rx_s = self.now_s()
        if self.ekf is None:
            self._try_initialise(enu[:2], std, t)
            return
        res = self.ekf.update_gnss(enu[:2], std, t_s=t)
        st = self.ekf.status
        if res == "rejected":
            self.diag.update("gnss", DiagLevel.WARN, "GNSS fix rejected (jump / outlier)",
                             nis=st.last_gnss_nis, rejected=st.gnss_rejected, accepted=st.gnss_accepted)
        elif res == "reset":
            self.diag.update("gnss", DiagLevel.WARN, "persistent GNSS offset: position reset to GNSS",
                             resets=st.gnss_resets)
        else:
            gap = None if prev_rx is None else self.last_gnss_rx_s - prev_rx
            self.diag.update("gnss", DiagLevel.OK, "fix fused", nis=st.last_gnss_nis,
                             rejected=st.gnss_rejected, accepted=st.gnss_accepted,
                             gap_s=gap if gap is not None else 0.0)

    def _try_initialise(self, xy, std, t):
        if self.first_fix is None:
            self.first_fix = (xy, t)
            return
        d = xy - self.first_fix[0]
        if np.hypot(*d) < self.p.init_course_distance_m:
            return
        yaw = float(np.arctan2(d[1], d[0]))
        s = float(np.max(np.atleast_1d(std)))
        yaw_std = min(np.pi, 2.0 * s / np.hypot(*d))
        lx, ly = self.p.gnss_lever_arm_m  # antenna -> base_link
        bx = xy[0] - (np.cos(yaw) * lx - np.sin(yaw) * ly)
        by = xy[1] - (np.sin(yaw) * lx + np.cos(yaw) * ly)
        x0 = np.array([bx, by, yaw, self.last_speed, 0.0, 0.0])
        P0 = np.diag([s ** 2, s ** 2, yaw_std ** 2, 0.5 ** 2, np.deg2rad(0.5) ** 2, 0.1 ** 2])
        self.ekf = LocalizationEKF(x0, P0, self._noise(), gnss_reset_after_s=self.p.gnss_reset_after_s,
                                   gnss_lever_arm_m=self.p.gnss_lever_arm_m,
                                   imu_lever_arm_x_m=self.p.imu_lever_arm_x_m)
        self.diag.update("localization", DiagLevel.OK, "initialised from GNSS course",
                         yaw_deg=np.degrees(yaw), yaw_std_deg=np.degrees(yaw_std))

    def on_timer(self):
        fresh = self.check_watchdogs()
        now = self.now_s()
        if self.ekf is not None and self.last_gnss_rx_s is not None and now - self.last_gnss_rx_s > self.p.gnss_timeout_s:
            self.diag.update("gnss", DiagLevel.WARN, "GNSS dropout: dead reckoning",
                             silence_s=now - self.last_gnss_rx_s,
                             pos_std_m=float(np.sqrt(max(self.ekf.P[0, 0], self.ekf.P[1, 1]))))
        if self.ekf is not None and not fresh and self.imu_watchdog.is_stale():
            # stale IMU: coast with bias-corrected zero input (constant heading and speed) so
            # downstream still gets a pose, with covariance that grows honestly
            x = self.ekf.x
            self.ekf.predict_imu(x[BG], x[BA], 0.1)
            self.coast_t = (self.coast_t if self.coast_t is not None else self.last_imu_t) + 0.1
            self.publish(s_to_stamp(self.coast_t))
            self.diag.update("localization", DiagLevel.WARN, "IMU stale: coasting at constant speed/heading",
                             pos_std_m=float(np.sqrt(self.ekf.P[0, 0])))

    def publish(self, stamp):
        x, P = self.ekf.x, self.ekf.P
        msg = Odometry()
        msg.header.stamp = stamp if stamp is not None else self.get_clock().now().to_msg()
        msg.header.frame_id = self.p.frame_id
        msg.child_frame_id = self.p.child_frame_id
        msg.pose.pose.position.x, msg.pose.pose.position.y = float(x[0]), float(x[1])
        msg.pose.pose.orientation.z = float(np.sin(x[2] / 2))
        msg.pose.pose.orientation.w = float(np.cos(x[2] / 2))
        pc = np.zeros((6, 6))
        pc[np.ix_([0, 1], [0, 1])] = P[:2, :2]
        pc[0, 5] = pc[5, 0] = P[0, 2]
        pc[1, 5] = pc[5, 1] = P[1, 2]
        pc[5, 5] = P[2, 2]
        pc[2, 2] = pc[3, 3] = pc[4, 4] = 1e6  # z, roll, pitch not estimated
        msg.pose.covariance = pc.reshape(-1).tolist()
        msg.twist.twist.linear.x = float(x[3])
        msg.twist.twist.angular.z = float(self.last_imu[0] - x[BG])
        tc = np.zeros((6, 6))
        tc[0, 0] = P[3, 3]
        tc[5, 5] = P[BG, BG] + self.p.gyro_noise_density ** 2 * 100.0
        tc[1, 1] = tc[2, 2] = tc[3, 3] = tc[4, 4] = 1e6
        msg.twist.covariance = tc.reshape(-1).tolist()
        self.pub.publish(msg)


def main(args=None):
    return run_node(LocalizationNode, args)


if __name__ == "__main__":
    main()

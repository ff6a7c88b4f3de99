"""Kinematic car + sensor noise models, for testing and benchmarking the localization EKF.

Core module (numpy only). Truth: a kinematic bicycle integrated at ``truth_rate_hz`` along a
smooth, seeded speed/steering profile. Sensors sample the truth with:

* IMU (``imu_rate_hz``): gyro z and accel x with white noise from the Bosch BMI088 datasheet
  (gyro 0.014 deg/s/sqrt(Hz), accel 175 ug/sqrt(Hz)) and a constant turn-on bias drawn from
  ``gyro_bias_std`` / ``accel_bias_std`` (BMI088 zero-rate offset spec is +-1 deg/s; a
  factory-calibrated unit is well inside it) plus a small bias random walk;
* wheel odometry (``wheel_rate_hz``): speed with white noise ``wheel_speed_std`` and encoder
  quantisation;
* GNSS (``gnss_rate_hz``): position with white noise ``gnss_std_m`` (default 1.5 m at 5 Hz, the
  figure in the localization acceptance), optional outage windows.

The simulator is separate from the MuJoCo simulator (``skyroad.sim``); it exists so that the
filter can be tested against a known truth with known noise, deterministically.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SimConfig:
    duration_s: float = 180.0
    truth_rate_hz: float = 1000.0
    imu_rate_hz: float = 100.0
    wheel_rate_hz: float = 50.0
    gnss_rate_hz: float = 5.0
    wheelbase_m: float = 2.7
    max_speed_mps: float = 12.0
    max_lat_accel_mps2: float = 3.0
    gyro_noise_density: float = np.deg2rad(0.014)   # BMI088
    accel_noise_density: float = 175e-6 * 9.80665  # BMI088
    gyro_bias_std: float = np.deg2rad(0.2)
    accel_bias_std: float = 0.05
    gyro_bias_rw: float = np.deg2rad(0.001)
    accel_bias_rw: float = 5e-4
    wheel_speed_std: float = 0.1
    wheel_quantum_mps: float = 0.01
    gnss_std_m: float = 1.5
    gnss_outages_s: list = field(default_factory=list)  # [(start_s, end_s)]


@dataclass
class SimData:
    t_truth: np.ndarray
    truth: np.ndarray        # (N, 6): px, py, yaw, v, b_gyro, b_accel
    imu: np.ndarray          # (M, 3): t, gyro_z, accel_x
    wheel: np.ndarray        # (K, 2): t, speed
    gnss: np.ndarray         # (G, 3): t, e, n


def simulate_drive(cfg: SimConfig, rng: np.random.Generator) -> SimData:
    dt = 1.0 / cfg.truth_rate_hz
    n = int(round(cfg.duration_s * cfg.truth_rate_hz)) + 1
    t = np.arange(n) * dt
    # smooth random profiles: sums of a few low-frequency sinusoids with seeded phases
    k = np.arange(1, 5)
    ph_v, ph_s = rng.uniform(0, 2 * np.pi, 4), rng.uniform(0, 2 * np.pi, 4)
    f_v, f_s = rng.uniform(0.005, 0.03, 4), rng.uniform(0.01, 0.06, 4)
    v_prof = 0.5 + 0.5 * np.sum(np.sin(2 * np.pi * f_v[None] * t[:, None] + ph_v) / k, axis=1) / 2.08
    v_cmd = 2.0 + (cfg.max_speed_mps - 2.0) * np.clip(v_prof, 0, 1)
    v_cmd *= np.clip(t / 5.0, 0, 1) * 0.9 + 0.1  # gentle start
    curv = np.sum(np.sin(2 * np.pi * f_s[None] * t[:, None] + ph_s) / k, axis=1) / 2.08 * 0.1
    curv = np.clip(curv, -cfg.max_lat_accel_mps2 / np.maximum(v_cmd, 1.0) ** 2,
                   cfg.max_lat_accel_mps2 / np.maximum(v_cmd, 1.0) ** 2)
    truth = np.zeros((n, 6))
    yaw_rate = np.zeros(n)
    accel = np.gradient(v_cmd, dt)
    truth[0, 2] = rng.uniform(-np.pi, np.pi)
    truth[:, 3] = v_cmd
    yaw_rate[:] = v_cmd * curv
    # exact-ish integration (midpoint) at truth rate
    yaw = truth[0, 2] + np.concatenate([[0], np.cumsum(0.5 * (yaw_rate[1:] + yaw_rate[:-1]) * dt)])
    truth[:, 2] = (yaw + np.pi) % (2 * np.pi) - np.pi
    vx = v_cmd * np.cos(yaw)
    vy = v_cmd * np.sin(yaw)
    truth[:, 0] = np.concatenate([[0], np.cumsum(0.5 * (vx[1:] + vx[:-1]) * dt)])
    truth[:, 1] = np.concatenate([[0], np.cumsum(0.5 * (vy[1:] + vy[:-1]) * dt)])
    # biases: turn-on value + random walk (at truth rate)
    bg = rng.normal(0, cfg.gyro_bias_std) + np.cumsum(rng.normal(0, cfg.gyro_bias_rw * np.sqrt(dt), n))
    ba = rng.normal(0, cfg.accel_bias_std) + np.cumsum(rng.normal(0, cfg.accel_bias_rw * np.sqrt(dt), n))
    truth[:, 4], truth[:, 5] = bg, ba

    def sample(rate):
        step = int(round(cfg.truth_rate_hz / rate))
        return np.arange(0, n, step)

    i_imu = sample(cfg.imu_rate_hz)
    # the IMU reports the mean rate over its sample interval; white noise std = density*sqrt(rate)
    gyro = yaw_rate[i_imu] + bg[i_imu] + rng.normal(0, cfg.gyro_noise_density * np.sqrt(cfg.imu_rate_hz), len(i_imu))
    acc = accel[i_imu] + ba[i_imu] + rng.normal(0, cfg.accel_noise_density * np.sqrt(cfg.imu_rate_hz), len(i_imu))
    imu = np.column_stack([t[i_imu], gyro, acc])
    i_wh = sample(cfg.wheel_rate_hz)
    sp = v_cmd[i_wh] + rng.normal(0, cfg.wheel_speed_std, len(i_wh))
    sp = np.round(sp / cfg.wheel_quantum_mps) * cfg.wheel_quantum_mps
    wheel = np.column_stack([t[i_wh], sp])
    i_g = sample(cfg.gnss_rate_hz)
    g = truth[i_g, :2] + rng.normal(0, cfg.gnss_std_m, (len(i_g), 2))
    keep = np.ones(len(i_g), bool)
    for a, b in cfg.gnss_outages_s:
        keep &= ~((t[i_g] >= a) & (t[i_g] < b))
    gnss = np.column_stack([t[i_g], g])[keep]
    return SimData(t, truth, imu, wheel, gnss)


def run_ekf_on_sim(data: SimData, ekf, gnss_std_m: float, wheel_speed_std: float):
    """Replay sensor streams in time order through ``ekf`` (a ``LocalizationEKF``).

    Returns (t (M,), estimates (M, 6), covariances (M, 6, 6), truth at those times (M, 6)),
    sampled after every IMU step.
    """
    events = [(t, 0, i) for i, t in enumerate(data.imu[:, 0])]
    events += [(t, 1, i) for i, t in enumerate(data.wheel[:, 0])]
    events += [(t, 2, i) for i, t in enumerate(data.gnss[:, 0])]
    events.sort()
    ts, xs, Ps, tr = [], [], [], []
    t_prev = None
    truth_dt = data.t_truth[1] - data.t_truth[0]
    for t, kind, i in events:
        if kind == 0:
            if t_prev is not None:
                # use the previous IMU sample over [t_prev, t) (zero-order hold, as a driver would)
                g, a = data.imu[i - 1, 1], data.imu[i - 1, 2]
                ekf.predict_imu(g, a, t - t_prev, t_s=t)
                ts.append(t)
                xs.append(ekf.x)
                Ps.append(ekf.P)
                tr.append(data.truth[int(round(t / truth_dt))])
            t_prev = t
        elif kind == 1:
            ekf.update_wheel_speed(data.wheel[i, 1], wheel_speed_std)
        else:
            ekf.update_gnss(data.gnss[i, 1:3], gnss_std_m, t_s=t)
    return np.array(ts), np.array(xs), np.array(Ps), np.array(tr)

"""Closed-loop simulation: airframe motion -> isolator + gimbal plant -> ICM-42688-P and
AS5048A models -> GimbalCore -> FOC motors (core: no rclpy).

The core only ever sees quantised, noisy, delayed sensor samples and the vehicle body rate
(its own sample-and-hold, latency and noise); the true camera attitude is only logged for the
error figures.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .base_motion import BaseMotion, reconstruct_trajectory
from .config import GimbalConfig
from .controller import GimbalCore
from .plant import GimbalPlant
from .sensors import DEG, EncoderModel, FirstOrderLowPass3, ImuModel


@dataclass
class SimResult:
    loop_rate_hz: float
    t_s: np.ndarray
    q_true: np.ndarray           # (N, 4) camera -> world, truth
    q_cmd: np.ndarray            # (N, 4) commanded (reference) attitude
    q_est: np.ndarray            # (N, 4) estimator output
    joints_rad: np.ndarray       # (N, 3) true joint angles
    torque_nm: np.ndarray        # (N, 3) torque requests
    sensors: Optional[np.ndarray]  # (N, 12) samples given to the core (gyro, accel, enc, base rate)
    vehicle_acc: Optional[list] = None   # world acceleration feed per step (None when not used)
    model: dict = field(default_factory=dict)
    wall_s: float = 0.0
    core_s: float = 0.0


def vehicle_rate_feed(motion, n_ticks: int, substeps: int, cfg: GimbalConfig,
                      rng: np.random.Generator) -> list:
    """Vehicle body rates as the gimbal receives them: sample-and-hold at vehicle_imu_rate_hz,
    vehicle_imu_latency_s late, with ICM-42688-P white noise (the flight controller's IMU)."""
    loop_hz = cfg.loop_rate_hz
    plant_hz = motion.rate_hz
    t_tick = np.arange(n_ticks) / loop_hz
    t_avail = t_tick - cfg.vehicle_imu_latency_s
    t_sample = np.floor(np.maximum(t_avail, 0.0) * cfg.vehicle_imu_rate_hz) / cfg.vehicle_imu_rate_hz
    rates = motion.omega_body           # the airframe's actual body rates (trajectory)
    index = np.minimum((t_sample * plant_hz).astype(int), len(rates) - 1)
    sigma = cfg.imu_gyro_noise_dps_rthz * DEG * math.sqrt(cfg.vehicle_imu_rate_hz)
    n_vehicle = int(t_sample[-1] * cfg.vehicle_imu_rate_hz) + 2
    noise = rng.normal(0.0, sigma, (n_vehicle, 3))
    noise_index = np.minimum((t_sample * cfg.vehicle_imu_rate_hz).round().astype(int), n_vehicle - 1)
    bias = rng.normal(0.0, cfg.vehicle_gyro_bias_dps * DEG, 3)
    return (rates[index] + noise[noise_index] + bias).tolist()


def vehicle_acceleration_feed(trajectory, n_ticks: int, cfg: GimbalConfig, rng: np.random.Generator,
                              rate_hz: float = 50.0, latency_s: float = 0.02, smoothing_hz: float = 5.0,
                              noise_m_s2: float = 0.05) -> list:
    """World acceleration as an autopilot's velocity estimate provides it (PX4 EKF2 via
    MAVLink AUTOPILOT_STATE_FOR_GIMBAL_DEVICE / ROS localization/odom): smoothed at
    `smoothing_hz`, sampled at `rate_hz`, `latency_s` late, with white error `noise_m_s2`."""
    from scipy import signal as sps
    plant_hz = trajectory.rate_hz
    acc = np.gradient(trajectory.vel_m_s, 1.0 / plant_hz, axis=0)
    sos = sps.butter(2, smoothing_hz, fs=plant_hz, output="sos")
    acc = sps.sosfilt(sos, acc, axis=0)
    t_tick = np.arange(n_ticks) / cfg.loop_rate_hz
    t_sample = np.floor(np.maximum(t_tick - latency_s, 0.0) * rate_hz) / rate_hz
    index = np.minimum((t_sample * plant_hz).astype(int), len(acc) - 1)
    slot = np.minimum((t_sample * rate_hz).round().astype(int), int(t_sample[-1] * rate_hz) + 1)
    noise = rng.normal(0.0, noise_m_s2, (int(slot.max()) + 1, 3))
    return (acc[index] + noise[slot]).tolist()


def run_closed_loop(cfg: GimbalConfig, motion: BaseMotion, seed: int,
                    record_sensors: bool = False, core: Optional[GimbalCore] = None,
                    use_vehicle_acceleration: bool = True) -> SimResult:
    substeps = cfg.plant_substeps
    plant_hz = cfg.loop_rate_hz * substeps
    if abs(motion.rate_hz - plant_hz) > 1e-6:
        raise ValueError(f"base motion must be sampled at the plant rate {plant_hz} Hz, got {motion.rate_hz}")
    n_ticks = len(motion.gyro_rad_s) // substeps
    if n_ticks < 10:
        raise ValueError("base motion shorter than 10 control steps")
    seeds = np.random.SeedSequence(seed).spawn(6)
    rng_plant, rng_imu, rng_enc, rng_ff, rng_acc, rng_cal = (np.random.default_rng(s) for s in seeds)
    trajectory = reconstruct_trajectory(motion)
    plant = GimbalPlant(cfg, trajectory, rng_plant)
    imu = ImuModel(cfg, n_ticks, cfg.loop_rate_hz, rng_imu)
    enc = EncoderModel(cfg, rng_enc)
    core = core or GimbalCore(cfg)
    core.set_imu_calibration(imu.gyro_calibration, imu.accel_calibration, imu.g_sensitivity_calibration)
    cogging_table = plant.cogging_calibration(rng_cal)
    core.set_cogging_calibration(cogging_table)
    ff = vehicle_rate_feed(trajectory, n_ticks, substeps, cfg, rng_ff)
    vehicle_acc = (vehicle_acceleration_feed(trajectory, n_ticks, cfg, rng_acc, latency_s=cfg.vehicle_acc_latency_s,
                                             smoothing_hz=cfg.vehicle_acc_smoothing_hz)
                   if use_vehicle_acceleration else None)
    acc_every = max(1, int(round(cfg.loop_rate_hz / 50.0)))
    aaf = FirstOrderLowPass3(cfg.imu_filter_hz, plant_hz, plant.imu_truth())
    latency = cfg.imu_latency_samples
    delay = [None] * (latency + 1)

    q_true = np.empty((n_ticks, 4)); q_cmd = np.empty((n_ticks, 4)); q_est = np.empty((n_ticks, 4))
    joints = np.empty((n_ticks, 3)); torques = np.empty((n_ticks, 3))
    sensors = np.empty((n_ticks, 12)) if record_sensors else None
    core_s = 0.0
    wall0 = time.perf_counter()
    plant_step, imu_truth, aaf_update = plant.step, plant.imu_truth, aaf.update
    enc_read, imu_sample, core_step = enc.read, imu.sample, core.step
    perf = time.perf_counter
    for k in range(n_ticks):
        for _ in range(substeps):
            plant_step()
            aaf_update(imu_truth())
        # sample-and-hold: the sample taken now reaches the core `latency` steps later
        delay[k % (latency + 1)] = imu_sample(k, *aaf.state)
        used = delay[(k - latency) % (latency + 1)] if k >= latency else delay[0]
        ja = plant.joint_angles()
        e1, e2, e3 = enc_read(0, ja[0]), enc_read(1, ja[1]), enc_read(2, ja[2])
        fx, fy, fz = ff[k]
        if vehicle_acc is not None and k % acc_every == 0:
            core.set_vehicle_acceleration(*vehicle_acc[k])
        c0 = perf()
        tau = core_step(used[0], used[1], used[2], used[3], used[4], used[5], e1, e2, e3, fx, fy, fz)
        core_s += perf() - c0
        plant.torque_cmd = tau
        plant.motors_enabled = core.motors_enabled
        q_true[k] = plant.camera_quat()
        q_cmd[k] = core.q_cmd
        q_est[k] = core.est.q
        joints[k] = ja
        torques[k] = tau
        if sensors is not None:
            sensors[k] = (*used, e1, e2, e3, fx, fy, fz)
    wall = time.perf_counter() - wall0
    model = {"plant": plant.model_parameters(), "imu": imu.parameters(), "encoder": enc.parameters(),
             "vehicle_rate_feed": {"rate_hz": cfg.vehicle_imu_rate_hz, "latency_s": cfg.vehicle_imu_latency_s,
                                   "noise": "ICM-42688-P white noise"},
             "vehicle_acceleration_feed": {"used": use_vehicle_acceleration, "rate_hz": 50.0,
                                           "latency_s": cfg.vehicle_acc_latency_s,
                                           "smoothing_hz": cfg.vehicle_acc_smoothing_hz, "noise_m_s2": 0.05},
             "loop_rate_hz": cfg.loop_rate_hz, "plant_rate_hz": plant_hz,
             "imu_calibration": {"gyro": imu.gyro_calibration, "accel": imu.accel_calibration,
                                 "g_sensitivity": imu.g_sensitivity_calibration},
             "cogging_calibration": cogging_table}
    return SimResult(cfg.loop_rate_hz, np.arange(n_ticks) / cfg.loop_rate_hz, q_true, q_cmd, q_est,
                     joints, torques, sensors, vehicle_acc if record_sensors else None, model, wall, core_s)

"""Sensor models (core: no rclpy).

Camera IMU: TDK InvenSense ICM-42688-P, datasheet DS-000347:
  gyro rate noise density 0.0028 dps/rtHz, sensitivity tolerance +/-0.5 %, cross-axis
  +/-1.25 %, full scale +/-15.6..2000 dps in 16 bit; accel noise 70 ug/rtHz, sensitivity
  tolerance +/-0.5 %, cross-axis +/-1 %, full scale +/-2..16 g in 16 bit; 1st-order UI filter.
  Not in the datasheet (ASSUMED, see config.py): bias instability, rate random walk,
  g-sensitivity (0.1 dps/g from the ICM-20602 datasheet, the nearest TDK part that lists it).
  Discrete white noise uses sigma = density * sqrt(sample rate) (PX4/Kalibr convention), which
  is sqrt(2) more than the one-sided density over the Nyquist band: pessimistic.
Joint encoders: ams AS5048A, 14 bit (0.022 deg), INL modelled as 1st + 2nd harmonics of
  the shaft angle (magnet eccentricity / tilt), amplitude the datasheet's INL.

Vectorised where the sample does not depend on the closed loop (noise, bias processes are
pre-generated for the whole run); the per-sample part is scalar math for speed.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import signal

from .base_motion import GRAVITY_M_S2
from .config import GimbalConfig

DEG = math.pi / 180.0


def _error_matrix(rng, scale_tol, cross_tol):
    """I + diag(scale) + off-diagonal cross-axis terms, uniform within the datasheet tolerance."""
    m = np.eye(3) + np.diag(rng.uniform(-scale_tol, scale_tol, 3))
    off = rng.uniform(-cross_tol, cross_tol, (3, 3))
    np.fill_diagonal(off, 0.0)
    return m + off


class ImuModel:
    """ICM-42688-P: per-sample corruption of the true camera rate / specific force."""

    def __init__(self, cfg: GimbalConfig, n_samples: int, rate_hz: float, rng: np.random.Generator):
        self.cfg = cfg
        self.rate_hz = rate_hz
        dt = 1.0 / rate_hz
        self.gyro_lsb = cfg.imu_gyro_fsr_dps * DEG / 32768.0
        self.accel_lsb = cfg.imu_accel_fsr_g * GRAVITY_M_S2 / 32768.0
        self.gyro_sigma = cfg.imu_gyro_noise_dps_rthz * DEG * math.sqrt(rate_hz)
        self.accel_sigma = cfg.imu_accel_noise_ug_rthz * 1e-6 * GRAVITY_M_S2 * math.sqrt(rate_hz)
        self.gyro_matrix = _error_matrix(rng, cfg.imu_gyro_scale_error, cfg.imu_gyro_cross_axis)
        self.accel_matrix = _error_matrix(rng, cfg.imu_accel_scale_error, cfg.imu_accel_cross_axis)
        g_sens = cfg.imu_gyro_g_sensitivity_dps_per_g * DEG / GRAVITY_M_S2   # rad/s per m/s^2
        self.g_sens_matrix = np.diag(rng.choice([-1.0, 1.0], 3) * g_sens)
        # Bias: residual constant + Gauss-Markov (bias instability, tau 100 s) + random walk.
        n = n_samples
        bias0 = rng.normal(0.0, cfg.imu_gyro_residual_bias_dps * DEG, 3)
        tau = 100.0
        bi = cfg.imu_gyro_bias_instability_dph * DEG / 3600.0
        a = math.exp(-dt / tau)
        gm = signal.lfilter([math.sqrt(1 - a * a) * bi], [1.0, -a], rng.normal(size=(n, 3)), axis=0)
        rrw = cfg.imu_gyro_rate_random_walk_dph_rth * DEG / 3600.0 / 60.0   # rad/s/sqrt(s)
        rw = np.cumsum(rng.normal(size=(n, 3)), axis=0) * (rrw * math.sqrt(dt))
        self.gyro_bias = bias0 + gm + rw
        self.accel_bias = rng.normal(0.0, cfg.imu_accel_residual_bias_mg * 1e-3 * GRAVITY_M_S2, 3)
        # Noise pre-generated; gyro bias folded in (it is additive before quantisation).
        self.gyro_add = (rng.normal(0.0, self.gyro_sigma, (n, 3)) + self.gyro_bias).tolist()
        self.accel_add = (rng.normal(0.0, self.accel_sigma, (n, 3)) + self.accel_bias).tolist()
        self.G = self.gyro_matrix.tolist()
        self.A = self.accel_matrix.tolist()
        self.S = [self.g_sens_matrix[i, i] for i in range(3)]
        self.clip_count = 0
        # Factory calibration the firmware applies: the inverse of the true error matrices up
        # to a residual of `imu_calibration_residual` (scale and cross-axis terms).
        res = cfg.imu_calibration_residual
        self.gyro_calibration = (np.linalg.inv(self.gyro_matrix) @ _error_matrix(rng, res, res)).tolist()
        self.accel_calibration = (np.linalg.inv(self.accel_matrix) @ _error_matrix(rng, res, res)).tolist()
        # g-sensitivity as identified at the factory (rad/s per m/s^2, diagonal), within
        # +/- imu_g_sensitivity_calibration_residual of the truth.
        gres = cfg.imu_g_sensitivity_calibration_residual
        self.g_sensitivity_calibration = [self.S[i] * (1.0 + gres * rng.uniform(-1.0, 1.0)) for i in range(3)]

    def sample(self, k, gx, gy, gz, ax, ay, az):
        """Returns the 16-bit-quantised, clipped (gyro rad/s, accel m/s^2) of sample k."""
        G, A, S = self.G, self.A, self.S
        ng = self.gyro_add[k]
        na = self.accel_add[k]
        mg = (G[0][0] * gx + G[0][1] * gy + G[0][2] * gz + S[0] * ax + ng[0],
              G[1][0] * gx + G[1][1] * gy + G[1][2] * gz + S[1] * ay + ng[1],
              G[2][0] * gx + G[2][1] * gy + G[2][2] * gz + S[2] * az + ng[2])
        ma = (A[0][0] * ax + A[0][1] * ay + A[0][2] * az + na[0],
              A[1][0] * ax + A[1][1] * ay + A[1][2] * az + na[1],
              A[2][0] * ax + A[2][1] * ay + A[2][2] * az + na[2])
        lg, la = self.gyro_lsb, self.accel_lsb
        out = []
        for value, lsb in ((mg[0], lg), (mg[1], lg), (mg[2], lg), (ma[0], la), (ma[1], la), (ma[2], la)):
            code = round(value / lsb)
            if code > 32767:
                code = 32767
                self.clip_count += 1
            elif code < -32768:
                code = -32768
                self.clip_count += 1
            out.append(code * lsb)
        return out

    def parameters(self) -> dict:
        cfg = self.cfg
        return {
            "part": "TDK InvenSense ICM-42688-P (DS-000347)",
            "gyro_noise_density_dps_rthz": cfg.imu_gyro_noise_dps_rthz,
            "gyro_noise_sigma_dps_per_sample": round(self.gyro_sigma / DEG, 6),
            "gyro_fsr_dps": cfg.imu_gyro_fsr_dps,
            "gyro_lsb_dps": round(self.gyro_lsb / DEG, 8),
            "adc_bits": 16,
            "gyro_bias_instability_dph": cfg.imu_gyro_bias_instability_dph,
            "gyro_rate_random_walk_dph_rth": cfg.imu_gyro_rate_random_walk_dph_rth,
            "gyro_residual_bias_dps": cfg.imu_gyro_residual_bias_dps,
            "gyro_scale_error": cfg.imu_gyro_scale_error,
            "gyro_cross_axis": cfg.imu_gyro_cross_axis,
            "calibration_residual": cfg.imu_calibration_residual,
            "gyro_g_sensitivity_dps_per_g": cfg.imu_gyro_g_sensitivity_dps_per_g,
            "g_sensitivity_calibration_residual": cfg.imu_g_sensitivity_calibration_residual,
            "accel_noise_ug_rthz": cfg.imu_accel_noise_ug_rthz,
            "accel_fsr_g": cfg.imu_accel_fsr_g,
            "accel_residual_bias_mg": cfg.imu_accel_residual_bias_mg,
            "ui_filter_hz": cfg.imu_filter_hz,
            "sample_rate_hz": self.rate_hz,
            "sample_and_hold": True,
            "latency_samples": cfg.imu_latency_samples,
            "clipped_samples": self.clip_count,
        }


class EncoderModel:
    """AS5048A: 14-bit absolute angle with harmonic INL; returns radians in (-pi, pi]."""

    def __init__(self, cfg: GimbalConfig, rng: np.random.Generator):
        self.bits = cfg.encoder_bits
        self.counts = 1 << cfg.encoder_bits
        self.lsb = 2.0 * math.pi / self.counts
        inl = cfg.encoder_inl_deg * DEG
        # split of the INL between 1st and 2nd harmonic, seeded per encoder
        self.h1 = [inl * rng.uniform(0.5, 1.0) for _ in range(3)]
        self.h2 = [inl * rng.uniform(0.0, 0.5) for _ in range(3)]
        self.p1 = [rng.uniform(0, 2 * math.pi) for _ in range(3)]
        self.p2 = [rng.uniform(0, 2 * math.pi) for _ in range(3)]
        self.inl_deg = cfg.encoder_inl_deg

    def read(self, j, angle):
        a = angle + self.h1[j] * math.sin(angle + self.p1[j]) + self.h2[j] * math.sin(2 * angle + self.p2[j])
        code = math.floor(a / self.lsb + 0.5)
        value = code * self.lsb
        # wrap to (-pi, pi] as the absolute sensor would (counts modulo 2^bits)
        if value > math.pi:
            value -= 2 * math.pi
        elif value <= -math.pi:
            value += 2 * math.pi
        return value

    def parameters(self) -> dict:
        return {"part": "ams AS5048A", "bits": self.bits, "lsb_deg": round(360.0 / self.counts, 6),
                "inl_deg": self.inl_deg}


class FirstOrderLowPass3:
    """The IMU's UI filter, run at the plant rate on the true signals (scalar, 6 channels)."""

    def __init__(self, cutoff_hz, rate_hz, initial):
        self.alpha = 1.0 - math.exp(-2.0 * math.pi * cutoff_hz / rate_hz)
        self.state = list(initial)

    def update(self, values):
        s, a = self.state, self.alpha
        for i in range(len(s)):
            s[i] += (values[i] - s[i]) * a
        return s

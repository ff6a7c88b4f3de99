"""Pointing-error figures (core: no rclpy).

Error = true inertial camera attitude vs commanded: rotation vector of q_cmd^* q_true in the
camera frame, degrees, per axis (roll x, pitch y, yaw z). Jitter = that error high-passed at
0.5 Hz (2nd-order Butterworth, zero phase), the sense of DJI's "angular vibration range";
the absolute (not high-passed) error is reported apart.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage, signal

AXES = ("roll", "pitch", "yaw")


def attitude_error_deg(q_true: np.ndarray, q_cmd: np.ndarray) -> np.ndarray:
    """(N, 3) rotation vector of q_cmd^{-1} q_true, degrees, camera frame."""
    cw, cx, cy, cz = q_cmd[:, 0], -q_cmd[:, 1], -q_cmd[:, 2], -q_cmd[:, 3]
    tw, tx, ty, tz = q_true.T
    w = cw * tw - cx * tx - cy * ty - cz * tz
    v = np.stack([cw * tx + cx * tw + cy * tz - cz * ty,
                  cw * ty - cx * tz + cy * tw + cz * tx,
                  cw * tz + cx * ty - cy * tx + cz * tw], axis=1)
    sign = np.where(w < 0, -1.0, 1.0)
    w = np.abs(w)
    v = v * sign[:, None]
    norm = np.linalg.norm(v, axis=1)
    angle = 2.0 * np.arctan2(norm, w)
    scale = np.where(norm > 1e-15, angle / np.maximum(norm, 1e-300), 2.0)
    return np.degrees(v * scale[:, None])


def highpass(error: np.ndarray, rate_hz: float, cutoff_hz: float = 0.5) -> np.ndarray:
    sos = signal.butter(2, cutoff_hz, btype="highpass", fs=rate_hz, output="sos")
    return signal.sosfiltfilt(sos, error, axis=0)


def _window_stats(x: np.ndarray, window: int) -> dict:
    """Worst window of `window` samples: largest rms and largest half peak-to-peak."""
    window = max(2, min(window, len(x)))
    csum = np.concatenate([[0.0], np.cumsum(x * x)])
    rms = np.sqrt(np.maximum(csum[window:] - csum[:-window], 0.0) / window)
    hi = ndimage.maximum_filter1d(x, window, mode="nearest")
    lo = ndimage.minimum_filter1d(x, window, mode="nearest")
    return {"rms_deg": float(rms.max()), "half_range_deg": float(0.5 * (hi - lo).max())}


def axis_stats(x: np.ndarray, rate_hz: float) -> dict:
    a = np.abs(x)
    return {
        "peak_deg": float(np.percentile(a, 99.7)),
        "rms_deg": float(math.sqrt(np.mean(x * x))),
        "max_deg": float(a.max()),
        "worst_window_1_30s": _window_stats(x, int(round(rate_hz / 30.0))),
        "worst_window_1s": _window_stats(x, int(round(rate_hz))),
    }


def jitter_report(q_true, q_cmd, rate_hz, warmup_s: float = 5.0, cutoff_hz: float = 0.5) -> dict:
    err = attitude_error_deg(q_true, q_cmd)
    jitter = highpass(err, rate_hz, cutoff_hz)
    start = int(round(warmup_s * rate_hz))
    if start >= len(err) - int(rate_hz):
        raise ValueError(f"run too short: {len(err) / rate_hz:.2f} s with {warmup_s} s warm-up excluded")
    jitter = jitter[start:]
    absolute = err[start:]
    per_axis = {name: axis_stats(jitter[:, i], rate_hz) for i, name in enumerate(AXES)}
    total = np.linalg.norm(jitter, axis=1)
    overall = axis_stats(total, rate_hz)
    overall["worst_axis_peak_deg"] = max(per_axis[a]["peak_deg"] for a in AXES)
    overall["worst_axis_rms_deg"] = max(per_axis[a]["rms_deg"] for a in AXES)
    tilt = np.hypot(absolute[:, 0], absolute[:, 1])
    return {
        "per_axis": per_axis,
        "overall": overall,
        "abs_level_error_deg": {"rms": float(math.sqrt(np.mean(tilt ** 2))), "max": float(tilt.max()),
                                "final": float(tilt[-1])},
        "abs_yaw_error_deg": {"rms": float(math.sqrt(np.mean(absolute[:, 2] ** 2))),
                              "max": float(np.abs(absolute[:, 2]).max())},
        "highpass_hz": cutoff_hz,
        "warmup_excluded_s": warmup_s,
        "samples": int(len(jitter)),
    }


def spectrum(x: np.ndarray, rate_hz: float):
    """Welch amplitude spectral density (deg/rtHz) per column."""
    nper = min(len(x), int(rate_hz * 4))
    f, p = signal.welch(x, fs=rate_hz, nperseg=nper, axis=0)
    return f, np.sqrt(p)

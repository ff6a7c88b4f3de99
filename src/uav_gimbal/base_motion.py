"""Airframe motion above the isolator: loading (CSV, PX4 ULog), resampling, a seeded synthetic
multirotor generator, and reconstruction of a consistent airframe trajectory (core: no rclpy).

Input convention: body rates (rad/s) and specific force (m/s^2) in the vehicle body frame,
FLU; at rest and level the specific force is (0, 0, +9.81).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy import signal

GRAVITY_M_S2 = 9.80665
CSV_COLUMNS = ("t", "wx", "wy", "wz", "ax", "ay", "az")
MAX_PLAUSIBLE_RATE_RAD_S = 40.0      # 2300 deg/s: beyond this the column is probably deg/s
MAX_PLAUSIBLE_ACCEL_M_S2 = 400.0     # ~40 g
MIN_DURATION_S = 1.0


class BaseMotionError(ValueError):
    """The base-motion input is unusable; the message names the file and what is wrong."""


@dataclass
class BaseMotion:
    """Body rates and specific force sampled uniformly at `rate_hz`, starting at t = 0."""
    rate_hz: float
    gyro_rad_s: np.ndarray     # (N, 3)
    accel_m_s2: np.ndarray     # (N, 3)
    source: str

    @property
    def duration_s(self) -> float:
        return len(self.gyro_rad_s) / self.rate_hz


# --------------------------------------------------------------------------------------- loaders
def _validate_samples(t, gyro, accel, name: str) -> None:
    if len(t) < 2:
        raise BaseMotionError(f"{name}: needs at least 2 samples, got {len(t)}")
    for label, values in (("t", t[:, None]), ("rates", gyro), ("specific force", accel)):
        bad = ~np.isfinite(values).all(axis=1)
        if bad.any():
            raise BaseMotionError(f"{name}: non-finite {label} in sample {int(np.argmax(bad))} (t index)")
    dt = np.diff(t)
    if (dt <= 0).any():
        i = int(np.argmax(dt <= 0))
        raise BaseMotionError(f"{name}: time does not increase at sample {i + 1} "
                              f"(t={t[i + 1]:.6f} s after t={t[i]:.6f} s)")
    if t[-1] - t[0] < MIN_DURATION_S:
        raise BaseMotionError(f"{name}: only {t[-1] - t[0]:.3f} s of data; need at least {MIN_DURATION_S} s")
    if np.abs(gyro).max() > MAX_PLAUSIBLE_RATE_RAD_S:
        raise BaseMotionError(f"{name}: body rate {np.abs(gyro).max():.1f} exceeds {MAX_PLAUSIBLE_RATE_RAD_S} rad/s; "
                              "rates must be rad/s (deg/s given?)")
    if np.abs(accel).max() > MAX_PLAUSIBLE_ACCEL_M_S2:
        raise BaseMotionError(f"{name}: specific force {np.abs(accel).max():.1f} m/s^2 is implausible; units must be m/s^2")
    mean_norm = float(np.linalg.norm(accel, axis=1).mean())
    if not 0.3 * GRAVITY_M_S2 < mean_norm < 3.0 * GRAVITY_M_S2:
        raise BaseMotionError(f"{name}: mean |specific force| {mean_norm:.2f} m/s^2 is not ~g: columns ax,ay,az "
                              "must be specific force in m/s^2 (not g, not gravity-removed)")


def load_csv(path) -> tuple:
    """Reads `t,wx,wy,wz,ax,ay,az` (header required, '#' comment lines allowed).
    Returns (t_s, gyro_rad_s, accel_m_s2) as float arrays."""
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise BaseMotionError(f"{name}: file not found")
    header = None
    rows = []
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for line_no, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            fields = [f.strip() for f in line.split(",")]
            if header is None:
                header = [f.lower() for f in fields]
                missing = [c for c in CSV_COLUMNS if c not in header]
                if missing:
                    raise BaseMotionError(f"{name}:{line_no}: header must name columns {','.join(CSV_COLUMNS)}; "
                                          f"missing {','.join(missing)} (got {line!r})")
                index = [header.index(c) for c in CSV_COLUMNS]
                continue
            if len(fields) != len(header):
                raise BaseMotionError(f"{name}:{line_no}: expected {len(header)} fields, got {len(fields)}")
            try:
                rows.append([float(fields[i]) for i in index])
            except ValueError:
                raise BaseMotionError(f"{name}:{line_no}: not a number in {line!r}") from None
    if header is None:
        raise BaseMotionError(f"{name}: empty (no header line {','.join(CSV_COLUMNS)})")
    if not rows:
        raise BaseMotionError(f"{name}: header but no data rows")
    data = np.asarray(rows, dtype=float)
    t, gyro, accel = data[:, 0], data[:, 1:4], data[:, 4:7]
    _validate_samples(t, gyro, accel, name)
    return t - t[0], gyro, accel


def load_ulog(path) -> tuple:
    """PX4 ULog `sensor_combined` (body FRD) -> (t_s, gyro, accel) in FLU."""
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise BaseMotionError(f"{name}: file not found")
    try:
        from pyulog import ULog
    except ImportError:  # pragma: no cover - dependency listed in setup
        raise BaseMotionError(f"{name}: reading ULog needs the 'pyulog' package") from None
    try:
        ulog = ULog(str(path), ["sensor_combined"])
    except Exception as error:  # pyulog raises bare Exceptions / struct errors on corrupt files
        raise BaseMotionError(f"{name}: not a readable ULog file ({type(error).__name__}: {error})") from None
    datasets = [d for d in ulog.data_list if d.name == "sensor_combined"]
    if not datasets:
        raise BaseMotionError(f"{name}: no 'sensor_combined' topic in the log")
    d = datasets[0].data
    need = ["timestamp"] + [f"gyro_rad[{i}]" for i in range(3)] + [f"accelerometer_m_s2[{i}]" for i in range(3)]
    missing = [k for k in need if k not in d]
    if missing:
        raise BaseMotionError(f"{name}: sensor_combined lacks fields {', '.join(missing)}")
    t = np.asarray(d["timestamp"], dtype=float) * 1e-6
    frd_to_flu = np.array([1.0, -1.0, -1.0])
    gyro = np.stack([np.asarray(d[f"gyro_rad[{i}]"], dtype=float) for i in range(3)], axis=1) * frd_to_flu
    accel = np.stack([np.asarray(d[f"accelerometer_m_s2[{i}]"], dtype=float) for i in range(3)], axis=1) * frd_to_flu
    # PX4 logs may repeat a timestamp when the FIFO is re-read; drop exact duplicates only.
    if len(t) > 1:
        keep = np.concatenate([[True], np.diff(t) != 0.0])
        t, gyro, accel = t[keep], gyro[keep], accel[keep]
    _validate_samples(t, gyro, accel, name)
    return t - t[0], gyro, accel


def load_file(path) -> tuple:
    suffix = Path(path).suffix.lower()
    if suffix == ".ulg":
        return load_ulog(path)
    return load_csv(path)


# ------------------------------------------------------------------------------------ resampling
def resample_uniform(t, gyro, accel, rate_hz: float, name: str = "input") -> BaseMotion:
    """Band-limited resampling to `rate_hz`.

    Irregular stamps are first put on a uniform grid at the median rate (linear interpolation,
    fine at the native rate), then a polyphase FIR (scipy resample_poly, Kaiser window) changes
    the rate, so no imaging above the native Nyquist frequency is invented and nothing aliases
    when decimating.
    """
    t = np.asarray(t, float)
    dt = np.diff(t)
    native_hz = 1.0 / float(np.median(dt))
    n_native = int(math.floor((t[-1] - t[0]) * native_hz)) + 1
    grid = t[0] + np.arange(n_native) / native_hz
    if np.max(np.abs(dt * native_hz - 1.0)) > 1e-3:
        gyro = np.stack([np.interp(grid, t, gyro[:, i]) for i in range(3)], axis=1)
        accel = np.stack([np.interp(grid, t, accel[:, i]) for i in range(3)], axis=1)
    ratio = Fraction(rate_hz / native_hz).limit_denominator(1000)
    if ratio == 1:
        return BaseMotion(rate_hz, np.ascontiguousarray(gyro), np.ascontiguousarray(accel), name)
    up, down = ratio.numerator, ratio.denominator
    gyro_r = signal.resample_poly(gyro, up, down, axis=0, padtype="line")
    accel_r = signal.resample_poly(accel, up, down, axis=0, padtype="line")
    return BaseMotion(rate_hz, np.ascontiguousarray(gyro_r), np.ascontiguousarray(accel_r),
                      f"{name} ({native_hz:.1f} Hz -> {rate_hz:.0f} Hz, polyphase {up}/{down})")


def load_base_motion(path, rate_hz: float, seconds=None) -> BaseMotion:
    t, gyro, accel = load_file(path)
    if seconds is not None:
        keep = t <= seconds + 1e-9
        t, gyro, accel = t[keep], gyro[keep], accel[keep]
        _validate_samples(t, gyro, accel, str(path))
    return resample_uniform(t, gyro, accel, rate_hz, name=str(path))


# ------------------------------------------------------------------------------- synthetic input
def synthetic_multirotor(seconds: float, rate_hz: float, seed: int) -> BaseMotion:
    """Seeded multirotor flight: low-frequency manoeuvres + turbulence + rotor vibration.

    Rotor vibration: 4 rotors whose speed wanders with throttle around 40-75 rev/s (8-9 inch
    2-blade props of a 1-2 kg camera quad). Each rotor contributes its 1/rev imbalance line,
    the blade-pass line (2/rev) and its 2nd harmonic, all kept within 50-300 Hz, on both the
    specific force (m/s^2) and the body rates, with seeded directions and phases. Amplitudes
    are those of an unisolated flight-controller IMU on a healthy camera quad (a few m/s^2 at
    blade pass, PX4's 'acceptable' vibration level), plus broadband airframe noise.
    """
    if not (seconds > 0 and math.isfinite(seconds)):
        raise BaseMotionError(f"synthetic: seconds must be positive, got {seconds}")
    # Independent streams per component, so that --seconds does not change the rotors / manoeuvres.
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]
    rng = streams[0]
    n = int(round(seconds * rate_hz))
    dt = 1.0 / rate_hz
    t = np.arange(n) * dt

    # Manoeuvres: roll/pitch as sums of slow random sinusoids (+-10 deg), yaw turns.
    def slow(amplitude, f_lo, f_hi, k=4):
        out = np.zeros(n)
        for _ in range(k):
            f = rng.uniform(f_lo, f_hi)
            out += rng.normal() * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        return amplitude * out / math.sqrt(k)
    roll = slow(math.radians(8.0), 0.05, 0.6)
    pitch = slow(math.radians(8.0), 0.05, 0.6)
    yaw_rate = slow(math.radians(20.0), 0.02, 0.2)
    # Euler (ZYX) rates -> body rates: p = phi' - psi' sin(th); q = th' cos(phi) + psi' cos(th) sin(phi); r = ...
    droll, dpitch = np.gradient(roll, dt), np.gradient(pitch, dt)
    sp, cp, st, ct = np.sin(roll), np.cos(roll), np.sin(pitch), np.cos(pitch)
    gyro = np.stack([droll - yaw_rate * st,
                     dpitch * cp + yaw_rate * ct * sp,
                     -dpitch * sp + yaw_rate * ct * cp], axis=1)
    # Thrust along body z keeps the vehicle aloft: specific force ~ (drag, drag, g/(cos cos)).
    throttle = 1.0 + slow(0.06, 0.1, 1.0)
    accel = np.stack([slow(0.3, 0.05, 0.5), slow(0.3, 0.05, 0.5),
                      GRAVITY_M_S2 * throttle / np.clip(cp * ct, 0.5, None)], axis=1)

    # Turbulence: band-limited body-rate noise 0.5-8 Hz.
    rng = streams[1]
    sos = signal.butter(2, [0.5, 8.0], btype="bandpass", fs=rate_hz, output="sos")
    gyro += signal.sosfilt(sos, rng.normal(size=(n, 3)), axis=0) * (0.08 / math.sqrt(2 * 7.5 / rate_hz))

    # Rotor vibration lines.
    rng = streams[2]
    for _rotor in range(4):
        f_rev0 = rng.uniform(40.0, 75.0)
        f_rev = f_rev0 * np.sqrt(throttle)          # thrust ~ speed^2
        phase = 2 * np.pi * np.cumsum(f_rev) * dt
        for harmonic, accel_amp, rate_amp in ((1, 0.8, 0.02), (2, 2.0, 0.05), (4, 0.8, 0.02)):
            if not (50.0 <= harmonic * f_rev0 <= 300.0):
                continue
            wave = np.sin(harmonic * phase + rng.uniform(0, 2 * np.pi))
            a_dir = rng.normal(size=3); a_dir /= np.linalg.norm(a_dir)
            w_dir = rng.normal(size=3); w_dir /= np.linalg.norm(w_dir)
            accel += np.outer(wave * accel_amp * rng.uniform(0.7, 1.3), a_dir)
            gyro += np.outer(wave * rate_amp * rng.uniform(0.7, 1.3), w_dir)
    # Broadband airframe noise (structure + sensor) up to 400 Hz.
    rng = streams[3]
    sos = signal.butter(2, min(400.0, 0.45 * rate_hz), fs=rate_hz, output="sos")
    accel += signal.sosfilt(sos, rng.normal(size=(n, 3)), axis=0) * 0.5
    gyro += signal.sosfilt(sos, rng.normal(size=(n, 3)), axis=0) * 0.01
    return BaseMotion(rate_hz, np.ascontiguousarray(gyro), np.ascontiguousarray(accel),
                      f"synthetic multirotor (seed {seed})")


# ------------------------------------------------------------------------ trajectory reconstruction
def quat_mul(a, b):
    """Hamilton product of (..., 4) arrays, w first."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def quat_rotate(q, v):
    """Rotates (..., 3) vectors by (..., 4) unit quaternions."""
    w = q[..., :1]
    u = q[..., 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


@dataclass
class AirframeTrajectory:
    """World (ENU) pose and velocity of the airframe at the plant rate."""
    rate_hz: float
    quat_wxyz: np.ndarray    # (N, 4) body -> world
    omega_body: np.ndarray   # (N, 3) rad/s
    pos_m: np.ndarray        # (N, 3)
    vel_m_s: np.ndarray      # (N, 3)


def reconstruct_trajectory(motion: BaseMotion, tilt_time_constant_s: float = 20.0,
                           drift_highpass_hz: float = 0.02) -> AirframeTrajectory:
    """Integrates rates into an attitude and specific force into a world trajectory.

    The attitude starts level with the mean specific force of the first 0.5 s (gravity
    alignment) and gets a weak tilt correction toward the specific-force direction (time
    constant `tilt_time_constant_s`), so that a real log's gyro bias does not tilt the world.
    World acceleration a = R f + g is high-passed at `drift_highpass_hz` before integrating to
    velocity/position: the isolator sees only relative motion; this keeps the numbers bounded.
    """
    n = len(motion.gyro_rad_s)
    dt = 1.0 / motion.rate_hz
    f0 = motion.accel_m_s2[: max(1, int(0.5 * motion.rate_hz))].mean(axis=0)
    # Initial attitude: roll/pitch from gravity direction, yaw 0.
    roll0 = math.atan2(f0[1], f0[2])
    pitch0 = math.atan2(-f0[0], math.hypot(f0[1], f0[2]))
    q = _euler_zyx_to_quat(0.0, pitch0, roll0)
    quats = np.empty((n, 4))
    omega = np.empty((n, 3))
    k_tilt = 1.0 / tilt_time_constant_s
    gyro = motion.gyro_rad_s
    acc = motion.accel_m_s2
    for i in range(n):
        quats[i] = q
        wx, wy, wz = gyro[i]
        # tilt correction: rotate toward the measured "up" (specific force direction)
        fx, fy, fz = acc[i]
        norm = math.sqrt(fx * fx + fy * fy + fz * fz)
        if norm > 1e-6 and abs(norm - GRAVITY_M_S2) < 0.3 * GRAVITY_M_S2:
            qw, qx, qy, qz = q
            # world up expressed in body: R^T e_z
            ux = 2 * (qx * qz - qw * qy)
            uy = 2 * (qy * qz + qw * qx)
            uz = qw * qw - qx * qx - qy * qy + qz * qz
            fx, fy, fz = fx / norm, fy / norm, fz / norm
            wx += k_tilt * (fy * uz - fz * uy)
            wy += k_tilt * (fz * ux - fx * uz)
            wz += k_tilt * (fx * uy - fy * ux)
        # the airframe's actual body rate includes the correction: the plant's isolator and the
        # vehicle-rate feed must use these, or the airframe's attitude and rates disagree
        omega[i] = (wx, wy, wz)
        q = _quat_integrate(q, wx, wy, wz, dt)
    a_world = quat_rotate(quats, acc) - np.array([0.0, 0.0, GRAVITY_M_S2])
    sos = signal.butter(2, drift_highpass_hz, btype="highpass", fs=motion.rate_hz, output="sos")
    a_world = signal.sosfilt(sos, a_world, axis=0)
    vel = np.cumsum(a_world, axis=0) * dt
    vel = signal.sosfilt(sos, vel, axis=0)
    pos = np.cumsum(vel, axis=0) * dt
    return AirframeTrajectory(motion.rate_hz, quats, omega, pos, vel)


def _euler_zyx_to_quat(yaw, pitch, roll):
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    return (cr * cp * cy + sr * sp * sy, sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy, cr * cp * sy - sr * sp * cy)


def _quat_integrate(q, wx, wy, wz, dt):
    """q <- q * exp(omega dt / 2) with omega in the body frame (exact for constant omega)."""
    angle = math.sqrt(wx * wx + wy * wy + wz * wz) * dt
    if angle < 1e-12:
        return q
    half = 0.5 * angle
    s = math.sin(half) / (angle / dt)
    dw, dx, dy, dz = math.cos(half), wx * s, wy * s, wz * s
    qw, qx, qy, qz = q
    return (qw * dw - qx * dx - qy * dy - qz * dz,
            qw * dx + qx * dw + qy * dz - qz * dy,
            qw * dy - qx * dz + qy * dw + qz * dx,
            qw * dz + qx * dy - qy * dx + qz * dw)


class OnlineAirframe:
    """Streaming version of `reconstruct_trajectory` for the node: integrates each vehicle IMU
    sample (held between samples) into attitude, and leaky-integrates specific force into the
    isolator attachment point's velocity/position (the isolator only sees relative motion)."""

    def __init__(self, mount_offset_m, tilt_time_constant_s: float = 20.0, leak_time_constant_s: float = 5.0):
        self.q = (1.0, 0.0, 0.0, 0.0)
        self.vel = np.zeros(3)
        self.pos = np.zeros(3)
        self.mount = np.asarray(mount_offset_m, float)
        self.k_tilt = 1.0 / tilt_time_constant_s
        self.leak = 1.0 / leak_time_constant_s
        self.aligned = False

    def step(self, gyro, accel, dt):
        if not self.aligned:
            f = np.asarray(accel, float)
            roll = math.atan2(f[1], f[2])
            pitch = math.atan2(-f[0], math.hypot(f[1], f[2]))
            self.q = _euler_zyx_to_quat(0.0, pitch, roll)
            self.aligned = True
        wx, wy, wz = gyro
        fx, fy, fz = accel
        norm = math.sqrt(fx * fx + fy * fy + fz * fz)
        if norm > 1e-6 and abs(norm - GRAVITY_M_S2) < 0.3 * GRAVITY_M_S2:
            qw, qx, qy, qz = self.q
            ux = 2 * (qx * qz - qw * qy)
            uy = 2 * (qy * qz + qw * qx)
            uz = qw * qw - qx * qx - qy * qy + qz * qz
            nx, ny, nz = fx / norm, fy / norm, fz / norm
            wx += self.k_tilt * (ny * uz - nz * uy)
            wy += self.k_tilt * (nz * ux - nx * uz)
            wz += self.k_tilt * (nx * uy - ny * ux)
        self.q = _quat_integrate(self.q, wx, wy, wz, dt)
        q = np.asarray(self.q)
        a_world = quat_rotate(q, np.asarray(accel, float)) - np.array([0.0, 0.0, GRAVITY_M_S2])
        self.vel += (a_world - self.leak * self.vel) * dt
        self.pos += (self.vel - self.leak * self.pos) * dt
        attach_pos = self.pos + quat_rotate(q, self.mount)
        attach_vel = self.vel + quat_rotate(q, np.cross(np.asarray(gyro, float), self.mount))
        return self.q, attach_pos, attach_vel, gyro


def estimate_gyro_bias(motion: BaseMotion, rate_hz: float = 200.0, kp: float = 1.0, ki: float = 0.05):
    """Constant gyro bias of a logged IMU (rad/s, body frame).

    Real logs carry their sensor's bias (EuRoC MH_01's ADIS16448: ~0.077 rad/s on one axis, the
    value in the dataset's own ground truth); integrated as airframe motion it would 'roll' the
    vehicle by degrees per second. A Mahony filter with bias learning is run over the record at
    `rate_hz`, and the mean of its bias estimate over the second half is returned. Only the axes
    that gravity makes observable are meaningful; the component along the mean vertical is set
    to zero (a yaw-rate offset is indistinguishable from slow turning).
    """
    step = max(1, int(round(motion.rate_hz / rate_hz)))
    gyro = motion.gyro_rad_s[::step]
    acc = motion.accel_m_s2[::step]
    dt = step / motion.rate_hz
    f0 = acc[: max(1, int(0.5 / dt))].mean(axis=0)
    roll0 = math.atan2(f0[1], f0[2])
    pitch0 = math.atan2(-f0[0], math.hypot(f0[1], f0[2]))
    q = _euler_zyx_to_quat(0.0, pitch0, roll0)
    b = np.zeros(3)
    history = np.empty((len(gyro), 3))
    for i in range(len(gyro)):
        fx, fy, fz = acc[i]
        norm = math.sqrt(fx * fx + fy * fy + fz * fz)
        wx, wy, wz = gyro[i] - b
        if norm > 1e-6 and abs(norm - GRAVITY_M_S2) < 0.3 * GRAVITY_M_S2:
            qw, qx, qy, qz = q
            ux = 2 * (qx * qz - qw * qy)
            uy = 2 * (qy * qz + qw * qx)
            uz = qw * qw - qx * qx - qy * qy + qz * qz
            nx, ny, nz = fx / norm, fy / norm, fz / norm
            e = np.array([ny * uz - nz * uy, nz * ux - nx * uz, nx * uy - ny * ux])
            b -= ki * dt * e
            wx, wy, wz = wx + kp * e[0], wy + kp * e[1], wz + kp * e[2]
        q = _quat_integrate(q, wx, wy, wz, dt)
        history[i] = b
    bias = history[len(history) // 2:].mean(axis=0)
    up = acc.mean(axis=0)
    up = up / np.linalg.norm(up)
    return bias - up * float(np.dot(bias, up))


def remove_gyro_bias(motion: BaseMotion):
    """(motion with the estimated constant gyro bias removed, bias rad/s)."""
    bias = estimate_gyro_bias(motion)
    return BaseMotion(motion.rate_hz, motion.gyro_rad_s - bias, motion.accel_m_s2, motion.source), bias

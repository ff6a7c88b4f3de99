"""Gimbal jitter bench: `python -m skyroad.uav_gimbal.bench --base-motion FILE|synthetic
[--seconds S] [--seed N] [--json]` prints one JSON object (figures + the models actually used).

Jitter figures follow the issue: per axis and overall peak_deg (99.7th percentile of
|error|), rms_deg, max_deg, worst 1/30 s and 1 s windows; error = true camera attitude vs
commanded, high-passed at 0.5 Hz; absolute level error apart. steps_per_s is the cost of the
core loop (estimator + controller, no plant) replayed on the run's own sensor samples,
median of repeats.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from skyroad.common.params import ParameterConfigError

from .base_motion import BaseMotionError, load_base_motion, remove_gyro_bias, synthetic_multirotor
from .config import GimbalConfig, default_config_path, load_yaml_config
from .controller import GimbalCore
from .metrics import jitter_report
from .sim import run_closed_loop

PEAK_LIMIT_DEG = 0.005
RMS_LIMIT_DEG = 0.0017


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-motion", required=True,
                        help="CSV (t,wx,wy,wz,ax,ay,az; '#' comments), PX4 .ulg, or 'synthetic'")
    parser.add_argument("--seconds", type=float, default=60.0, help="flight seconds to simulate (default 60)")
    parser.add_argument("--seed", type=int, default=1, help="seed of sensors, plant spread and synthetic input")
    parser.add_argument("--config", default=None, help="gimbal YAML (default config/gimbal.yaml if present)")
    parser.add_argument("--mode", default=None, help="override the gimbal mode")
    parser.add_argument("--estimator", default=None, help="override the estimator (mahony, mekf)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override any gimbal parameter (YAML syntax for the value)")
    parser.add_argument("--json", action="store_true", help="print the JSON object (default: also a summary)")
    parser.add_argument("--save", default=None, help="write the error time series (.npz) for gimbal_plot")


def load_config(args) -> GimbalConfig:
    import yaml
    overrides = {}
    for item in args.set:
        if "=" not in item:
            raise ParameterConfigError(f"--set {item!r}: expected NAME=VALUE")
        name, value = item.split("=", 1)
        overrides[name.strip()] = yaml.safe_load(value)
    if args.mode:
        overrides["mode"] = args.mode
    if args.estimator:
        overrides["estimator"] = args.estimator
    path = Path(args.config) if args.config else default_config_path()
    if args.config or path.is_file():
        return load_yaml_config(path, overrides)
    return GimbalConfig(overrides)


def measure_core_steps_per_s(cfg: GimbalConfig, sensors, calibration=None, repeats: int = 3,
                             steps: int = 20000) -> dict:
    """Median steps/s of GimbalCore.step over recorded samples (estimator + controller)."""
    steps = min(steps, len(sensors))
    rows = [tuple(float(v) for v in row) for row in sensors[:steps]]
    rates = []
    for _ in range(repeats):
        core = GimbalCore(cfg)
        if calibration is not None:
            core.set_imu_calibration(calibration["gyro"], calibration["accel"], calibration["g_sensitivity"])
            core.set_cogging_calibration(calibration["cogging"])
        step = core.step
        t0 = time.perf_counter()
        for r in rows:
            step(*r)
        rates.append(steps / (time.perf_counter() - t0))
    return {"steps_per_s": statistics.median(rates), "repeats": repeats, "steps": steps,
            "all_steps_per_s": [round(r) for r in rates]}


def run_bench(args) -> dict:
    cfg = load_config(args)
    if not (args.seconds > 0 and math.isfinite(args.seconds)):
        raise BaseMotionError(f"--seconds must be positive, got {args.seconds}")
    plant_hz = cfg.loop_rate_hz * cfg.plant_substeps
    t0 = time.perf_counter()
    if args.base_motion == "synthetic":
        motion = synthetic_multirotor(args.seconds, plant_hz, args.seed)
        input_bias = None
    else:
        motion = load_base_motion(args.base_motion, plant_hz, args.seconds)
        # A real log carries its IMU's bias; as airframe motion it would tilt the vehicle by
        # degrees per second (EuRoC MH_01: ~4 deg/s on one axis). Synthetic motion is bias-free.
        motion, input_bias = remove_gyro_bias(motion)
    result = run_closed_loop(cfg, motion, args.seed, record_sensors=True)
    report = jitter_report(result.q_true, result.q_cmd, cfg.loop_rate_hz)
    cost = measure_core_steps_per_s(cfg, result.sensors, {**result.model["imu_calibration"],
                                                           "cogging": result.model["cogging_calibration"]})
    wall = time.perf_counter() - t0
    per_axis_ok = all(report["per_axis"][a]["peak_deg"] <= PEAK_LIMIT_DEG and
                      report["per_axis"][a]["rms_deg"] <= RMS_LIMIT_DEG for a in report["per_axis"])
    try:
        from importlib.metadata import version
        pyulog_version = version("pyulog")
    except Exception:  # pragma: no cover - not installed
        pyulog_version = None
    out = {
        "bench": "uav_gimbal",
        "input": motion.source,
        "input_gyro_bias_removed_dps": (None if input_bias is None else
                                        [round(float(v) * 180.0 / math.pi, 4) for v in input_bias]),
        "seconds": round(motion.duration_s, 3),
        "seed": args.seed,
        "mode": cfg.mode,
        "estimator": cfg.estimator,
        "loop_hz": cfg.loop_rate_hz,
        "steps_per_s": round(cost["steps_per_s"]),
        "steps_per_s_detail": cost,
        "core_steps_per_s_in_closed_loop": round(len(result.t_s) / max(result.core_s, 1e-9)),
        "per_axis": report["per_axis"],
        "overall": report["overall"],
        "abs_level_error_deg": report["abs_level_error_deg"],
        "abs_yaw_error_deg": report["abs_yaw_error_deg"],
        "highpass_hz": report["highpass_hz"],
        "warmup_excluded_s": report["warmup_excluded_s"],
        "acceptance": {"peak_limit_deg": PEAK_LIMIT_DEG, "rms_limit_deg": RMS_LIMIT_DEG,
                       "every_axis_within": per_axis_ok},
        "model": result.model,
        "controller": {k: cfg.as_dict()[k] for k in (
            "angle_kp", "rate_kp", "rate_ki", "reference_gain", "base_ff_gain", "base_ff_lpf_hz",
            "mahony_kp", "mahony_ki", "setpoint_rate_hz")},
        "wall_s": round(wall, 2),
        "sim_wall_s": round(result.wall_s, 2),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpu_count": os.cpu_count()},
        "pyulog_version": pyulog_version,
    }
    if args.save:
        import numpy as np
        np.savez_compressed(args.save, t_s=result.t_s, q_true=result.q_true, q_cmd=result.q_cmd,
                            q_est=result.q_est, rate_hz=cfg.loop_rate_hz, source=motion.source)
    return out


def run(args) -> int:
    try:
        out = run_bench(args)
    except (BaseMotionError, ParameterConfigError, ValueError) as error:
        print(f"gimbal bench: {error}", file=sys.stderr)
        return 2
    print(json.dumps(out, indent=None if args.json else 2, sort_keys=False))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skyroad.uav_gimbal.bench", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

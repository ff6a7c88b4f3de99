"""Every tunable of the gimbal (plant, sensors, estimator, controller, node) as one tuple of
`ParamSpec` with validated ranges (core: no rclpy).

The same specs serve `config/gimbal.yaml` (`gimbal_node: ros__parameters:`), the ROS node
(`GimbalNode.PARAMS`) and the bench, so the bench runs exactly what the node would run.
Each sensor/actuator default names its datasheet; values that a datasheet does not give are
marked ASSUMED with the reason.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from skyroad.common.params import ParamSpec, ParameterConfigError, validate_all
from skyroad.common.paths import share_path

NODE_NAME = "gimbal_node"
MODES = ("follow", "lock", "yaw_lock", "roi", "neutral", "retract")
JOINT_ORDERS = ("zxy", "zyx", "xzy", "xyz", "yxz", "yzx")
ESTIMATORS = ("mahony", "mekf")
GYRO_FSR_DPS = (15.625, 31.25, 62.5, 125.0, 250.0, 500.0, 1000.0, 2000.0)  # ICM-42688-P GYRO_FS_SEL
ACCEL_FSR_G = (2.0, 4.0, 8.0, 16.0)                                          # ICM-42688-P ACCEL_FS_SEL

P = ParamSpec
GIMBAL_PARAMS = (
    # ---- loop and modes --------------------------------------------------------------------
    P("loop_rate_hz", 2000.0, "estimator + controller rate (the gimbal MCU loop)", min=500.0, max=8000.0, unit="Hz"),
    P("plant_substeps", 2, "plant integration steps per control step (simulation only)", min=1, max=8),
    P("setpoint_rate_hz", 200.0, "mode / setpoint / joint-limit logic rate", min=20.0, max=1000.0, unit="Hz"),
    P("mode", "follow", "gimbal mode (MAVLink gimbal v2 semantics, see README)", choices=MODES),
    P("joint_order", "zxy", "joint axes outer to inner in base frame (yaw-roll-pitch = zxy)", choices=JOINT_ORDERS),
    P("joint_min_deg", [-170.0, -45.0, -35.0], "lower joint limits, outer to inner", length=3, min=-360.0, max=360.0, unit="deg"),
    P("joint_max_deg", [170.0, 45.0, 100.0], "upper joint limits, outer to inner", length=3, min=-360.0, max=360.0, unit="deg"),
    P("joint_limit_margin_deg", 3.0, "setpoints are clamped this far inside the limits", min=0.0, max=30.0, unit="deg"),
    P("retract_pose_deg", [0.0, 0.0, 90.0], "joint angles of the stowed pose (motors off once reached)", length=3, min=-360.0, max=360.0, unit="deg"),
    P("setpoint_deg", [0.0, 0.0, 0.0], "roll, pitch, yaw setpoint (pitch + = down, FLU; yaw relative to vehicle in follow)", length=3, min=-360.0, max=360.0, unit="deg"),
    # ---- controller ---------------------------------------------------------------------------
    P("angle_kp", 150.0, "attitude loop gain (rate setpoint per attitude error)", min=0.0, max=400.0, unit="1/s"),
    P("rate_kp", 700.0, "rate loop proportional gain (angular accel per rate error)", min=0.0, max=3000.0, unit="1/s"),
    P("rate_ki", 100000.0, "rate loop integral gain", min=0.0, max=400000.0, unit="1/s^2"),
    P("rate_integral_limit", 20000.0, "rate loop integrator clamp", min=0.0, max=1e5, unit="rad/s^2"),
    P("reference_gain", 2.0, "setpoint reference model gain (smooth slews)", min=0.05, max=50.0, unit="1/s"),
    P("max_slew_rate_dps", 90.0, "largest commanded camera rate", min=1.0, max=720.0, unit="deg/s"),
    P("follow_time_constant_s", 1.0, "low-pass of the vehicle heading that yaw follows", min=0.01, max=30.0, unit="s"),
    P("base_ff_gain", 1.0, "feed-forward of vehicle (base) rates: friction/cable compensation of the expected joint rates", min=0.0, max=1.5),
    P("base_ff_lpf_hz", 40.0, "low-pass on the vehicle rate used for feed-forward", min=1.0, max=500.0, unit="Hz"),
    P("friction_comp_smoothing_rad_s", 0.05, "tanh velocity scale of the Coulomb feed-forward", min=1e-4, max=5.0, unit="rad/s"),
    P("joint_limit_stiffness", 0.5, "torque per rad past (limit - margin) pushing back inside", min=0.0, max=50.0, unit="N m/rad"),
    # ---- estimator ----------------------------------------------------------------------------
    P("estimator", "mahony", "attitude estimator", choices=ESTIMATORS),
    P("mahony_kp", 0.02, "accelerometer (tilt) correction gain", min=0.0, max=10.0, unit="rad/s"),
    P("mahony_ki", 0.0005, "gyro bias learning gain", min=0.0, max=1.0, unit="rad/s^2"),
    P("heading_kp", 0.05, "heading correction gain when a vehicle heading is available", min=0.0, max=10.0, unit="rad/s"),
    P("estimator_align_s", 2.0, "start-up levelling time with the fast alignment gain", min=0.0, max=60.0, unit="s"),
    P("estimator_align_kp", 2.0, "tilt correction gain during start-up levelling", min=0.0, max=50.0, unit="rad/s"),
    P("estimator_align_ki", 0.0, "gyro-bias learning gain during start-up levelling", min=0.0, max=50.0, unit="rad/s^2"),
    P("bias_observer", True, "learn the camera gyro bias from camera gyro - R_cb * vehicle gyro - joint rates (encoders)"),
    P("bias_observer_window_s", 2.0, "averaging window of the kinematic bias observer", min=0.1, max=60.0, unit="s"),
    P("bias_observer_end_error_deg", 0.1, "1-sigma of the bounded angle error of the kinematic integral (encoder INL 0.05 deg, isolator deflection, feed latency x rate); sets the observer's weighting", min=0.001, max=10.0, unit="deg"),
    P("bias_drift_backcorrection", False, "when the bias estimate improves, also remove the attitude drift the earlier (worse) estimate integrated (fixed-lag re-attribution, applied slowly); off: neutral on synthetic seeds, worse on the EuRoC flight (README)"),
    P("bias_backcorrection_time_s", 10.0, "time constant over which that attitude correction is applied (slow: far below the 0.5 Hz jitter band)", min=0.5, max=600.0, unit="s"),
    P("bias_observer_memory_s", 300.0, "forgetting horizon of the bias observer (bias instability / temperature drift time scale)", min=10.0, max=36000.0, unit="s"),
    P("accel_lpf_hz", 2.0, "low-pass of the accelerometer used for tilt correction", min=0.01, max=500.0, unit="Hz"),
    P("accel_gate_frac", 0.08, "tilt correction only while | |a| - g | < frac * g", min=0.0, max=1.0),
    # ---- IMU on the camera: TDK InvenSense ICM-42688-P, datasheet DS-000347 rev 1.x ------------------
    P("imu_gyro_fsr_dps", 500.0, "gyro full scale (GYRO_FS_SEL), 16-bit output", min=15.625, max=2000.0, unit="deg/s"),
    P("imu_gyro_noise_dps_rthz", 0.0028, "gyro rate noise density (DS-000347 tbl 1, 0.0028 dps/rtHz)", min=0.0, max=1.0, unit="deg/s/rtHz"),
    P("imu_gyro_bias_instability_dph", 5.0, "ASSUMED (not in DS-000347): in-run bias instability, Allan floor of ICM-4268x-class parts", min=0.0, max=1000.0, unit="deg/h"),
    P("imu_gyro_rate_random_walk_dph_rth", 2.0, "ASSUMED: bias random walk", min=0.0, max=1000.0, unit="deg/h/rth"),
    P("imu_gyro_residual_bias_dps", 0.02, "1-sigma bias left after power-up gyro calibration (ZRO tol. +/-0.5 dps, TC +/-0.005 dps/C)", min=0.0, max=10.0, unit="deg/s"),
    P("imu_gyro_scale_error", 0.005, "sensitivity tolerance (DS-000347: +/-0.5 %), drawn per axis", min=0.0, max=0.2),
    P("imu_gyro_cross_axis", 0.0125, "cross-axis sensitivity incl. package misalignment (DS-000347: +/-1.25 %)", min=0.0, max=0.2),
    P("imu_calibration_residual", 0.001, "ASSUMED: scale/cross-axis error left after the factory calibration the firmware applies", min=0.0, max=0.2),
    P("imu_gyro_g_sensitivity_dps_per_g", 0.1, "linear-acceleration sensitivity; not in DS-000347, ICM-20602 DS value used", min=0.0, max=10.0, unit="deg/s/g"),
    P("imu_g_sensitivity_calibration_residual", 0.2, "ASSUMED: fraction of the g-sensitivity left after the factory calibration the firmware applies", min=0.0, max=1.0),
    P("imu_filter_hz", 500.0, "UI filter (1st order, ODR/4) bandwidth", min=10.0, max=4000.0, unit="Hz"),
    P("imu_latency_samples", 1, "samples between the IMU sampling instant and the controller using it", min=0, max=8),
    P("imu_accel_fsr_g", 8.0, "accelerometer full scale (ACCEL_FS_SEL), 16-bit output", min=2.0, max=16.0, unit="g"),
    P("imu_accel_noise_ug_rthz", 70.0, "accelerometer noise density (DS-000347: 70 ug/rtHz)", min=0.0, max=10000.0, unit="ug/rtHz"),
    P("imu_accel_residual_bias_mg", 2.0, "1-sigma accel offset left after factory calibration (raw: +/-20 mg)", min=0.0, max=200.0, unit="mg"),
    P("imu_accel_scale_error", 0.005, "accel sensitivity tolerance (DS-000347: +/-0.5 %)", min=0.0, max=0.2),
    P("imu_accel_cross_axis", 0.01, "accel cross-axis sensitivity (DS-000347: +/-1 %)", min=0.0, max=0.2),
    # ---- joint encoders: ams AS5048A, datasheet v1-15 ------------------------------------------
    P("encoder_bits", 14, "encoder resolution (AS5048A: 14 bit, 0.0219 deg)", min=8, max=20),
    P("encoder_inl_deg", 0.05, "integral nonlinearity amplitude, optimal magnet alignment (AS5048A INL_opt)", min=0.0, max=5.0, unit="deg"),
    # ---- motors: iPower GM2804H-100T class gimbal BLDC, FOC driven ------------------------------
    P("motor_pole_pairs", 7, "pole pairs (12N14P stator)", min=1, max=30),
    P("motor_slots", 12, "stator slots (cogging period = lcm(slots, poles))", min=3, max=72),
    P("motor_kt_nm_per_a", 0.043, "torque constant (0.03 N m stall at 12 V / 10 ohm per the GM2804 spec)", min=1e-4, max=5.0, unit="N m/A"),
    P("motor_phase_resistance_ohm", 10.0, "phase resistance (GM2804H-100T spec ~10 ohm)", min=0.01, max=100.0, unit="ohm"),
    P("motor_supply_v", 12.0, "bus voltage; SVPWM phase limit = V/sqrt(3)", min=1.0, max=60.0, unit="V"),
    P("motor_current_limit_a", 0.6, "FOC current limit", min=0.01, max=20.0, unit="A"),
    P("motor_current_loop_hz", 1500.0, "FOC current loop bandwidth (20 kHz PWM)", min=50.0, max=10000.0, unit="Hz"),
    P("motor_cogging_nm", 0.001, "cogging torque amplitude, periodic in electrical angle", min=0.0, max=0.1, unit="N m"),
    P("imbalance_ff", True, "cancel the arms' static-moment torque (CAD m*r) x measured specific force"),
    P("anticogging", True, "compensate cogging from the encoder angle with the calibrated map (ODrive-style anticogging)"),
    P("anticogging_residual", 0.2, "ASSUMED: amplitude error of the calibrated cogging map (phase error comes from encoder INL)", min=0.0, max=1.0),
    P("motor_torque_ripple", 0.01, "6th-harmonic FOC torque ripple, fraction of torque", min=0.0, max=0.5),
    P("motor_rotor_inertia_kg_m2", 2.5e-6, "rotor (bell) inertia", min=0.0, max=1e-3, unit="kg m^2"),
    P("friction_coulomb_nm", 5.0e-5, "bearing Coulomb friction per joint: SKF model M = 0.5 mu P d (mu 0.0015, P 2.5 N, d 7 mm) = 1.3e-5 N m, x4 for grease/shield/cable rub", min=0.0, max=0.1, unit="N m"),
    P("friction_viscous_nms", 2.0e-5, "ASSUMED viscous friction per joint", min=0.0, max=0.01, unit="N m s/rad"),
    P("friction_presliding_rad", 5.0e-4, "Dahl pre-sliding displacement (rest stiffness = coulomb / this)", min=1e-6, max=0.1, unit="rad"),
    P("cable_stiffness_nm_per_rad", 0.005, "flex cable through the hollow shafts", min=0.0, max=1.0, unit="N m/rad"),
    P("plant_variation", 0.2, "per-unit spread of friction/cogging/cable (the controller knows nominal values only)", min=0.0, max=0.9),
    # ---- payload and arms (small 1-inch-sensor camera class) --------------------------------------
    P("camera_mass_kg", 0.09, "camera (pitch link) mass", min=0.005, max=5.0, unit="kg"),
    P("camera_size_m", [0.045, 0.040, 0.040], "camera box size for inertia (x, y, z)", length=3, min=0.005, max=0.5, unit="m"),
    P("camera_com_offset_m", [0.0005, 0.0, -0.0005], "residual imbalance: camera CoM from the axes' intersection", length=3, min=-0.02, max=0.02, unit="m"),
    P("outer_arm_com_m", [-0.004, 0.0, 0.02], "outer arm (+ middle motor stator) CoM from the axes' intersection", length=3, min=-0.2, max=0.2, unit="m"),
    P("middle_arm_com_m", [-0.008, 0.0, 0.0], "middle arm (+ inner motor stator) CoM from the axes' intersection", length=3, min=-0.2, max=0.2, unit="m"),
    P("arm_masses_kg", [0.08, 0.05, 0.045], "base plate, outer arm, middle arm masses", length=3, min=0.001, max=5.0, unit="kg"),
    P("mount_offset_m", [0.08, 0.0, -0.04], "gimbal base from the vehicle IMU, vehicle body frame", length=3, min=-2.0, max=2.0, unit="m"),
    # ---- isolator: 4 silicone damper balls between airframe and gimbal base ------------------------
    P("isolator_balls", 4, "damper balls (square pattern)", min=3, max=8),
    P("isolator_spacing_m", 0.05, "side of the square the balls sit on", min=0.005, max=0.5, unit="m"),
    P("isolator_shear_stiffness_n_per_m", 700.0, "per-ball shear stiffness (design value: 16 Hz lateral mode, see README)", min=1.0, max=1e6, unit="N/m"),
    P("isolator_axial_stiffness_n_per_m", 1400.0, "per-ball axial stiffness (compression ~2x shear for a solid ball)", min=1.0, max=1e6, unit="N/m"),
    P("isolator_loss_factor", 0.2, "silicone rubber loss factor (Snowdon, NBS Handbook 128, 1979: 0.1-0.3)", min=0.0, max=2.0),
    # ---- vehicle IMU feed-forward path ---------------------------------------------------------
    P("vehicle_acc_latency_s", 0.02, "latency of the autopilot's acceleration / velocity estimate (MAVLink v_estimated_delay_us)", min=0.0, max=0.5, unit="s"),
    P("vehicle_acc_smoothing_hz", 5.0, "bandwidth of the autopilot's acceleration estimate", min=0.5, max=100.0, unit="Hz"),
    P("vehicle_imu_rate_hz", 1000.0, "rate at which vehicle body rates reach the gimbal", min=10.0, max=8000.0, unit="Hz"),
    P("vehicle_gyro_bias_dps", 0.005, "ASSUMED (simulation): residual bias of the vehicle rates the autopilot sends (its EKF's gyro-bias estimate)", min=0.0, max=1.0, unit="deg/s"),
    P("vehicle_imu_latency_s", 0.002, "transport latency of vehicle rates (bus + driver)", min=0.0, max=0.2, unit="s"),
    # ---- node --------------------------------------------------------------------------------
    P("publish_rate_hz", 50.0, "gimbal/attitude and gimbal/joint_states rate", min=1.0, max=500.0, unit="Hz"),
    P("imu_timeout_s", 0.1, "vehicle IMU silence before holding the last attitude", min=0.005, max=5.0, unit="s"),
    P("odom_timeout_s", 0.5, "localization/odom silence before ROI/lock fall back", min=0.01, max=10.0, unit="s"),
    P("jitter_window_s", 2.0, "window of the live jitter statistics on /diagnostics", min=0.1, max=60.0, unit="s"),
    P("seed", 1, "seed of the in-node plant/sensor simulation", min=0, max=2**31 - 1),
)
del P

PARAM_NAMES = tuple(spec.name for spec in GIMBAL_PARAMS)


class GimbalConfig:
    """Validated parameter values with attribute access (`cfg.loop_rate_hz`)."""

    def __init__(self, values: Optional[Mapping[str, Any]] = None, source: str = NODE_NAME):
        checked = validate_all(source, GIMBAL_PARAMS, dict(values or {}))
        reason = check_cross_rules(checked)
        if reason:
            raise ParameterConfigError(f"{source}: {reason}")
        object.__setattr__(self, "_values", checked)

    def __getattr__(self, name: str):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no gimbal parameter named {name!r}") from None

    def __setattr__(self, name, value):
        raise AttributeError("GimbalConfig is immutable; use replace()")

    def replace(self, **changes) -> "GimbalConfig":
        return GimbalConfig({**self._values, **changes})

    def as_dict(self) -> Dict[str, Any]:
        return dict(self._values)


def check_cross_rules(values: Mapping[str, Any]) -> Optional[str]:
    """Rules that involve several parameters; returns the reason to reject or None."""
    lo, hi = values["joint_min_deg"], values["joint_max_deg"]
    margin = values["joint_limit_margin_deg"]
    for i in range(3):
        if hi[i] - lo[i] <= 2.0 * margin:
            return (f"joint {i}: joint_max_deg ({hi[i]}) must exceed joint_min_deg ({lo[i]}) "
                    f"by more than 2 x joint_limit_margin_deg ({margin})")
    if not any(abs(values["imu_gyro_fsr_dps"] - f) < 1e-9 for f in GYRO_FSR_DPS):
        return f"imu_gyro_fsr_dps {values['imu_gyro_fsr_dps']} is not an ICM-42688-P range {GYRO_FSR_DPS}"
    if not any(abs(values["imu_accel_fsr_g"] - f) < 1e-9 for f in ACCEL_FSR_G):
        return f"imu_accel_fsr_g {values['imu_accel_fsr_g']} is not an ICM-42688-P range {ACCEL_FSR_G}"
    if values["setpoint_rate_hz"] > values["loop_rate_hz"]:
        return "setpoint_rate_hz must not exceed loop_rate_hz"
    # The rate loop must stay well inside the Nyquist band of the loop rate with 1-2 samples
    # of latency; beyond ~ loop_rate/4 rad/s the discrete loop has no phase margin left.
    if values["rate_kp"] > values["loop_rate_hz"] / 2.0:
        return (f"rate_kp {values['rate_kp']} 1/s is above loop_rate_hz/2 = {values['loop_rate_hz'] / 2.0}: "
                "the discrete rate loop would be unstable")
    return None


def load_yaml_config(path, overrides: Optional[Mapping[str, Any]] = None) -> GimbalConfig:
    """Reads `gimbal_node: ros__parameters:` from a ROS parameter YAML file."""
    import yaml
    path = Path(path)
    if not path.is_file():
        raise ParameterConfigError(f"gimbal config {path}: file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ParameterConfigError(f"gimbal config {path}: not valid YAML: {error}") from None
    section = None
    if isinstance(data, dict):
        for key, value in data.items():
            if key.strip("/").split("/")[-1] == NODE_NAME and isinstance(value, dict):
                section = value.get("ros__parameters")
    if not isinstance(section, dict):
        raise ParameterConfigError(f"gimbal config {path}: no '{NODE_NAME}: ros__parameters:' section")
    return GimbalConfig({**section, **dict(overrides or {})}, source=f"{NODE_NAME} ({path})")


def default_config_path() -> Path:
    return share_path("config", "gimbal.yaml")


def deg(x: float) -> float:
    return x * 180.0 / math.pi


def render_yaml() -> str:
    """config/gimbal.yaml text from the specs (defaults, descriptions, ranges)."""
    def fmt(x):
        if isinstance(x, bool):
            return "true" if x else "false"
        if isinstance(x, int):
            return repr(x)
        text = repr(float(x))
        if "e" in text:
            mantissa, exponent = text.split("e")
            text = (mantissa if "." in mantissa else mantissa + ".0") + "e" + exponent
        return text
    lines = ["# gimbal_node parameters (skyroad.uav_gimbal), generated from src/uav_gimbal/config.py",
             "# (config.render_yaml). Every value is validated against those ranges; an out-of-range value",
             "# stops the node with a message naming the parameter. Sensor defaults are datasheet values",
             "# (ICM-42688-P DS-000347, AS5048A); ASSUMED marks values a datasheet does not give.",
             f"{NODE_NAME}:", "  ros__parameters:"]
    for spec in GIMBAL_PARAMS:
        limits = []
        if spec.min is not None:
            limits.append(f"min {spec.min:g}")
        if spec.max is not None:
            limits.append(f"max {spec.max:g}")
        if spec.choices:
            limits.append("one of " + "/".join(spec.choices))
        unit = f" [{spec.unit}]" if spec.unit else ""
        value = spec.default
        if isinstance(value, str):
            text = value
        elif isinstance(value, (list, tuple)):
            text = "[" + ", ".join(fmt(v) for v in value) + "]"
        else:
            text = fmt(value)
        lines.append(f"    # {spec.description}{unit}" + (f" ({', '.join(limits)})" if limits else ""))
        lines.append(f"    {spec.name}: {text}")
    return "\n".join(lines) + "\n"

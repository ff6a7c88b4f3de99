"""uav_gimbal core: sensor models, plant vs analytic, loaders, estimator, modes, limits, bench."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import transforms3d as t3d

from skyroad.common.params import ParameterConfigError
from skyroad.uav_gimbal import bench
from skyroad.uav_gimbal.base_motion import (GRAVITY_M_S2, AirframeTrajectory, BaseMotion, BaseMotionError,
                                            load_csv, load_ulog, resample_uniform, synthetic_multirotor)
from skyroad.uav_gimbal.config import GimbalConfig, default_config_path, load_yaml_config
from skyroad.uav_gimbal.controller import GimbalCore, GimbalInputError, chain_matrix, euler_zyx_matrix, roi_angles
from skyroad.uav_gimbal.metrics import attitude_error_deg
from skyroad.uav_gimbal.plant import GimbalPlant
from skyroad.uav_gimbal.sensors import EncoderModel, ImuModel
from skyroad.uav_gimbal.sim import run_closed_loop

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "flight_imu" / "euroc_mh01_flight_part1.csv"
DEG = math.pi / 180


def hover(seconds, rate_hz):
    n = int(seconds * rate_hz)
    return BaseMotion(rate_hz, np.zeros((n, 3)), np.tile([0.0, 0.0, GRAVITY_M_S2], (n, 1)), "hover")


def euler_of(q):
    yaw, pitch, roll = t3d.euler.mat2euler(t3d.quaternions.quat2mat(q), "rzyx")
    return roll / DEG, pitch / DEG, yaw / DEG


# ------------------------------------------------------------------------------- configuration
def test_yaml_matches_defaults_and_bad_values_are_named():
    assert load_yaml_config(default_config_path()).as_dict() == GimbalConfig().as_dict()
    with pytest.raises(ParameterConfigError, match="rate_kp.*below the minimum"):
        GimbalConfig({"rate_kp": -1.0})
    with pytest.raises(ParameterConfigError, match="angle_kp.*not a finite"):
        GimbalConfig({"angle_kp": float("nan")})
    with pytest.raises(ParameterConfigError, match="rate_kp.*unstable"):
        GimbalConfig({"rate_kp": 2000.0})
    with pytest.raises(ParameterConfigError, match="imu_gyro_fsr_dps"):
        GimbalConfig({"imu_gyro_fsr_dps": 300.0})
    with pytest.raises(ParameterConfigError, match="unknown parameter"):
        GimbalConfig({"rate_kpp": 1.0})


# ------------------------------------------------------------------------------- sensors
def test_icm42688_noise_quantisation_and_clipping():
    cfg = GimbalConfig()
    fs = cfg.loop_rate_hz
    imu = ImuModel(cfg, 20000, fs, np.random.default_rng(3))
    samples = np.array([imu.sample(k, 0.0, 0.0, 0.0, 0.0, 0.0, GRAVITY_M_S2) for k in range(20000)])
    gyro = samples[:, :3]
    expected = 0.0028 * DEG * math.sqrt(fs)          # DS-000347 density, sigma = ND sqrt(fs)
    assert np.allclose((gyro - gyro.mean(0)).std(0), expected, rtol=0.05)
    lsb = 500.0 * DEG / 32768
    codes = gyro / lsb
    assert np.allclose(codes, np.round(codes), atol=1e-6)          # 16-bit quantised
    clipped = imu.sample(0, 20.0, 0.0, 0.0, 0.0, 0.0, GRAVITY_M_S2)  # 1146 dps > 500 dps FSR
    assert clipped[0] == pytest.approx(32767 * lsb) and imu.clip_count >= 1
    # g-sensitivity: 1 g along x shifts the x gyro by 0.1 dps (sign seeded)
    a = np.array([imu.sample(k, 0, 0, 0, GRAVITY_M_S2, 0, 0)[0] for k in range(2000)])
    b = np.array([imu.sample(k, 0, 0, 0, 0.0, 0, 0)[0] for k in range(2000)])
    assert abs(abs((a - b).mean()) / DEG - 0.1) < 0.02


def test_as5048a_encoder_resolution_and_inl():
    cfg = GimbalConfig()
    enc = EncoderModel(cfg, np.random.default_rng(1))
    angles = np.linspace(-3.0, 3.0, 5001)
    read = np.array([enc.read(0, a) for a in angles])
    lsb = 2 * math.pi / 2 ** 14
    assert np.allclose(read / lsb, np.round(read / lsb), atol=1e-9)
    err = np.abs(read - angles) / DEG
    assert err.max() <= 0.05 * 1.5 + 360 / 2 ** 14 and err.max() > 0.02   # INL present, bounded


# ------------------------------------------------------------------------------- plant
def test_camera_rigid_body_rotation_matches_analytic_case():
    """Balanced camera, loss-free joint, airframe still: a pitch-motor torque tau from rest gives
    the camera an inertial rate omega = (integral of tau) / I_yy about its pitch axis (tau = I alpha
    of a rigid body about a principal axis through its CoM), whatever the base and outer links do."""
    cfg = GimbalConfig({"friction_coulomb_nm": 0.0, "friction_viscous_nms": 0.0, "cable_stiffness_nm_per_rad": 0.0,
                        "motor_cogging_nm": 0.0, "motor_torque_ripple": 0.0, "motor_rotor_inertia_kg_m2": 0.0,
                        "camera_com_offset_m": [0.0, 0.0, 0.0], "plant_variation": 0.0})
    rate = 4000.0
    n = int(0.03 * rate)
    traj = AirframeTrajectory(rate, np.tile([1.0, 0, 0, 0], (n, 1)), np.zeros((n, 3)), np.zeros((n, 3)), np.zeros((n, 3)))
    plant = GimbalPlant(cfg, traj, np.random.default_rng(0))
    plant.torque_cmd = (0.0, 0.0, 1e-3)
    impulse = 0.0
    for _ in range(n):
        impulse += cfg.motor_kt_nm_per_a * plant.current[2] / rate
        plant.step()
    plant._mj.mj_forward(plant.model, plant.data)
    gyro_y = plant.imu_truth()[1]
    x, y, z = cfg.camera_size_m
    i_yy = cfg.camera_mass_kg * (x * x + z * z) / 12
    assert gyro_y == pytest.approx(impulse / i_yy, rel=0.01)
    assert impulse / i_yy > 0.5          # a real motion: ~0.7 rad/s
    # isolator damping: viscous c = eta k / omega_n gives zeta = eta / 2 in every mode
    m = float(plant.model.body_subtreemass[plant.base_id])
    k, c = plant.isolator.k_trans[2], plant.isolator.c_trans[2]
    assert c / (2 * math.sqrt(k * m)) == pytest.approx(cfg.isolator_loss_factor / 2, rel=1e-9)


# ------------------------------------------------------------------------------- loaders
def test_csv_loader_comments_and_bad_inputs(tmp_path):
    good = tmp_path / "ok.csv"
    rows = "\n".join(f"{i * 0.005:.3f},0.01,0,0,0,0,9.81" for i in range(400))
    good.write_text("# comment\n# another\nt,wx,wy,wz,ax,ay,az\n" + rows + "\n")
    t, g, a = load_csv(good)
    assert len(t) == 400 and a[0, 2] == pytest.approx(9.81)
    cases = {
        "empty.csv": ("", "empty"),
        "header.csv": ("t,wx,wy,wz,ax,ay,az\n", "no data rows"),
        "cols.csv": ("t,wx,wy\n0,1,2\n", "missing"),
        "text.csv": ("t,wx,wy,wz,ax,ay,az\n0,a,0,0,0,0,9.8\n", r":2: not a number"),
        "nan.csv": ("t,wx,wy,wz,ax,ay,az\n" + rows.replace(",0.01,", ",nan,", 1) + "\n", "non-finite"),
        "back.csv": ("t,wx,wy,wz,ax,ay,az\n" + rows + "\n1.0,0,0,0,0,0,9.81\n", "does not increase"),
        "degs.csv": ("t,wx,wy,wz,ax,ay,az\n" + rows.replace(",0.01,", ",90.0,") + "\n", "deg/s"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(BaseMotionError, match=message):
            load_csv(path)
    with pytest.raises(BaseMotionError, match="not found"):
        load_csv(tmp_path / "missing.csv")


def test_ulog_bad_files_give_clear_errors(tmp_path):
    junk = tmp_path / "junk.ulg"
    junk.write_bytes(b"not a ulog at all" * 10)
    with pytest.raises(BaseMotionError, match="junk.ulg"):
        load_ulog(junk)
    empty = tmp_path / "empty.ulg"
    empty.write_bytes(b"")
    with pytest.raises(BaseMotionError, match="empty.ulg"):
        load_ulog(empty)


def test_resampling_is_band_limited():
    fs = 200.0
    t = np.arange(0, 4, 1 / fs)
    tone = np.sin(2 * np.pi * 30 * t)
    g = np.stack([tone, 0 * t, 0 * t], axis=1)
    a = np.tile([0, 0, 9.81], (len(t), 1))
    m = resample_uniform(t, g, a, 4000.0)
    assert m.rate_hz == 4000.0
    tt = np.arange(len(m.gyro_rad_s)) / 4000.0
    mid = slice(4000, 12000)
    assert np.abs(m.gyro_rad_s[mid, 0] - np.sin(2 * np.pi * 30 * tt[mid])).max() < 0.01


def test_synthetic_generator_is_seeded_and_has_blade_pass_lines():
    a = synthetic_multirotor(4.0, 4000.0, 7)
    b = synthetic_multirotor(4.0, 4000.0, 7)
    c = synthetic_multirotor(4.0, 4000.0, 8)
    assert np.array_equal(a.accel_m_s2, b.accel_m_s2) and not np.array_equal(a.accel_m_s2, c.accel_m_s2)
    spec = np.abs(np.fft.rfft(a.accel_m_s2[:, 0] - a.accel_m_s2[:, 0].mean()))
    f = np.fft.rfftfreq(len(a.accel_m_s2), 1 / 4000.0)
    band = (f >= 50) & (f <= 300)
    assert spec[band].max() > 10 * np.median(spec[(f > 400) & (f < 1000)])


# ------------------------------------------------------------------------------- estimator / core
def test_estimator_converges_from_wrong_start_and_core_holds_on_nan():
    cfg = GimbalConfig()
    core = GimbalCore(cfg)
    tilt = (0.3 * 9.80665 * math.sin(0.2), 0.0, 9.80665 * math.cos(0.2))
    core.step(0, 0, 0, 0.5, 0.5, 9.7, 0, 0, 0, 0, 0, 0)           # poor first sample
    for _ in range(int(2.0 * cfg.loop_rate_hz)):
        core.step(0, 0, 0, -9.80665 * math.sin(0.2), 0, 9.80665 * math.cos(0.2), 0, 0, 0, 0, 0, 0)
    roll, pitch, _ = euler_of(core.attitude())
    # 2 s of fast alignment from a 4 deg-off first sample leaves < 10 % of it
    assert pitch == pytest.approx(0.2 / DEG, abs=0.4) and abs(roll) < 0.4
    tau = core.step(float("nan"), 0, 0, 0, 0, 9.8, 0, 0, 0, 0, 0, 0)
    assert all(math.isfinite(v) for v in tau) and core.invalid_samples == 1
    with pytest.raises(GimbalInputError, match="unknown gimbal mode"):
        core.set_mode("orbit")
    with pytest.raises(GimbalInputError, match="NaN"):
        core.set_angles_deg(float("nan"), 0, 0)
    with pytest.raises(GimbalInputError, match="max_slew_rate_dps"):
        core.set_rates_dps(0, 1000.0, 0)


def test_roi_geometry_points_camera_axis_at_target():
    cam = np.array([1.0, 2.0, 30.0])
    roi = np.array([41.0, -28.0, 0.0])
    pitch, yaw = roi_angles(cam, roi)
    r = euler_zyx_matrix(0.0, pitch, yaw)
    x_axis = r @ np.array([1.0, 0, 0])
    direction = (roi - cam) / np.linalg.norm(roi - cam)
    assert np.allclose(x_axis, direction, atol=1e-12)
    assert pitch > 0      # target below: pitch + = down (FLU)
    with pytest.raises(GimbalInputError):
        roi_angles(cam, cam)


def _closed_loop(seconds, **params):
    cfg = GimbalConfig({"reference_gain": 8.0, **params})
    motion = hover(seconds, cfg.loop_rate_hz * cfg.plant_substeps)
    core = GimbalCore(cfg)
    return cfg, core, motion


@pytest.mark.parametrize("mode,setpoint,expect", [
    ("lock", (0.0, 30.0, 0.0), (0.0, 30.0, 0.0)),
    ("follow", (5.0, -10.0, 20.0), (5.0, -10.0, 20.0)),
    ("yaw_lock", (0.0, 15.0, -25.0), (0.0, 15.0, -25.0)),
])
def test_step_response_in_each_mode(mode, setpoint, expect):
    cfg, core, motion = _closed_loop(3.0, mode=mode, setpoint_deg=list(setpoint))
    result = run_closed_loop(cfg, motion, seed=2, core=core)
    roll, pitch, yaw = euler_of(result.q_true[-1])
    # yaw is gyro-integrated (no heading reference here): allow the residual-bias drift
    assert (roll, pitch) == pytest.approx(expect[:2], abs=0.3) and yaw == pytest.approx(expect[2], abs=0.6)
    # settled and still: last 0.5 s of true attitude varies < 0.01 deg
    err = attitude_error_deg(result.q_true[-1000:], result.q_cmd[-1000:])
    # friction stick-slip hunting at a perfectly still hover (no vibration dither) stays small
    assert np.abs(err - err.mean(0)).max() < 0.06


def test_joint_limits_clamp_setpoint_and_retract_and_neutral_poses():
    cfg, core, motion = _closed_loop(3.0, mode="lock", setpoint_deg=[0.0, 170.0, 0.0])
    result = run_closed_loop(cfg, motion, seed=3, core=core)
    pitch_joint = result.joints_rad[:, 2] / DEG
    assert pitch_joint.max() <= cfg.joint_max_deg[2] + 0.5
    assert pitch_joint[-1] == pytest.approx(cfg.joint_max_deg[2] - cfg.joint_limit_margin_deg, abs=1.0)
    assert core.clamped
    cfg, core, motion = _closed_loop(4.0, mode="retract")
    result = run_closed_loop(cfg, motion, seed=4, core=core)
    assert result.joints_rad[-1, 2] / DEG == pytest.approx(cfg.retract_pose_deg[2], abs=1.0)
    cfg, core, motion = _closed_loop(3.0, mode="neutral")
    result = run_closed_loop(cfg, motion, seed=5, core=core)
    assert np.abs(result.joints_rad[-1] / DEG).max() < 0.5


# ------------------------------------------------------------------------------- bench
def _bench(argv):
    parser = __import__("argparse").ArgumentParser()
    bench.add_arguments(parser)
    return bench.run_bench(parser.parse_args(argv))


def test_bench_reports_datasheet_models_and_nothing_switched_off():
    out = _bench(["--base-motion", "synthetic", "--seconds", "8", "--seed", "3", "--json"])
    json.dumps(out)
    imu = out["model"]["imu"]
    assert imu["gyro_noise_density_dps_rthz"] == 0.0028
    assert imu["adc_bits"] == 16 and imu["gyro_lsb_dps"] == pytest.approx(500 / 32768, rel=1e-6)
    assert imu["latency_samples"] == 1 and imu["sample_and_hold"] is True
    assert imu["gyro_g_sensitivity_dps_per_g"] > 0 and imu["gyro_bias_instability_dph"] > 0
    assert imu["gyro_scale_error"] == 0.005 and imu["gyro_cross_axis"] == 0.0125
    assert out["model"]["encoder"]["bits"] == 14 and out["model"]["encoder"]["inl_deg"] == 0.05
    assert out["loop_hz"] >= 2000
    plant = out["model"]["plant"]
    assert min(plant["friction"]["coulomb_nm"]) > 0 and min(plant["motor"]["cogging_nm"]) > 0
    assert min(plant["cable_stiffness_nm_per_rad"]) > 0
    assert plant["isolator"]["loss_factor"] > 0 and "Snowdon" in plant["isolator"]["source"]
    for axis in ("roll", "pitch", "yaw"):
        stats = out["per_axis"][axis]
        assert 0 < stats["rms_deg"] <= stats["peak_deg"] <= stats["max_deg"]
    assert out["steps_per_s"] > 0 and "abs_level_error_deg" in out


def test_bench_bad_inputs_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("t,wx,wy,wz,ax,ay,az\n")
    assert bench.main(["--base-motion", str(bad), "--json"]) == 2
    assert "no data rows" in capsys.readouterr().err
    assert bench.main(["--base-motion", "synthetic", "--set", "rate_kp=-5"]) == 2
    assert "rate_kp" in capsys.readouterr().err


@pytest.mark.skipif(not DATA.is_file(), reason=f"real flight data folder absent ({DATA})")
def test_bench_runs_on_real_euroc_flight():
    out = _bench(["--base-motion", str(DATA), "--seconds", "12", "--seed", "1"])
    assert "200.0 Hz -> 4000 Hz" in out["input"]
    # the log's own gyro bias (ADIS16448, ~4 deg/s about one axis) is found and removed
    assert max(abs(v) for v in out["input_gyro_bias_removed_dps"]) > 1.0
    # first 12 s of the real flight, 7 s measured: looser than the 60 s acceptance run (README)
    # because the 0.5 Hz high-pass has end effects on so short a record
    for axis in ("roll", "pitch", "yaw"):
        assert out["per_axis"][axis]["rms_deg"] <= 0.0025
        assert out["per_axis"][axis]["peak_deg"] <= 0.008


def test_roi_mode_points_the_true_camera_at_the_target():
    cfg, core, motion = _closed_loop(3.0, mode="roi")
    core.set_vehicle_pose((0.0, 0.0, 30.0), 0.0)
    core.set_roi((30.0, 10.0, 0.0))
    result = run_closed_loop(cfg, motion, seed=6, core=core)
    camera = np.array([0.0, 0.0, 30.0]) + np.asarray(cfg.mount_offset_m)
    pitch, yaw = roi_angles(camera, (30.0, 10.0, 0.0))
    roll_t, pitch_t, yaw_t = euler_of(result.q_true[-1])
    # absolute pointing: includes the level error of the 2 mg accel bias and the gyro bias
    assert pitch_t == pytest.approx(pitch / DEG, abs=0.5)
    assert yaw_t == pytest.approx(yaw / DEG, abs=0.6)     # yaw: gyro-integrated, no heading reference
    assert abs(roll_t) < 0.5


def test_jitter_regression_short_synthetic_flight():
    """Regression guard (not the acceptance run): 15 s of synthetic flight, seed 1, default
    models. The 60 s acceptance figures are in the README / bench JSON."""
    out = _bench(["--base-motion", "synthetic", "--seconds", "15", "--seed", "1"])
    for axis in ("roll", "pitch", "yaw"):
        assert out["per_axis"][axis]["rms_deg"] <= 0.0017
        assert out["per_axis"][axis]["peak_deg"] <= 0.005


def test_kinematic_bias_observer_learns_the_camera_gyro_bias():
    """Camera and vehicle still, camera gyro reading a constant bias: the observer (gyro -
    R_cb * vehicle rate - joint rates) must converge on it; the Mahony filter alone (accel
    correction, kp 0.02) would take minutes."""
    # still bench, no encoder INL: a small end error (0.01 deg) -> little prior shrinkage
    cfg = GimbalConfig({"bias_observer_window_s": 0.5, "bias_observer_end_error_deg": 0.01})
    core = GimbalCore(cfg)
    bias = (0.02 * DEG, -0.03 * DEG, 0.05 * DEG)
    for _ in range(int(8.0 * cfg.loop_rate_hz)):
        core.step(*bias, 0.0, 0.0, 9.80665, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert np.allclose(core.est.bias, bias, atol=0.002 * DEG)
    off = GimbalCore(GimbalConfig({"bias_observer": False}))
    for _ in range(int(4.0 * cfg.loop_rate_hz)):
        off.step(*bias, 0.0, 0.0, 9.80665, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert abs(off.est.bias[2] - bias[2]) > 0.02 * DEG      # yaw bias: not observable without it


def test_bias_observer_ramps_changes_and_backcorrects_the_integrated_drift():
    """Still camera with a constant gyro bias and the default (INL-weighted) observer: the
    estimate's yaw (no accelerometer or heading correction) drifts by the integral of the bias
    error while the observer converges. The back-correction must remove that drift once the
    bias is known; without it the drift stays. Bias changes are ramped (no rate steps)."""
    bias = (0.02 * DEG, -0.03 * DEG, 0.05 * DEG)

    def run(backcorrect):
        core = GimbalCore(GimbalConfig({"bias_drift_backcorrection": backcorrect}))
        steps = []
        prev = list(core.est.bias)
        for _ in range(int(40.0 * core.cfg.loop_rate_hz)):
            core.step(*bias, 0.0, 0.0, 9.80665, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
            steps.append(max(abs(a - b) for a, b in zip(core.est.bias, prev)))
            prev = list(core.est.bias)
        return core, max(steps)

    with_bc, max_step = run(True)
    without, _ = run(False)
    yaw_with = abs(euler_of(with_bc.est.q)[2])
    yaw_without = abs(euler_of(without.est.q)[2])
    assert with_bc.est.bias[2] == pytest.approx(bias[2], abs=0.004 * DEG)
    assert yaw_without > 0.1                       # deg: the drift while the observer converged
    assert yaw_with < 0.3 * yaw_without
    # largest per-step bias change: a ramp, far below one window's update
    assert max_step < 0.001 * DEG


@pytest.mark.parametrize("seed", [7, 9])
def test_acceptance_on_full_60s_synthetic_flights_of_unseen_seeds(seed):
    """The issue's acceptance (peak <= 0.005 deg, rms <= 0.0017 deg on every axis) on full
    60 s synthetic flights whose seeds were not used while developing the bias observer
    (developed on seed 2; README table: seeds 1-10 and EuRoC). ~15-25 s each."""
    out = _bench(["--base-motion", "synthetic", "--seconds", "60", "--seed", str(seed)])
    assert out["acceptance"]["every_axis_within"]
    for axis in ("roll", "pitch", "yaw"):
        assert out["per_axis"][axis]["rms_deg"] <= 0.0017
        assert out["per_axis"][axis]["peak_deg"] <= 0.005
    # the camera-IMU model stays the datasheet one in this run
    assert out["model"]["imu"]["gyro_noise_density_dps_rthz"] == pytest.approx(0.0028)

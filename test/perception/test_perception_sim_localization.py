"""Localization EKF on the built-in simulator: car1 driving 3 minutes (town world's car, its
IMU / wheel odometry / NavSat with the noise models of its SDF), 10 s GNSS outage.

The town's buildings and actors are removed from the loaded world so that an open-loop
speed / yaw-rate profile can drive for 3 minutes without hitting anything; the sensors,
vehicle dynamics (dynamic single-track model with tyres) and geodesy are the simulator's own.
Sensor noise given to the filter comes from the messages themselves (IMU variances per
sample, NavSat covariance), as a driver would provide them, not from test constants.
"""
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chi2

from skyroad.perception.kalman import wrap_angle
from skyroad.perception.localization import EkfNoise, LocalENU, LocalizationEKF, nees

WORLD = Path(__file__).resolve().parents[2] / "sim_worlds" / "town.sdf"
OUTAGE_S = (100.0, 110.0)


def _yaw(q_xyzw):
    x, y, z, w = q_xyzw
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


@pytest.fixture(scope="module")
def drive():
    pytest.importorskip("mujoco")
    try:
        from skyroad.sim import sdf
        from skyroad.sim.simulator import Simulator
    except ImportError as exc:
        pytest.skip(f"built-in simulator not importable: {exc}")
    if not WORLD.is_file():
        pytest.skip(f"town world missing: {WORLD}")
    world = sdf.load_world(str(WORLD))
    world.models = [m for m in world.models if m.name in ("ground_plane", "car1")]
    world.actors = []
    # The acceptance case of issue 5: GNSS sigma 1.5 m horizontal at 5 Hz (the car model's own
    # receiver is noisier and faster: 2.1 m at 10 Hz). Everything else stays the SDF's.
    navsats = [s for m in world.models for link in m.links for s in link.sensors if s.type == "navsat"]
    assert navsats, "town car has no navsat sensor"
    for navsat in navsats:
        horizontal = navsat.params["noise"]["position_sensing_horizontal"]
        navsat.params["noise"]["position_sensing_horizontal"] = dataclasses.replace(horizontal, stddev=1.5)
        navsat.update_rate_hz = 5.0
    sim = Simulator(world, seed=3, enable_cameras=False)
    topics = {k: k for k in sim.outputs}
    imu_t = next(t for t in topics if t.endswith("/imu"))
    nav_t = next(t for t in topics if t.endswith("/navsat"))
    gt_t = next(t for t in topics if t.endswith("ground_truth/odometry"))
    odo_t = next(t for t in topics if t.endswith("/odometry") and "ground_truth" not in t)
    recs = {imu_t: [], nav_t: [], gt_t: [], odo_t: []}
    cmd = next(iter(sim.inputs))
    for k in range(int(round(180.0 / sim.dt))):
        t = sim.time_s
        if k % 25 == 0:  # 10 Hz commands: speed 2.5..7.5 m/s, yaw rate up to 0.35 rad/s
            v = 5 + 2.5 * math.sin(2 * math.pi * t / 40)
            wz = 0.25 * math.sin(2 * math.pi * t / 23) + 0.1 * math.sin(2 * math.pi * t / 7)
            sim.command(cmd, ((v, 0, 0), (0, 0, wz)))
        for o in sim.step():
            if o.topic in recs:
                recs[o.topic].append((o.stamp_s, o.data))
        if k == 0:  # lever arms: sensor sites relative to base_link at the start (yaw 0)
            if not recs[gt_t]:
                pytest.skip("simulator publishes no ground truth odometry at t = 0")
            base = recs[gt_t][0][1].position
            nav_site = sim.d.site_xpos[sim.navsats[0].site_id].copy()
            imu_site = sim.d.site_xpos[sim.imus[0].site_id].copy()
    return sim, world, recs, (imu_t, nav_t, gt_t, odo_t), nav_site - base, imu_site - base


@pytest.fixture(scope="module")
def estimate(drive):
    sim, world, recs, (imu_t, nav_t, gt_t, odo_t), nav_lever, imu_lever = drive
    sc = world.spherical
    enu = LocalENU(sc.latitude_deg, sc.longitude_deg, sc.elevation_m)
    gt = recs[gt_t]
    gt_time = np.array([t for t, _ in gt])
    truth = np.array([[d.position[0], d.position[1], _yaw(d.orientation_xyzw)] for _, d in gt])
    imu0 = recs[imu_t][0][1]
    rate = 1.0 / np.median(np.diff([t for t, _ in recs[imu_t]]))
    noise = EkfNoise(gyro_noise_density=float(np.sqrt(imu0.angular_velocity_variance[2] / rate)),
                     accel_noise_density=float(np.sqrt(imu0.linear_acceleration_variance[0] / rate)),
                     gyro_bias_rw=1e-5, accel_bias_rw=1e-4, wheel_speed_std=0.05)
    P0 = np.diag([1.0, 1.0, np.deg2rad(3) ** 2, 0.2 ** 2, 0.01 ** 2, 0.2 ** 2])
    x0 = np.r_[truth[0], 0.0, 0.0, 0.0] + np.random.default_rng(0).multivariate_normal(np.zeros(6), P0)
    ekf = LocalizationEKF(x0, P0, noise, gnss_lever_arm_m=nav_lever[:2], imu_lever_arm_x_m=float(imu_lever[0]))
    events = [(t, 0, d) for t, d in recs[imu_t]] + [(t, 1, d) for t, d in recs[odo_t]] + \
             [(t, 2, d) for t, d in recs[nav_t]]
    events.sort(key=lambda e: (e[0], e[1]))
    ts, xs, Ps = [], [], []
    t_prev, last = None, None
    for t, kind, d in events:
        if kind == 0:
            if t_prev is not None:
                ekf.predict_imu(last[0], last[1], t - t_prev, t_s=t)
            t_prev, last = t, (d.angular_velocity[2], d.linear_acceleration[0])
            ts.append(t)
            xs.append(ekf.x)
            Ps.append(ekf.P)
        elif kind == 1:
            ekf.update_wheel_speed(d.linear_velocity[0])
        elif not (OUTAGE_S[0] <= t < OUTAGE_S[1]):
            e = enu.to_enu(d.latitude_deg, d.longitude_deg, d.altitude_m)
            ekf.update_gnss(e[:2], np.sqrt(d.position_variance_enu[:2]), t_s=t)
    idx = np.clip(np.searchsorted(np.array(ts), gt_time - 1e-9), 0, len(ts) - 1)
    return gt_time, truth, np.array(xs)[idx], np.array(Ps)[idx]


def test_rmse_heading_and_outage_drift_in_the_simulator(estimate):
    t, truth, xs, _ = estimate
    m = t > 10.0
    pos_err = np.hypot(*(xs[:, :2] - truth[:, :2]).T)
    assert np.sqrt(np.mean(pos_err[m] ** 2)) <= 0.5
    assert np.sqrt(np.mean(np.degrees(wrap_angle(xs[m, 2] - truth[m, 2])) ** 2)) <= 1.0
    i_end = np.searchsorted(t, OUTAGE_S[1]) - 1
    assert pos_err[i_end] <= 2.0


def test_nees_consistent_in_the_simulator(estimate):
    _, truth, xs, Ps = estimate
    e = np.array([nees(x, P, np.r_[g, 0, 0, 0]) for x, P, g in zip(xs, Ps, truth)])
    assert np.mean((e >= chi2.ppf(0.025, 3)) & (e <= chi2.ppf(0.975, 3))) >= 0.90


def test_gnss_stream_is_the_acceptance_case(drive):
    # guards the override above: 5 Hz, sigma 1.5 m horizontal, reported honestly in the message
    _, _, recs, (_, nav_t, _, _), _, _ = drive
    stamps = np.array([t for t, _ in recs[nav_t]])
    assert np.median(np.diff(stamps)) == pytest.approx(0.2, abs=1e-6)
    assert recs[nav_t][0][1].position_variance_enu[0] == pytest.approx(1.5 ** 2)

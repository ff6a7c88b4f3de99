"""Localization EKF on a simulated 3-minute drive with seeded sensor noise (kinematic_sim)."""
import numpy as np
import pytest
from scipy.stats import chi2

from skyroad.perception.kalman import wrap_angle
from skyroad.perception.kinematic_sim import SimConfig, run_ekf_on_sim, simulate_drive
from skyroad.perception.localization import EkfNoise, LocalENU, LocalizationEKF, nees

OUTAGE = (120.0, 130.0)


def run(seed, jumps=False):
    rng = np.random.default_rng(seed)
    cfg = SimConfig(gnss_outages_s=[OUTAGE])
    data = simulate_drive(cfg, rng)
    if jumps:  # multipath: 5 fixes 25 m off
        idx = np.searchsorted(data.gnss[:, 0], [60.0, 60.2, 60.4, 90.0, 90.2])
        data.gnss[idx, 1] += 25.0
    P0 = np.diag([2.0 ** 2, 2.0 ** 2, np.deg2rad(5) ** 2, 0.3 ** 2, np.deg2rad(0.3) ** 2, 0.1 ** 2])
    x0 = data.truth[0] + rng.multivariate_normal(np.zeros(6), P0)
    # filter noise = the simulated sensors' datasheet figures; bias walks assumed 2x (margin)
    noise = EkfNoise(gyro_noise_density=cfg.gyro_noise_density, accel_noise_density=cfg.accel_noise_density,
                     gyro_bias_rw=2 * cfg.gyro_bias_rw, accel_bias_rw=2 * cfg.accel_bias_rw,
                     wheel_speed_std=cfg.wheel_speed_std)
    ekf = LocalizationEKF(x0, P0, noise)
    ts, xs, Ps, tr = run_ekf_on_sim(data, ekf, cfg.gnss_std_m, cfg.wheel_speed_std)
    return ekf, ts, xs, Ps, tr


@pytest.fixture(scope="module")
def nominal():
    return run(seed=5)


def test_position_and_heading_rmse(nominal):
    _, ts, xs, _, tr = nominal
    steady = ts > 10.0  # after convergence from the initial uncertainty
    pos_err = np.hypot(*(xs[steady, :2] - tr[steady, :2]).T)
    head_err = np.degrees(wrap_angle(xs[steady, 2] - tr[steady, 2]))
    assert np.sqrt(np.mean(pos_err ** 2)) <= 0.5
    assert np.sqrt(np.mean(head_err ** 2)) <= 1.0


def test_drift_over_10s_gnss_outage(nominal):
    _, ts, xs, _, tr = nominal
    i_end = np.searchsorted(ts, OUTAGE[1]) - 1  # last step before GNSS returns
    assert np.hypot(*(xs[i_end, :2] - tr[i_end, :2])) <= 2.0


def test_nees_is_consistent(nominal):
    _, ts, xs, Ps, tr = nominal
    e = np.array([nees(x, P, t) for x, P, t in zip(xs, Ps, tr)])
    lo, hi = chi2.ppf(0.025, 3), chi2.ppf(0.975, 3)
    assert np.mean((e >= lo) & (e <= hi)) >= 0.90


def test_gnss_jumps_are_rejected_and_counted():
    ekf, ts, xs, _, tr = run(seed=6, jumps=True)
    assert ekf.status.gnss_rejected >= 5 and ekf.status.gnss_resets == 0
    pos_err = np.hypot(*(xs[ts > 10, :2] - tr[ts > 10, :2]).T)
    assert pos_err.max() < 2.0


def test_persistent_offset_triggers_reset():
    x0 = np.zeros(6)
    ekf = LocalizationEKF(x0, np.diag([0.1, 0.1, 0.01, 0.01, 1e-6, 1e-6]), gnss_reset_after_s=2.0)
    results = []
    for k in range(20):
        ekf.predict_imu(0.0, 0.0, 0.2)
        results.append(ekf.update_gnss([50.0, 0.0], 1.0, t_s=0.2 * k))
    assert "reset" in results and abs(ekf.x[0] - 50.0) < 2.0


def test_bad_inputs_are_counted_not_crashing():
    ekf = LocalizationEKF(np.zeros(6), np.eye(6))
    assert not ekf.predict_imu(np.nan, 0.0, 0.01)
    assert not ekf.predict_imu(0.0, 0.0, -1.0)
    assert not ekf.update_wheel_speed(np.inf)
    assert ekf.update_gnss([np.nan, 0.0], 1.0, t_s=0.0) == "invalid"
    assert ekf.warnings == {"imu_non_finite": 1, "imu_dt_invalid": 1, "wheel_non_finite": 1, "gnss_non_finite": 1}
    assert np.all(np.isfinite(ekf.x))
    with pytest.raises(ValueError, match="finite"):
        LocalizationEKF(np.full(6, np.nan), np.eye(6))


def test_local_enu_round_trip_and_scale():
    enu = LocalENU(47.3769, 8.5417, 408.0)  # Zurich
    e, n, u = enu.to_enu(47.3769 + 0.001, 8.5417 + 0.001, 408.0)
    assert n == pytest.approx(111.2, abs=0.3) and e == pytest.approx(75.4, abs=0.3)
    lat, lon, h = enu.to_geodetic(e, n, u)
    assert lat == pytest.approx(47.3779, abs=1e-9) and lon == pytest.approx(8.5427, abs=1e-9)
    with pytest.raises(ValueError, match="origin"):
        LocalENU(95.0, 0.0)

"""Multirotor waypoint follower against a velocity-lag plant (the inner loop's behaviour)."""
import math

import numpy as np
import pytest

from skyroad.control._checks import ControlConfigError
from skyroad.control.multirotor import MissionError, MultirotorConfig, WaypointFollower
from skyroad.control.vehicle import VelocityLagPlant


def _fly(follower, plant, dt=0.02, t_max=300.0):
    log = []
    for k in range(int(t_max / dt)):
        cmd = follower.update(plant.position, plant.velocity, plant.yaw, dt)
        log.append((k * dt, plant.position.copy(), cmd.velocity_enu_mps.copy(), cmd.target_index))
        if cmd.mission_complete:
            return cmd, log
        plant.step(cmd.velocity_enu_mps, cmd.yaw_rate_radps, dt)
    return cmd, log


def _distance_to_segment(p, a, b):
    d = b - a
    t = np.clip(np.dot(p - a, d) / np.dot(d, d), 0.0, 1.0)
    return float(np.linalg.norm(p - (a + t * d)))


def test_mission_completes_within_limits_and_stays_on_the_legs():
    cfg = MultirotorConfig(max_speed_xy_mps=5.0, max_speed_up_mps=2.0, max_speed_down_mps=1.5,
                           max_accel_xy_mps2=2.0, max_accel_z_mps2=1.0, acceptance_radius_m=1.0)
    wp = np.array([[0, 0, 10], [60, 0, 10], [60, 40, 20], [0, 40, 15], [0, 0, 5]], float)
    f = WaypointFollower(cfg)
    plant = VelocityLagPlant([0.0, 0.0, 0.0])
    f.set_mission(wp, plant.position)
    cmd, log = _fly(f, plant)
    assert cmd.mission_complete and cmd.target_index == len(wp) - 1
    assert np.linalg.norm(plant.position - wp[-1]) <= cfg.acceptance_radius_m
    sp = np.array([e[2] for e in log])
    assert np.max(np.hypot(sp[:, 0], sp[:, 1])) <= 5.0 + 1e-9
    assert np.max(sp[:, 2]) <= 2.0 + 1e-9 and np.min(sp[:, 2]) >= -1.5 - 1e-9
    acc = np.diff(sp, axis=0) / 0.02
    assert np.max(np.hypot(acc[:, 0], acc[:, 1])) <= 2.0 + 1e-6
    assert np.max(np.abs(acc[:, 2])) <= 1.0 + 1e-6
    # cross-track: away from the corners the vehicle flies the straight legs (what a geofence
    # reroute assumes); corners are rounded inside the acceptance radius plus the braking lag
    legs = [(np.zeros(3), wp[0])] + [(wp[i], wp[i + 1]) for i in range(len(wp) - 1)]
    worst = 0.0
    for _, pos, _, idx in log:
        a, b = legs[idx]
        if min(np.linalg.norm(pos - a), np.linalg.norm(pos - b)) > 5.0:
            worst = max(worst, _distance_to_segment(pos, a, b))
    assert worst < 0.5
    # the full mission length is about 190 m; at 5 m/s max that bounds the time from below
    assert 40.0 < log[-1][0] < 120.0


def test_holds_position_after_completion_and_hover_without_mission():
    f = WaypointFollower()
    cmd = f.update([0, 0, 0], [0, 0, 0], 0.0, 0.02)
    assert np.all(cmd.velocity_enu_mps == 0) and not cmd.mission_complete and cmd.target_index == -1
    f.set_mission([[0.0, 0.0, 2.0]], [0.0, 0.0, 1.5])
    cmd = f.update([0.0, 0.0, 1.5], [0, 0, 0], 0.0, 0.02)
    assert cmd.mission_complete
    # pushed off by a gust: holds (moves back towards) the last waypoint
    for _ in range(100):
        cmd = f.update([3.0, 0.0, 2.0], [0, 0, 0], 0.0, 0.02)
    assert cmd.velocity_enu_mps[0] < -1.0


def test_yaw_faces_travel_and_respects_explicit_yaw():
    f = WaypointFollower(MultirotorConfig(max_yaw_rate_radps=0.5))
    f.set_mission([[0.0, 50.0, 10.0]], [0, 0, 10.0])
    for _ in range(200):
        cmd = f.update([0, 0, 10.0], [0, 0, 0], 0.0, 0.02)
    assert cmd.yaw_rate_radps == pytest.approx(0.5)    # north = +90 deg, turn left, saturated
    f.set_mission([[0.0, 50.0, 10.0]], [0, 0, 10.0], yaws_rad=[-math.pi / 2])
    for _ in range(200):
        cmd = f.update([0, 0, 10.0], [0, 0, 0], 0.0, 0.02)
    assert cmd.yaw_rate_radps == pytest.approx(-0.5)


@pytest.mark.parametrize("wp, msg", [
    (np.zeros((0, 3)), "no waypoints"),
    (np.zeros((2, 2)), "expected \\(N, 3\\)"),
    (np.array([[0, 0, 1], [np.nan, 0, 1]]), "waypoint 1 is not finite"),
])
def test_bad_missions_are_rejected(wp, msg):
    with pytest.raises(MissionError, match=msg):
        WaypointFollower().set_mission(wp, [0, 0, 0])


def test_bad_state_and_config():
    f = WaypointFollower()
    with pytest.raises(ValueError, match="not finite"):
        f.update([np.nan, 0, 0], [0, 0, 0], 0.0, 0.02)
    with pytest.raises(ControlConfigError, match="multirotor.max_speed_xy_mps"):
        MultirotorConfig(max_speed_xy_mps=0.0)

"""Frenet planner core: jerk-optimal polynomials, avoidance of moving objects, limits, emergency stop."""
import math

import numpy as np
import pytest

from skyroad.planning.frenet import (ClearanceMap, FrenetConfig, FrenetGoal, FrenetState, ReferencePath,
                                     VehicleLimits, eval_poly, frenet_state_from_cartesian, plan_frenet,
                                     quartic_coeffs, quintic_coeffs)
from skyroad.planning.grid import PlanningError
from skyroad.planning.prediction import ObjectStates, predict_boxes


def _straight(length=300.0):
    return ReferencePath(np.stack([np.linspace(0, length, 61), np.zeros(61)], 1))


def _min_gap(traj, boxes, limits):
    """Smallest distance between the ego rectangle's corners/centre line and object boxes."""
    from shapely.geometry import Polygon
    gaps = []
    for i in range(len(traj.t_s)):
        c, s = math.cos(traj.yaw[i]), math.sin(traj.yaw[i])
        hl, hw = limits.length_m / 2, limits.width_m / 2
        ego = Polygon([(traj.x[i] + c * dx - s * dy, traj.y[i] + s * dx + c * dy)
                       for dx, dy in ((hl, hw), (hl, -hw), (-hl, -hw), (-hl, hw))])
        for b in boxes[:, i]:
            c2, s2 = math.cos(b[2]), math.sin(b[2])
            ob = Polygon([(b[0] + c2 * dx - s2 * dy, b[1] + s2 * dx + c2 * dy)
                          for dx, dy in ((b[3] / 2, b[4] / 2), (b[3] / 2, -b[4] / 2),
                                         (-b[3] / 2, -b[4] / 2), (-b[3] / 2, b[4] / 2))])
            gaps.append(ego.distance(ob))
    return min(gaps)


def test_polynomials_meet_their_boundary_conditions():
    T = np.array([2.0, 3.5])
    c5 = quintic_coeffs([1.0, -2.0], [0.5, 3.0], [0.2, -1.0], [4.0, 0.0], [0.0, 1.0], [0.0, 0.5], T)
    p, v, a, _j = eval_poly(c5, T, np.array([0.0, 2.0, 3.5]))
    assert np.allclose(p[:, 0], [1.0, -2.0]) and np.allclose(v[:, 0], [0.5, 3.0]) and np.allclose(a[:, 0], [0.2, -1.0])
    assert p[0, 1] == pytest.approx(4.0) and v[0, 1] == pytest.approx(0.0) and a[0, 1] == pytest.approx(0.0)
    assert p[1, 2] == pytest.approx(0.0) and v[1, 2] == pytest.approx(1.0) and a[1, 2] == pytest.approx(0.5)
    c4 = quartic_coeffs(0.0, 10.0, 0.0, 15.0, 0.0, 4.0)[None]
    p, v, a, _ = eval_poly(c4, np.array([4.0]), np.array([4.0, 6.0]))
    assert v[0, 0] == pytest.approx(15.0) and a[0, 0] == pytest.approx(0.0)
    assert p[0, 1] - p[0, 0] == pytest.approx(30.0)  # continues at the end speed


def test_prediction_cv_and_ctrv_closed_forms():
    objs = ObjectStates.from_arrays([0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [0.0, 0.5])
    t = np.linspace(0, 2 * math.pi / 0.5, 9)
    boxes = predict_boxes(objs, t, "ctrv")
    assert np.allclose(boxes[0, :, 0], 5.0 * t)            # straight line
    radius = np.hypot(boxes[1, :, 0], boxes[1, :, 1] - 10.0)
    assert np.allclose(radius, 10.0)                       # circle of radius v / w around (0, 10)
    assert np.allclose(boxes[1, -1, :2], [0.0, 0.0], atol=1e-9)
    cv = predict_boxes(objs, t, "cv")
    assert np.allclose(cv[1, :, 0], 5.0 * t)
    with pytest.raises(PlanningError, match="speed_mps contains NaN"):
        ObjectStates.from_arrays([0.0], [0.0], [0.0], [np.nan])


def test_passes_a_stopped_car_by_changing_lane_and_keeps_limits():
    ref = _straight()
    limits = VehicleLimits()
    cfg = FrenetConfig()
    st = frenet_state_from_cartesian(ref, 0.0, 0.0, 0.0, 15.0)
    t = np.arange(0, cfg.horizon_s + 1e-9, cfg.dt_s)
    boxes = predict_boxes(ObjectStates.from_arrays([45.0], [0.0], [0.0], [0.0]), t)
    res = plan_frenet(ref, st, FrenetGoal(15.0), limits, cfg, obstacles=boxes)
    assert not res.emergency
    traj = res.trajectory
    assert abs(traj.d[-1]) >= 2.5                          # moved into the next lane
    assert _min_gap(traj, boxes, limits) > 0.2
    assert np.all(np.abs(traj.kappa_1pm) <= limits.kappa_max_1pm + 1e-9)
    assert np.all(np.diff(traj.t_s) > 0)
    assert np.all(np.abs(np.gradient(traj.v_mps, cfg.dt_s)) <= max(limits.a_max_mps2, limits.a_brake_mps2) + 0.5)


def test_yields_to_a_crossing_object_instead_of_hitting_it():
    ref = _straight()
    limits = VehicleLimits()
    cfg = FrenetConfig(lateral_offsets_m=(0.0,))           # a single lane: only speed can help
    st = frenet_state_from_cartesian(ref, 0.0, 0.0, 0.0, 10.0)
    t = np.arange(0, cfg.horizon_s + 1e-9, cfg.dt_s)
    # pedestrian crossing from the right, reaching the lane centre at x=25 in 2 s
    boxes = predict_boxes(ObjectStates.from_arrays([25.0], [-3.0], [math.pi / 2], [1.5], None, [0.6], [0.6]), t)
    res = plan_frenet(ref, st, FrenetGoal(10.0), limits, cfg, obstacles=boxes)
    assert _min_gap(res.trajectory, boxes, limits) > 0.2
    assert res.trajectory.v_mps.min() < 9.0 or res.trajectory.x[-1] > 25 + 3  # slowed or passed before


def test_emergency_stop_when_the_road_is_walled_off():
    ref = _straight()
    limits = VehicleLimits()
    cfg = FrenetConfig()
    blocked = np.zeros((100, 400), bool)                     # 0.5 m cells, x in [0, 200], y in [-25, 25]
    blocked[:, 60:62] = True                                 # wall across the whole road at x = 30 m
    clearance = ClearanceMap(blocked, 0.5, (0.0, -25.0))
    st = frenet_state_from_cartesian(ref, 0.0, 0.0, 0.0, 20.0)
    res = plan_frenet(ref, st, FrenetGoal(20.0), limits, cfg, clearance=clearance)
    assert res.emergency and "collides" in res.reason
    v = res.trajectory.v_mps
    assert v[0] == pytest.approx(20.0, abs=0.5) and v[-1] < v[0] - 10.0
    assert np.all(np.diff(v) <= 1e-6)


def test_stops_at_the_requested_point():
    ref = _straight()
    cfg = FrenetConfig(horizon_s=6.0, maneuver_times_s=(3.0, 4.0, 5.0, 6.0))
    st = frenet_state_from_cartesian(ref, 0.0, 0.0, 0.0, 5.0)
    s_stop = st.s + 15.0
    res = plan_frenet(ref, st, FrenetGoal(5.0, s_stop_m=s_stop), VehicleLimits(), cfg)
    assert not res.emergency
    assert res.trajectory.s[-1] == pytest.approx(s_stop, abs=0.6)
    assert res.trajectory.v_mps[-1] < 0.3


def test_bad_inputs_raise_clear_errors():
    ref = _straight()
    with pytest.raises(PlanningError, match="ego state contains NaN"):
        frenet_state_from_cartesian(ref, np.nan, 0.0, 0.0, 1.0)
    with pytest.raises(PlanningError, match="Frenet state field d"):
        plan_frenet(ref, FrenetState(0, 1, 0, np.nan, 0, 0), FrenetGoal(5.0))
    with pytest.raises(PlanningError, match="obstacles must have shape"):
        plan_frenet(ref, FrenetState(30, 1, 0, 0, 0, 0), FrenetGoal(5.0), obstacles=np.zeros((1, 3, 5)))
    with pytest.raises(PlanningError, match="reference path is empty"):
        ReferencePath(np.zeros((0, 2)))
    with pytest.raises(PlanningError, match="NaN/inf at point 1"):
        ReferencePath([[0, 0], [np.nan, 1], [2, 2]])
    with pytest.raises(PlanningError, match="two distinct points"):
        ReferencePath([[1, 1], [1, 1]])


def test_does_not_brake_into_a_car_closing_from_behind():
    ref = _straight()
    limits = VehicleLimits(a_max_mps2=4.0)
    cfg = FrenetConfig(lateral_offsets_m=(0.0,), ignore_followers=False)   # single lane, non-reactive traffic
    st = frenet_state_from_cartesian(ref, 0.0, 0.0, 0.0, 15.0)
    t = np.arange(0, cfg.horizon_s + 1e-9, cfg.dt_s)
    # 20 m/s car 15 m behind in the same lane: speeding up keeps the margins
    boxes = predict_boxes(ObjectStates.from_arrays([-15.0], [0.0], [0.0], [20.0]), t)
    res = plan_frenet(ref, st, FrenetGoal(15.0), limits, cfg, obstacles=boxes)
    assert not res.emergency and res.trajectory.v_mps[-1] > 17.0
    # 27 m/s car 14 m behind: contact is unavoidable; braking would bring it earlier
    boxes = predict_boxes(ObjectStates.from_arrays([-14.0], [0.0], [0.0], [27.0]), t)
    res = plan_frenet(ref, st, FrenetGoal(15.0), limits, cfg, obstacles=boxes)
    assert res.emergency and res.evasive and "evasive" in res.reason
    assert res.trajectory.v_mps.min() >= 14.9         # does not brake into the contact
    # the same car ahead (braking helps): a plain emergency stop
    ahead = predict_boxes(ObjectStates.from_arrays([12.0], [0.0], [0.0], [0.0]), t)
    res = plan_frenet(ref, st, FrenetGoal(15.0), limits, cfg, obstacles=ahead)
    assert res.emergency and not res.evasive and res.trajectory.v_mps[-1] < 1.0


def test_standing_object_beside_the_path_is_passed_at_its_real_distance():
    # A parked car whose near side is 1.55 m from the path centre: the ego's discs (radius ~1.1 m)
    # clear it by the fixed 0.3 m margin, so the car drives on at speed in one lane (lateral
    # offsets 0 only). The same box moving along the street at 0.5 m/s has an uncertain future:
    # its predicted box grows 0.15 m/s per side, and passing it within the horizon is refused.
    ref = _straight()
    limits = VehicleLimits()
    cfg = FrenetConfig(lateral_offsets_m=(0.0,))
    st = frenet_state_from_cartesian(ref, 0.0, 0.0, 0.0, 6.0)
    t = np.arange(0, cfg.horizon_s + 1e-9, cfg.dt_s)
    near_side_m = 1.55
    parked = predict_boxes(ObjectStates.from_arrays([15.0], [-(near_side_m + 0.9)], [0.0], [0.0], None,
                                                    [4.5], [1.8]), t)
    res = plan_frenet(ref, st, FrenetGoal(6.0), limits, cfg, obstacles=parked)
    assert not res.emergency and res.trajectory.v_mps.min() > 5.5
    rolling = predict_boxes(ObjectStates.from_arrays([15.0], [-(near_side_m + 0.9)], [0.0], [0.5], None,
                                                     [4.5], [1.8]), t)
    res = plan_frenet(ref, st, FrenetGoal(6.0), limits, cfg, obstacles=rolling)
    assert res.emergency or res.trajectory.x[-1] < 15.0 - 2.25       # stays behind it


def _arc_ref(radius=9.0):
    """Straight 40 m east, a left quarter turn of `radius`, then straight north: a street corner."""
    th = np.linspace(-math.pi / 2, 0.0, 30)
    arc = np.stack([40.0 + radius * np.cos(th), radius + radius * np.sin(th)], 1)
    east = np.stack([np.linspace(0.0, 39.0, 40), np.zeros(40)], 1)
    north = np.stack([np.full(40, 40.0 + radius), np.linspace(radius + 1.0, radius + 60.0, 40)], 1)
    return ReferencePath(np.vstack([east, arc, north]))


@pytest.mark.parametrize("heading_error_deg, offset_m", [(-25.0, -1.0), (20.0, 0.8), (0.0, 0.0)])
def test_standing_car_at_an_angle_to_its_lane_drives_off(heading_error_deg, offset_m):
    """Stopped mid-manoeuvre (a pedestrian made it brake in a corner): the plan from standstill must
    accelerate and steer back within the steering limit, not crawl, and start from the car's real
    heading (d(t) profiles lose it at standstill: d_d = v sin(heading error) = 0). Closed loop over 8 s of 10 Hz replanning, the car following each plan exactly for 0.1 s."""
    ref = _straight()
    limits = VehicleLimits()
    yaw0 = math.radians(heading_error_deg)
    st = frenet_state_from_cartesian(ref, 20.0, offset_m, yaw0, 0.0)
    res = plan_frenet(ref, st, FrenetGoal(8.0), limits, FrenetConfig())
    assert not res.emergency and res.stats["low_speed_mode"]
    assert res.trajectory.v_mps[20] > 3.0, res.trajectory.v_mps[::5]      # 2 s after the start
    assert abs(res.trajectory.yaw[0] - yaw0) < 1e-6                        # planned from the real heading
    d_seen = []
    for _cycle in range(80):
        tr = res.trajectory
        assert not res.emergency
        assert np.all(np.abs(tr.kappa_1pm) <= limits.kappa_max_1pm + 1e-9)
        k = 1
        st = frenet_state_from_cartesian(ref, tr.x[k], tr.y[k], tr.yaw[k], tr.v_mps[k], tr.a_mps2[k], tr.kappa_1pm[k])
        d_seen.append(st.d)
        res = plan_frenet(ref, st, FrenetGoal(8.0), limits, FrenetConfig())
    tr = res.trajectory
    assert tr.v_mps[0] > 6.0 and abs(tr.d[0]) < 0.3 and abs(tr.yaw[0]) < math.radians(2.0), (tr.v_mps[0], tr.d[0])
    assert max(abs(d) for d in d_seen) < abs(offset_m) + 1.1   # no swerve far out of the lane on the way


def test_low_speed_geometry_matches_the_path_on_a_curved_reference():
    """d(s) candidates on a curved reference: the reported heading and curvature are those of the
    x, y points themselves (finite differences along the path), so the limits check the real path."""
    ref = _arc_ref()
    st = frenet_state_from_cartesian(ref, 30.0, -0.5, math.radians(-8.0), 0.5, 0.5, 0.0)
    res = plan_frenet(ref, st, FrenetGoal(5.0), VehicleLimits(), FrenetConfig())
    tr = res.trajectory
    assert res.stats["low_speed_mode"] and not res.emergency
    step = np.hypot(np.diff(tr.x), np.diff(tr.y))
    moving = step > 0.05
    heading_fd = np.arctan2(np.diff(tr.y), np.diff(tr.x))
    mid_yaw = np.angle(np.exp(1j * tr.yaw[:-1]) + np.exp(1j * tr.yaw[1:]))
    assert np.max(np.abs(np.angle(np.exp(1j * (heading_fd - mid_yaw)))[moving])) < 0.03
    dyaw = np.angle(np.exp(1j * np.diff(tr.yaw)))
    kappa_fd = dyaw[moving] / step[moving]
    kappa_mid = 0.5 * (tr.kappa_1pm[:-1] + tr.kappa_1pm[1:])[moving]
    assert np.max(np.abs(kappa_fd - kappa_mid)) < 0.02


def test_standing_car_with_brake_still_applied_holds_at_a_stop_point_behind_it():
    """At rest with the deceleration of the stop still measured, a stop point just behind the car
    (it stopped 0.2 m past its yield point): a normal standstill plan, not 'no feasible candidate'."""
    ref = _straight()
    st = frenet_state_from_cartesian(ref, 50.0, 0.0, 0.0, 0.03, -0.4, 0.0)
    res = plan_frenet(ref, st, FrenetGoal(8.0, s_stop_m=st.s - 0.2, brake_now=True), VehicleLimits(), FrenetConfig())
    assert not res.emergency, res.reason
    assert np.all(res.trajectory.v_mps >= -0.05) and res.trajectory.v_mps[-1] < 0.05

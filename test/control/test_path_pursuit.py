"""Path geometry, pure pursuit and the Twist conversions."""
import math

import numpy as np
import pytest

from skyroad.control.courses import compose, tracking_course, straight_course
from skyroad.control.path import PathError, ReferencePath, speeds_from_times, wrap_angle
from skyroad.control.pure_pursuit import PurePursuit, PurePursuitConfig
from skyroad.control._checks import ControlConfigError
from skyroad.control.twist import (ackermann_to_twist, twist_to_ackermann,
                                   enu_velocity_to_body, body_velocity_to_enu)
from skyroad.control.vehicle import KinematicBicycleLag


def test_reference_path_curvature_and_projection_on_a_circle():
    r = 20.0
    pts = compose([("arc", r, math.pi)], spacing_m=0.2)   # CCW half circle, centre (0, 20)
    ref = ReferencePath(pts)
    assert ref.length_m == pytest.approx(math.pi * r, rel=1e-3)
    assert np.allclose(ref.curvature, 1.0 / r, rtol=1e-3)
    # a point 1 m outside the circle (right of the CCW path) at phi = -45 deg
    phi = -math.pi / 4
    p = np.array([(r + 1) * math.cos(phi), 20 + (r + 1) * math.sin(phi)])
    proj = ref.project(*p)
    assert proj.lateral_error_m == pytest.approx(-1.0, abs=1e-3)
    assert proj.s_m == pytest.approx(r * math.pi / 4, rel=1e-3)
    assert wrap_angle(proj.path_yaw_rad - math.pi / 4) == pytest.approx(0.0, abs=2e-2)


def test_projection_windowing_keeps_progress_on_a_hairpin():
    # Hairpin: out along y=0, back along y=3. A pose near the start of the return leg is closer
    # to the outbound leg's end; with the progress hint it stays on the right leg.
    pts = compose([("straight", 20.0), ("arc", 1.5, math.pi), ("straight", 20.0)], spacing_m=0.1)
    ref = ReferencePath(pts)
    far = ref.project(10.0, 1.4)                       # global: nearest leg
    near_return = ref.project(10.0, 1.6, s_hint_m=ref.length_m - 12.0)
    assert far.s_m < 20.0
    assert near_return.s_m > 20.0 + math.pi * 1.5


@pytest.mark.parametrize("bad, msg", [
    (np.zeros((1, 2)), "at least 2"),
    (np.array([[0, 0], [0, 0], [0, 0]], float), "at least 2"),
    (np.array([[0, 0], [np.nan, 1]]), "point 1 is not finite"),
    (np.zeros((3,)), "expected an \\(N, 2\\)"),
])
def test_reference_path_rejects_bad_input(bad, msg):
    with pytest.raises(PathError, match=msg):
        ReferencePath(bad)


def test_speeds_from_times_and_backwards_stamps():
    pts = straight_course(10.0, 1.0)
    v = speeds_from_times(pts, np.arange(len(pts)) * 0.5)
    assert np.allclose(v[:-1], 2.0) and v[-1] == 0.0
    with pytest.raises(PathError, match="backwards at pose 3"):
        speeds_from_times(pts[:4], [0.0, 1.0, 2.0, 1.5])


def test_twist_conversions_round_trip():
    lin, ang = ackermann_to_twist(8.0, 0.2, 2.7)
    assert ang == pytest.approx(8.0 * math.tan(0.2) / 2.7)
    assert twist_to_ackermann(lin, ang, 2.7) == pytest.approx((8.0, 0.2))
    assert twist_to_ackermann(0.0, 0.5, 2.7) == (0.0, 0.0)
    v = np.array([3.0, -1.0, 0.5])
    assert np.allclose(body_velocity_to_enu(enu_velocity_to_body(v, 1.1), 1.1), v)
    # heading north: ENU east velocity is to the RIGHT of the body (negative y)
    assert np.allclose(enu_velocity_to_body([1, 0, 0], math.pi / 2), [0, -1, 0], atol=1e-12)
    with pytest.raises(ValueError, match="wheelbase_m"):
        ackermann_to_twist(1.0, 0.1, 0.0)


def test_pure_pursuit_config_errors_name_the_parameter():
    with pytest.raises(ControlConfigError, match="pure_pursuit.wheelbase_m"):
        PurePursuitConfig(wheelbase_m=-1.0)
    with pytest.raises(ControlConfigError, match="lookahead_max_m"):
        PurePursuitConfig(lookahead_min_m=5.0, lookahead_max_m=2.0)
    with pytest.raises(ControlConfigError, match="max_steer_rad"):
        PurePursuitConfig(max_steer_rad=float("nan"))


def _drive(ctrl, car, ref, dt=0.02, t_max=120.0):
    lat, steer = [], []
    for _ in range(int(t_max / dt)):
        v, d = ctrl.command(car.x, car.y, car.yaw, car.v, ref)
        if ctrl.status.goal_reached:
            break
        car.step(v, d, dt)
        lat.append(ctrl.status.lateral_error_m)
        steer.append(d)
    return np.array(lat), np.array(steer)


def test_pure_pursuit_converges_from_offset_and_stops_at_the_end():
    ref = ReferencePath(straight_course(80.0))
    pp = PurePursuit(PurePursuitConfig(max_speed_mps=5.0))
    car = KinematicBicycleLag(x=0.0, y=2.0, yaw=0.0)
    lat, _ = _drive(pp, car, ref)
    assert abs(lat[0]) == pytest.approx(2.0, abs=1e-6)
    assert np.max(np.abs(lat[-100:])) < 0.05          # converged long before the end
    assert pp.status.goal_reached
    assert car.x == pytest.approx(80.0, abs=1.0)      # stopped at the goal, not past it
    assert pp.command(car.x, car.y, car.yaw, car.v, ref) == (0.0, 0.0)


def test_pure_pursuit_speed_regulation_on_curves_and_error_bound():
    ref = ReferencePath(tracking_course())
    cfg = PurePursuitConfig(max_speed_mps=10.0, max_lateral_accel_mps2=2.0)
    pp = PurePursuit(cfg)
    car = KinematicBicycleLag(v=0.0)
    speeds = []
    for _ in range(4000):
        v, d = pp.command(car.x, car.y, car.yaw, car.v, ref)
        if pp.status.goal_reached:
            break
        speeds.append((v, ref.curvature_at(pp.status.s_m)))
        car.step(v, d, 0.02)
    sp = np.array(speeds)
    on_curve = np.abs(sp[:, 1]) > 0.04
    # on a 20 m radius with a_lat 2 m/s^2 the speed is sqrt(40) = 6.3 m/s
    assert np.all(sp[on_curve, 0] <= math.sqrt(2.0 * 20.0) + 1e-6)
    assert pp.status.goal_reached


def test_pure_pursuit_rejects_nan_path():
    pp = PurePursuit()
    with pytest.raises(PathError):
        pp.command(0.0, 0.0, 0.0, 1.0, np.array([[0.0, 0.0], [np.nan, 1.0]]))

"""Stopping model, CBF safety filter and the encounter Monte Carlo (small, seeded)."""
import math

import numpy as np
import pytest
import shapely

from skyroad.airspace_geofence.encounter import EncounterConfig, run_encounters
from skyroad.airspace_geofence.index import ZoneSet
from skyroad.airspace_geofence.model import Restriction, Unit, VerticalLimit, VerticalRef, Volume, Zone
from skyroad.airspace_geofence.safety import (FenceStatus, FilterConfig, SafetyFilter, StoppingModel)


def zone(identifier, lower=0.0, upper=120.0, keep_in=False):
    return Zone(identifier, Restriction.PROHIBITED,
                [Volume(None, VerticalLimit(lower, Unit.M, VerticalRef.AGL),
                        VerticalLimit(upper, Unit.M, VerticalRef.AGL))], keep_in=keep_in)


def test_stopping_model_closed_form_and_inverse():
    model = StoppingModel(reaction_time_s=0.4, max_decel_mps2=4.0, max_jerk_mps3=20.0)
    assert model.effective_delay_s == pytest.approx(0.4 + 0.1)
    v = np.array([0.0, 1.0, 10.0, 20.0])
    np.testing.assert_allclose(model.stopping_distance_m(v), v * 0.5 + v ** 2 / 8.0)
    np.testing.assert_allclose(model.allowed_speed_mps(model.stopping_distance_m(v)), v, atol=1e-9)
    # the bound covers the exact jerk-limited stop: simulate it
    dt = 1e-4
    for speed in (2.0, 10.0, 20.0):
        x, vel, acc, t = 0.0, speed, 0.0, 0.0
        while vel > 0:
            if t >= 0.4:
                acc = max(acc - 20.0 * dt, -4.0)
            vel += acc * dt
            x += max(vel, 0.0) * dt
            t += dt
        assert x <= model.stopping_distance_m(speed) + 1e-3
        assert x >= model.stopping_distance_m(speed) - 4.0 * 0.2 ** 2 / 24 - 0.01


def kinematic_run(safety, start, v_nom, steps=2000, dt=0.05):
    """Perfect velocity tracking: position follows the filtered command."""
    pos = np.array(start, float)[None]
    vel = np.array(v_nom, float)[None]
    trace = []
    for _ in range(steps):
        out = safety.filter(pos, vel, np.array(v_nom, float)[None], predict=False)
        vel = out.velocity
        pos = pos + vel * dt
        trace.append(pos[0].copy())
    return np.array(trace)


def test_filter_stops_at_margin_and_slides_along_the_wall():
    wall = shapely.box(0, -5000, 1000, 5000)
    zones = ZoneSet.from_local([wall], [zone("W")])
    cfg = FilterConfig()
    safety = SafetyFilter(zones, cfg)
    trace = kinematic_run(safety, [-300, 0, 50], [10.0, 4.0, 0.0], steps=1200)
    assert trace[:, 0].max() <= -cfg.margin_h_m + 0.05          # never closer than the margin
    assert trace[-1, 0] == pytest.approx(-cfg.margin_h_m, abs=0.2)  # parked at it
    # tangential motion kept: 4 m/s along the wall once stopped against it
    assert (trace[-1, 1] - trace[-201, 1]) / (200 * 0.05) == pytest.approx(4.0, abs=0.05)
    out = safety.filter([[-cfg.margin_h_m - 0.01, 0, 50]], [[0, 0, 0]], [[10.0, 4.0, 0.0]])
    assert FenceStatus(out.status[0]) is FenceStatus.AVOIDING


def test_filter_concave_corner_and_notch():
    # an L-shaped (non-convex) zone: push diagonally into the inner corner
    shape = shapely.Polygon([(0, 0), (1000, 0), (1000, 1000), (500, 1000), (500, 500), (0, 500)])
    zones = ZoneSet.from_local([shape], [zone("L")])
    cfg = FilterConfig()
    safety = SafetyFilter(zones, cfg)
    trace = kinematic_run(safety, [300, 800, 50], [8.0, -8.0, 0.0], steps=800)
    clearance = shapely.distance(shape, shapely.points(trace[:, :2]))
    assert clearance.min() >= cfg.margin_h_m - 0.1
    # two separate convex zones forming a gap narrower than twice the margin: no way through
    a, b = shapely.box(-500, 10, 500, 500), shapely.box(-500, -500, 500, -10)
    zones = ZoneSet.from_local([a, b], [zone("A"), zone("B")])
    trace = kinematic_run(SafetyFilter(zones, cfg), [-800, 0, 50], [15.0, 0.0, 0.0], steps=600)
    assert trace[:, 0].max() < -500 - 10   # held outside the gap


def test_filter_caps_climb_under_raised_floor_and_allows_overflight():
    block = shapely.box(-1000, -1000, 1000, 1000)
    zones = ZoneSet.from_local([block], [zone("F", lower=80.0, upper=120.0)])
    cfg = FilterConfig()
    safety = SafetyFilter(zones, cfg)
    trace = kinematic_run(safety, [0, 0, 20], [3.0, 0.0, 4.0], steps=400)
    assert trace[:, 2].max() <= 80.0 - cfg.margin_v_m + 0.05
    assert trace[-1, 0] > 50.0     # horizontal motion under the floor is untouched


def test_filter_exits_inside_by_shortest_way():
    square = shapely.box(0, 0, 1000, 1000)
    zones = ZoneSet.from_local([square], [zone("S")])
    cfg = FilterConfig()
    safety = SafetyFilter(zones, cfg)
    out = safety.filter([[30.0, 500.0, 50.0]], [[0, 0, 0]], [[0.0, 0.0, 0.0]])
    assert FenceStatus(out.status[0]) is FenceStatus.BREACH
    assert out.velocity[0, 0] == pytest.approx(-cfg.max_exit_speed_mps)   # west edge is nearest
    assert abs(out.velocity[0, 1]) < 1e-9 and abs(out.velocity[0, 2]) < 1e-9
    # a nominal command deeper into the zone is overridden
    out = safety.filter([[30.0, 500.0, 50.0]], [[0, 0, 0]], [[10.0, 0.0, 0.0]])
    assert out.velocity[0, 0] <= -cfg.max_exit_speed_mps + 1e-9
    trace = kinematic_run(safety, [30.0, 500.0, 50.0], [0.0, 0.0, 0.0], steps=600)
    assert trace[-1, 0] < -cfg.margin_h_m + 0.5


def test_filter_keep_in_fence():
    field = shapely.box(-200, -200, 200, 200)
    zones = ZoneSet.from_local([field], [zone("K", upper=math.inf, keep_in=True)])
    cfg = FilterConfig()
    trace = kinematic_run(SafetyFilter(zones, cfg), [0, 0, 30], [12.0, 5.0, 0.0], steps=600)
    assert trace[:, 0].max() <= 200 - cfg.margin_h_m + 0.05
    assert trace[:, 1].max() <= 200 - cfg.margin_h_m + 0.05


def test_filter_vectorised_equals_per_vehicle():
    rng = np.random.default_rng(2)
    polys = [shapely.Point(rng.uniform(-2000, 2000, 2)).buffer(rng.uniform(50, 300)) for _ in range(40)]
    zones = ZoneSet.from_local(polys, [zone(f"Z{i}") for i in range(40)])
    safety = SafetyFilter(zones, FilterConfig())
    pos = np.column_stack([rng.uniform(-2000, 2000, (300, 2)), rng.uniform(0, 150, 300)])
    vel = rng.normal(0, 5, (300, 3))
    v_nom = rng.normal(0, 8, (300, 3))
    batch = safety.filter(pos, vel, v_nom)
    for i in range(0, 300, 7):
        single = safety.filter(pos[i:i + 1], vel[i:i + 1], v_nom[i:i + 1])
        np.testing.assert_allclose(single.velocity[0], batch.velocity[i], atol=1e-9)
        assert single.status[0] == batch.status[i]
    # every output satisfies its constraints (QP feasibility) when a feasible point exists
    A, b, valid, *_ = safety.constraints(pos, v_nominal=v_nom)
    lhs = np.einsum("nkd,nd->nk", A, batch.velocity)
    ok = np.where(valid, lhs <= b + 1e-6, True).all(axis=1)
    assert ok[(np.where(valid, b, np.inf) >= 0).all(axis=1)].all()


def test_monte_carlo_small_no_breach():
    result = run_encounters(EncounterConfig(n_encounters=300, seed=21, duration_s=35.0))
    assert result.breaches == 0
    assert result.min_clearance_m > 0.0
    # the approaches really reach the margin region (the test would be vacuous otherwise)
    assert np.median(result.min_clearance_per_encounter) < 30.0


def test_time_to_breach_and_swept_stopping_envelope():
    wall = shapely.box(0, -500, 1000, 500)
    zones = ZoneSet.from_local([wall], [zone("W")])
    cfg = FilterConfig()
    safety = SafetyFilter(zones, cfg)
    gnss_margin = cfg.gnss_k_sigma * cfg.gnss_sigma_h_m
    ttb = safety.time_to_breach([[-200, 0, 50], [-200, 0, 50], [-200, 600, 50]],
                                [[10, 0, 0], [-10, 0, 0], [10, 0, 0]])
    assert ttb[0] == pytest.approx((200 - gnss_margin) / 10.0, abs=1e-6)
    assert math.isinf(ttb[1]) and math.isinf(ttb[2])   # moving away / passing north of it
    # swept stopping envelope: hits exactly when the stop (plus margin) reaches the zone
    speed = 15.0
    reach = float(cfg.stopping.stopping_distance_m(speed)) + cfg.margin_h_m
    hits = safety.stopping_envelope_hits([[-reach - 1.0, 0, 50], [-reach + 1.0, 0, 50]],
                                         [[speed, 0, 0], [speed, 0, 0]])
    np.testing.assert_array_equal(hits, [False, True])
    # above the band: the envelope passes over it
    assert not safety.stopping_envelope_hits([[-reach + 1.0, 0, 200]], [[speed, 0, 0]])[0]


def test_vehicle_in_a_hole_stays_in_it():
    donut = shapely.Point(0, 0).buffer(2000).difference(shapely.Point(0, 0).buffer(400))
    zones = ZoneSet.from_local([donut], [zone("D")])
    assert not zones.violations(np.array([[0.0, 0.0, 50.0]]))[0]
    assert zones.violations(np.array([[1000.0, 0.0, 50.0]]))[0]
    cfg = FilterConfig()
    trace = kinematic_run(SafetyFilter(zones, cfg), [0, 0, 50], [9.0, 3.0, 0.0], steps=600)
    assert np.hypot(trace[:, 0], trace[:, 1]).max() <= 400 - cfg.margin_h_m + 0.1


def test_empty_zone_set_is_harmless():
    zones = ZoneSet.from_local([], [])
    assert not zones.violations(np.array([[0.0, 0.0, 0.0]]))[0]
    out = SafetyFilter(zones, FilterConfig()).filter([[0, 0, 0]], [[0, 0, 0]], [[30.0, 0, 9.0]])
    np.testing.assert_allclose(out.velocity[0], [20.0, 0.0, 5.0])   # only the speed limits
    assert FenceStatus(out.status[0]) is FenceStatus.AVOIDING

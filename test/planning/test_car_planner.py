"""Car planning session: routes around walls, stopping at the goal, braking for a pedestrian."""
import math

import numpy as np
import pytest

from skyroad.planning.frenet import FrenetConfig
from skyroad.planning.car_planner import CarPlanner, CarPlannerConfig, EgoState, GridInFrame
from skyroad.planning.grid import PlanningError
from skyroad.planning.prediction import ObjectStates


def _grid_with_wall():
    occ = np.zeros((400, 400), bool)          # 0.25 m cells, 100 m x 100 m, map frame origin (-50, -50)
    occ[150:400, 238:242] = True              # wall at x = 10 m from y = -12.5 m upwards
    return GridInFrame(occ, 0.25, (-50.0, -50.0))


def test_route_goes_around_the_wall_and_plans_collision_free():
    grid = _grid_with_wall()
    planner = CarPlanner(CarPlannerConfig(cruise_speed_mps=6.0, robot_radius_m=1.2))
    ego = EgoState(0.0, 0.0, 0.0, 3.0)
    assert planner.set_goal(ego, (20.0, 0.0), grid) == "grid_astar"
    assert planner.route[:, 1].min() < -12.0                 # detours below the wall's end
    out = planner.plan(ego, None, grid)
    assert out.status == "ok"
    traj = out.trajectory
    assert np.all(np.diff(traj.t_s) > 0)
    rc = np.floor((np.stack([traj.y, traj.x], 1) - [-50.0, -50.0]) / 0.25).astype(int)
    assert not grid.occupied[rc[:, 0], rc[:, 1]].any()


def test_goal_errors_are_specific():
    grid = _grid_with_wall()
    planner = CarPlanner()
    ego = EgoState(0.0, 0.0, 0.0, 0.0)
    with pytest.raises(PlanningError, match="goal_in_obstacle"):
        planner.set_goal(ego, (10.0, 5.0), grid)
    enclosed = grid.occupied.copy()
    enclosed[:, 238:242] = True                              # wall across the whole map
    with pytest.raises(PlanningError, match="unreachable"):
        planner.set_goal(ego, (20.0, 0.0), GridInFrame(enclosed, 0.25, (-50.0, -50.0)))
    with pytest.raises(PlanningError, match="goal position must be finite"):
        planner.set_goal(ego, (np.nan, 0.0), grid)
    with pytest.raises(PlanningError, match="ego state has NaN"):
        planner.plan(EgoState(np.nan, 0.0, 0.0, 0.0))
    with pytest.raises(PlanningError, match="mission waypoints is empty"):
        planner.set_route(np.zeros((0, 2)))


def test_goal_outside_local_grid_uses_a_straight_route_in_the_grid_frame():
    occ = np.zeros((80, 80), bool)                           # 20 m local grid centred on base_link
    grid = GridInFrame(occ, 0.25, (-10.0, -10.0), frame_pose=(100.0, 50.0, math.pi / 2))
    assert grid.contains((100.0, 50.0)) and not grid.contains((100.0, 70.0))
    planner = CarPlanner()
    src = planner.set_goal(EgoState(100.0, 50.0, math.pi / 2, 0.0), (100.0, 90.0), grid)
    assert src == "straight_line_goal_outside_grid"


def test_brakes_for_a_pedestrian_stepping_out_and_stops_at_the_goal():
    # a single lane: lateral offsets limited to +-0.5 m, so only braking can help
    planner = CarPlanner(CarPlannerConfig(cruise_speed_mps=10.0,
                                          frenet=FrenetConfig(lateral_offsets_m=(-0.5, 0.0, 0.5))))
    planner.set_route([[0.0, 0.0], [200.0, 0.0]])
    ego = EgoState(0.0, 0.0, 0.0, 10.0)
    ped = ObjectStates.from_arrays([14.0], [-0.5], [math.pi / 2], [1.4], None, [0.5], [0.5])
    out = planner.plan(ego, ped)
    # 14 m ahead at 10 m/s, walking into the lane
    assert out.trajectory.v_mps.min() < 7.0                                # slows to let it cross
    free = planner.plan(ego, ObjectStates.from_arrays([14.0], [-30.0], [0.0], [0.0]))
    assert free.status == "ok" and free.trajectory.v_mps.min() > 9.0      # same scene, nobody there
    assert out.status in ("yield", "emergency_stop")
    # at the end of the route: standstill reported as goal_reached
    planner.set_route([[0.0, 0.0], [0.3, 0.0]])
    assert planner.plan(EgoState(0.3, 0.0, 0.0, 0.0)).status == "goal_reached"
    fresh = CarPlanner()
    assert fresh.plan(ego).status == "no_route"


def test_closed_loop_route_with_crossing_pedestrians_has_no_collision():
    """10 Hz replanning along a 200 m two-lane road; the ego follows each plan's first 0.1 s
    exactly (tracking is the controller's job). A pedestrian crosses at x=60 m, a second one
    steps out at x=120 m when the ego is 18 m away and is detected only then."""
    from shapely.geometry import Point, Polygon

    cfg = CarPlannerConfig(cruise_speed_mps=10.0, frenet=FrenetConfig(lateral_offsets_m=(-1.0, -0.5, 0.0, 0.5)))
    planner = CarPlanner(cfg)
    planner.set_route([[0.0, 0.0], [200.0, 0.0]])
    ego = EgoState(0.0, 0.0, 0.0, 10.0)
    dt = 0.1
    step_out_t = None
    min_gap = np.inf
    reacted_after_s = None
    for k in range(400):
        t = k * dt
        peds = []
        # pedestrian 1: walks north across the road at x=60, reaching y=0 at t=6 s
        peds.append((60.0, -6.0 + 1.0 * t, math.pi / 2, 1.0))
        # pedestrian 2: stands at the kerb at x=120, steps out when the ego is 18 m away
        if step_out_t is None and 120.0 - ego.x <= 18.0:
            step_out_t = t
        if step_out_t is not None:
            peds.append((120.0, -2.5 + 1.2 * (t - step_out_t), math.pi / 2, 1.2))
        objs = ObjectStates.from_arrays([p[0] for p in peds], [p[1] for p in peds], [p[2] for p in peds],
                                        [p[3] for p in peds], None, [0.6] * len(peds), [0.6] * len(peds))
        out = planner.plan(ego, objs)
        if out.trajectory is None:
            break
        tr = out.trajectory
        if step_out_t is not None and reacted_after_s is None and tr.v_mps[5] < ego.speed_mps - 0.5:
            reacted_after_s = t - step_out_t
        c, s = math.cos(ego.yaw), math.sin(ego.yaw)
        body = Polygon([(ego.x + c * dx - s * dy, ego.y + s * dx + c * dy)
                        for dx, dy in ((2.25, 0.9), (2.25, -0.9), (-2.25, -0.9), (-2.25, 0.9))])
        for px, py, _yaw, _v in peds:
            min_gap = min(min_gap, body.distance(Point(px, py).buffer(0.3)))
        nxt = dict(x=np.interp(dt, tr.t_s, tr.x), y=np.interp(dt, tr.t_s, tr.y),
                   yaw=np.interp(dt, tr.t_s, np.unwrap(tr.yaw)), v=np.interp(dt, tr.t_s, tr.v_mps),
                   a=np.interp(dt, tr.t_s, tr.a_mps2), kappa=np.interp(dt, tr.t_s, tr.kappa_1pm))
        ego = EgoState(nxt["x"], nxt["y"], nxt["yaw"], max(nxt["v"], 0.0), nxt["a"], nxt["kappa"])
        if ego.x > 150.0:
            break
    assert ego.x > 150.0, f"did not get past the pedestrians (stopped at x={ego.x:.1f})"
    assert min_gap > 0.3, f"came within {min_gap:.2f} m of a pedestrian"
    assert reacted_after_s is not None and reacted_after_s <= 0.1 + 1e-9   # brakes in the detection cycle


def test_yields_to_a_person_in_the_lane_instead_of_swerving_past():
    # two lanes' worth of lateral offsets: a swerve past the person would be collision-free
    planner = CarPlanner(CarPlannerConfig(cruise_speed_mps=8.0))
    planner.set_route([[0.0, 0.0], [200.0, 0.0]])
    ego = EgoState(0.0, 0.0, 0.0, 8.0)
    standing = ObjectStates.from_arrays([25.0], [0.3], [0.0], [0.0], None, [0.5], [0.5])
    out = planner.plan(ego, standing)
    assert out.status == "yield", out.message
    traj = out.trajectory
    assert traj.a_mps2[1] < 0.0 and traj.v_mps[-1] < 3.0        # brakes from the first step
    front = traj.x + planner.cfg.limits.center_offset_m + planner.cfg.limits.length_m / 2
    assert front.max() <= 25.0 - 0.25 - planner.cfg.yield_standoff_m + 0.6   # short of the person
    # without the rule the same scene is passed by swerving (the planner's CV prediction allows it)
    swerve = CarPlanner(CarPlannerConfig(cruise_speed_mps=8.0, yield_to_small_objects=False))
    swerve.set_route([[0.0, 0.0], [200.0, 0.0]])
    passed = swerve.plan(ego, standing)
    assert passed.status == "ok" and passed.trajectory.v_mps.min() > 6.0
    # on the sidewalk (4 m to the side), walking along it: no reason to slow down
    sidewalk = ObjectStates.from_arrays([25.0], [-4.5], [0.0], [1.4], None, [0.5], [0.5])
    assert planner.plan(ego, sidewalk).status == "ok"
    # a car-sized object in the lane is not yielded to (passed or followed by the Frenet search)
    car = ObjectStates.from_arrays([25.0], [0.0], [0.0], [0.0], None, [4.5], [1.8])
    assert planner.plan(ego, car).status != "yield"


def test_yields_to_a_person_about_to_step_in_and_resumes_when_the_lane_clears():
    planner = CarPlanner(CarPlannerConfig(cruise_speed_mps=8.0))
    planner.set_route([[0.0, 0.0], [200.0, 0.0]])
    ego = EgoState(0.0, 0.0, 0.0, 8.0)
    # 3.5 m right of the lane centre, walking towards it at 1.4 m/s: inside the corridor in ~1 s
    stepping_in = ObjectStates.from_arrays([20.0], [-3.5], [math.pi / 2], [1.4], None, [0.5], [0.5])
    assert planner.plan(ego, stepping_in).status == "yield"
    # past the lane on the far side and walking away from it: go on at speed
    gone = ObjectStates.from_arrays([20.0], [3.5], [math.pi / 2], [1.4], None, [0.5], [0.5])
    out = planner.plan(ego, gone)
    assert out.status == "ok" and out.trajectory.v_mps.min() > 7.0
    # already beside the car (not ahead of its front bumper): not a reason to stop
    beside = ObjectStates.from_arrays([1.0], [1.6], [0.0], [0.0], None, [0.5], [0.5])
    assert planner.plan(ego, beside).status != "yield"


def test_person_stepping_out_inside_the_braking_distance_gives_an_emergency_stop():
    planner = CarPlanner(CarPlannerConfig(cruise_speed_mps=10.0))
    planner.set_route([[0.0, 0.0], [200.0, 0.0]])
    ego = EgoState(0.0, 0.0, 0.0, 10.0)
    close = ObjectStates.from_arrays([9.0], [0.0], [0.0], [0.0], None, [0.5], [0.5])
    out = planner.plan(ego, close)
    assert out.status == "emergency_stop", out.message
    assert out.trajectory.a_mps2[1:6].max() < 0.0 and out.trajectory.v_mps[-1] == 0.0


def test_passes_first_when_too_late_to_stop_and_clear_before_the_person_steps_in():
    # 5.5 m/s; a person 3.3 m right of the lane centre walks towards it at 1.2 m/s (in the car's
    # corridor after ~1.6 s), their crossing 2 m ahead of the front bumper: the car can no longer
    # stop short of them (it would stand in their way) and its rear clears the crossing in ~1.3 s:
    # it goes on
    planner = CarPlanner(CarPlannerConfig(cruise_speed_mps=6.0))
    planner.set_route([[0.0, 0.0], [200.0, 0.0]])
    lim = planner.cfg.limits
    front_m = lim.center_offset_m + lim.length_m / 2
    ego = EgoState(0.0, 0.0, 0.0, 5.5)

    def person_at(ahead_m, right_m):
        return ObjectStates.from_arrays([front_m + ahead_m], [-right_m], [math.pi / 2], [1.2], None, [0.5], [0.5])
    out = planner.plan(ego, person_at(2.0, 3.3))
    assert out.status == "ok", out.message
    assert out.trajectory.v_mps[:20].min() > 4.5                          # no braking into their path
    # the same person 14 m ahead: the car cannot clear first, and has room to stop short: it yields
    assert planner.plan(ego, person_at(14.0, 3.3)).status == "yield"
    # already in the path: always yield, however close (emergency stop when it must)
    assert planner.plan(ego, person_at(2.0, 0.0)).status in ("yield", "emergency_stop")

"""CommonRoad benchmark for the Frenet trajectory planner.

    python -m skyroad.planning.commonroad_eval SCENARIO.xml [SCENARIO.xml ...] --json

For every planning problem of every scenario the planner runs closed loop, once per scenario
time step: it predicts the obstacles it sees at that step (constant velocity / CTRV from their
current state by default; ``--prediction recorded`` uses the scenario's recorded futures),
plans a Frenet trajectory on a reference line through the lanelet network, and a tracking law
turns the first step of the plan into KS inputs (steering rate, acceleration) that are
integrated with the drivability checker's own KS model of the BMW 320i (vehicle id 2). The
input vector is then checked with ``commonroad_dc``'s ``valid_solution`` (goal reached, no
collision with obstacles or the road boundary, inputs feasible) and costed with SM1.

A scenario the planner cannot solve is reported with ``valid: false`` and the checks that
failed; it is never skipped. Needs the ``commonroad-io`` and ``commonroad-drivability-checker``
packages (see src/planning/README.md for the versions).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .frenet import (ClearanceMap, FrenetConfig, FrenetGoal, ReferencePath, VehicleLimits,
                     frenet_state_from_cartesian, plan_frenet)
from .grid import PlanningError
from .prediction import ObjectStates, predict_boxes

_CHECKS = ("solved_all_problems", "goal_reached", "starts_at_correct_state", "obstacle_collision",
           "boundary_collision", "ego_collision", "feasibility")


def _require_commonroad():
    try:
        import commonroad  # noqa: F401
        import commonroad_dc  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise SystemExit("commonroad_eval needs commonroad-io==2024.3 and commonroad-drivability-checker "
                         f"(pip install them into the venv): {exc}")


# --------------------------------------------------------------------------------------
# Scenario -> planner inputs
# --------------------------------------------------------------------------------------
def _drivable_clearance(lanelet_network, near_xy: np.ndarray | None = None, resolution_m: float = 0.2,
                        margin_m: float = 10.0, corridor_m: float = 60.0, max_cells: int = 8_000_000) -> ClearanceMap:
    """Rasterise the union of the lanelets (near ``near_xy``, the route, when given); everything
    else is off-road (blocked). Large maps get coarser cells so the raster stays under
    ``max_cells`` (a coarser raster is more conservative, never less)."""
    import cv2

    polys = [ll.polygon.vertices for ll in lanelet_network.lanelets]
    if near_xy is not None and len(near_xy):
        lo_r = near_xy.min(axis=0) - corridor_m
        hi_r = near_xy.max(axis=0) + corridor_m
        polys = [v for v in polys if np.all(v.max(axis=0) >= lo_r) and np.all(v.min(axis=0) <= hi_r)] or polys
    allv = np.vstack(polys)
    lo = allv.min(axis=0) - margin_m
    hi = allv.max(axis=0) + margin_m
    area = float(np.prod(hi - lo))
    resolution_m = max(resolution_m, math.sqrt(area / max_cells))
    shape = (int(math.ceil((hi[1] - lo[1]) / resolution_m)), int(math.ceil((hi[0] - lo[0]) / resolution_m)))
    drivable = np.zeros(shape, dtype=np.uint8)
    for v in polys:
        pix = np.round((v - lo) / resolution_m - 0.5).astype(np.int32)
        cv2.fillPoly(drivable, [pix.reshape(-1, 1, 2)], 1)
    # Shrink by one cell: fillPoly paints every cell the border touches, which would count
    # partially off-road cells as drivable.
    drivable = cv2.erode(drivable, np.ones((3, 3), np.uint8))
    return ClearanceMap(drivable == 0, resolution_m, (lo[0], lo[1]), outside_clearance_m=0.0)


def _heading_at(polyline: np.ndarray, point: np.ndarray) -> float:
    d = np.hypot(*(polyline - point).T)
    i = int(np.clip(np.argmin(d), 0, len(polyline) - 2))
    v = polyline[i + 1] - polyline[i]
    return math.atan2(v[1], v[0])


def _angle_diff(a, b):
    return abs(math.atan2(math.sin(a - b), math.cos(a - b)))


def _start_lanelet(net, position, orientation):
    ids = net.find_lanelet_by_position([np.asarray(position)])[0]
    if not ids:  # start slightly off the lanelets: take the nearest centre line
        best = min(net.lanelets, key=lambda ll: np.min(np.hypot(*(ll.center_vertices - position).T)))
        return best
    cands = [net.find_lanelet_by_id(i) for i in ids]
    return min(cands, key=lambda ll: _angle_diff(_heading_at(ll.center_vertices, position), orientation))


def _goal_center(goal_state):
    pos = getattr(goal_state, "position", None)
    if pos is None:
        return None
    shapes = getattr(pos, "shapes", None) or [pos]
    centers = []
    for sh in shapes:
        c = getattr(sh, "center", None)
        if c is None and hasattr(sh, "vertices"):
            c = np.asarray(sh.vertices).mean(axis=0)
        if c is not None:
            centers.append(np.asarray(c, dtype=float))
    return np.mean(centers, axis=0) if centers else None


def _goal_lanelets(net, planning_problem, center):
    ids = set()
    lg = planning_problem.goal.lanelets_of_goal_position
    if lg:
        for v in lg.values():
            ids.update(v)
    if center is not None:
        ids.update(net.find_lanelet_by_position([center])[0])
    return ids


def _route(net, start_ll, goal_ids, orientation_goal=None, max_depth: int = 30):
    """Lanelet sequence from the start lanelet following successors (and same-direction
    neighbours) to a goal lanelet; without goal lanelets, the straightest successor chain."""
    from collections import deque

    if goal_ids:
        # breadth-first over successors and adjacent same-direction lanes
        parent = {start_ll.lanelet_id: None}
        queue = deque([start_ll.lanelet_id])
        found = None
        while queue:
            lid = queue.popleft()
            if lid in goal_ids:
                found = lid
                break
            ll = net.find_lanelet_by_id(lid)
            nxt = list(ll.successor)
            if ll.adj_left is not None and ll.adj_left_same_direction:
                nxt.append(ll.adj_left)
            if ll.adj_right is not None and ll.adj_right_same_direction:
                nxt.append(ll.adj_right)
            for n in nxt:
                if n not in parent:
                    parent[n] = lid
                    queue.append(n)
        if found is not None:
            seq = [found]
            while parent[seq[-1]] is not None:
                seq.append(parent[seq[-1]])
            seq = seq[::-1]
            # keep only longitudinal links: after a lateral move, the reference follows the new lane
            chain = [seq[-1]]
            for lid in reversed(seq[:-1]):
                if chain[0] in net.find_lanelet_by_id(lid).successor:
                    chain.insert(0, lid)
                else:
                    # lateral step: continue backwards along predecessors of the current lane
                    ll = net.find_lanelet_by_id(chain[0])
                    if not ll.predecessor:
                        break
                    # the predecessor is the lanelet laterally next to lid (or lid itself)
                    preds = [net.find_lanelet_by_id(p) for p in ll.predecessor]
                    ref_ll = net.find_lanelet_by_id(lid)
                    best = min(preds, key=lambda p: np.min(np.hypot(*(p.center_vertices[-1] - ref_ll.center_vertices[-1]))))
                    chain.insert(0, best.lanelet_id)
            seq = chain
            # extend past the goal
            last = net.find_lanelet_by_id(seq[-1])
            for _ in range(3):
                if not last.successor:
                    break
                last = net.find_lanelet_by_id(last.successor[0])
                seq.append(last.lanelet_id)
            return seq
    seq = [start_ll.lanelet_id]
    ll = start_ll
    for _ in range(max_depth):
        if not ll.successor:
            break
        end_heading = _heading_at(ll.center_vertices, ll.center_vertices[-1])
        succ = [net.find_lanelet_by_id(s) for s in ll.successor]
        ll = min(succ, key=lambda s: _angle_diff(math.atan2(*(s.center_vertices[-1] - s.center_vertices[0])[::-1]),
                                                 end_heading))
        seq.append(ll.lanelet_id)
    return seq


def _reference_for(net, seq, start_position) -> ReferencePath:
    pts = [net.find_lanelet_by_id(seq[0]).center_vertices]
    for lid in seq[1:]:
        cv = net.find_lanelet_by_id(lid).center_vertices
        pts.append(cv[1:] if np.hypot(*(cv[0] - pts[-1][-1])) < 0.5 else cv)
    # also cover the part behind the start (predecessor) so the vehicle projects inside
    first = net.find_lanelet_by_id(seq[0])
    if first.predecessor:
        pts.insert(0, net.find_lanelet_by_id(first.predecessor[0]).center_vertices[:-1])
    return ReferencePath(np.vstack(pts))


def _obstacle_box(obstacle, time_step):
    """[x, y, yaw, length, width] of an obstacle's occupancy at a time step (None if absent)."""
    from shapely.geometry import Polygon as ShPolygon

    occ = obstacle.occupancy_at_time(time_step)
    if occ is None:
        return None
    shape = occ.shape
    shapes = getattr(shape, "shapes", None) or [shape]
    sh = shapes[0]
    if hasattr(sh, "length") and hasattr(sh, "width"):
        return np.array([sh.center[0], sh.center[1], sh.orientation, sh.length, sh.width])
    if hasattr(sh, "radius"):
        return np.array([sh.center[0], sh.center[1], 0.0, 2 * sh.radius, 2 * sh.radius])
    rect = ShPolygon(np.asarray(sh.vertices)).minimum_rotated_rectangle
    v = np.asarray(rect.exterior.coords)[:4]
    e1, e2 = v[1] - v[0], v[2] - v[1]
    return np.array([*v.mean(axis=0), math.atan2(e1[1], e1[0]), np.hypot(*e1), np.hypot(*e2)])


def _scalar(value) -> float:
    """A state value that may be an Interval (uncertain recording): its midpoint."""
    if value is None:
        return 0.0
    if hasattr(value, "start") and hasattr(value, "end"):
        return 0.5 * (float(value.start) + float(value.end))
    return float(value)


class LanePredictor:
    """Map-based constant-speed prediction: an object whose heading agrees with the lanelet
    it is on (within ``max_heading_diff_rad``) moves along that lanelet's centre line (and
    its first successors) at its current speed, keeping its lateral offset. Others fall back
    to CV. This removes the heading noise of recorded tracks, which makes straight-line
    predictions of cars in neighbouring lanes cut into the ego's lane."""

    def __init__(self, lanelet_network, max_heading_diff_rad: float = math.radians(25.0)):
        self.net = lanelet_network
        self.max_diff = max_heading_diff_rad
        self._refs = {}

    def _ref(self, lanelet_id):
        if lanelet_id not in self._refs:
            ll = self.net.find_lanelet_by_id(lanelet_id)
            pts = [ll.center_vertices]
            cur = ll
            for _ in range(4):  # enough successors for a few seconds of travel
                if not cur.successor:
                    break
                cur = self.net.find_lanelet_by_id(cur.successor[0])
                pts.append(cur.center_vertices[1:])
            self._refs[lanelet_id] = ReferencePath(np.vstack(pts), smoothing_m=1.0)
        return self._refs[lanelet_id]

    def predict(self, box, speed, times_s):
        ids = self.net.find_lanelet_by_position([box[:2]])[0]
        best = None
        for lid in ids:
            ref = self._ref(lid)
            s0, d0 = ref.project(box[:2])
            _, _, th, _ = ref.eval(s0)
            diff = _angle_diff(float(th), float(box[2]))
            if diff <= self.max_diff and (best is None or diff < best[0]):
                best = (diff, ref, float(s0), float(d0))
        if best is None:
            return None
        _, ref, s0, d0 = best
        s = s0 + speed * times_s
        x, y, th, _ = ref.eval(s)
        out = np.empty((len(times_s), 5))
        out[:, 0] = x - d0 * np.sin(th)
        out[:, 1] = y + d0 * np.cos(th)
        out[:, 2] = th
        out[:, 3] = box[3]
        out[:, 4] = box[4]
        return out


def _obstacle_boxes(scenario, k: int, times_s: np.ndarray, mode: str, lanes: LanePredictor | None = None) -> np.ndarray:
    """Predicted boxes (K, N, 5) of every obstacle present at step k."""
    dt = scenario.dt
    rows = []
    for ob in scenario.obstacles:
        now = _obstacle_box(ob, k)
        if now is None:
            continue
        if mode == "lane" and lanes is not None:
            st = ob.state_at_time(k) if hasattr(ob, "state_at_time") else None
            speed = _scalar(getattr(st, "velocity", 0.0)) if st is not None else 0.0
            row = lanes.predict(now, speed, times_s) if speed > 0.1 else None
            if row is not None:
                rows.append(row)
                continue
        if mode == "recorded":
            row = np.full((len(times_s), 5), np.nan)
            for j, t in enumerate(times_s):
                kk = k + t / dt
                k0 = int(math.floor(kk + 1e-9))
                b0 = _obstacle_box(ob, k0)
                b1 = _obstacle_box(ob, k0 + 1)
                if b0 is None:
                    continue
                if b1 is None or kk - k0 < 1e-9:
                    row[j] = b0
                else:
                    w = kk - k0
                    row[j] = b0 + w * (b1 - b0)
                    row[j, 2] = b0[2] + w * math.atan2(math.sin(b1[2] - b0[2]), math.cos(b1[2] - b0[2]))
            rows.append(row)
            continue
        st = ob.state_at_time(k) if hasattr(ob, "state_at_time") else None
        speed = _scalar(getattr(st, "velocity", 0.0)) if st is not None else 0.0
        yaw = float(now[2])
        yaw_rate = 0.0
        if mode == "ctrv" and k > 0:
            prev = _obstacle_box(ob, k - 1)
            if prev is not None:
                yaw_rate = math.atan2(math.sin(now[2] - prev[2]), math.cos(now[2] - prev[2])) / dt
        objs = ObjectStates.from_arrays([now[0]], [now[1]], [yaw], [speed], [yaw_rate], [now[3]], [now[4]])
        # "lane" falls back to CV for objects off the lanes or not aligned with them
        rows.append(predict_boxes(objs, times_s, "ctrv" if mode == "ctrv" else "cv")[0])
    if not rows:
        return np.zeros((0, len(times_s), 5))
    return np.stack(rows)


# --------------------------------------------------------------------------------------
# Closed loop
# --------------------------------------------------------------------------------------
@dataclass
class ProblemRun:
    inputs: list
    states: list
    plan_ms: list
    emergencies: int
    plan_cpu_ms: list = None


def _track(plan_traj, x_ks, params, dt, lookahead_s: float = 0.7, min_lookahead_m: float = 3.0):
    """KS inputs (steering rate, acceleration) that follow the plan.

    Steering: pure pursuit from the rear axle (the KS reference point) to the plan point one
    look-ahead time ahead (the plan's points are vehicle centres, so the target is shifted back
    by the rear overhang b along the plan heading). The steering-rate bound turns the
    geometric angle into a rate. Speed: the plan's speed one step ahead.
    """
    l_wb = params.a + params.b
    v = x_ks[3]
    yaw = x_ks[4]
    t = plan_traj.t_s
    t_la = max(lookahead_s, min_lookahead_m / max(abs(v), 0.1))
    t_la = min(t_la, float(t[-1]))
    plan_yaw = np.unwrap(plan_traj.yaw)
    yaw_la = float(np.interp(t_la, t, plan_yaw))
    tx = float(np.interp(t_la, t, plan_traj.x)) - params.b * math.cos(yaw_la)
    ty = float(np.interp(t_la, t, plan_traj.y)) - params.b * math.sin(yaw_la)
    dx, dy = tx - x_ks[0], ty - x_ks[1]
    dist = math.hypot(dx, dy)
    if dist < 0.5:  # standing still on the plan: hold the wheel where the plan's curvature says
        delta_des = math.atan(l_wb * float(plan_traj.kappa_1pm[0]))
    else:
        alpha = math.atan2(dy, dx) - yaw
        delta_des = math.atan2(2.0 * l_wb * math.sin(alpha), dist)
    delta_des = float(np.clip(delta_des, params.steering.min, params.steering.max))
    steer_rate = float(np.clip((delta_des - x_ks[2]) / dt, params.steering.v_min * 0.999, params.steering.v_max * 0.999))
    v1 = float(np.interp(dt, t, plan_traj.v_mps))
    acc = (v1 - v) / dt
    a_lim = params.longitudinal.a_max * 0.98
    acc = float(np.clip(acc, -a_lim, a_lim))
    # friction circle: a^2 + (v * yaw_rate)^2 <= a_max^2
    lat = v * v * math.tan(x_ks[2] + steer_rate * dt) / l_wb
    room = max(a_lim ** 2 - lat ** 2, 0.0)
    acc = float(np.clip(acc, -math.sqrt(room), math.sqrt(room)))
    return np.array([steer_rate, acc])


def _goal_targets(pp, goal_state, ref, k, dt, v_cruise, limits):
    """FrenetGoal for step k: rendezvous with the goal position in its time window."""
    ts = goal_state.time_step
    t_lo = (ts.start - k) * dt
    t_hi = (ts.end - k) * dt
    vel = getattr(goal_state, "velocity", None)
    v_lo = vel.start if vel is not None else 0.0
    v_hi = vel.end if vel is not None else limits.v_max_mps
    center = _goal_center(goal_state)
    if center is None:
        # time-only goal (survive until the window): keep the lane at the initial speed
        return FrenetGoal(speed_mps=float(np.clip(v_cruise, v_lo, v_hi)), lateral_offset_m=0.0), None
    s_goal, d_goal = ref.project(center)
    s_goal, d_goal = float(s_goal), float(d_goal)
    t_target = max(0.5 * (t_lo + t_hi), dt)
    return FrenetGoal(speed_mps=0.0, lateral_offset_m=d_goal, rendezvous=(s_goal, t_target)), (s_goal, v_lo, v_hi, t_target)


def run_problem(scenario, pp, prediction: str, cfg: FrenetConfig) -> ProblemRun:
    from commonroad.common.solution import VehicleType
    from commonroad_dc.feasibility.vehicle_dynamics import VehicleDynamics

    vd = VehicleDynamics.KS(VehicleType.BMW_320i)
    params = vd.parameters
    limits = VehicleLimits(length_m=params.l, width_m=params.w, wheelbase_m=params.a + params.b,
                           max_steer_rad=params.steering.max, v_max_mps=min(params.longitudinal.v_max, 40.0))
    net = scenario.lanelet_network
    init = pp.initial_state
    # several goal states: steer for the first one that has a position (else the first);
    # any of them counts as reached (the checker's rule)
    goal_state = next((g for g in pp.goal.state_list if getattr(g, "position", None) is not None),
                      pp.goal.state_list[0])
    center = _goal_center(goal_state)
    start_ll = _start_lanelet(net, init.position, init.orientation)
    seq = _route(net, start_ll, _goal_lanelets(net, pp, center))
    ref = _reference_for(net, seq, init.position)
    x_ks, _ts = vd.state_to_array(vd.convert_initial_state(init))
    dt = scenario.dt
    times = np.arange(0.0, cfg.horizon_s + 1e-9, cfg.dt_s)
    k0 = init.time_step
    k_end = max(g.time_step.end for g in pp.goal.state_list)
    lanes = LanePredictor(net) if prediction == "lane" else None
    clearance = _drivable_clearance(net, np.column_stack([ref.x, ref.y]))
    inputs, states, plan_ms, plan_cpu_ms = [], [vd.array_to_state(x_ks, k0)], [], []
    emergencies = 0
    acc_prev = float(getattr(init, "acceleration", 0.0) or 0.0)
    has_position = center is not None
    for k in range(k0, k_end):
        state_k = states[-1]
        if k > k0 and pp.goal.is_reached(state_k) and (has_position or k >= k_end):
            break
        t_start, c_start = time.perf_counter(), time.process_time()
        boxes = _obstacle_boxes(scenario, k, times, prediction, lanes)
        yaw = x_ks[4]
        cx = x_ks[0] + params.b * math.cos(yaw)
        cy = x_ks[1] + params.b * math.sin(yaw)
        kappa_now = math.tan(x_ks[2]) / limits.wheelbase_m
        fs = frenet_state_from_cartesian(ref, cx, cy, yaw, x_ks[3], acc_prev, kappa_now)
        goal, info = _goal_targets(pp, goal_state, ref, k, dt, _scalar(init.velocity), limits)
        if info is not None:
            s_goal, v_lo, v_hi, t_target = info
            # the speed that covers the remaining distance by the middle of the window, kept
            # inside the goal's speed interval once the goal is close
            v_need = max(s_goal - fs.s, 0.0) / t_target
            goal.speed_mps = float(np.clip(v_need, 0.0, limits.v_max_mps))
            if t_target < 2.5:
                goal.speed_mps = float(np.clip(goal.speed_mps, v_lo, v_hi))
        # the KS model's drive limit falls with speed (a_max * v_switch / v): plan within it
        a_drive = params.longitudinal.a_max * params.longitudinal.v_switch / max(abs(x_ks[3]), params.longitudinal.v_switch)
        step_limits = dataclasses.replace(limits, a_max_mps2=float(min(a_drive * 0.9, 6.0)))
        result = plan_frenet(ref, fs, goal, step_limits, cfg, obstacles=boxes, clearance=clearance)
        plan_ms.append((time.perf_counter() - t_start) * 1e3)
        plan_cpu_ms.append((time.process_time() - c_start) * 1e3)
        emergencies += int(result.emergency)
        u = _track(result.trajectory, x_ks, params, dt)
        x_next = vd.forward_simulation(x_ks, u, dt, throw=False)
        if x_next is None:  # friction circle: drop the acceleration request
            u[1] = 0.0
            x_next = vd.forward_simulation(x_ks, u, dt, throw=False)
            if x_next is None:
                u[0] = 0.0
                x_next = vd.forward_simulation(x_ks, u, dt, throw=True)
        acc_prev = float(u[1])
        inputs.append(u)
        x_ks = x_next
        states.append(vd.array_to_state(x_ks, k + 1))
    return ProblemRun(inputs, states, plan_ms, emergencies, plan_cpu_ms)


def check_solution(scenario, pps, runs: dict):
    """Run the drivability checker on input-vector solutions {planning problem id: ProblemRun}.

    Returns (failed check names, valid_solution verdict, SM1 cost or None).
    """
    from commonroad.common.solution import (CostFunction, PlanningProblemSolution, Solution, VehicleModel,
                                            VehicleType)
    from commonroad.scenario.state import InputState, KSState
    from commonroad.scenario.trajectory import Trajectory as CrTrajectory
    from commonroad_dc.costs.evaluation import CostFunctionEvaluator
    from commonroad_dc.feasibility import solution_checker as sc_mod
    from commonroad_dc.feasibility.feasibility_checker import FeasibilityException
    from commonroad_dc.feasibility.vehicle_dynamics import VehicleDynamicsException

    # what the checker raises when a solution fails a check (as opposed to the checker breaking)
    check_failures = (sc_mod.SolutionCheckerException, FeasibilityException, VehicleDynamicsException)
    pp_solutions = []
    for pid, run in runs.items():
        k0 = pps.planning_problem_dict[pid].initial_state.time_step
        inputs = [InputState(steering_angle_speed=float(u[0]), acceleration=float(u[1]), time_step=k0 + i)
                  for i, u in enumerate(run.inputs)]
        pp_solutions.append(PlanningProblemSolution(
            planning_problem_id=pid, vehicle_model=VehicleModel.KS, vehicle_type=VehicleType.BMW_320i,
            cost_function=CostFunction.SM1, trajectory=CrTrajectory(k0, inputs)))
    cost = None
    solution = Solution(scenario.scenario_id, pp_solutions)
    failed = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checks = {
            "solved_all_problems": lambda: sc_mod.solved_all_problems(pps, solution),
            "goal_reached": lambda: sc_mod.goal_reached(scenario, pps, solution),
            "starts_at_correct_state": lambda: sc_mod.starts_at_correct_state(solution, pps),
            "obstacle_collision": lambda: not sc_mod.obstacle_collision(scenario, pps, solution),
            "boundary_collision": lambda: not sc_mod.boundary_collision(scenario, pps, solution),
            "ego_collision": lambda: not sc_mod.ego_collision(scenario, pps, solution),
            "feasibility": lambda: all(r[0] for r in sc_mod.solution_feasible(solution, scenario.dt, pps).values()),
        }
        for name, fn in checks.items():
            try:
                ok = fn()
            except check_failures:  # the checker signals a failed check by raising
                ok = False
            except Exception as exc:  # the checker itself broke (missing package, bad map): say so
                failed.append(f"{name} (checker error: {type(exc).__name__}: {str(exc)[:160]})")
                continue
            if not ok:
                failed.append(name)
        try:
            valid, _ = sc_mod.valid_solution(scenario, pps, solution)
        except Exception:
            valid = False
        try:
            evaluator = CostFunctionEvaluator(CostFunction.SM1, VehicleType.BMW_320i)
            total = 0.0
            for pid, run in runs.items():
                states = [KSState(position=s.position, steering_angle=s.steering_angle, velocity=s.velocity,
                                  orientation=s.orientation, time_step=s.time_step) for s in run.states]
                res = evaluator.evaluate_pp_solution(scenario, pps.planning_problem_dict[pid],
                                                     CrTrajectory(states[0].time_step, states))
                total += res.total_costs
            cost = round(float(total), 4)
        except Exception:  # cost evaluation failing (e.g. off the lanelets) must not hide validity
            cost = None
    return failed, valid, cost


def evaluate_scenario(path: Path, prediction: str = "ctrv", cfg: FrenetConfig | None = None) -> dict:
    from commonroad.common.file_reader import CommonRoadFileReader

    # Recorded traffic does not react to the ego: a car closing in from behind will hit it, so
    # followers stay collision constraints here (the node's default ignores them).
    cfg = cfg or FrenetConfig(ignore_followers=False)
    entry = {"id": path.stem, "valid": False, "failed_checks": [], "cost_sm1": None,
             "plan_ms_p50": None, "plan_ms_p95": None}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scenario, pps = CommonRoadFileReader(str(path)).open()
    except Exception as exc:  # unreadable file: report, do not crash the batch
        entry["failed_checks"] = [f"read_error: {type(exc).__name__}: {exc}"]
        return entry
    # The file name identifies the scenario: tutorial files can share one scenario_id.
    all_ms, runs = [], {}
    for pid, pp in pps.planning_problem_dict.items():
        try:
            run = run_problem(scenario, pp, prediction, cfg)
        except (PlanningError, ValueError, RuntimeError) as exc:
            entry["failed_checks"].append(f"planner_error[{pid}]: {exc}")
            continue
        runs[pid] = run
        all_ms += run.plan_ms
        if not run.inputs:
            entry["failed_checks"].append(f"planner_error[{pid}]: no steps planned")
            del runs[pid]
    if all_ms:
        entry["plan_ms_p50"] = round(float(np.percentile(all_ms, 50)), 2)
        entry["plan_ms_p95"] = round(float(np.percentile(all_ms, 95)), 2)
    if not runs:
        entry["failed_checks"].append("solved_all_problems")
        return entry
    failed, valid, cost = check_solution(scenario, pps, runs)
    if cost is not None:
        entry["cost_sm1"] = cost
    entry["failed_checks"] += failed
    entry["valid"] = bool(valid and not entry["failed_checks"])
    entry["emergency_steps"] = int(sum(r.emergencies for r in runs.values()))
    entry["steps"] = int(sum(len(r.inputs) for r in runs.values()))
    cpu = [v for r in runs.values() for v in (r.plan_cpu_ms or [])]
    if cpu:  # CPU time per cycle: what the planner costs on a machine shared with other work
        entry["plan_cpu_ms_p50"] = round(float(np.percentile(cpu, 50)), 2)
        entry["plan_cpu_ms_p95"] = round(float(np.percentile(cpu, 95)), 2)
    return entry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenarios", nargs="+", type=Path, help="CommonRoad scenario XML files")
    parser.add_argument("--json", action="store_true", help="print one JSON object (the benchmark result)")
    parser.add_argument("--prediction", choices=("cv", "ctrv", "lane", "recorded"), default="ctrv",
                        help="obstacle prediction from each obstacle's current state: cv, ctrv, or lane "
                             "(constant speed along its lanelet, CV off the lanes); or the scenario's "
                             "recorded future (recorded)")


def run(args: argparse.Namespace) -> int:
    _require_commonroad()
    missing = [str(p) for p in args.scenarios if not p.is_file()]
    if missing:
        print(f"commonroad_eval: scenario file(s) not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    results = [evaluate_scenario(p, args.prediction) for p in args.scenarios]
    n_valid = sum(r["valid"] for r in results)
    out = {"scenarios": results, "valid_fraction": round(n_valid / len(results), 4)}
    if args.json:
        # stdout carries exactly the benchmark object; run details go to stderr
        keys = ("id", "valid", "failed_checks", "cost_sm1", "plan_ms_p50", "plan_ms_p95")
        strict = {"scenarios": [{k: r[k] for k in keys} for r in results], "valid_fraction": out["valid_fraction"]}
        print(json.dumps(strict))
        detail = {"prediction": args.prediction, "machine": platform.platform(), "cpu_count": os.cpu_count(),
                  "loadavg_1min": round(os.getloadavg()[0], 2),
                  "runs": [{k: r[k] for k in r if k not in keys or k == "id"} for r in results]}
        print(json.dumps(detail), file=sys.stderr)
    else:
        for r in results:
            print(f"{r['id']:<28} valid={r['valid']!s:<5} cost_sm1={r['cost_sm1']} "
                  f"plan_ms p50={r['plan_ms_p50']} p95={r['plan_ms_p95']} failed={r['failed_checks']}")
        print(f"valid_fraction={out['valid_fraction']}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skyroad.planning.commonroad_eval", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

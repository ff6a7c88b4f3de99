"""Planning benchmark: Hybrid-A* on seeded 384x384 parking-lot and maze maps (0.1 m cells),
plus the Frenet replanning cycle on seeded road scenes with 15 moving objects.

Prints ONE JSON object: per map family and overall, the median and p95 planning time of the
median of ``--repeats`` runs per map, and the success rate. The grid A* (2-D, disc robot) runs
on the same maps in the same process as the baseline. Timings are wall-clock on this machine
(platform and cpu count reported); tests never assert them.

    .venv/bin/python bench/planning.py [--maps 20] [--repeats 3] [--seed 0]
"""
import argparse
import json
import os
import platform
import time

import numpy as np

from skyroad.planning.grid import PlanningError
from skyroad.planning.grid_astar import plan_grid_path
from skyroad.planning.hybrid_astar import Footprint, HybridAStarConfig, plan_hybrid_astar
from skyroad.planning.car_planner import CarPlanner, CarPlannerConfig, EgoState
from skyroad.planning.maps import maze, parking_lot
from skyroad.planning.prediction import ObjectStates


def _time_runs(fn, repeats):
    """Median wall-clock and CPU (process) time of ``repeats`` runs, in ms. CPU time is
    reported too because the benchmark machine may be shared: wall time then includes waiting
    for a core, CPU time does not."""
    wall, cpu, out, err = [], [], None, None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            out = fn()
            err = None
        except PlanningError as exc:
            err = exc.reason
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return float(np.median(wall)), float(np.median(cpu)), out, err


def _summary(wall_ms, cpu_ms, successes):
    t = np.asarray(wall_ms)
    c = np.asarray(cpu_ms)
    return {"n": int(len(t)), "success_rate": round(float(np.mean(successes)), 3),
            "median_ms": round(float(np.median(t)), 1), "p95_ms": round(float(np.percentile(t, 95)), 1),
            "max_ms": round(float(t.max()), 1),
            "cpu_median_ms": round(float(np.median(c)), 1), "cpu_p95_ms": round(float(np.percentile(c, 95)), 1)}


def frenet_cycles(n_scenes: int, n_objects: int, seed: int) -> dict:
    """Replanning cycle of the car planner (prediction + Frenet sampling + checks) on seeded
    road scenes: a 3-lane straight route, ego at 10-20 m/s, ``n_objects`` cars ahead/behind
    in random lanes at random speeds and a few crossing pedestrians."""
    rng = np.random.default_rng(seed)
    planner = CarPlanner(CarPlannerConfig(cruise_speed_mps=15.0))
    planner.set_route([[0.0, 0.0], [500.0, 0.0]])
    wall, cpu, emergencies = [], [], 0
    for _ in range(n_scenes):
        ego = EgoState(50.0, rng.uniform(-0.5, 0.5), rng.normal(0.0, 0.02), rng.uniform(10.0, 20.0))
        n_ped = n_objects // 5
        n_car = n_objects - n_ped
        xs = np.concatenate([50.0 + rng.uniform(-30.0, 80.0, n_car), 50.0 + rng.uniform(15.0, 60.0, n_ped)])
        ys = np.concatenate([rng.choice([-3.5, 0.0, 3.5], n_car) + rng.normal(0, 0.2, n_car), rng.uniform(-8, -5, n_ped)])
        yaws = np.concatenate([rng.normal(0.0, 0.03, n_car), np.full(n_ped, np.pi / 2)])
        speeds = np.concatenate([rng.uniform(5.0, 25.0, n_car), rng.uniform(0.8, 1.8, n_ped)])
        objs = ObjectStates.from_arrays(xs, ys, yaws, speeds, rng.normal(0, 0.02, n_objects),
                                        np.concatenate([np.full(n_car, 4.5), np.full(n_ped, 0.6)]),
                                        np.concatenate([np.full(n_car, 1.8), np.full(n_ped, 0.6)]))
        t0, c0 = time.perf_counter(), time.process_time()
        out = planner.plan(ego, objs)
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
        emergencies += out.status.startswith("emergency")
    return {"scenes": n_scenes, "objects": n_objects, "median_ms": round(float(np.median(wall)), 1),
            "p95_ms": round(float(np.percentile(wall, 95)), 1), "cpu_median_ms": round(float(np.median(cpu)), 1),
            "cpu_p95_ms": round(float(np.percentile(cpu, 95)), 1), "emergency_fraction": round(emergencies / n_scenes, 3),
            "target": "replan >= 10 Hz: p95 <= 100 ms"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--maps", type=int, default=20, help="maps per family (parking, maze)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per map; the median is kept")
    ap.add_argument("--seed", type=int, default=0, help="first map seed (and seed of the road scenes)")
    ap.add_argument("--scenes", type=int, default=100, help="road scenes for the Frenet cycle timing")
    args = ap.parse_args(argv)
    footprint = Footprint()
    cfg = HybridAStarConfig()
    result = {"benchmark": "hybrid_astar", "map_size_cells": 384, "resolution_m": 0.1,
              "footprint_m": [footprint.length_m, footprint.width_m], "min_turn_radius_m": cfg.min_turn_radius_m,
              "heading_bins": cfg.heading_bins, "repeats": args.repeats,
              "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                          "python": platform.python_version()}}
    load_before = os.getloadavg()[0]
    # warm-up: the per-heading footprint masks are cached per geometry (built once per process)
    warm = maze(10_000)
    plan_hybrid_astar(warm.occupied, warm.resolution_m, warm.origin_xy, warm.start_pose, warm.goal_pose,
                      footprint, cfg)
    all_t, all_c, all_ok, base_t, base_c, base_ok, fails, expansions = [], [], [], [], [], [], [], []
    for family, gen in (("parking", parking_lot), ("maze", maze)):
        ts, cs, oks = [], [], []
        for seed in range(args.seed, args.seed + args.maps):
            m = gen(seed)
            t_ms, c_ms, res, err = _time_runs(lambda: plan_hybrid_astar(m.occupied, m.resolution_m, m.origin_xy,
                                                                        m.start_pose, m.goal_pose, footprint, cfg),
                                              args.repeats)
            ts.append(t_ms)
            cs.append(c_ms)
            oks.append(err is None)
            if err is not None:
                fails.append({"map": m.name, "reason": err})
            else:
                expansions.append(res.expansions)
            # baseline: 2-D grid A* for a disc of the footprint's half width (not kinematic)
            b_ms, bc_ms, _r, b_err = _time_runs(lambda: plan_grid_path(m.occupied, m.resolution_m, m.origin_xy,
                                                                       m.start_pose[:2], m.goal_pose[:2],
                                                                       footprint.width_m / 2.0), args.repeats)
            base_t.append(b_ms)
            base_c.append(bc_ms)
            base_ok.append(b_err is None)
        result[family] = _summary(ts, cs, oks)
        all_t += ts
        all_c += cs
        all_ok += oks
    result["overall"] = _summary(all_t, all_c, all_ok)
    result["expansions_median"] = int(np.median(expansions)) if expansions else None
    result["target"] = {"median_ms": 50, "p95_ms": 150}
    result["baseline_grid_astar_disc"] = _summary(base_t, base_c, base_ok)
    result["failures"] = fails
    result["frenet_cycle"] = frenet_cycles(args.scenes, 15, args.seed)
    result["machine"]["loadavg_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Hybrid-A* for parking lots and unstructured areas (core, no rclpy).

Dolgov et al., "Path planning for autonomous vehicles in unknown semi-structured
environments" (IJRR 2010), in the form Nav2's Smac Hybrid-A* uses:

* search over (x, y, heading) with 72 heading bins; successors are arcs of fixed length at
  a few steering angles, forwards and (penalised) backwards;
* collision checks of the vehicle *rectangle*, not a disc: one footprint cell mask per
  heading bin is precomputed; a pose far from obstacles (distance transform >= circumscribed
  radius) is accepted and one inside the inscribed radius rejected without the mask, so the
  mask lookup runs only in the narrow band between them, vectorised over all poses of all
  successors of an expansion;
* heuristic = max(2-D Dijkstra distance to the goal over the grid inflated by the inscribed
  radius, Euclidean distance): the obstacle-aware part steers the search around walls;
* analytic expansion: a Reeds-Shepp connection to the goal is tried every few expansions
  (more often close to the goal) and accepted when its sampled footprints are free;
* the result is smoothed per driving direction (cusps fixed) without entering obstacles.
"""
from __future__ import annotations

import functools
import heapq
import math
import time
from dataclasses import dataclass

import numpy as np

from .grid import GridMap, PlanningError, dijkstra_field, fmt_point
from .reeds_shepp import reeds_shepp_paths


@dataclass(frozen=True)
class HybridAStarConfig:
    heading_bins: int = 72
    xy_bin_m: float = 0.6             # search-state cell (coarser than the map: fewer states)
    step_m: float = 1.2               # arc length of one motion primitive (> xy_bin_m * sqrt(2): leaves its cell)
    min_turn_radius_m: float = 4.4    # rear-axle centre radius of a compact car (VW Golf: 10.9 m kerb-to-kerb turning circle)
    n_steer: int = 5                  # steering samples per direction (odd: includes straight)
    allow_reverse: bool = True
    reverse_penalty: float = 2.0      # multiplies the length of reversing moves
    switch_penalty_m: float = 3.0     # added on every change of driving direction
    steer_penalty: float = 0.05       # per metre, times |curvature| * radius
    steer_change_penalty: float = 0.1 # per metre, on changes of the steering sample
    analytic_every: int = 5           # Reeds-Shepp shot every N expansions...
    analytic_near_m: float = 10.0     # ...and at every expansion closer than this to the goal
    collision_step_m: float = 0.25    # sampling of poses along primitives and RS shots
    heuristic_weight: float = 1.5     # > 1 trades path optimality for fewer expansions (weighted A*)
    analytic_candidates: int = 1      # shortest Reeds-Shepp words tried per shot far from the goal...
    analytic_candidates_near: int = 3 # ...and within analytic_near_m of it
    approach_lengths_m: tuple = (0.0, 2.0, 4.0)  # straight final approach along the goal axis
    heuristic_cell_m: float = 0.4     # cell size of the 2-D Dijkstra heuristic field
    max_expansions: int = 50_000
    time_budget_s: float = 5.0
    smooth_iterations: int = 30


@dataclass(frozen=True)
class Footprint:
    """Rectangle footprint relative to the planning reference point (rear axle for a car)."""

    length_m: float = 4.5
    width_m: float = 1.8
    rear_overhang_m: float = 1.0      # distance from the rear bumper to the reference point

    @property
    def center_offset_m(self) -> float:
        return self.length_m / 2.0 - self.rear_overhang_m


@dataclass
class HybridAStarResult:
    poses: np.ndarray        # (N, 3) x, y, yaw (reference point)
    directions: np.ndarray   # (N,) +1 forward, -1 reverse
    length_m: float
    expansions: int
    planning_time_s: float
    raw_poses: np.ndarray    # before smoothing


@functools.lru_cache(maxsize=8)
def _footprint_masks(length_m: float, width_m: float, res: float, mask_bins: int, n: int, ring: float,
                     disc_spacing_m: float):
    """(row, col) offsets per heading bin of the outline ring and of the interior axis discs,
    padded with (0, 0) to equal length. Depends only on geometry, so it is cached: a planner
    called on every new costmap does not rebuild it."""
    half_l, half_w = length_m / 2.0, width_m / 2.0
    rr, cc = np.mgrid[-n:n + 1, -n:n + 1]
    px, py = (cc * res)[None], (rr * res)[None]
    th = (2.0 * math.pi * np.arange(mask_bins) / mask_bins)[:, None, None]
    c, s_ = np.cos(th), np.sin(th)
    lx = np.abs(c * px + s_ * py)
    ly = np.abs(-s_ * px + c * py)
    inside = (lx <= half_l) & (ly <= half_w)
    dist = np.where(inside, np.minimum(half_l - lx, half_w - ly),
                    np.hypot(np.maximum(lx - half_l, 0.0), np.maximum(ly - half_w, 0.0)))
    in_ring = dist <= ring                                     # (B, 2n+1, 2n+1)
    rings = [np.stack([rr[m], cc[m]], axis=1) for m in in_ring]
    inner = max(half_l - half_w, 0.0)
    n_a = max(1, int(math.ceil(2 * inner / disc_spacing_m)) + 1)
    axis_s = np.linspace(-inner, inner, n_a)[None, :]
    ar = np.round(axis_s * s_[:, :, 0] / res).astype(int)
    ac = np.round(axis_s * c[:, :, 0] / res).astype(int)
    axes = [np.unique(np.stack([r, q], axis=1), axis=0) for r, q in zip(ar, ac)]
    k_r = max(len(m) for m in rings)
    k_a = max(len(m) for m in axes)
    ring_arr = np.stack([np.pad(m, ((0, k_r - len(m)), (0, 0))) for m in rings])
    axis_arr = np.stack([np.pad(m, ((0, k_a - len(m)), (0, 0))) for m in axes])
    ring_arr.flags.writeable = False
    axis_arr.flags.writeable = False
    return ring_arr, axis_arr


class FootprintChecker:
    """Vectorised rectangle-footprint collision test on an occupancy grid.

    Three tiers, as in Nav2's footprint collision checker:
    1. centre cell farther than the circumscribed radius from every obstacle (distance
       transform) -> free; closer than half the width -> collision;
    2. otherwise the rectangle's *outline* must not touch an occupied cell, and
    3. the *interior* must be free: discs centred on the long axis (between the centres of the
       end caps) checked against the distance transform.
    Tiers 2 and 3 use footprint masks precomputed per heading (``mask_bins`` bins, 1 degree):
    flat cell offsets relative to the centre cell, so checking M poses is one integer gather
    of shape (M, K). The outline ring is widened by every discretisation error (centre
    rounding, cell extent, heading bin), so the test is conservative by at most ~1.6 cells;
    outline + interior cover the rectangle except slivers in its corners, which an obstacle
    could only occupy without touching the outline if it were smaller than ~0.3 w.
    """

    def __init__(self, grid: GridMap, footprint: Footprint, heading_bins: int, disc_spacing_m: float = 0.3,
                 mask_bins: int = 360):
        self.grid = grid
        self.footprint = footprint
        self.heading_bins = heading_bins
        self.mask_bins = mask_bins
        res = grid.resolution_m
        self.clearance = grid.clearance_m()
        half_l, half_w = footprint.length_m / 2.0, footprint.width_m / 2.0
        half_diag = res * math.sqrt(2.0) / 2.0
        heading_err = math.hypot(half_l, half_w) * math.sin(math.pi / mask_bins)
        # ring half-thickness: cell extent + centre rounding + heading-bin error
        ring = 2.0 * half_diag + heading_err
        self.r_out = math.hypot(half_l, half_w) + 2.0 * half_diag  # centre farther than this: free
        self.r_in = half_w
        n = int(math.ceil((math.hypot(half_l, half_w) + ring) / res)) + 1
        self.pad = n
        h, w = grid.occupied.shape
        self.row_len = w + 2 * n
        self.occ_pad = np.pad(grid.occupied, n, constant_values=True).ravel()
        # interior: obstacles not touching the ring lie >= ring inside the boundary, so an axis
        # disc of radius (w/2 - ring) plus the rounding of its own centre (ring) suffices
        axis_clear = self.clearance >= half_w - ring + (2.0 * half_diag + heading_err) + half_diag
        self.axis_pad = np.pad(~axis_clear, n, constant_values=True).ravel()
        ring_rc, axis_rc = _footprint_masks(footprint.length_m, footprint.width_m, res, mask_bins, n, ring,
                                            disc_spacing_m)
        self.ring_offsets = ring_rc[..., 0] * self.row_len + ring_rc[..., 1]
        self.axis_offsets = axis_rc[..., 0] * self.row_len + axis_rc[..., 1]

    def free(self, poses: np.ndarray) -> np.ndarray:
        """(M,) bool for poses (M, 3+) of the reference point."""
        poses = np.asarray(poses, dtype=float)
        off = self.footprint.center_offset_m
        c, s = np.cos(poses[:, 2]), np.sin(poses[:, 2])
        cx = poses[:, 0] + off * c
        cy = poses[:, 1] + off * s
        res = self.grid.resolution_m
        ox, oy = self.grid.origin_xy
        h, w = self.clearance.shape
        col = np.floor((cx - ox) / res).astype(np.int64)
        row = np.floor((cy - oy) / res).astype(np.int64)
        inb = (row >= 0) & (row < h) & (col >= 0) & (col < w)
        ok = np.zeros(len(poses), dtype=bool)
        cl = np.zeros(len(poses))
        cl[inb] = self.clearance[row[inb], col[inb]]
        sure = inb & (cl >= self.r_out)
        ok[sure] = True
        band = np.nonzero(inb & (cl >= self.r_in) & ~sure)[0]
        if band.size:
            bins = np.round(poses[band, 2] * (self.mask_bins / (2.0 * math.pi))).astype(np.int64) % self.mask_bins
            centre = (row[band] + self.pad) * self.row_len + (col[band] + self.pad)
            hit = self.occ_pad[centre[:, None] + self.ring_offsets[bins]].any(axis=1)
            hit |= self.axis_pad[centre[:, None] + self.axis_offsets[bins]].any(axis=1)
            ok[band] = ~hit
        return ok


def _validate_pose(name, pose):
    try:
        arr = np.asarray(pose, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise PlanningError("invalid_input", f"{name} must be (x, y, yaw), got {pose!r}") from exc
    if arr.size != 3:
        raise PlanningError("invalid_input", f"{name} must be (x, y, yaw), got {arr.size} values")
    if not np.all(np.isfinite(arr)):
        raise PlanningError("invalid_input", f"{name} contains NaN/inf: {pose!r}")
    return arr


def plan_hybrid_astar(occupied, resolution_m: float, origin_xy, start_pose, goal_pose,
                      footprint: Footprint = Footprint(), config: HybridAStarConfig = HybridAStarConfig()
                      ) -> HybridAStarResult:
    """Kinematically feasible (min turning radius, forward/reverse) collision-free path.

    Raises PlanningError with reason invalid_input / start_outside_map / goal_outside_map /
    start_in_obstacle / goal_in_obstacle / unreachable / timeout.
    """
    t0 = time.perf_counter()
    grid = GridMap.create(occupied, resolution_m, origin_xy)
    start = _validate_pose("start_pose", start_pose)
    goal = _validate_pose("goal_pose", goal_pose)
    cfg = config
    if cfg.heading_bins < 8 or cfg.min_turn_radius_m <= 0 or cfg.step_m <= 0 or cfg.xy_bin_m <= 0:
        raise PlanningError("invalid_input", "HybridAStarConfig needs heading_bins >= 8 and positive "
                                             "min_turn_radius_m, step_m, xy_bin_m")
    checker = FootprintChecker(grid, footprint, cfg.heading_bins)
    for name, pose, code in (("start", start, "start"), ("goal", goal, "goal")):
        rc = grid.world_to_cell(pose[:2])
        if not grid.in_bounds(rc):
            raise PlanningError(f"{code}_outside_map", f"{name} {fmt_point(pose)} is outside the map")
        if not checker.free(pose[None])[0]:
            raise PlanningError(f"{code}_in_obstacle", f"{name} pose {fmt_point(pose)}: the vehicle footprint "
                                                       f"({footprint.length_m} x {footprint.width_m} m) overlaps "
                                                       f"an occupied cell or the map edge")
    # ---- heuristic: 2-D Dijkstra from the goal over the grid inflated by the inscribed
    # radius, on cells of ~heuristic_cell_m (a coarse cell is free when any of its fine cells
    # is: distances stay optimistic, so the heuristic stays admissible before weighting).
    res = grid.resolution_m
    blocked_fine = checker.clearance < max(checker.r_in - res, 0.0)
    f = max(1, int(round(cfg.heuristic_cell_m / res)))
    hh, ww = -(-blocked_fine.shape[0] // f), -(-blocked_fine.shape[1] // f)
    padded = np.ones((hh * f, ww * f), dtype=bool)
    padded[:blocked_fine.shape[0], :blocked_fine.shape[1]] = blocked_fine
    blocked_coarse = padded.reshape(hh, f, ww, f).all(axis=(1, 3))
    goal_rc = grid.world_to_cell(goal[:2]) // f
    start_rc = grid.world_to_cell(start[:2]) // f
    blocked_coarse[tuple(goal_rc)] = False
    blocked_coarse[tuple(start_rc)] = False
    h2d = dijkstra_field(blocked_coarse, goal_rc, res * f)
    if not np.isfinite(h2d[tuple(start_rc)]):
        raise PlanningError("unreachable", f"goal {fmt_point(goal)} is not connected to start {fmt_point(start)}: "
                                           f"no corridor at least {2 * checker.r_in:.2f} m wide leads there")
    h2d = np.where(np.isfinite(h2d), h2d, 1e6)
    inv_cell = 1.0 / (res * f)
    ox, oy = grid.origin_xy

    def heuristic(x, y):
        r = min(max(int((y - oy) * inv_cell), 0), h2d.shape[0] - 1)
        c = min(max(int((x - ox) * inv_cell), 0), h2d.shape[1] - 1)
        return cfg.heuristic_weight * max(float(h2d[r, c]), math.hypot(goal[0] - x, goal[1] - y))

    # ---- motion primitives: (steer curvature, direction) -> relative sampled poses
    kmax = 1.0 / cfg.min_turn_radius_m
    curvatures = np.linspace(-kmax, kmax, cfg.n_steer)
    directions = (1.0, -1.0) if cfg.allow_reverse else (1.0,)
    n_sub = max(1, int(math.ceil(cfg.step_m / cfg.collision_step_m)))
    ds = np.linspace(cfg.step_m / n_sub, cfg.step_m, n_sub)
    prims = []  # (steer index, direction, rel poses (n_sub, 3))
    for i, k in enumerate(curvatures):
        for dirn in directions:
            s = dirn * ds
            if abs(k) < 1e-9:
                rel = np.stack([s, np.zeros_like(s), np.zeros_like(s)], axis=1)
            else:
                th = k * s
                rel = np.stack([np.sin(th) / k, (1.0 - np.cos(th)) / k, th], axis=1)
            prims.append((i, dirn, rel))
    prim_rel = np.stack([p[2] for p in prims])          # (P, n_sub, 3)
    prim_steer = np.array([p[0] for p in prims])
    prim_dir = np.array([p[1] for p in prims])
    prim_cost = cfg.step_m * np.where(prim_dir < 0, cfg.reverse_penalty, 1.0) \
        + cfg.steer_penalty * cfg.step_m * np.abs(curvatures[prim_steer]) * cfg.min_turn_radius_m

    hb = cfg.heading_bins

    def key(x, y, yaw):
        return (int(math.floor(x / cfg.xy_bin_m)), int(math.floor(y / cfg.xy_bin_m)),
                int(round(yaw / (2 * math.pi) * hb)) % hb)

    # node arrays
    nodes_pose = [tuple(start)]
    nodes_parent = [-1]
    nodes_dir = [1.0]
    nodes_steer = [cfg.n_steer // 2]
    nodes_g = [0.0]
    best_g = {key(*start): 0.0}
    open_heap = [(heuristic(start[0], start[1]), 0)]
    closed = set()
    expansions = 0
    final_rs = None
    final_node = -1
    while open_heap:
        _f, ni = heapq.heappop(open_heap)
        x, y, yaw = nodes_pose[ni]
        kk = key(x, y, yaw)
        if kk in closed:
            continue
        closed.add(kk)
        expansions += 1
        if expansions > cfg.max_expansions or time.perf_counter() - t0 > cfg.time_budget_s:
            raise PlanningError("timeout", f"Hybrid-A* stopped after {expansions - 1} expansions / "
                                           f"{time.perf_counter() - t0:.2f} s (max_expansions={cfg.max_expansions}, "
                                           f"time_budget_s={cfg.time_budget_s})")
        dist_goal = math.hypot(goal[0] - x, goal[1] - y)
        if dist_goal < cfg.analytic_near_m or expansions % cfg.analytic_every == 1:
            near = dist_goal < cfg.analytic_near_m
            shot = _analytic_shot((x, y, yaw), goal, cfg, checker,
                                  cfg.analytic_candidates_near if near else cfg.analytic_candidates,
                                  cfg.approach_lengths_m if near else (0.0,))
            if shot is not None:
                final_rs, final_node = (None, shot), ni
                break
        # successors
        c, s = math.cos(yaw), math.sin(yaw)
        rel = prim_rel
        wx = x + c * rel[..., 0] - s * rel[..., 1]
        wy = y + s * rel[..., 0] + c * rel[..., 1]
        wth = yaw + rel[..., 2]
        flat = np.stack([wx.ravel(), wy.ravel(), wth.ravel()], axis=1)
        ok = checker.free(flat).reshape(len(prims), n_sub).all(axis=1)
        g0 = nodes_g[ni]
        for p in np.nonzero(ok)[0]:
            nx, ny, nth = float(wx[p, -1]), float(wy[p, -1]), float(wth[p, -1])
            nk = key(nx, ny, nth)
            if nk in closed:
                continue
            g = g0 + float(prim_cost[p])
            if prim_dir[p] != nodes_dir[ni]:
                g += cfg.switch_penalty_m
            if prim_steer[p] != nodes_steer[ni]:
                g += cfg.steer_change_penalty * cfg.step_m
            if g >= best_g.get(nk, math.inf):
                continue
            best_g[nk] = g
            nodes_pose.append((nx, ny, nth))
            nodes_parent.append(ni)
            nodes_dir.append(float(prim_dir[p]))
            nodes_steer.append(int(prim_steer[p]))
            nodes_g.append(g)
            heapq.heappush(open_heap, (g + heuristic(nx, ny), len(nodes_pose) - 1))
    if final_rs is None:
        raise PlanningError("unreachable", f"Hybrid-A* explored every reachable state ({expansions} expansions) "
                                           f"without reaching goal {fmt_point(goal)} with min_turn_radius_m="
                                           f"{cfg.min_turn_radius_m}")
    # ---- reconstruct: node chain (with primitive samples) + Reeds-Shepp tail
    chain = []
    i = final_node
    while i != -1:
        chain.append(i)
        i = nodes_parent[i]
    chain.reverse()
    poses = [np.array([*nodes_pose[chain[0]], nodes_dir[chain[1]] if len(chain) > 1 else 1.0])]
    for a, b in zip(chain[:-1], chain[1:]):
        # recompute the primitive samples between a and b
        xa, ya, tha = nodes_pose[a]
        xb, yb, thb = nodes_pose[b]
        dirn = nodes_dir[b]
        k = curvatures[nodes_steer[b]]
        s_ = dirn * ds
        if abs(k) < 1e-9:
            rel = np.stack([s_, np.zeros_like(s_), np.zeros_like(s_)], axis=1)
        else:
            th = k * s_
            rel = np.stack([np.sin(th) / k, (1.0 - np.cos(th)) / k, th], axis=1)
        c, s = math.cos(tha), math.sin(tha)
        seg = np.stack([xa + c * rel[:, 0] - s * rel[:, 1], ya + s * rel[:, 0] + c * rel[:, 1], tha + rel[:, 2],
                        np.full(len(rel), dirn)], axis=1)
        poses.extend(seg)
    rs_samples = final_rs[1]
    if len(rs_samples) > 1:
        poses.extend(rs_samples[1:])
    raw = np.asarray(poses)
    raw[:, 2] = np.unwrap(raw[:, 2])
    smoothed = _smooth(raw, checker, cfg.smooth_iterations, kappa_max=1.0 / cfg.min_turn_radius_m)
    dirs = smoothed[:, 3]
    length = float(np.hypot(*np.diff(smoothed[:, :2], axis=0).T).sum())
    return HybridAStarResult(smoothed[:, :3], dirs, length, expansions, time.perf_counter() - t0, raw[:, :3])


def _analytic_shot(pose, goal, cfg: HybridAStarConfig, checker: FootprintChecker, n_candidates: int,
                   approach_lengths_m) -> np.ndarray | None:
    """Collision-free Reeds-Shepp connection pose -> goal, sampled as (N, 4) [x, y, yaw, dir].

    Besides direct connections, the goal may be approached along its own axis: a Reeds-Shepp
    path to a pre-goal pose ``d`` metres before (or behind) the goal, then a straight segment
    of length d forwards (or backwards). That is how a car enters a parking bay, and it
    supplies the C-C-S words that the implemented Reeds-Shepp families lack.
    """
    gx, gy, gyaw = goal
    c, s = math.cos(gyaw), math.sin(gyaw)
    options = []
    for d in approach_lengths_m:
        for dirn in ((1.0,) if d == 0.0 else (1.0, -1.0)):
            pre = (gx - dirn * d * c, gy - dirn * d * s, gyaw)
            for rs in reeds_shepp_paths(pose, pre, cfg.min_turn_radius_m)[:n_candidates]:
                options.append((rs.length_m + d, rs, pre, d, dirn))
    options.sort(key=lambda o: o[0])
    if not options:
        return None
    # coarse pass (every 4th sample) over all options in one vectorised check: most fail there
    coarse = [o[1].sample(pose, cfg.min_turn_radius_m, 4.0 * cfg.collision_step_m) for o in options]
    ok = checker.free(np.vstack(coarse))
    bounds = np.cumsum([0] + [len(c) for c in coarse])
    for i, (_total, rs, pre, d, dirn) in enumerate(options):
        if not ok[bounds[i]:bounds[i + 1]].all():
            continue
        samples = rs.sample(pose, cfg.min_turn_radius_m, cfg.collision_step_m)
        if d > 0.0:
            n = max(1, int(math.ceil(d / cfg.collision_step_m)))
            t = np.linspace(d / n, d, n)
            tail = np.stack([pre[0] + dirn * t * c, pre[1] + dirn * t * s, np.full(n, gyaw), np.full(n, dirn)], axis=1)
            samples = np.vstack([samples, tail])
        if checker.free(samples).all():
            return samples
    return None


def _smooth(path: np.ndarray, checker: FootprintChecker, iterations: int, w_data: float = 0.2,
            w_smooth: float = 0.3, kappa_max: float = np.inf) -> np.ndarray:
    """Gradient smoothing of x, y per driving-direction segment; cusps and ends stay fixed.
    Headings are re-derived from the smoothed positions; a point whose move makes its
    footprint collide keeps its previous position."""
    out = path.copy()
    if len(path) < 5 or iterations <= 0:
        return out
    dirs = path[:, 3]
    fixed = np.zeros(len(path), dtype=bool)
    fixed[0] = fixed[-1] = True
    change = np.nonzero(np.diff(dirs) != 0)[0]
    fixed[change] = True
    fixed[change + 1] = True
    orig = path[:, :2].copy()
    cur = path[:, :2].copy()
    for _ in range(iterations):
        cand = cur.copy()
        cand[1:-1] += w_data * (orig[1:-1] - cur[1:-1]) + w_smooth * (cur[:-2] + cur[2:] - 2 * cur[1:-1])
        cand[fixed] = cur[fixed]
        yaw = _headings(cand, dirs, path[:, 2])
        ok = checker.free(np.column_stack([cand, yaw]))
        # keep the turning-radius limit: a move that sharpens a corner beyond it is refused
        kap = _discrete_curvature(cand)
        ok &= (kap <= kappa_max * 1.02) | (kap <= _discrete_curvature(cur) + 1e-9)
        cur = np.where(ok[:, None], cand, cur)
    out[:, :2] = cur
    out[:, 2] = _headings(cur, dirs, path[:, 2])
    # never return a colliding path
    if not checker.free(out[:, :3]).all():
        return path.copy()
    return out


def _discrete_curvature(xy: np.ndarray) -> np.ndarray:
    """|curvature| at each point from the circle through it and its neighbours (0 at ends)."""
    k = np.zeros(len(xy))
    if len(xy) < 3:
        return k
    a = xy[1:-1] - xy[:-2]
    b = xy[2:] - xy[1:-1]
    c = xy[2:] - xy[:-2]
    cross = np.abs(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) * np.linalg.norm(c, axis=1)
    k[1:-1] = np.where(den > 1e-12, 2.0 * cross / np.maximum(den, 1e-12), 0.0)
    return k


def _headings(xy: np.ndarray, dirs: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    d = np.zeros_like(xy)
    d[1:-1] = xy[2:] - xy[:-2]
    d[0] = xy[1] - xy[0]
    d[-1] = xy[-1] - xy[-2]
    yaw = np.arctan2(d[:, 1], d[:, 0])
    yaw = np.where(dirs < 0, yaw + math.pi, yaw)
    short = np.hypot(d[:, 0], d[:, 1]) < 1e-6
    yaw = np.where(short, fallback, yaw)
    # ends and cusps keep their exact headings
    yaw[0], yaw[-1] = fallback[0], fallback[-1]
    change = np.nonzero(np.diff(dirs) != 0)[0]
    yaw[change] = fallback[change]
    yaw[change + 1] = fallback[change + 1]
    return fallback + np.angle(np.exp(1j * (yaw - fallback)))

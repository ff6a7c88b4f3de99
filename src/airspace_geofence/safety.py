"""Predictive breach and forced avoidance (core: no rclpy).

Stopping model: after a reaction time t_r (estimation + command latency + velocity-loop lag)
the vehicle brakes with deceleration a, reached with a jerk limit j. With t_j = a / j the
distance to stop from speed v is (exactly, for v >= a t_j / 2)
    d(v) = v t_r + v t_j / 2 - a t_j^2 / 24 + v^2 / (2 a)
and this module uses the conservative upper bound  d(v) = v (t_r + t_j / 2) + v^2 / (2 a).
Its inverse gives the highest speed from which the vehicle can still stop within a
clearance h:  v_max(h) = a (-t_e + sqrt(t_e^2 + 2 h / a)),  t_e = t_r + t_j / 2.

Safety filter (control-barrier-function style): for every nearby active volume the barrier
h_i = signed clearance - margin (margin = k * GNSS sigma + buffer, horizontal and vertical
parts weighted by the clearance direction) and its gradient n_i give one linear constraint
on the commanded velocity v:
    -n_i . v <= v_max(h_i)          (approach speed along n_i at most the stoppable speed)
and, when h_i < 0 (inside the margin or the zone), -n_i . v <= -min(k_out |h_i|, v_exit):
the vehicle must recede along the shortest way out. The filtered command is the velocity
closest to the nominal one that meets every constraint: a small QP solved exactly per
vehicle by enumerating active sets of up to three constraints (3-D velocity), vectorised
over vehicles with numpy. Meeting the constraint with the nominal's tangential part kept
is what makes the vehicle "slow down and slide along the boundary"; a volume overhead
produces a vertical constraint, which caps the climb rate.
"""
from __future__ import annotations

import datetime as dt
import enum
import itertools
import math
from dataclasses import dataclass, field
from typing import Iterable, Optional

import numpy as np

from .index import ZoneSet


class FenceStatus(enum.IntEnum):
    CLEAR = 0
    WARNING = 1
    AVOIDING = 2
    BREACH = 3


@dataclass(frozen=True)
class StoppingModel:
    reaction_time_s: float = 0.35
    max_decel_mps2: float = 3.0
    max_jerk_mps3: float = 15.0

    def __post_init__(self):
        for name in ("reaction_time_s", "max_decel_mps2", "max_jerk_mps3"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"StoppingModel.{name} must be finite and >= 0, got {value}")
        if self.max_decel_mps2 <= 0 or self.max_jerk_mps3 <= 0:
            raise ValueError("StoppingModel: max_decel_mps2 and max_jerk_mps3 must be > 0")

    @property
    def effective_delay_s(self) -> float:
        return self.reaction_time_s + 0.5 * self.max_decel_mps2 / self.max_jerk_mps3

    def stopping_distance_m(self, speed_mps):
        v = np.maximum(np.asarray(speed_mps, float), 0.0)
        return v * self.effective_delay_s + v * v / (2.0 * self.max_decel_mps2)

    def allowed_speed_mps(self, clearance_m):
        """Highest speed towards a boundary `clearance_m` away that can still stop before it
        (0 at zero clearance, NaN-free, defined for clearance >= 0)."""
        h = np.maximum(np.asarray(clearance_m, float), 0.0)
        a, te = self.max_decel_mps2, self.effective_delay_s
        return a * (-te + np.sqrt(te * te + 2.0 * h / a))


@dataclass(frozen=True)
class FilterConfig:
    stopping: StoppingModel = field(default_factory=StoppingModel)
    gnss_sigma_h_m: float = 3.0
    gnss_sigma_v_m: float = 4.5
    gnss_k_sigma: float = 5.0        # margin = k sigma: P(|error along n| > k sigma) = 5.7e-7 at 5
    buffer_h_m: float = 2.0          # extra horizontal buffer beyond the GNSS margin
    buffer_v_m: float = 2.0
    max_speed_h_mps: float = 20.0
    max_speed_up_mps: float = 5.0
    max_speed_down_mps: float = 3.0
    exit_gain_per_s: float = 0.5     # recede speed per metre of margin violation
    max_exit_speed_mps: float = 3.0
    max_constraints: int = 6
    lookahead_m: float = 30.0        # extra query radius beyond the stopping distance
    warn_time_s: float = 10.0        # WARNING when a breach is predicted within this time
    avoid_tolerance_mps: float = 0.05

    @property
    def margin_h_m(self) -> float:
        return self.gnss_k_sigma * self.gnss_sigma_h_m + self.buffer_h_m

    @property
    def margin_v_m(self) -> float:
        return self.gnss_k_sigma * self.gnss_sigma_v_m + self.buffer_v_m

    @property
    def query_radius_m(self) -> float:
        return float(self.stopping.stopping_distance_m(self.max_speed_h_mps)) + self.margin_h_m + self.lookahead_m


@dataclass
class FilterResult:
    velocity: np.ndarray           # (N,3) safe velocity command
    status: np.ndarray             # (N,) FenceStatus codes
    min_clearance_m: np.ndarray    # (N,) smallest raw signed clearance to a keep-out (or keep-in) boundary
    min_barrier_m: np.ndarray      # (N,) smallest clearance minus margin
    nearest_volume: np.ndarray     # (N,) volume index of the most critical constraint, -1 none
    nearest_horizontal_m: np.ndarray
    nearest_vertical_m: np.ndarray
    time_to_breach_s: np.ndarray   # (N,) straight-line time to enter a margin-inflated volume
    modified: np.ndarray           # (N,) the command was changed


class SafetyFilter:
    """Maps nominal velocity commands to the closest safe ones. Vectorised over vehicles."""

    def __init__(self, zones: ZoneSet, config: FilterConfig = FilterConfig()):
        self.zones = zones
        self.config = config
        k = config.max_constraints
        if k < 1:
            raise ValueError("max_constraints must be >= 1")
        self._subsets = [np.array(s) for r in (1, 2, 3) for s in itertools.combinations(range(k), r)]

    # ---- constraint assembly ---------------------------------------------------------------
    def constraints(self, positions: np.ndarray, when: Optional[dt.datetime] = None,
                    authorised: Iterable[str] = (), v_nominal: Optional[np.ndarray] = None):
        """Per vehicle up to K most critical constraints: A (N,K,3), b (N,K), valid (N,K),
        plus the raw clearance / barrier / volume of each.

        Critical = least slack for the nominal command (allowed approach speed minus the
        nominal's approach speed), or least barrier without a nominal. Near-parallel rows
        (normals within one 5-degree azimuth bin and the same vertical sense) keep only the
        most critical, so K rows cover K different directions (walls of a corner)."""
        cfg = self.config
        n = len(positions)
        k = cfg.max_constraints
        pairs = self.zones.proximity(positions, cfg.query_radius_m, when, authorised)
        normal = pairs.normal
        horizontal_weight = np.hypot(normal[:, 0], normal[:, 1])
        margin = cfg.margin_h_m * horizontal_weight + cfg.margin_v_m * np.abs(normal[:, 2])
        barrier = pairs.barrier_m - margin
        point = pairs.point
        keep = np.ones(len(point), bool)
        if pairs.keep_in.any():
            # union of keep-in fences: only the one the vehicle is deepest in constrains it
            ki = np.flatnonzero(pairs.keep_in)
            order = ki[np.lexsort((-pairs.barrier_m[ki], point[ki]))]
            first = np.ones(len(order), bool)
            first[1:] = point[order][1:] != point[order][:-1]
            keep[order[~first]] = False
        h_all = barrier
        allowed_all = np.where(h_all >= 0, cfg.stopping.allowed_speed_mps(h_all),
                               -np.minimum(cfg.exit_gain_per_s * -h_all, cfg.max_exit_speed_mps))
        if v_nominal is not None and len(point):
            approach = -np.einsum("nd,nd->n", normal, v_nominal[point])
            rank_key = allowed_all - approach
        else:
            rank_key = h_all
        idx = np.flatnonzero(keep)
        if idx.size:
            azimuth_bin = np.floor((np.degrees(np.arctan2(normal[idx, 1], normal[idx, 0])) + 180.0) / 5.0)
            vertical_bin = np.round(normal[idx, 2] * 4.0)
            bin_key = azimuth_bin * 16 + vertical_bin
            order = np.lexsort((rank_key[idx], bin_key, point[idx]))
            o = idx[order]
            first = np.ones(len(o), bool)
            first[1:] = (point[o][1:] != point[o][:-1]) | (bin_key[order][1:] != bin_key[order][:-1])
            idx = o[first]
        order = idx[np.lexsort((rank_key[idx], point[idx]))]
        pt_sorted = point[order]
        starts = np.searchsorted(pt_sorted, np.arange(n))
        rank = np.arange(len(order)) - starts[pt_sorted]
        sel = rank < k
        rows, slots, src = pt_sorted[sel], rank[sel], order[sel]
        A = np.zeros((n, k, 3))
        b = np.full((n, k), np.inf)
        valid = np.zeros((n, k), bool)
        h = barrier[src]
        allowed = allowed_all[src]
        A[rows, slots] = -normal[src]
        b[rows, slots] = allowed
        valid[rows, slots] = True
        raw = np.full((n, k), np.inf)
        raw[rows, slots] = pairs.barrier_m[src]
        bar = np.full((n, k), np.inf)
        bar[rows, slots] = h
        vol = np.full((n, k), -1, np.int64)
        vol[rows, slots] = pairs.volume[src]
        hor = np.full((n, k), np.inf)
        hor[rows, slots] = pairs.horizontal_m[src]
        ver = np.full((n, k), np.inf)
        ver[rows, slots] = pairs.vertical_m[src]
        return A, b, valid, raw, bar, vol, hor, ver

    # ---- QP ------------------------------------------------------------------------------------
    def solve(self, v_nom: np.ndarray, A: np.ndarray, b: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """argmin |v - v_nom|^2 s.t. A v <= b (rows where valid), exactly, per vehicle."""
        n, k, _ = A.shape
        tol = 1e-9
        b_eff = np.where(valid, b, np.inf)

        best = v_nom.copy()
        ok, worst_violation = feasible_rows(A, b_eff, valid, v_nom)
        best_cost = np.where(ok, 0.0, np.inf)
        fallback = v_nom.copy()
        fallback_violation = worst_violation.copy()
        if ok.all():
            return best
        need = ~ok
        for subset in self._subsets:
            active = valid[:, subset].all(axis=1) & need
            if not active.any():
                continue
            rows = np.flatnonzero(active)
            As = A[rows][:, subset]                      # (m, s, 3)
            bs = b[rows][:, subset]                      # (m, s)
            gram = np.einsum("msd,mtd->mst", As, As)     # (m, s, s)
            det = np.linalg.det(gram)
            good = np.abs(det) > tol
            if not good.any():
                continue
            rows, As, bs, gram, vn = rows[good], As[good], bs[good], gram[good], v_nom[rows[good]]
            resid = np.einsum("msd,md->ms", As, vn) - bs
            lam = np.linalg.solve(gram, resid[..., None])[..., 0]   # (m, s)
            v = vn - np.einsum("msd,ms->md", As, lam)
            cand_ok, cand_violation = feasible_rows(A[rows], b_eff[rows], valid[rows], v)
            cost = np.sum((v - vn) ** 2, axis=1)
            better = cand_ok & (cost < best_cost[rows])
            best[rows[better]] = v[better]
            best_cost[rows[better]] = cost[better]
            improve = ~cand_ok & (cand_violation < fallback_violation[rows])
            fallback[rows[improve]] = v[improve]
            fallback_violation[rows[improve]] = cand_violation[improve]
        unsolved = ~np.isfinite(best_cost)
        best[unsolved] = fallback[unsolved]
        return best

    # ---- full filter -------------------------------------------------------------------------
    def filter(self, positions, velocities, v_nominal, when: Optional[dt.datetime] = None,
               authorised: Iterable[str] = (), predict: bool = True) -> FilterResult:
        """positions (N,3) estimated, velocities (N,3) estimated, v_nominal (N,3) commands, all
        in the zone set's local frame. Returns the safe commands and the fence status."""
        cfg = self.config
        positions = np.atleast_2d(np.asarray(positions, float))
        velocities = np.atleast_2d(np.asarray(velocities, float))
        v_nominal = np.atleast_2d(np.asarray(v_nominal, float))
        if not (np.all(np.isfinite(positions)) and np.all(np.isfinite(velocities))
                and np.all(np.isfinite(v_nominal))):
            raise ValueError("positions, velocities and nominal commands must be finite")
        v_nom = limit_speed(v_nominal, cfg)
        A, b, valid, raw, bar, vol, hor, ver = self.constraints(positions, when, authorised, v_nom)
        v_safe = self.solve(v_nom, A, b, valid)
        v_safe = limit_speed(v_safe, cfg)
        n = len(positions)
        has = valid.any(axis=1)
        critical = np.argmin(np.where(valid, bar, np.inf), axis=1)
        rows = np.arange(n)
        min_raw = np.where(has, raw[rows, critical], np.inf)
        min_bar = np.where(has, bar[rows, critical], np.inf)
        modified = np.linalg.norm(v_safe - v_nominal, axis=1) > cfg.avoid_tolerance_mps
        ttb = np.full(n, np.inf)
        if predict:
            ttb = self.time_to_breach(positions, velocities, when, authorised)
        status = np.full(n, int(FenceStatus.CLEAR))
        status[(ttb <= cfg.warn_time_s) | (min_bar < 0)] = int(FenceStatus.WARNING)
        status[modified] = int(FenceStatus.AVOIDING)
        status[min_raw < 0] = int(FenceStatus.BREACH)
        if self.zones.has_keep_in:
            # outside every active keep-in volume with none nearby is a breach as well
            outside = self.zones.violations(positions, when, authorised)
            status[outside] = int(FenceStatus.BREACH)
        return FilterResult(v_safe, status, min_raw, min_bar, np.where(has, vol[rows, critical], -1),
                            np.where(has, hor[rows, critical], np.inf),
                            np.where(has, ver[rows, critical], np.inf), ttb, modified)

    def time_to_breach(self, positions, velocities, when=None, authorised=(), horizon_s: float = 60.0):
        """Time until the straight-line path at the current velocity enters a volume inflated
        by the GNSS margin (inf: not within `horizon_s`); 0 when already inside."""
        cfg = self.config
        positions = np.atleast_2d(np.asarray(positions, float))
        velocities = np.atleast_2d(np.asarray(velocities, float))
        end = positions + velocities * horizon_s
        first, _ = self.zones.first_entry(positions, end, when=when, authorised=authorised,
                                          inflate_m=cfg.gnss_k_sigma * cfg.gnss_sigma_h_m,
                                          inflate_v_m=cfg.gnss_k_sigma * cfg.gnss_sigma_v_m)
        return np.where(np.isfinite(first), first * horizon_s, np.inf)

    def stopping_envelope_hits(self, positions, velocities, when=None, authorised=()) -> np.ndarray:
        """Per vehicle: does the swept stopping envelope (straight path to the stopping point,
        inflated by the margins) intersect an active volume? True means brake now."""
        cfg = self.config
        positions = np.atleast_2d(np.asarray(positions, float))
        velocities = np.atleast_2d(np.asarray(velocities, float))
        speed = np.linalg.norm(velocities, axis=1)
        distance = cfg.stopping.stopping_distance_m(speed)
        with np.errstate(invalid="ignore", divide="ignore"):
            direction = np.where(speed[:, None] > 1e-9, velocities / speed[:, None], 0.0)
        end = positions + direction * distance[:, None]
        first, _ = self.zones.first_entry(positions, end, when=when, authorised=authorised,
                                          inflate_m=cfg.margin_h_m, inflate_v_m=cfg.margin_v_m)
        return np.isfinite(first)


def feasible_rows(A, b_eff, valid, v):
    lhs = np.einsum("nkd,nd->nk", A, v)
    ok = np.all(lhs <= b_eff + 1e-7, axis=1)
    violation = np.max(np.where(valid, lhs - b_eff, -np.inf), axis=1)
    return ok, violation


def limit_speed(v: np.ndarray, cfg: FilterConfig) -> np.ndarray:
    """Horizontal speed scaled to the limit, vertical speed clipped to the climb/descent limits."""
    v = np.array(v, float, copy=True)
    speed_h = np.hypot(v[:, 0], v[:, 1])
    scale = np.where(speed_h > cfg.max_speed_h_mps, cfg.max_speed_h_mps / np.maximum(speed_h, 1e-12), 1.0)
    v[:, 0] *= scale
    v[:, 1] *= scale
    v[:, 2] = np.clip(v[:, 2], -cfg.max_speed_down_mps, cfg.max_speed_up_mps)
    return v

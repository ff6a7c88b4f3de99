"""Lateral MPC: kinematic bicycle + first-order steering lag in path (Frenet) error coordinates,
successively linearised about the predicted trajectory and solved as a condensed QP.

Model (rear axle, speed v along the horizon, path curvature kappa(s)):

    d e_y   / dt = v sin(e_psi)
    d e_psi / dt = v tan(delta) / L - kappa v cos(e_psi) / (1 - kappa e_y)
    d delta / dt = (delta_cmd - delta) / tau
    d s     / dt = v cos(e_psi) / (1 - kappa e_y)

Why each design choice (failure modes of Autoware's mpc_lateral_controller, issues #4015/#5495):

- The model is NOT linearised about zero error. Each cycle the previous input sequence (shifted
  by the elapsed time) is rolled out through the nonlinear model and the QP is built about that
  prediction (real-time iteration of sequential QP; `sqp_iterations` > 1 re-linearises about the
  new solution). With a 30 deg heading error sin(e_psi) != e_psi; a zero-error linearisation
  over-predicts the lateral correction and keeps steering after the error is gone (#4015).
- The heading error is wrapped to [-pi, pi) before it enters the model; reference headings
  along the horizon come from the unwrapped path heading, so a path crossing +-pi is seamless.
- The steering state of the model starts at the MEASURED (or estimated) road-wheel angle, not at
  the last command: a mismatch between the two is what made the MPC steer the wrong way after
  a manual -> auto hand-over (Autoware PR #6852/#7109).
- Steering rate is both a hard constraint and a cost, and the previous command is the first
  difference's anchor, so the command cannot chatter between cycles (#5495's zig-zag).
- The steering lag is part of the model (exact zero-order-hold discretisation by the matrix
  exponential), so the MPC steers early enough into a curve instead of lagging and correcting.

Solver: OSQP (pinned in the project's dependencies), problem structure set up once and only
the numbers updated each cycle, warm-started. Without OSQP importable, scipy's SLSQP solves
the same QP (slower) and `solver_name` says so.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._checks import check_positive, check_range, ControlConfigError
from .path import ReferencePath, wrap_angle

try:  # optional at import time so that the core still imports without the solver
    import osqp as _osqp
except ImportError:  # pragma: no cover - exercised only where osqp is missing
    _osqp = None


def batched_expm(M: np.ndarray, order: int = 12) -> np.ndarray:
    """exp of a stack of small matrices (k, n, n): scaling and squaring + Taylor series.

    scipy.linalg.expm calls LAPACK once per matrix; on a loaded 2-core machine its BLAS
    threads made single calls take up to 8 ms. The stage matrices here have norms ~1, where a
    12th-order Taylor series after scaling to norm <= 0.5 is accurate to ~1e-16.
    """
    norm = float(np.max(np.sum(np.abs(M), axis=-2))) if M.size else 0.0
    squarings = max(0, int(math.ceil(math.log2(norm / 0.5)))) if norm > 0.5 else 0
    A = M / (2.0 ** squarings)
    eye = np.broadcast_to(np.eye(M.shape[-1]), M.shape)
    term = eye.copy()
    out = eye.copy()
    for k in range(1, order + 1):
        term = term @ A / k
        out = out + term
    for _ in range(squarings):
        out = out @ out
    return out


@dataclass(frozen=True)
class LateralMPCConfig:
    wheelbase_m: float = 2.7
    max_steer_rad: float = 0.6
    max_steer_rate_radps: float = 1.0     # hard constraint on the command's rate
    steer_time_constant_s: float = 0.1    # first-order lag of the steering actuator (model)
    horizon_steps: int = 40
    step_s: float = 0.05                  # 40 x 0.05 = 2 s preview (20 m at 10 m/s)
    weight_lateral: float = 10.0          # per m^2
    weight_heading: float = 20.0          # per rad^2
    weight_steer_ff: float = 0.05         # per rad^2 of deviation from the curvature feed-forward
    weight_steer_rate: float = 0.1        # per (rad/s)^2 of command rate
    terminal_weight_factor: float = 20.0  # terminal state weight multiplier
    sqp_iterations: int = 1
    max_accel_mps2: float = 2.0           # for the speed profile along the horizon
    # Tyre-friction bound on the steering angle at speed: |delta| <= atan(L a_lat / v^2).
    # 8 m/s^2 ~ 0.8 g, dry asphalt; it keeps the kinematic model inside the regime where it is
    # valid and stops the optimiser from planning a 4 m radius loop at 15 m/s.
    max_lateral_accel_mps2: float = 8.0

    def __post_init__(self):
        o = "lateral_mpc"
        for name in ("wheelbase_m", "max_steer_rate_radps", "step_s", "weight_lateral",
                     "max_accel_mps2", "max_lateral_accel_mps2"):
            check_positive(o, name, getattr(self, name))
        check_range(o, "max_steer_rad", self.max_steer_rad, lo=0.0, hi=math.pi / 2, lo_open=True)
        check_range(o, "steer_time_constant_s", self.steer_time_constant_s, lo=0.0)
        for name in ("weight_heading", "weight_steer_ff", "weight_steer_rate", "terminal_weight_factor"):
            check_range(o, name, getattr(self, name), lo=0.0)
        if int(self.horizon_steps) != self.horizon_steps or not 2 <= self.horizon_steps <= 400:
            raise ControlConfigError(f"{o}.horizon_steps={self.horizon_steps} must be an integer in [2, 400]")
        if int(self.sqp_iterations) != self.sqp_iterations or not 1 <= self.sqp_iterations <= 5:
            raise ControlConfigError(f"{o}.sqp_iterations={self.sqp_iterations} must be 1..5")
        if self.weight_steer_ff + self.weight_steer_rate <= 0.0:
            raise ControlConfigError(f"{o}: weight_steer_ff + weight_steer_rate must be > 0 "
                                     "(the QP is not strictly convex otherwise)")


@dataclass(frozen=True)
class MPCResult:
    steer_cmd_rad: float
    predicted_states: np.ndarray   # (N+1, 3) e_y, e_psi, delta
    inputs_rad: np.ndarray         # (N,)
    solver_status: str
    solve_iterations: int


class LateralMPC:
    """See module docstring. `solve()` is the per-cycle API."""

    def __init__(self, config: LateralMPCConfig | None = None, use_osqp: bool = True):
        self.config = config or LateralMPCConfig()
        c = self.config
        self.N = int(c.horizon_steps)
        self._prev_u: np.ndarray | None = None
        self._prev_t: float | None = None
        self.last_command_rad: float | None = None
        self._prev_e_psi: float | None = None
        # Rear-axle slip per unit lateral acceleration (rad per m/s^2, "cornering compliance"),
        # set by the tracker's online estimate; 0 = the pure kinematic model.
        self.slip_compliance = 0.0
        self._solver = None
        self.solver_name = "osqp" if (use_osqp and _osqp is not None) else "scipy-slsqp"
        # Upper-triangle (column-major) pattern of the dense Hessian, fixed for OSQP updates.
        n = self.N
        cols, rows = [], []
        for j in range(n):
            for i in range(j + 1):
                rows.append(i)
                cols.append(j)
        self._p_rows = np.array(rows)
        self._p_cols = np.array(cols)
        self._p_indptr = np.concatenate(([0], np.cumsum(np.arange(1, n + 1))))
        # Constraint matrix [I; D] with D the first difference (row 0 is u_0 alone: its anchor,
        # the previous command, enters the bounds).
        eye = sp.identity(n, format="csc")
        diff = sp.diags([np.ones(n), -np.ones(n - 1)], [0, -1], shape=(n, n), format="csc")
        self._A = sp.vstack([eye, diff], format="csc")
        self._D = diff.toarray()

    def steer_limits(self, v) -> np.ndarray:
        """Per-step steering bound: mechanical limit and the lateral acceleration limit."""
        c = self.config
        v2 = np.maximum(np.asarray(v, dtype=float) ** 2, 1e-6)
        return np.minimum(c.max_steer_rad, np.arctan(c.wheelbase_m * c.max_lateral_accel_mps2 / v2))

    def reset(self):
        self._prev_u = None
        self._prev_t = None
        self.last_command_rad = None
        self._prev_e_psi = None

    # ------------------------------------------------------------------ model
    def _rollout(self, e_y, e_psi, delta, s0, u, v, ref: ReferencePath):
        """Nonlinear prediction (RK2 per step). Returns states (N+1, 3) and s (N+1,)."""
        c = self.config
        dt, L = c.step_s, c.wheelbase_m
        a = math.exp(-dt / c.steer_time_constant_s) if c.steer_time_constant_s > 0 else 0.0
        X = np.empty((self.N + 1, 3))
        S = np.empty(self.N + 1)
        X[0] = (e_y, e_psi, delta)
        S[0] = s0
        for k in range(self.N):
            ey, ep, d = X[k]
            kap = float(ref.curvature_at(S[k]))
            drift_k = self.slip_compliance * v[k] ** 3 * kap
            d_next = a * d + (1.0 - a) * u[k]
            d_mid = 0.5 * (d + d_next)

            def f(ey_, ep_):
                den = max(1.0 - kap * ey_, 0.1)
                sdot = v[k] * math.cos(ep_) / den
                return (v[k] * math.sin(ep_) + drift_k, v[k] * math.tan(d_mid) / L - kap * sdot, sdot)

            f1 = f(ey, ep)
            f2 = f(ey + 0.5 * dt * f1[0], ep + 0.5 * dt * f1[1])
            X[k + 1] = (ey + dt * f2[0], ep + dt * f2[1], d_next)
            S[k + 1] = S[k] + dt * f2[2]
        return X, S

    def _linearise(self, X, S, u, v, ref: ReferencePath):
        """ZOH-discretised affine models x+ = A x + B u + c about (X[k], u[k]), k = 0..N-1."""
        c = self.config
        L, tau, dt = c.wheelbase_m, c.steer_time_constant_s, c.step_s
        n = self.N
        ey, ep, d = X[:-1, 0], X[:-1, 1], X[:-1, 2]
        kap = ref.curvature_at(S[:-1])
        den = np.maximum(1.0 - kap * ey, 0.1)
        M = np.zeros((n, 5, 5))
        # continuous Jacobians
        M[:, 0, 1] = v * np.cos(ep)
        M[:, 1, 0] = -kap ** 2 * v * np.cos(ep) / den ** 2
        M[:, 1, 1] = kap * v * np.sin(ep) / den
        M[:, 1, 2] = v / (L * np.cos(d) ** 2)
        if tau > 0:
            M[:, 2, 2] = -1.0 / tau
            M[:, 2, 3] = 1.0 / tau
        # affine term so that the linear model is exact at the linearisation point
        f = np.stack([v * np.sin(ep) + self.slip_compliance * v ** 3 * kap,
                      v * np.tan(d) / L - kap * v * np.cos(ep) / den,
                      (u - d) / tau if tau > 0 else np.zeros(n)], axis=1)
        Jx = M[:, :3, :3]
        Ju = M[:, :3, 3]
        M[:, :3, 4] = f - np.einsum("kij,kj->ki", Jx, X[:-1]) - Ju * u[:, None]
        E = batched_expm(M * dt)
        Ad, Bd, cd = E[:, :3, :3], E[:, :3, 3], E[:, :3, 4]
        if tau <= 0:   # no lag: delta follows the command at once
            Ad = Ad.copy()
            Ad[:, 2, :] = 0.0
            Bd = Bd.copy()
            Bd[:, 2] = 1.0
            cd = cd.copy()
            cd[:, 2] = 0.0
        return Ad, Bd, cd, kap

    # ------------------------------------------------------------------ solve
    def solve(self, ref: ReferencePath, s0_m: float, lateral_error_m: float, heading_error_rad: float,
              steer_rad: float, speed_profile_mps, t_s: float | None = None) -> MPCResult:
        """One MPC cycle.

        s0_m, lateral_error_m, heading_error_rad: rear-axle Frenet state (+e_y = left of path,
        +e_psi = vehicle heading CCW of the path heading; any angle, it is wrapped here).
        steer_rad: measured or estimated road-wheel angle. speed_profile_mps: (N,) speeds along
        the horizon. t_s: time of this cycle (shifts the warm start by the elapsed time).
        """
        c = self.config
        n = self.N
        e_psi0 = self._continuous_heading_error(heading_error_rad)
        v = np.asarray(speed_profile_mps, dtype=float).reshape(-1)
        if v.shape[0] != n or not np.all(np.isfinite(v)):
            raise ValueError(f"lateral_mpc: speed profile must be {n} finite values, got {v.shape}")
        if not all(map(math.isfinite, (s0_m, lateral_error_m, e_psi0, steer_rad))):
            raise ValueError("lateral_mpc: non-finite state "
                             f"(s={s0_m}, e_y={lateral_error_m}, e_psi={e_psi0}, delta={steer_rad})")
        u_anchor = self.last_command_rad if self.last_command_rad is not None else float(steer_rad)
        u_guess = self._warm_start(t_s, ref, s0_m, v)
        status, iters = "", 0
        for _ in range(int(c.sqp_iterations)):
            X, S = self._rollout(lateral_error_m, e_psi0, steer_rad, s0_m, u_guess, v, ref)
            Ad, Bd, cd, kap = self._linearise(X, S, u_guess, v, ref)
            u_ff = np.arctan(c.wheelbase_m * kap)
            H, g = self._condense(Ad, Bd, cd, np.array([lateral_error_m, e_psi0, steer_rad]),
                                  u_ff, u_anchor)
            u_new, status, it = self._qp(H, g, u_anchor, u_guess, self.steer_limits(v))
            iters += it
            u_guess = u_new
        X, S = self._rollout(lateral_error_m, e_psi0, steer_rad, s0_m, u_guess, v, ref)
        lim0 = float(self.steer_limits(v[:1])[0])
        cmd = float(np.clip(u_guess[0], -lim0, lim0))
        self._prev_u = u_guess.copy()
        self._prev_t = t_s
        self.last_command_rad = cmd
        return MPCResult(cmd, X, u_guess, status, iters)

    def _continuous_heading_error(self, heading_error_rad: float) -> float:
        """Heading error wrapped to [-pi, pi) on the first cycle, then kept continuous with the
        previous cycle's value: a vehicle turning through +-180 deg relative to the path keeps
        one sign instead of the wrap flipping the commanded turn direction every cycle."""
        raw = float(heading_error_rad)
        if not math.isfinite(raw):
            return raw
        if self._prev_e_psi is None:
            e = float(wrap_angle(raw))
        else:
            e = self._prev_e_psi + float(wrap_angle(raw - self._prev_e_psi))
            if abs(e) > 1.5 * math.pi:        # a full loop is never the plan: re-wrap
                e = float(wrap_angle(e))
        self._prev_e_psi = e
        return e

    def _warm_start(self, t_s, ref, s0, v):
        c = self.config
        n = self.N
        if self._prev_u is not None:
            shift = 1.0
            if t_s is not None and self._prev_t is not None:
                shift = max(0.0, (t_s - self._prev_t) / c.step_s)
            k = np.arange(n) + shift
            return np.interp(k, np.arange(n), self._prev_u)
        # cold start: curvature feed-forward along the reference at the planned speeds
        s = s0 + np.concatenate(([0.0], np.cumsum(v[:-1] * c.step_s)))
        return np.clip(np.arctan(c.wheelbase_m * ref.curvature_at(s)), -c.max_steer_rad, c.max_steer_rad)

    def _condense(self, Ad, Bd, cd, x0, u_ff, u_anchor):
        """Dense QP 0.5 U'HU + g'U from the stage models and weights."""
        c = self.config
        n = self.N
        # X_{k+1} = Phi_k x0 + G_k U + C_k  (rows of 3)
        G = np.zeros((n, 3, n))
        Phi_x = np.zeros((n, 3))
        xk = x0.astype(float)
        Gk = np.zeros((3, n))
        for k in range(n):
            Gk = Ad[k] @ Gk
            Gk[:, k] += Bd[k]
            xk = Ad[k] @ xk + cd[k]
            G[k] = Gk
            Phi_x[k] = xk
        q = np.array([c.weight_lateral, c.weight_heading, 0.0])
        w = np.tile(q, (n, 1))
        w[-1] *= c.terminal_weight_factor
        Gf = G.reshape(n * 3, n)
        wf = w.reshape(-1)
        H = Gf.T @ (wf[:, None] * Gf)
        g = Gf.T @ (wf * Phi_x.reshape(-1))
        # steering feed-forward deviation
        H += c.weight_steer_ff * np.eye(n)
        g -= c.weight_steer_ff * u_ff
        # command rate (rad/s)^2, first difference anchored at the previous command
        r = c.weight_steer_rate / c.step_s ** 2
        H += r * (self._D.T @ self._D)
        e0 = np.zeros(n)
        e0[0] = u_anchor
        g -= r * (self._D.T @ e0)
        return 2.0 * H, 2.0 * g

    def _qp(self, H, g, u_anchor, u_guess, limits):
        c = self.config
        n = self.N
        dmax = c.max_steer_rate_radps * c.step_s
        lo = np.concatenate((-limits, np.full(n, -dmax)))
        hi = np.concatenate((limits, np.full(n, dmax)))
        lo[n] += u_anchor
        hi[n] += u_anchor
        # The anchor (last command) may lie outside the band the steering limit allows now (the
        # speed went up): intersect, and if that leaves nothing, drop the first rate row rather
        # than hand OSQP an infeasible problem. Later rows are feasible by construction as
        # long as the limits shrink no faster than the rate allows; clip them the same way.
        lo[n] = max(lo[n], -limits[0])
        hi[n] = min(hi[n], limits[0])
        if lo[n] > hi[n]:
            lo[n], hi[n] = -limits[0], limits[0]
        if self.solver_name == "osqp":
            return self._qp_osqp(H, g, lo, hi, u_guess)
        return self._qp_fallback(H, g, lo, hi)

    def _qp_osqp(self, H, g, lo, hi, u_guess):
        Px = H[self._p_rows, self._p_cols]
        if self._solver is None:
            P = sp.csc_matrix((Px, self._p_rows, self._p_indptr), shape=H.shape)
            self._solver = _osqp.OSQP()
            self._solver.setup(P, g, self._A, lo, hi, verbose=False, eps_abs=1e-6, eps_rel=1e-6,
                               polishing=False, max_iter=4000, warm_starting=True)
        else:
            self._solver.update(Px=Px, q=g, l=lo, u=hi)
        self._solver.warm_starting = True
        try:
            self._solver.warm_start(x=u_guess)
        except Exception:  # warm start is an optimisation only
            pass
        res = self._solver.solve(raise_error=False)   # status checked below
        status = str(res.info.status)
        if res.x is None or not np.all(np.isfinite(res.x)):
            # infeasible / numerical trouble: fall back rather than command NaN
            u, st, it = self._qp_fallback(H, g, lo, hi)
            return u, f"osqp:{status}->fallback", it
        return np.clip(res.x, lo[:self.N], hi[:self.N]), status, int(res.info.iter)

    def _qp_fallback(self, H, g, lo, hi):
        """Same QP with scipy's SLSQP (box and rate rows as linear inequalities): exact, but
        10-50x slower than OSQP; used only where OSQP cannot be imported."""
        from scipy.optimize import minimize
        n = self.N
        A = self._A.toarray()
        x0 = np.clip(np.linalg.solve(H, -g), lo[:n], hi[:n])
        res = minimize(lambda u: 0.5 * u @ H @ u + g @ u, x0, jac=lambda u: H @ u + g,
                       method="SLSQP",
                       constraints=[{"type": "ineq", "fun": lambda u: hi - A @ u, "jac": lambda u: -A},
                                    {"type": "ineq", "fun": lambda u: A @ u - lo, "jac": lambda u: A}],
                       options={"maxiter": 200, "ftol": 1e-10})
        u = np.clip(res.x, lo[:n], hi[:n])
        if not np.all(np.isfinite(u)):
            # Seen in the town drive: OSQP hit its iteration limit on a reference ~157 deg behind
            # the car and the fallback returned NaN. Say so; the node stops the car on it.
            raise ValueError(f"lateral MPC QP has no finite solution (OSQP and SLSQP failed: "
                             f"{res.message}); reference probably far behind the vehicle")
        return u, f"fallback:{'solved' if res.success else res.message}", int(res.nit)

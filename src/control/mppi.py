"""MPPI (model predictive path integral) controller for an Ackermann car, obstacle-aware.

Williams et al., "Information-Theoretic Model Predictive Control" (T-RO 2018), in the form
Nav2's MPPI controller uses: each iteration samples K perturbed control sequences around the
nominal one, rolls all of them out through the vehicle model at once (numpy, (K,) arrays per
step), scores them, and replaces the nominal sequence by the exponentially weighted average
(temperature lambda) of the samples. The first control is applied, the sequence shifted.

Model (same plant as the other trackers): rear-axle kinematic bicycle; the speed follows the
speed command with a first-order lag and acceleration limits, the steering angle follows the
steering command with a first-order lag and a rate limit. Controls = (speed_cmd, steer_cmd).

Costs per step k (time t_k = t + k dt):
  tracking   w_lat e_lat^2 + w_lon e_lon^2 + w_yaw (1 - cos(yaw - yaw_ref)) against the
             reference pose at t_k (timed trajectory) -- an O(1) look-up per state instead of a
             nearest-point search over the path, which is what keeps 1000 x 56 under budget;
  obstacles  objects predicted with constant velocity; collision (circle overlap of the car's
             two axle circles with the object's circumscribed circle) costs `collision_cost`,
             a margin band costs w_obs (margin - clearance)^2;
  smoothness w_dsteer (steer_cmd rate)^2 and the MPPI control-noise term.
Random numbers come from a seeded numpy Generator (deterministic).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ._checks import check_positive, check_range, ControlConfigError
from .path import PathError, wrap_angle
from .tracker import Trajectory, TrackerOutput


@dataclass(frozen=True)
class MPPIConfig:
    samples: int = 1000
    horizon_steps: int = 56
    step_s: float = 0.05
    temperature: float = 0.3                 # lambda (cost units)
    noise_speed_mps: float = 1.0             # std of the speed perturbation (end of horizon)
    noise_steer_rad: float = 0.1             # std of the steering perturbation (end of horizon)
    wheelbase_m: float = 2.7
    max_steer_rad: float = 0.6
    max_steer_rate_radps: float = 1.0
    steer_time_constant_s: float = 0.1
    speed_time_constant_s: float = 0.5
    max_speed_mps: float = 15.0
    max_accel_mps2: float = 2.0
    max_decel_mps2: float = 6.0
    max_lateral_accel_mps2: float = 8.0
    vehicle_radius_m: float = 1.0            # two circles (rear and front axle) of this radius
    weight_lateral: float = 5.0
    weight_longitudinal: float = 0.5
    weight_heading: float = 5.0
    weight_steer_rate: float = 0.05
    weight_obstacle: float = 50.0
    obstacle_margin_m: float = 1.5
    collision_cost: float = 1e5
    goal_tolerance_m: float = 0.3
    smooth_noise: bool = True                # random-walk (integrated) perturbations

    def __post_init__(self):
        o = "mppi"
        for name in ("samples", "horizon_steps"):
            v = getattr(self, name)
            if int(v) != v or v < 2:
                raise ControlConfigError(f"{o}.{name}={v} must be an integer >= 2")
        for name in ("step_s", "temperature", "noise_speed_mps", "noise_steer_rad", "wheelbase_m",
                     "max_steer_rad", "max_steer_rate_radps", "max_speed_mps", "max_accel_mps2",
                     "max_decel_mps2", "max_lateral_accel_mps2", "vehicle_radius_m", "goal_tolerance_m"):
            check_positive(o, name, getattr(self, name))
        for name in ("steer_time_constant_s", "speed_time_constant_s", "weight_lateral",
                     "weight_longitudinal", "weight_heading", "weight_steer_rate", "weight_obstacle",
                     "obstacle_margin_m", "collision_cost"):
            check_range(o, name, getattr(self, name), lo=0.0)


def objects_array(objects) -> np.ndarray:
    """Validates an (M, 5) array of x, y, vx, vy, radius_m; NaN rows are dropped."""
    a = np.asarray(objects, dtype=float)
    if a.size == 0:
        return np.zeros((0, 5))
    if a.ndim != 2 or a.shape[1] != 5:
        raise ValueError(f"objects: expected (M, 5) x, y, vx, vy, radius_m, got {a.shape}")
    return a[np.all(np.isfinite(a), axis=1)]


class MPPIController:
    def __init__(self, config: MPPIConfig | None = None, seed: int = 0):
        self.config = config or MPPIConfig()
        self.rng = np.random.default_rng(seed)
        c = self.config
        self.K, self.T = int(c.samples), int(c.horizon_steps)
        self.U = np.zeros((self.T, 2))           # nominal (speed_cmd, steer_cmd)
        self.trajectory: Trajectory | None = None
        self._state_v = 0.0
        self._steer_est = 0.0
        self._last_t: float | None = None
        self._last_cmd = np.zeros(2)
        self._s_hint: float | None = None
        self.last_best_cost = math.nan
        self.last_rollouts_xy: np.ndarray | None = None

    def reset(self):
        self.U[:] = 0.0
        self._last_t = None
        self._steer_est = 0.0
        self._last_cmd[:] = 0.0
        self._s_hint = None

    def set_trajectory(self, trajectory: Trajectory):
        self.trajectory = trajectory
        self._s_hint = None

    # ------------------------------------------------------------------ reference
    def _reference(self, t_s: float, s0: float, v0: float):
        """Reference poses (T, 4): x, y, yaw, v at the horizon's times."""
        c = self.config
        traj = self.trajectory
        ref = traj.path
        tk = t_s + c.step_s * np.arange(1, self.T + 1)
        if traj.timed:
            s = np.interp(tk, traj.path.times_s, ref.s)
            v = traj.v_ref_at_time(tk)
            # a car behind its plan is pulled forward along the path from where it is, not
            # towards a point it cannot reach this horizon
            s = np.maximum(s, s0)
        else:
            vr = float(ref.speed_at(s0, c.max_speed_mps))
            s = s0 + vr * (tk - t_s)
            v = np.full(self.T, vr)
        s = np.minimum(s, ref.length_m)
        x, y = ref.point_at(s)
        yaw = ref.yaw_at(s)
        return np.stack([x, y, yaw, v], axis=1)

    # ------------------------------------------------------------------ one iteration
    def optimise(self, t_s: float, x: float, y: float, yaw: float, v: float, steer: float,
                 objects: np.ndarray, ref_poses: np.ndarray) -> np.ndarray:
        """One MPPI iteration; returns the updated nominal control sequence (T, 2)."""
        c = self.config
        K, T, dt = self.K, self.T, c.step_s
        # float32 draws: half the generator time; the samples are perturbations, not state
        eps = self.rng.standard_normal((K, T, 2), dtype=np.float32) * np.array(
            [c.noise_speed_mps, c.noise_steer_rad], dtype=np.float32)
        if c.smooth_noise:
            # sample in the RATE space and integrate: perturbations are random walks, smooth
            # like a real steering input, instead of white noise the rack cannot follow;
            # scaled so the std at the end of the horizon equals noise_*
            eps = np.cumsum(eps, axis=1) / np.float32(math.sqrt(T))
        # sample 0 is the nominal sequence itself (keeps the solution when it is already good)
        eps[0] = 0.0
        Uk = self.U[None, :, :] + eps          # float64
        Uk[:, :, 0] = np.clip(Uk[:, :, 0], 0.0, c.max_speed_mps)
        Uk[:, :, 1] = np.clip(Uk[:, :, 1], -c.max_steer_rad, c.max_steer_rad)
        eps = Uk - self.U[None]
        # rollout (float64 state: float32 made no measurable difference to the time here)
        px = np.full(K, float(x))
        py = np.full(K, float(y))
        th = np.full(K, float(yaw))
        vv = np.full(K, max(0.0, float(v)))
        dd = np.full(K, float(steer))
        a_v = 1.0 - math.exp(-dt / c.speed_time_constant_s) if c.speed_time_constant_s > 0 else 1.0
        a_d = 1.0 - math.exp(-dt / c.steer_time_constant_s) if c.steer_time_constant_s > 0 else 1.0
        dmax = c.max_steer_rate_radps * dt
        dv_lo, dv_hi = -c.max_decel_mps2 * dt, c.max_accel_mps2 * dt
        L = c.wheelbase_m
        lat_gain = L * c.max_lateral_accel_mps2
        cosr = np.cos(ref_poses[:, 2])
        sinr = np.sin(ref_poses[:, 2])
        u_speed = np.ascontiguousarray(Uk[:, :, 0].T)      # (T, K): contiguous rows per step
        u_steer = np.ascontiguousarray(Uk[:, :, 1].T)
        xs = np.empty((T, K))
        ys = np.empty((T, K))
        ths = np.empty((T, K))
        tmp = np.empty(K)
        for k in range(T):
            # speed: first-order lag, acceleration limits
            np.subtract(u_speed[k], vv, out=tmp)
            tmp *= a_v
            np.clip(tmp, dv_lo, dv_hi, out=tmp)
            vv += tmp
            # steering: tyre-friction bound at this speed, lag, rate limit
            lim = np.minimum(c.max_steer_rad, np.arctan(lat_gain / np.maximum(vv * vv, 1e-6)))
            np.minimum(u_steer[k], lim, out=tmp)
            np.maximum(tmp, -lim, out=tmp)
            tmp -= dd
            tmp *= a_d
            np.clip(tmp, -dmax, dmax, out=tmp)
            dd += tmp
            th += vv * np.tan(dd) * (dt / L)
            px += vv * np.cos(th) * dt
            py += vv * np.sin(th) * dt
            xs[k] = px
            ys[k] = py
            ths[k] = th
        # tracking cost, all steps at once
        ex = xs - ref_poses[:, 0:1]
        ey = ys - ref_poses[:, 1:2]
        e_lon = ex * cosr[:, None] + ey * sinr[:, None]
        e_lat = ey * cosr[:, None] - ex * sinr[:, None]
        cost = (c.weight_lateral * np.einsum("tk,tk->k", e_lat, e_lat)
                + c.weight_longitudinal * np.einsum("tk,tk->k", e_lon, e_lon)
                + c.weight_heading * np.sum(1.0 - np.cos(ths - ref_poses[:, 2:3]), axis=0))
        # obstacle cost: two circles per car pose (rear axle, front axle) vs. objects predicted
        # with constant velocity. Objects that cannot come within reach during the horizon are
        # dropped first (reach = max speed and object speed over the horizon + radii + margin).
        horizon_s = T * dt
        if objects.shape[0] > 0:
            reach = (c.max_speed_mps * horizon_s + np.hypot(objects[:, 2], objects[:, 3]) * horizon_s
                     + objects[:, 4] + c.vehicle_radius_m + c.obstacle_margin_m + L)
            objects = objects[np.hypot(objects[:, 0] - x, objects[:, 1] - y) <= reach]
        if objects.shape[0] > 0:
            # float32: centimetre resolution over kilometres is plenty for a clearance, and it
            # halves the memory traffic of these (T, K) temporaries
            tk = (dt * np.arange(1, T + 1)).astype(np.float32)
            rx = xs.astype(np.float32)
            ry = ys.astype(np.float32)
            fx = rx + np.float32(L) * np.cos(ths).astype(np.float32)
            fy = ry + np.float32(L) * np.sin(ths).astype(np.float32)
            clear = np.full((T, K), np.inf, dtype=np.float32)
            for j in range(objects.shape[0]):
                ox = (np.float32(objects[j, 0]) + np.float32(objects[j, 2]) * tk)[:, None]
                oy = (np.float32(objects[j, 1]) + np.float32(objects[j, 3]) * tk)[:, None]
                r = np.float32(objects[j, 4] + c.vehicle_radius_m)
                d = np.minimum(np.hypot(rx - ox, ry - oy), np.hypot(fx - ox, fy - oy))
                d -= r
                np.minimum(clear, d, out=clear)
            cost += c.collision_cost * np.any(clear < 0.0, axis=0)
            band = np.clip(np.float32(c.obstacle_margin_m) - clear, 0.0, None)
            cost += c.weight_obstacle * np.einsum("tk,tk->k", band, band).astype(np.float64)
        # smoothness of the steering command
        dsteer = np.diff(np.concatenate((np.full((K, 1), self._last_cmd[1]), Uk[:, :, 1]), axis=1), axis=1) / dt
        cost += c.weight_steer_rate * np.sum(dsteer * dsteer, axis=1)
        # information-theoretic control cost (gamma = lambda): lambda * u' Sigma^-1 eps
        if not c.smooth_noise:
            sig = np.array([c.noise_speed_mps, c.noise_steer_rad]) ** 2
            cost += c.temperature * np.sum(self.U[None] * eps / sig, axis=(1, 2))
        best = float(cost.min())
        w = np.exp(-(cost - best) / c.temperature)
        w /= w.sum()
        self.last_best_cost = best
        self.last_rollouts_xy = np.stack([xs[:, :min(K, 50)], ys[:, :min(K, 50)]], axis=-1)
        U = self.U + np.einsum("k,ktc->tc", w, eps)
        U[:, 0] = np.clip(U[:, 0], 0.0, c.max_speed_mps)
        U[:, 1] = np.clip(U[:, 1], -c.max_steer_rad, c.max_steer_rad)
        return U

    # ------------------------------------------------------------------ per-cycle API
    def command(self, t_s: float, x: float, y: float, yaw: float, v: float,
                objects=None) -> TrackerOutput:
        c = self.config
        if self.trajectory is None:
            raise PathError("mppi: no trajectory set")
        for name, val in (("t_s", t_s), ("x", x), ("y", y), ("yaw", yaw), ("v", v)):
            if not math.isfinite(val):
                raise ValueError(f"mppi: state {name} is not finite ({val})")
        wall0 = time.perf_counter()
        objs = objects_array(objects if objects is not None else np.zeros((0, 5)))
        # steering estimate from the model's own lag over past commands (as the tracker does)
        if self._last_t is not None:
            dt = max(0.0, t_s - self._last_t)
            a = 1.0 - math.exp(-dt / c.steer_time_constant_s) if c.steer_time_constant_s > 0 else 1.0
            self._steer_est += float(np.clip(a * (self._last_cmd[1] - self._steer_est),
                                             -c.max_steer_rate_radps * dt, c.max_steer_rate_radps * dt))
            # shift the nominal sequence by the elapsed time
            shift = dt / c.step_s
            idx = np.arange(self.T) + shift
            self.U = np.stack([np.interp(idx, np.arange(self.T), self.U[:, j]) for j in range(2)], axis=1)
        else:
            # cold start: hold the current speed, curvature feed-forward steering
            self.U[:, 0] = max(v, 0.0)
            self.U[:, 1] = 0.0
        self._last_t = t_s
        ref = self.trajectory.path
        proj = ref.project(x, y, s_hint_m=self._s_hint, window_back_m=2.0, window_ahead_m=10.0 + 2 * abs(v))
        self._s_hint = proj.s_m
        e_psi = float(wrap_angle(yaw - ref.yaw_at(proj.s_m)))
        station_error = (self.trajectory.s_ref(t_s) - proj.s_m) if self.trajectory.timed else math.nan
        if proj.distance_to_end_m <= c.goal_tolerance_m:
            self._last_cmd = np.array([0.0, self._steer_est])
            return TrackerOutput(0.0, self._steer_est, proj.lateral_error_m, e_psi, station_error,
                                 proj.distance_to_end_m, True, abs(e_psi) > math.pi / 2,
                                 (time.perf_counter() - wall0) * 1e3,
                                 "goal" if self.trajectory.ends_in_stop else "end of plan reached (no newer plan)")
        ref_poses = self._reference(t_s, proj.s_m, v)
        self.U = self.optimise(t_s, x, y, yaw, v, self._steer_est, objs, ref_poses)
        speed_cmd, steer_cmd = float(self.U[0, 0]), float(self.U[0, 1])
        # stopping distance to the end of a plan that ends in a stop bounds the speed (as the
        # PID tracker does); half the braking capability, the rest is margin for the lag
        if self.trajectory.ends_in_stop:
            speed_cmd = min(speed_cmd, math.sqrt(2.0 * c.max_decel_mps2 * 0.5 * max(0.0, proj.distance_to_end_m)))
        status = "collision-free"
        if self.last_best_cost >= c.collision_cost:
            # every sampled future collides: brake (the planner is told via diagnostics)
            speed_cmd = 0.0
            status = "no collision-free rollout: braking"
        self._last_cmd = np.array([speed_cmd, steer_cmd])
        return TrackerOutput(speed_cmd, steer_cmd, proj.lateral_error_m, e_psi, station_error,
                             proj.distance_to_end_m, False, abs(e_psi) > math.pi / 2,
                             (time.perf_counter() - wall0) * 1e3, status)

"""Trajectory tracker for an Ackermann car: one lateral law (selectable) + longitudinal PID.

Input: a timed trajectory (points + planned arrival times, as in `planning/trajectory` whose
pose stamps are arrival times) and the vehicle state. Output: speed and steering commands,
converted to a Twist by `twist.ackermann_to_twist`.

Lateral laws, by name (`TrackerConfig.lateral`):
  "mpc"           LateralMPC (default): kinematic bicycle + steering lag, QP (OSQP)
  "lqr"           LateralLQR: same model linearised about the path, speed-scheduled gain
  "stanley"       Stanley (front-axle cross-track)
  "pure_pursuit"  PurePursuit geometry with adaptive lookahead

Steering angle: when the caller has no measurement (odometry carries none), the tracker runs
the same first-order lag + rate limit the MPC assumes over its own past commands; that
estimate is what the MPC starts from (see lateral_mpc's notes on Autoware PR #6852).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np

from ._checks import check_positive, check_range, ControlConfigError
from .lateral_mpc import LateralMPC, LateralMPCConfig
from .longitudinal import LongitudinalConfig, LongitudinalPID
from .lqr import LateralLQR, LQRConfig
from .path import PathError, ReferencePath, speeds_from_times, wrap_angle
from .pure_pursuit import PathProgress, PurePursuit, PurePursuitConfig
from .stanley import Stanley, StanleyConfig

LATERAL_LAWS = ("mpc", "lqr", "stanley", "pure_pursuit")


@dataclass(frozen=True)
class TrackerConfig:
    lateral: str = "mpc"
    wheelbase_m: float = 2.7
    max_steer_rad: float = 0.6
    max_steer_rate_radps: float = 1.0
    steer_time_constant_s: float = 0.1
    rear_axle_offset_m: float = 0.0       # pose origin this far ahead of the rear axle
    period_s: float = 0.02                # nominal control period (LQR discretisation)
    default_speed_mps: float = 5.0        # reference speed for a path without stamps
    max_lateral_accel_mps2: float = 3.0   # curvature speed limit for untimed paths
    goal_tolerance_m: float = 0.3
    # While the car points this far off the path it does not speed up to catch up with its
    # plan: the lateral acceleration a recovery needs grows with v^2 (a 60 deg error at 10 m/s
    # overshot 9 % with catch-up, 2 % without, measured on the kinematic model).
    catchup_max_heading_error_rad: float = 0.26
    # Online estimate of the rear-axle slip per unit lateral acceleration (linear-tyre
    # "cornering compliance"), fed to the MPC's model: a real car drifts outwards in a curve,
    # which the kinematic model does not predict. Exponential forgetting over this time; 0 = off.
    slip_adaptation_time_s: float = 2.0
    max_slip_compliance: float = 0.02     # rad per m/s^2; passenger cars: 0.002-0.009
    # The steering-angle estimate (own commands through the lag model) is pulled towards the
    # angle implied by the measured yaw rate, atan(L r / v), with this time constant when
    # moving: it corrects a persistent mismatch (hand-over from manual driving, a rack that
    # does not do what the model says) without feeding gyro noise into the MPC. 0 = off.
    steer_correction_time_s: float = 0.5
    mpc: LateralMPCConfig = field(default_factory=LateralMPCConfig)
    lqr: LQRConfig = field(default_factory=LQRConfig)
    stanley: StanleyConfig = field(default_factory=StanleyConfig)
    pure_pursuit: PurePursuitConfig = field(default_factory=PurePursuitConfig)
    longitudinal: LongitudinalConfig = field(default_factory=LongitudinalConfig)

    def __post_init__(self):
        if self.lateral not in LATERAL_LAWS:
            raise ControlConfigError(f"tracker.lateral={self.lateral!r} is not one of {', '.join(LATERAL_LAWS)}")
        for name in ("wheelbase_m", "max_steer_rad", "max_steer_rate_radps", "period_s",
                     "default_speed_mps", "max_lateral_accel_mps2", "goal_tolerance_m"):
            check_positive("tracker", name, getattr(self, name))
        check_range("tracker", "steer_time_constant_s", self.steer_time_constant_s, lo=0.0)
        check_range("tracker", "rear_axle_offset_m", self.rear_axle_offset_m)
        check_range("tracker", "steer_correction_time_s", self.steer_correction_time_s, lo=0.0)
        check_range("tracker", "slip_adaptation_time_s", self.slip_adaptation_time_s, lo=0.0)
        check_range("tracker", "max_slip_compliance", self.max_slip_compliance, lo=0.0, hi=0.2)
        check_range("tracker", "catchup_max_heading_error_rad", self.catchup_max_heading_error_rad,
                    lo=0.0, hi=math.pi)

    def with_vehicle(self) -> "TrackerConfig":
        """Copies the vehicle parameters into every sub-config (one source of truth)."""
        veh = dict(wheelbase_m=self.wheelbase_m, max_steer_rad=self.max_steer_rad)
        return replace(
            self,
            mpc=replace(self.mpc, **veh, max_steer_rate_radps=self.max_steer_rate_radps,
                        steer_time_constant_s=self.steer_time_constant_s),
            lqr=replace(self.lqr, **veh, steer_time_constant_s=self.steer_time_constant_s,
                        max_steer_rate_radps=self.max_steer_rate_radps, period_s=self.period_s),
            stanley=replace(self.stanley, **veh),
            pure_pursuit=replace(self.pure_pursuit, **veh, rear_axle_offset_m=0.0,
                                 goal_tolerance_m=self.goal_tolerance_m),
        )


@dataclass(frozen=True)
class TrackerOutput:
    speed_cmd_mps: float
    steer_cmd_rad: float
    lateral_error_m: float
    heading_error_rad: float
    station_error_m: float          # s_ref(t) - s; nan for an untimed path
    distance_to_end_m: float
    goal_reached: bool
    path_behind: bool               # |heading error| > 90 deg: the path points backwards
    compute_ms: float
    solver_status: str = ""


class Trajectory:
    """A reference for the tracker: ReferencePath + optional arrival times, driven in one gear.

    direction: +1 forward, -1 reverse (the vehicle's heading is opposite to the direction of
    travel along the points). stop_at_end: the leg ends at a cusp, the car must stop there
    whatever the stamps say. Plans with gear changes: `split_by_gear`.
    """

    def __init__(self, points, times_s=None, speeds_mps=None, name="trajectory", direction: int = 1,
                 stop_at_end: bool = False):
        if direction not in (1, -1):
            raise PathError(f"{name}: direction must be +1 or -1, got {direction!r}")
        self.direction = int(direction)
        self._force_stop = bool(stop_at_end)
        pts = np.asarray(points, dtype=float)
        timed = False
        if times_s is not None:
            t = np.asarray(times_s, dtype=float).reshape(-1)
            if t.shape[0] != pts.shape[0]:
                raise PathError(f"{name}: {t.shape[0]} stamps for {pts.shape[0]} poses")
            if not np.all(np.isfinite(t)):
                raise PathError(f"{name}: stamps contain NaN/inf")
            timed = bool(t[-1] > t[0])        # all-equal stamps (e.g. all zero): untimed path
            if timed and speeds_mps is None:
                speeds_mps = speeds_from_times(pts, t)
            if not timed:
                t = None
        else:
            t = None
        self.timed = timed
        self.path = ReferencePath(pts, speeds_mps=speeds_mps, times_s=t, name=name)
        if timed:
            self._s_of_t = self.path.s
            self._t = self.path.times_s

    def s_ref(self, t_s: float) -> float:
        return float(np.interp(t_s, self._t, self._s_of_t))

    def v_ref_at_time(self, t_s):
        """Planned speed at time t (segment speed; 0 after the last stamp)."""
        t = np.atleast_1d(np.asarray(t_s, dtype=float))
        seg = np.clip(np.searchsorted(self._t, t, side="right") - 1, 0, len(self._t) - 1)
        dt = np.diff(self._t)
        ds = np.diff(self._s_of_t)
        v_seg = np.concatenate((np.where(dt > 1e-9, ds / np.maximum(dt, 1e-9), 0.0), [0.0]))
        v = v_seg[seg]
        v[t >= self._t[-1]] = 0.0
        v[t < self._t[0]] = v_seg[0]
        return v if np.ndim(t_s) else float(v[0])

    #: a timed trajectory whose last segment is slower than this ends in a stop
    STOP_SPEED_MPS = 0.5

    @property
    def ends_in_stop(self) -> bool:
        """True for an untimed path (drive to its end) and for a timed one whose planned speed
        falls to ~0 at the end (a stop or an emergency stop). A timed trajectory that ends at
        speed is a receding horizon: the next replan extends it, so the controller does not
        brake for its end (the node's trajectory watchdog stops the car if no replan comes)."""
        if not self.timed or self._force_stop:
            return True
        # speed AT the last pose, extrapolated from the last two segment speeds (a segment's
        # speed is its average: the last one of a braking plan is still > 0)
        dt = np.diff(self._t)
        ds = np.diff(self._s_of_t)
        moving = dt > 1e-9
        v = np.where(moving, ds / np.where(moving, dt, 1.0), 0.0)
        v_end = v[-1]
        if len(v) >= 2 and moving[-1] and moving[-2]:
            slope = (v[-1] - v[-2]) / (0.5 * (dt[-1] + dt[-2]))
            v_end = v[-1] + slope * 0.5 * dt[-1]
        return float(max(v_end, 0.0)) < self.STOP_SPEED_MPS

    @property
    def end_time_s(self) -> float:
        return float(self._t[-1]) if self.timed else math.nan


def split_by_gear(points, times_s=None, yaws_rad=None, name="trajectory") -> list:
    """Legs of one driving direction each, from poses (points + the vehicle's heading at each).

    A segment is driven in reverse when the heading at its start points against the direction
    of travel (cos < 0). Without headings every segment is forward. Each leg but the last ends
    at a cusp (stop_at_end). Raises PathError for unusable input (naming the pose).
    """
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[0] < 2 or pts.shape[1] < 2:
        raise PathError(f"{name}: needs at least 2 poses of x, y, got shape {pts.shape}")
    pts = pts[:, :2]
    t = None if times_s is None else np.asarray(times_s, dtype=float).reshape(-1)
    if yaws_rad is None:
        return [Trajectory(pts, times_s=t, name=name)]
    yaw = np.asarray(yaws_rad, dtype=float).reshape(-1)
    if yaw.shape[0] != pts.shape[0]:
        raise PathError(f"{name}: {yaw.shape[0]} headings for {pts.shape[0]} poses")
    if not np.all(np.isfinite(yaw)):
        raise PathError(f"{name}: heading of pose {int(np.argmax(~np.isfinite(yaw)))} is not finite")
    seg = np.diff(pts, axis=0)
    length = np.hypot(seg[:, 0], seg[:, 1])
    travel = np.arctan2(seg[:, 1], seg[:, 0])
    d = np.where(np.cos(travel - yaw[:-1]) < 0.0, -1, 1)
    # zero-length segments (a planner repeating a pose) have no travel direction: they take
    # the previous segment's gear, leading ones the first real segment's
    real = np.nonzero(length >= 1e-9)[0]
    if real.size == 0:
        raise PathError(f"{name}: all poses coincide")
    for i in range(len(d)):
        if length[i] < 1e-9:
            d[i] = d[i - 1] if i > 0 and i > real[0] else d[real[0]]
    cuts = [0] + [i for i in range(1, len(d)) if d[i] != d[i - 1]] + [len(pts) - 1]
    legs = []
    for k in range(len(cuts) - 1):
        a, b = cuts[k], cuts[k + 1]
        last = k == len(cuts) - 2
        legs.append(Trajectory(pts[a:b + 1], times_s=None if t is None else t[a:b + 1],
                               name=f"{name} leg {k}", direction=int(d[a]), stop_at_end=not last))
    return legs


class TrajectoryTracker:
    def __init__(self, config: TrackerConfig | None = None):
        self.config = (config or TrackerConfig()).with_vehicle()
        c = self.config
        self.mpc = LateralMPC(c.mpc)
        self.lqr = LateralLQR(c.lqr)
        self.stanley = Stanley(c.stanley)
        self.pp = PurePursuit(c.pure_pursuit)
        self.longitudinal = LongitudinalPID(c.longitudinal)
        self.progress = PathProgress()
        self.trajectory: Trajectory | None = None
        self._steer_est = 0.0
        self._last_cmd_steer = 0.0
        self._last_t: float | None = None
        self._slip_prev = None           # (t, e_y, e_psi, v, kappa, trajectory)
        self._slip_num = 0.0
        self._slip_den = 0.0
        self._legs: list = []

    #: a leg ending at a cusp is finished once the car is this slow within the goal tolerance
    CUSP_SPEED_MPS = 0.3

    @property
    def slip_compliance(self) -> float:
        return self.mpc.slip_compliance

    def _update_slip(self, t_s, e_y, e_psi, v, kappa):
        """Regress the measured lateral drift (e_y rate not explained by v sin e_psi) on v a_y."""
        c = self.config
        if c.slip_adaptation_time_s <= 0:
            return
        prev = self._slip_prev
        self._slip_prev = (t_s, e_y, e_psi, v, kappa, self.trajectory)
        if prev is None or prev[5] is not self.trajectory:
            return
        dt = t_s - prev[0]
        if not 1e-4 < dt < 0.2:
            return
        w = (e_y - prev[1]) / dt - 0.5 * (v * math.sin(e_psi) + prev[3] * math.sin(prev[2]))
        phi = 0.5 * (v ** 3 * kappa + prev[3] ** 3 * prev[4])
        lam = math.exp(-dt / c.slip_adaptation_time_s)
        self._slip_num = lam * self._slip_num + w * phi * dt
        self._slip_den = lam * self._slip_den + phi * phi * dt
        # ridge prior towards 0 (no slip): worth 1 s of driving at v a_y = 10 m^2/s^3
        k = self._slip_num / (self._slip_den + 100.0)
        self.mpc.slip_compliance = float(np.clip(k, -c.max_slip_compliance, c.max_slip_compliance))

    def set_trajectory(self, trajectory) -> None:
        """New plan: a Trajectory or a list of gear legs (`split_by_gear`). Replans keep
        controller memory (the steering estimate, the MPC warm start, the PID integrator) unless
        the driving direction changes; path progress restarts."""
        legs = list(trajectory) if isinstance(trajectory, (list, tuple)) else [trajectory]
        if not legs:
            raise PathError("empty list of trajectory legs")
        if self.trajectory is not None and legs[0].direction != self.trajectory.direction:
            self.mpc.reset()
        self._legs = legs
        self.trajectory = legs[0]
        self.progress.reset()
        self.pp.reset()
        self.stanley.reset()

    def reset(self):
        self.trajectory = None
        self._legs = []
        self.progress.reset()
        for part in (self.mpc, self.lqr, self.stanley, self.pp, self.longitudinal):
            part.reset()
        self._steer_est = 0.0
        self._last_cmd_steer = 0.0
        self._last_t = None
        self._slip_prev = None
        self._slip_num = self._slip_den = 0.0
        self.mpc.slip_compliance = 0.0

    def _update_steer_estimate(self, t_s: float) -> float:
        c = self.config
        if self._last_t is not None:
            dt = max(0.0, t_s - self._last_t)
            if c.steer_time_constant_s > 0:
                target = self._steer_est + (self._last_cmd_steer - self._steer_est) * (
                    1.0 - math.exp(-dt / c.steer_time_constant_s))
            else:
                target = self._last_cmd_steer
            step = float(np.clip(target - self._steer_est, -c.max_steer_rate_radps * 1.2 * dt,
                                 c.max_steer_rate_radps * 1.2 * dt))
            self._steer_est += step
        return self._steer_est

    def command(self, t_s: float, x_m: float, y_m: float, yaw_rad: float, speed_mps: float,
                yaw_rate_radps: float | None = None, steer_measured_rad: float | None = None) -> TrackerOutput:
        """One control cycle. yaw_rate_radps: measured yaw rate (odometry), None when not
        available; steer_measured_rad: a road-wheel angle sensor, None when not available."""
        c = self.config
        if self.trajectory is None:
            raise PathError("no trajectory set")
        for name, val in (("t_s", t_s), ("x_m", x_m), ("y_m", y_m), ("yaw_rad", yaw_rad),
                          ("speed_mps", speed_mps)):
            if not math.isfinite(val):
                raise ValueError(f"tracker: state {name} is not finite ({val})")
        wall0 = time.perf_counter()
        dt_since = c.period_s if self._last_t is None else max(0.0, t_s - self._last_t)
        steer_est = self._update_steer_estimate(t_s)
        if steer_measured_rad is not None and math.isfinite(steer_measured_rad):
            steer_est = self._steer_est = float(steer_measured_rad)
        elif (c.steer_correction_time_s > 0 and abs(speed_mps) > 1.0 and yaw_rate_radps is not None
              and math.isfinite(yaw_rate_radps)
              and self._last_t is not None):
            implied = math.atan(c.wheelbase_m * yaw_rate_radps / speed_mps)
            gain = 1.0 - math.exp(-dt_since / c.steer_correction_time_s)
            steer_est = self._steer_est = self._steer_est + gain * (implied - self._steer_est)
        self._last_t = t_s
        xr = x_m - c.rear_axle_offset_m * math.cos(yaw_rad)
        yr = y_m - c.rear_axle_offset_m * math.sin(yaw_rad)
        while True:
            traj = self.trajectory
            ref = traj.path
            # Reverse gear = a virtual car driving forwards with the heading turned by pi, the
            # speed and steering angle negated: the rear-axle kinematic bicycle is exactly
            # symmetric, so every lateral law and the longitudinal PID run unchanged on it.
            d = traj.direction
            yaw_v = yaw_rad if d > 0 else float(wrap_angle(yaw_rad + math.pi))
            speed_v = d * speed_mps
            steer_v = d * steer_est
            proj = self.progress.project(ref, xr, yr, speed_v, dt_hint_s=c.period_s * 5)
            e_psi = float(wrap_angle(yaw_v - ref.yaw_at(proj.s_m)))
            station_error = traj.s_ref(t_s) - proj.s_m if traj.timed else math.nan
            goal = proj.distance_to_end_m <= c.goal_tolerance_m and (
                not traj.timed or t_s >= traj.end_time_s - 0.5 or station_error <= c.goal_tolerance_m)
            if goal and len(self._legs) > 1 and abs(speed_mps) < self.CUSP_SPEED_MPS:
                # cusp reached and stopped: next leg (other gear), fresh controller memory
                self._legs.pop(0)
                self.trajectory = self._legs[0]
                self.progress.reset()
                self.pp.reset()
                self.stanley.reset()
                self.mpc.reset()
                self.lqr.reset()
                self._slip_prev = None
                continue
            break
        path_behind = abs(e_psi) > math.pi / 2

        # ---- reference speed
        if traj.timed:
            v_ref = float(traj.v_ref_at_time(t_s))
            a_ref = (float(traj.v_ref_at_time(t_s + 0.2)) - v_ref) / 0.2
            stop_at_end = traj.ends_in_stop
        else:
            v_ref = min(float(ref.speed_at(proj.s_m, c.default_speed_mps)),
                        self._curvature_speed(ref, proj.s_m, speed_v))
            a_ref = 0.0
            stop_at_end = True
        if goal:
            # the end of a plan that ends in a stop is the goal; a cusp is a stop before the
            # next leg; the end of a receding plan means no newer plan arrived in time: stop
            # there too, and say so
            self.longitudinal.command(t_s, speed_v, 0.0, 0.0, None, 0.0)
            self._last_cmd_steer = steer_est
            if len(self._legs) > 1:
                status = "stopping at a cusp (gear change)"
            else:
                status = "goal" if traj.ends_in_stop else "end of plan reached (no newer plan)"
            return TrackerOutput(0.0, float(steer_est), proj.lateral_error_m, e_psi, station_error,
                                 proj.distance_to_end_m, len(self._legs) == 1, path_behind,
                                 (time.perf_counter() - wall0) * 1e3, status)
        speed_cmd = self.longitudinal.command(t_s, speed_v, v_ref, a_ref,
                                              None if math.isnan(station_error) else station_error,
                                              max(0.0, proj.distance_to_end_m - c.goal_tolerance_m * 0.5),
                                              stop_at_end)
        if abs(e_psi) > c.catchup_max_heading_error_rad and speed_cmd > v_ref:
            speed_cmd = max(v_ref, 0.0)
            self.longitudinal.hold(speed_cmd)
        # ---- lateral (virtual-car terms)
        last_v = d * self._last_cmd_steer
        status = ""
        if c.lateral == "mpc":
            if d > 0:
                self._update_slip(t_s, proj.lateral_error_m, e_psi, speed_v, proj.curvature_1pm)
            v_prof = self._speed_profile(traj, t_s, speed_v, speed_cmd, proj.s_m)
            res = self.mpc.solve(ref, proj.s_m, proj.lateral_error_m, e_psi, steer_v, v_prof, t_s)
            steer = res.steer_cmd_rad
            status = res.solver_status
        elif c.lateral == "lqr":
            steer = self.lqr.steer(ref, proj.s_m, proj.lateral_error_m, e_psi, steer_v, speed_v, last_v)
        elif c.lateral == "stanley":
            steer = self.stanley.steer(ref, xr, yr, yaw_v, speed_v, yaw_rate_radps)  # None: no damping
        else:
            _, steer = self.pp.command(xr, yr, yaw_v, speed_v, ref)
        if c.lateral != "mpc":
            # the MPC enforces the actuator's rate limit inside its QP; the others get it here
            step = c.max_steer_rate_radps * dt_since
            steer = float(np.clip(steer, last_v - step, last_v + step))
        steer = d * float(np.clip(steer, -c.max_steer_rad, c.max_steer_rad))
        self._last_cmd_steer = steer
        return TrackerOutput(float(d * speed_cmd), steer, proj.lateral_error_m, e_psi, station_error,
                             proj.distance_to_end_m, False, path_behind,
                             (time.perf_counter() - wall0) * 1e3, status)

    def _curvature_speed(self, ref, s_m, speed_mps):
        c = self.config
        window = max(5.0, 2.0 * abs(speed_mps))
        kappa = ref.max_abs_curvature(s_m, s_m + window)
        return math.sqrt(c.max_lateral_accel_mps2 / kappa) if kappa > 1e-6 else math.inf

    def _speed_profile(self, traj, t_s, speed_mps, speed_cmd, s_m):
        """Speeds along the MPC horizon: from the measured speed towards the plan, within the
        acceleration limits (the lateral model's time scale depends on it)."""
        c = self.config
        n, dt = self.mpc.N, c.mpc.step_s
        if traj.timed:
            plan = traj.v_ref_at_time(t_s + dt * np.arange(n))
        else:
            plan = np.full(n, speed_cmd)
        v = np.empty(n)
        vk = max(0.0, speed_mps)
        lc = c.longitudinal
        for k in range(n):
            vk = float(np.clip(plan[k], vk - lc.max_decel_mps2 * dt, vk + lc.max_accel_mps2 * dt))
            v[k] = vk
        return v

"""Monte Carlo of geofence encounters (core: no rclpy), vectorised across encounters.

Each encounter: one prohibited zone (circle or non-convex star polygon, 0-120 m AGL or a
raised floor), one multirotor approaching it at 1-20 m/s from a random bearing with a
random heading offset (or, for raised-floor zones, starting under the floor and climbing),
a nominal velocity command that points into the zone and never changes, and the safety
filter between the command and the vehicle. Every encounter's zone sits 50 km from the
next one, so they share one zone set and one filter call per control step.

Models (all seeded):
- Multirotor: point mass, velocity loop a = sat(Kp (v_cmd - v) - d_hat) + d with tilt-limited
  horizontal thrust acceleration 7 m/s^2 (35 deg tilt: g tan 35 = 6.9), vertical 4 m/s^2,
  linear rotor drag d = k (wind - v), k = 0.25 1/s (order of the rotor-drag coefficients
  identified by Faessler et al., RA-L 2018), disturbance observer d_hat with 0.5 s lag,
  command latency one control period.
- Wind: 10 m/s mean from a random direction plus MIL-F-8785C "1 - cosine" discrete gusts
  (amplitude up to 5 m/s, 1-4 s long, random direction, Poisson onsets 0.15 /s).
- Navigation error: first-order Gauss-Markov position error, sigma 3 m horizontal per axis
  and 4.5 m vertical, correlation time 30 s (GNSS receivers' slowly wandering error, e.g.
  u-blox M8 class 2.5 m CEP); velocity error white, sigma 0.15 m/s.
- Ground-truth monitor: latched per encounter at the physics rate (100 Hz) on the exact
  zone (true circle, not its polygon), plus the minimum 3-D clearance over the run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import shapely

from .index import ZoneSet, circle_polygons
from .model import Restriction, Unit, VerticalLimit, VerticalRef, Volume, Zone
from .safety import FilterConfig, SafetyFilter, StoppingModel

GRAVITY_MPS2 = 9.80665


@dataclass(frozen=True)
class MultirotorParams:
    max_accel_h_mps2: float = GRAVITY_MPS2 * math.tan(math.radians(35.0))
    max_accel_up_mps2: float = 4.0
    max_accel_down_mps2: float = 4.0
    velocity_gain_per_s: float = 3.0
    drag_per_s: float = 0.25
    observer_lag_s: float = 0.5


@dataclass(frozen=True)
class EncounterConfig:
    n_encounters: int = 10_000
    seed: int = 7
    speed_range_mps: tuple = (1.0, 20.0)
    mean_wind_mps: float = 10.0
    gust_max_mps: float = 5.0
    gust_rate_per_s: float = 0.15
    gnss_sigma_h_m: float = 3.0
    gnss_sigma_v_m: float = 4.5
    gnss_tau_s: float = 30.0
    velocity_sigma_mps: float = 0.15
    control_dt_s: float = 0.05
    physics_substeps: int = 5
    duration_s: float = 45.0
    vertical_fraction: float = 0.2
    spacing_m: float = 50_000.0


def default_filter_config() -> FilterConfig:
    # reaction 0.5 s: one control period of latency + one of sampling + the velocity loop's
    # 1/Kp = 0.33 s lag; 3 m/s^2 braking: 7 m/s^2 of thrust minus drag in a 15 m/s gust
    return FilterConfig(stopping=StoppingModel(reaction_time_s=0.5, max_decel_mps2=3.0, max_jerk_mps3=15.0))


@dataclass
class EncounterResult:
    n_encounters: int
    breaches: int
    breached: np.ndarray
    min_clearance_m: float
    clearance_p01_m: float
    min_clearance_per_encounter: np.ndarray
    stopped_fraction: float
    sim_seconds: float


def build_encounters(cfg: EncounterConfig, filter_cfg: FilterConfig):
    rng = np.random.default_rng(cfg.seed)
    n = cfg.n_encounters
    side = int(math.ceil(math.sqrt(n)))
    centres = np.column_stack([(np.arange(n) % side) * cfg.spacing_m, (np.arange(n) // side) * cfg.spacing_m])
    radius = np.exp(rng.uniform(math.log(80.0), math.log(1500.0), n))
    is_circle = rng.random(n) < 0.5
    true_geoms = np.empty(n, dtype=object)
    zone_geoms = np.empty(n, dtype=object)
    ci = np.flatnonzero(is_circle)
    true_geoms[ci] = shapely.buffer(shapely.points(centres[ci]), radius[ci], quad_segs=64)  # only for distance
    zone_geoms[ci] = circle_polygons(centres[ci, 0], centres[ci, 1], radius[ci], 0.25, 256)
    pi = np.flatnonzero(~is_circle)
    for i in pi:
        count = int(rng.integers(5, 40))
        angles = np.sort(rng.uniform(0, 2 * np.pi, count))
        radii = radius[i] * rng.uniform(0.4, 1.0, count)
        poly = shapely.Polygon(np.column_stack([centres[i, 0] + radii * np.cos(angles),
                                                centres[i, 1] + radii * np.sin(angles)]))
        if not poly.is_valid:
            poly = shapely.convex_hull(poly)
        true_geoms[i] = poly
        zone_geoms[i] = poly
    vertical = rng.random(n) < cfg.vertical_fraction
    floor_m = np.where(vertical, rng.uniform(60.0, 100.0, n), 0.0)
    zones = [Zone(f"ENC{i:05d}", Restriction.PROHIBITED,
                  [Volume(None, VerticalLimit(float(floor_m[i]), Unit.M, VerticalRef.AGL),
                          VerticalLimit(120.0, Unit.M, VerticalRef.AGL))]) for i in range(n)]
    zone_set = ZoneSet.from_local(list(zone_geoms), zones)

    speed = rng.uniform(*cfg.speed_range_mps, n)
    stop = filter_cfg.stopping.stopping_distance_m(speed)
    bearing = rng.uniform(0, 2 * np.pi, n)
    heading_offset = rng.uniform(-np.radians(75), np.radians(75), n)
    pos = np.zeros((n, 3))
    vel_nom = np.zeros((n, 3))
    # horizontal approaches: start outside at margin + stopping distance + 2..10 s of flight
    h = ~vertical
    start_gap = filter_cfg.margin_h_m + stop + speed * rng.uniform(2.0, 10.0, n)
    direction = np.column_stack([np.cos(bearing), np.sin(bearing)])
    boundary_far = radius * 1.05 + start_gap
    centroid = shapely.get_coordinates(shapely.centroid(true_geoms))
    start_xy = centroid + direction * boundary_far[:, None]
    # make sure the start clears the true zone by start_gap (star polygons are irregular)
    gap_now = shapely.distance(true_geoms, shapely.points(start_xy))
    start_xy += direction * np.maximum(start_gap - gap_now, 0.0)[:, None]
    to_zone = np.arctan2(centroid[:, 1] - start_xy[:, 1], centroid[:, 0] - start_xy[:, 0]) + heading_offset
    pos[h, :2] = start_xy[h]
    pos[h, 2] = rng.uniform(20.0, 100.0, n)[h]
    vel_nom[h, 0] = (speed * np.cos(to_zone))[h]
    vel_nom[h, 1] = (speed * np.sin(to_zone))[h]
    # vertical approaches: under a raised floor, climbing (with some horizontal speed)
    v = vertical
    inner = shapely.get_coordinates(shapely.point_on_surface(true_geoms))
    pos[v, :2] = inner[v]
    pos[v, 2] = (floor_m - filter_cfg.margin_v_m - rng.uniform(10.0, 30.0, n))[v]
    climb = rng.uniform(1.0, 5.0, n)
    vel_nom[v, 0] = (np.minimum(speed, 5.0) * np.cos(to_zone))[v]
    vel_nom[v, 1] = (np.minimum(speed, 5.0) * np.sin(to_zone))[v]
    vel_nom[v, 2] = climb[v]
    return zone_set, true_geoms, is_circle, centres, radius, floor_m, pos, vel_nom, rng


def run_encounters(cfg: EncounterConfig = EncounterConfig(), filter_cfg: Optional[FilterConfig] = None,
                   vehicle: MultirotorParams = MultirotorParams()) -> EncounterResult:
    filter_cfg = filter_cfg or default_filter_config()
    zone_set, true_geoms, is_circle, centres, radius, floor_m, pos, vel_nom, rng = build_encounters(cfg, filter_cfg)
    n = cfg.n_encounters
    safety = SafetyFilter(zone_set, filter_cfg)
    vel = vel_nom.copy()  # already flying at the nominal velocity
    d_hat = np.zeros((n, 3))
    wind_dir = rng.uniform(0, 2 * np.pi, n)
    mean_wind = cfg.mean_wind_mps * np.column_stack([np.cos(wind_dir), np.sin(wind_dir), np.zeros(n)])
    # gusts: up to G per encounter, onset by a Poisson process
    max_gusts = max(1, int(cfg.gust_rate_per_s * cfg.duration_s * 3))
    onsets = np.cumsum(rng.exponential(1.0 / cfg.gust_rate_per_s, (n, max_gusts)), axis=1)
    gust_len = rng.uniform(1.0, 4.0, (n, max_gusts))
    gust_amp = rng.uniform(0.0, cfg.gust_max_mps, (n, max_gusts))
    gust_dir = rng.uniform(0, 2 * np.pi, (n, max_gusts))
    sigma = np.array([cfg.gnss_sigma_h_m, cfg.gnss_sigma_h_m, cfg.gnss_sigma_v_m])
    nav_err = rng.normal(0.0, 1.0, (n, 3)) * sigma
    # each encounter runs until 15 s after its nominal path would have met the margin (or
    # for cfg.duration_s), then retires: the contact and the slide along are what matter
    gap = shapely.distance(true_geoms, shapely.points(pos[:, :2]))
    speed_h = np.maximum(np.hypot(vel_nom[:, 0], vel_nom[:, 1]), 0.5)
    end_time = np.minimum(gap / speed_h + 15.0, cfg.duration_s)
    end_time = np.where(floor_m > 0, np.minimum(cfg.duration_s, 30.0), end_time)
    dt_c = cfg.control_dt_s
    dt_p = dt_c / cfg.physics_substeps
    phi = math.exp(-dt_c / cfg.gnss_tau_s)
    cmd_applied = vel_nom.copy()   # latency: the command computed now is applied next period
    breached = np.zeros(n, bool)
    min_clear = np.full(n, np.inf)
    a_h, a_up, a_dn = vehicle.max_accel_h_mps2, vehicle.max_accel_up_mps2, vehicle.max_accel_down_mps2
    steps = int(round(cfg.duration_s / dt_c))
    live = np.arange(n)
    simulated_s = 0.0
    for step in range(steps):
        t = step * dt_c
        live = live[end_time[live] > t]
        if live.size == 0:
            break
        simulated_s += live.size * dt_c
        est_pos = pos[live] + nav_err[live]
        est_vel = vel[live] + rng.normal(0.0, cfg.velocity_sigma_mps, (live.size, 3))
        next_cmd = safety.filter(est_pos, est_vel, vel_nom[live], predict=False).velocity
        # wind at the control rate (gusts last 1-4 s)
        gust_phase = (t - onsets[live]) / gust_len[live]
        active = (gust_phase >= 0) & (gust_phase <= 1)
        gust_speed = np.where(active, 0.5 * gust_amp[live] * (1 - np.cos(2 * np.pi * gust_phase)), 0.0)
        wind = mean_wind[live].copy()
        wind[:, 0] += (gust_speed * np.cos(gust_dir[live])).sum(1)
        wind[:, 1] += (gust_speed * np.sin(gust_dir[live])).sum(1)
        p, v, dh_, cmd = pos[live], vel[live], d_hat[live], cmd_applied[live]
        for _sub in range(cfg.physics_substeps):
            drag = vehicle.drag_per_s * (wind - v)
            drag[:, 2] = -vehicle.drag_per_s * v[:, 2]
            thrust = vehicle.velocity_gain_per_s * (cmd - v) - dh_
            thrust_h = np.hypot(thrust[:, 0], thrust[:, 1])
            scale = np.minimum(1.0, a_h / np.maximum(thrust_h, 1e-9))
            thrust[:, 0] *= scale
            thrust[:, 1] *= scale
            thrust[:, 2] = np.clip(thrust[:, 2], -a_dn, a_up)
            acc = thrust + drag
            dh_ += (drag - dh_) * (dt_p / vehicle.observer_lag_s)
            p += v * dt_p + 0.5 * acc * dt_p * dt_p
            v += acc * dt_p
            _monitor(p, live, true_geoms, is_circle, centres, radius, floor_m, breached, None)
        _monitor(p, live, true_geoms, is_circle, centres, radius, floor_m, breached, min_clear)
        pos[live], vel[live], d_hat[live] = p, v, dh_
        cmd_applied[live] = next_cmd
        nav_err = phi * nav_err + math.sqrt(1 - phi * phi) * sigma * rng.normal(0.0, 1.0, (n, 3))
    speeds = np.linalg.norm(vel, axis=1)
    return EncounterResult(n, int(breached.sum()), breached, float(min_clear.min()),
                           float(np.percentile(min_clear, 1)), min_clear,
                           float(np.mean(speeds < 1.0)), simulated_s)


def _monitor(pos, live, polys, is_circle, centres, radius, floor_m, breached, min_clear):
    """Latched ground-truth breach flag on the exact zones (true circles, true polygons);
    with `min_clear`, also the running minimum 3-D clearance."""
    z = pos[:, 2]
    fl = floor_m[live]
    dz = np.maximum(np.maximum(fl - z, z - 120.0), 0.0)
    c, r = centres[live], radius[live]
    dc = np.hypot(pos[:, 0] - c[:, 0], pos[:, 1] - c[:, 1])
    circle = is_circle[live]
    dh = np.where(circle, np.maximum(dc - r, 0.0), np.maximum(dc - r, 0.0))
    # polygons lie inside their bounding circle (radius = largest vertex distance <= r)
    near = ~circle & (dc < r + (100.0 if min_clear is not None else 0.0))
    idx = np.flatnonzero(near)
    if idx.size:
        if min_clear is not None:
            dh[idx] = shapely.distance(polys[live[idx]], shapely.points(pos[idx, :2]))
        else:
            inside = shapely.intersects_xy(polys[live[idx]], pos[idx, 0], pos[idx, 1])
            dh[idx] = np.where(inside, 0.0, np.maximum(dh[idx], 1e-9))
    inside_volume = (dh <= 0.0) & (dz <= 0.0)
    breached[live[inside_volume]] = True
    if min_clear is not None:
        clearance = np.hypot(dh, dz)
        min_clear[live] = np.minimum(min_clear[live], clearance)

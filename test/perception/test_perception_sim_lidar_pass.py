"""Lidar clustering + tracking on the built-in simulator (town world): a 15 s pass of car1.

Uses the car's own simulated lidar (``skyroad.sim``: MuJoCo ray casting with the SDF's noise
model), and, as a second case, a 16-layer lidar (Velodyne VLP-16 datasheet: 16 channels,
+-15 deg vertical, 0.2 deg azimuth at 10 Hz, +-3 cm range accuracy) mounted at the same site,
which exercises ground removal on a real 3-D cloud. Ground truth: model poses from the SDF and
actor trajectories from the simulator. Clouds are put into the world frame with the sensor's
true pose: this checks perception, not localization.
"""
import collections
from pathlib import Path

import numpy as np
import pytest

from skyroad.perception.lidar import LidarDetectorConfig, detect_objects
from skyroad.perception.tracker import MultiObjectTracker, TrackerConfig

WORLD = Path(__file__).resolve().parents[2] / "sim_worlds" / "town.sdf"
STATIC = ("parked_car_1", "parked_car_2", "parked_car_3", "lamp_post_1", "lamp_post_2")
MIN_HITS_SEEN = 10      # rays on an object for it to count as observed in a frame
RANGE_M = 30.0


@pytest.fixture(scope="module", params=["sim_lidar", "vlp16"])
def town_pass(request):
    mujoco = pytest.importorskip("mujoco")
    try:
        from skyroad.sim.sdf import Noise
        from skyroad.sim.sensors import LidarSensor
        from skyroad.sim.simulator import Simulator
    except ImportError as exc:
        pytest.skip(f"built-in simulator not importable: {exc}")
    if not WORLD.is_file():
        pytest.skip(f"town world missing: {WORLD}")
    sim = Simulator(str(WORLD), seed=1, enable_cameras=False)
    if not sim.lidars or not sim.cars:
        pytest.skip("town world has no car with a lidar site")
    base = sim.lidars[0]
    params = dict(h_samples=1800, h_min=-np.pi, h_max=np.pi * (1 - 1 / 900), v_samples=16,
                  v_min=np.deg2rad(-15), v_max=np.deg2rad(15), range_min=0.5, range_max=100.0,
                  range_resolution=0.001, noise=Noise(type="gaussian", mean=0.0, stddev=0.03))
    if request.param == "vlp16":
        vlp = LidarSensor(sim.m, base.site_id, base.body_id, "vlp16", "/vlp16", 10.0, params,
                          np.random.default_rng(0))
        det_cfg = LidarDetectorConfig()
    else:
        vlp = base
        planar = base.p["v_samples"] == 1
        det_cfg = LidarDetectorConfig(ground_method="none" if planar else "ransac")
    owner = [(mujoco.mj_id2name(sim.m, mujoco.mjtObj.mjOBJ_GEOM, g) or "").split("::")[0]
             for g in range(sim.m.ngeom)]
    static_xy = {m.name: m.pose[:2, 3] for m in sim.world.models if m.name in STATIC}
    actors = {a[0].name: a for a in sim.actors}
    sim.command(next(iter(sim.inputs)), ((4.0, 0.0, 0.0), (0.0, 0.0, 0.0)))
    tracker = MultiObjectTracker(TrackerConfig(score_mode="absolute", high_score=0.5, low_score=0.1,
                                               birth_score=0.5), space="ground", motion_model="ctrv",
                                 frame_rate_hz=10.0)
    steps = int(round(0.1 / sim.dt))
    frames = []
    for k in range(150):
        for _ in range(steps):
            sim.step()
        mujoco.mj_forward(sim.m, sim.d)
        _, cloud = vlp.sample(sim.m, sim.d)
        hits = collections.Counter(owner[g] for g in vlp.geomid[(vlp.dist >= vlp.p["range_min"])])
        rot = sim.d.site_xmat[vlp.site_id].reshape(3, 3)
        pos = sim.d.site_xpos[vlp.site_id].copy()
        pts = cloud.points.astype(float) @ rot.T + pos
        objs = detect_objects(pts, det_cfg, rng=np.random.default_rng(k), sensor_xy=pos[:2])
        outs = tracker.update(np.array([o.as_row() for o in objs]).reshape(-1, 8),
                              np.array([o.score for o in objs]), dt=0.1)
        gt = dict(static_xy)
        gt.update({n: sim.actor_state(a, sim.time_s)[0][:2] for n, a in actors.items()})
        observed = {n: g for n, g in gt.items()
                    if hits[n] >= MIN_HITS_SEEN and np.hypot(*(g - pos[:2])) <= RANGE_M}
        frames.append((observed, outs))
    return frames


def _matches(frames, name, radius_m=3.0):
    seen, ids = 0, []
    for observed, outs in frames:
        if name not in observed:
            continue
        seen += 1
        d = [np.hypot(*(o.position - observed[name])) for o in outs]
        if d and min(d) < radius_m:
            ids.append(outs[int(np.argmin(d))].track_id)
    return seen, ids


def test_every_observed_obstacle_within_30m_is_tracked(town_pass):
    names = {n for observed, _ in town_pass for n in observed}
    assert {"parked_car_1", "parked_car_2", "traffic_car_1"} <= names, names  # the pass sees them
    for name in names:
        seen, ids = _matches(town_pass, name)
        # the first min_hits - 1 frames of a new object cannot have a confirmed track
        assert len(ids) >= 0.85 * seen - 2, (name, len(ids), seen)


def test_static_obstacle_ids_are_stable_through_the_pass(town_pass):
    for name in STATIC:
        seen, ids = _matches(town_pass, name)
        if not ids:
            continue
        # one id carries the object through the pass: the tracker keeps a box extent per track
        # and anchors partial views (end-on, corner, side-on) on it, so a parked car seen from
        # changing angles keeps its id. Other ids are short-lived fragments (a car cut in two by
        # an occluder, a wall segment beside it) momentarily nearer to its centre.
        # (Centre-distance association on the raw partial-view boxes held 61 % on lamp_post_2
        # and 84 % on parked_car_3.)
        dominant = collections.Counter(ids).most_common(1)[0][1]
        assert dominant >= 0.85 * len(ids), (name, collections.Counter(ids), seen)
        counts = collections.Counter(ids)
        assert sum(c >= 0.1 * len(ids) for c in counts.values()) <= 2, (name, counts)


def test_moving_obstacle_ids_are_stable_through_the_pass(town_pass):
    """The actors (traffic_car_1 shuttles between x = 55 and 75 m at 5 m/s and turns round
    *instantly* every 4 s; pedestrians walk and turn round at the ends of their paths) keep
    one id through the pass. Without the tracker's manoeuvre recovery each reversal of the car
    started a new track: its main id held 38/74 (planar lidar) and 39/74 (VLP-16) of its
    matched frames, one id per 4 s leg."""
    names = {n for observed, _ in town_pass for n in observed} - set(STATIC)
    assert "traffic_car_1" in names, names
    for name in sorted(names):
        seen, ids = _matches(town_pass, name)
        if not ids:
            continue
        counts = collections.Counter(ids)
        assert counts.most_common(1)[0][1] >= 0.85 * len(ids), (name, counts, seen)
        assert sum(c >= 0.1 * len(ids) for c in counts.values()) <= 2, (name, counts)

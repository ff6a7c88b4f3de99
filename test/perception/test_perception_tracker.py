"""Tracker core on synthetic ground and image scenes with known truth."""
import numpy as np
import pytest

from skyroad.perception.kalman import CTRAFilter, CTRVFilter, ConstantVelocityFilter, BoxKalmanFilter
from skyroad.perception.tracker import MultiObjectTracker, ScoreCalibrator, TrackerConfig, iou_ltwh


def _ground_scene(rng, steps=100, dt=0.1, clutter=2):
    """Two crossing cars and a parked one; returns per-step (dets, scores, truth positions)."""
    out = []
    for k in range(steps):
        t = k * dt
        truth = np.array([[-20 + 8 * t, 0.0], [0.0, -28 + 8 * t], [5.0, 5.0]])  # paths cross 1 s apart
        dets = truth + rng.normal(0, 0.2, truth.shape)
        keep = rng.random(3) > 0.1  # 10 % misses
        d = dets[keep]
        s = rng.uniform(0.6, 1.0, len(d))
        if clutter:
            c = rng.uniform(-30, 30, (clutter, 2))
            d = np.vstack([d, c])
            s = np.concatenate([s, rng.uniform(0.0, 0.3, clutter)])
        out.append((d, s, truth))
    return out


@pytest.mark.parametrize("model", ["cv", "ctrv", "ctra"])
def test_ground_tracks_are_stable_through_a_crossing(model):
    rng = np.random.default_rng(7)
    cfg = TrackerConfig(score_mode="absolute", high_score=0.5, low_score=0.1, birth_score=0.5,
                        max_age_s=0.5, min_hits=3)
    trk = MultiObjectTracker(cfg, space="ground", motion_model=model, frame_rate_hz=10.0)
    id_of_truth = [set(), set(), set()]
    for d, s, truth in _ground_scene(rng):
        for o in trk.update(d, s, dt=0.1):
            dist = np.hypot(*(truth - o.position).T)
            j = int(np.argmin(dist))
            assert dist[j] < 1.5, "no false track far from every object"
            id_of_truth[j].add(o.track_id)
    assert all(len(ids) == 1 for ids in id_of_truth), id_of_truth  # one id per object
    assert len(set().union(*id_of_truth)) == 3
    # velocity estimate of the moving car
    moving = [o for o in trk.outputs(include_coasting=True) if o.position[0] > 10]
    assert moving and abs(moving[0].velocity[0] - 8.0) < 1.0


def test_ctrv_follows_a_turn_better_than_cv():
    rng = np.random.default_rng(1)
    w, v, dt = 0.4, 6.0, 0.1
    errs = {}
    for name, cls in (("cv", ConstantVelocityFilter), ("ctrv", CTRVFilter), ("ctra", CTRAFilter)):
        f = cls(np.array([0.0, 0.0]))
        e = []
        for k in range(1, 150):
            t = k * dt
            truth = np.array([v / w * np.sin(w * t), v / w * (1 - np.cos(w * t))])
            f.predict(dt)
            if k > 50:
                e.append(np.hypot(*(f.position - truth)))
            f.update(truth + rng.normal(0, 0.3, 2))
        errs[name] = np.sqrt(np.mean(np.square(e)))
    assert errs["ctrv"] < errs["cv"] and errs["ctra"] < errs["cv"], errs


def test_image_tracker_keeps_ids_through_a_short_occlusion():
    trk = MultiObjectTracker(TrackerConfig(), space="image", frame_rate_hz=25.0)
    ids = []
    for f in range(40):
        boxes = [[100 + 4 * f, 100, 40, 100]]
        if not (15 <= f < 22):  # 7 frames occluded
            boxes.append([600 - 4 * f, 300, 40, 100])
        outs = trk.update(np.array(boxes, float), np.full(len(boxes), 10.0))
        ids.append({o.track_id for o in outs})
    assert ids[-1] == ids[10] and len(ids[-1]) == 2


def test_score_calibrator_is_scale_free():
    a, b = ScoreCalibrator(), ScoreCalibrator()
    raw = np.random.default_rng(0).normal(30, 10, 200)
    ra = a(raw)
    rb = b(raw * 0.01 - 5)  # same ranking, different units
    assert np.allclose(ra, rb) and ra.min() > 0 and ra.max() < 1
    with pytest.raises(ValueError, match="mode"):
        ScoreCalibrator("db")


def test_bad_detections_are_rejected_and_counted():
    trk = MultiObjectTracker(TrackerConfig(), space="image")
    dets = np.array([[0, 0, 10, 10], [np.nan, 0, 10, 10], [0, 0, 0, 10], [0, 0, -3, 10], [5, 5, 10, np.inf]])
    trk.update(dets, np.ones(5))
    assert trk.warnings["detection_non_finite"] == 2
    assert trk.warnings["detection_non_positive_size"] == 2
    trk.update(np.empty((0, 4)))  # empty frame is fine
    g = MultiObjectTracker(TrackerConfig(score_mode="absolute"), space="ground")
    g.update(np.array([[0, 0, 0, 0, 4, 2, 1.5, 1], [3, 3, 0, 0, -1, 2, 1.5, 1]]), np.ones(2))
    assert g.warnings["detection_negative_size"] == 1
    with pytest.raises(ValueError, match="scores has"):
        trk.update(np.zeros((2, 4)) + 1, np.ones(3))
    with pytest.raises(ValueError, match="match_iou"):
        MultiObjectTracker(TrackerConfig(match_iou=1.5))


def test_iou_and_box_filter_basics():
    assert iou_ltwh([[0, 0, 10, 10]], [[5, 0, 10, 10]])[0, 0] == pytest.approx(50 / 150)
    assert iou_ltwh([[0, 0, 10, 10]], [[50, 50, 10, 10]])[0, 0] == 0.0
    f = BoxKalmanFilter(np.array([50.0, 50.0, 0.5, 100.0]))
    for _ in range(100):  # a coasting box never turns inside out
        f.predict(1.0)
    assert f.box_ltwh()[3] > 0


def _shuttle_x(t, instant: bool, length_m=20.0, speed_mps=5.0, accel_mps2=4.0):
    """Position along a 20 m shuttle at 5 m/s: turning round instantly (no real vehicle can) or
    braking to a stop and pulling away again at 4 m/s² (a car reversing out of a street)."""
    if instant:
        leg = length_m / speed_mps
        u = t % (2 * leg)
        return speed_mps * u if u < leg else length_m - speed_mps * (u - leg)
    ta = speed_mps / accel_mps2
    da = 0.5 * accel_mps2 * ta ** 2
    tc = (length_m - 2 * da) / speed_mps
    leg = 2 * ta + tc
    u = t % (2 * leg)
    w = u if u < leg else u - leg
    if w < ta:
        s = 0.5 * accel_mps2 * w ** 2
    elif w < ta + tc:
        s = da + speed_mps * (w - ta)
    else:
        s = length_m - 0.5 * accel_mps2 * (leg - w) ** 2
    return s if u < leg else length_m - s


def _shuttle_scene(model, instant, seed, recover=True, steps=160):
    """A car (4.5 x 1.8 m L-shape boxes) and a pedestrian (0.5 m cylinders, 1.2 m/s over 8 m)
    shuttling back and forth, and a parked car beside the car's path; 10 Hz, 0.1 m noise.
    Returns the track ids seen on each object, frame by frame, and the tracker."""
    rng = np.random.default_rng(seed)
    cfg = TrackerConfig(score_mode="absolute", high_score=0.5, low_score=0.1, birth_score=0.5,
                        manoeuvre_recovery=recover)
    trk = MultiObjectTracker(cfg, space="ground", motion_model=model, frame_rate_hz=10.0)
    ids = [[], [], []]
    for k in range(steps):
        t = 0.1 * k
        truth = np.array([[_shuttle_x(t, instant), 0.0], [10.0, 3.5],
                          [2.0 + _shuttle_x(t, instant, 8.0, 1.2, 2.0), -6.0]])
        size = np.array([[4.5, 1.8, 1.4, 1], [4.5, 1.8, 1.4, 1], [0.5, 0.5, 1.75, 2]], float)
        d = np.column_stack([truth + rng.normal(0, 0.1, truth.shape), np.full(3, 0.7),
                             rng.normal(0, 0.02, 3), size[:, :2] + rng.normal(0, 0.05, (3, 2)),
                             size[:, 2:]])
        for o in trk.update(d, np.full(3, 0.9), dt=0.1):
            dist = np.hypot(*(truth - o.position).T)
            j = int(np.argmin(dist))
            assert dist[j] < 3.0, "no track far from every object"
            ids[j].append(o.track_id)
    return ids, trk


def _switches(ids):
    return sum(a != b for a, b in zip(ids, ids[1:]))


@pytest.mark.parametrize("model", ["cv", "ctrv", "ctra"])
def test_ground_ids_hold_through_a_stop_and_reverse(model):
    """Braking to a stop and reversing at 4 m/s² (three times in 16 s): one id per object."""
    for seed in (1, 2, 3):
        ids, _ = _shuttle_scene(model, instant=False, seed=seed)
        assert [len(set(i)) for i in ids] == [1, 1, 1], (seed, [sorted(set(i)) for i in ids])
        assert all(len(i) >= 150 for i in ids), [len(i) for i in ids]  # tracked in every frame


@pytest.mark.parametrize("model", ["cv", "ctrv", "ctra"])
def test_instant_reversal_is_recovered(model):
    """An instant turn-round (5 m/s to -5 m/s between two frames: 1 m from the prediction after
    0.1 s) leaves the Kalman gate; manoeuvre recovery re-finds the track from where it was last
    seen. Three reversals of the car and two of the pedestrian per run: over seeds 1-10 and the
    three models no id switched (at most one is allowed over the three seeds here)."""
    switches, recovered = 0, 0
    for seed in (1, 2, 3):
        ids, trk = _shuttle_scene(model, instant=True, seed=seed)
        switches += sum(_switches(i) for i in ids)
        assert len(set(ids[1])) == 1  # the parked car is never taken over
        recovered += trk.warnings["manoeuvre_recovered"]
    assert switches <= 1
    assert recovered >= 3


def test_instant_reversal_switches_ids_without_recovery():
    """The same scene without manoeuvre recovery: the car gets a new id at every reversal
    (what the built-in simulator's traffic car showed, one id per 4 s leg)."""
    ids, _ = _shuttle_scene("cv", instant=True, seed=1, recover=False)
    assert _switches(ids[0]) == 3


def test_ground_assignment_does_not_trade_a_good_match_for_two_poor_ones():
    """Track 0 fits detection 0 well and detection 1 poorly; track 1 fits only detection 0.
    Maximum-cardinality assignment (SORT's, kept for image boxes) moves track 0 to its poor
    detection so that track 1 can take the good one; with the unmatched price the ground
    tracker uses, track 0 keeps its detection and track 1 stays unmatched."""
    from skyroad.perception.tracker import _hungarian
    cost = np.array([[-3.0, 7.0], [2.5, np.inf]])
    gate = np.isfinite(cost)
    r, c = _hungarian(cost, gate)
    assert sorted(zip(r.tolist(), c.tolist())) == [(0, 1), (1, 0)]
    r, c = _hungarian(cost, gate, unmatched_cost=9.21)
    assert list(zip(r.tolist(), c.tolist())) == [(0, 0)]


@pytest.mark.parametrize("cls", [ConstantVelocityFilter, CTRVFilter, CTRAFilter])
def test_batched_ground_filters_equal_one_by_one(cls):
    """predict_many / update_many on a batch mixing fresh (not yet initialised), moving and
    reversing filters give each filter what it gets alone: rows never leak into each other."""
    rng = np.random.default_rng(4)

    def make():
        fs = [cls(np.array([float(i), 2.0 * i])) for i in range(6)]
        return fs

    batch, alone = make(), make()
    for step in range(12):
        z = np.array([[i + (0.8 if i % 2 else 0.0) * step * ((-1) ** (step // 6)), 2.0 * i]
                      for i in range(6)]) + rng.normal(0, 0.05, (6, 2))
        R = np.array([np.eye(2) * (0.05 + 0.01 * i) for i in range(6)])
        cls.predict_many(batch, 0.1)
        cls.update_many(batch, z, R)
        for i, f in enumerate(alone):
            f.predict(0.1)
            f.update(z[i], R[i])
    for a, b in zip(batch, alone):
        assert np.allclose(a.x, b.x) and np.allclose(a.P, b.P)
        assert np.all(np.linalg.eigvalsh(a.P) > 0)


def test_batched_box_filter_equals_one_by_one():
    rng = np.random.default_rng(5)
    boxes = rng.uniform([50, 50, 0.3, 40], [500, 300, 0.6, 200], (5, 4))
    batch = [BoxKalmanFilter(b) for b in boxes]
    alone = [BoxKalmanFilter(b) for b in boxes]
    for step in range(5):
        z = boxes + rng.normal(0, 2.0, boxes.shape) * [1, 1, 0.01, 1] + step * 3.0 * np.array([1, 0, 0, 0])
        BoxKalmanFilter.predict_many(batch, 1.0)
        BoxKalmanFilter.update_many(batch, z)
        for i, f in enumerate(alone):
            f.predict(1.0)
            f.update(z[i])
    for a, b in zip(batch, alone):
        assert np.allclose(a.x, b.x) and np.allclose(a.P, b.P)


def test_box_of_a_car_first_seen_end_on_keeps_its_orientation():
    # a car parked along y (4.5 m x 1.6 m, yaw 90 deg, centre (43.8, 20)) that the lidar first sees
    # at its rear corner (1.6 m end face + 1 m of side, fitted at yaw 0), then more and more of its
    # side (fitted at yaw 90 deg): the track keeps its first box frame (yaw 0), so the reported
    # length and width must be swapped into it, or the car is reported lying across the street
    cfg = TrackerConfig(score_mode="absolute", high_score=0.5, low_score=0.1, birth_score=0.5, min_hits=2)
    trk = MultiObjectTracker(cfg, space="ground", motion_model="ctrv", frame_rate_hz=10.0)
    for _ in range(4):
        trk.update(np.array([[43.8, 18.25, 0.7, 0.0, 1.6, 1.0, 1.4, 1]]), np.array([0.9]), dt=0.1)
    for visible_m in np.linspace(1.5, 4.5, 12):
        out = trk.update(np.array([[43.8, 17.75 + visible_m / 2, 0.7, np.pi / 2, visible_m, 1.6, 1.4, 1]]),
                         np.array([0.9]), dt=0.1)
    (o,) = out
    c, s = abs(np.cos(o.yaw)), abs(np.sin(o.yaw))
    span_x = c * o.size[0] + s * o.size[1]
    span_y = s * o.size[0] + c * o.size[1]
    assert span_y > 3.0 and span_x < 2.0, (o.yaw, o.size)


# --- objects that start from rest ----------------------------------------------------------

_START_XY = np.array([10.0, 2.0])
_START_DIR = np.array([0.0, -1.0])   # walks / drives off along -y
_PARKED_XY, _POLE_XY = np.array([0.0, 8.0]), np.array([-5.0, -3.0])


def _start_truth(kind, tau, walk_in_s):
    """Position and speed at ``tau`` s after the start. Before the standstill the object may
    have arrived along +x (``walk_in_s``): its heading is then the old direction of travel,
    at right angles to the one it leaves in."""
    if tau < -12.0 and walk_in_s > 0:
        return _START_XY + np.array([1.4 * (tau + 12.0), 0.0]), 1.4
    u = max(tau, 0.0)
    if kind == "pedestrian":                        # instant start at 1.4 m/s
        return _START_XY + _START_DIR * 1.4 * u, 1.4 if tau > 0 else 0.0
    return _START_XY + _START_DIR * 1.25 * u * u, 2.5 * u   # car: 2.5 m/s² from rest


def _start_row(rng, kind, xy, yaw=0.0):
    """A lidar detection row: cylinder fit (class 2: 0.5 m pedestrian, 0.25 m pole) or L-shape
    box (class 1: 4.5 x 1.8 m car); centre noise 0.05 m (small cylinder fit), size noise 0.03 m
    (cylinder) / 0.05 m (box), box yaw noise 0.01 rad."""
    if kind in ("pedestrian", "pole"):
        dia = (0.5 if kind == "pedestrian" else 0.25) + rng.normal(0, 0.03)
        return np.r_[xy + rng.normal(0, 0.05, 2), 0.9, 0.0, dia, dia, 1.75, 2]
    return np.r_[xy + rng.normal(0, 0.05, 2), 0.7, yaw + rng.normal(0, 0.01),
                 4.5 + rng.normal(0, 0.05), 1.8 + rng.normal(0, 0.05), 1.4, 1]


def _start_scene(model, kind, seed, walk_in_s=0.0, stand_s=12.0, after_s=2.0):
    """``kind`` (pedestrian or car) stands ``stand_s`` then starts; a parked car and a pole stand
    beside it throughout; 10 Hz, the obstacle node's tracker configuration. Returns
    {tau: (position error m, speed m/s, true speed m/s)} of the starting object's track and
    the largest speed reported for the static objects from 1.5 s after their first detection."""
    rng = np.random.default_rng(seed)
    cfg = TrackerConfig(score_mode="absolute", high_score=0.5, low_score=0.1, birth_score=0.5,
                        min_hits=3, max_age_s=1.0)
    trk = MultiObjectTracker(cfg, space="ground", motion_model=model, frame_rate_hz=10.0)
    t0 = stand_s + walk_in_s
    rows, static_speed = {}, 0.0
    for k in range(int(round((t0 + after_s) / 0.1)) + 1):
        tau = round(k * 0.1 - t0, 2)
        xy, speed = _start_truth(kind, tau, walk_in_s)
        dets = np.vstack([_start_row(rng, kind, xy, -np.pi / 2), _start_row(rng, "car", _PARKED_XY),
                          _start_row(rng, "pole", _POLE_XY)])
        for o in trk.update(dets, np.full(3, 0.9), dt=0.1):
            err = np.hypot(*(o.position - xy))
            if err < 2.0:
                assert tau not in rows, "one track per object"
                rows[tau] = (err, float(np.hypot(*o.velocity)), speed)
            else:
                assert min(np.hypot(*(o.position - q)) for q in (_PARKED_XY, _POLE_XY)) < 0.3
                if k >= 15:
                    static_speed = max(static_speed, float(np.hypot(*o.velocity)))
    return rows, static_speed


@pytest.mark.parametrize("model", ["cv", "ctrv", "ctra"])
@pytest.mark.parametrize("walk_in_s", [0.0, 3.0])
def test_pedestrian_walking_off_from_rest_is_followed_at_once(model, walk_in_s):
    """A pedestrian stands 12 s (seen from the start, or after walking in at right angles to
    the way it leaves) and walks off at 1.4 m/s. Before the rest / moving motion state the
    track lagged: at +0.5 s 0.2-0.6 m behind at 0.2-0.7 m/s (CTRV / CTRA after a walk-in: 0.5 m
    at 0.4-0.5 m/s, the heading frozen at v = 0), converged after ~1.5 s. Now the start is
    detected 0.3-0.4 s after it (the test must fire twice) and the motion starts from the
    fitted velocity: at +0.5 s <= 0.07 m off, 1.1-1.6 m/s. Static neighbours report zero
    velocity once at rest (before: up to 0.2-0.35 m/s of filter noise)."""
    for seed in range(1, 6):
        rows, static_speed = _start_scene(model, "pedestrian", seed, walk_in_s)
        err, speed, _ = rows[0.5]
        assert err <= 0.35 and speed >= 0.8, (seed, rows[0.5])
        err, speed, truth = rows[1.0]
        assert err <= 0.25 and abs(speed - truth) <= 0.4, (seed, rows[1.0])
        assert all(rows[tau][1] < 0.3 for tau in rows if -11.0 <= tau <= 0.0), seed  # at rest
        assert static_speed < 0.3, (seed, static_speed)


@pytest.mark.parametrize("model", ["cv", "ctrv", "ctra"])
def test_car_pulling_away_from_rest_is_followed(model):
    """A car (4.5 x 1.8 m boxes) stands 12 s beside a parked car and pulls away at 2.5 m/s².
    The start shows later than a walker's (its displacement grows as t²: 5 cm at 0.2 s), at
    0.5-0.6 s. Before, the CV / CTRV track lagged 0.35-0.4 m behind from 1-1.5 s on, 1.3-1.6
    m/s slower than the truth (the filter's R, 0.3 m, for 0.05 m detections); now <= 0.19 m
    and within 0.6 m/s."""
    for seed in range(1, 6):
        rows, static_speed = _start_scene(model, "car", seed)
        for tau in (1.0, 1.5, 2.0):
            err, speed, truth = rows[tau]
            assert err <= 0.25 and abs(speed - truth) <= 0.8, (seed, tau, rows[tau])
        assert static_speed < 0.3, (seed, static_speed)


def test_rest_state_learns_the_detection_noise_and_is_left_by_a_v_shaped_track():
    """At rest the track's measurement noise is the scatter of its detections (0.05 m here,
    against the configured 0.3 m); a car turning round inside the rest window (no net slope,
    metres of scatter) is not taken to be at rest."""
    cfg = TrackerConfig(score_mode="absolute", high_score=0.5, low_score=0.1, birth_score=0.5)
    trk = MultiObjectTracker(cfg, space="ground", motion_model="cv", frame_rate_hz=10.0)
    rng = np.random.default_rng(2)
    car_at_rest = 0
    for k in range(120):
        x = 5.0 * (k * 0.1 % 1.0) if (k // 10) % 2 == 0 else 5.0 * (1.0 - k * 0.1 % 1.0)
        d = np.vstack([_start_row(rng, "car", np.array([x, 0.0])), _start_row(rng, "pole", _POLE_XY)])
        trk.update(d, np.full(2, 0.9), dt=0.1)
        car_at_rest += sum(t.at_rest for t in trk.tracks if abs(t.filter.position[1]) < 1.0)
    pole = min(trk.tracks, key=lambda t: np.hypot(*(t.filter.position - _POLE_XY)))
    assert car_at_rest == 0 and pole.at_rest
    assert 0.03 < np.sqrt(pole.noise_var) < 0.07, pole.noise_var
    assert np.allclose(pole.filter.velocity, 0.0)


@pytest.mark.parametrize("cls", [ConstantVelocityFilter, CTRVFilter, CTRAFilter])
def test_rest_pin_and_started_kinematics_are_consistent_states(cls):
    """pin_at_rest_many leaves zero velocity; set_kinematics reproduces the fitted velocity with
    a positive semi-definite covariance (also for a fit so slow that its heading is unknown),
    and the filter then predicts along it."""
    f, g = cls(np.array([1.0, 2.0])), cls(np.array([5.0, 5.0]))
    cls.pin_at_rest_many([f, g], np.array([[1.5, 2.5], [5.0, 4.0]]), np.tile(0.01 * np.eye(2), (2, 1, 1)))
    assert np.allclose(f.position, [1.5, 2.5]) and np.allclose(f.velocity, 0.0) and np.allclose(g.velocity, 0.0)
    for vel, var_v in (([0.0, -1.4], 0.04), ([0.05, 0.02], 0.04)):
        P4 = np.block([[0.01 * np.eye(2), 0.02 * np.eye(2)], [0.02 * np.eye(2), var_v * np.eye(2)]])
        f.set_kinematics(np.array([1.0, 2.0]), np.array(vel), P4)
        assert np.allclose(f.velocity, vel) and np.allclose(f.position, [1.0, 2.0])
        assert np.linalg.eigvalsh(f.P).min() > -1e-12
    f.set_kinematics(np.array([1.0, 2.0]), np.array([0.0, -1.4]), P4)
    f.predict(0.5)
    assert np.allclose(f.position, [1.0, 1.3], atol=1e-6)


@pytest.mark.parametrize("model", ["cv", "ctrv"])
def test_person_whose_cluster_merged_once_with_a_kerb_is_reported_where_they_stand(model):
    """A person walks 3 s along +y and stops; in the last walking frame their cluster merges with a
    kerb segment into one 5 m L-shape box (class 1), which gives the track a box extent. Later
    cylinder detections must not be anchored on that box: before, each was moved toward the
    prediction and the rest mean built from them stayed 0.3-0.5 m off the person for as long as
    they stood (7 of 12 seeded town drives). The person's track reports their position."""
    rng = np.random.default_rng(4)
    cfg = TrackerConfig(score_mode="absolute", high_score=0.5, low_score=0.1, birth_score=0.5,
                        min_hits=3, max_age_s=1.0)
    trk = MultiObjectTracker(cfg, space="ground", motion_model=model, frame_rate_hz=10.0)
    stop_xy = np.array([30.0, 0.5])
    errs = {}
    for k in range(131):
        t = k * 0.1
        xy = stop_xy + np.array([0.0, 1.4 * (min(t, 3.0) - 3.0)])
        row = _start_row(rng, "pedestrian", xy)
        if k == 30:   # merged with a kerb segment running along x beside them: one L-shape box
            row = np.r_[xy[0] + 0.1, xy[1] - 1.2, 0.3, np.pi / 2, 5.0, 0.6, 0.9, 1]
        for o in trk.update(row[None, :], np.full(1, 0.9), dt=0.1):
            errs[round(t, 1)] = float(np.hypot(*(o.position - xy)))
    late = [errs[t] for t in errs if t >= 6.0]
    assert len(late) >= 60 and max(late) < 0.12, max(late)

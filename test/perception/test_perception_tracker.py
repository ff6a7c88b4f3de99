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

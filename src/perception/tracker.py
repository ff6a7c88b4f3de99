"""Multi-object tracker core: one association engine for image boxes and ground objects.

Core module (numpy / scipy, no rclpy). Pipeline per frame (ByteTrack, Zhang et al. ECCV 2022,
on top of SORT-style Kalman tracks):

1. predict every track with its motion model (``kalman.py``);
2. split detections by score into *high* and *low* (see ``ScoreCalibrator``);
3. first association: high detections vs all active tracks (confirmed and recently lost),
   Hungarian (``scipy.optimize.linear_sum_assignment``) on a cost with a hard gate
   (image: 1 - IoU, IoU >= ``match_iou``, as many pairs as possible as in SORT; ground:
   negative log-likelihood, Mahalanobis d^2 <= chi^2 gate, and a pair is only used where it
   costs less than leaving its track and its detection unmatched, priced at the gate);
4. second association: low detections vs the confirmed tracks that were *tracked last frame*
   and are still unmatched (a low score on a track we already follow is usually an occluded
   true object, a low score alone is usually clutter);
4b. ground: manoeuvre recovery (see below); image: OC-SORT observation-centric recovery;
5. tentative tracks vs remaining high detections (stricter gate);
6. births from unmatched high detections above ``birth_score``; tentative tracks become
   confirmed after ``min_hits`` hits, die at their first miss; confirmed tracks are kept
   ``max_age_s`` without a match (coasting), then deleted.

Ids are assigned from a per-tracker counter at confirmation, so ids are stable and dense.

Manoeuvres (ground): the Kalman prediction assumes smooth motion (white acceleration noise of
a couple of m/s²). An object that stops, turns round or reverses leaves that prediction's gate
within a frame or two (a car reversing at 5 m/s is 1 m from its prediction after 0.1 s), and a
plain tracker then starts a new track. Before any birth, confirmed tracks that were matched in
the previous frame but found nothing now are offered the remaining high detections again, gated
on what the object can *reach*: from where it was last *seen* (its last measurement; the
estimate has already been pulled off by the manoeuvre), in the time since, with any heading,
at its last speed plus ``manoeuvre_accel_mps2`` x elapsed time (a disc of radius
``r = v tau + a tau² / 2``, taken as a Gaussian of variance r²/4 per axis on top of both
measurements' covariances, the detection box still required to overlap the track box within
``r``). A track recovered this way keeps its id, box and class, but its filter restarts at the
new measurement with an unknown velocity, exactly as a new track's: the old velocity is what
led the prediction astray, and it may also be wrong rather than outdated (a two-point velocity
from two faces of a parked car); re-fitting a velocity from the last estimate would trust a
position the same error has moved. The velocity is re-learnt over the next frames (CTRV: its
two-point initialisation). This is the ground analogue of OC-SORT's observation-centric
recovery (Cao et al. CVPR 2023); unlike an IMM it costs nothing for the tracks that move
smoothly. An object that reverses *instantly* (no real vehicle or person does) is recovered in
the same way.

Ground measurement noise (``_meas_cov``): the filter's R plus, once a track has a box, the
part of the object a detection does not show or shows for the first time (a fraction of half
the extent difference, along the track's axes); a full view of a known box adds nothing.
Partial views are anchored on the track box only where that box came from an L-shape fit and
the detection is one too or the track is big (a corner of a car seen as a small cluster): a
cylinder (class 2, a centroid fit) on a small track keeps its own centre. (A person
whose cluster merged for a frame with a kerb segment got a 5 m box extent; anchoring each later
cylinder on it moved the centres, and the rest mean built from them, 0.4 m off the person for as
long as they stood: 7 of 12 seeded town drives.)

Motion state (ground; ``rest_detection``): a variable-dimension filter (Bar-Shalom, Li &
Kirubarajan 2001, ch. 11) with two modes. A track whose last ``rest_window_s`` of measurements
show no significant velocity (F test on a line fit) and no more scatter than the configured
noise is *at rest*: position = the mean of its measurements since, velocity zero and known
(nothing reported), and its measurement noise is learnt from their scatter. Each new
measurement of a resting object goes to a generalised likelihood-ratio test for a velocity
jump (Willsky & Jones 1976) over the last half window; when it fires twice in a row the motion
model starts from the fitted position and velocity (mixed over the candidate start times),
and the track keeps the learnt noise in its Kalman updates. Why: a Kalman filter that has sat
on a static object has a steady-state velocity gain that, with the configured R (0.3 m for
0.05 m detections), needs about 1.5 s to follow a pedestrian walking off (0.6-0.7 m behind
after 0.5-1 s); and a CTRV / CTRA filter at v = 0 cannot turn its heading (the EKF has no gain
on yaw there), so one that stopped in one direction and left in another lagged most. With the
rest mode the onset shows 0.2-0.3 s after a 1.4 m/s start, static objects report exactly zero
velocity instead of filter noise, and gates keep the configured R (a learnt noise never
narrows association).

Cost: predict, correction and the ground cost matrix are batched over tracks (``kalman.py``
``predict_many`` / ``update_many``; the cost is evaluated on the track-detection pairs within
reach, all as array operations), so a frame costs a few numpy calls instead of a few per track.

Scores: detectors disagree on score scale (MOT15 public detections range from < 0 to > 100
and differ between sequences). ``ScoreCalibrator`` maps raw scores to their empirical CDF rank
among all scores seen so far (online), so thresholds are quantiles and the tracker is
independent of the detector's units. With ``mode="absolute"`` raw scores in [0, 1] are used.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import chi2 as chi2_dist
from scipy.stats import f as f_dist

from .kalman import (BoxKalmanFilter, ConstantVelocityFilter, CTRAFilter, CTRVFilter,
                     box_ltwh_to_xyah, box_xyah_to_ltwh, wrap_angle)

TENTATIVE, CONFIRMED = 0, 1

# chi-square 99 % quantiles (dof 2, 4): Mahalanobis gates.
CHI2_99 = {2: 9.2103, 4: 13.2767}


class ScoreCalibrator:
    """Map raw detector scores to [0, 1] ranks.

    ``mode="rank"``: online empirical CDF over a sliding window of the last ``window`` raw
    scores (the current frame's scores are included before ranking, so the very first frame
    is ranked among itself). Works for any monotone score, any units.
    ``mode="absolute"``: clip raw scores to [0, 1] (calibrated detectors, lidar clusters).
    """

    def __init__(self, mode: str = "rank", window: int = 20000):
        if mode not in ("rank", "absolute"):
            raise ValueError(f"ScoreCalibrator mode must be 'rank' or 'absolute', got {mode!r}")
        self.mode = mode
        self.window = int(window)
        self._buf = np.empty(0)

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.mode == "absolute":
            return np.clip(raw, 0.0, 1.0)
        if raw.size:
            self._buf = np.concatenate([self._buf, raw])[-self.window:]
        if self._buf.size == 0:
            return np.ones_like(raw)
        ref = np.sort(self._buf)
        # mid-rank: ties share the average rank; result in (0, 1)
        lo = np.searchsorted(ref, raw, side="left")
        hi = np.searchsorted(ref, raw, side="right")
        return (lo + hi) / (2.0 * ref.size)


@dataclass
class TrackerConfig:
    """Association and life-cycle parameters (all general: none refers to a dataset)."""

    high_score: float = 0.15       # calibrated score splitting high / low detections
    low_score: float = 0.1         # calibrated score below which detections are dropped
    birth_score: float = 0.0       # calibrated score needed to start a track
    match_iou: float = 0.3         # image: min IoU in the first association (SORT's value)
    low_match_iou: float = 0.5     # image: min IoU in the second (low score) association
    tentative_match_iou: float = 0.3
    gate_chi2: float = CHI2_99[2]  # ground: Mahalanobis gate on position (dof 2)
    max_distance_m: float = 5.0    # ground: hard Euclidean gate
    extent_std_fraction: float = 0.25  # ground: centre std per metre of object length (partial views)
    extent_overlap_margin_m: float = 0.3  # ground: detection/track box overlap tolerance (gate, extent growth)
    small_object_max_m: float = 1.2  # ground: a track whose smoothed footprint is at most this is a small
                                     # object (person, pole): its cylinder detections are not anchored
    min_hits: int = 3              # hits to confirm a track (SORT's value)
    confirm_first_frame: bool = True  # tracks born in the first frame are confirmed at once
    max_age_s: float = 1.0         # coast time for confirmed tracks without a match
    score_mode: str = "rank"       # "rank" or "absolute" (see ScoreCalibrator)
    recover_lost: bool = True      # image: re-find lost tracks by their last observed box (OCR)
    re_update: bool = True         # image: re-run the KF over a gap on a virtual path (ORU)
    direction_weight: float = 0.2  # image: weight of motion-direction consistency (OCM)
    direction_delta_frames: int = 3  # image: baseline of the observed motion direction
    output_detection_box: bool = False  # image: output the matched detection, not the KF box
    manoeuvre_recovery: bool = True   # ground: re-find a track that left its gate by a manoeuvre
    manoeuvre_accel_mps2: float = 5.0  # ground: speed gain per second assumed in that recovery
    rest_detection: bool = True    # ground: rest / moving motion state (variable-dimension filter)
    rest_window_s: float = 1.0     # ground: window of the stationarity test (entering rest)
    onset_false_alarm: float = 1e-6  # ground: per-frame false-alarm probability of the onset test
    min_meas_std_m: float = 0.01   # ground: floor of a track's learnt measurement noise

    def validate(self) -> None:
        for name in ("high_score", "low_score", "birth_score", "match_iou", "low_match_iou",
                     "tentative_match_iou"):
            v = getattr(self, name)
            if not (np.isfinite(v) and 0.0 <= v <= 1.0):
                raise ValueError(f"TrackerConfig.{name} must be in [0, 1], got {v}")
        if self.low_score > self.high_score:
            raise ValueError("TrackerConfig.low_score must be <= high_score")
        if self.min_hits < 1:
            raise ValueError(f"TrackerConfig.min_hits must be >= 1, got {self.min_hits}")
        if not (np.isfinite(self.max_age_s) and self.max_age_s >= 0):
            raise ValueError(f"TrackerConfig.max_age_s must be >= 0, got {self.max_age_s}")
        if not (np.isfinite(self.extent_overlap_margin_m) and self.extent_overlap_margin_m >= 0):
            raise ValueError("TrackerConfig.extent_overlap_margin_m must be >= 0, "
                             f"got {self.extent_overlap_margin_m}")
        if not (np.isfinite(self.gate_chi2) and self.gate_chi2 > 0):
            raise ValueError(f"TrackerConfig.gate_chi2 must be > 0, got {self.gate_chi2}")
        if not (np.isfinite(self.manoeuvre_accel_mps2) and self.manoeuvre_accel_mps2 >= 0):
            raise ValueError("TrackerConfig.manoeuvre_accel_mps2 must be >= 0, "
                             f"got {self.manoeuvre_accel_mps2}")
        if not (np.isfinite(self.small_object_max_m) and self.small_object_max_m >= 0):
            raise ValueError(f"TrackerConfig.small_object_max_m must be >= 0, got {self.small_object_max_m}")
        for name in ("rest_window_s", "min_meas_std_m"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"TrackerConfig.{name} must be > 0, got {v}")
        if not (0.0 < self.onset_false_alarm < 1.0):
            raise ValueError("TrackerConfig.onset_false_alarm must be in (0, 1), "
                             f"got {self.onset_false_alarm}")


@dataclass
class Track:
    filter: object
    score: float
    state: int = TENTATIVE
    track_id: int = -1
    hits: int = 1
    age_s: float = 0.0
    time_since_update_s: float = 0.0
    matched_last: bool = True
    # ground objects: smoothed box attributes (length, width, height), yaw, z, class
    size: np.ndarray | None = None
    extent: np.ndarray | None = None        # ground: (length, width) seen so far, only grows
    box_extent: bool = False                # ground: that extent came from an L-shape box
    predicted: np.ndarray | None = None     # ground: predicted position before the last update
    box_yaw: float = 0.0
    z: float = 0.0
    cls: int = 0
    last_det: np.ndarray | None = None
    snapshot: tuple | None = None           # image: (x, P) right after the last update
    last_update_time: float = 0.0
    last_speed_mps: float = 0.0             # ground: speed estimate right after the last update
    last_obs_xy: np.ndarray | None = None   # ground: last measurement (anchored centre)
    last_obs_cov: np.ndarray | None = None  # ground: its covariance
    obs_hist: list = field(default_factory=list)  # [(time, centre)] for motion direction
    # ground motion state (``_rest_step``): recent measurements, rows (time, x, y, extra
    # variance of that detection), the last ``meas_n`` of meas_buf[:meas_end] valid, newest last
    meas_buf: np.ndarray | None = None
    meas_end: int = 0
    meas_n: int = 0
    at_rest: bool = False
    rest_n: int = 0                          # newest rows of meas_buf taken at rest
    move_n: int = 0                          # rows since the track was born / last started
    onset_hits: int = 0                      # consecutive frames the onset test fired
    noise_var: float | None = None           # learnt measurement variance per axis (m^2)


@dataclass
class TrackOutput:
    track_id: int
    position: np.ndarray
    velocity: np.ndarray
    score: float
    box_ltwh: np.ndarray | None = None
    size: np.ndarray | None = None
    yaw: float = 0.0
    z: float = 0.0
    cls: int = 0
    coasting: bool = False


# ---------------------------------------------------------------------------------------
# cost functions

def iou_ltwh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between (N, 4) and (M, 4) boxes given as left, top, width, height."""
    a = np.asarray(a, float).reshape(-1, 4)
    b = np.asarray(b, float).reshape(-1, 4)
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, 0:1], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, 1:2], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def _box_fits(dets: np.ndarray) -> np.ndarray:
    """Detections that are L-shape box fits (class 1), the only ones anchoring applies to; boxless
    rows (< 7 columns) are none, rows without a class (7 columns) are taken as boxes."""
    if dets.shape[1] < 7:
        return np.zeros(len(dets), bool)
    if dets.shape[1] < 8:
        return np.ones(len(dets), bool)
    return dets[:, 7].astype(int) == 1


def _hungarian(cost: np.ndarray, gate: np.ndarray, unmatched_cost: float | None = None):
    """Min-cost assignment restricted to gated pairs. Returns (rows, cols) of valid matches.

    Without ``unmatched_cost`` (SORT / ByteTrack): as many gated pairs as possible, then the
    least total cost. With it, leaving a track and a detection unmatched costs
    ``unmatched_cost``, so a pair is used only where it lowers the total: minimise
    sum(cost - unmatched_cost) over matchings of gated pairs cheaper than ``unmatched_cost``
    (a track is then never moved to a poor detection just so that a neighbour can take its
    good one, which the maximum-cardinality rule does)."""
    if cost.size == 0 or not gate.any():
        return np.empty(0, int), np.empty(0, int)
    if unmatched_cost is None:
        c = np.where(gate, cost, 1e6)
    else:
        gate = gate & (cost < unmatched_cost)
        if not gate.any():
            return np.empty(0, int), np.empty(0, int)
        c = np.where(gate, cost - unmatched_cost, 0.0)
    r, k = linear_sum_assignment(c)
    ok = gate[r, k]
    return r[ok], k[ok]


# ---------------------------------------------------------------------------------------

class _GroundView:
    """Per-frame arrays of the tracks' predicted state and box model (ground space), indexed
    like ``MultiObjectTracker.tracks``: the cost, anchoring and correction all read these
    instead of asking each track."""

    def __init__(self, tracks, X, P, cfg):
        n = len(tracks)
        self.zp = X[:, :2].copy() if n else np.empty((0, 2))
        R = np.array([t.filter.R for t in tracks]) if n else np.empty((0, 2, 2))
        self.R = R
        self.S = P[:, :2, :2] + R if n else np.empty((0, 2, 2))
        self.slack = np.sqrt(np.maximum(P[:, 0, 0], P[:, 1, 1])) if n else np.empty(0)
        self.has_ext = np.array([t.extent is not None for t in tracks], bool)
        self.ext = np.array([t.extent if t.extent is not None else (0.0, 0.0) for t in tracks],
                            float).reshape(n, 2)
        self.yaw = np.array([t.box_yaw for t in tracks], float)
        # measurements are anchored on the track box only where it is one: a cylinder (class
        # 2) is a centroid fit, its first diameter no box whose corner a later view shows
        self.anchor = self.has_ext & np.array([t.box_extent for t in tracks], bool)
        # ... and a cylinder detection only on the box of a big object (a corner of a parked car
        # seen as a small cluster); a small track's box extent is a one-frame merge (a person and
        # a kerb segment), and anchoring on it moved every later centre off the person
        self.big = np.array([t.size is not None and max(t.size[0], t.size[1]) > cfg.small_object_max_m
                             for t in tracks], bool)
        # with a track box extent, measurements are anchored on the visible corner
        # (``_anchor``): the track's unseen extent no longer blurs the centre
        self.extra = np.array([(cfg.extent_std_fraction * t.size[0]) ** 2
                               if (t.size is not None and t.extent is None) else 0.0
                               for t in tracks], float)


class MultiObjectTracker:
    """Tracks image boxes (``space="image"``) or ground objects (``space="ground"``).

    image: detections are (N, 4) left, top, width, height boxes, dt in frames.
    ground: detections are (N, >=2) rows x, y[, z, yaw, length, width, height, class], dt in s;
    ``motion_model`` is "cv", "ctrv" or "ctra".
    """

    def __init__(self, config: TrackerConfig | None = None, space: str = "image",
                 motion_model: str = "cv", frame_rate_hz: float = 30.0, filter_kwargs=None):
        self.cfg = config or TrackerConfig()
        self.cfg.validate()
        if space not in ("image", "ground"):
            raise ValueError(f"tracker space must be 'image' or 'ground', got {space!r}")
        if motion_model not in ("cv", "ctrv", "ctra"):
            raise ValueError(f"motion_model must be cv, ctrv or ctra, got {motion_model!r}")
        if not (np.isfinite(frame_rate_hz) and frame_rate_hz > 0):
            raise ValueError(f"frame_rate_hz must be > 0, got {frame_rate_hz}")
        self.space = space
        self.motion_model = motion_model
        self.frame_rate_hz = float(frame_rate_hz)
        self.filter_kwargs = dict(filter_kwargs or {})
        self._filter_cls = (BoxKalmanFilter if space == "image" else
                            {"cv": ConstantVelocityFilter, "ctrv": CTRVFilter,
                             "ctra": CTRAFilter}[motion_model])
        self.calibrator = ScoreCalibrator(self.cfg.score_mode)
        self.tracks: list[Track] = []
        self._next_id = 1
        self.warnings: Counter = Counter()
        self.frame_count = 0
        self.time_index = 0.0  # frames (image) or seconds (ground) since start
        # ground motion state (``_rest_entry`` / ``_rest_step``), windows in frames: the
        # stationarity test's, the onset test's (half of it), and the measurement memory whose
        # mean is the position of an object at rest (five windows)
        self._rest_rows = max(4, int(round(self.cfg.rest_window_s * self.frame_rate_hz)))
        self._onset_rows = max(3, self._rest_rows // 2)
        self._buf_rows = 5 * self._rest_rows
        # slope of a (t, x, y) line fit insignificant at 1 %: F(2, 2 (M - 2)) under "at rest"
        self._rest_f_crit = float(f_dist.ppf(0.99, 2, 2 * self._rest_rows - 4))
        self._rest_chi2_crit = float(chi2_dist.ppf(0.99, 2 * self._rest_rows - 4))
        self._onset_thr: dict[int, float] = {}   # onset threshold per noise-estimate dof

    # --- input validation ---------------------------------------------------------------
    def _sanitize(self, dets, scores):
        dets = np.asarray(dets, dtype=float)
        if dets.size == 0:
            return np.empty((0, 4 if self.space == "image" else 2)), np.empty(0)
        if dets.ndim != 2:
            raise ValueError(f"detections must be a 2-D array, got shape {dets.shape}")
        scores = np.ones(len(dets)) if scores is None else np.asarray(scores, dtype=float).reshape(-1)
        if len(scores) != len(dets):
            raise ValueError(f"scores has {len(scores)} entries for {len(dets)} detections")
        ok = np.all(np.isfinite(dets), axis=1) & np.isfinite(scores)
        self.warnings["detection_non_finite"] += int(np.count_nonzero(~ok))
        if self.space == "image":
            if dets.shape[1] < 4:
                raise ValueError(f"image detections need 4 columns (l, t, w, h), got {dets.shape[1]}")
            size_ok = (dets[:, 2] > 0) & (dets[:, 3] > 0)
            self.warnings["detection_non_positive_size"] += int(np.count_nonzero(ok & ~size_ok))
            ok &= size_ok
        else:
            if dets.shape[1] < 2:
                raise ValueError(f"ground detections need at least x, y, got {dets.shape[1]} columns")
            if dets.shape[1] >= 7:
                size_ok = np.all(dets[:, 4:7] >= 0, axis=1)
                self.warnings["detection_negative_size"] += int(np.count_nonzero(ok & ~size_ok))
                ok &= size_ok
        return dets[ok], scores[ok]

    # --- filters -----------------------------------------------------------------------
    def _new_filter(self, det):
        if self.space == "image":
            return BoxKalmanFilter(box_ltwh_to_xyah(det[:4]), **self.filter_kwargs)
        yaw0 = float(det[3]) if len(det) > 3 else 0.0
        if self.motion_model == "cv":
            return ConstantVelocityFilter(det[:2], **self.filter_kwargs)
        if self.motion_model == "ctrv":
            return CTRVFilter(det[:2], yaw0=yaw0, **self.filter_kwargs)
        return CTRAFilter(det[:2], yaw0=yaw0, **self.filter_kwargs)

    # --- image costs -------------------------------------------------------------------
    def _image_cost(self, idx, boxes, dets: np.ndarray, min_iou: float, direction_term=False):
        if len(idx) == 0 or len(dets) == 0:
            return np.zeros((len(idx), len(dets))), np.zeros((len(idx), len(dets)), bool)
        iou = iou_ltwh(boxes[idx], dets[:, :4])
        cost = 1.0 - iou
        if direction_term and self.cfg.direction_weight > 0:
            cost = cost - self.cfg.direction_weight * self._direction_consistency(
                [self.tracks[i] for i in idx], dets)
        return cost, iou >= max(min_iou, 1e-9)

    # --- ground costs ------------------------------------------------------------------
    def _ground_cost(self, v: _GroundView, idx, dets: np.ndarray, ref=None, S=None, slack=None,
                     reach_extra=None):
        """Negative log-likelihood cost and gate of tracks ``idx`` (rows of ``v``) against
        ground detections, evaluated only on the pairs within reach.

        ``ref``/``S``/``slack``/``reach_extra`` (per track in ``idx``) replace the predicted
        centre, innovation covariance, overlap slack and reach (manoeuvre recovery); by
        default they are the prediction's."""
        idx = np.asarray(idx, int)
        n, m = len(idx), len(dets)
        cost = np.full((n, m), np.inf)
        gate = np.zeros((n, m), bool)
        if n == 0 or m == 0:
            return cost, gate
        cfg = self.cfg
        ref = v.zp[idx] if ref is None else ref
        S = v.S[idx] if S is None else S
        slack = v.slack[idx] if slack is None else slack
        has_ext, ext, yaw = v.has_ext[idx], v.ext[idx], v.yaw[idx]
        boxes = dets.shape[1] >= 7
        # anchoring moves a centre by at most half the track box's diagonal: detections
        # farther than that beyond the hard distance gate cannot match (skip the work)
        reach = cfg.max_distance_m + np.where(has_ext, 0.5 * np.hypot(ext[:, 0], ext[:, 1]), 0.0)
        if reach_extra is not None:
            reach = reach + reach_extra
        d0 = np.hypot(dets[None, :, 0] - ref[:, None, 0], dets[None, :, 1] - ref[:, None, 1])
        ii, jj = np.nonzero(d0 <= reach[:, None])
        if ii.size == 0:
            return cost, gate
        dn = dets[jj]
        anchored, lw = self._anchor(ref[ii], yaw[ii], ext[ii], v.anchor[idx][ii] & (_box_fits(dn) | v.big[idx][ii]), dn)
        # S + the detection's centre covariance (``_meas_cov``), inverted in closed form per
        # pair (2x2)
        ec = self._meas_cov(dn, yaw[ii], ext[ii], has_ext[ii] & boxes, lw, v.extra[idx][ii])
        a = S[ii, 0, 0] + ec[:, 0, 0]
        b = S[ii, 0, 1] + ec[:, 0, 1]
        c = S[ii, 1, 1] + ec[:, 1, 1]
        det = a * c - b * b
        d = anchored - ref[ii]
        maha = (c * d[:, 0] ** 2 - 2 * b * d[:, 0] * d[:, 1] + a * d[:, 1] ** 2) / det
        # negative log-likelihood: a detection that explains a track only by adding much
        # unseen extent (a small face at the far end of a long box) loses against a track it
        # fits as it is; the gate stays on the Mahalanobis distance
        nll = np.where(has_ext[ii], maha + np.log(det), maha)
        dist = np.hypot(d[:, 0], d[:, 1])
        if boxes:
            # the detection box must overlap the predicted track box (up to the margin and
            # one std of the predicted position): a long wall segment beside a car falls in
            # a gate widened by its own length, but does not touch the car
            touch = self._touches(ref[ii], yaw[ii], ext[ii], dn, lw, slack[ii])
            dist[has_ext[ii] & ~touch] = np.inf
        cost[ii, jj] = nll
        gate[ii, jj] = (maha <= cfg.gate_chi2) & (dist <= cfg.max_distance_m)
        return cost, gate

    def _manoeuvre_cost(self, v: _GroundView, idx, dets: np.ndarray):
        """Cost and gate of manoeuvre recovery (module docstring): centred on where each track
        was last *seen* (its last measurement, not the estimate, which the manoeuvre has
        already pulled off), widened by the disc it can reach since then."""
        tr = [self.tracks[i] for i in idx]
        x0 = np.array([t.last_obs_xy for t in tr]).reshape(-1, 2)
        P0 = np.array([t.last_obs_cov for t in tr]).reshape(-1, 2, 2)
        tau = np.array([self.time_index - t.last_update_time for t in tr])
        speed = np.array([t.last_speed_mps for t in tr])
        r = speed * tau + 0.5 * self.cfg.manoeuvre_accel_mps2 * tau ** 2
        # both ends are measurements: the last one's covariance, the new one's R (+ its extent
        # terms, added in _ground_cost), and the reachable disc
        S = P0 + v.R[idx] + (0.25 * r ** 2)[:, None, None] * np.eye(2)
        slack = np.sqrt(np.maximum(P0[:, 0, 0], P0[:, 1, 1])) + r
        return self._ground_cost(v, idx, dets, ref=x0, S=S, slack=slack, reach_extra=r) + (x0,)

    @staticmethod
    def _anchor(ref, yaw, ext, use, dets):
        """Centres of the tracks' full boxes when anchored on each detection's visible edges,
        per (track, detection) pair; also each detection's extent along its track's axes.

        An L-shape fit of a partial view (one face, or a corner of a car) has the right
        corner but a short extent, so its centre is off by half the unseen extent. The track
        keeps the largest extent seen (``Track.extent``, in its own box frame); aligning the
        track's box with one of the detection box's corners gives four candidate centres
        (shifted by +-(L - l)/2 along the box axis, +-(W - w)/2 across it), and the one nearest
        the reference (the prediction) is the measurement. A detection as large as the track
        gives back its own centre; pairs without a box (``use`` False: no track extent, or
        detections with < 7 columns) keep the detection's centre. The extent itself only
        grows from L-shape boxes (class 1) that overlap the track's box."""
        out = dets[:, :2].copy()
        if dets.shape[1] < 7:
            return out, np.zeros((len(dets), 2))
        diff = (dets[:, 3] - yaw + np.pi / 2) % np.pi - np.pi / 2   # half-turn symmetric
        across = np.abs(diff) > np.pi / 4                          # axes swapped (end-on fit)
        dl = np.where(across, dets[:, 5], dets[:, 4])              # detection extent along track axes
        dw = np.where(across, dets[:, 4], dets[:, 5])
        if not use.any():
            return out, np.column_stack([dl, dw])
        sl = 0.5 * np.clip(ext[:, 0] - dl, 0.0, None)
        sw = 0.5 * np.clip(ext[:, 1] - dw, 0.0, None)
        cy, sy = np.cos(yaw), np.sin(yaw)
        rel = ref - dets[:, :2]                                    # towards the reference
        su = np.sign(rel[:, 0] * cy + rel[:, 1] * sy)
        sv = np.sign(-rel[:, 0] * sy + rel[:, 1] * cy)
        shifted = dets[:, :2] + np.column_stack([su * sl * cy - sv * sw * sy,
                                                 su * sl * sy + sv * sw * cy])
        out[use] = shifted[use]
        return out, np.column_stack([dl, dw])

    def _touches(self, centre, yaw, ext, dets, lw, extra_margin=0.0):
        """Whether detection boxes (``lw``: their extent along the track's axes) overlap the
        track boxes (extent ``ext``, yaw ``yaw``, centred on ``centre``), pairwise, up to
        ``extent_overlap_margin_m`` (+ ``extra_margin``). Only such a detection shows more of
        the same object; one that merely fell in the gate (a wall segment next to a parked
        car) must not grow the track's extent."""
        d = dets[:, :2] - centre
        cy, sy = np.cos(yaw), np.sin(yaw)
        du = np.abs(d[:, 0] * cy + d[:, 1] * sy)
        dv = np.abs(-d[:, 0] * sy + d[:, 1] * cy)
        m = self.cfg.extent_overlap_margin_m + extra_margin
        return (du <= 0.5 * (ext[:, 0] + lw[:, 0]) + m) & (dv <= 0.5 * (ext[:, 1] + lw[:, 1]) + m)

    def _meas_cov(self, dets, yaw, ext, use, lw, extra):
        """Centre covariance (K, 2, 2) that ground detections add to the filter's R, per
        (track, detection) pair.

        With a track box (``use``): along each of the track's axes, ``extent_std_fraction`` x
        half the difference between the track's extent and the detection's (``lw``, along the
        track's axes). That is the part of the object the detection does not show (its anchored
        centre is moved by that much) or shows for the first time (the centre of a box that
        grows moves by half the growth). A full view of a known box adds nothing: its centre is
        as good as the L-shape fit, and a long vehicle's centre is not blurred along its length
        (which let a track lag metres behind a car that turned round). Without a track box (a
        new track, boxless detections): ``_extent_cov``, a fraction of the detection's own
        extent, since the object's size is unknown."""
        out = self._extent_cov(dets) + extra[:, None, None] * np.eye(2)
        if use.any():
            h = 0.5 * self.cfg.extent_std_fraction
            vu = (h * np.abs(ext[:, 0] - lw[:, 0])) ** 2
            vv = (h * np.abs(ext[:, 1] - lw[:, 1])) ** 2
            cy, sy = np.cos(yaw), np.sin(yaw)
            box = np.empty_like(out)
            box[:, 0, 0] = vu * cy ** 2 + vv * sy ** 2
            box[:, 1, 1] = vu * sy ** 2 + vv * cy ** 2
            box[:, 0, 1] = box[:, 1, 0] = (vu - vv) * cy * sy
            out[use] = box[use]
        return out

    def _extent_cov(self, dets: np.ndarray) -> np.ndarray:
        """Centre covariance of ground detections from their extent, along the box axes: a
        box fitted to a partial view is short along the side it does not see, so its centre
        is uncertain by ``extent_std_fraction`` x length along its length and by the same
        fraction of its width across it (a thin wall segment is well placed across)."""
        out = np.zeros((len(dets), 2, 2))
        if self.space != "ground" or dets.shape[1] < 7 or len(dets) == 0:
            return out
        f = self.cfg.extent_std_fraction
        cy, sy = np.cos(dets[:, 3]), np.sin(dets[:, 3])
        vl, vw = (f * dets[:, 4]) ** 2, (f * dets[:, 5]) ** 2
        out[:, 0, 0] = vl * cy ** 2 + vw * sy ** 2
        out[:, 1, 1] = vl * sy ** 2 + vw * cy ** 2
        out[:, 0, 1] = out[:, 1, 0] = (vl - vw) * cy * sy
        return out

    def _direction_consistency(self, tracks: list[Track], dets: np.ndarray) -> np.ndarray:
        """OC-SORT motion-direction consistency in [-0.5, 0.5] (0 where undefined).

        Track direction: from the observation ~``direction_delta_frames`` ago to the latest;
        candidate direction: from that same old observation to the detection. Objects that
        cross keep their heading, so this separates them where IoU alone is ambiguous.
        """
        n = len(tracks)
        out = np.zeros((n, len(dets)))
        cen = dets[:, :2] + 0.5 * dets[:, 2:4]
        has = np.array([len(t.obs_hist) >= 2 for t in tracks], bool)
        if not has.any():
            return out
        old = np.array([t.obs_hist[0][1] if h else (0.0, 0.0) for t, h in zip(tracks, has)])
        new = np.array([t.obs_hist[-1][1] if h else (0.0, 0.0) for t, h in zip(tracks, has)])
        v = new - old                                            # (n, 2)
        nv = np.linalg.norm(v, axis=1)
        w = cen[None, :, :] - old[:, None, :]                    # (n, m, 2)
        nw = np.linalg.norm(w, axis=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            cosang = np.clip(np.einsum("nmk,nk->nm", w, v) / (nw * nv[:, None]), -1.0, 1.0)
        ang = np.arccos(np.nan_to_num(cosang, nan=0.0))
        valid = has[:, None] & (nv[:, None] > 1e-6) & (nw > 1e-6)
        out[valid] = ((np.pi / 2 - ang) / np.pi)[valid]
        return out

    # --- corrections -------------------------------------------------------------------
    def _correct_image(self, tis, dets):
        """KF updates of image tracks (batched); after a gap re-run predict/update along a
        straight virtual path between the last and the new observation (OC-SORT ORU) so the
        velocity is not the one accumulated by coasting."""
        plain = []
        for k, i in enumerate(tis):
            t = self.tracks[i]
            gap = self.time_index - t.last_update_time
            if (self.cfg.re_update and t.snapshot is not None and gap > 1.0 + 1e-9
                    and gap <= 1000):
                x0, P0 = t.snapshot
                z0 = box_ltwh_to_xyah(t.last_det[:4])
                z = box_ltwh_to_xyah(dets[k, :4])
                t.filter.x, t.filter.P = x0.copy(), P0.copy()
                n = int(round(gap))
                for s in range(1, n):
                    t.filter.predict(gap / n)
                    t.filter.update(z0 + (z - z0) * (s / n))
                t.filter.predict(gap / n)
                t.filter.update(z)
            else:
                plain.append(k)
        if plain:
            BoxKalmanFilter.update_many([self.tracks[tis[k]].filter for k in plain],
                                        box_ltwh_to_xyah(dets[plain, :4]))
        horizon = self.cfg.direction_delta_frames
        for k, i in enumerate(tis):
            t = self.tracks[i]
            t.snapshot = (t.filter.x.copy(), t.filter.P.copy())
            t.last_update_time = self.time_index
            c = dets[k, :2] + 0.5 * dets[k, 2:4]
            t.obs_hist.append((self.time_index, c))
            while len(t.obs_hist) > 2 and self.time_index - t.obs_hist[1][0] >= horizon:
                t.obs_hist.pop(0)

    def _correct_ground(self, v: _GroundView, tis, dets, manoeuvre):
        """Ground updates: the measurement is the detection anchored on the track box, its
        covariance the filter's R + extent terms. Tracks found by manoeuvre recovery restart
        their filter at the measurement (module docstring). Tracks at rest are not Kalman-updated:
        the onset test runs on them (``_rest_step``); moving tracks are updated, then tested for
        rest (``_rest_entry``)."""
        tis = np.asarray(tis, int)
        cfg = self.cfg
        boxes = dets.shape[1] >= 7
        ref = v.zp[tis].copy()
        man = np.array([i in manoeuvre for i in tis], bool)
        restart = np.flatnonzero(man)
        for k in restart:
            ref[k] = self.tracks[tis[k]].last_obs_xy   # anchored as it was gated
        anchored, lw = self._anchor(ref, v.yaw[tis], v.ext[tis], v.anchor[tis] & (_box_fits(dets) | v.big[tis]), dets)
        mc = self._meas_cov(dets, v.yaw[tis], v.ext[tis], v.has_ext[tis] & boxes, lw, v.extra[tis])
        R = v.R[tis] + mc   # the configured noise: what gates and manoeuvre recovery use
        tracks = [self.tracks[i] for i in tis]
        for k in restart:
            # the motion model's state no longer describes the object: its kinematics restart
            # at the measurement (a new filter, velocity unknown); id, box and class stay
            row = dets[k].copy()
            row[:2] = anchored[k]
            tracks[k].filter = self._new_filter(row)
            tracks[k].at_rest, tracks[k].rest_n, tracks[k].onset_hits = False, 0, 0
            tracks[k].move_n = 0
        extra = (0.5 * (mc[:, 0, 0] + mc[:, 1, 1])).tolist()
        for t, xy, e in zip(tracks, anchored.tolist(), extra):
            self._push_meas(t, xy, e)
        # the update trusts a track's measurements as much as they have shown to deserve
        # (``noise_var``, learnt while it was at rest), else the configured R
        noise = np.array([np.nan if t.noise_var is None else t.noise_var for t in tracks])
        learnt = np.isfinite(noise)
        R_upd = np.where(learnt[:, None, None], np.nan_to_num(noise)[:, None, None] * np.eye(2) + mc, R)
        resting = (np.array([t.at_rest for t in tracks], bool) & ~man if cfg.rest_detection
                   else np.zeros(len(tis), bool))
        rs = np.flatnonzero(resting)
        self._rest_step([tracks[k] for k in rs], v.R[tis[rs]])
        keep = np.flatnonzero(~man & ~resting)
        filters = [t.filter for t in tracks]
        self._filter_cls.update_many([filters[k] for k in keep], anchored[keep], R_upd[keep])
        if cfg.rest_detection:
            self._rest_entry([tracks[k] for k in keep], v.R[tis[keep]])
        # where the track box was before this update: the extent grows only from detections
        # that overlap it (for a manoeuvre the prediction is off, so the new estimate is used)
        filters = [t.filter for t in tracks]
        predicted = v.zp[tis].copy()
        for k in restart:
            predicted[k] = filters[k].position
        speeds = self._filter_cls.speed_many(filters).tolist()
        for k, t in enumerate(tracks):
            t.last_obs_xy, t.last_obs_cov = anchored[k], R[k]
            t.last_update_time = self.time_index
            t.last_speed_mps = speeds[k]
        return predicted

    # --- ground motion state: at rest / moving -------------------------------------------
    def _push_meas(self, t: Track, xy, extra_var: float):
        """Append a measurement (anchored centre, its extent variance) to the track's memory:
        ``_buf_rows`` rows ending at ``meas_end`` in a buffer twice as long (moved back to the
        front when full, so an append does not shift every row)."""
        H = self._buf_rows
        if t.meas_buf is None:
            t.meas_buf = np.zeros((2 * H, 4))
            t.meas_end = H
        elif t.meas_end == 2 * H:
            t.meas_buf[:H] = t.meas_buf[H:]
            t.meas_end = H
        row = t.meas_buf[t.meas_end]
        row[0], row[1], row[2], row[3] = self.time_index, xy[0], xy[1], extra_var
        t.meas_end += 1
        t.meas_n = min(t.meas_n + 1, H)
        if t.at_rest:
            t.rest_n = min(t.rest_n + 1, H)
        else:
            t.move_n += 1

    def _noise_bounds(self, R):
        """Floor and ceiling of a learnt measurement variance, from the filters' configured
        R (N, 2, 2): the sensor's resolution (``min_meas_std_m``) and that R (a track is never
        trusted less than configured)."""
        hi = np.asarray(R, float)[:, 0, 0]
        return min(self.cfg.min_meas_std_m ** 2, float(hi.min())), hi

    def _rest_entry(self, tracks, R):
        """Moving tracks whose last ``rest_window_s`` of measurements show no motion enter rest.

        Test: straight-line fit of (x, y) against time over the window (all of it measured
        since the track was born or last started); the object is taken to be at rest when the
        fitted velocity is insignificant at 1 % (F test with the noise estimated from the fit's
        own residuals, so no noise level is assumed) and the residuals are within the configured
        noise (chi^2 at 1 %). An object at rest then has zero velocity, exactly (nothing to
        estimate, nothing to report), its position is the mean of its measurements, and its
        measurement noise is their scatter (``_noise_estimate``)."""
        M = self._rest_rows
        # a whole window since the motion started: the one that detected the start still holds
        # the rest before it (a hockey stick whose slope a line fit can miss)
        ok = [min(t.meas_n, t.move_n) >= M for t in tracks]
        cand = [t for t, o in zip(tracks, ok) if o]
        if not cand:
            return
        R = np.asarray(R)[np.flatnonzero(ok)]
        W = np.array([t.meas_buf[t.meas_end - M:t.meas_end] for t in cand])
        tt, z, ev = W[:, :, 0], W[:, :, 1:3], W[:, :, 3]
        lo, hi = self._noise_bounds(R)
        # weighted least squares, w = 1 / (configured R + the detection's extent variance): one
        # merged or partial view (a person's cluster joined for a frame by a kerb segment: a
        # 5 m box) must not inflate the residual noise estimate until a walk's slope looks
        # insignificant (it did: the track entered rest mid-stride, its rest mean 0.7 m behind)
        w = 1.0 / (hi[:, None] + ev)
        sw = w.sum(1, keepdims=True)
        tc = tt - (w * tt).sum(1, keepdims=True) / sw
        sxx = np.maximum((w * tc ** 2).sum(1), 1e-12)
        zc = z - (w[..., None] * z).sum(1, keepdims=True) / sw[..., None]
        slope = np.einsum("nm,nm,nmk->nk", w, tc, zc) / sxx[:, None]
        res = zc - tc[..., None] * slope[:, None, :]
        wres2 = (w * (res ** 2).sum(2)).sum(1)
        # residual variance factor (1 when the weights' variances are right), floored at the
        # sensor's resolution in the same units
        s2 = np.maximum(wres2 / (2 * (M - 2)), lo * w.max(1))
        F = (slope ** 2).sum(1) * sxx / (2 * s2)
        # ... and the scatter about the fit must be measurement noise: within the configured R
        # (the ceiling of any track's noise) plus each detection's extent variance, chi^2 at
        # 1 %. A car that turned round inside the window has a V-shaped track: no slope, but
        # metres of scatter.
        scat = wres2
        enter = ((F < self._rest_f_crit) & (scat < self._rest_chi2_crit)
                 & (tt[:, -1] - tt[:, 0] <= 2.0 * self.cfg.rest_window_s))
        if not enter.any():
            return
        idx = np.flatnonzero(enter)
        noise, pos, var = self._noise_estimate(z[idx], ev[idx], np.ones((len(idx), M), bool),
                                               hi[idx], lo, hi[idx])
        fs = []
        for j, k in enumerate(idx):
            t = cand[k]
            t.at_rest, t.rest_n, t.onset_hits, t.noise_var = True, M, 0, float(noise[j])
            fs.append(t.filter)
        self._filter_cls.pin_at_rest_many(fs, pos, var[:, None, None] * np.eye(2))

    def _rest_step(self, tracks, R):
        """Tracks at rest with a new measurement (already in their memory): onset test, then
        either the start of a motion or the rest estimate.

        Onset: generalised likelihood ratio for a velocity jump (Willsky & Jones, IEEE TAC
        1976) over the last ``onset rows`` (half the rest window): residuals r_j of those
        measurements from the mean of the earlier rest measurements, for each candidate start
        time theta (after the last earlier row, or after any window row leaving >= 2 behind it)
        the ML velocity v = sum w tau r / sum w tau^2 (tau = t_j - theta, w = 1 / variance) and
        its statistic l = |sum w tau r|^2 / sum w tau^2 (at rest 2 F(2, dof of the noise
        estimate), chi^2 with 2 dof for a long rest). The motion has started when max l
        exceeds its ``onset_false_alarm`` quantile in two consecutive frames (a single
        outlier detection cannot do that); the motion model then starts from the fitted
        position and velocity now (``set_kinematics``: for CTRV / CTRA also the heading, which
        the rest left undefined), with their covariance, and is Kalman-updated from the next
        measurement on. The noise used is the scatter of the earlier rest measurements about
        their mean (the window may already hold the motion)."""
        if not tracks:
            return
        K = self._onset_rows
        H = self._buf_rows
        B = np.array([t.meas_buf[t.meas_end - H:t.meas_end] for t in tracks])   # (N, H, 4)
        N, H = B.shape[:2]
        rn = np.array([t.rest_n for t in tracks])
        rows = np.arange(H)
        rest = rows[None, :] >= H - rn[:, None]
        refm = rest & (rows < H - K)[None, :]
        z, ev = B[:, :, 1:3], B[:, :, 3]
        lo, hi = self._noise_bounds(R)
        noise = np.array([t.noise_var for t in tracks], float)
        noise, p_ref, var_ref = self._noise_estimate(z, ev, refm, noise, lo, hi)
        # GLR over the candidate start times
        Wt, r = B[:, -K:, 0], z[:, -K:] - p_ref[:, None, :]
        wj = 1.0 / (noise[:, None] + ev[:, -K:] + var_ref[:, None])
        theta = np.concatenate([B[:, -K - 1:-K, 0], Wt[:, :K - 2]], axis=1)   # (N, K - 1)
        tau = np.clip(Wt[:, None, :] - theta[:, :, None], 0.0, None)          # (N, K - 1, K)
        A = np.einsum("nck,nk->nc", tau ** 2, wj)
        b = np.einsum("nck,nk,nkd->ncd", tau, wj, r)
        stat = (b ** 2).sum(2) / np.maximum(A, 1e-12)
        # with the noise estimated from n_ref rows, l / 2 is F(2, 2 (n_ref - 1)) at rest, not
        # chi^2 / 2: early in a rest (few rows) the threshold is higher
        dof = np.maximum(2 * (refm.sum(1) - 1), 2)
        thr = np.array([self._onset_threshold(int(d)) for d in dof])
        fire = stat.max(1) > thr
        stay = []
        for n, t in enumerate(tracks):
            t.noise_var = float(noise[n])
            t.onset_hits = t.onset_hits + 1 if fire[n] else 0
            if t.onset_hits < 2:
                stay.append(n)
                continue
            # the start time is uncertain by a frame or two: the state is the mixture over the
            # candidates weighted by their posterior (flat velocity prior: exp(l / 2) / A), not
            # the single best one (a late start time makes the velocity explain the whole
            # offset, up to twice the true speed)
            a = np.maximum(A[n], 1e-12)
            logp = 0.5 * stat[n] - np.log(a)
            pc = np.exp(logp - logp.max())
            pc /= pc.sum()
            vel_c = b[n] / a[:, None]                                   # (C, 2)
            tn = Wt[n, -1] - theta[n]                                   # (C,)
            m = np.hstack([p_ref[n] + vel_c * tn[:, None], vel_c])      # (C, 4)
            mean = pc @ m
            I2 = np.eye(2)
            P4 = np.zeros((4, 4))
            for c in range(len(pc)):
                Pc = np.block([[(var_ref[n] + tn[c] ** 2 / a[c]) * I2, (tn[c] / a[c]) * I2],
                               [(tn[c] / a[c]) * I2, I2 / a[c]]])
                d = m[c] - mean
                P4 += pc[c] * (Pc + np.outer(d, d))
            t.filter.set_kinematics(mean[:2], mean[2:], P4)
            t.at_rest, t.rest_n, t.onset_hits, t.move_n = False, 0, 0, 0
            self.warnings["motion_onset"] += 1
        if stay:
            stay = np.asarray(stay)
            w = rest[stay] / (noise[stay, None] + ev[stay])
            pos = (w[..., None] * z[stay]).sum(1) / w.sum(1)[:, None]
            self._filter_cls.pin_at_rest_many([tracks[n].filter for n in stay], pos,
                                              (1.0 / w.sum(1))[:, None, None] * np.eye(2))

    def _onset_threshold(self, dof: int) -> float:
        """GLR threshold at ``onset_false_alarm`` with the noise estimated on ``dof`` dof."""
        thr = self._onset_thr.get(dof)
        if thr is None:
            thr = self._onset_thr[dof] = float(2.0 * f_dist.ppf(1.0 - self.cfg.onset_false_alarm, 2, dof))
        return thr

    @staticmethod
    def _noise_estimate(z, ev, mask, prior, lo, hi):
        """Measurement variance per axis of static objects from the scatter of their
        measurements ``z`` (N, H, 2) where ``mask``; each row's variance is noise + its own
        extent variance ``ev`` (a partial view is known to be worse), so the noise is the
        weighted moment estimate sum w (r^2 / 2 - ev) / sum w, w = 1 / (noise + ev)^2, two
        fixed-point steps from ``prior`` (the configured R: a first box with a large extent
        variance then hardly counts), with the n / (n - 1) correction for the fitted mean.
        Returns (noise, weighted mean, its variance)."""
        s2 = np.asarray(prior, float).copy()
        n = mask.sum(1)
        for _ in range(2):
            w = mask / (s2[:, None] + ev)
            mean = (w[..., None] * z).sum(1) / w.sum(1)[:, None]
            r2 = 0.5 * ((z - mean[:, None, :]) ** 2).sum(2)
            w2 = w ** 2
            est = (w2 * (r2 - ev)).sum(1) / w2.sum(1) * n / np.maximum(n - 1, 1)
            s2 = np.where(n >= 3, np.clip(est, lo, hi), s2)
        w = mask / (s2[:, None] + ev)
        mean = (w[..., None] * z).sum(1) / w.sum(1)[:, None]
        return s2, mean, 1.0 / w.sum(1)

    # --- main step ---------------------------------------------------------------------
    def update(self, detections, scores=None, dt: float | None = None) -> list[TrackOutput]:
        """One tracking step. ``dt``: frames (image) or seconds (ground); default one frame."""
        if dt is None:
            dt = 1.0 if self.space == "image" else 1.0 / self.frame_rate_hz
        if not (np.isfinite(dt) and dt >= 0):
            self.warnings["dt_invalid"] += 1
            dt = 1.0 if self.space == "image" else 1.0 / self.frame_rate_hz
        dt_s = dt / self.frame_rate_hz if self.space == "image" else dt
        self.frame_count += 1
        self.time_index += dt
        dets, raw = self._sanitize(detections, scores)
        conf = self.calibrator(raw)
        cfg = self.cfg
        ground = self.space == "ground"

        if self.tracks:
            self._filter_cls.predict_many([t.filter for t in self.tracks], dt)
        for t in self.tracks:
            t.age_s += dt_s
        if ground:
            X, P = _stack_states(self.tracks)
            view = _GroundView(self.tracks, X, P, cfg)
        else:
            X = np.array([t.filter.x for t in self.tracks]).reshape(-1, 8)
            boxes = box_xyah_to_ltwh(X[:, :4])

        def cost(idx, d, min_iou, direction_term=False):
            if ground:
                return self._ground_cost(view, idx, d)
            return self._image_cost(idx, boxes, d, min_iou, direction_term)

        # ground: a match must beat leaving its track and detection unmatched, priced at the
        # Mahalanobis gate (image keeps SORT's maximum-cardinality assignment)
        unmatched = cfg.gate_chi2 if ground else None

        def assign(c, g):
            return _hungarian(c, g, unmatched)

        keep = conf >= cfg.low_score
        high = np.flatnonzero(keep & (conf >= cfg.high_score))
        low = np.flatnonzero(keep & (conf < cfg.high_score))

        confirmed = [i for i, t in enumerate(self.tracks) if t.state == CONFIRMED]
        tentative = [i for i, t in enumerate(self.tracks) if t.state == TENTATIVE]
        matched_tracks: dict[int, int] = {}
        manoeuvre: set[int] = set()

        # 1) high-score detections vs confirmed tracks (tracked + lost)
        c, g = cost(confirmed, dets[high], cfg.match_iou, direction_term=True)
        r, k = assign(c, g)
        for ri, ci in zip(r, k):
            matched_tracks[confirmed[ri]] = high[ci]
        rem_high = np.setdiff1d(high, high[k]) if len(k) else high

        # 2) low-score detections vs confirmed tracks tracked last frame and still unmatched
        cand = [i for i in confirmed if i not in matched_tracks and self.tracks[i].matched_last]
        c, g = cost(cand, dets[low], cfg.low_match_iou)
        r, k = assign(c, g)
        for ri, ci in zip(r, k):
            matched_tracks[cand[ri]] = low[ci]

        # 2b) image: observation-centric recovery (OC-SORT, Cao et al. CVPR 2023): a coasted
        # box drifts with its velocity estimate, but a briefly occluded object reappears near
        # where it was last *seen*; match the remaining tracks' last observed box by IoU.
        if cfg.recover_lost and not ground and len(rem_high):
            lost = [i for i in confirmed if i not in matched_tracks]
            if lost:
                last = np.array([self.tracks[i].last_det[:4] for i in lost])
                iou = iou_ltwh(last, dets[rem_high, :4])
                r, k = _hungarian(1.0 - iou, iou >= cfg.match_iou)
                for ri, ci in zip(r, k):
                    matched_tracks[lost[ri]] = rem_high[ci]
                rem_high = np.setdiff1d(rem_high, rem_high[k]) if len(k) else rem_high

        # 2c) ground: manoeuvre recovery (module docstring) of tracks followed until last
        # frame, before the remaining detections can start new tracks
        if cfg.manoeuvre_recovery and ground and len(rem_high):
            cand = [i for i in confirmed if i not in matched_tracks and self.tracks[i].matched_last]
            if cand:
                c, g, _ = self._manoeuvre_cost(view, cand, dets[rem_high])
                r, k = assign(c, g)
                for ri, ci in zip(r, k):
                    matched_tracks[cand[ri]] = rem_high[ci]
                    manoeuvre.add(cand[ri])
                self.warnings["manoeuvre_recovered"] += len(k)
                rem_high = np.setdiff1d(rem_high, rem_high[k]) if len(k) else rem_high

        # 3) tentative tracks vs remaining high detections
        c, g = cost(tentative, dets[rem_high], cfg.tentative_match_iou)
        r, k = assign(c, g)
        for ri, ci in zip(r, k):
            matched_tracks[tentative[ri]] = rem_high[ci]
        rem_high = np.setdiff1d(rem_high, rem_high[k]) if len(k) else rem_high

        # corrections (batched), then life cycle
        tis = sorted(matched_tracks)
        dis = np.array([matched_tracks[i] for i in tis], int)
        if tis:
            if ground:
                predicted = self._correct_ground(view, tis, dets[dis], manoeuvre)
                self._update_attributes_many(view, tis, dets[dis], predicted)
            else:
                self._correct_image(tis, dets[dis])
        survivors: list[Track] = []
        max_age_s = cfg.max_age_s
        for i, t in enumerate(self.tracks):
            if i in matched_tracks:
                d = matched_tracks[i]
                t.hits += 1
                t.time_since_update_s = 0.0
                t.matched_last = True
                t.score = float(conf[d])
                t.last_det = dets[d]
                if t.state == TENTATIVE and t.hits >= cfg.min_hits:
                    t.state = CONFIRMED
                    t.track_id = self._next_id
                    self._next_id += 1
                survivors.append(t)
            else:
                t.time_since_update_s += dt_s
                t.matched_last = False
                if t.state == CONFIRMED and t.time_since_update_s <= max_age_s + 1e-9:
                    survivors.append(t)
        # births
        if ground and len(rem_high):
            # a ground detection whose centre lies inside an existing track's footprint is a
            # fragment of that object (a car split by an occluder, a wall seen in pieces), not
            # a new object: starting a track there would duplicate it
            occ_pos = [t.filter.position for t in survivors]
            occ_half = [max(0.5 * float(max(t.size[0], t.size[1])) if t.size is not None else 0.0, 0.5)
                        for t in survivors]
        for d in rem_high:
            if conf[d] < cfg.birth_score:
                continue
            if ground and occ_pos:
                dist = np.hypot(*(np.array(occ_pos) - dets[d, :2]).T)
                if np.any(dist < np.array(occ_half)):
                    self.warnings["birth_suppressed_inside_track"] += 1
                    continue
            t = Track(filter=self._new_filter(dets[d]), score=float(conf[d]), last_det=dets[d])
            t.last_update_time = self.time_index
            if ground:
                t.last_obs_xy = dets[d, :2].copy()
                t.last_obs_cov = t.filter.R + self._extent_cov(dets[d:d + 1])[0]
                self._push_meas(t, dets[d, :2], 0.5 * np.trace(t.last_obs_cov - t.filter.R))
                self._init_attributes(t, dets[d])
                occ_pos.append(t.filter.position)
                occ_half.append(max(0.5 * float(max(t.size[0], t.size[1])) if t.size is not None
                                    else 0.0, 0.5))
            else:
                t.snapshot = (t.filter.x.copy(), t.filter.P.copy())
                t.obs_hist.append((self.time_index, dets[d, :2] + 0.5 * dets[d, 2:4]))
            if cfg.min_hits <= 1 or (cfg.confirm_first_frame and self.frame_count == 1):
                t.state = CONFIRMED
                t.track_id = self._next_id
                self._next_id += 1
            survivors.append(t)
        self.tracks = survivors
        return self.outputs(include_coasting=False)

    # --- ground box attributes ---------------------------------------------------------
    def _init_attributes(self, t: Track, det):
        if len(det) >= 3:
            t.z = float(det[2])
        if len(det) >= 4:
            t.box_yaw = float(det[3])
        if len(det) >= 7:
            t.size = np.asarray(det[4:7], float).copy()
            t.extent = np.asarray(det[4:6], float).copy()
            t.box_extent = len(det) < 8 or int(det[7]) == 1
        if len(det) >= 8:
            t.cls = int(det[7])

    def _update_attributes_many(self, v: _GroundView, tis, dets, predicted):
        """Smoothed z, box yaw (modulo a half turn; modulo a quarter turn with length and
        width swapped once the track has a box: an end-on fit must not turn the track's box
        frame), size, and the grow-only box extent (from L-shape boxes that overlap the
        track box at ``predicted``), for the matched tracks ``tis`` at once."""
        tis = np.asarray(tis, int)
        ncol = dets.shape[1]
        tracks = [self.tracks[i] for i in tis]
        if ncol >= 3:
            z = 0.7 * np.array([t.z for t in tracks]) + 0.3 * dets[:, 2]
        yaw = v.yaw[tis]
        has_ext = v.has_ext[tis]
        swapped = np.zeros(len(tis), bool)
        if ncol >= 4:
            dyaw = (dets[:, 3] - yaw + np.pi / 2) % np.pi - np.pi / 2
            if ncol >= 7:
                swapped = has_ext & (np.abs(dyaw) > np.pi / 4)
                dyaw = np.where(has_ext, (dyaw + np.pi / 4) % (np.pi / 2) - np.pi / 4, dyaw)
            yaw = wrap_angle(yaw + 0.3 * dyaw)
        if ncol >= 7:
            has_size = np.array([t.size is not None for t in tracks], bool)
            size_old = np.array([t.size if t.size is not None else (0.0, 0.0, 0.0) for t in tracks],
                                float).reshape(-1, 3)
            lw = np.where(swapped[:, None], dets[:, 5:3:-1], dets[:, 4:6])
            # length and width in the track's box frame (box_yaw): an end-on view turned a quarter
            # turn is swapped, or a car parked along the street would be reported across it
            det_size = np.column_stack([lw, dets[:, 6]])
            size = np.where(has_size[:, None], 0.7 * size_old + 0.3 * det_size, det_size)
            ext = v.ext[tis]
            grow = has_ext & self._touches(predicted, yaw, ext, dets, lw)
            if ncol >= 8:
                grow &= dets[:, 7].astype(int) == 1
            ext_new = np.where(grow[:, None], np.maximum(ext, lw), ext)
            ext_new = np.where(has_ext[:, None], ext_new, lw)
            # a first extent (track born without one) is a box if this detection is one
            first_box = ~has_ext & ((dets[:, 7].astype(int) == 1) if ncol >= 8 else True)
        for k, t in enumerate(tracks):
            if ncol >= 3:
                t.z = float(z[k])
            if ncol >= 4:
                t.box_yaw = float(yaw[k])
            if ncol >= 7:
                t.size = size[k]
                t.extent = ext_new[k]
                t.box_extent = t.box_extent or bool(grow[k]) or bool(first_box[k])
            if ncol >= 8:
                t.cls = int(dets[k, 7])

    def outputs(self, include_coasting: bool = False) -> list[TrackOutput]:
        out = []
        for t in self.tracks:
            if t.state != CONFIRMED:
                continue
            coasting = not t.matched_last
            if coasting and not include_coasting:
                continue
            f = t.filter
            if self.space == "image":
                vel = f.x[4:6].copy()
                box = (t.last_det[:4].copy() if (self.cfg.output_detection_box and not coasting
                                                 and t.last_det is not None) else f.box_ltwh())
                out.append(TrackOutput(t.track_id, f.position, vel, t.score, box_ltwh=box,
                                       coasting=coasting))
            else:
                out.append(TrackOutput(t.track_id, f.position, f.velocity, t.score, size=t.size,
                                       yaw=t.box_yaw, z=t.z, cls=t.cls, coasting=coasting))
        return out


def _stack_states(tracks):
    if not tracks:
        return np.empty((0, 2)), np.empty((0, 2, 2))
    return (np.array([t.filter.x for t in tracks], float),
            np.array([t.filter.P for t in tracks], float))


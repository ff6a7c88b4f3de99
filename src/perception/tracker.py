"""Multi-object tracker core: one association engine for image boxes and ground objects.

Core module (numpy / scipy, no rclpy). Pipeline per frame (ByteTrack, Zhang et al. ECCV 2022,
on top of SORT-style Kalman tracks):

1. predict every track with its motion model (``kalman.py``);
2. split detections by score into *high* and *low* (see ``ScoreCalibrator``);
3. first association: high detections vs all active tracks (confirmed and recently lost),
   Hungarian (``scipy.optimize.linear_sum_assignment``) on a cost with a hard gate
   (image: 1 - IoU, IoU >= ``match_iou``; ground: Mahalanobis d^2 <= chi^2 gate);
4. second association: low detections vs the confirmed tracks that were *tracked last frame*
   and are still unmatched (a low score on a track we already follow is usually an occluded
   true object, a low score alone is usually clutter);
5. tentative tracks vs remaining high detections (stricter gate);
6. births from unmatched high detections above ``birth_score``; tentative tracks become
   confirmed after ``min_hits`` hits, die at their first miss; confirmed tracks are kept
   ``max_age_s`` without a match (coasting), then deleted.

Ids are assigned from a per-tracker counter at confirmation, so ids are stable and dense.

Scores: detectors disagree on score scale (MOT15 public detections range from < 0 to > 100
and differ between sequences). ``ScoreCalibrator`` maps raw scores to their empirical CDF rank
among all scores seen so far (online), so thresholds are quantiles and the tracker is
independent of the detector's units. With ``mode="absolute"`` raw scores in [0, 1] are used.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from .kalman import (BoxKalmanFilter, ConstantVelocityFilter, CTRAFilter, CTRVFilter,
                     box_ltwh_to_xyah, wrap_angle)

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
    min_hits: int = 3              # hits to confirm a track (SORT's value)
    confirm_first_frame: bool = True  # tracks born in the first frame are confirmed at once
    max_age_s: float = 1.0         # coast time for confirmed tracks without a match
    score_mode: str = "rank"       # "rank" or "absolute" (see ScoreCalibrator)
    recover_lost: bool = True      # image: re-find lost tracks by their last observed box (OCR)
    re_update: bool = True         # image: re-run the KF over a gap on a virtual path (ORU)
    direction_weight: float = 0.2  # image: weight of motion-direction consistency (OCM)
    direction_delta_frames: int = 3  # image: baseline of the observed motion direction
    output_detection_box: bool = False  # image: output the matched detection, not the KF box

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
    predicted: np.ndarray | None = None     # ground: predicted position before the last update
    box_yaw: float = 0.0
    z: float = 0.0
    cls: int = 0
    last_det: np.ndarray | None = None
    snapshot: tuple | None = None           # (x, P) right after the last update
    last_update_time: float = 0.0
    obs_hist: list = field(default_factory=list)  # [(time, centre)] for motion direction


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


def _hungarian(cost: np.ndarray, gate: np.ndarray):
    """Min-cost assignment restricted to gated pairs. Returns (rows, cols) of valid matches."""
    if cost.size == 0 or not gate.any():
        return np.empty(0, int), np.empty(0, int)
    big = 1e6
    c = np.where(gate, cost, big)
    r, k = linear_sum_assignment(c)
    ok = gate[r, k]
    return r[ok], k[ok]


# ---------------------------------------------------------------------------------------

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
        self.calibrator = ScoreCalibrator(self.cfg.score_mode)
        self.tracks: list[Track] = []
        self._next_id = 1
        self.warnings: Counter = Counter()
        self.frame_count = 0
        self.time_index = 0.0  # frames (image) or seconds (ground) since start

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

    def _measurement(self, det):
        return box_ltwh_to_xyah(det[:4]) if self.space == "image" else det[:2]

    # --- costs -------------------------------------------------------------------------
    def _cost(self, tracks: list[Track], dets: np.ndarray, min_iou: float, direction_term=False):
        if not tracks or len(dets) == 0:
            return np.zeros((len(tracks), len(dets))), np.zeros((len(tracks), len(dets)), bool)
        if self.space == "image":
            tb = np.array([t.filter.box_ltwh() for t in tracks])
            iou = iou_ltwh(tb, dets[:, :4])
            cost = 1.0 - iou
            if direction_term and self.cfg.direction_weight > 0:
                cost = cost - self.cfg.direction_weight * self._direction_consistency(tracks, dets)
            return cost, iou >= max(min_iou, 1e-9)
        cost = np.full((len(tracks), len(dets)), np.inf)
        nll = np.full_like(cost, np.inf)
        dist = np.full_like(cost, np.inf)
        extra_all = self._extent_cov(dets)  # (M, 2, 2) per-detection centre covariance from its extent
        for i, t in enumerate(tracks):
            zp, S = t.filter.project()
            # anchoring moves a centre by at most half the track box's diagonal: detections
            # farther than that beyond the hard distance gate cannot match (skip the work)
            reach = self.cfg.max_distance_m + (0.5 * float(np.hypot(*t.extent))
                                               if t.extent is not None else 0.0)
            near = np.flatnonzero(np.hypot(*(dets[:, :2] - zp).T) <= reach)
            if near.size == 0:
                continue
            dn, extra = dets[near], extra_all[near]
            track_extra = self._track_extent_var(t)
            anchored = self._anchored_centres(t, dn, zp)
            d = anchored - zp
            # S + (extent variance) I, inverted in closed form per detection (2x2); an anchored
            # centre is as uncertain as the unseen part it adds (``extent_std_fraction`` x shift)
            shift = np.hypot(*(anchored - dn[:, :2]).T)
            add = track_extra + (self.cfg.extent_std_fraction * shift) ** 2
            a = S[0, 0] + add + extra[:, 0, 0]
            b = S[0, 1] + extra[:, 0, 1]
            c = S[1, 1] + add + extra[:, 1, 1]
            det = a * c - b * b
            maha = (c * d[:, 0] ** 2 - 2 * b * d[:, 0] * d[:, 1] + a * d[:, 1] ** 2) / det
            cost[i, near] = maha
            if t.extent is not None:
                # negative log-likelihood: a detection that explains a track only by adding
                # much unseen extent (a small face at the far end of a long box) loses against
                # a track it fits as it is; the gate below stays on the Mahalanobis distance
                nll[i, near] = maha + np.log(det)
            else:
                nll[i, near] = maha
            dn_dist = np.hypot(d[:, 0], d[:, 1])
            if t.extent is not None and dets.shape[1] >= 7:
                # the detection box must overlap the predicted track box (up to the margin
                # and one std of the predicted position): a long wall segment beside a car
                # falls in a gate widened by its own length, but does not touch the car
                P = t.filter.P
                slack = float(np.sqrt(max(P[0, 0], P[1, 1])))
                diff = (dn[:, 3] - t.box_yaw + np.pi / 2) % np.pi - np.pi / 2
                across = np.abs(diff) > np.pi / 4
                lw = np.stack([np.where(across, dn[:, 5], dn[:, 4]),
                               np.where(across, dn[:, 4], dn[:, 5])], axis=1)
                touch = self._touches_box(t, dn, lw, zp, slack)
                dn_dist[~touch] = np.inf
            dist[i, near] = dn_dist
        gate = (cost <= self.cfg.gate_chi2) & (dist <= self.cfg.max_distance_m)
        return nll, gate

    def _anchored_centres(self, t: Track, dets: np.ndarray, zp: np.ndarray) -> np.ndarray:
        """Centres of the track's full box when anchored on each detection's visible edges.

        An L-shape fit of a partial view (one face, or a corner of a car) has the right
        corner but a short extent, so its centre is off by half the unseen extent. The track
        keeps the largest extent seen (``Track.extent``, in its own box frame); aligning the
        track's box with one of the detection box's corners gives four candidate centres
        (shifted by +-(L - l)/2 along the box axis, +-(W - w)/2 across it), and the one nearest
        the prediction is the measurement. A detection as large as the track gives back its
        own centre; detections without a box (< 7 columns) are used as they are. The extent
        itself only grows from L-shape boxes (class 1) that overlap the track's box."""
        if self.space != "ground" or dets.shape[1] < 7 or t.extent is None or len(dets) == 0:
            return dets[:, :2]
        yaw = t.box_yaw
        diff = (dets[:, 3] - yaw + np.pi / 2) % np.pi - np.pi / 2   # half-turn symmetric
        across = np.abs(diff) > np.pi / 4                          # axes swapped (end-on fit)
        dl = np.where(across, dets[:, 5], dets[:, 4])              # detection extent along track axes
        dw = np.where(across, dets[:, 4], dets[:, 5])
        sl = 0.5 * np.clip(t.extent[0] - dl, 0.0, None)
        sw = 0.5 * np.clip(t.extent[1] - dw, 0.0, None)
        if not (sl.any() or sw.any()):                             # full views: nothing to add
            return dets[:, :2]
        cy, sy = math.cos(yaw), math.sin(yaw)
        u = np.array([cy, sy])
        v = np.array([-sy, cy])
        rel = zp - dets[:, :2]                                     # towards the prediction
        su = np.sign(rel @ u)
        sv = np.sign(rel @ v)
        return dets[:, :2] + (su * sl)[:, None] * u + (sv * sw)[:, None] * v

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

    def _track_extent_var(self, t: Track) -> float:
        # with a track box extent, measurements are anchored on the visible corner
        # (``_anchored_centres``): the track's unseen extent no longer blurs the centre
        if t.size is None or t.extent is not None:
            return 0.0
        return float((self.cfg.extent_std_fraction * t.size[0]) ** 2)

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

    def _correct(self, t: Track, det):
        """KF update; after a gap (image) re-run predict/update along a straight virtual path
        between the last and the new observation (OC-SORT ORU) so the velocity is not the
        one accumulated by coasting."""
        z = self._measurement(det)
        if self.space == "ground":
            det_row = np.asarray(det, float).reshape(1, -1)
            t.predicted = t.filter.project()[0].copy()
            z = self._anchored_centres(t, det_row, t.predicted)[0]
            base = getattr(t.filter, "R", None)
            add = self._track_extent_var(t)
            add += (self.cfg.extent_std_fraction * float(np.hypot(*(z - det_row[0, :2])))) ** 2
            add_cov = add * np.eye(2) + self._extent_cov(det_row)[0]
            t.filter.update(z, None if base is None else base + add_cov)
            t.last_update_time = self.time_index
            return
        gap = self.time_index - t.last_update_time
        if (self.cfg.re_update and self.space == "image" and t.snapshot is not None
                and gap > 1.0 + 1e-9 and gap <= 1000):
            x0, P0 = t.snapshot
            z0 = self._measurement(t.last_det)
            t.filter.x, t.filter.P = x0.copy(), P0.copy()
            n = int(round(gap))
            for k in range(1, n):
                t.filter.predict(gap / n)
                t.filter.update(z0 + (z - z0) * (k / n))
            t.filter.predict(gap / n)
        t.filter.update(z)
        t.snapshot = (t.filter.x.copy(), t.filter.P.copy())
        t.last_update_time = self.time_index
        if self.space == "image":
            c = np.asarray(det[:2], float) + 0.5 * np.asarray(det[2:4], float)
            t.obs_hist.append((self.time_index, c))
            horizon = self.cfg.direction_delta_frames
            while len(t.obs_hist) > 2 and self.time_index - t.obs_hist[1][0] >= horizon:
                t.obs_hist.pop(0)

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

        for t in self.tracks:
            t.filter.predict(dt)
            t.age_s += dt_s

        keep = conf >= cfg.low_score
        high = np.flatnonzero(keep & (conf >= cfg.high_score))
        low = np.flatnonzero(keep & (conf < cfg.high_score))

        confirmed = [i for i, t in enumerate(self.tracks) if t.state == CONFIRMED]
        tentative = [i for i, t in enumerate(self.tracks) if t.state == TENTATIVE]
        matched_tracks: dict[int, int] = {}

        # 1) high-score detections vs confirmed tracks (tracked + lost)
        cost, gate = self._cost([self.tracks[i] for i in confirmed], dets[high], cfg.match_iou,
                                direction_term=True)
        r, c = _hungarian(cost, gate)
        for ri, ci in zip(r, c):
            matched_tracks[confirmed[ri]] = high[ci]
        rem_high = np.setdiff1d(high, high[c]) if len(c) else high

        # 2) low-score detections vs confirmed tracks tracked last frame and still unmatched
        cand = [i for i in confirmed if i not in matched_tracks and self.tracks[i].matched_last]
        cost, gate = self._cost([self.tracks[i] for i in cand], dets[low], cfg.low_match_iou)
        r, c = _hungarian(cost, gate)
        for ri, ci in zip(r, c):
            matched_tracks[cand[ri]] = low[ci]

        # 2b) observation-centric recovery (OC-SORT, Cao et al. CVPR 2023): a coasted box
        # drifts with its velocity estimate, but a briefly occluded object reappears near
        # where it was last *seen*; match the remaining tracks' last observed box by IoU.
        if cfg.recover_lost and self.space == "image" and len(rem_high):
            lost = [i for i in confirmed if i not in matched_tracks]
            if lost:
                last = np.array([self.tracks[i].last_det[:4] for i in lost])
                iou = iou_ltwh(last, dets[rem_high, :4])
                r, c = _hungarian(1.0 - iou, iou >= cfg.match_iou)
                for ri, ci in zip(r, c):
                    matched_tracks[lost[ri]] = rem_high[ci]
                rem_high = np.setdiff1d(rem_high, rem_high[c]) if len(c) else rem_high

        # 3) tentative tracks vs remaining high detections
        cost, gate = self._cost([self.tracks[i] for i in tentative], dets[rem_high], cfg.tentative_match_iou)
        r, c = _hungarian(cost, gate)
        for ri, ci in zip(r, c):
            matched_tracks[tentative[ri]] = rem_high[ci]
        rem_high = np.setdiff1d(rem_high, rem_high[c]) if len(c) else rem_high

        # update / age
        survivors: list[Track] = []
        max_age_s = cfg.max_age_s
        for i, t in enumerate(self.tracks):
            if i in matched_tracks:
                d = matched_tracks[i]
                self._correct(t, dets[d])
                t.hits += 1
                t.time_since_update_s = 0.0
                t.matched_last = True
                t.score = float(conf[d])
                t.last_det = dets[d]
                self._update_attributes(t, dets[d])
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
        for d in rem_high:
            if conf[d] < cfg.birth_score:
                continue
            if self.space == "ground" and self._inside_existing(dets[d], survivors):
                self.warnings["birth_suppressed_inside_track"] += 1
                continue
            t = Track(filter=self._new_filter(dets[d]), score=float(conf[d]), last_det=dets[d])
            t.snapshot = (t.filter.x.copy(), t.filter.P.copy())
            t.last_update_time = self.time_index
            if self.space == "image":
                t.obs_hist.append((self.time_index, dets[d, :2] + 0.5 * dets[d, 2:4]))
            self._update_attributes(t, dets[d], first=True)
            if cfg.min_hits <= 1 or (cfg.confirm_first_frame and self.frame_count == 1):
                t.state = CONFIRMED
                t.track_id = self._next_id
                self._next_id += 1
            survivors.append(t)
        self.tracks = survivors
        return self.outputs(include_coasting=False)

    def _inside_existing(self, det, tracks: list[Track]) -> bool:
        """A ground detection whose centre lies inside an existing track's footprint is a
        fragment of that object (a car split by an occluder, a wall seen in pieces), not a
        new object: starting a track there would duplicate it."""
        if not tracks:
            return False
        pos = np.array([t.filter.position for t in tracks])
        half = np.array([0.5 * float(max(t.size[0], t.size[1])) if t.size is not None else 0.0
                         for t in tracks])
        dist = np.hypot(*(pos - np.asarray(det[:2], float)).T)
        return bool(np.any(dist < np.maximum(half, 0.5)))

    def _update_attributes(self, t: Track, det, first=False):
        if self.space != "ground":
            return
        if len(det) >= 3:
            t.z = float(det[2]) if first else 0.7 * t.z + 0.3 * float(det[2])
        swapped = False
        if len(det) >= 4:
            dyaw = _half_turn_diff(float(det[3]), t.box_yaw)
            if len(det) >= 7 and t.extent is not None:
                # a box is also symmetric under a quarter turn with length and width swapped:
                # an end-on fit must not turn the track's box frame
                swapped = abs(dyaw) > np.pi / 4
                dyaw = float((dyaw + np.pi / 4) % (np.pi / 2) - np.pi / 4)
            t.box_yaw = float(det[3]) if first else float(wrap_angle(t.box_yaw + 0.3 * dyaw))
        if len(det) >= 7:
            size = np.asarray(det[4:7], float)
            t.size = size.copy() if (first or t.size is None) else 0.7 * t.size + 0.3 * size
            lw = np.asarray(det[4:6], float)
            if swapped:
                lw = lw[::-1]
            if first or t.extent is None:
                t.extent = lw.copy()
            elif (len(det) < 8 or int(det[7]) == 1) and bool(self._touches_box(
                    t, det, lw, centre=t.predicted)):
                t.extent = np.maximum(t.extent, lw)
        if len(det) >= 8:
            t.cls = int(det[7])

    def _touches_box(self, t: Track, det, lw, centre=None, extra_margin=0.0) -> bool:
        """Whether detection boxes (``lw``: their extent along the track's axes) overlap the
        track's box (centred on ``centre``, default the prediction) up to
        ``extent_overlap_margin_m`` (+ ``extra_margin``). Only such a detection shows more of
        the same object; one that merely fell in the gate (a wall segment next to a parked
        car) must not grow the track's extent."""
        yaw = t.box_yaw
        c = t.filter.project()[0] if centre is None else centre
        det = np.asarray(det, float)
        lw = np.asarray(lw, float)
        d = det[..., :2] - c                      # one row (N,) or many (M, N)
        du = np.abs(d[..., 0] * np.cos(yaw) + d[..., 1] * np.sin(yaw))
        dv = np.abs(-d[..., 0] * np.sin(yaw) + d[..., 1] * np.cos(yaw))
        m = self.cfg.extent_overlap_margin_m + extra_margin
        return (du <= 0.5 * (t.extent[0] + lw[..., 0]) + m) & (dv <= 0.5 * (t.extent[1] + lw[..., 1]) + m)

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


def _half_turn_diff(a: float, b: float) -> float:
    """a - b modulo pi, in [-pi/2, pi/2): box yaw is symmetric under a half turn."""
    return float((a - b + np.pi / 2) % np.pi - np.pi / 2)

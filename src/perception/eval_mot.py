"""Evaluate the skyroad tracker and the SORT baseline on MOTChallenge detections.

    python -m skyroad.perception.eval_mot --det det.txt --gt gt.txt [--seqinfo seqinfo.ini] --json

Prints one JSON object::

    {"sequence": ..., "frame_rate_hz": ..., "skyroad": {"mota", "idf1", "id_switches",
     "mostly_tracked", "mostly_lost", "fps", ...}, "sort": {same keys}, "warnings": {...}}

MOTA / IDF1 are fractions (0-1), scored by ``motmetrics`` (IoU distance, match at IoU >= 0.5,
the MOTChallenge 2D protocol). Both trackers get the same detections. If ``--seqinfo`` is not
given, a ``seqinfo.ini`` beside det.txt or one folder up (MOTChallenge layout) is used; without
one the frame rate falls back to ``--frame-rate`` (default 30 Hz).

motmetrics 1.4.0 calls ``np.asfarray``, removed in NumPy 2.0. ``_motmetrics()`` gives
``motmetrics.distances`` a NumPy proxy that supplies it, instead of pinning NumPy or
patching the global ``numpy`` module.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import types
from collections import Counter
from pathlib import Path

import numpy as np

from .mot_io import MotFileError, MotSequenceData, read_mot_file, read_seqinfo
from .sort_baseline import Sort
from .tracker import MultiObjectTracker, TrackerConfig


class _NumpyWithAsfarray(types.ModuleType):
    """Proxy for numpy that adds ``asfarray`` (NumPy < 2 semantics) and forwards all else."""

    def __init__(self, np_module):
        super().__init__("numpy")
        self._np = np_module

    def __getattr__(self, name):
        return getattr(self._np, name)

    def asfarray(self, a, dtype=np.float64):
        if not np.issubdtype(np.dtype(dtype), np.inexact):
            dtype = np.float64
        return np.asarray(a, dtype=dtype)


def _motmetrics():
    import motmetrics as mm
    import motmetrics.distances as mmd

    if not hasattr(np, "asfarray") and not isinstance(mmd.np, _NumpyWithAsfarray):
        mmd.np = _NumpyWithAsfarray(np)
    return mm


def run_skyroad(det: MotSequenceData, frame_rate_hz: float, config: TrackerConfig | None = None):
    """Returns (hypotheses dict frame -> (ids, ltwh boxes), seconds, warnings)."""
    tracker = MultiObjectTracker(config or TrackerConfig(), space="image", frame_rate_hz=frame_rate_hz)
    hyp = {}
    frames = _all_frames(det)
    prev = None
    t0 = time.perf_counter()
    for f in frames:
        boxes = det.boxes.get(f, np.empty((0, 4)))
        scores = det.scores.get(f, np.empty(0))
        dt = 1.0 if prev is None else float(f - prev)
        outs = tracker.update(boxes, scores, dt=dt)
        prev = f
        hyp[f] = (np.array([o.track_id for o in outs], int),
                  np.array([o.box_ltwh for o in outs]).reshape(-1, 4))
    elapsed = time.perf_counter() - t0
    return hyp, elapsed, Counter(tracker.warnings)


def run_sort(det: MotSequenceData):
    """Reference SORT loop (abewley/sort main): every frame 1..last, all detections."""
    tracker = Sort(max_age=1, min_hits=3, iou_threshold=0.3)
    hyp = {}
    frames = _all_frames(det)
    t0 = time.perf_counter()
    for f in frames:
        boxes = det.boxes.get(f, np.empty((0, 4)))
        scores = det.scores.get(f, np.empty(0))
        dets = np.column_stack([boxes[:, 0], boxes[:, 1], boxes[:, 0] + boxes[:, 2],
                                boxes[:, 1] + boxes[:, 3], scores]) if len(boxes) else np.empty((0, 5))
        out = tracker.update(dets)
        ltwh = np.column_stack([out[:, 0], out[:, 1], out[:, 2] - out[:, 0], out[:, 3] - out[:, 1]]) \
            if len(out) else np.empty((0, 4))
        hyp[f] = (out[:, 4].astype(int) if len(out) else np.empty(0, int), ltwh)
    elapsed = time.perf_counter() - t0
    return hyp, elapsed


def _all_frames(det: MotSequenceData):
    return list(range(1, max(det.frames) + 1)) if det.frames else []


def score(gt: MotSequenceData, hyp: dict, name: str = "seq"):
    """motmetrics summary for hypotheses ``hyp`` vs ground truth (IoU >= 0.5)."""
    mm = _motmetrics()
    acc = mm.MOTAccumulator(auto_id=False)
    frames = sorted(set(gt.frames) | set(hyp.keys()))
    for f in frames:
        g_ids = gt.ids.get(f, np.empty(0, int))
        g_box = gt.boxes.get(f, np.empty((0, 4)))
        h_ids, h_box = hyp.get(f, (np.empty(0, int), np.empty((0, 4))))
        dist = mm.distances.iou_matrix(g_box, h_box, max_iou=0.5)
        acc.update(g_ids, h_ids, dist, frameid=f)
    mh = mm.metrics.create()
    summary = mh.compute(acc, metrics=["mota", "idf1", "num_switches", "mostly_tracked",
                                       "mostly_lost", "num_false_positives", "num_misses",
                                       "num_unique_objects", "precision", "recall"], name=name)
    row = summary.iloc[0]
    return {
        "mota": round(float(row["mota"]), 4),
        "idf1": round(float(row["idf1"]), 4),
        "id_switches": int(row["num_switches"]),
        "mostly_tracked": int(row["mostly_tracked"]),
        "mostly_lost": int(row["mostly_lost"]),
        "false_positives": int(row["num_false_positives"]),
        "misses": int(row["num_misses"]),
        "num_objects": int(row["num_unique_objects"]),
        "precision": round(float(row["precision"]), 4),
        "recall": round(float(row["recall"]), 4),
    }


def find_seqinfo(det_path: Path) -> Path | None:
    for folder in (det_path.parent, det_path.parent.parent):
        cand = folder / "seqinfo.ini"
        if cand.is_file():
            return cand
    return None


def evaluate(det_path, gt_path, seqinfo_path=None, frame_rate_hz: float = 30.0,
             config: TrackerConfig | None = None) -> dict:
    det_path, gt_path = Path(det_path), Path(gt_path)
    det = read_mot_file(det_path)
    gt = read_mot_file(gt_path)
    seq_name = det_path.parent.name
    if det_path.parent.name == "det":
        seq_name = det_path.parent.parent.name
    seqinfo_path = Path(seqinfo_path) if seqinfo_path else find_seqinfo(det_path)
    if seqinfo_path is not None:
        info = read_seqinfo(seqinfo_path)
        frame_rate_hz = info.frame_rate_hz
        seq_name = info.name
    n_frames = len(_all_frames(det))
    hyp_s, t_s, tracker_warn = run_skyroad(det, frame_rate_hz, config)
    hyp_b, t_b = run_sort(det)
    res_s = score(gt, hyp_s, seq_name)
    res_s["fps"] = round(n_frames / max(t_s, 1e-9), 1)
    res_b = score(gt, hyp_b, seq_name)
    res_b["fps"] = round(n_frames / max(t_b, 1e-9), 1)
    warnings = {f"det.{k}": v for k, v in det.warnings.items()}
    warnings.update({f"gt.{k}": v for k, v in gt.warnings.items()})
    warnings.update({f"tracker.{k}": v for k, v in tracker_warn.items() if v})
    return {"sequence": seq_name, "frames": n_frames, "frame_rate_hz": frame_rate_hz,
            "skyroad": res_s, "sort": res_b, "warnings": warnings}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m skyroad.perception.eval_mot", description=__doc__.split("\n")[0])
    p.add_argument("--det", required=True, help="MOTChallenge det.txt")
    p.add_argument("--gt", required=True, help="MOTChallenge gt.txt")
    p.add_argument("--seqinfo", default=None, help="seqinfo.ini (frame rate); default: next to det.txt")
    p.add_argument("--frame-rate", type=float, default=30.0, help="frame rate if no seqinfo.ini (Hz)")
    p.add_argument("--json", action="store_true", help="print one JSON object (default: a table)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not (np.isfinite(args.frame_rate) and args.frame_rate > 0):
        print(f"eval_mot: --frame-rate must be > 0, got {args.frame_rate}", file=sys.stderr)
        return 2
    try:
        res = evaluate(args.det, args.gt, args.seqinfo, args.frame_rate)
    except MotFileError as exc:
        print(f"eval_mot: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(res))
    else:
        print(f"sequence {res['sequence']} ({res['frames']} frames @ {res['frame_rate_hz']} Hz)")
        keys = ["mota", "idf1", "id_switches", "mostly_tracked", "mostly_lost", "fps"]
        print(f"{'':8s}" + "".join(f"{k:>15s}" for k in keys))
        for name in ("skyroad", "sort"):
            print(f"{name:8s}" + "".join(f"{res[name][k]:>15}" for k in keys))
        if res["warnings"]:
            print("warnings:", res["warnings"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

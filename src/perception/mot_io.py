"""MOTChallenge text files (det.txt / gt.txt / seqinfo.ini) read with validation.

Core module: numpy only, no rclpy. Each row of a MOTChallenge file is
``frame, id, left, top, width, height, score, x, y, z`` (1-based frames, pixels).
Bad rows (non-numeric, NaN/Inf, non-positive width/height, frame < 1) are skipped and
counted per reason instead of crashing, so a corrupt line in a detector dump never aborts an
evaluation. Unsorted frames are allowed (counted) and re-grouped by frame.
"""
from __future__ import annotations

import configparser
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class MotFileError(ValueError):
    """A MOTChallenge file cannot be used at all (missing, empty, wrong column count)."""


@dataclass
class MotSequenceData:
    """Rows grouped by frame. ``boxes[f]`` is (N, 4) left, top, width, height; ``scores[f]`` (N,)."""

    path: str
    frames: list[int]
    boxes: dict[int, np.ndarray]
    scores: dict[int, np.ndarray]
    ids: dict[int, np.ndarray]
    warnings: Counter = field(default_factory=Counter)

    @property
    def num_rows(self) -> int:
        return int(sum(len(b) for b in self.boxes.values()))


def read_mot_file(path: str | Path) -> MotSequenceData:
    """Read det.txt or gt.txt; rows with bad values are skipped and counted in ``warnings``."""
    path = Path(path)
    if not path.is_file():
        raise MotFileError(f"MOT file not found: {path}")
    warnings: Counter = Counter()
    rows: list[list[float]] = []
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for line_no, line in enumerate(fh, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p != ""]
            if len(parts) < 6:
                warnings["row_too_few_columns"] += 1
                continue
            try:
                values = [float(p) for p in parts[:7]]
            except ValueError:
                warnings["row_not_numeric"] += 1
                continue
            if len(values) < 7:
                values.append(1.0)  # gt files of some benchmarks omit the confidence column
            rows.append(values)
    if not rows:
        raise MotFileError(f"MOT file {path} holds no usable rows (warnings: {dict(warnings)})")
    arr = np.asarray(rows, dtype=float)
    finite = np.all(np.isfinite(arr), axis=1)
    warnings["row_non_finite"] += int(np.count_nonzero(~finite))
    arr = arr[finite]
    bad_size = (arr[:, 4] <= 0.0) | (arr[:, 5] <= 0.0)
    warnings["box_non_positive_size"] += int(np.count_nonzero(bad_size))
    arr = arr[~bad_size]
    bad_frame = (arr[:, 0] < 1) | (arr[:, 0] != np.round(arr[:, 0]))
    warnings["frame_invalid"] += int(np.count_nonzero(bad_frame))
    arr = arr[~bad_frame]
    if len(arr) > 1 and np.any(np.diff(arr[:, 0]) < 0):
        warnings["frames_unsorted"] += 1
    order = np.argsort(arr[:, 0], kind="stable")
    arr = arr[order]
    frame_col = arr[:, 0].astype(int)
    frames, starts = np.unique(frame_col, return_index=True)
    ends = np.append(starts[1:], len(arr))
    boxes, scores, ids = {}, {}, {}
    for f, s, e in zip(frames, starts, ends):
        boxes[int(f)] = arr[s:e, 2:6].copy()
        scores[int(f)] = arr[s:e, 6].copy()
        ids[int(f)] = arr[s:e, 1].astype(int)
    return MotSequenceData(str(path), [int(f) for f in frames], boxes, scores, ids,
                           Counter({k: v for k, v in warnings.items() if v}))


@dataclass(frozen=True)
class SeqInfo:
    name: str
    frame_rate_hz: float
    seq_length: int | None
    im_width: int | None
    im_height: int | None


def read_seqinfo(path: str | Path) -> SeqInfo:
    """Parse a MOTChallenge ``seqinfo.ini`` ([Sequence] name, frameRate, seqLength, imWidth, imHeight)."""
    path = Path(path)
    if not path.is_file():
        raise MotFileError(f"seqinfo file not found: {path}")
    cp = configparser.ConfigParser()
    try:
        cp.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise MotFileError(f"seqinfo {path}: not an ini file ({exc})") from exc
    if "Sequence" not in cp:
        raise MotFileError(f"seqinfo {path}: no [Sequence] section")
    sec = cp["Sequence"]

    def _num(key, cast):
        if key not in sec:
            return None
        try:
            val = cast(sec[key])
        except ValueError as exc:
            raise MotFileError(f"seqinfo {path}: field {key}={sec[key]!r} is not a number") from exc
        return val

    rate = _num("frameRate", float)
    if rate is None or not np.isfinite(rate) or rate <= 0:
        raise MotFileError(f"seqinfo {path}: field frameRate missing or not positive")
    return SeqInfo(sec.get("name", path.parent.name), rate, _num("seqLength", int),
                   _num("imWidth", int), _num("imHeight", int))

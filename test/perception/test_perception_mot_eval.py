"""Tracker vs SORT on real MOTChallenge 2015 detections, and the eval CLI / file handling."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skyroad.perception.eval_mot import _NumpyWithAsfarray, evaluate, main
from skyroad.perception.mot_io import MotFileError, read_mot_file, read_seqinfo
from skyroad.perception.sort_baseline import Sort

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mot15"
SEQUENCES = ["KITTI-17", "TUD-Campus", "TUD-Stadtmitte"]


def _need_data():
    if not DATA.is_dir():
        pytest.skip(f"MOT15 data not present at {DATA} (shared data folder absent)")


@pytest.fixture(scope="module")
def results():
    _need_data()
    out = {}
    for seq in SEQUENCES:
        if (DATA / seq / "det.txt").is_file():
            out[seq] = evaluate(DATA / seq / "det.txt", DATA / seq / "gt.txt")
    if not out:
        pytest.skip(f"no MOT15 sequence with det.txt/gt.txt under {DATA}")
    return out


def test_beats_sort_on_every_sequence(results):
    for seq, r in results.items():
        assert r["skyroad"]["mota"] >= r["sort"]["mota"], (seq, r)
        assert r["skyroad"]["idf1"] >= r["sort"]["idf1"], (seq, r)


def test_mean_idf1_beats_sort_by_three_points(results):
    ours = np.mean([r["skyroad"]["idf1"] for r in results.values()])
    sort = np.mean([r["sort"]["idf1"] for r in results.values()])
    assert ours >= sort + 0.03, (ours, sort)


def test_result_schema_and_ranges(results):
    for r in results.values():
        for name in ("skyroad", "sort"):
            m = r[name]
            for key in ("mota", "idf1", "id_switches", "mostly_tracked", "mostly_lost", "fps"):
                assert key in m
            assert -1.0 <= m["mota"] <= 1.0 and 0.0 <= m["idf1"] <= 1.0
            assert m["fps"] > 0


def test_sort_baseline_matches_reference_behaviour():
    # Two boxes moving right by 5 px/frame; SORT outputs them from the first frame
    # (frame_count <= min_hits), keeps ids, and drops a track after max_age=1 missed frames.
    s = Sort()
    ids = []
    for f in range(6):
        dets = np.array([[10 + 5 * f, 10, 60 + 5 * f, 110, 1.0], [300 + 5 * f, 10, 350 + 5 * f, 110, 1.0]])
        out = s.update(dets)
        ids.append(sorted(out[:, 4].astype(int).tolist()))
    assert all(i == [1, 2] for i in ids)
    s.update(np.empty((0, 5)))
    s.update(np.empty((0, 5)))
    assert len(s.trackers) == 0


def test_asfarray_shim_is_local_and_correct():
    import numpy
    proxy = _NumpyWithAsfarray(numpy)
    a = proxy.asfarray([1, 2, 3])
    assert a.dtype == np.float64 and proxy.sqrt is numpy.sqrt
    assert proxy.asfarray([1], dtype=np.int32).dtype == np.float64


def test_bad_rows_are_skipped_and_counted(tmp_path):
    p = tmp_path / "det.txt"
    p.write_text("\n".join([
        "2,-1,10,10,50,100,5.0,-1,-1,-1",        # unsorted: frame 2 before frame 1
        "1,-1,10,10,50,100,3.0,-1,-1,-1",
        "1,-1,10,10,0,100,3.0,-1,-1,-1",         # zero width
        "1,-1,10,10,-5,100,3.0,-1,-1,-1",        # negative width
        "1,-1,nan,10,5,100,3.0,-1,-1,-1",        # NaN
        "1,-1,inf,10,5,100,3.0,-1,-1,-1",        # Inf
        "x,y,z",                                 # garbage
        "0,-1,10,10,50,100,3.0,-1,-1,-1",        # frame 0
    ]) + "\n")
    d = read_mot_file(p)
    assert d.frames == [1, 2] and d.num_rows == 2
    w = d.warnings
    assert w["frames_unsorted"] == 1 and w["box_non_positive_size"] == 2
    assert w["row_non_finite"] == 2 and w["row_too_few_columns"] == 1 and w["frame_invalid"] == 1


def test_missing_or_empty_files_give_clear_errors(tmp_path, capsys):
    with pytest.raises(MotFileError, match="not found"):
        read_mot_file(tmp_path / "nope.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(MotFileError, match="no usable rows"):
        read_mot_file(empty)
    assert main(["--det", str(tmp_path / "nope.txt"), "--gt", str(empty)]) == 2
    assert "not found" in capsys.readouterr().err
    ini = tmp_path / "seqinfo.ini"
    ini.write_text("[Sequence]\nname=X\nframeRate=abc\n")
    with pytest.raises(MotFileError, match="frameRate"):
        read_seqinfo(ini)


def test_cli_json_with_seqinfo_and_corrupt_rows(tmp_path):
    """Synthetic MOT sequence in the MOTChallenge folder layout, run through the real CLI."""
    rng = np.random.default_rng(3)
    seq = tmp_path / "SYN-01"
    (seq / "det").mkdir(parents=True)
    (seq / "gt").mkdir()
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=SYN-01\nframeRate=20\nseqLength=60\n")
    gt_rows, det_rows = [], []
    for f in range(1, 61):
        for k in range(3):
            x, y = 50 + 150 * k + 2.0 * f, 100 + 40 * k
            gt_rows.append(f"{f},{k + 1},{x:.1f},{y:.1f},40,90,1,-1,-1,-1")
            if rng.random() < 0.9:
                n = rng.normal(0, 2, 2)
                det_rows.append(f"{f},-1,{x + n[0]:.1f},{y + n[1]:.1f},40,90,{rng.uniform(10, 50):.2f},-1,-1,-1")
    det_rows.insert(5, "3,-1,10,10,-4,20,1.0,-1,-1,-1")
    det_rows.reverse()  # unsorted frames
    (seq / "det" / "det.txt").write_text("\n".join(det_rows) + "\n")
    (seq / "gt" / "gt.txt").write_text("\n".join(gt_rows) + "\n")
    out = subprocess.run([sys.executable, "-m", "skyroad.perception.eval_mot", "--det",
                          str(seq / "det" / "det.txt"), "--gt", str(seq / "gt" / "gt.txt"), "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["sequence"] == "SYN-01" and res["frame_rate_hz"] == 20.0
    assert res["warnings"]["det.box_non_positive_size"] == 1
    assert res["warnings"]["det.frames_unsorted"] == 1
    assert res["skyroad"]["mota"] > 0.7 and res["skyroad"]["id_switches"] == 0

"""`skyroad zones validate|info|check`, in-process and as `python -m`."""
import argparse
import json
import subprocess
import sys

import pytest

from skyroad.airspace_geofence import cli


def run_cli(argv, capsys):
    parser = argparse.ArgumentParser(prog="skyroad zones")
    cli.add_arguments(parser)
    code = cli.run(parser.parse_args(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_validate_real_files_reports_repairs(geozones_dir, capsys):
    files = [str(p) for p in sorted(geozones_dir.glob("*.json"))]
    code, out, err = run_cli(["validate", *files], capsys)
    assert code == 0, err
    assert out.count("OK ") == 3 and "repaired: zone 'Lausanne Airport'" in out
    code, out, _ = run_cli(["validate", *files, "--json"], capsys)
    report = json.loads(out)
    assert report["ok"] and sum(f["zones"] for f in report["files"]) == 10


def test_validate_malformed_names_zone_and_field(tmp_path, geozones_dir, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"UASZoneList": [{"identifier": "Q1", "restriction": "PROHIBITED", "geometry": '
                   '[{"uomDimensions": "M", "lowerLimit": 0, "lowerVerticalReference": "AGL", "upperVerticalReference": "AGL", "horizontalProjection": '
                   '{"type": "Polygon", "coordinates": [[[7, 46], [7.1, 46], [7.1, NaN], [7, 46]]]}}]}]}')
    code, out, err = run_cli(["validate", str(bad), str(geozones_dir / "che-sample.ed318.json")], capsys)
    assert code == 1 and "bad.json" in err and "non-finite" in err
    bad.write_text('{"UASZoneList": [{"identifier": "Q1", "restriction": "PROHIBITED", "geometry": '
                   '[{"uomDimensions": "M", "lowerLimit": 0, "lowerVerticalReference": "AGL", "upperVerticalReference": "AGL", "horizontalProjection": '
                   '{"type": "Polygon", "coordinates": [[[7, 46], [7.1, 46], [7.1, "x"], [7, 46]]]}}]}]}')
    code, out, _ = run_cli(["validate", str(bad), "--json"], capsys)
    entry = json.loads(out)["files"][0]
    assert code == 1 and entry["zone"] == "Q1"
    assert entry["field"] == "geometry[0].horizontalProjection.coordinates[0][2][1]"


def test_info_json_keys(geozones_dir, capsys):
    files = [str(p) for p in sorted(geozones_dir.glob("*.json"))]
    code, out, _ = run_cli(["info", *files, "--json"], capsys)
    info = json.loads(out)
    assert code == 0
    assert {"zones", "volumes", "repaired", "time_limited", "by_restriction", "load_seconds"} <= set(info)
    assert (info["zones"], info["volumes"], info["repaired"], info["time_limited"]) == (10, 14, 1, 2)
    assert info["by_restriction"] == {"NO_RESTRICTION": 1, "PROHIBITED": 3, "REQ_AUTHORISATION": 6}


def test_check_inside_nearest_time_and_authorisation(geozones_dir, capsys):
    files = [str(geozones_dir / "che-geo-awareness-1.ed269.json")]
    base = ["check", *files, "--lat", "46.430758", "--lon", "6.913146", "--alt", "50", "--alt-ref", "AGL",
            "--ground-elevation", "380", "--json"]
    code, out, _ = run_cli(base + ["--time", "2022-07-02T18:00:00Z"], capsys)
    result = json.loads(out)
    assert code == 0 and result["inside"] == ["Montreux Concert Area", "MONTREUX Wildlife Preserve"]
    assert result["point"]["alt_amsl_m"] == 430.0
    code, out, _ = run_cli(base + ["--time", "2022-07-01T18:00:00Z", "--authorised", "MONTREUX Wildlife Preserve"],
                           capsys)
    result = json.loads(out)
    assert result["inside"] == ["MONTREUX Wildlife Preserve"] and result["inside_restricting"] == []
    assert result["nearest"]["id"] == "Lausanne Airport"
    assert 20_000 < result["nearest"]["horizontal_m"] < 30_000 and result["nearest"]["vertical_m"] == 0.0
    # 100 m above the 120 m AGL ceiling of the Lausanne polygon: nearest is vertical
    code, out, _ = run_cli(["check", *files, "--lat", "46.545", "--lon", "6.617", "--alt", "220", "--alt-ref",
                            "AGL", "--ground-elevation", "600", "--json", "--time", "2024-01-01T00:00:00Z"], capsys)
    result = json.loads(out)
    assert result["inside"] == [] and result["nearest"]["id"] == "Lausanne Airport"
    assert result["nearest"]["vertical_m"] == pytest.approx(100.0) and result["nearest"]["horizontal_m"] == 0.0


def test_check_bad_arguments_exit_2(geozones_dir, capsys):
    files = [str(geozones_dir / "che-sample.ed269.json")]
    code, _, err = run_cli(["check", *files, "--lat", "95", "--lon", "7", "--alt", "10"], capsys)
    assert code == 2 and "--lat" in err
    code, _, err = run_cli(["check", *files, "--lat", "46", "--lon", "7", "--alt", "10", "--time", "noon"], capsys)
    assert code == 2 and "--time" in err


def test_module_entry_point(geozones_dir):
    result = subprocess.run([sys.executable, "-m", "skyroad.airspace_geofence.cli", "info", "--json",
                             str(geozones_dir / "che-sample.ed318.json")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["zones"] == 3
    result = subprocess.run([sys.executable, "-m", "skyroad.airspace_geofence.cli", "validate", "/nonexistent.json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "cannot read file" in result.stderr and "Traceback" not in result.stderr


def test_skyroad_zones_subcommand(geozones_dir, capsys):
    from skyroad.cli import main
    code = main(["zones", "info", "--json", str(geozones_dir / "che-sample.ed269.json")])
    assert code == 0 and json.loads(capsys.readouterr().out)["zones"] == 1

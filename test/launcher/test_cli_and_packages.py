"""`skyroad launch` command line (print, show-args, PACKAGE FILE form, errors) and how
packages and executables are found (ament index, console scripts, entry-point fallback)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from skyroad.launcher import cli, packages
from skyroad.launcher.substitutions import SubstitutionError

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "launch" / "demo_gate.launch.xml"


def test_print_shows_resolved_nodes(capsys):
    assert cli.main([str(DEMO), "namespace:=uav9", "monitor:=false", "--print"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["mode"] == "process"
    [gate] = printed["nodes"]
    assert gate["full_name"] == "/uav9/cmd_vel_gate"
    assert gate["command"][-len(gate["ros_arguments"]):] == gate["ros_arguments"]
    assert "__ns:=/uav9" in gate["command"]


def test_package_and_file_form_and_show_args(capsys):
    assert cli.main(["skyroad", "demo_gate.launch.xml", "--show-args"]) == 0
    out = capsys.readouterr().out
    assert "namespace (default: 'car1')" in out and "vehicle namespace" in out
    assert cli.main(["skyroad", "no_such.launch.xml"]) == 2
    assert "not found" in capsys.readouterr().err


def test_unused_argument_is_reported(capsys):
    assert cli.main([str(DEMO), "namepsace:=uav1", "--print"]) == 0
    assert "argument 'namepsace' was given but no <arg> declares it" in capsys.readouterr().err


def test_skyroad_console_script_dispatches_launch():
    skyroad = Path(sys.executable).parent / "skyroad"
    if not skyroad.exists():
        pytest.skip("the skyroad console script is not installed in this environment")
    result = subprocess.run([str(skyroad), "launch", str(DEMO), "--print", "--composed"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["mode"] == "composed"


def test_ament_index_lookup(tmp_path, monkeypatch):
    prefix = tmp_path / "prefix"
    (prefix / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (prefix / "share" / "ament_index" / "resource_index" / "packages" / "demo_pkg").write_text("")
    (prefix / "share" / "demo_pkg").mkdir()
    monkeypatch.setenv("AMENT_PREFIX_PATH", f"{tmp_path / 'empty'}:{prefix}")
    assert packages.find_package_share("demo_pkg") == str(prefix / "share" / "demo_pkg")
    assert packages.find_package_prefix("demo_pkg") == str(prefix)
    with pytest.raises(SubstitutionError, match="executable 'talker' of package 'demo_pkg' not found"):
        packages.find_executable("demo_pkg", "talker")


def test_skyroad_executables_come_from_setup_py_entry_points(monkeypatch, tmp_path):
    table = packages._setup_py_entry_points(REPO)
    assert table["cmd_vel_gate"] == "skyroad.common.tools.cmd_vel_gate:main"
    assert packages.python_entry_points("skyroad")["topic_monitor"] == table["topic_monitor"]
    # without an installed script, the entry point runs with this interpreter
    monkeypatch.setattr(packages.shutil, "which", lambda name: None)
    monkeypatch.setattr(packages.sys, "executable", str(tmp_path / "python3"))
    monkeypatch.setattr(packages, "ament_package_prefix", lambda package, environ=None: None)
    found = packages.find_executable("skyroad", "cmd_vel_gate")
    assert found.command[:2] == (str(tmp_path / "python3"), "-c")
    assert "from skyroad.common.tools.cmd_vel_gate import main" in found.command[2]


def test_composed_mode_refuses_what_needs_a_process(tmp_path, capsys):
    path = tmp_path / "env.launch.xml"
    path.write_text('<launch>\n<node pkg="skyroad" exec="cmd_vel_gate">\n'
                    '  <env name="A" value="1"/>\n</node>\n</launch>\n')
    assert cli.main([str(path), "--composed"]) == 2
    assert f"{path}:2: --composed: <env> of cmd_vel_gate needs its own process" in capsys.readouterr().err
    path.write_text('<launch>\n<node pkg="skyroad_no_such_pkg" exec="x"/>\n</launch>\n')
    assert cli.main([str(path), "--composed"]) == 2
    assert "is not a Python console script" in capsys.readouterr().err

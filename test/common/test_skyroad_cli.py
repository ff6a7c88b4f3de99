import subprocess
import sys
from pathlib import Path

from skyroad.cli import SUBCOMMANDS, main

DEMO_GATE = str(Path(__file__).resolve().parents[2] / "launch" / "demo_gate.launch.xml")


def test_help_lists_every_subcommand(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for name in ("launch", "demo", "sim", "scenario", "zones", "gimbal"):
        assert name in out and name in SUBCOMMANDS


def test_unknown_subcommand_is_a_usage_error():
    result = subprocess.run([sys.executable, "-m", "skyroad", "fly-to-the-moon"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_launch_options_may_follow_launch_arguments(capsys):
    # ros2 launch accepts options anywhere; so does `skyroad launch`.
    assert main(["launch", DEMO_GATE, "namespace:=car7", "--print"]) == 0
    assert '"car7"' in capsys.readouterr().out
    assert main(["launch", DEMO_GATE, "--print", "namespace:=car8"]) == 0
    assert '"car8"' in capsys.readouterr().out

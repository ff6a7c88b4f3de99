"""Process mode with a test-only node executable (test/launcher/fake_node.py) installed into a
temporary ament prefix: respawn, exit codes, on_exit, signal escalation, output, env."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PACKAGE = "skyroad_fake"


@pytest.fixture
def fake_prefix(tmp_path):
    """An ament prefix holding package skyroad_fake with executable lib/skyroad_fake/fake_node."""
    prefix = tmp_path / "prefix"
    index = prefix / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True)
    (index / PACKAGE).write_text("")
    (prefix / "share" / PACKAGE).mkdir()
    lib = prefix / "lib" / PACKAGE
    lib.mkdir(parents=True)
    script = lib / "fake_node"
    script.write_text(f"#!{sys.executable}\n" + (HERE / "fake_node.py").read_text())
    script.chmod(0o755)
    return prefix


def launch_file(tmp_path, body: str) -> Path:
    path = tmp_path / "test.launch.xml"
    path.write_text("<launch>\n" + textwrap.dedent(body) + "</launch>\n")
    return path


def start(path, fake_prefix, tmp_path, *args):
    env = dict(os.environ, AMENT_PREFIX_PATH=str(fake_prefix), ROS_LOG_DIR=str(tmp_path / "logs"))
    return subprocess.Popen([sys.executable, "-m", "skyroad.launcher", str(path), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for(predicate, timeout_s=15.0, what="condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def state(path: Path):
    return path.read_text().split() if path.exists() else []


def finish(process, timeout_s=20.0):
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"launcher did not exit:\n{out}\n{err}")
    return process.returncode, out, err


def test_respawn_restarts_a_crashed_node_and_sigint_exits_0(tmp_path, fake_prefix):
    state_file = tmp_path / "crasher.state"
    path = launch_file(tmp_path, f"""
        <node pkg="{PACKAGE}" exec="fake_node" name="crasher" output="screen" namespace="car1"
              respawn="true" respawn_delay="0.2" args="{state_file} crash:2">
          <param name="rate_hz" value="5.0"/>
          <remap from="in" to="/other/in"/>
          <env name="FAKE_NODE_ENV" value="hello"/>
        </node>
        """)
    process = start(path, fake_prefix, tmp_path)
    wait_for(lambda: state(state_file).count("start") == 3 and "running" in state(state_file),
             what="third start")
    process.send_signal(signal.SIGINT)
    code, out, err = finish(process)
    assert code == 0, err
    assert state(state_file) == ["start", "start", "start", "running", "stopped"]
    assert err.count("crasher exited with code 3: respawning in 0.2 s") == 2, err
    assert "[crasher] fake_node start=3" in out
    # command line as launch_ros builds it, environment from <env>
    expected_args = ["--ros-args", "-r", "__node:=crasher", "-r", "__ns:=/car1", "-p", "rate_hz:=5.0",
                     "-r", "in:=/other/in"]
    assert f"argv={expected_args} env=hello" in out
    assert "[crasher] fake_node stderr line" in err
    assert "sending SIGTERM" not in err


def test_respawn_max_retries_then_failure(tmp_path, fake_prefix):
    state_file = tmp_path / "s"
    path = launch_file(tmp_path, f"""
        <node pkg="{PACKAGE}" exec="fake_node" name="crasher" respawn="true" respawn_delay="0.0"
              respawn_max_retries="2" args="{state_file} crash:10"/>
        """)
    code, _out, err = finish(start(path, fake_prefix, tmp_path))
    assert code == 1, err
    assert state(state_file).count("start") == 3
    assert "failed: crasher exited with code 3" in err


def test_exit_code_reports_a_failed_node(tmp_path, fake_prefix):
    path = launch_file(tmp_path, f"""
        <node pkg="{PACKAGE}" exec="fake_node" name="good" args="{tmp_path / 'a'} exit:0"/>
        <node pkg="{PACKAGE}" exec="fake_node" name="bad" args="{tmp_path / 'b'} exit:4"/>
        """)
    code, _out, err = finish(start(path, fake_prefix, tmp_path))
    assert code == 1, err
    assert "good exited cleanly" in err and "bad exited with code 4" in err
    path = launch_file(tmp_path, f"""
        <node pkg="{PACKAGE}" exec="fake_node" name="good" args="{tmp_path / 'c'} exit:0"/>
        """)
    code, _out, err = finish(start(path, fake_prefix, tmp_path))
    assert code == 0, err


def test_on_exit_shutdown_stops_the_others(tmp_path, fake_prefix):
    waiter = tmp_path / "waiter"
    path = launch_file(tmp_path, f"""
        <node pkg="{PACKAGE}" exec="fake_node" name="waiter" args="{waiter} wait"/>
        <node pkg="{PACKAGE}" exec="fake_node" name="leader" on_exit="shutdown"
              args="{tmp_path / 'leader'} exit:0"/>
        """)
    code, _out, err = finish(start(path, fake_prefix, tmp_path))
    assert code == 0, err
    assert 'leader exited and has on_exit="shutdown"' in err
    assert state(waiter)[-1] == "stopped"  # stopped by our SIGINT, not killed


def test_node_ignoring_sigint_gets_sigterm(tmp_path, fake_prefix):
    stubborn = tmp_path / "stubborn"
    path = launch_file(tmp_path, f"""
        <node pkg="{PACKAGE}" exec="fake_node" name="stubborn" sigterm_timeout="0.5"
              args="{stubborn} ignore_sigint"/>
        """)
    process = start(path, fake_prefix, tmp_path)
    wait_for(lambda: "running" in state(stubborn), what="stubborn running")
    process.send_signal(signal.SIGINT)
    code, _out, err = finish(process)
    assert code == 0, err
    assert "stubborn still running" in err and "sending SIGTERM" in err
    assert "stubborn stopped (signal 15)" in err


def test_output_log_goes_to_the_log_folder(tmp_path, fake_prefix):
    path = launch_file(tmp_path, f"""
        <node pkg="{PACKAGE}" exec="fake_node" name="quiet" args="{tmp_path / 'q'} exit:0"/>
        """)
    code, out, err = finish(start(path, fake_prefix, tmp_path))
    assert code == 0, err
    assert "fake_node start=1" not in out               # output="log" (the default): stdout not shown
    assert "[quiet] fake_node stderr line" in err       # stderr still is, as with ros2 launch
    [log] = list((tmp_path / "logs").glob("skyroad_launch_*/quiet.log"))
    assert "fake_node start=1" in log.read_text()


def test_cli_errors_name_file_and_line(tmp_path, fake_prefix):
    path = launch_file(tmp_path, f"""
        <node pkg="{PACKAGE}" exec="no_such_exec"/>
        """)
    code, _out, err = finish(start(path, fake_prefix, tmp_path))
    assert code == 2
    assert f"{path}:3: executable 'no_such_exec' of package '{PACKAGE}' not found" in err
    code, _out, err = finish(start(path, fake_prefix, tmp_path, "bad_argument"))
    assert code == 2 and "not of the form name:=value" in err

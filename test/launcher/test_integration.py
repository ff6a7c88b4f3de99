"""`skyroad launch launch/demo_gate.launch.xml` over real DDS, in process and --composed mode.

The launch file runs cmd_vel_gate and topic_monitor under a namespace (push-ros-namespace),
with parameters from config/demo_gate.yaml plus a `rate_hz` launch argument, and remaps the
monitor's `topic` onto the gate's `cmd_vel_out`. This test, another process, publishes
`<ns>/cmd_vel_in`, and checks that
- the gate forwards it to `<ns>/cmd_vel_out` (namespace, test -> gate -> test over DDS);
- topic_monitor reports on /diagnostics a rate > 0 for `/<ns>/cmd_vel_out` (the remap; gate ->
  monitor messages);
- the parameters came from the YAML (`min_rate_hz` 10.0, default 0.0) and the launch argument
  (`rate_hz` 40.0 over the YAML's 20.0), read back through the nodes' parameter services;
- SIGINT stops everything with exit code 0, every node stopping on SIGINT (no escalation).
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "launch" / "demo_gate.launch.xml"


def _value(status, key):
    return next((kv.value for kv in status.values if kv.key == key), None)


@pytest.mark.parametrize("mode", ["process", "composed"])
def test_demo_nodes_exchange_messages(mode, ros_context, tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import Twist
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter_client import AsyncParameterClient

    namespace = f"itest_{mode}_{os.getpid()}"
    command = [sys.executable, "-m", "skyroad.launcher", str(DEMO), f"namespace:={namespace}",
               "rate_hz:=40.0", "output:=screen"] + (["--composed"] if mode == "composed" else [])
    env = dict(os.environ, ROS_LOG_DIR=str(tmp_path / "ros_logs"))
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    node = Node("launcher_integration_test", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    forwarded, monitor_rates = [], []
    out_topic = f"/{namespace}/cmd_vel_out"

    def on_diagnostics(msg):
        for status in msg.status:
            if status.name.startswith(f"{namespace}/cmd_vel_monitor") and _value(status, "topic") == out_topic:
                monitor_rates.append(float(_value(status, "rate_hz")))

    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 50)
    node.create_subscription(Twist, out_topic, lambda msg: forwarded.append(msg.linear.x), 50)
    publisher = node.create_publisher(Twist, f"/{namespace}/cmd_vel_in", 10)
    command_in = Twist()
    command_in.linear.x = 1.25
    parameters = {}
    try:
        deadline = time.monotonic() + 25.0
        last_publish = 0.0
        clients = {name: AsyncParameterClient(node, f"/{namespace}/{name}")
                   for name in ("cmd_vel_gate", "cmd_vel_monitor")}
        pending = {}
        while time.monotonic() < deadline and launcher.poll() is None:
            executor.spin_once(timeout_sec=0.05)
            if time.monotonic() - last_publish > 0.05:
                publisher.publish(command_in)
                last_publish = time.monotonic()
            for name, wanted in (("cmd_vel_gate", ["rate_hz"]), ("cmd_vel_monitor", ["min_rate_hz"])):
                if name not in parameters and name not in pending and clients[name].services_are_ready():
                    pending[name] = clients[name].get_parameters(wanted)
                if name in pending and pending[name].done():
                    parameters[name] = [v.double_value for v in pending.pop(name).result().values]
            if 1.25 in forwarded and any(rate > 0 for rate in monitor_rates) and len(parameters) == 2:
                break
        assert launcher.poll() is None, "launcher exited early:\n" + "".join(launcher.communicate())
        assert 1.25 in forwarded, f"gate did not forward {out_topic}: {forwarded[-5:]}"
        assert any(rate > 0 for rate in monitor_rates), f"monitor saw nothing on {out_topic}: {monitor_rates}"
        assert parameters.get("cmd_vel_gate") == [40.0], parameters      # launch argument over YAML
        assert parameters.get("cmd_vel_monitor") == [10.0], parameters   # from config/demo_gate.yaml
    finally:
        if launcher.poll() is None:
            launcher.send_signal(signal.SIGINT)
        try:
            stdout, stderr = launcher.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            launcher.kill()
            stdout, stderr = launcher.communicate()
        executor.shutdown()
        node.destroy_node()
    assert launcher.returncode == 0, stderr
    assert "in-process" in stderr if mode == "composed" else "started cmd_vel_monitor [pid" in stderr
    assert "sending SIGTERM" not in stderr, "a node did not stop on SIGINT:\n" + stderr


@pytest.mark.parametrize("mode", ["process", "composed"])
def test_out_of_range_yaml_value_fails_the_launch(mode, tmp_path):
    """A parameter file value outside its range stops the node at start-up; the launch exits
    non-zero and the message names the parameter."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("/**/cmd_vel_gate:\n  ros__parameters:\n    max_linear_mps: 1000.0\n")
    command = [sys.executable, "-m", "skyroad.launcher", str(DEMO), f"params_file:={bad}", "monitor:=false",
               f"namespace:=bad_{mode}_{os.getpid()}"] + (["--composed"] if mode == "composed" else [])
    env = dict(os.environ, ROS_LOG_DIR=str(tmp_path / "ros_logs"))
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == (2 if mode == "composed" else 1), result.stderr
    assert "max_linear_mps" in result.stderr


def test_composed_launch_ends_when_a_node_shuts_the_context_down(tmp_path, monkeypatch, capfd):
    """In --composed mode a node ends the launch by shutting its context down; the run returns 0
    after the node got its name, namespace and parameter from the launch file."""
    import self_stopping_node
    from skyroad.launcher import composed
    from skyroad.launcher.description import load_launch_file

    monkeypatch.setattr(composed, "python_entry_points",
                        lambda package: {"stopper": "self_stopping_node:main"} if package == "fake" else {})
    path = tmp_path / "stop.launch.xml"
    path.write_text('<launch>\n  <push-ros-namespace namespace="grp"/>\n'
                    '  <node pkg="fake" exec="stopper" name="stopper_a">\n'
                    '    <param name="label" value="from_launch"/>\n  </node>\n</launch>\n')
    self_stopping_node.SelfStoppingNode.seen.clear()
    assert composed.run_composed(load_launch_file(str(path)).nodes) == 0
    seen = self_stopping_node.SelfStoppingNode.seen
    assert seen[-1] == ("/grp/stopper_a", "from_launch", 5), seen
    assert "shutting down (context shut down)" in capfd.readouterr().err

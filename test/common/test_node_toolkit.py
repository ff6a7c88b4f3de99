"""The node toolkit over real DDS, in-process (EventsExecutor) and as a real process."""
import math
import subprocess
import sys
import time

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Twist
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock

from skyroad.common.params import ParameterConfigError
from skyroad.common.ros import RELIABLE_QOS, make_executor, s_to_stamp, stamp_to_s
from skyroad.common.tools.cmd_vel_gate import CmdVelGate
from skyroad.common.tools.topic_monitor import TopicMonitor


def spin_until(executor, predicate, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.02)
        if predicate():
            return True
    return False


def write_yaml(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return str(path)


def test_out_of_range_yaml_fails_start_up_naming_the_parameter(ros_context, tmp_path):
    params = write_yaml(tmp_path, "cmd_vel_gate:\n  ros__parameters:\n    max_linear_mps: 500.0\n")
    with pytest.raises(ParameterConfigError, match=r"max_linear_mps.*500.*above the maximum"):
        CmdVelGate(context=ros_context, cli_args=["--ros-args", "--params-file", params])


def test_nan_and_wrong_type_in_yaml_fail_start_up(ros_context, tmp_path):
    params = write_yaml(tmp_path, "cmd_vel_gate:\n  ros__parameters:\n    input_timeout_s: .nan\n")
    with pytest.raises(ParameterConfigError, match=r"input_timeout_s.*not a finite"):
        CmdVelGate(context=ros_context, cli_args=["--ros-args", "--params-file", params])
    params = write_yaml(tmp_path, "cmd_vel_gate:\n  ros__parameters:\n    rate_hz: fast\n")
    with pytest.raises(ParameterConfigError, match=r"rate_hz.*expected float"):
        CmdVelGate(context=ros_context, cli_args=["--ros-args", "--params-file", params])


def test_integer_yaml_value_accepted_for_float(ros_context, tmp_path):
    params = write_yaml(tmp_path, "cmd_vel_gate:\n  ros__parameters:\n    max_linear_mps: 3\n")
    node = CmdVelGate(context=ros_context, cli_args=["--ros-args", "--params-file", params])
    try:
        assert node.p.max_linear_mps == 3.0 and isinstance(node.p.max_linear_mps, float)
    finally:
        node.destroy_node()


def test_node_process_exits_2_with_clear_message(tmp_path):
    params = write_yaml(tmp_path, "/**:\n  ros__parameters:\n    max_angular_radps: -1.0\n")
    result = subprocess.run([sys.executable, "-m", "skyroad.common.tools.cmd_vel_gate", "--ros-args",
                             "--params-file", params], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "max_angular_radps" in result.stderr and "below the minimum" in result.stderr
    assert "Traceback" not in result.stderr


def test_runtime_sets_validated_value_unchanged(ros_context):
    node = CmdVelGate(context=ros_context)
    try:
        before = node.p.max_linear_mps
        for bad in (-1.0, 1e6, math.nan, math.inf):
            result = node.set_parameters([Parameter("max_linear_mps", value=bad)])[0]
            assert not result.successful and result.reason
            assert node.p.max_linear_mps == before
            assert node.get_parameter("max_linear_mps").value == before
        result = node.set_parameters([Parameter("rate_hz", value=50.0)])[0]
        assert not result.successful and "read-only" in result.reason
        assert node.set_parameters([Parameter("max_linear_mps", value=2)])[0].successful
        assert node.p.max_linear_mps == 2.0
        descriptor = node.describe_parameter("max_linear_mps")
        assert descriptor.floating_point_range[0].to_value == 100.0
        assert "m/s" in descriptor.description
    finally:
        node.destroy_node()


def test_runtime_set_over_the_parameter_service(ros_context):
    from rclpy.parameter_client import AsyncParameterClient
    gate = CmdVelGate(context=ros_context)
    client_node = rclpy.create_node("param_client", context=ros_context)
    executor = make_executor(ros_context)
    executor.add_node(gate)
    executor.add_node(client_node)
    try:
        client = AsyncParameterClient(client_node, "cmd_vel_gate")
        assert spin_until(executor, lambda: client.services_are_ready(), 10.0)
        future = client.set_parameters([Parameter("max_angular_radps", value=50.0)])
        assert spin_until(executor, future.done, 10.0)
        result = future.result().results[0]
        assert not result.successful and ("out of range" in result.reason or "above the maximum" in result.reason)
        assert gate.p.max_angular_radps == 2.0
    finally:
        executor.shutdown()
        gate.destroy_node()
        client_node.destroy_node()


def test_gate_stops_on_stale_input_reports_and_recovers(ros_context):
    gate = CmdVelGate(context=ros_context, parameter_overrides=[
        Parameter("rate_hz", value=50.0), Parameter("input_timeout_s", value=0.2)])
    probe = rclpy.create_node("probe", context=ros_context)
    outputs, diagnostics = [], []
    probe.create_subscription(Twist, "cmd_vel_out", outputs.append, RELIABLE_QOS)
    probe.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, RELIABLE_QOS)
    command = probe.create_publisher(Twist, "cmd_vel_in", RELIABLE_QOS)
    executor = make_executor(ros_context)
    executor.add_node(gate)
    executor.add_node(probe)
    moving = Twist()
    moving.linear.x = 9.0  # above the 5 m/s clip
    moving.angular.z = 0.5
    try:
        def feeding(predicate, timeout_s=5.0):
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                command.publish(moving)
                if spin_until(executor, predicate, 0.03):
                    return True
            return False

        assert feeding(lambda: outputs and outputs[-1].linear.x == 5.0)
        assert outputs[-1].angular.z == 0.5
        # Input stops: within the timeout (+ a period) the gate commands zero and says why.
        outputs.clear()
        assert spin_until(executor, lambda: len(outputs) > 20 and outputs[-1].linear.x == 0.0, 5.0)

        def warned():
            return any(s.level == b"\x01" and "stale" in s.message
                       for array in diagnostics for s in array.status)
        assert spin_until(executor, warned, 3.0)
        # A NaN command is rejected, not forwarded.
        bad = Twist()
        bad.linear.x = math.nan
        command.publish(bad)
        spin_until(executor, lambda: False, 0.2)
        assert all(math.isfinite(o.linear.x) for o in outputs)
        # Input returns: forwarding resumes.
        assert feeding(lambda: outputs[-1].linear.x == 5.0)
    finally:
        executor.shutdown()
        gate.destroy_node()
        probe.destroy_node()


def test_monitor_measures_rate_of_remapped_topic(ros_context):
    monitor = TopicMonitor(context=ros_context, cli_args=["--ros-args", "-r", "topic:=/watched"],
                           parameter_overrides=[Parameter("report_period_s", value=0.2)])
    probe = rclpy.create_node("probe", context=ros_context)
    publisher = probe.create_publisher(Twist, "/watched", RELIABLE_QOS)
    reports = []
    probe.create_subscription(DiagnosticArray, "/diagnostics", reports.append, RELIABLE_QOS)
    probe.create_timer(0.01, lambda: publisher.publish(Twist()))
    executor = make_executor(ros_context)
    executor.add_node(monitor)
    executor.add_node(probe)

    def measured_rate():
        for array in reports:
            for status in array.status:
                values = {kv.key: kv.value for kv in status.values}
                if values.get("topic") == "/watched" and float(values["rate_hz"]) > 50:
                    return True
        return False
    try:
        assert spin_until(executor, measured_rate, 8.0)
    finally:
        executor.shutdown()
        monitor.destroy_node()
        probe.destroy_node()


def test_use_sim_time_follows_clock(ros_context):
    node = CmdVelGate(context=ros_context, parameter_overrides=[Parameter("use_sim_time", value=True)])
    probe = rclpy.create_node("clock_source", context=ros_context)
    clock_publisher = probe.create_publisher(Clock, "/clock", 10)
    executor = make_executor(ros_context)
    executor.add_node(node)
    executor.add_node(probe)
    try:
        def clock_reached():
            clock_publisher.publish(Clock(clock=s_to_stamp(1234.5)))
            return abs(node.now_s() - 1234.5) < 1e-6
        assert spin_until(executor, clock_reached, 5.0)
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()


def test_input_silence_is_judged_on_sim_time_under_use_sim_time(ros_context):
    # the cmd_vel_gate's input watchdog (timeout input_timeout_s) under a paused sim clock: wall time
    # passes, sim time does not, so the input is not stale; one step of /clock past the timeout is
    node = CmdVelGate(context=ros_context, parameter_overrides=[Parameter("use_sim_time", value=True)])
    probe = rclpy.create_node("clock_and_cmd_source", context=ros_context)
    clock_publisher = probe.create_publisher(Clock, "/clock", 10)
    cmd_publisher = probe.create_publisher(Twist, "cmd_vel_in", RELIABLE_QOS)
    watchdog = node._input_watchdog
    timeout_s = watchdog.timeout_s
    executor = make_executor(ros_context)
    executor.add_node(node)
    executor.add_node(probe)
    try:
        def clock_at(t_s):
            def reached():
                clock_publisher.publish(Clock(clock=s_to_stamp(t_s)))
                return abs(node.now_s() - t_s) < 1e-6
            return reached
        assert spin_until(executor, clock_at(100.0), 5.0)
        assert spin_until(executor, lambda: cmd_publisher.publish(Twist()) or watchdog.status().messages > 0, 5.0)
        wall_pause_s = timeout_s + 0.3
        deadline = time.monotonic() + wall_pause_s
        while time.monotonic() < deadline:        # wall time passes, the sim clock stands still
            executor.spin_once(timeout_sec=0.02)
        assert not watchdog.is_stale(), watchdog.status()
        assert spin_until(executor, clock_at(100.0 + timeout_s + 0.1), 5.0)
        assert watchdog.is_stale(), watchdog.status()
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()


def test_stamp_conversions():
    assert stamp_to_s(s_to_stamp(12.000000001)) == pytest.approx(12.000000001)
    with pytest.raises(ValueError):
        s_to_stamp(math.nan)


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_node_process_shuts_down_cleanly_on_signal(signal_name):
    import signal as signal_module
    process = subprocess.Popen([sys.executable, "-m", "skyroad.common.tools.cmd_vel_gate"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(2.0)  # let it spin a while (timers firing) before the signal
        assert process.poll() is None, process.stdout.read()
        process.send_signal(getattr(signal_module, signal_name))
        assert process.wait(timeout=10) == 0
        output = process.stdout.read()
        assert "Traceback" not in output and "FATAL" not in output
    finally:
        if process.poll() is None:
            process.kill()

"""Node toolkit (the node layer: this module imports rclpy; cores never import it).

- `SkyroadNode`: an rclpy Node that declares its parameters from a tuple of `ParamSpec`
  (ParameterDescriptor with description and ranges), fails fast on invalid start-up values,
  rejects invalid runtime sets with a reason (value unchanged), keeps `self.p` current,
  publishes `/diagnostics` and owns input watchdogs.
- QoS profiles: SENSOR_QOS (best effort, shallow), RELIABLE_QOS, LATCHED_QOS (transient local).
- `run_node`: `main()` body with EventsExecutor and clean Ctrl-C / SIGTERM shutdown.
- `spin_until_quiet`: the lock-step half of an in-process simulation run: after the simulator
  advances, run callbacks until every node has handled what that step produced.
"""
from __future__ import annotations

import enum
import functools
import math
import os
import signal
import sys
import threading
import time
from typing import Dict, Optional, Sequence

import rclpy
from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)

from .params import (ParameterConfigError, ParamSpec, ParamValues, coerce_value,
                     validate_value)
from .watchdog import RECOVERED, STALE, InputWatchdog

# Sensor streams: best effort, keep the newest few (a late IMU sample is worth less than the next).
SENSOR_QOS = qos_profile_sensor_data
# Commands, estimates, plans: reliable, a short queue.
RELIABLE_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE, history=HistoryPolicy.KEEP_LAST)
# State that late joiners need (maps, zones, static markers): reliable + transient local.
LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL, history=HistoryPolicy.KEEP_LAST)

DIAGNOSTICS_TOPIC = "/diagnostics"


class DiagLevel(enum.IntEnum):
    OK = 0
    WARN = 1
    ERROR = 2
    STALE = 3


def stamp_to_s(stamp: TimeMsg) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def s_to_stamp(seconds: float) -> TimeMsg:
    if not math.isfinite(seconds):
        raise ValueError(f"cannot convert non-finite time {seconds} to a stamp")
    total_ns = int(round(seconds * 1e9))
    return TimeMsg(sec=total_ns // 1_000_000_000, nanosec=total_ns % 1_000_000_000)


def _descriptor(spec: ParamSpec) -> ParameterDescriptor:
    descriptor = ParameterDescriptor(description=spec.full_description(), read_only=spec.read_only)
    constraints = []
    if spec.choices:
        constraints.append("one of: " + ", ".join(map(str, spec.choices)))
    if spec.is_array and spec.length:
        constraints.append(f"{spec.length} elements")
    if not spec.allow_nan and spec.is_numeric:
        constraints.append("finite")
    descriptor.additional_constraints = "; ".join(constraints)
    # ROS ranges need both bounds; an open side becomes the type's extreme.
    if spec.type_name in ("float", "float[]") and (spec.min is not None or spec.max is not None):
        descriptor.floating_point_range = [FloatingPointRange(
            from_value=float(spec.min) if spec.min is not None else -sys.float_info.max,
            to_value=float(spec.max) if spec.max is not None else sys.float_info.max, step=0.0)]
    elif spec.type_name in ("int", "int[]") and (spec.min is not None or spec.max is not None):
        descriptor.integer_range = [IntegerRange(
            from_value=int(math.ceil(spec.min)) if spec.min is not None else -(2 ** 63),
            to_value=int(math.floor(spec.max)) if spec.max is not None else 2 ** 63 - 1, step=1)]
    return descriptor


def _as_parameter(spec: ParamSpec, value) -> Parameter:
    return Parameter(spec.name, value=coerce_value(spec, value))


class DiagnosticsReporter:
    """Keeps one DiagnosticStatus per component of a node; publishes all of them at
    `period_s` and at once when a component's level changes (like diagnostic_updater)."""

    def __init__(self, node: Node, period_s: float = 1.0):
        self._node = node
        self._publisher = node.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, RELIABLE_QOS)
        self._statuses: Dict[str, DiagnosticStatus] = {}
        self._timer = node.create_timer(period_s, self.publish)

    def _status_name(self, component: str) -> str:
        return f"{self._node.get_fully_qualified_name().lstrip('/')}: {component}"

    def update(self, component: str, level: DiagLevel, message: str, **values) -> None:
        previous = self._statuses.get(component)
        status = DiagnosticStatus(level=bytes([int(level)]), name=self._status_name(component),
                                  message=message, hardware_id=self._node.get_name())
        status.values = [KeyValue(key=str(k), value=_format_value(v)) for k, v in values.items()]
        self._statuses[component] = status
        if previous is None or previous.level != status.level:
            self.publish()

    def level(self, component: str) -> Optional[DiagLevel]:
        status = self._statuses.get(component)
        return None if status is None else DiagLevel(status.level[0])

    def publish(self) -> None:
        if not self._statuses:
            return
        array = DiagnosticArray()
        array.header.stamp = self._node.get_clock().now().to_msg()
        array.status = list(self._statuses.values())
        self._publisher.publish(array)


def _format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


class SkyroadNode(Node):
    """Base class of every skyroad node. Subclasses set `PARAMS` (tuple of ParamSpec)."""

    PARAMS: Sequence[ParamSpec] = ()
    # Subscription and timer callbacks of every SkyroadNode in this process run so far (the
    # /clock subscription of the time source included): spin_until_quiet tells from it whether a
    # spin ran anything, which the executor does not say.
    callbacks_run: int = 0

    def __init__(self, node_name: str, context=None, diagnostics_period_s: float = 1.0, **node_kwargs):
        super().__init__(node_name, context=context, **node_kwargs)
        self._specs = {spec.name: spec for spec in self.PARAMS}
        self.p = ParamValues(self._declare_specs())
        self.add_pre_set_parameters_callback(self._coerce_runtime_types)
        self.add_on_set_parameters_callback(self._validate_runtime_set)
        self.add_post_set_parameters_callback(self._after_runtime_set)
        self.diag = DiagnosticsReporter(self, diagnostics_period_s)
        self._watchdogs: Dict[str, InputWatchdog] = {}

    # ---- counted callbacks ------------------------------------------------------------
    # Called from Node.__init__ too (the time source subscribes to /clock there): class state only.
    def create_subscription(self, msg_type, topic, callback, qos_profile, **kwargs):
        return super().create_subscription(msg_type, topic, _counted(callback), qos_profile, **kwargs)

    def create_timer(self, timer_period_sec, callback, *args, **kwargs):
        return super().create_timer(timer_period_sec, _counted(callback), *args, **kwargs)

    # ---- parameters -------------------------------------------------------------------
    def _declare_specs(self) -> dict:
        overrides = getattr(self, "_parameter_overrides", {})
        values = {}
        for spec in self.PARAMS:
            if spec.name in overrides:
                # Validate what YAML / the command line gave before ROS sees it, so the error
                # names node, parameter, value and rule instead of a type-check traceback.
                given = overrides[spec.name].value
                reason = validate_value(spec, given)
                if reason:
                    raise ParameterConfigError(
                        f"{self.get_fully_qualified_name()}: parameter '{spec.name}' = {given!r} "
                        f"rejected at start-up: {reason}")
                overrides[spec.name] = _as_parameter(spec, given)
            try:
                parameter = self.declare_parameter(spec.name, coerce_value(spec, spec.default),
                                                   _descriptor(spec))
            except Exception as error:  # rclpy raises several exception types here
                raise ParameterConfigError(
                    f"{self.get_fully_qualified_name()}: parameter '{spec.name}' rejected at "
                    f"start-up: {error}") from error
            values[spec.name] = coerce_value(spec, parameter.value)
        return values

    def _coerce_runtime_types(self, parameters):
        # `ros2 param set node x 5` sends an INTEGER for a float parameter; accept it as 5.0.
        return [_as_parameter(self._specs[p.name], p.value) if p.name in self._specs else p
                for p in parameters]

    def _validate_runtime_set(self, parameters) -> SetParametersResult:
        for parameter in parameters:
            spec = self._specs.get(parameter.name)
            if spec is None:
                continue
            reason = validate_value(spec, parameter.value)
            if reason:
                self.get_logger().warning(f"rejected set of '{parameter.name}' = {parameter.value!r}: {reason}")
                return SetParametersResult(successful=False, reason=f"{parameter.name}: {reason}")
            reason = self.check_params({**self.p.as_dict(), parameter.name: parameter.value})
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _after_runtime_set(self, parameters) -> None:
        changed = {p.name: coerce_value(self._specs[p.name], p.value)
                   for p in parameters if p.name in self._specs}
        if not changed or not hasattr(self, "p"):
            return  # declaration time: self.p is built from the declared values
        self.p._update(changed)
        self.on_params_changed(changed)

    def check_params(self, values: dict) -> Optional[str]:
        """Cross-parameter rules (e.g. min < max). Return a reason to reject, else None."""
        return None

    def on_params_changed(self, changed: dict) -> None:
        """Hook: called after an accepted runtime parameter change."""

    # ---- watchdogs / time --------------------------------------------------------------
    def now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def uses_sim_time(self) -> bool:
        return bool(self.get_parameter("use_sim_time").value)

    def freshness_clock(self):
        """The clock that input silences are measured on: the steady clock on a real vehicle,
        the node's ROS clock (= /clock) under use_sim_time. A simulator may run slower or faster
        than the wall (lock-stepped runs, heavy worlds on 2 cores): there "0.2 s without odometry"
        means 0.2 s of simulated time; judging it by the wall would stop the car whenever the host
        stalls and make identical seeded runs differ."""
        return self.now_s if self.uses_sim_time() else time.monotonic

    def add_watchdog(self, name: str, timeout_s: float, max_stamp_age_s: Optional[float] = None) -> InputWatchdog:
        watchdog = InputWatchdog(name, timeout_s, max_stamp_age_s, steady_clock=self.freshness_clock())
        self._watchdogs[name] = watchdog
        return watchdog

    def check_watchdogs(self) -> bool:
        """Polls every watchdog, logs each stale/recovered edge once, reports each on
        /diagnostics. Returns True when all inputs are fresh."""
        all_fresh = True
        now_s = self.now_s()
        for name, watchdog in self._watchdogs.items():
            edge = watchdog.poll(now_s)
            status = watchdog.status(now_s)
            if edge == STALE:
                self.get_logger().warning(f"input '{name}' stale: {status.reason}")
            elif edge == RECOVERED:
                self.get_logger().info(f"input '{name}' recovered")
            all_fresh &= not status.stale
            self.diag.update(f"input {name}", DiagLevel.WARN if status.stale else DiagLevel.OK,
                             status.reason, silence_s=status.silence_s, stamp_age_s=status.stamp_age_s,
                             messages=status.messages, rejected=status.rejected)
        return all_fresh


def _counted(callback):
    @functools.wraps(callback)
    def run(*args, **kwargs):
        SkyroadNode.callbacks_run += 1
        return callback(*args, **kwargs)
    return run


def spin_until_quiet(executor, nodes: Sequence[Node] = (), quiet_s: float = 0.0004, quiet_spins: int = 2,
                     max_callbacks: int = 100000, max_wait_s: float = 10.0) -> int:
    """Run callbacks until nothing is left to run; returns how many SkyroadNode callbacks ran.

    Quiet = `quiet_spins` spin_once calls in a row that ran no SkyroadNode callback and waited
    their whole `quiet_s` (nothing else ready either). Judging by the callback count, not by how
    long a spin took: a planner cycle of 40 ms is work, not quiet, and a loaded host stretches
    every callback (the old timing-only test ended the step early there, and the next chunk's
    stale odometry stopped the car). Every node in the executor should be a SkyroadNode: a plain
    Node's callbacks are not counted, and two slow ones in a row look like quiet (measured: the
    car's speed command then reached the simulator one chunk late). Nor is it quiet while a timer
    of `nodes` is due (a guard: a timer the executor has not fired yet must still fire in this
    step). `max_callbacks` bounds a publish/subscribe loop between nodes and `max_wait_s` a due
    timer the executor never runs (RuntimeError for both).
    """
    quiet = 0
    ran_total = 0
    t_start = time.perf_counter()
    timers = [t for n in nodes for t in n.timers]
    while quiet < quiet_spins or any(_due(t) for t in timers):
        before = SkyroadNode.callbacks_run
        t0 = time.perf_counter()
        executor.spin_once(timeout_sec=quiet_s)
        ran = SkyroadNode.callbacks_run - before
        ran_total += ran
        if ran or time.perf_counter() - t0 < quiet_s:
            quiet = 0
        else:
            quiet += 1
        if ran_total > max_callbacks:
            raise RuntimeError(f"spin_until_quiet: {ran_total} callbacks and still not quiet "
                               "(nodes publishing to each other in a loop?)")
        if time.perf_counter() - t_start > max_wait_s:
            due = [t for t in timers if _due(t)]
            raise RuntimeError(f"spin_until_quiet: {len(due)} timer(s) due and not run for {max_wait_s} s "
                               "(is every node in `nodes` added to the executor?)")
    return ran_total


def destroy_nodes(nodes, context=None) -> None:
    """Tear down an in-process composition: destroy every node (one failing does not keep the
    others alive), then shut `context` down if given."""
    for node in nodes:
        try:
            node.destroy_node()
        except Exception:   # keep destroying the others
            pass
    if context is not None:
        rclpy.try_shutdown(context=context)


def _due(timer) -> bool:
    """A started timer whose next call time has come (on its own clock: sim time under use_sim_time)."""
    if timer.is_canceled():
        return False
    until_ns = timer.time_until_next_call()
    return until_ns is not None and until_ns <= 0


def make_executor(context=None):
    """EventsExecutor (2-5x faster than the default one, measured) unless
    SKYROAD_EXECUTOR=single asks for rclpy's SingleThreadedExecutor."""
    if os.environ.get("SKYROAD_EXECUTOR", "events") == "single":
        return SingleThreadedExecutor(context=context)
    from rclpy.experimental import EventsExecutor
    return EventsExecutor(context=context)


def run_node(node_class, args=None, **node_kwargs) -> int:
    """Body of every node's `main()`: init, spin, clean shutdown on Ctrl-C / SIGTERM.
    Returns (and exits with) 0 on a clean shutdown, 2 on a configuration error."""
    context = rclpy.context.Context()
    # Our own SIGINT/SIGTERM handling: rclpy's handler raises KeyboardInterrupt inside whatever
    # callback runs (a FATAL log line) and leaves SIGTERM at its default (killed, exit -15).
    # Here both end the spin loop below and the node is destroyed cleanly; exit code 0.
    rclpy.init(args=args, context=context, signal_handler_options=SignalHandlerOptions.NO)
    stop_requested = []  # set by the handler; the loop checks it between callbacks
    previous_handlers = {}
    if threading.current_thread() is threading.main_thread():  # signal.signal needs the main thread
        previous_handlers = {sig: signal.signal(sig, lambda signum, _frame: stop_requested.append(signum))
                             for sig in (signal.SIGINT, signal.SIGTERM)}
    node = None
    exit_code = 0
    try:
        node = node_class(context=context, **node_kwargs)
        executor = make_executor(context)
        executor.add_node(node)
        # Not executor.spin(): with rclpy 7.1.6 EventsExecutor.spin() runs no timers and does
        # not return on shutdown (measured); spin_once in a loop does both.
        while context.ok() and not stop_requested:
            executor.spin_once(timeout_sec=0.1)
    except ParameterConfigError as error:
        print(f"[{node_class.__name__}] configuration error: {error}", file=sys.stderr)
        exit_code = 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)
    if exit_code:
        sys.exit(exit_code)  # console scripts may ignore main()'s return value
    return exit_code

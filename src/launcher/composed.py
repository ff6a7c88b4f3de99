"""Composed mode (`--composed`): every node in this one process, on one rclpy executor.

Each `<node pkg exec>` must be a Python console script (`module:function`); the node class is
the module's `NODE_CLASS` attribute, else the one rclpy Node subclass the module defines. It
is built as `NodeClass(context=ctx, cli_args=[...], use_global_arguments=False)`, where
`cli_args` are exactly the `--ros-args` the process mode would pass (name, namespace,
parameter files, `-p`, remappings), so both modes configure a node identically.

What one process cannot honour is refused or reported, never dropped: `<env>` and `args`
are errors (they belong to a process); `respawn`, `on_exit`, `output` and the signal timeouts
have no effect and are listed once at start-up.

Ctrl-C / SIGTERM stop the executor, and so does a node shutting the context down (how an
in-process node, e.g. a simulation reaching its duration, ends the launch); exit code 0 on a clean stop, 2 when a node refuses its
configuration (ParameterConfigError, e.g. an out-of-range YAML value), 1 when a node fails
to construct or a callback raises.
"""
from __future__ import annotations

import importlib
import inspect
import signal
import sys
import traceback
from typing import IO, List, Optional, Tuple

from .description import NodeSpec
from .errors import LaunchError
from .packages import python_entry_points


def _spec_error(spec: NodeSpec, message: str) -> LaunchError:
    file, _, line = spec.source.rpartition(":")
    return LaunchError(message, file or None, int(line) if line.isdigit() else None)


def node_class_for(spec: NodeSpec):
    """The rclpy Node subclass behind `<node pkg exec>` (imports its module)."""
    entry_point = python_entry_points(spec.package).get(spec.executable)
    if entry_point is None:
        raise _spec_error(spec, f"--composed: '{spec.package} {spec.executable}' is not a Python console "
                                "script, so it cannot run inside this process")
    module_name = entry_point.partition(":")[0]
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # an import error of the node module, shown with its cause
        raise _spec_error(spec, f"--composed: cannot import {module_name}: {type(error).__name__}: {error}") \
            from None
    from rclpy.node import Node
    explicit = getattr(module, "NODE_CLASS", None)
    if explicit is not None:
        return explicit
    candidates = [obj for _, obj in inspect.getmembers(module, inspect.isclass)
                  if issubclass(obj, Node) and obj.__module__ == module.__name__]
    if len(candidates) != 1:
        names = ", ".join(c.__name__ for c in candidates) or "none"
        raise _spec_error(spec, f"--composed: {module_name} must define exactly one rclpy Node subclass or "
                                f"set NODE_CLASS (found: {names})")
    return candidates[0]


def _ignored_attributes(spec: NodeSpec) -> List[str]:
    ignored = []
    if spec.respawn:
        ignored.append("respawn")
    if spec.shutdown_on_exit:
        ignored.append("on_exit")
    return ignored


def prepare(nodes: List[NodeSpec]) -> List[Tuple[NodeSpec, type]]:
    """Check every node can be composed and import its class, before rclpy starts."""
    prepared = []
    for spec in nodes:
        if spec.env:
            raise _spec_error(spec, f"--composed: <env> of {spec.label} needs its own process (variables "
                                    f"{', '.join(spec.env)}); run without --composed")
        if spec.arguments:
            raise _spec_error(spec, f"--composed: args={' '.join(spec.arguments)!r} of {spec.label} are "
                                    "command-line arguments of a process; run without --composed")
        prepared.append((spec, node_class_for(spec)))
    return prepared


def run_composed(nodes: List[NodeSpec], stderr: Optional[IO] = None) -> int:
    stderr = stderr or sys.stderr
    prepared = prepare(nodes)

    def say(message: str) -> None:
        stderr.write(f"[launch] {message}\n")
        stderr.flush()

    if not prepared:
        say("no node to launch")
        return 0
    for spec, _ in prepared:
        ignored = _ignored_attributes(spec)
        if ignored:
            say(f"{spec.label}: {', '.join(ignored)} has no effect in --composed mode ({spec.source})")

    import rclpy
    from rclpy.context import Context
    from rclpy.executors import ExternalShutdownException
    from rclpy.signals import SignalHandlerOptions

    from skyroad.common.params import ParameterConfigError
    from skyroad.common.ros import make_executor

    stop = {"requested": False}

    def on_signal(_signum, _frame):
        if stop["requested"]:
            raise KeyboardInterrupt  # second Ctrl-C: interrupt even a callback that hangs
        stop["requested"] = True

    context = Context()
    # Our own handlers: rclpy's would shut the context down under the executor.
    rclpy.init(args=[], context=context, signal_handler_options=SignalHandlerOptions.NO)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    created = []
    executor = None
    exit_code = 0
    try:
        executor = make_executor(context)
        for spec, node_class in prepared:
            if stop["requested"]:
                break
            try:
                node = node_class(context=context, cli_args=spec.ros_arguments(), use_global_arguments=False)
            except ParameterConfigError as error:
                say(f"{spec.label}: configuration error: {error} ({spec.source})")
                exit_code = 2
                break
            except Exception as error:
                say(f"{spec.label}: failed to start: {type(error).__name__}: {error} ({spec.source})")
                traceback.print_exc(file=stderr)
                exit_code = 1
                break
            created.append(node)
            executor.add_node(node)
            say(f"started {spec.label} as {node.get_fully_qualified_name()} ({node_class.__name__}, in-process)")
        if exit_code == 0:
            try:
                while not stop["requested"] and context.ok():
                    executor.spin_once(timeout_sec=0.1)
            except ExternalShutdownException:
                pass  # a node shut the context down: the way an in-process node ends the launch
            say("shutting down (signal received)" if stop["requested"] else "shutting down (context shut down)")
    except KeyboardInterrupt:
        say("interrupted again: stopping at once")
    except Exception as error:
        say(f"composed run failed: {type(error).__name__}: {error}")
        traceback.print_exc(file=stderr)
        exit_code = 1
    finally:
        for node in created:
            try:
                node.destroy_node()
            except Exception as error:  # keep destroying the others
                say(f"destroying {node.get_name()} failed: {error}")
        if executor is not None:
            executor.shutdown()
        rclpy.try_shutdown(context=context)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return exit_code

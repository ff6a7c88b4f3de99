"""Process mode (the default, like `ros2 launch`): every node its own process.

- command line: `<executable> [args] --ros-args -r __node:=NAME -r __ns:=/NS
  --params-file F -p name:=value -r from:=to`, environment = ours + the node's <env>;
- output: each line prefixed with `[label]`; `output="screen"` prints stdout and stderr,
  `"log"` (the ros2 launch default) writes stdout only to `<log dir>/<label>.log` and stderr to
  both, `"both"` prints and logs everything;
- Ctrl-C / SIGTERM: SIGINT to every node, SIGTERM after the node's `sigterm_timeout` (5 s),
  SIGKILL after a further `sigkill_timeout` (5 s); a second Ctrl-C escalates at once;
- `respawn="true"`: a node that exits while the launch runs starts again after
  `respawn_delay` seconds (at most `respawn_max_retries` times, -1 = no limit);
- `on_exit="shutdown"`: when that node exits, the whole launch shuts down;
- the launch ends when every node has exited (or after a shutdown). Exit code 0 when no node
  failed, 1 when one did: it exited non-zero (or by a signal) other than through our shutdown
  and was not respawned, or it exited non-zero on our SIGINT/SIGTERM (a crash while stopping).
  A node we had to SIGKILL is reported but, like ros2 launch, not counted as failed.
"""
from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Dict, List, Optional

from .description import NodeSpec
from .errors import LaunchError
from .packages import find_executable
from .substitutions import SubstitutionError

# Exit statuses that mean "stopped by the signal we sent" (negative: killed by that signal;
# 128+N: a shell or Python's default handler re-raising it).
_CLEAN_STOP_CODES = {0, -signal.SIGINT, -signal.SIGTERM, 128 + signal.SIGINT, 128 + signal.SIGTERM}
POLL_PERIOD_S = 0.05


def default_log_dir(environ=None) -> Path:
    """ROS's log folder convention: ROS_LOG_DIR, else ROS_HOME/log, else ~/.ros/log."""
    environ = os.environ if environ is None else environ
    if environ.get("ROS_LOG_DIR"):
        base = Path(environ["ROS_LOG_DIR"])
    elif environ.get("ROS_HOME"):
        base = Path(environ["ROS_HOME"]) / "log"
    else:
        base = Path.home() / ".ros" / "log"
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H-%M-%S-%f")
    return base / f"skyroad_launch_{stamp}_{os.getpid()}"


def resolve_command(node: NodeSpec) -> List[str]:
    try:
        executable = find_executable(node.package, node.executable)
    except SubstitutionError as error:
        file, _, line = node.source.rpartition(":")
        raise LaunchError(str(error), file or None, int(line) if line.isdigit() else None) from None
    return list(executable.command) + list(node.arguments) + node.ros_arguments()


@dataclass
class _Managed:
    spec: NodeSpec
    command: List[str]
    process: Optional[subprocess.Popen] = None
    readers: List[threading.Thread] = field(default_factory=list)
    starts: int = 0
    respawn_at: Optional[float] = None     # monotonic time of the next start
    finished: bool = False                 # exited and will not start again
    stop_sent_at: Optional[float] = None
    escalation: int = 0                    # 0 SIGINT sent, 1 SIGTERM sent, 2 SIGKILL sent
    exit_codes: List[int] = field(default_factory=list)


class ProcessLauncher:
    def __init__(self, nodes: List[NodeSpec], stdout: IO = None, stderr: IO = None,
                 log_dir: Optional[Path] = None, environ: Optional[Dict[str, str]] = None):
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.environ = dict(os.environ if environ is None else environ)
        self._log_dir = log_dir
        self._write_lock = threading.Lock()
        self._signals = 0
        self._shutdown_started_at: Optional[float] = None
        self._shutdown_reason = ""
        self.failures: List[str] = []
        # Resolve every executable before starting anything: a typo fails the whole launch
        # with its file:line instead of leaving half the nodes running.
        self.managed = [_Managed(spec, resolve_command(spec)) for spec in nodes]

    # ---- output ------------------------------------------------------------------------
    def say(self, message: str) -> None:
        with self._write_lock:
            self.stderr.write(f"[launch] {message}\n")
            self.stderr.flush()

    @property
    def log_dir(self) -> Path:
        if self._log_dir is None:
            self._log_dir = default_log_dir(self.environ)
        self._log_dir.mkdir(parents=True, exist_ok=True)
        return self._log_dir

    def _pump(self, stream, label: str, to_screen: Optional[IO], log_path: Optional[Path]) -> None:
        log_file = open(log_path, "a", encoding="utf-8") if log_path is not None else None
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if to_screen is not None:
                    with self._write_lock:
                        to_screen.write(f"[{label}] {line}\n")
                        to_screen.flush()
                if log_file is not None:
                    log_file.write(line + "\n")
                    log_file.flush()
        except ValueError:
            pass  # stream closed under us at exit
        finally:
            stream.close()
            if log_file is not None:
                log_file.close()

    # ---- processes ---------------------------------------------------------------------
    def _start(self, item: _Managed) -> None:
        spec = item.spec
        env = dict(self.environ)
        env.update(spec.env)
        env.setdefault("PYTHONUNBUFFERED", "1")  # line-by-line output from Python nodes
        try:
            process = subprocess.Popen(item.command, env=env, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       start_new_session=True)
        except OSError as error:
            self.failures.append(f"{spec.label}: cannot start {item.command[0]}: {error}")
            self.say(f"{spec.label}: cannot start {item.command[0]}: {error} ({spec.source})")
            item.finished = True
            return
        item.process = process
        item.starts += 1
        log_path = None
        if spec.output in ("log", "both"):
            log_path = self.log_dir / f"{spec.label}.log"
        stdout_screen = self.stdout if spec.output in ("screen", "both") else None
        item.readers = [
            threading.Thread(target=self._pump, args=(process.stdout, spec.label, stdout_screen, log_path),
                             daemon=True),
            threading.Thread(target=self._pump, args=(process.stderr, spec.label, self.stderr, log_path),
                             daemon=True),
        ]
        for reader in item.readers:
            reader.start()
        again = f" (respawn {item.starts - 1})" if item.starts > 1 else ""
        where = f", stdout in {log_path}" if spec.output == "log" else ""
        self.say(f"started {spec.label} [pid {process.pid}]{again}{where}")

    def _signal(self, item: _Managed, sig: int) -> None:
        if item.process is None or item.process.poll() is not None:
            return
        try:
            os.killpg(item.process.pid, sig)  # its own session: reach what it started too
        except (ProcessLookupError, PermissionError):
            try:
                item.process.send_signal(sig)
            except ProcessLookupError:
                pass

    def _handle_signal(self, signum, _frame) -> None:
        self._signals += 1

    def begin_shutdown(self, reason: str) -> None:
        if self._shutdown_started_at is not None:
            return
        self._shutdown_started_at = time.monotonic()
        self._shutdown_reason = reason
        self.say(f"shutting down ({reason})")
        for item in self.managed:
            item.respawn_at = None
            if item.process is not None and item.process.poll() is None:
                item.stop_sent_at = time.monotonic()
                self._signal(item, signal.SIGINT)
            else:
                item.finished = True

    def _escalate(self, now: float, force: bool) -> None:
        for item in self.managed:
            if item.process is None or item.process.poll() is not None or item.stop_sent_at is None:
                continue
            waited = now - item.stop_sent_at
            if item.escalation == 0 and (force or waited >= item.spec.sigterm_timeout_s):
                self.say(f"{item.spec.label} still running {waited:.1f} s after SIGINT: sending SIGTERM")
                self._signal(item, signal.SIGTERM)
                item.escalation, item.stop_sent_at = 1, now
            elif item.escalation == 1 and (force or waited >= item.spec.sigkill_timeout_s):
                self.say(f"{item.spec.label} still running {waited:.1f} s after SIGTERM: sending SIGKILL")
                self._signal(item, signal.SIGKILL)
                item.escalation, item.stop_sent_at = 2, now

    def _on_exit(self, item: _Managed, code: int, now: float) -> None:
        for reader in item.readers:
            reader.join(timeout=2.0)  # flush its last lines before the exit message
        item.exit_codes.append(code)
        spec = item.spec
        described = f"signal {-code}" if code < 0 else f"code {code}"
        if self._shutdown_started_at is not None:
            item.finished = True
            if item.escalation == 2:
                self.say(f"{spec.label} killed (SIGKILL) after not stopping on SIGINT/SIGTERM")
            elif code in _CLEAN_STOP_CODES:
                self.say(f"{spec.label} stopped ({described})")
            else:
                self.failures.append(f"{spec.label} exited with {described} while stopping")
                self.say(f"{spec.label} exited with {described} while stopping ({spec.source})")
            return
        if spec.respawn and (spec.respawn_max_retries < 0 or item.starts <= spec.respawn_max_retries):
            item.respawn_at = now + spec.respawn_delay_s
            self.say(f"{spec.label} exited with {described}: respawning in {spec.respawn_delay_s:g} s")
            return
        item.finished = True
        if code != 0:
            self.failures.append(f"{spec.label} exited with {described}")
            self.say(f"{spec.label} exited with {described} ({spec.source})")
        else:
            self.say(f"{spec.label} exited cleanly")
        if spec.shutdown_on_exit:
            self.begin_shutdown(f"{spec.label} exited and has on_exit=\"shutdown\"")

    def run(self) -> int:
        if not self.managed:
            self.say("no node to launch")
            return 0
        previous = {sig: signal.signal(sig, self._handle_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        handled_signals = 0
        try:
            for item in self.managed:
                if self._signals:
                    break
                self._start(item)
            while True:
                now = time.monotonic()
                if self._signals > handled_signals:
                    if handled_signals == 0:
                        self.begin_shutdown("signal received")
                    else:
                        self.say("signal received again: escalating")
                        self._escalate(now, force=True)
                    handled_signals = self._signals
                for item in self.managed:
                    if item.process is not None and not item.finished and item.respawn_at is None:
                        code = item.process.poll()
                        if code is not None:
                            self._on_exit(item, code, now)
                    if item.respawn_at is not None and now >= item.respawn_at \
                            and self._shutdown_started_at is None:
                        item.respawn_at = None
                        self._start(item)
                    if item.process is None and self._shutdown_started_at is not None:
                        item.finished = True  # never started: shutdown came first
                if self._shutdown_started_at is not None:
                    self._escalate(now, force=False)
                if all(item.finished for item in self.managed):
                    break
                time.sleep(POLL_PERIOD_S)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for item in self.managed:  # never leave a node behind, whatever went wrong here
                if item.process is not None and item.process.poll() is None:
                    self._signal(item, signal.SIGKILL)
                    item.process.wait()
        if self.failures:
            self.say("failed: " + "; ".join(self.failures))
            return 1
        return 0

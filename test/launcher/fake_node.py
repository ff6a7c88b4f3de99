"""Test-only stand-in for a node process (no rclpy, starts in milliseconds).

usage: fake_node STATE_FILE MODE [--ros-args ...]
Each start appends "start" to STATE_FILE and prints its arguments and $FAKE_NODE_ENV.
MODE: crash:N  exit 3 on the first N starts, later starts wait for SIGINT
      exit:CODE  exit with CODE at once
      wait       wait for SIGINT (then exit 0)
      ignore_sigint  ignore SIGINT (only SIGTERM/SIGKILL stop it)
"""
import os
import signal
import sys
import time


def main() -> int:
    state_file, mode = sys.argv[1], sys.argv[2]
    with open(state_file, "a", encoding="utf-8") as handle:
        handle.write("start\n")
    with open(state_file, encoding="utf-8") as handle:
        starts = handle.read().count("start")
    print(f"fake_node start={starts} mode={mode} argv={sys.argv[3:]} env={os.environ.get('FAKE_NODE_ENV')}",
          flush=True)
    print("fake_node stderr line", file=sys.stderr, flush=True)
    if mode.startswith("exit:"):
        return int(mode.split(":")[1])
    if mode.startswith("crash:") and starts <= int(mode.split(":")[1]):
        return 3
    stop = {"now": False}

    def on_sigint(_signum, _frame):
        stop["now"] = True

    signal.signal(signal.SIGINT, signal.SIG_IGN if mode == "ignore_sigint" else on_sigint)
    with open(state_file, "a", encoding="utf-8") as handle:
        handle.write("running\n")
    while not stop["now"]:
        time.sleep(0.02)
    with open(state_file, "a", encoding="utf-8") as handle:
        handle.write("stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

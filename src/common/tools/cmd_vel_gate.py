"""cmd_vel_gate: the last line before the vehicle's velocity input.

Forwards `cmd_vel_in` to `cmd_vel_out` at a fixed rate, clipped to the configured limits;
when the input goes stale (publisher dead, link lost) or carries NaN/Inf it publishes a zero
Twist (stop / hover) and reports it on /diagnostics, and resumes when fresh input returns.
"""
from __future__ import annotations

import math

from geometry_msgs.msg import Twist

from skyroad.common.params import ParamSpec
from skyroad.common.ros import RELIABLE_QOS, DiagLevel, SkyroadNode, run_node


def _finite_twist(msg: Twist) -> bool:
    return all(math.isfinite(v) for v in (msg.linear.x, msg.linear.y, msg.linear.z,
                                          msg.angular.x, msg.angular.y, msg.angular.z))


def _clip(value: float, limit: float) -> float:
    return max(-limit, min(limit, value))


class CmdVelGate(SkyroadNode):
    PARAMS = (
        ParamSpec("rate_hz", 20.0, "output rate", min=1.0, max=1000.0, unit="Hz", read_only=True),
        ParamSpec("input_timeout_s", 0.5, "input older than this is stale -> zero command",
                  min=0.01, max=10.0, unit="s"),
        ParamSpec("max_linear_mps", 5.0, "clip of each linear component", min=0.0, max=100.0, unit="m/s"),
        ParamSpec("max_angular_radps", 2.0, "clip of each angular component", min=0.0, max=20.0, unit="rad/s"),
    )

    def __init__(self, context=None, **node_kwargs):
        super().__init__("cmd_vel_gate", context=context, **node_kwargs)
        self._last_input = Twist()
        self._input_watchdog = self.add_watchdog("cmd_vel_in", timeout_s=self.p.input_timeout_s)
        self._publisher = self.create_publisher(Twist, "cmd_vel_out", RELIABLE_QOS)
        self.create_subscription(Twist, "cmd_vel_in", self._on_input, RELIABLE_QOS)
        self.create_timer(1.0 / self.p.rate_hz, self._on_timer)

    def on_params_changed(self, changed: dict) -> None:
        if "input_timeout_s" in changed:
            self._input_watchdog.timeout_s = changed["input_timeout_s"]

    def _on_input(self, msg: Twist) -> None:
        if not _finite_twist(msg):
            self._input_watchdog.reject()
            self.diag.update("command", DiagLevel.WARN, "non-finite cmd_vel_in rejected")
            return
        self._last_input = msg
        self._input_watchdog.feed()

    def _on_timer(self) -> None:
        out = Twist()
        if self.check_watchdogs():
            lin, ang = self.p.max_linear_mps, self.p.max_angular_radps
            src = self._last_input
            out.linear.x, out.linear.y, out.linear.z = (_clip(src.linear.x, lin), _clip(src.linear.y, lin),
                                                        _clip(src.linear.z, lin))
            out.angular.x, out.angular.y, out.angular.z = (_clip(src.angular.x, ang), _clip(src.angular.y, ang),
                                                           _clip(src.angular.z, ang))
            self.diag.update("command", DiagLevel.OK, "forwarding")
        else:
            self.diag.update("command", DiagLevel.WARN, "input stale: commanding zero velocity")
        self._publisher.publish(out)


def main(args=None):
    run_node(CmdVelGate, args)


if __name__ == "__main__":
    main()

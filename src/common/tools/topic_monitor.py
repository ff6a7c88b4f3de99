"""topic_monitor: measures a topic's rate and header-stamp latency, reports on /diagnostics.

Remap `topic` to the topic to watch and set `message_type` ("pkg/msg/Type"). Below
`min_rate_hz` (or silent for `timeout_s`) it reports WARN, so a launch file can watch any
stream the stack depends on.
"""
from __future__ import annotations

import importlib
import time

from skyroad.common.params import ParamSpec, ParameterConfigError
from skyroad.common.rate import RateWindow
from skyroad.common.ros import SENSOR_QOS, DiagLevel, SkyroadNode, run_node, stamp_to_s


def import_message_type(type_name: str):
    """'geometry_msgs/msg/Twist' (or 'geometry_msgs/Twist') -> the message class."""
    parts = type_name.split("/")
    if len(parts) == 2:
        parts = [parts[0], "msg", parts[1]]
    if len(parts) != 3 or parts[1] != "msg" or not all(parts):
        raise ValueError(f"message type {type_name!r} is not of the form pkg/msg/Type")
    try:
        return getattr(importlib.import_module(f"{parts[0]}.msg"), parts[2])
    except (ImportError, AttributeError) as error:
        raise ValueError(f"message type {type_name!r} not found: {error}") from None


class TopicMonitor(SkyroadNode):
    PARAMS = (
        ParamSpec("message_type", "geometry_msgs/msg/Twist", "type of the watched topic",
                  read_only=True),
        ParamSpec("window_s", 2.0, "statistics window", min=0.1, max=60.0, unit="s", read_only=True),
        ParamSpec("min_rate_hz", 0.0, "WARN below this rate (0: any rate is fine)", min=0.0,
                  max=100000.0, unit="Hz"),
        ParamSpec("timeout_s", 1.0, "WARN when silent this long", min=0.01, max=60.0, unit="s"),
        ParamSpec("report_period_s", 0.5, "how often the statistics are published", min=0.05,
                  max=10.0, unit="s", read_only=True),
    )

    def __init__(self, context=None, **node_kwargs):
        super().__init__("topic_monitor", context=context, **node_kwargs)
        try:
            message_class = import_message_type(self.p.message_type)
        except ValueError as error:
            raise ParameterConfigError(f"{self.get_fully_qualified_name()}: parameter "
                                       f"'message_type': {error}") from None
        self._has_header = "header" in message_class.get_fields_and_field_types()
        self._window = RateWindow(self.p.window_s)
        self._topic = self.resolve_topic_name("topic")
        self.create_subscription(message_class, "topic", self._on_message, SENSOR_QOS)
        self.create_timer(self.p.report_period_s, self._report)

    def _on_message(self, msg) -> None:
        latency_s = self.now_s() - stamp_to_s(msg.header.stamp) if self._has_header else None
        self._window.add(time.monotonic(), latency_s)

    def _report(self) -> None:
        now = time.monotonic()
        rate_hz = self._window.rate_hz(now)
        p50, p99 = self._window.latency_percentiles_s(now)
        values = dict(topic=self._topic, rate_hz=rate_hz, messages=self._window.total,
                      latency_p50_ms=p50 * 1e3, latency_p99_ms=p99 * 1e3)
        silence_s = now - self._window.last_arrival_s if self._window.total else float("inf")
        if silence_s > self.p.timeout_s:
            level, message = DiagLevel.WARN, f"no message for {silence_s:.2f} s"
        elif rate_hz < self.p.min_rate_hz:
            level, message = DiagLevel.WARN, f"rate {rate_hz:.1f} Hz below {self.p.min_rate_hz:.1f} Hz"
        else:
            level, message = DiagLevel.OK, f"{rate_hz:.1f} Hz"
        self.diag.update(self._topic, level, message, **values)


def main(args=None):
    run_node(TopicMonitor, args)


if __name__ == "__main__":
    main()

"""Test-only node module for --composed: counts timer ticks, then shuts the context down
(the way an in-process node ends a composed launch, e.g. a simulation reaching its duration)."""
from rclpy.node import Node


class SelfStoppingNode(Node):
    ticks_before_stop = 5

    def __init__(self, context=None, **node_kwargs):
        super().__init__("self_stopping", context=context, **node_kwargs)
        self.ticks = 0
        self.declare_parameter("label", "unset")
        self.create_timer(0.02, self._tick)

    def _tick(self):
        self.ticks += 1
        SelfStoppingNode.seen.append((self.get_fully_qualified_name(), self.get_parameter("label").value,
                                      self.ticks))
        if self.ticks >= self.ticks_before_stop:
            self.context.try_shutdown()


SelfStoppingNode.seen = []


def main(args=None):  # pragma: no cover - only the class is used (composed)
    raise SystemExit("test-only module")

"""spin_until_quiet, the lock-step half of in-process simulation runs, over real DDS (EventsExecutor)."""
import time

import pytest
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock
from std_msgs.msg import Int32

from skyroad.common.ros import RELIABLE_QOS, SkyroadNode, make_executor, s_to_stamp, spin_until_quiet


class _Relay(SkyroadNode):
    """Takes an Int32 on `inp`, works `work_s` (a loaded host's slow callback), republishes it +1."""

    def __init__(self, name, inp, out, work_s, context):
        super().__init__(name, context=context)
        self.pub = self.create_publisher(Int32, out, RELIABLE_QOS)
        self.work_s = work_s
        self.create_subscription(Int32, inp, self.on_msg, RELIABLE_QOS)

    def on_msg(self, msg):
        deadline = time.perf_counter() + self.work_s
        while time.perf_counter() < deadline:   # busy, as a planner cycle is
            pass
        self.pub.publish(Int32(data=msg.data + 1))


def _discover(executor):
    for _ in range(30):
        executor.spin_once(timeout_sec=0.01)


def test_a_chain_of_slow_callbacks_completes_in_one_step(ros_context):
    """Four hops of 3 ms each (well over the 0.4 ms quiet window): the old rule, two spins that each
    took >= 0.4 ms, ended the step after two hops; counted callbacks carry it to the end."""
    source = SkyroadNode("lockstep_source", context=ros_context)
    sink = SkyroadNode("lockstep_sink", context=ros_context)
    relays = [_Relay(f"lockstep_relay_{k}", f"/lockstep/hop{k}", f"/lockstep/hop{k + 1}", 0.003, ros_context)
              for k in range(4)]
    got = []
    sink.create_subscription(Int32, "/lockstep/hop4", lambda m: got.append(m.data), RELIABLE_QOS)
    pub = source.create_publisher(Int32, "/lockstep/hop0", RELIABLE_QOS)
    nodes = [source, sink, *relays]
    executor = make_executor(ros_context)
    try:
        for n in nodes:
            executor.add_node(n)
        _discover(executor)
        for step in range(5):
            pub.publish(Int32(data=10 * step))
            ran = spin_until_quiet(executor, nodes)
            assert got == [10 * k + 4 for k in range(step + 1)], (step, got)
            assert ran == 5     # four relays and the sink, nothing else pending
    finally:
        executor.shutdown()
        for n in nodes:
            n.destroy_node()


def test_due_sim_time_timers_run_before_the_step_ends(ros_context):
    """A 10 Hz timer on sim time: each /clock step of 0.1 s must fire it within the same step."""
    clock_src = SkyroadNode("lockstep_clock", context=ros_context)
    timed = SkyroadNode("lockstep_timed", context=ros_context,
                        parameter_overrides=[Parameter("use_sim_time", value=True)])
    fired = []
    timed.create_timer(0.1, lambda: fired.append(timed.get_clock().now().nanoseconds * 1e-9))
    clock_pub = clock_src.create_publisher(Clock, "/clock", 10)
    nodes = [clock_src, timed]
    executor = make_executor(ros_context)
    try:
        for n in nodes:
            executor.add_node(n)
        clock_pub.publish(Clock(clock=s_to_stamp(1.0)))
        _discover(executor)
        fired.clear()
        for k in range(1, 11):
            clock_pub.publish(Clock(clock=s_to_stamp(1.0 + 0.1 * k)))
            spin_until_quiet(executor, nodes)
            assert len(fired) == k and fired[-1] == pytest.approx(1.0 + 0.1 * k, abs=1e-6), fired
    finally:
        executor.shutdown()
        for n in nodes:
            n.destroy_node()


def test_nodes_publishing_to_each_other_forever_raise(ros_context):
    a = _Relay("lockstep_ping", "/lockstep/pong", "/lockstep/ping", 0.0, ros_context)
    b = _Relay("lockstep_pong", "/lockstep/ping", "/lockstep/pong", 0.0, ros_context)
    executor = make_executor(ros_context)
    try:
        executor.add_node(a)
        executor.add_node(b)
        _discover(executor)
        a.pub.publish(Int32(data=0))
        with pytest.raises(RuntimeError, match="still not quiet"):
            spin_until_quiet(executor, [a, b], max_callbacks=200)
    finally:
        executor.shutdown()
        a.destroy_node()
        b.destroy_node()

"""Middleware floor: pub->sub latency and throughput of the messages the stack lives on.

Prints one JSON object: for Twist @1 kHz, Imu @1 kHz and a 640x480 rgb8 Image @30 Hz, the
latency p50/p99 (ms), delivered rate and loss at the target rate, and the maximum delivered
rate when publishing flat out; each in one process (EventsExecutor, with rclpy's default
SingleThreadedExecutor as the in-process baseline) and across two processes. Latency uses
CLOCK_MONOTONIC, which all processes on a Linux host share, written into the message
(header stamp, or angular.x for Twist). Figures are the median over `--repeats` runs.

    python bench/middleware.py [--seconds 2] [--repeats 3] [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

# Large messages across processes need Fast DDS's large-data transport (measured: without it
# best-effort 640x480 frames are almost all dropped). Set before rclpy loads.
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
if "ROS_DOMAIN_ID" not in os.environ:
    os.environ["ROS_DOMAIN_ID"] = str(100 + os.getpid() % 100)

import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from geometry_msgs.msg import Twist  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import Image, Imu  # noqa: E402

RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)

# name -> (message class, target rate Hz, QoS)
CASES = {
    "twist_1khz": (Twist, 1000.0, RELIABLE),
    "imu_1khz": (Imu, 1000.0, qos_profile_sensor_data),
    "image_640x480_rgb8_30hz": (Image, 30.0, qos_profile_sensor_data),
}


def monotonic_s() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def make_message(case: str):
    cls = CASES[case][0]
    msg = cls()
    if cls is Image:
        msg.height, msg.width, msg.encoding, msg.step = 480, 640, "rgb8", 640 * 3
        # tobytes(): assigning a numpy array to Image.data costs ~118 ms a frame (measured).
        msg.data = np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8).tobytes()
    return msg


def stamp(msg, now_s: float) -> None:
    if isinstance(msg, Twist):
        msg.angular.x = now_s
    else:
        msg.header.stamp.sec = int(now_s)
        msg.header.stamp.nanosec = int((now_s - int(now_s)) * 1e9)


def sent_time_s(msg) -> float:
    if isinstance(msg, Twist):
        return msg.angular.x
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def make_executor(kind: str, context):
    if kind == "events":
        from rclpy.experimental import EventsExecutor
        return EventsExecutor(context=context)
    return SingleThreadedExecutor(context=context)


class Receiver:
    def __init__(self, node, case: str):
        cls, _, qos = CASES[case]
        self.latencies_s = []
        self.first_s = None
        self.last_s = None
        node.create_subscription(cls, "bench_topic", self._on_message, qos)

    def _on_message(self, msg) -> None:
        now = monotonic_s()
        self.latencies_s.append(now - sent_time_s(msg))
        self.first_s = self.first_s or now
        self.last_s = now

    def summary(self, sent: int, seconds: float) -> dict:
        lat = np.array(self.latencies_s) * 1e3
        received = len(lat)
        return {
            "sent": sent,
            "received": received,
            "loss_fraction": round(1.0 - received / sent, 4) if sent else None,
            "delivered_hz": round(received / seconds, 1),
            "latency_ms_p50": round(float(np.percentile(lat, 50)), 3) if received else None,
            "latency_ms_p99": round(float(np.percentile(lat, 99)), 3) if received else None,
        }


def publish_loop(node, executor, publisher, case: str, rate_hz: float, seconds: float) -> int:
    """Publishes at `rate_hz` (0 = flat out) for `seconds` while spinning `executor`; returns the
    count sent. Busy-wait pacing: a 1 kHz timer on a loaded 2-core box is itself jittery."""
    msg = make_message(case)
    period_s = 1.0 / rate_hz if rate_hz > 0 else 0.0
    sent = 0
    start = monotonic_s()
    next_s = start
    while True:
        now = monotonic_s()
        if now - start >= seconds:
            break
        if now >= next_s:
            stamp(msg, now)
            publisher.publish(msg)
            sent += 1
            next_s += period_s
        if executor is not None:
            executor.spin_once(timeout_sec=0)
    return sent


def run_in_process(case: str, rate_hz: float, seconds: float, executor_kind: str) -> dict:
    context = rclpy.context.Context()
    rclpy.init(context=context)
    pub_node = rclpy.create_node("bench_pub", context=context)
    sub_node = rclpy.create_node("bench_sub", context=context)
    cls, _, qos = CASES[case]
    publisher = pub_node.create_publisher(cls, "bench_topic", qos)
    receiver = Receiver(sub_node, case)
    executor = make_executor(executor_kind, context)
    executor.add_node(pub_node)
    executor.add_node(sub_node)
    try:
        deadline = monotonic_s() + 5.0
        while publisher.get_subscription_count() == 0 and monotonic_s() < deadline:
            executor.spin_once(timeout_sec=0.01)
        sent = publish_loop(pub_node, executor, publisher, case, rate_hz, seconds)
        drain_until = monotonic_s() + 0.3
        while monotonic_s() < drain_until:
            executor.spin_once(timeout_sec=0.01)
        return receiver.summary(sent, seconds)
    finally:
        executor.shutdown()
        pub_node.destroy_node()
        sub_node.destroy_node()
        rclpy.try_shutdown(context=context)


def publisher_process(case: str, rate_hz: float, seconds: float) -> None:
    """Child process: wait for the subscriber, publish, print how many were sent."""
    context = rclpy.context.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("bench_remote_pub", context=context)
    cls, _, qos = CASES[case]
    publisher = node.create_publisher(cls, "bench_topic", qos)
    deadline = monotonic_s() + 10.0
    while publisher.get_subscription_count() == 0 and monotonic_s() < deadline:
        time.sleep(0.01)
    time.sleep(1.0)  # let matching settle on the subscriber side too (discovery is asymmetric)
    sent = publish_loop(node, None, publisher, case, rate_hz, seconds)
    time.sleep(0.3)
    print(json.dumps({"sent": sent}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def run_cross_process(case: str, rate_hz: float, seconds: float) -> dict:
    context = rclpy.context.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("bench_sub", context=context)
    receiver = Receiver(node, case)
    executor = make_executor("events", context)
    executor.add_node(node)
    child = subprocess.Popen([sys.executable, __file__, "--role", "pub", "--case", case,
                              "--rate", str(rate_hz), "--seconds", str(seconds)],
                             stdout=subprocess.PIPE, text=True)
    try:
        while child.poll() is None:
            executor.spin_once(timeout_sec=0.01)
        end = monotonic_s() + 0.3
        while monotonic_s() < end:
            executor.spin_once(timeout_sec=0.01)
        sent = json.loads(child.stdout.read().strip().splitlines()[-1])["sent"]
        return receiver.summary(sent, seconds)
    finally:
        if child.poll() is None:
            child.kill()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def median_of(runs) -> dict:
    keys = runs[0].keys()
    out = {}
    for key in keys:
        values = [r[key] for r in runs if r[key] is not None]
        out[key] = round(statistics.median(values), 4) if values else None
    out["repeats"] = len(runs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 repeat of 1 s (smoke run)")
    parser.add_argument("--role", default="bench", choices=("bench", "pub"))
    parser.add_argument("--case", choices=tuple(CASES))
    parser.add_argument("--rate", type=float, default=0.0)
    args = parser.parse_args()
    if args.role == "pub":
        publisher_process(args.case, args.rate, args.seconds)
        return
    seconds, repeats = (1.0, 1) if args.quick else (args.seconds, args.repeats)
    results = {}
    for case, (_, rate_hz, _) in CASES.items():
        results[case] = {
            "in_process_events_executor": median_of(
                [run_in_process(case, rate_hz, seconds, "events") for _ in range(repeats)]),
            "in_process_single_threaded_executor_baseline": median_of(
                [run_in_process(case, rate_hz, seconds, "single") for _ in range(repeats)]),
            "cross_process": median_of([run_cross_process(case, rate_hz, seconds) for _ in range(repeats)]),
            "max_rate_in_process_hz": statistics.median(
                [run_in_process(case, 0.0, seconds, "events")["delivered_hz"] for _ in range(repeats)]),
            "max_rate_cross_process_hz": statistics.median(
                [run_cross_process(case, 0.0, seconds)["delivered_hz"] for _ in range(repeats)]),
            "target_rate_hz": rate_hz,
        }
    print(json.dumps({
        "bench": "middleware",
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "rmw": os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp"),
                    "fastdds_builtin_transports": os.environ.get("FASTDDS_BUILTIN_TRANSPORTS")},
        "seconds_per_run": seconds,
        "results": results,
    }, indent=1))


if __name__ == "__main__":
    main()

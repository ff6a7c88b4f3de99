import pytest

from skyroad.common.rate import RateWindow
from skyroad.common.watchdog import RECOVERED, STALE, InputWatchdog


class FakeSteadyClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_stale_by_silence_then_recovers_once():
    clock = FakeSteadyClock()
    dog = InputWatchdog("imu", timeout_s=0.1, steady_clock=clock)
    assert dog.is_stale()  # nothing yet
    assert dog.feed() == RECOVERED
    clock.now += 0.05
    assert dog.poll() is None and not dog.is_stale()
    clock.now += 0.2
    assert dog.poll() == STALE
    assert dog.poll() is None  # the edge is reported once
    assert "no message for" in dog.status().reason
    assert dog.feed() == RECOVERED


def test_stale_by_stamp_age_even_when_messages_flow():
    clock = FakeSteadyClock()
    dog = InputWatchdog("gnss", timeout_s=1.0, max_stamp_age_s=0.5, steady_clock=clock)
    assert dog.feed(stamp_s=10.0, now_stamp_s=10.1) == RECOVERED
    assert dog.feed(stamp_s=10.2, now_stamp_s=11.0) == STALE
    assert "stamp" in dog.status().reason
    assert dog.feed(stamp_s=11.0, now_stamp_s=11.1) == RECOVERED


def test_rejected_messages_do_not_refresh():
    clock = FakeSteadyClock()
    dog = InputWatchdog("odom", timeout_s=0.1, steady_clock=clock)
    dog.feed()
    clock.now += 0.2
    dog.reject()
    assert dog.is_stale()
    assert dog.status().rejected == 1


def test_invalid_timeouts():
    with pytest.raises(ValueError, match="timeout_s"):
        InputWatchdog("x", timeout_s=0.0)
    with pytest.raises(ValueError, match="max_stamp_age_s"):
        InputWatchdog("x", timeout_s=1.0, max_stamp_age_s=float("nan"))


def test_rate_window():
    window = RateWindow(window_s=1.0)
    for i in range(11):
        window.add(i * 0.1, latency_s=0.001 * i)
    assert window.rate_hz(1.0) == pytest.approx(10.0)
    p50, p99 = window.latency_percentiles_s(1.0)
    assert p50 == pytest.approx(0.005) and p99 == pytest.approx(0.010)
    assert window.rate_hz(5.0) == 0.0  # everything fell out of the window

"""Windowed message-rate and latency statistics (core: no rclpy)."""
from __future__ import annotations

import collections
import math
from typing import Deque, Optional, Tuple


class RateWindow:
    """Arrival times (steady clock, s) and optional latencies (s) over the last `window_s`."""

    def __init__(self, window_s: float = 2.0):
        if not (window_s > 0 and math.isfinite(window_s)):
            raise ValueError(f"window_s must be positive and finite, got {window_s}")
        self.window_s = float(window_s)
        self._samples: Deque[Tuple[float, float]] = collections.deque()
        self.total = 0
        self.last_arrival_s = math.nan

    def add(self, arrival_s: float, latency_s: Optional[float] = None) -> None:
        self._samples.append((arrival_s, math.nan if latency_s is None else latency_s))
        self.total += 1
        self.last_arrival_s = arrival_s
        self._trim(arrival_s)

    def _trim(self, now_s: float) -> None:
        while self._samples and now_s - self._samples[0][0] > self.window_s:
            self._samples.popleft()

    def rate_hz(self, now_s: float) -> float:
        """Messages per second over the window (0 when fewer than two arrived in it)."""
        self._trim(now_s)
        if len(self._samples) < 2:
            return 0.0
        span_s = self._samples[-1][0] - self._samples[0][0]
        return (len(self._samples) - 1) / span_s if span_s > 0 else 0.0

    def latency_percentiles_s(self, now_s: float, percentiles=(50.0, 99.0)) -> Tuple[float, ...]:
        self._trim(now_s)
        latencies = sorted(l for _, l in self._samples if not math.isnan(l))
        if not latencies:
            return tuple(math.nan for _ in percentiles)
        result = []
        for p in percentiles:
            index = min(len(latencies) - 1, max(0, int(math.ceil(p / 100.0 * len(latencies))) - 1))
            result.append(latencies[index])
        return tuple(result)

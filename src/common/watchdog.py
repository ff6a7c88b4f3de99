"""Input watchdog (core: no rclpy).

An input is stale when either
- nothing arrived for `timeout_s` by the silence clock: the publisher died or the link
  dropped. On a vehicle that is the steady (monotonic) clock, which a jumping ROS clock cannot
  fool; a node under use_sim_time passes its ROS clock instead (SkyroadNode.freshness_clock),
  since only simulated time says whether a simulated sensor is late, or
- the newest message's header stamp is older than `max_stamp_age_s` on the node's clock
  (ROS time, so sim time under use_sim_time): data arrives but describes the past (a driver
  replaying a buffer, a clock offset, a lagging bridge).

`feed()` and `poll()` return a transition ("stale" / "recovered") exactly once per change so
a node logs and reports each edge once, and `is_stale()` answers the current state.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Optional

STALE = "stale"
RECOVERED = "recovered"


@dataclass
class WatchdogStatus:
    name: str
    stale: bool
    reason: str
    silence_s: float          # steady time since the last message (inf before the first)
    stamp_age_s: float        # age of the newest header stamp (nan when stamps are not used)
    messages: int
    rejected: int             # messages fed as invalid (NaN, out of order), counted, not used


class InputWatchdog:
    def __init__(self, name: str, timeout_s: float, max_stamp_age_s: Optional[float] = None,
                 steady_clock: Callable[[], float] = time.monotonic):
        if not (timeout_s > 0 and math.isfinite(timeout_s)):
            raise ValueError(f"watchdog '{name}': timeout_s must be a positive finite number, got {timeout_s}")
        if max_stamp_age_s is not None and not (max_stamp_age_s > 0 and math.isfinite(max_stamp_age_s)):
            raise ValueError(f"watchdog '{name}': max_stamp_age_s must be positive and finite, got {max_stamp_age_s}")
        self.name = name
        self.timeout_s = float(timeout_s)
        self.max_stamp_age_s = max_stamp_age_s
        self._steady_clock = steady_clock
        self._last_arrival_s: Optional[float] = None
        self._last_stamp_s: Optional[float] = None
        self._last_now_stamp_s: Optional[float] = None
        self._messages = 0
        self._rejected = 0
        self._stale = True          # no data yet: stale until the first message
        self._reason = "no message received yet"

    def feed(self, stamp_s: Optional[float] = None, now_stamp_s: Optional[float] = None) -> Optional[str]:
        """Records a valid message. `stamp_s` is its header stamp and `now_stamp_s` the node's
        current ROS time, both in seconds; pass both to enable the stamp-age check."""
        self._messages += 1
        self._last_arrival_s = self._steady_clock()
        if stamp_s is not None:
            self._last_stamp_s = float(stamp_s)
            self._last_now_stamp_s = None if now_stamp_s is None else float(now_stamp_s)
        return self.poll(now_stamp_s)

    def reject(self) -> None:
        """Counts a message that arrived but was unusable (NaN, out of order); it does not
        refresh the watchdog, so a stream of garbage ends up stale."""
        self._rejected += 1

    def _evaluate(self, now_stamp_s: Optional[float]) -> tuple:
        if self._last_arrival_s is None:
            return True, "no message received yet", math.inf, math.nan
        silence_s = self._steady_clock() - self._last_arrival_s
        stamp_age_s = math.nan
        if self._last_stamp_s is not None:
            reference = now_stamp_s if now_stamp_s is not None else self._last_now_stamp_s
            if reference is not None:
                stamp_age_s = reference - self._last_stamp_s
        if silence_s > self.timeout_s:
            return True, f"no message for {silence_s:.3f} s (timeout {self.timeout_s:.3f} s)", silence_s, stamp_age_s
        if (self.max_stamp_age_s is not None and math.isfinite(stamp_age_s)
                and stamp_age_s > self.max_stamp_age_s):
            return True, (f"newest stamp is {stamp_age_s:.3f} s old "
                          f"(limit {self.max_stamp_age_s:.3f} s)"), silence_s, stamp_age_s
        return False, "ok", silence_s, stamp_age_s

    def poll(self, now_stamp_s: Optional[float] = None) -> Optional[str]:
        """Re-evaluates; returns STALE or RECOVERED on a change, else None."""
        stale, reason, _, _ = self._evaluate(now_stamp_s)
        self._reason = reason
        if stale == self._stale:
            return None
        self._stale = stale
        return STALE if stale else RECOVERED

    def is_stale(self, now_stamp_s: Optional[float] = None) -> bool:
        self.poll(now_stamp_s)
        return self._stale

    def status(self, now_stamp_s: Optional[float] = None) -> WatchdogStatus:
        stale, reason, silence_s, stamp_age_s = self._evaluate(now_stamp_s)
        return WatchdogStatus(self.name, stale, reason, silence_s, stamp_age_s,
                              self._messages, self._rejected)

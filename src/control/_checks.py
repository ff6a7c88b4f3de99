"""Parameter validation shared by the controller configs: errors name the parameter."""
from __future__ import annotations

import math


class ControlConfigError(ValueError):
    """A controller parameter outside its valid range (message names the parameter)."""


def check_range(owner: str, name: str, value, lo=None, hi=None, lo_open=False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ControlConfigError(f"{owner}.{name}: expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ControlConfigError(f"{owner}.{name}: must be finite, got {v}")
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise ControlConfigError(f"{owner}.{name}={v} must be {'>' if lo_open else '>='} {lo}")
    if hi is not None and v > hi:
        raise ControlConfigError(f"{owner}.{name}={v} must be <= {hi}")
    return v


def check_positive(owner: str, name: str, value) -> float:
    return check_range(owner, name, value, lo=0.0, lo_open=True)

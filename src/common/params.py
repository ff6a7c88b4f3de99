"""Typed parameter specs and their validation (core: no rclpy).

A node declares its parameters once as a tuple of `ParamSpec`; `skyroad.common.ros` turns
that into ROS parameter declarations with `ParameterDescriptor` ranges, and uses
`validate_value` both at start-up (values from YAML / command line) and for runtime sets.
Keeping the rules here lets cores and tests validate configuration without a ROS graph.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

ParamValue = Any


class ParameterConfigError(ValueError):
    """A parameter value is unusable; the message names the node and the parameter."""


# Python types accepted for each default's type. An int is a valid float (YAML writes 5 for 5.0).
_SCALAR_TYPES = (bool, int, float, str)


def _type_name(value: ParamValue) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        if value and isinstance(value[0], str):
            return "string[]"
        if value and isinstance(value[0], bool):
            return "bool[]"
        if value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return "int[]"
        return "float[]"
    return type(value).__name__


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: name, default (fixes the type), human description and limits.

    min/max bound numbers (and each element of numeric arrays), `choices` restricts strings,
    `length` fixes an array's length. `allow_nan` is off: NaN/Inf are never a sensible setting
    unless a spec says so. `read_only` parameters can only be set at start-up.
    """

    name: str
    default: ParamValue
    description: str
    min: Optional[float] = None
    max: Optional[float] = None
    choices: Optional[Sequence[str]] = None
    length: Optional[int] = None
    unit: str = ""
    read_only: bool = False
    allow_nan: bool = False
    type_name: str = field(init=False, default="")

    def __post_init__(self):
        if not self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"invalid parameter name {self.name!r}")
        if isinstance(self.default, (list, tuple)) and not self.default:
            raise ValueError(f"{self.name}: array parameters need a non-empty default to fix their type")
        if not isinstance(self.default, _SCALAR_TYPES + (list, tuple)):
            raise ValueError(f"{self.name}: unsupported default type {type(self.default).__name__}")
        object.__setattr__(self, "type_name", _type_name(self.default))
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"{self.name}: min {self.min} > max {self.max}")
        reason = validate_value(self, self.default)
        if reason:
            raise ValueError(f"{self.name}: default {self.default!r} is invalid: {reason}")

    @property
    def is_array(self) -> bool:
        return self.type_name.endswith("[]")

    @property
    def is_numeric(self) -> bool:
        return self.type_name in ("int", "float", "int[]", "float[]")

    def full_description(self) -> str:
        unit = f" [{self.unit}]" if self.unit else ""
        return f"{self.description}{unit}"


def _check_number(spec: ParamSpec, number: float) -> Optional[str]:
    if isinstance(number, float) and not math.isfinite(number) and not spec.allow_nan:
        return f"{number} is not a finite number"
    if spec.min is not None and number < spec.min:
        return f"{number} is below the minimum {spec.min}{(' ' + spec.unit) if spec.unit else ''}"
    if spec.max is not None and number > spec.max:
        return f"{number} is above the maximum {spec.max}{(' ' + spec.unit) if spec.unit else ''}"
    return None


def coerce_value(spec: ParamSpec, value: ParamValue) -> ParamValue:
    """Returns `value` in the spec's type where that is lossless (int -> float), else unchanged."""
    if spec.type_name == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if spec.type_name == "float[]" and isinstance(value, (list, tuple)):
        return [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
    if isinstance(value, tuple):
        return list(value)
    return value


def validate_value(spec: ParamSpec, value: ParamValue) -> Optional[str]:
    """Returns None when `value` is acceptable for `spec`, else the reason it is not."""
    value = coerce_value(spec, value)
    expected = spec.type_name
    actual = _type_name(value) if not (isinstance(value, list) and not value) else expected
    if expected != actual:
        return f"expected {expected}, got {actual} ({value!r})"
    values: Iterable = value if spec.is_array else (value,)
    if spec.is_array and spec.length is not None and len(value) != spec.length:
        return f"expected {spec.length} elements, got {len(value)}"
    for element in values:
        if spec.is_numeric:
            reason = _check_number(spec, element)
            if reason:
                return reason
        if spec.choices is not None and element not in spec.choices:
            return f"{element!r} is not one of {', '.join(map(str, spec.choices))}"
    return None


def validate_all(node_name: str, specs: Sequence[ParamSpec],
                 values: Mapping[str, ParamValue]) -> dict:
    """Validates a whole mapping (e.g. a YAML section); raises ParameterConfigError on the first
    bad or unknown parameter. Returns the coerced values with defaults filled in."""
    by_name = {s.name: s for s in specs}
    unknown = sorted(set(values) - set(by_name) - {"use_sim_time"})
    if unknown:
        raise ParameterConfigError(f"{node_name}: unknown parameter(s) {', '.join(unknown)}; "
                                   f"known: {', '.join(sorted(by_name))}")
    result = {}
    for spec in specs:
        value = values.get(spec.name, spec.default)
        reason = validate_value(spec, value)
        if reason:
            raise ParameterConfigError(f"{node_name}: parameter '{spec.name}' = {value!r} rejected: {reason}")
        result[spec.name] = coerce_value(spec, value)
    return result


class ParamValues:
    """Attribute view of a node's current, validated parameter values (`p.rate_hz`)."""

    def __init__(self, values: Mapping[str, ParamValue]):
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name: str) -> ParamValue:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no parameter named {name!r}") from None

    def __setattr__(self, name, value):
        raise AttributeError("parameters change through ROS parameter sets, not assignment")

    def as_dict(self) -> dict:
        return dict(self._values)

    def _update(self, changes: Mapping[str, ParamValue]) -> None:
        self._values.update(changes)

import math

import pytest

from skyroad.common.params import (ParameterConfigError, ParamSpec, ParamValues, validate_all,
                                   validate_value)


def test_numbers_ranges_and_nan():
    spec = ParamSpec("rate_hz", 20.0, "rate", min=1.0, max=100.0, unit="Hz")
    assert validate_value(spec, 50.0) is None
    assert validate_value(spec, 50) is None  # YAML int for a float
    assert "below the minimum" in validate_value(spec, 0.5)
    assert "above the maximum" in validate_value(spec, 1e3)
    assert "not a finite" in validate_value(spec, math.nan)
    assert "not a finite" in validate_value(spec, math.inf)
    assert "expected float" in validate_value(spec, "fast")
    assert "expected float" in validate_value(spec, True)


def test_choices_arrays_and_ints():
    mode = ParamSpec("mode", "follow", "mode", choices=("follow", "lock"))
    assert validate_value(mode, "lock") is None
    assert "not one of" in validate_value(mode, "orbit")
    gains = ParamSpec("gains", [1.0, 2.0, 3.0], "gains", min=0.0, length=3)
    assert validate_value(gains, [0, 1.5, 2]) is None
    assert "3 elements" in validate_value(gains, [1.0, 2.0])
    assert "below the minimum" in validate_value(gains, [1.0, -2.0, 3.0])
    assert "not a finite" in validate_value(gains, [1.0, math.nan, 3.0])
    count = ParamSpec("count", 3, "count", min=1, max=10)
    assert validate_value(count, 2.5).startswith("expected int")


def test_invalid_specs_rejected_at_definition():
    with pytest.raises(ValueError, match="default"):
        ParamSpec("x", 5.0, "x", min=10.0)
    with pytest.raises(ValueError, match="min"):
        ParamSpec("x", 5.0, "x", min=10.0, max=1.0)
    with pytest.raises(ValueError, match="non-empty"):
        ParamSpec("x", [], "x")


def test_validate_all_names_node_and_parameter():
    specs = (ParamSpec("rate_hz", 20.0, "rate", min=1.0), ParamSpec("name", "a", "name"))
    assert validate_all("n", specs, {"rate_hz": 5}) == {"rate_hz": 5.0, "name": "a"}
    with pytest.raises(ParameterConfigError, match=r"n: parameter 'rate_hz' = -1"):
        validate_all("n", specs, {"rate_hz": -1})
    with pytest.raises(ParameterConfigError, match="unknown parameter.*typo"):
        validate_all("n", specs, {"typo": 1})


def test_param_values_view_is_read_only():
    values = ParamValues({"a": 1.0})
    assert values.a == 1.0
    with pytest.raises(AttributeError):
        values.a = 2.0
    with pytest.raises(AttributeError, match="no parameter"):
        values.b


def test_yaw_from_quaternion_round_trip():
    import math as m

    from skyroad.common.geometry import yaw_from_quaternion
    for yaw in (-3.0, -1.2, 0.0, 0.7, 3.1):
        assert yaw_from_quaternion(0.0, 0.0, m.sin(yaw / 2), m.cos(yaw / 2)) == pytest.approx(yaw)
    # a pitched quaternion keeps its heading
    pitch, yaw = 0.4, 1.0
    cy, sy, cp, sp = m.cos(yaw / 2), m.sin(yaw / 2), m.cos(pitch / 2), m.sin(pitch / 2)
    x, y, z, w = -sy * sp, cy * sp, sy * cp, cy * cp
    assert yaw_from_quaternion(x, y, z, w) == pytest.approx(yaw)

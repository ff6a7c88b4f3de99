"""Zone model (core: no rclpy).

A `Zone` is one published UAS geographical zone (ED-269 / ED-318 feature, GeoJSON feature,
QGroundControl fence item). It owns one or more `Volume`s: a horizontal projection (polygon
with holes, multipolygon, or circle, in WGS84 lon/lat degrees) times a vertical band
[lower, upper] whose limits each carry a unit (M / FT) and a reference (AGL / AMSL / WGS84).

Activity in time is an `Applicability` list (any entry active -> zone active): permanent,
a [start, end) window, and/or a weekly schedule of day sets and UTC time-of-day ranges.

What a zone means for a vehicle is decided by its restriction:
- PROHIBITED: never enter.
- REQ_AUTHORISATION (ED-318 spells it REQ_AUTHORIZATION), CONDITIONAL, USPACE: enter only
  when the vehicle holds an authorisation for the zone's identifier (conservative reading of
  CONDITIONAL: its conditions are free text a machine cannot verify).
- NO_RESTRICTION: informational only.
Keep-in fences (QGroundControl inclusion items) invert the sense: the vehicle must stay inside
the union of the active keep-in volumes.
"""
from __future__ import annotations

import datetime as dt
import enum
import math
from dataclasses import dataclass, field
from typing import FrozenSet, Optional, Sequence, Tuple

FEET_TO_M = 0.3048  # exact, international foot


class ZoneError(ValueError):
    """A zone file or zone is unusable. The message names the file, the zone and the field."""

    def __init__(self, message: str, *, source: str = "", zone: str = "", field: str = ""):
        self.source = source
        self.zone = zone
        self.field = field
        where = []
        if source:
            where.append(source)
        if zone:
            where.append(f"zone '{zone}'")
        if field:
            where.append(f"field '{field}'")
        super().__init__(f"{': '.join(where)}: {message}" if where else message)
        self.reason = message


class Restriction(enum.Enum):
    PROHIBITED = "PROHIBITED"
    REQ_AUTHORISATION = "REQ_AUTHORISATION"
    CONDITIONAL = "CONDITIONAL"
    USPACE = "USPACE"
    NO_RESTRICTION = "NO_RESTRICTION"

    @classmethod
    def parse(cls, text) -> "Restriction":
        if not isinstance(text, str):
            raise ValueError(f"expected a string, got {text!r}")
        key = text.strip().upper().replace("AUTHORIZATION", "AUTHORISATION")
        try:
            return cls(key)
        except ValueError:
            raise ValueError(f"unknown restriction {text!r}; expected one of "
                             f"{', '.join(r.value for r in cls)} (or REQ_AUTHORIZATION)") from None


# Restrictions that can be lifted by an authorisation held by the vehicle.
AUTHORISABLE = frozenset({Restriction.REQ_AUTHORISATION, Restriction.CONDITIONAL, Restriction.USPACE})


class Unit(enum.Enum):
    M = "M"
    FT = "FT"

    @classmethod
    def parse(cls, text) -> "Unit":
        if not isinstance(text, str):
            raise ValueError(f"expected a string, got {text!r}")
        key = text.strip().upper()
        if key in ("M", "METRE", "METER", "METRES", "METERS"):
            return cls.M
        if key in ("FT", "FEET", "FOOT"):
            return cls.FT
        raise ValueError(f"unknown unit {text!r}; expected M or FT")

    def to_m(self, value: float) -> float:
        return value * FEET_TO_M if self is Unit.FT else value


class VerticalRef(enum.IntEnum):
    """Vertical reference of a limit. Integer codes: stored in numpy arrays by the index."""
    AGL = 0      # height above ground (terrain) level
    AMSL = 1     # altitude above mean sea level (geoid)
    WGS84 = 2    # height above the WGS84 ellipsoid

    @classmethod
    def parse(cls, text) -> "VerticalRef":
        if not isinstance(text, str):
            raise ValueError(f"expected a string, got {text!r}")
        key = text.strip().upper()
        if key in ("SFC", "GND"):
            key = "AGL"
        if key in ("MSL",):
            key = "AMSL"
        if key == "WGS84_ELLIPSOID":
            key = "WGS84"
        try:
            return cls[key]
        except KeyError:
            raise ValueError(f"unknown vertical reference {text!r}; expected AGL, AMSL or WGS84") from None


@dataclass(frozen=True)
class VerticalLimit:
    """One vertical limit as published; `value_m` is converted to metres. `value_m` may be
    +inf (no upper limit published)."""
    value: float
    unit: Unit
    ref: VerticalRef

    @property
    def value_m(self) -> float:
        return self.unit.to_m(self.value)

    def describe(self) -> str:
        if math.isinf(self.value):
            return "UNL"
        return f"{self.value:g} {self.unit.value} {self.ref.name}"


DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


@dataclass(frozen=True)
class DailyPeriod:
    """Weekly schedule entry: on `days` (0=Monday .. 6=Sunday), from `start_s` to `end_s`
    seconds after UTC midnight. end <= start wraps past midnight into the next day.
    `event_based`: the published times were daylight events (sunrise/sunset...) that this
    model does not resolve; such a period is treated as active all day (conservative)."""
    days: FrozenSet[int]
    start_s: float = 0.0
    end_s: float = 86400.0
    event_based: bool = False

    def active(self, when: dt.datetime) -> bool:
        if self.event_based:
            return when.weekday() in self.days
        seconds = when.hour * 3600 + when.minute * 60 + when.second + when.microsecond * 1e-6
        weekday = when.weekday()
        if self.end_s > self.start_s:
            return weekday in self.days and self.start_s <= seconds < self.end_s
        # wraps midnight: active late on a listed day or early on the day after one
        return ((weekday in self.days and seconds >= self.start_s)
                or (((weekday - 1) % 7) in self.days and seconds < self.end_s))


@dataclass(frozen=True)
class Applicability:
    """One applicability entry. Active when inside [start, end) (open ends when None) and,
    if `schedule` is non-empty, inside one of its daily periods."""
    permanent: bool = True
    start: Optional[dt.datetime] = None
    end: Optional[dt.datetime] = None
    schedule: Tuple[DailyPeriod, ...] = ()

    def active(self, when: dt.datetime) -> bool:
        if self.start is not None and when < self.start:
            return False
        if self.end is not None and when >= self.end:
            return False
        if self.schedule:
            return any(p.active(when) for p in self.schedule)
        return True

    @property
    def time_limited(self) -> bool:
        return not (self.start is None and self.end is None and not self.schedule)


@dataclass(frozen=True)
class Circle:
    """Horizontal circle: centre (lon, lat) in degrees, geodesic radius in metres."""
    lon: float
    lat: float
    radius_m: float


@dataclass
class Volume:
    """Horizontal projection x vertical band. `horizontal` is a shapely (Multi)Polygon in
    lon/lat degrees, or a `Circle`."""
    horizontal: object
    lower: VerticalLimit
    upper: VerticalLimit
    repairs: Tuple[str, ...] = ()

    @property
    def is_circle(self) -> bool:
        return isinstance(self.horizontal, Circle)


@dataclass
class Zone:
    identifier: str
    restriction: Restriction
    volumes: list
    name: str = ""
    keep_in: bool = False
    applicability: Tuple[Applicability, ...] = (Applicability(),)
    message: str = ""
    source: str = ""
    source_format: str = ""
    country: str = ""
    reasons: Tuple[str, ...] = ()
    repairs: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    def active(self, when: Optional[dt.datetime]) -> bool:
        """True when active at `when` (UTC, aware). None means 'now is unknown': every zone
        counts as active (the safe assumption)."""
        if when is None or not self.applicability:
            return True
        return any(a.active(when) for a in self.applicability)

    @property
    def time_limited(self) -> bool:
        return any(a.time_limited for a in self.applicability)

    def constraining(self, authorised: FrozenSet[str] = frozenset()) -> bool:
        """Whether the zone restricts this vehicle at all (activity aside)."""
        if self.keep_in:
            return True
        if self.restriction is Restriction.NO_RESTRICTION:
            return False
        if self.restriction in AUTHORISABLE and self.identifier in authorised:
            return False
        return True


def parse_utc(text, *, what: str = "date-time") -> dt.datetime:
    """ISO 8601 -> aware UTC datetime. Naive inputs are taken as UTC (ED-269 says UTC)."""
    if isinstance(text, dt.datetime):
        value = text
    else:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"expected an ISO 8601 {what}, got {text!r}")
        cleaned = text.strip()
        if cleaned.endswith(("Z", "z")):
            cleaned = cleaned[:-1] + "+00:00"
        try:
            value = dt.datetime.fromisoformat(cleaned)
        except ValueError:
            raise ValueError(f"invalid ISO 8601 {what} {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def parse_time_of_day(text) -> float:
    """'17:00:00.00Z' / '17:00' / '24:00' -> seconds after UTC midnight."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"expected a time of day HH:MM[:SS[.ff]][Z], got {text!r}")
    cleaned = text.strip().rstrip("Zz")
    if cleaned.endswith("+00:00"):
        cleaned = cleaned[:-6]
    parts = cleaned.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        hours, minutes = int(parts[0]), int(parts[1])
        seconds = float(parts[2]) if len(parts) == 3 else 0.0
    except ValueError:
        raise ValueError(f"invalid time of day {text!r}; expected HH:MM[:SS[.ff]]") from None
    if not (0 <= hours <= 24 and 0 <= minutes < 60 and 0 <= seconds < 61):
        raise ValueError(f"time of day {text!r} out of range")
    total = hours * 3600 + minutes * 60 + seconds
    if total > 86400:
        raise ValueError(f"time of day {text!r} after 24:00")
    return total


def parse_days(values: Sequence) -> FrozenSet[int]:
    if not isinstance(values, (list, tuple)):
        raise ValueError(f"expected a list of days, got {values!r}")
    days = set()
    for value in values:
        key = str(value).strip().upper()[:3] if isinstance(value, str) else None
        if key == "ANY":
            days.update(range(7))
        elif key in DAYS:
            days.add(DAYS.index(key))
        else:
            raise ValueError(f"unknown day {value!r}; expected one of {', '.join(DAYS)}, ANY")
    return frozenset(days)

"""Seeded synthetic zone sets for benchmarks and scale tests (core: no rclpy).

Sizes follow published national sets: the Swiss set holds ~1,200 zones over 41,000 km^2
(~3 per 100 km^2, radii from 50 m around heliports to ~9 km around airports, polygons with
tens to hundreds of vertices). Default density here is 10 zones per 100 km^2 (3x the
Swiss one, a stress case), radii log-uniform, 40 % circles, 60 % star-shaped polygons
(non-convex), bands: 0-120 m AGL, a raised floor, or an AMSL band; 10 % time-limited.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Tuple

import numpy as np
import shapely

from .index import VerticalDatum, ZoneSet, circle_polygons
from .model import (Applicability, DailyPeriod, Restriction, Unit, VerticalLimit, VerticalRef,
                    Volume, Zone)


def synthetic_zone_set(n_zones: int, seed: int, zones_per_100km2: float = 10.0,
                       radius_range_m: Tuple[float, float] = (50.0, 2000.0),
                       vertices_range: Tuple[int, int] = (6, 80), circle_fraction: float = 0.4,
                       datum: VerticalDatum = VerticalDatum()) -> ZoneSet:
    """Zone set in a local frame (metres) centred on (0, 0), extent from the density."""
    if n_zones < 1:
        raise ValueError("n_zones must be >= 1")
    rng = np.random.default_rng(seed)
    half_extent = 0.5 * math.sqrt(n_zones / zones_per_100km2 * 100.0) * 1000.0
    centres = rng.uniform(-half_extent, half_extent, size=(n_zones, 2))
    lo_r, hi_r = radius_range_m
    radius = np.exp(rng.uniform(math.log(lo_r), math.log(hi_r), n_zones))
    is_circle = rng.random(n_zones) < circle_fraction
    geoms = np.empty(n_zones, dtype=object)
    ci = np.flatnonzero(is_circle)
    geoms[ci] = circle_polygons(centres[ci, 0], centres[ci, 1], radius[ci], 0.5, 128)
    pi = np.flatnonzero(~is_circle)
    counts = rng.integers(vertices_range[0], vertices_range[1] + 1, len(pi))
    for count in np.unique(counts):
        idx = pi[counts == count]
        angles = np.sort(rng.uniform(0, 2 * np.pi, (len(idx), count)), axis=1)
        radii = radius[idx, None] * rng.uniform(0.45, 1.0, (len(idx), count))
        ring = np.empty((len(idx), count + 1, 2))
        ring[:, :count, 0] = centres[idx, 0, None] + radii * np.cos(angles)
        ring[:, :count, 1] = centres[idx, 1, None] + radii * np.sin(angles)
        ring[:, count] = ring[:, 0]
        polys = shapely.polygons(ring)
        invalid = ~shapely.is_valid(polys)
        if invalid.any():  # duplicate angles can pinch a star polygon: repair as importers do
            polys[invalid] = shapely.make_valid(polys[invalid])
        geoms[idx] = polys
    band_kind = rng.random(n_zones)
    zones = []
    schedule = (Applicability(permanent=False, schedule=(DailyPeriod(frozenset({5, 6}), 8 * 3600.0, 18 * 3600.0),)),)
    restrictions = np.where(rng.random(n_zones) < 0.7, 0, 1)
    timed = rng.random(n_zones) < 0.1
    floors = rng.uniform(30.0, 100.0, n_zones)
    amsl_lo = rng.uniform(300.0, 1500.0, n_zones)
    for i in range(n_zones):
        if band_kind[i] < 0.6:
            lower = VerticalLimit(0.0, Unit.M, VerticalRef.AGL)
            upper = VerticalLimit(120.0, Unit.M, VerticalRef.AGL)
        elif band_kind[i] < 0.8:
            lower = VerticalLimit(round(floors[i]), Unit.M, VerticalRef.AGL)
            upper = VerticalLimit(120.0, Unit.M, VerticalRef.AGL)
        else:
            lower = VerticalLimit(round(amsl_lo[i]), Unit.FT, VerticalRef.AMSL)
            upper = VerticalLimit(round(amsl_lo[i]) + 3000.0, Unit.FT, VerticalRef.AMSL)
        zones.append(Zone(identifier=f"SYN{i:06d}",
                          restriction=Restriction.PROHIBITED if restrictions[i] == 0 else Restriction.REQ_AUTHORISATION,
                          volumes=[Volume(None, lower, upper)],
                          applicability=schedule if timed[i] else (Applicability(),)))
    return ZoneSet.from_local(list(geoms), zones, datum=datum)


def reference_time() -> dt.datetime:
    """A fixed weekday time (schedules of synthetic sets are weekend-only)."""
    return dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc)

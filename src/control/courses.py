"""Reference courses for tracking tests and the bench: straights, constant-radius arcs, S-bends.

Built from exact arcs (not splines), so the curvature at every sample is known: the bench's
lateral error is measured against this geometry, not against a smoothed approximation.
"""
from __future__ import annotations

import math

import numpy as np


def compose(segments, spacing_m: float = 0.25, start=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Points along a chain of ("straight", length_m) / ("arc", radius_m, angle_rad) pieces.

    A positive arc angle turns left (CCW). Returns (N, 2), first point = start position.
    """
    if not spacing_m > 0:
        raise ValueError(f"spacing_m must be > 0, got {spacing_m}")
    x, y, yaw = map(float, start)
    pts = [(x, y)]
    for seg in segments:
        kind = seg[0]
        if kind == "straight":
            length = float(seg[1])
            n = max(1, int(round(length / spacing_m)))
            for i in range(1, n + 1):
                d = length * i / n
                pts.append((x + d * math.cos(yaw), y + d * math.sin(yaw)))
            x, y = pts[-1]
        elif kind == "arc":
            radius, angle = float(seg[1]), float(seg[2])
            if radius <= 0:
                raise ValueError(f"arc radius must be > 0, got {radius}")
            sign = 1.0 if angle >= 0 else -1.0
            cx = x - sign * radius * math.sin(yaw)
            cy = y + sign * radius * math.cos(yaw)
            n = max(1, int(round(abs(angle) * radius / spacing_m)))
            phi0 = math.atan2(y - cy, x - cx)
            for i in range(1, n + 1):
                phi = phi0 + angle * i / n
                pts.append((cx + radius * math.cos(phi), cy + radius * math.sin(phi)))
            x, y = pts[-1]
            yaw += angle
        else:
            raise ValueError(f"unknown course segment {seg!r}")
    return np.array(pts)


def tracking_course(radius_m: float = 20.0, spacing_m: float = 0.25) -> np.ndarray:
    """Issue 6's course: straight, two 90 deg curves of radius R, an S-bend (left R arc straight
    into right R arc, a curvature sign flip with no straight between), and a run-out straight."""
    r = radius_m
    return compose([
        ("straight", 40.0),
        ("arc", r, math.pi / 2),
        ("straight", 30.0),
        ("arc", r, math.pi / 2),
        ("straight", 30.0),
        ("arc", r, math.pi / 3),      # S-bend: left then immediately right
        ("arc", r, -math.pi / 3),
        ("straight", 30.0),
        ("arc", r, -math.pi / 2),
        ("straight", 50.0),
    ], spacing_m=spacing_m)


def straight_course(length_m: float = 150.0, spacing_m: float = 0.25) -> np.ndarray:
    return compose([("straight", length_m)], spacing_m=spacing_m)

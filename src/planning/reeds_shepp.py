"""Reeds-Shepp curves (core, no rclpy).

Shortest paths for a car that drives forwards and backwards with a minimum turning radius
(Reeds & Shepp, Pacific J. Math. 1990). The formulas follow the paper's families as written
out in PythonRobotics (Sakai et al.): CSC (L+S+L+, L+S+R+) and CCC (L+R-L+, L+R-L-, L+R+L-),
each under the paper's time-flip and reflection symmetries, i.e. 20 of the 48 words. Every
candidate is integrated and kept only if it really ends at the goal pose, so a formula slip
can cost optimality, never correctness. Missing families (CCCC, CCSC, CCSCC) make some
connections longer than the true optimum; Hybrid-A* only needs a feasible connection.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_PI = math.pi


def _mod2pi(x: float) -> float:
    v = math.fmod(x, 2.0 * _PI)
    if v < -_PI:
        v += 2.0 * _PI
    elif v > _PI:
        v -= 2.0 * _PI
    return v


def _polar(x: float, y: float):
    return math.hypot(x, y), math.atan2(y, x)


def _lsl(x, y, phi):
    u, t = _polar(x - math.sin(phi), y - 1.0 + math.cos(phi))
    if 0.0 <= t <= _PI:
        v = _mod2pi(phi - t)
        if 0.0 <= v <= _PI:
            return [t, u, v], "LSL"
    return None


def _lsr(x, y, phi):
    u1, t1 = _polar(x + math.sin(phi), y - 1.0 - math.cos(phi))
    u1 = u1 * u1
    if u1 >= 4.0:
        u = math.sqrt(u1 - 4.0)
        theta = math.atan2(2.0, u)
        t = _mod2pi(t1 + theta)
        v = _mod2pi(t - phi)
        if t >= 0.0 and v >= 0.0:
            return [t, u, v], "LSR"
    return None


def _lxrxl(x, y, phi):
    u1, theta = _polar(x - math.sin(phi), y - 1.0 + math.cos(phi))
    if u1 <= 4.0:
        a = math.acos(0.25 * u1)
        t = _mod2pi(a + theta + 0.5 * _PI)
        u = _mod2pi(_PI - 2.0 * a)
        v = _mod2pi(phi - t - u)
        return [t, -u, v], "LRL"
    return None


def _lxrl(x, y, phi):
    u1, theta = _polar(x - math.sin(phi), y - 1.0 + math.cos(phi))
    if u1 <= 4.0:
        a = math.acos(0.25 * u1)
        t = _mod2pi(a + theta + 0.5 * _PI)
        u = _mod2pi(_PI - 2.0 * a)
        v = _mod2pi(-phi + t + u)
        return [t, -u, -v], "LRL"
    return None


def _lrxl(x, y, phi):
    u1, theta = _polar(x - math.sin(phi), y - 1.0 + math.cos(phi))
    if 1e-9 < u1 <= 4.0:
        u = math.acos(1.0 - u1 * u1 * 0.125)
        sa = 2.0 * math.sin(u) / u1
        if abs(sa) > 1.0:
            return None
        a = math.asin(sa)
        t = _mod2pi(-a + theta + 0.5 * _PI)
        v = _mod2pi(t - u - phi)
        return [t, u, -v], "LRL"
    return None


_FAMILIES = (_lsl, _lsr, _lxrxl, _lxrl, _lrxl)


@dataclass(frozen=True)
class RSPath:
    """Segments as (type in 'LSR', signed length in metres; negative = reverse)."""

    segments: tuple
    length_m: float

    def sample(self, start, radius_m: float, step_m: float) -> np.ndarray:
        """Poses (N, 4) [x, y, yaw, direction(+1/-1)] along the path every ~step_m."""
        x, y, yaw = (float(v) for v in start)
        out = [(x, y, yaw, 1.0 if self.segments and self.segments[0][1] >= 0 else -1.0)]
        for kind, seg_len in self.segments:
            if abs(seg_len) < 1e-9:
                continue
            n = max(1, int(math.ceil(abs(seg_len) / step_m)))
            ds = np.linspace(0.0, seg_len, n + 1)[1:]
            direction = 1.0 if seg_len > 0 else -1.0
            if kind == "S":
                xs = x + ds * math.cos(yaw)
                ys = y + ds * math.sin(yaw)
                yaws = np.full_like(ds, yaw)
            else:
                sgn = 1.0 if kind == "L" else -1.0
                yaws = yaw + sgn * ds / radius_m
                xs = x + sgn * radius_m * (np.sin(yaws) - math.sin(yaw))
                ys = y - sgn * radius_m * (np.cos(yaws) - math.cos(yaw))
            out.extend(zip(xs, ys, yaws, np.full_like(ds, direction)))
            x, y, yaw = float(xs[-1]), float(ys[-1]), float(yaws[-1])
        return np.asarray(out)

    def end_pose(self, start, radius_m: float) -> tuple:
        """Closed-form end pose (no sampling)."""
        x, y, yaw = (float(v) for v in start)
        for kind, seg_len in self.segments:
            if kind == "S":
                x += seg_len * math.cos(yaw)
                y += seg_len * math.sin(yaw)
            else:
                sgn = 1.0 if kind == "L" else -1.0
                new_yaw = yaw + sgn * seg_len / radius_m
                x += sgn * radius_m * (math.sin(new_yaw) - math.sin(yaw))
                y -= sgn * radius_m * (math.cos(new_yaw) - math.cos(yaw))
                yaw = new_yaw
        return x, y, yaw


def reeds_shepp_paths(start, goal, radius_m: float, check_tolerance_m: float = 1e-3) -> list:
    """All candidate Reeds-Shepp paths start -> goal, shortest first (poses = (x, y, yaw))."""
    if not (math.isfinite(radius_m) and radius_m > 0):
        raise ValueError(f"radius_m must be > 0, got {radius_m}")
    sx, sy, syaw = (float(v) for v in start)
    gx, gy, gyaw = (float(v) for v in goal)
    dx, dy = gx - sx, gy - sy
    c, s = math.cos(syaw), math.sin(syaw)
    x = (c * dx + s * dy) / radius_m
    y = (-s * dx + c * dy) / radius_m
    phi = _mod2pi(gyaw - syaw)
    found = []
    for fam in _FAMILIES:
        for flip_t, flip_r in ((False, False), (True, False), (False, True), (True, True)):
            xx = -x if flip_t else x
            yy = -y if flip_r else y
            pp = -phi if (flip_t != flip_r) else phi
            res = fam(xx, yy, pp)
            if res is None:
                continue
            lengths, word = res
            if flip_t:
                lengths = [-v for v in lengths]
            if flip_r:
                word = word.translate(str.maketrans("LR", "RL"))
            segs = tuple((k, float(v) * radius_m) for k, v in zip(word, lengths) if abs(v) > 1e-10)
            total = sum(abs(v) for _k, v in segs)
            found.append(RSPath(segs, total))
    found.sort(key=lambda p: p.length_m)
    good = []
    seen = set()
    for p in found:
        key = tuple((k, round(v, 6)) for k, v in p.segments)
        if key in seen:
            continue
        seen.add(key)
        end = p.end_pose((sx, sy, syaw), radius_m)
        if math.hypot(end[0] - gx, end[1] - gy) <= check_tolerance_m * max(1.0, radius_m) and \
                abs(_mod2pi(end[2] - gyaw)) <= 1e-3:
            good.append(p)
    return good


def reeds_shepp_shortest(start, goal, radius_m: float):
    paths = reeds_shepp_paths(start, goal, radius_m)
    return paths[0] if paths else None

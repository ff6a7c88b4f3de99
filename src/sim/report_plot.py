"""Top-view figure of a demo run (plots live here, never in the algorithms)."""
from __future__ import annotations

import math

import numpy as np


def plot_report(path, world, occ, ev, sc, report) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, Polygon

    from .worldmap import footprints

    fig, ax = plt.subplots(figsize=(10, 8), dpi=110)
    for kind, p, _ in footprints(world):
        if kind == "box":
            cx, cy, yaw, sx, sy = p
            c, s = math.cos(yaw), math.sin(yaw)
            corners = [(cx + c * dx - s * dy, cy + s * dx + c * dy)
                       for dx, dy in ((-sx / 2, -sy / 2), (sx / 2, -sy / 2), (sx / 2, sy / 2), (-sx / 2, sy / 2))]
            ax.add_patch(Polygon(corners, closed=True, color="0.6"))
        else:
            ax.add_patch(Circle(p[:2], p[2], color="0.6"))
    for name, tr in ev.actors.items():
        a = np.asarray(tr.xyz)
        if len(a):
            ax.plot(a[:, 0], a[:, 1], ":", color="tab:purple", lw=1)
            ax.plot(a[-1, 0], a[-1, 1], "o", color="tab:purple", ms=4)
    car = np.asarray(ev.car.xyz)
    if len(car):
        ax.plot(car[:, 0], car[:, 1], "-", color="tab:blue", lw=2,
                label=f"{sc.car_model} ({report['car']['path_length_m']} m)")
        ax.plot(*car[0, :2], "s", color="tab:blue")
    if sc.car_goal_xy is not None:
        ax.plot(*sc.car_goal_xy, "*", color="tab:blue", ms=14, label="car goal")
    uav = np.asarray(ev.uav.xyz)
    if len(uav):
        pts = ax.scatter(uav[:, 0], uav[:, 1], c=uav[:, 2], cmap="viridis", s=4,
                         label=f"{sc.uav_model} (colour: altitude)")
        fig.colorbar(pts, ax=ax, label=f"{sc.uav_model} altitude [m]", shrink=0.7)
    if sc.uav_mission:
        m = np.asarray(sc.uav_mission)
        ax.plot(m[:, 0], m[:, 1], "x--", color="tab:orange", lw=1, label="uav mission")
    for e in report["collisions"]:
        ax.plot(e["position"][0], e["position"][1], "rX", ms=12)
    x0, x1, y0, y1 = occ.extent
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xlabel("x east [m]")
    ax.set_ylabel("y north [m]")
    status = "SUCCESS" if report["success"] else "FAILED"
    clearance = ", ".join(f"min clearance {k} {report[k]['min_clearance_m']} m" for k in ("car", "uav") if k in report)
    ax.set_title(f"{sc.name} ({world.name}): {status}, {report['collision_count']} collisions, {clearance}, "
                 f"sim {report['sim_time_s']} s, RTF {report['real_time_factor']}", fontsize=8)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

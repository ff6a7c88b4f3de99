"""Issue 6 acceptance in the simulator: car1's stack (obstacle_node + planner_node + controller_node from
launch/demo.launch.xml) drives 500 m (three laps less 12 m) around the town's north-west block among the
world's moving actors with no collision: pedestrian_1 crosses the north-south street kerb to kerb and
waits at each kerb, a group of three steps out past parked_car_2 and blocks the east-west street for
12 s (added to the world by this test). For every pedestrian perception reports in the car's path
while the car moves, the stack commands braking within 100 ms of sim time, counted from the lidar scan
behind that perception/objects message to the first cmd_vel below the car's speed.

Everything runs over real DDS in this process, lock-stepped with the simulator (rtf 0, 20 ms chunks),
as `skyroad demo` does; the nodes judge input freshness on sim time (use_sim_time), so a slow host
does not change what the car does. The operator part of the test publishes the prior map (/map, from
the SDF) and the route as a `mission` (at most a lap less 50 m), re-sent from the car's position every
third of a lap (a lap's polyline would project ambiguously onto itself if several laps were sent at once).

Measured stamps: the detection time is the header stamp of the perception/objects message (= the
lidar scan's stamp); the command time is the sim clock when the test's subscriber receives the Twist
(lock-step: all nodes have run by the end of the 20 ms chunk, so this is an upper bound, +20 ms).
"""
from __future__ import annotations

import math
import os
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")

from skyroad.sim.demo import DEFAULT_LAUNCH, _build_nodes  # noqa: E402

# Counter-clockwise lap around the north-west block in right-hand traffic: east on the east-west
# street (y = -2.5, its eastbound lane), north on the north-south street, west north of the block,
# south west of it. Corners are arcs (operator-side route geometry, radius 9 m).
LAP_CORNERS = np.array([[-10.0, -2.5], [40.5, -2.5], [40.5, 40.0], [-10.0, 40.0]])
CORNER_RADIUS_M = 9.0
ROUTE_M = 500.0                  # the route length: three laps less 11 m
TARGET_DISTANCE_M = ROUTE_M + 2.0   # the last mission ends there; the car stops within its goal tolerance
WALL_LIMIT_S = 300.0
CORRIDOR_HALF_WIDTH_M = 0.805 + 0.3 + 0.25   # a pedestrian's edge within 0.3 m of the car's side
CORRIDOR_AHEAD_M = 25.0
BODY_FRONT_M = 1.164 + 4.508 / 2.0    # base_link (rear axle) to the front bumper
PEDESTRIAN_MATCH_M = 1.5
LIDAR_X_M = 3.45                      # skyroad_car model.sdf: planar lidar in the front bumper
PEDESTRIAN_RADIUS_M = 0.25
# The car's drivetrain follows the speed command with a first-order lag (skyroad_car model.sdf,
# drive_time_constant): a command below the current speed is a deceleration request of
# (v - cmd) / tau; with tau = 0.2 s, 0.05 m/s below asks for >= 0.25 m/s^2 of braking.
BRAKE_MARGIN_MPS = 0.05


def _rounded_loop(corners: np.ndarray, radius: float, step_m: float = 1.0) -> np.ndarray:
    """Closed polyline through `corners` (counter-clockwise) with circular arcs of `radius` at each corner."""
    pts = []
    n = len(corners)
    for i in range(n):
        p_prev, p, p_next = corners[i - 1], corners[i], corners[(i + 1) % n]
        a = (p - p_prev) / np.linalg.norm(p - p_prev)
        b = (p_next - p) / np.linalg.norm(p_next - p)
        start, end = p - a * radius, p + b * radius
        centre = start + np.array([-a[1], a[0]]) * radius          # left turn: centre on the left
        th0 = math.atan2(start[1] - centre[1], start[0] - centre[0])
        th1 = math.atan2(end[1] - centre[1], end[0] - centre[0])
        th1 = th0 + ((th1 - th0) % (2 * math.pi))
        k = max(2, int(radius * (th1 - th0) / step_m))
        pts += [centre + radius * np.array([math.cos(t), math.sin(t)]) for t in np.linspace(th0, th1, k)]
    return np.asarray(pts)


def _mission_from(loop: np.ndarray, xy: np.ndarray, yaw: float, length_m: float) -> np.ndarray:
    """Waypoints along the closed loop from the point nearest `xy` whose direction is within 90 degrees
    of `yaw` (the lap runs one way), `length_m` long."""
    tangent = np.roll(loop, -1, axis=0) - loop
    ahead = tangent @ np.array([math.cos(yaw), math.sin(yaw)]) > 0.0
    dist = np.where(ahead, np.linalg.norm(loop - xy, axis=1), np.inf)
    i0 = int(np.argmin(dist))
    seg = np.linalg.norm(np.diff(np.vstack([loop, loop[:1]]), axis=0), axis=1)
    out, acc, i = [loop[i0]], 0.0, i0
    while acc < length_m:
        acc += seg[i % len(loop)]
        i += 1
        out.append(loop[i % len(loop)])
    return np.asarray(out)


# A group of three pedestrians steps out past parked_car_2 onto the east-west street, 3 m apart
# (y = -5.5, -2.5, +0.5: less than a car's width + margins between them), stands there 12 s and walks
# back: the lane and both sides of it are blocked, so car1 cannot swerve and must stop in time.
STEP_OUT_Y_M = (-5.5, -2.5, 0.5)


def town_world_with_step_out(out_dir, t_out_s: float = 5.0, walk_speed_mps: float = 1.4, stand_s: float = 12.0):
    """sim_worlds/town.sdf plus the stepping-out group (actors from the world generator's
    actor_pedestrian), written next to the original (model:// lookups unchanged)."""
    import importlib.util
    from skyroad.sim.demo import REPO
    spec = importlib.util.spec_from_file_location("make_worlds", REPO / "sim_worlds" / "tools" / "make_worlds.py")
    make_worlds = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_worlds)
    src = (REPO / "sim_worlds" / "town.sdf").read_text()
    actors = "".join(make_worlds.actor_pedestrian(f"pedestrian_step_out_{k}", [(30.0, -7.5), (30.0, y)],
                                                  walk_speed_mps, delay=t_out_s, loop=False, back=True,
                                                  dwell_s=stand_s)
                     for k, y in enumerate(STEP_OUT_Y_M))
    i = src.rindex("</world>")
    path = out_dir / "town_step_out.sdf"
    path.write_text(src[:i] + actors.strip() + "\n    " + src[i:])
    return path


def _yaw(q) -> float:
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


def run_town_drive(target_distance_m: float, wall_limit_s: float, seed: int = 0, world: str = "town.sdf") -> dict:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import PoseStamped, Twist
    from nav_msgs.msg import OccupancyGrid, Path as PathMsg
    from sensor_msgs.msg import LaserScan, PointCloud2

    from skyroad.common.ros import (LATCHED_QOS, RELIABLE_QOS, SENSOR_QOS, SkyroadNode, destroy_nodes,
                                    make_executor, s_to_stamp, spin_until_quiet, stamp_to_s)
    from skyroad.perception.ros_convert import cloud_fields
    from skyroad.sim.node import SimNode
    from skyroad.sim.worldmap import occupancy_from_world

    loop = _rounded_loop(LAP_CORNERS, CORNER_RADIUS_M)
    lap_m = float(np.sum(np.linalg.norm(np.diff(np.vstack([loop, loop[:1]]), axis=0), axis=1)))
    # a mission must not come back near its own start: the planner's reference line extends 30 m
    # straight past both ends, and the end would project onto that extension
    mission_m = lap_m - 50.0
    context = rclpy.context.Context()
    rclpy.init(args=[], context=context)
    created = []
    wall0 = time.monotonic()
    try:
        built = _build_nodes(str(DEFAULT_LAUNCH), str(world), seed, context, stack=True)
        created += [n for _, n in built]
        sim_node = next(n for n in created if isinstance(n, SimNode))
        sim = sim_node.sim
        # a SkyroadNode: its callbacks count for spin_until_quiet (an uncounted slow one looks quiet)
        op = SkyroadNode("town_operator", context=context)
        created.append(op)
        occ = occupancy_from_world(sim.world, 0.25, (-30.0, 90.0, -45.0, 55.0))
        grid = OccupancyGrid()
        grid.header.frame_id = "map"
        grid.info.resolution = float(occ.resolution_m)
        grid.info.height, grid.info.width = occ.occupied.shape
        grid.info.origin.position.x, grid.info.origin.position.y = (float(v) for v in occ.origin_xy)
        grid.info.origin.orientation.w = 1.0
        grid.data = (occ.occupied.astype(np.int8) * 100).ravel().tolist()
        map_pub = op.create_publisher(OccupancyGrid, "/map", LATCHED_QOS)
        mission_pub = op.create_publisher(PathMsg, "/car1/mission", RELIABLE_QOS)
        objects_rx, cmd_rx = [], []
        op.create_subscription(PointCloud2, "/car1/perception/objects",
                               lambda m: objects_rx.append((sim.time_s, stamp_to_s(m.header.stamp),
                                                            cloud_fields(m, ("x", "y", "vx", "vy", "length", "width", "yaw")))), RELIABLE_QOS)
        op.create_subscription(Twist, "/car1/cmd_vel", lambda m: cmd_rx.append((sim.time_s, m.linear.x)),
                               RELIABLE_QOS)
        traj_rx = []
        scan_rx = []     # (header stamp, lidar returns in the world frame, from the ground-truth pose)

        def on_scan(m):
            r = np.asarray(m.ranges, dtype=float)
            ang = m.angle_min + m.angle_increment * np.arange(r.size)
            ok = np.isfinite(r) & (r >= m.range_min) & (r <= m.range_max)
            px, py = LIDAR_X_M + r[ok] * np.cos(ang[ok]), r[ok] * np.sin(ang[ok])
            p, rot = sim.body_pose("car1")   # lock-step: the pose of this chunk, <= 20 ms after the stamp
            c, sn = rot[0, 0], rot[1, 0]
            scan_rx.append((stamp_to_s(m.header.stamp), np.column_stack([p[0] + c * px - sn * py,
                                                                        p[1] + sn * px + c * py])))
        op.create_subscription(LaserScan, "/car1/sensors/scan", on_scan, SENSOR_QOS)

        def on_traj(m):   # (receipt, header stamp, lowest planned speed from the pose stamps)
            if len(m.poses) < 2:
                traj_rx.append((sim.time_s, stamp_to_s(m.header.stamp), 0.0))
                return
            ts = np.array([stamp_to_s(p.header.stamp) for p in m.poses])
            xy = np.array([[p.pose.position.x, p.pose.position.y] for p in m.poses])
            v = np.linalg.norm(np.diff(xy, axis=0), axis=1) / np.maximum(np.diff(ts), 1e-6)
            traj_rx.append((sim.time_s, stamp_to_s(m.header.stamp), float(v.min())))
        op.create_subscription(PathMsg, "/car1/planning/trajectory", on_traj, RELIABLE_QOS)
        diag_rx = []     # (sim time, status name, message) of the car's planner and controller

        def on_diag(m):
            for st in m.status:
                if st.name.startswith(("car1/planner_node", "car1/controller_node")) and \
                        st.name.endswith((": planner", ": tracking")):
                    diag_rx.append((sim.time_s, st.name, st.message))
        op.create_subscription(DiagnosticArray, "/diagnostics", on_diag, RELIABLE_QOS)
        executor = make_executor(context)
        for n in created:
            executor.add_node(n)
        sim_node.stop_timer()
        for _ in range(20):
            executor.spin_once(timeout_sec=0.01)
        car = next(c for c in sim.cars if c.name == "car1")

        current = {}

        def send_mission(xy, yaw, length_m):
            wps = _mission_from(loop, xy, yaw, length_m)
            msg = PathMsg()
            current["msg"] = msg
            msg.header.frame_id = "map"
            msg.header.stamp = s_to_stamp(sim.time_s)
            for x, y in wps:
                ps = PoseStamped()
                ps.header = msg.header
                ps.pose.position.x, ps.pose.position.y = float(x), float(y)
                ps.pose.orientation.w = 1.0
                msg.poses.append(ps)
            mission_pub.publish(msg)

        grid.header.stamp = s_to_stamp(0.0)
        map_pub.publish(grid)
        pos0, rot0 = sim.body_pose("car1")
        send_mission(pos0[:2], math.atan2(rot0[1, 0], rot0[0, 0]), min(mission_m, target_distance_m))
        sent_at_m = 0.0
        dist_m = 0.0
        prev_xy = pos0[:2].copy()
        samples = []     # (t, x, y, yaw, v, {actor: xy})
        min_clear = math.inf
        reason = "target distance reached"
        final_sent = target_distance_m <= mission_m   # the first mission already ends at the target
        next_resend_s = 0.0
        actor_names = list(sim.actor_positions())
        debug = bool(os.environ.get("SKYROAD_TOWN_DEBUG"))
        while True:
            sim_node.advance_to(sim.time_s + sim_node.p.chunk_s)
            spin_until_quiet(executor, created)
            p, rot = sim.body_pose("car1")
            dist_m += float(np.linalg.norm(p[:2] - prev_xy))
            prev_xy = p[:2].copy()
            yaw = math.atan2(rot[1, 0], rot[0, 0])
            samples.append((sim.time_s, p[0], p[1], yaw, float(car.drive.model.v),
                            {k: v[:2].copy() for k, v in sim.actor_positions().items()}))
            if len(samples) % 5 == 0:
                min_clear = min(min_clear, sim.clearance("car1", 10.0))
            if debug and len(samples) % 250 == 0:
                print(f"t={sim.time_s:.1f} s dist={dist_m:.1f} m v={car.drive.model.v:.2f} "
                      f"xy=({p[0]:.1f}, {p[1]:.1f}) last={diag_rx[-2:] if diag_rx else None}", flush=True)
            remaining = target_distance_m - dist_m
            if not final_sent and dist_m - sent_at_m > lap_m / 3.0:
                final_sent = remaining < mission_m
                send_mission(p[:2], yaw, min(mission_m, remaining))
                sent_at_m = dist_m
            if sim.time_s >= next_resend_s:   # volatile QoS: re-send (unchanged) until surely received
                next_resend_s = sim.time_s + 1.0
                current["msg"].header.stamp = s_to_stamp(sim.time_s)
                mission_pub.publish(current["msg"])
                map_pub.publish(grid)
            if sim.contacts.events:
                reason = "collision"
                break
            if dist_m >= target_distance_m - 1.0 or (final_sent and abs(car.drive.model.v) < 0.05
                                                      and remaining < 3.0):
                break
            if time.monotonic() - wall0 > wall_limit_s:
                reason = "wall time limit"
                break
        executor.shutdown()
        report = _evaluate(samples, objects_rx, cmd_rx, scan_rx, actor_names, loop)
        report.update(distance_m=round(dist_m, 1), sim_time_s=round(sim.time_s, 2),
                      wall_time_s=round(time.monotonic() - wall0, 1), end_reason=reason,
                      collisions=[(e.time_s, e.other) for e in sim.contacts.events],
                      min_clearance_m=round(min_clear, 3), lap_m=round(lap_m, 1))
        report["trace"] = dict(samples=samples, cmd=cmd_rx, traj=traj_rx, objects=objects_rx, diag=diag_rx)
        return report
    finally:
        destroy_nodes(created, context)


def _project_on_loop(loop: np.ndarray, xy) -> tuple:
    """(arc length, signed lateral offset, left positive) of point `xy` on the closed polyline `loop`."""
    a = loop
    b = np.roll(loop, -1, axis=0)
    ab = b - a
    seg = np.linalg.norm(ab, axis=1)
    u = np.clip(((xy - a) * ab).sum(axis=1) / np.maximum(seg ** 2, 1e-12), 0.0, 1.0)
    foot = a + u[:, None] * ab
    i = int(np.argmin(np.linalg.norm(xy - foot, axis=1)))
    s0 = np.concatenate([[0.0], np.cumsum(seg)])[i]
    cross = ab[i, 0] * (xy[1] - a[i, 1]) - ab[i, 1] * (xy[0] - a[i, 0])
    return s0 + u[i] * seg[i], math.copysign(float(np.linalg.norm(xy - foot[i])), cross)


def _evaluate(samples, objects_rx, cmd_rx, scan_rx, actor_names, loop) -> dict:
    """Reaction events, one per pedestrian entering the car's path while the car moves (ground
    truth). In the path: within CORRIDOR_HALF_WIDTH_M of the lap's centre line or of the car's own
    lateral offset from it, and 0-CORRIDOR_AHEAD_M ahead of the front bumper along the lap (not along
    the body axis, which sweeps across the kerbs in a turn). detection = the first perception/objects
    message (stamp = its lidar scan's) with an object within PEDESTRIAN_MATCH_M of the pedestrian
    while it is in the path, the object's reported position in the path too; braking command = the
    first cmd_vel received at or after the detection that commands a speed below the car's speed by
    more than BRAKE_MARGIN_MPS (a deceleration request: cruising or accelerating commands sit at or
    above the current speed). first_return = the first raw lidar scan with a return on the
    pedestrian's cylinder while it is in the path (first_return_to_detect_s: how long
    perception took to report it)."""
    t = np.array([s[0] for s in samples])
    peds = [a for a in actor_names if a.startswith("pedestrian")]
    lap_m = float(np.sum(np.linalg.norm(np.roll(loop, -1, axis=0) - loop, axis=1)))

    def state_at(ts):
        return samples[int(np.clip(np.searchsorted(t, ts), 0, len(samples) - 1))]

    def in_corridor(s, xy):
        _, x, y, yaw, _, _ = s
        front = np.array([x + BODY_FRONT_M * math.cos(yaw), y + BODY_FRONT_M * math.sin(yaw)])
        s_car, d_car = _project_on_loop(loop, front)
        s_ped, d_ped = _project_on_loop(loop, np.asarray(xy, dtype=float))
        ahead = (s_ped - s_car) % lap_m
        lateral = min(abs(d_ped), abs(d_ped - d_car))
        return ahead < CORRIDOR_AHEAD_M and lateral < CORRIDOR_HALF_WIDTH_M

    def first_seen(stream, name, t_from, t_to, match_m):
        for stamp, objs in stream:
            if stamp < t_from or stamp > t_to or len(objs) == 0:
                continue
            s = state_at(stamp)
            ped = s[5][name]
            if in_corridor(s, ped) and np.min(np.linalg.norm(objs - ped, axis=1)) <= match_m:
                return stamp
        return None

    objects = sorted(((st, obj[:, :2]) for _, st, obj in objects_rx), key=lambda e: e[0])
    scans = sorted(scan_rx, key=lambda e: e[0])
    events = []
    busy_until = {}
    for stamp, objs in objects:
        if len(objs) == 0:
            continue
        s = state_at(stamp)
        if s[4] < 0.5:        # standing: nothing to react to
            continue
        for name in peds:
            if stamp < busy_until.get(name, -math.inf):
                continue
            ped = s[5][name]
            if not in_corridor(s, ped):
                continue
            dist = np.linalg.norm(objs - ped, axis=1)
            j = int(np.argmin(dist))
            # perception reports it, and reports it in the path (a track lagging behind a person
            # who just started walking is a perception delay: first_return_to_detect_s shows it)
            if dist[j] > PEDESTRIAN_MATCH_M or not in_corridor(s, objs[j]):
                continue
            busy_until[name] = stamp + 10.0
            brake = next((ct for ct, v in cmd_rx if ct >= stamp - 1e-6 and v < state_at(ct)[4] - BRAKE_MARGIN_MPS),
                         None)
            # a return on the cylinder (+ 0.15 m for range noise and motion within a 20 ms chunk)
            first_return = first_seen(scans, name, stamp - 3.0, stamp, PEDESTRIAN_RADIUS_M + 0.15)
            later = [x for x in samples if stamp <= x[0] <= stamp + 10.0]
            stopped = [x for x in later if abs(x[4]) < 0.3]
            gap = None
            if stopped:   # distance from the front bumper to the pedestrian when the car first stood
                x0 = stopped[0]
                px = x0[5][name]
                gap = round(float(math.cos(x0[3]) * (px[0] - x0[1]) + math.sin(x0[3]) * (px[1] - x0[2])
                                  - BODY_FRONT_M), 2)
            events.append(dict(
                pedestrian=name, detect_stamp_s=round(stamp, 3), speed_at_detection_mps=round(s[4], 2),
                first_return_to_detect_s=None if first_return is None else round(stamp - first_return, 3),
                detect_to_brake_cmd_s=None if brake is None else round(brake - stamp, 3),
                stopped=bool(stopped), gap_when_stopped_m=gap))
    return {"events": events}


# Two seeds of the sensor noise: the run is deterministic per seed (exact lock-step), and another
# seed is another run (in a 12-seed sweep, seed 7 had a person walk into the path of a car standing
# at an angle, which the yield rule met 0.62 s late before it watched the front bumper's corridor).
# ~75 s each.
@pytest.mark.parametrize("seed", [0, 7])
def test_town_drive_laps_brakes_for_pedestrian_without_collision(tmp_path, seed):
    r = run_town_drive(TARGET_DISTANCE_M, WALL_LIMIT_S, seed=seed, world=town_world_with_step_out(tmp_path))
    import pickle
    with open(tmp_path / "town_trace.pkl", "wb") as f:   # for a post-mortem of a failed run
        pickle.dump(r.pop("trace"), f)
    print(r)
    assert r["collisions"] == [], r
    assert r["end_reason"] == "target distance reached", r
    assert r["distance_m"] >= ROUTE_M, r
    assert r["min_clearance_m"] > 0.0, r
    group = [e for e in r["events"] if e["pedestrian"].startswith("pedestrian_step_out")]
    assert group, f"the stepping-out group never came into the car's path: {r}"
    # the group blocks the street: the car must stop short of it
    assert any(e["stopped"] and e["gap_when_stopped_m"] > 0.0 for e in group), group
    for ev in r["events"]:
        # every pedestrian perception reports in the car's path gets a braking command within 100 ms
        # of sim time from the lidar scan that showed it
        assert ev["detect_to_brake_cmd_s"] is not None and ev["detect_to_brake_cmd_s"] <= 0.1, ev

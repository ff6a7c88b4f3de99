"""Sensors: lidar against an analytic scene, noise statistics, IMU at rest, navsat, camera, determinism."""
import math
from pathlib import Path

import numpy as np
import pytest

from skyroad.sim.simulator import Simulator

WORLDS = Path(__file__).resolve().parents[2] / "sim_worlds"


def lidar_world(write_world, noise=""):
    # rig at (0, 0, 1): wall face at x = 5 (|y| <= 10), cylinder r = 0.5 centred at (0, -4), nothing behind
    return write_world(f"""
        <spherical_coordinates><latitude_deg>46.6129</latitude_deg><longitude_deg>7.6781</longitude_deg>
          <elevation>706</elevation></spherical_coordinates>
        <model name="wall"><static>true</static><pose>5.5 0 2 0 0 0</pose><link name="l">
          <collision name="c"><geometry><box><size>1 20 4</size></box></geometry></collision></link></model>
        <model name="post"><static>true</static><pose>0 -4 2 0 0 0</pose><link name="l">
          <collision name="c"><geometry><cylinder><radius>0.5</radius><length>4</length></cylinder></geometry></collision></link></model>
        <model name="rig"><static>true</static><pose>0 0 1 0 0 0</pose><link name="l">
          <sensor name="lidar" type="gpu_lidar"><update_rate>10</update_rate><topic>/rig/scan</topic>
            <lidar><scan><horizontal><samples>181</samples><min_angle>-1.5707963</min_angle>
              <max_angle>1.5707963</max_angle></horizontal></scan>
              <range><min>0.2</min><max>30</max></range>{noise}</lidar></sensor>
          <sensor name="imu" type="imu"><update_rate>200</update_rate><topic>/rig/imu</topic></sensor>
          <sensor name="gps" type="navsat"><update_rate>5</update_rate><topic>/rig/gps</topic></sensor>
        </link></model>""")


def test_lidar_ranges_match_the_analytic_scene(write_world):
    sim = Simulator(lidar_world(write_world), enable_cameras=False)
    outs = sim.run(0.1)
    scan = next(o.data for o in outs if o.topic == "/rig/scan")
    cloud = next(o.data for o in outs if o.topic == "/rig/scan/points")
    angles = scan.angle_min + scan.angle_increment * np.arange(len(scan.ranges))
    assert len(scan.ranges) == 181 and scan.angle_increment == pytest.approx(math.pi / 180)
    wall = np.abs(np.tan(angles)) * 5.0 <= 10.0 - 1e-6
    wall &= np.abs(angles) < math.pi / 2 - 1e-6
    np.testing.assert_allclose(scan.ranges[wall], 5.0 / np.cos(angles[wall]), rtol=1e-5)
    i = int(np.argmin(np.abs(angles + math.pi / 2)))     # straight at the post
    assert scan.ranges[i] == pytest.approx(3.5, abs=1e-4)
    # beams between the wall's end and the post see nothing: +inf (REP 117)
    free = (angles > -1.4) & (angles < -1.1)
    assert np.all(np.isinf(scan.ranges[free]) & (scan.ranges[free] > 0))
    assert len(cloud.points) == np.isfinite(scan.ranges).sum()
    np.testing.assert_allclose(np.linalg.norm(cloud.points, axis=1), scan.ranges[np.isfinite(scan.ranges)], rtol=1e-5)


def test_lidar_noise_statistics(write_world):
    sim = Simulator(lidar_world(write_world, "<noise><type>gaussian</type><mean>0</mean><stddev>0.02</stddev></noise>"),
                    seed=3, enable_cameras=False)
    outs = sim.run(2.0)
    scans = [o.data for o in outs if o.topic == "/rig/scan"]
    angles = scans[0].angle_min + scans[0].angle_increment * np.arange(181)
    i = int(np.argmin(np.abs(angles)))
    err = np.array([s.ranges[i] for s in scans]) - 5.0
    assert len(err) in (20, 21)
    all_err = np.concatenate([s.ranges[85:96] - 5.0 / np.cos(angles[85:96]) for s in scans])
    assert np.std(all_err) == pytest.approx(0.02, rel=0.2)
    assert abs(np.mean(all_err)) < 0.006


def test_imu_at_rest_reads_gravity_and_navsat_the_origin(write_world):
    sim = Simulator(lidar_world(write_world), enable_cameras=False)
    outs = sim.run(0.5)
    imu = [o.data for o in outs if o.topic == "/rig/imu"]
    assert len(imu) in (100, 101)                              # 200 Hz (first sample at the first step)
    np.testing.assert_allclose(imu[-1].linear_acceleration, (0, 0, 9.8), atol=1e-6)   # no noise declared
    np.testing.assert_allclose(imu[-1].angular_velocity, 0, atol=1e-9)
    fix = [o.data for o in outs if o.topic == "/rig/gps"][-1]
    # 1 m above the world origin at the spherical coordinates
    assert fix.latitude_deg == pytest.approx(46.6129, abs=1e-9)
    assert fix.longitude_deg == pytest.approx(7.6781, abs=1e-9)
    assert fix.altitude_m == pytest.approx(707.0, abs=1e-3)


def test_navsat_east_north_offsets():
    from skyroad.sim.sdf import SphericalCoordinates
    from skyroad.sim.sensors import Geodetic
    geo = Geodetic(SphericalCoordinates(46.6129, 7.6781, 706.0, 0.0))
    lat0, lon0, _ = geo.world_to_geodetic((0, 0, 0))
    lat_n, _, _ = geo.world_to_geodetic((0, 1000.0, 0))
    _, lon_e, _ = geo.world_to_geodetic((1000.0, 0, 0))
    # WGS84 meridian / prime-vertical radii at 46.6 deg: 1 km north ~ 0.008993 deg, east ~ 0.013081 deg
    assert (lat_n - lat0) == pytest.approx(1000.0 / 111195.0, rel=3e-3)
    assert (lon_e - lon0) == pytest.approx(1000.0 / (111320.0 * math.cos(math.radians(46.6129))), rel=3e-3)


def run_demo_world(seed):
    sim = Simulator(WORLDS / "demo.sdf", seed=seed, enable_cameras=False)
    sim.command("/model/car1/cmd_vel", ((5.0, 0, 0), (0, 0, 0.1)))
    sim.command("/model/uav1/cmd_vel", ((0.5, 0, 1.0), (0, 0, 0.2)))
    outs = sim.run(3.0)
    imu = np.array([o.data.linear_acceleration for o in outs if o.topic == "/uav1/imu"])
    scan = np.array([o.data.ranges for o in outs if o.topic == "/car1/lidar"])
    pose = np.concatenate([sim.d.qpos.copy(), sim.d.qvel.copy()])
    return imu, scan, pose


def test_same_seed_same_run_different_seed_different_noise():
    a, b, c = run_demo_world(7), run_demo_world(7), run_demo_world(8)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)                 # bit-identical
    assert not np.array_equal(a[0], c[0])           # other noise draws
    # the wind gusts are seeded too, so trajectories differ with the seed, but only a little
    assert np.allclose(a[2], c[2], atol=0.2)


def test_camera_renders_or_is_disabled_with_one_message(caplog):
    sim = Simulator(WORLDS / "demo.sdf", enable_cameras=True)
    if not sim.cameras_enabled:
        assert "cameras disabled" in sim.camera_error
        assert "/car1/camera/image" not in sim.outputs
        return
    outs = sim.run(0.1)
    img = next(o.data for o in outs if o.topic == "/car1/camera/image")
    info = next(o.data for o in outs if o.topic == "/car1/camera/camera_info")
    assert img.pixels.shape == (480, 640, 3) and img.pixels.std() > 5     # not a blank frame
    assert info.k[0, 0] == pytest.approx(640 / (2 * math.tan(1.5708 / 2)), rel=1e-4)


def test_actor_follows_its_trajectory_and_the_lidar_sees_it(write_world):
    path = write_world("""
        <actor name="walker"><link name="body"><collision name="c"><pose>0 0 0.9 0 0 0</pose>
          <geometry><cylinder><radius>0.3</radius><length>1.8</length></cylinder></geometry></collision></link>
          <script><loop>true</loop><delay_start>1.0</delay_start><auto_start>true</auto_start>
            <trajectory id="0" type="walk">
              <waypoint><time>0</time><pose>5 -2 0 0 0 1.5707963</pose></waypoint>
              <waypoint><time>4</time><pose>5 2 0 0 0 1.5707963</pose></waypoint>
            </trajectory></script></actor>
        <model name="rig"><static>true</static><pose>0 0 1 0 0 0</pose><link name="l">
          <sensor name="lidar" type="gpu_lidar"><update_rate>10</update_rate><topic>/rig/scan</topic>
            <lidar><scan><horizontal><samples>1</samples><min_angle>0</min_angle><max_angle>0</max_angle></horizontal></scan>
              <range><min>0.2</min><max>30</max></range></lidar></sensor></link></model>""")
    sim = Simulator(path, enable_cameras=False)
    outs = sim.run(3.0)                                  # 2 s after the delayed start: halfway
    np.testing.assert_allclose(sim.actor_positions()["walker"], (5.0, 0.0, 0.0), atol=1e-6)
    scan = [o.data for o in outs if o.topic == "/rig/scan"][-1]
    assert scan.ranges[0] == pytest.approx(4.7, abs=1e-3)      # cylinder surface at x = 5 - 0.3
    early = Simulator(path, enable_cameras=False)
    np.testing.assert_allclose(early.actor_positions()["walker"], (5.0, -2.0, 0.0), atol=1e-9)

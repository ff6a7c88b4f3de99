"""SDF parsing: every supported element, and clear file:line errors for bad input."""
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from skyroad.sim import sdf
from skyroad.sim.sdf import SdfError

WORLDS = Path(__file__).resolve().parents[2] / "sim_worlds"

BOX = """<model name="box"><static>true</static><pose>1 2 3 0 0 1.5707963</pose>
  <link name="l"><collision name="c"><geometry><box><size>1 2 3</size></box></geometry>
  <surface><friction><ode><mu>0.6</mu><mu2>0.4</mu2></ode></friction></surface></collision>
  <visual name="v"><geometry><box><size>1 2 3</size></box></geometry>
  <material><diffuse>0.1 0.2 0.3 1</diffuse></material></visual></link></model>"""


def test_world_level_elements(write_world):
    path = write_world(f"""
        <physics name="p" type="ode"><max_step_size>0.004</max_step_size><real_time_factor>2</real_time_factor></physics>
        <gravity>0 0 -9.81</gravity>
        <wind><linear_velocity>1 2 0</linear_velocity></wind>
        <spherical_coordinates><surface_model>EARTH_WGS84</surface_model>
          <world_frame_orientation>ENU</world_frame_orientation>
          <latitude_deg>46.6</latitude_deg><longitude_deg>7.6</longitude_deg><elevation>700</elevation>
          <heading_deg>0</heading_deg></spherical_coordinates>
        <light type="directional" name="sun"><direction>0 0 -1</direction></light>
        <plugin filename="gz-sim-physics-system" name="gz::sim::systems::Physics"/>
        {BOX}""")
    w = sdf.load_world(path)
    assert w.name == "w"
    assert w.max_step_size_s == 0.004 and w.real_time_factor == 2.0
    assert w.gravity == (0.0, 0.0, -9.81)
    assert w.wind_velocity == (1.0, 2.0, 0.0)
    assert (w.spherical.latitude_deg, w.spherical.longitude_deg, w.spherical.elevation_m) == (46.6, 7.6, 700.0)
    assert any("<light> ignored" in line for line in w.ignored)
    m = w.model("box")
    assert m.static
    np.testing.assert_allclose(m.pose[:3, 3], (1, 2, 3))
    np.testing.assert_allclose(m.pose[:3, 0], (0, 1, 0), atol=1e-7)    # yaw 90 deg
    col = m.links[0].collisions[0]
    assert col.geometry.kind == "box" and col.geometry.size == (1.0, 2.0, 3.0)
    assert (col.mu, col.mu2) == (0.6, 0.4)
    assert m.links[0].visuals[0].rgba == (0.1, 0.2, 0.3, 1.0)


def test_geometries_joints_inertial(write_world, tmp_path):
    (tmp_path / "tri.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 2 3 4\nf 1 4 3\n")
    path = write_world("""
        <model name="robot">
          <link name="base"><pose>0 0 1 0 0 0</pose>
            <inertial><mass>2</mass><pose>0.1 0 0 0 0 0</pose>
              <inertia><ixx>0.1</ixx><iyy>0.2</iyy><izz>0.25</izz></inertia></inertial>
            <collision name="cyl"><geometry><cylinder><radius>0.5</radius><length>2</length></cylinder></geometry></collision>
            <collision name="sph"><geometry><sphere><radius>0.3</radius></sphere></geometry></collision>
            <collision name="cap"><geometry><capsule><radius>0.1</radius><length>0.4</length></capsule></geometry></collision>
            <collision name="mesh"><geometry><mesh><uri>tri.obj</uri><scale>2 2 2</scale></mesh></geometry></collision>
          </link>
          <link name="arm"><pose relative_to="base">0 0 0.5 0 0 0</pose></link>
          <joint name="hinge" type="revolute"><parent>base</parent><child>arm</child>
            <axis><xyz>0 1 0</xyz><limit><lower>-1</lower><upper>2</upper><effort>5</effort></limit>
              <dynamics><damping>0.1</damping></dynamics></axis></joint>
        </model>
        <model name="ground"><static>true</static><link name="l">
          <collision name="c"><geometry><plane><normal>0 0 1</normal><size>10 10</size></plane></geometry></collision>
        </link></model>""")
    w = sdf.load_world(path)
    base = w.model("robot").link("base")
    assert base.inertial.mass == 2.0 and base.inertial.inertia[:3] == (0.1, 0.2, 0.25)
    kinds = [c.geometry.kind for c in base.collisions]
    assert kinds == ["cylinder", "sphere", "capsule", "mesh"]
    assert base.collisions[3].geometry.scale == (2.0, 2.0, 2.0)
    np.testing.assert_allclose(w.model("robot").link("arm").pose[:3, 3], (0, 0, 1.5))   # relative_to base
    j = w.model("robot").joints[0]
    assert (j.type, j.parent, j.child, j.lower, j.upper, j.effort, j.damping) == ("revolute", "base", "arm", -1, 2, 5, 0.1)
    assert j.axis == (0.0, 1.0, 0.0)
    assert w.model("ground").links[0].collisions[0].geometry.kind == "plane"
    # and MuJoCo accepts the generated model
    from skyroad.sim.simulator import Simulator
    sim = Simulator(w, enable_cameras=False)
    assert sim.m.njnt == 2   # free joint of the root + the hinge


def test_include_model_uri_through_resource_path(write_world, tmp_path, monkeypatch):
    model_dir = tmp_path / "models_here" / "crate"
    model_dir.mkdir(parents=True)
    (model_dir / "model.config").write_text('<?xml version="1.0"?><model><name>crate</name><sdf version="1.9">crate.sdf</sdf></model>')
    (model_dir / "crate.sdf").write_text(f'<?xml version="1.0"?><sdf version="1.9">{BOX.replace("box", "crate", 1)}</sdf>')
    monkeypatch.setenv("GZ_SIM_RESOURCE_PATH", str(tmp_path / "models_here"))
    path = write_world("""<include><uri>model://crate</uri><name>crate_7</name><pose>5 0 0 0 0 0</pose></include>""")
    w = sdf.load_world(path)
    m = w.model("crate_7")
    np.testing.assert_allclose(m.pose[:3, 3], (5, 0, 0))
    assert m.static and m.links[0].collisions[0].geometry.size == (1.0, 2.0, 3.0)


def test_sensors_noise_plugins_actor():
    w = sdf.load_world(WORLDS / "demo.sdf")
    car = w.model("car1")
    sensors = {s.name: s for s in car.link("base_link").sensors}
    assert sensors["imu"].update_rate_hz == 200 and sensors["imu"].topic == "/car1/imu"
    gyro_x = sensors["imu"].params["noise"]["angular_velocity_x"]
    assert gyro_x.type == "gaussian" and gyro_x.stddev == pytest.approx(2.4e-3) and gyro_x.bias_stddev == pytest.approx(8.7e-3)
    lid = sensors["lidar"].params
    assert (lid["h_samples"], lid["range_min"], lid["range_max"]) == (1080, 0.1, 30.0)
    assert lid["noise"].type == "gaussian" and lid["noise"].stddev == pytest.approx(0.015)
    assert sensors["camera"].params["width"] == 640 and sensors["camera"].params["hfov"] == pytest.approx(1.5708)
    assert sensors["navsat"].params["noise"]["position_sensing_horizontal"].stddev == pytest.approx(2.1)
    assert {p.kind for p in car.plugins} == {"ackermann-steering", "odometry-publisher"}
    uav = w.model("uav1")
    assert sum(p.kind == "multicopter-motor-model" for p in uav.plugins) == 4
    actor = next(a for a in w.actors if a.name == "pedestrian_1")
    assert actor.loop and actor.delay_start_s == 2.0 and len(actor.waypoints) == 3
    assert any("<skin> ignored" in line for line in w.ignored)


@pytest.mark.parametrize("body, line, fragment", [
    ("<model name='m'><link name='l'><bogus/></link></model>", 4, "<bogus>: element not supported"),
    ("<model name='m'><pose>1 2 3</pose><link name='l'/></model>", 4, "expected 6 numbers"),
    ("<model name='m'><link name='l'/><plugin filename='libfoo.so' name='foo'/></model>", 4, "not simulated"),
    ("<include><uri>model://does_not_exist</uri></include>", 4, "cannot resolve 'model://does_not_exist'"),
    ("<model name='m'><link name='l'><collision name='c'><geometry><polyline/></geometry></collision></link></model>",
     4, "<polyline>: geometry <polyline> is not supported"),
    ("<model name='m'><link name='l'><sensor name='s' type='thermal_camera'><update_rate>5</update_rate></sensor></link></model>",
     4, "sensor type 'thermal_camera'"),
    ("<model name='m'><link name='a'/><link name='b'/><joint name='j' type='gearbox'><parent>a</parent><child>b</child></joint></model>",
     4, "joint type 'gearbox'"),
    ("<model name='m'><link name='a'/><joint name='j' type='fixed'><parent>a</parent><child>zz</child></joint></model>",
     4, "child link 'zz' does not exist"),
    ("<model name='m'><link name='l'><inertial><mass>-1</mass></inertial></link></model>", 4, "must be > 0"),
    ("<model name='m'><link name='l'><collision name='c'><geometry><mesh><uri>x.dae</uri></mesh></geometry></collision></link></model>",
     4, "file not found"),
])
def test_errors_name_file_line_element(write_world, body, line, fragment):
    path = write_world(body)
    with pytest.raises(SdfError) as info:
        sdf.load_world(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:"), msg
    assert fragment in msg, msg
    assert info.value.line is not None and info.value.line >= line - 1


def test_malformed_xml_and_version(tmp_path):
    bad = tmp_path / "bad.sdf"
    bad.write_text('<?xml version="1.0"?>\n<sdf version="1.9">\n<world name="w">\n<model name="m">\n</world></sdf>\n')
    with pytest.raises(SdfError, match=r"bad.sdf:5: <xml>: malformed XML"):
        sdf.load_world(bad)
    old = tmp_path / "old.sdf"
    old.write_text('<sdf version="1.4"><world name="w"/></sdf>')
    with pytest.raises(SdfError, match="version='1.4' unsupported"):
        sdf.load_world(old)
    with pytest.raises(SdfError, match="file not found"):
        sdf.load_world(tmp_path / "missing.sdf")


def test_actor_needs_collision_link(write_world):
    path = write_world("""<actor name="a"><script><trajectory id="0" type="walk">
        <waypoint><time>0</time><pose>0 0 0 0 0 0</pose></waypoint>
        <waypoint><time>1</time><pose>1 0 0 0 0 0</pose></waypoint></trajectory></script></actor>""")
    with pytest.raises(SdfError, match="actor needs at least one <link>"):
        sdf.load_world(path)


@pytest.mark.parametrize("world", ["town", "airfield", "demo"])
def test_shipped_worlds_load_into_the_sim(world):
    from skyroad.sim.simulator import Simulator
    sim = Simulator(WORLDS / f"{world}.sdf", enable_cameras=False)
    sim.run(0.2)
    assert sim.time_s == pytest.approx(0.2)
    assert not sim.contacts.events


@pytest.mark.skipif(shutil.which("ign") is None, reason="`ign sdf` (libsdformat + ignition-tools) not installed")
@pytest.mark.parametrize("world", ["town", "airfield", "demo"])
def test_shipped_worlds_pass_ign_sdf_check(world):
    env = dict(os.environ, SDF_PATH=str(WORLDS / "models"))
    out = subprocess.run(["ign", "sdf", "-k", str(WORLDS / f"{world}.sdf")], capture_output=True, text=True,
                         env=env, timeout=60)
    assert "Valid." in out.stdout, out.stdout + out.stderr


def test_binary_stl_mesh_and_friction_reach_mujoco(write_world, tmp_path):
    import struct
    verts = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)]
    faces = [(0, 2, 1), (0, 1, 3), (1, 2, 3), (0, 3, 2)]
    with open(tmp_path / "tet.stl", "wb") as f:
        f.write(b"\0" * 80 + struct.pack("<I", len(faces)))
        for face in faces:
            f.write(struct.pack("<3f", 0, 0, 0))
            for i in face:
                f.write(struct.pack("<3f", *verts[i]))
            f.write(b"\0\0")
    path = write_world("""<model name="rock"><static>true</static><link name="l">
        <collision name="c"><geometry><mesh><uri>tet.stl</uri><scale>2 2 2</scale></mesh></geometry>
          <surface><friction><ode><mu>0.35</mu></ode></friction></surface></collision></link></model>""")
    from skyroad.sim.simulator import Simulator
    import mujoco
    sim = Simulator(path, enable_cameras=False)
    g = mujoco.mj_name2id(sim.m, mujoco.mjtObj.mjOBJ_GEOM, "rock::l::c")
    assert sim.m.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH
    assert sim.m.geom_friction[g][0] == pytest.approx(0.35)
    # scaled tetrahedron: its slanted face is x + y + z = 2, so a ray down at (0.05, 0.05) hits z = 1.9
    gid = np.zeros(1, dtype=np.int32)
    hit = mujoco.mj_ray(sim.m, sim.d, np.array([0.05, 0.05, 5.0]), np.array([0, 0, -1.0]), None, 1, -1, gid)
    assert hit == pytest.approx(5.0 - 1.9, abs=1e-6)

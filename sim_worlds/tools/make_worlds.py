"""Writes sim_worlds/town.sdf, airfield.sdf and demo.sdf (run: python sim_worlds/tools/make_worlds.py).

The worlds are plain SDF files, edited by hand as well; this script keeps the repeated parts (city
blocks, actors' waypoint timing from walking speed) consistent. Re-run it after changing a layout
here, then check with `ign sdf -k sim_worlds/<world>.sdf`.
"""
import math
import re
from pathlib import Path
HEADER = """<?xml version="1.0"?>
<sdf version="1.9">
  <world name="{name}">
    <!-- {comment} -->
    <physics name="4ms" type="ode">
      <!-- 4 ms: 3 steps per rotor time constant (12.5 ms; the motor lag is integrated exactly), a 250 Hz
           attitude loop as on flight controllers, and 10x real time on 2 cores -->
      <max_step_size>0.004</max_step_size>
      <real_time_factor>1.0</real_time_factor>
    </physics>
    <gravity>0 0 -9.80665</gravity>
    <plugin filename="gz-sim-physics-system" name="gz::sim::systems::Physics"/>
    <plugin filename="gz-sim-user-commands-system" name="gz::sim::systems::UserCommands"/>
    <plugin filename="gz-sim-scene-broadcaster-system" name="gz::sim::systems::SceneBroadcaster"/>
    <plugin filename="gz-sim-sensors-system" name="gz::sim::systems::Sensors">
      <render_engine>ogre2</render_engine>
    </plugin>
    <plugin filename="gz-sim-imu-system" name="gz::sim::systems::Imu"/>
    <plugin filename="gz-sim-navsat-system" name="gz::sim::systems::NavSat"/>
    <light type="directional" name="sun">
      <cast_shadows>false</cast_shadows>
      <pose>0 0 100 0 0 0</pose>
      <diffuse>0.9 0.9 0.9 1</diffuse>
      <specular>0.2 0.2 0.2 1</specular>
      <direction>-0.5 0.1 -0.9</direction>
    </light>
    <spherical_coordinates>
      <surface_model>EARTH_WGS84</surface_model>
      <world_frame_orientation>ENU</world_frame_orientation>
      <latitude_deg>{lat}</latitude_deg>
      <longitude_deg>{lon}</longitude_deg>
      <elevation>{elev}</elevation>
      <heading_deg>0</heading_deg>
    </spherical_coordinates>
"""
FOOTER = """  </world>
</sdf>
"""

def ground(size=300):
    return f"""    <model name="ground_plane">
      <static>true</static>
      <link name="link">
        <collision name="collision">
          <geometry><plane><normal>0 0 1</normal><size>{size} {size}</size></plane></geometry>
          <surface><friction><ode><mu>1.0</mu><mu2>1.0</mu2></ode></friction></surface>
        </collision>
        <visual name="visual">
          <geometry><plane><normal>0 0 1</normal><size>{size} {size}</size></plane></geometry>
          <material><diffuse>0.35 0.45 0.3 1</diffuse></material>
        </visual>
      </link>
    </model>
"""

def box(name, x, y, z, sx, sy, sz, yaw=0.0, rgba="0.6 0.6 0.6 1", collide=True):
    col = f"""
        <collision name="collision">
          <geometry><box><size>{sx} {sy} {sz}</size></box></geometry>
        </collision>""" if collide else ""
    return f"""    <model name="{name}">
      <static>true</static>
      <pose>{x} {y} {z} 0 0 {yaw}</pose>
      <link name="link">{col}
        <visual name="visual">
          <geometry><box><size>{sx} {sy} {sz}</size></box></geometry>
          <material><diffuse>{rgba}</diffuse></material>
        </visual>
      </link>
    </model>
"""

def cylinder(name, x, y, r, h, rgba="0.2 0.5 0.2 1"):
    return f"""    <model name="{name}">
      <static>true</static>
      <pose>{x} {y} {h/2} 0 0 0</pose>
      <link name="link">
        <collision name="collision"><geometry><cylinder><radius>{r}</radius><length>{h}</length></cylinder></geometry></collision>
        <visual name="visual"><geometry><cylinder><radius>{r}</radius><length>{h}</length></cylinder></geometry>
          <material><diffuse>{rgba}</diffuse></material></visual>
      </link>
    </model>
"""

def building(name, x0, x1, y0, y1, h):
    return box(name, (x0+x1)/2, (y0+y1)/2, h/2, x1-x0, y1-y0, h, rgba="0.75 0.7 0.6 1")

def parked_car(name, x, y, yaw=0.0):
    # CommonRoad vehicle 2 outline (4.508 x 1.610 m), 1.4 m high
    return box(name, x, y, 0.7, 4.508, 1.61, 1.4, yaw, rgba="0.6 0.1 0.1 1")

def actor_pedestrian(name, pts, speed, delay=0.0, loop=True, dwell_s=0.0, back=False):
    """Pedestrian walking through pts (x, y) (and back when looping, or once with `back`) at
    `speed` m/s, standing `dwell_s` at the far end (a person waiting at the kerb before crossing
    back) and, when looping, at the start again; body = 0.5 m wide, 1.75 m tall cylinder."""
    path = pts + pts[-2::-1] if (loop or back) else list(pts)
    t, wps = 0.0, []
    for i, (x, y) in enumerate(path):
        if i > 0:
            t += math.dist(path[i-1], (x, y)) / speed
        nxt = path[i+1] if i + 1 < len(path) else path[i-1]
        yaw = math.atan2(nxt[1]-y, nxt[0]-x) if i + 1 < len(path) else math.atan2(y-path[i-1][1], x-path[i-1][0])
        if dwell_s > 0 and i == len(pts) - 1 and i + 1 < len(path):   # the far end
            wps.append(f"          <waypoint><time>{t:.3f}</time><pose>{x} {y} 0 0 0 {yaw:.4f}</pose></waypoint>")
            t += dwell_s
        wps.append(f"          <waypoint><time>{t:.3f}</time><pose>{x} {y} 0 0 0 {yaw:.4f}</pose></waypoint>")
    if dwell_s > 0 and loop:   # the loop restarts at the first point: stand there too
        t += dwell_s
        x, y = path[-1]
        wps.append(f"          <waypoint><time>{t:.3f}</time><pose>{x} {y} 0 0 0 {yaw:.4f}</pose></waypoint>")
    wp = "\n".join(wps)
    return f"""    <actor name="{name}">
      <skin><filename>https://fuel.gazebosim.org/1.0/Mingfei/models/actor/tip/files/meshes/walk.dae</filename></skin>
      <animation name="walking">
        <filename>https://fuel.gazebosim.org/1.0/Mingfei/models/actor/tip/files/meshes/walk.dae</filename>
        <interpolate_x>true</interpolate_x>
      </animation>
      <link name="body">
        <collision name="body_collision">
          <pose>0 0 0.875 0 0 0</pose>
          <geometry><cylinder><radius>0.25</radius><length>1.75</length></cylinder></geometry>
        </collision>
      </link>
      <script>
        <loop>{'true' if loop else 'false'}</loop>
        <delay_start>{delay}</delay_start>
        <auto_start>true</auto_start>
        <trajectory id="0" type="walking">
{wp}
        </trajectory>
      </script>
    </actor>
"""

def actor_car(name, pts, speed):
    path = pts + pts[-2::-1]
    t, wps = 0.0, []
    for i, (x, y) in enumerate(path):
        if i > 0:
            t += math.dist(path[i-1], (x, y)) / speed
        j = i + 1 if i + 1 < len(path) else i
        k = i if i + 1 < len(path) else i - 1
        yaw = math.atan2(path[j][1]-path[k][1], path[j][0]-path[k][0])
        wps.append(f"          <waypoint><time>{t:.3f}</time><pose>{x} {y} 0 0 0 {yaw:.4f}</pose></waypoint>")
        if 0 < i < len(path) - 1 and i == len(pts) - 1:
            pass
    wp = "\n".join(wps)
    return f"""    <actor name="{name}">
      <link name="body">
        <collision name="body_collision">
          <pose>0 0 0.7 0 0 0</pose>
          <geometry><box><size>4.508 1.61 1.4</size></box></geometry>
        </collision>
        <visual name="body_visual">
          <pose>0 0 0.7 0 0 0</pose>
          <geometry><box><size>4.508 1.61 1.4</size></box></geometry>
        </visual>
      </link>
      <script>
        <loop>true</loop>
        <delay_start>0</delay_start>
        <auto_start>true</auto_start>
        <trajectory id="0" type="driving">
{wp}
        </trajectory>
      </script>
    </actor>
"""

def wind_effects(amplitude_percent, period_s, magnitude_stddev, vertical_stddev):
    """Gazebo WindEffects plugin: gusts as a sine on the world's mean wind plus Gaussian noise."""
    return f"""    <plugin filename="gz-sim-wind-effects-system" name="gz::sim::systems::WindEffects">
      <!-- force = factor * mass * relative wind: 0.06 1/s is the linearised drag of a 1.5 kg
           quadrotor (0.5 * 1.225 kg/m^3 * Cd 1.0 * 0.05 m^2 * 3 m/s / 1.5 kg) -->
      <force_approximation_scaling_factor>0.06</force_approximation_scaling_factor>
      <horizontal>
        <magnitude>
          <time_for_rise>10</time_for_rise>
          <sin><amplitude_percent>{amplitude_percent}</amplitude_percent><period>{period_s}</period></sin>
          <noise type="gaussian"><mean>0</mean><stddev>{magnitude_stddev}</stddev></noise>
        </magnitude>
        <direction>
          <time_for_rise>30</time_for_rise>
          <sin><amplitude>10</amplitude><period>20</period></sin>
          <noise type="gaussian"><mean>0</mean><stddev>2</stddev></noise>
        </direction>
      </horizontal>
      <vertical>
        <noise type="gaussian"><mean>0</mean><stddev>{vertical_stddev}</stddev></noise>
      </vertical>
    </plugin>
"""


MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def include(uri, name, x, y, z, yaw=0.0):
    """The model of sim_worlds/models/<uri>/model.sdf, inlined under `name` at the pose.

    Inlined rather than `<include><uri>model://...`, so that a plain `ign sdf -k world.sdf`
    validates the world without SDF_PATH; Gazebo users can still include the models by URI
    (GZ_SIM_RESOURCE_PATH=sim_worlds/models), and the built-in simulator supports both."""
    model_text = (MODELS_DIR / uri / "model.sdf").read_text()
    body = re.search(r'<model name="[^"]+">(.*?)\n\s*</model>', model_text, re.S).group(1)
    lines = body.split("\n")
    base = min(len(l) - len(l.lstrip()) for l in lines if l.strip())
    inner = "\n".join(("      " + l[base:]) if l.strip() else "" for l in lines).lstrip("\n")
    return (f"    <!-- model {uri} from sim_worlds/models/{uri}/model.sdf, inlined so that `ign sdf -k` "
            f"needs no SDF_PATH -->\n"
            f'    <model name="{name}">\n      <pose>{x} {y} {z} 0 0 {yaw}</pose>\n{inner}\n    </model>\n')

# ------------------------------------------------------------------ town blocks
def town_blocks():
    s = ""
    # Four city blocks around a crossroads at (40, 0); streets 12 m wide (y in [-6, 6], x in [34, 46]).
    blocks = [("block_nw", 5, 34, 6, 32, 12), ("block_ne", 46, 76, 6, 32, 18),
              ("block_sw", 5, 34, -32, -6, 9), ("block_se", 46, 76, -32, -6, 15)]
    for b in blocks:
        s += building(*b)
    # street surface (visual only) and sidewalks
    s += box("street_ew", 35, 0, 0.005, 90, 12, 0.01, rgba="0.25 0.25 0.25 1", collide=False)
    s += box("street_ns", 40, 0, 0.006, 12, 80, 0.01, rgba="0.25 0.25 0.25 1", collide=False)
    s += parked_car("parked_car_1", 15, -4.6)
    s += parked_car("parked_car_2", 24, -4.6)
    s += parked_car("parked_car_3", 43.8, 20, math.pi/2)
    s += cylinder("lamp_post_1", 30, 5.5, 0.15, 5.0, "0.3 0.3 0.3 1")
    s += cylinder("lamp_post_2", 50, -5.5, 0.15, 5.0, "0.3 0.3 0.3 1")
    return s

THUN = dict(lat=46.7580, lon=7.6280, elev=560)
REICHENBACH = dict(lat=46.612893, lon=7.678070, elev=706)

town = HEADER.format(name="town", comment="Town blocks around a crossroads, parked cars, pedestrians and a car driven as actors, "
                     "one Ackermann car (car1). Placed in Thun, Switzerland.", **THUN)
town += ground(400) + town_blocks()
# crosses the north-south street kerb to kerb south of parked_car_3 and waits 6 s on each side
town += actor_pedestrian("pedestrian_1", [(34.6, 14.0), (45.4, 14.0)], 1.2, delay=2.0, dwell_s=6.0)
town += actor_pedestrian("pedestrian_2", [(10.0, -7.0), (30.0, -7.0)], 1.4)
town += actor_pedestrian("pedestrian_3", [(20.0, 6.5), (20.0, 9.0), (32.0, 9.0)], 1.0)
town += actor_car("traffic_car_1", [(55.0, 3.0), (75.0, 3.0)], 5.0)
town += include("skyroad_car", "car1", 0, -2.5, 0, 0)
town += FOOTER

air = HEADER.format(name="airfield", comment="Flugplatz Reichenbach (LSGR), Kander valley, Switzerland: grass runway on the "
                    "valley floor, hangars, windsock, trees; one quadrotor with a 3-axis gimbal (uav1).", **REICHENBACH)
air = air.replace("    <gravity>", """    <wind><linear_velocity>3 1 0</linear_velocity></wind>
    <gravity>""")
air += wind_effects(amplitude_percent=0.3, period_s=12, magnitude_stddev=0.3, vertical_stddev=0.1)
air += include("reichenbach_terrain", "terrain", 0, 0, 0)
air += box("runway", 0, 0, 0.01, 30, 500, 0.02, rgba="0.3 0.55 0.25 1", collide=False)
air += box("hangar_1", 40, -60, 5, 25, 20, 10, rgba="0.7 0.7 0.75 1")
air += box("hangar_2", 40, -30, 4, 20, 15, 8, rgba="0.7 0.7 0.75 1")
air += cylinder("windsock_mast", 25, 40, 0.1, 6.0, "0.8 0.8 0.8 1")
for i, (x, y, h) in enumerate([(-40, 20, 14), (-45, 35, 16), (-38, 55, 12), (60, 80, 18), (-60, -70, 15)]):
    air += cylinder(f"tree_{i+1}", x, y, 2.5, h)
air += include("skyroad_quadrotor", "uav1", 10, -20, 0.17, 1.5708)
air += FOOTER

demo = HEADER.format(name="demo", comment="Demo world: the town of town.sdf with the Ackermann car (car1) and the quadrotor "
                     "(uav1) together; skyroad demo drives car1 to a goal and flies uav1 on a waypoint mission.", **THUN)
demo = demo.replace("    <gravity>", """    <wind><linear_velocity>2 0 0</linear_velocity></wind>
    <gravity>""")
demo += wind_effects(amplitude_percent=0.2, period_s=10, magnitude_stddev=0.2, vertical_stddev=0.05)
demo += ground(400) + town_blocks()
demo += actor_pedestrian("pedestrian_1", [(36.0, 38.0), (44.0, 38.0)], 1.2, delay=2.0)
demo += actor_pedestrian("pedestrian_2", [(10.0, -7.0), (30.0, -7.0)], 1.4)
demo += actor_car("traffic_car_1", [(55.0, 3.0), (75.0, 3.0)], 5.0)
# crosses the north street once, in front of car1 on its way to the goal (the car has to stop)
demo += actor_pedestrian("pedestrian_3", [(33.5, 15.0), (45.5, 15.0)], 1.0, delay=4.8, loop=False)
demo += box("landing_pad", -12, 18, 0.01, 3, 3, 0.02, rgba="0.9 0.9 0.2 1", collide=False)
demo += include("skyroad_car", "car1", 0, -2.5, 0, 0)
demo += include("skyroad_quadrotor", "uav1", -12, 18, 0.17, 0)
demo += FOOTER

if __name__ == "__main__":   # importable: tests build extra actors with the functions above
    for n, s in (("town", town), ("airfield", air), ("demo", demo)):
        open(Path(__file__).resolve().parents[1] / f"{n}.sdf", "w").write(s)

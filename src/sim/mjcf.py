"""World (from skyroad.sim.sdf) -> MuJoCo MJCF text, plus the name index the simulator needs.

Layout of the generated model:
* static models: bodies without joints (welded to the world);
* dynamic models: a free joint on the root link, SDF joints as hinge/slide/ball joints;
* Ackermann cars: a planar root (slide x, slide y, hinge z) driven kinematically from the
  single-track model; their geoms collide with obstacles but not with the terrain (the tyre model
  carries the car);
* multicopter rotor links are welded to the airframe (rotor spin is not integrated: the motor model
  carries the rotor speed, as gz does with rotorVelocitySlowdownSim);
* actors: mocap bodies moved along their scripted trajectory;
* every <sensor> becomes a site (and a camera for camera sensors).
Geom groups: 0 model collisions, 1 visuals, 2 actor bodies. Collision bits: terrain (planes,
heightmaps) 1, everything else 2; cars only take bit 2.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

import numpy as np

from .sdf import Geometry, Link, Model, SdfError, World
from .transforms import inverse_transform, matrix_to_quat_wxyz, pose_to_transform

TERRAIN_BITS = 1
OBSTACLE_BITS = 2
GROUP_COLLISION, GROUP_VISUAL, GROUP_ACTOR = 0, 1, 2
# MuJoCo camera looks along -z with y up; an SDF camera looks along +x with z up.
SDF_TO_MJ_CAMERA = np.column_stack([(0.0, -1.0, 0.0), (0.0, 0.0, 1.0), (-1.0, 0.0, 0.0)])


@dataclass
class ModelIndex:
    name: str
    kind: str                           # static | dynamic | ackermann | multicopter
    root_body: str
    link_bodies: dict = field(default_factory=dict)     # link name -> body name
    joints: dict = field(default_factory=dict)          # SDF joint -> MuJoCo joint name
    welded_joints: set = field(default_factory=set)
    planar_joints: tuple = ()
    planar_initial: tuple = (0.0, 0.0, 0.0)


@dataclass
class SensorIndex:
    model: str
    link: str
    sensor: object                       # sdf.Sensor
    site: str
    camera: str | None = None


@dataclass
class MjcfBuild:
    xml: str
    models: dict                          # name -> ModelIndex
    sensors: list                         # SensorIndex
    actors: dict                          # actor name -> mocap body name
    terrain_geoms: list                   # geom names
    hfield_data: dict                     # hfield name -> (nrow, ncol, normalised elevation)


def _f(values) -> str:
    return " ".join(f"{float(v):.9g}" for v in values)


def _pos_quat(t: np.ndarray) -> str:
    return f'pos="{_f(t[:3, 3])}" quat="{_f(matrix_to_quat_wxyz(t[:3, :3]))}"'


def _z_to(normal) -> np.ndarray:
    n = np.asarray(normal, dtype=float)
    n /= np.linalg.norm(n)
    z = np.array([0.0, 0.0, 1.0])
    v = np.cross(z, n)
    s, c = np.linalg.norm(v), float(z @ n)
    if s < 1e-12:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k * ((1 - c) / s ** 2)


class _Writer:
    def __init__(self, world: World):
        self.world = world
        self.assets: list[str] = []
        self.mesh_names: dict = {}
        self.hfields: dict = {}
        self.terrain_geoms: list[str] = []
        self.sensors: list[SensorIndex] = []
        self.max_cam = (1, 1)

    def mesh_asset(self, geom: Geometry) -> str:
        key = (str(geom.file), tuple(geom.scale))
        if key not in self.mesh_names:
            name = f"mesh{len(self.mesh_names)}"
            self.mesh_names[key] = name
            self.assets.append(f'<mesh name="{name}" file={quoteattr(str(geom.file))} scale="{_f(geom.scale)}"/>')
        return self.mesh_names[key]

    def hfield_asset(self, geom: Geometry, where: str) -> str:
        import cv2  # local: only worlds with terrain need it
        img = cv2.imread(str(geom.file), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise SdfError(where, None, "heightmap", f"cannot read image {geom.file}")
        if img.shape[0] != img.shape[1]:
            raise SdfError(where, None, "heightmap", f"{geom.file} must be square (Gazebo needs 2^n+1)")
        # Gazebo: height = size.z * pixel / 255 above <pos>; MuJoCo rows run from -y to +y,
        # image rows from +y (top) to -y, hence the flip.
        data = (img[::-1].astype(float) / 255.0)
        name = f"hfield{len(self.hfields)}"
        self.hfields[name] = (img.shape[0], img.shape[1], data)
        sx, sy, sz = geom.size
        elev = " ".join(f"{v:.5g}" for v in data.ravel())
        self.assets.append(f'<hfield name="{name}" nrow="{img.shape[0]}" ncol="{img.shape[1]}" '
                           f'size="{sx / 2:.9g} {sy / 2:.9g} {max(sz, 1e-6):.9g} 1" elevation="{elev}"/>')
        return name

    def geom(self, name: str, geom: Geometry, pose: np.ndarray, extra: str, where: str) -> str:
        kind = geom.kind
        if kind == "box":
            shape = f'type="box" size="{_f(np.asarray(geom.size) / 2)}"'
        elif kind == "cylinder":
            shape = f'type="cylinder" size="{geom.size[0]:.9g} {geom.size[1] / 2:.9g}"'
        elif kind == "capsule":
            shape = f'type="capsule" size="{geom.size[0]:.9g} {geom.size[1] / 2:.9g}"'
        elif kind == "sphere":
            shape = f'type="sphere" size="{geom.size[0]:.9g}"'
        elif kind == "plane":
            sx, sy = geom.size
            shape = f'type="plane" size="{sx / 2:.9g} {sy / 2:.9g} 1"'
            rot = pose.copy()
            rot[:3, :3] = pose[:3, :3] @ _z_to(geom.normal)
            pose = rot
        elif kind == "mesh":
            shape = f'type="mesh" mesh="{self.mesh_asset(geom)}"'
        elif kind == "heightmap":
            shape = f'type="hfield" hfield="{self.hfield_asset(geom, where)}"'
            pose = pose @ pose_to_transform(geom.pos, (0, 0, 0))
        else:  # pragma: no cover - the parser only produces the kinds above
            raise SdfError(where, None, "geometry", f"unsupported geometry {kind}")
        return f'<geom name={quoteattr(name)} {shape} {_pos_quat(pose)} {extra}/>'

    # ------------------------------------------------------------ bodies

    def link_geoms(self, model: Model, link: Link, prefix: str, contype: int, conaffinity: int,
                   group: int, static: bool) -> list[str]:
        out = []
        for col in link.collisions:
            is_terrain = static and col.geometry.kind in ("plane", "heightmap")
            bits = TERRAIN_BITS if is_terrain else contype
            aff = TERRAIN_BITS if is_terrain else conaffinity
            gname = f"{prefix}::{col.name}"
            if is_terrain:
                self.terrain_geoms.append(gname)
            # MuJoCo's friction: sliding, torsional, rolling; Gazebo's <mu> maps to sliding
            extra = (f'contype="{bits}" conaffinity="{aff}" group="{group}" friction="{col.mu:.6g} 0.005 0.0001" '
                     f'rgba="0.5 0.5 0.5 1"')  # alpha 0 would hide it from mj_ray
            out.append(self.geom(gname, col.geometry, col.pose, extra, model.file))
        for vis in link.visuals:
            extra = (f'contype="0" conaffinity="0" group="{GROUP_VISUAL}" mass="0" '
                     f'rgba="{_f(vis.rgba)}"')
            out.append(self.geom(f"{prefix}::{vis.name}::visual", vis.geometry, vis.pose, extra, model.file))
        for sensor in link.sensors:
            site = f"{prefix}::{sensor.name}"
            out.append(f'<site name={quoteattr(site)} {_pos_quat(sensor.pose)} size="0.02" group="3"/>')
            cam_name = None
            if sensor.type == "camera":
                cam_name = site + "::camera"
                cam_pose = sensor.pose.copy()
                cam_pose[:3, :3] = sensor.pose[:3, :3] @ SDF_TO_MJ_CAMERA
                w, h = sensor.params["width"], sensor.params["height"]
                fovy = math.degrees(2 * math.atan(math.tan(sensor.params["hfov"] / 2) * h / w))
                self.max_cam = (max(self.max_cam[0], w), max(self.max_cam[1], h))
                out.append(f'<camera name={quoteattr(cam_name)} {_pos_quat(cam_pose)} fovy="{fovy:.6g}"/>')
            self.sensors.append(SensorIndex(model.name, link.name, sensor, site, cam_name))
        return out

    @staticmethod
    def inertial(link: Link) -> str:
        ine = link.inertial
        ixx, iyy, izz, ixy, ixz, iyz = ine.inertia
        tensor = np.array([[ixx, ixy, ixz], [ixy, iyy, iyz], [ixz, iyz, izz]])
        rot = ine.pose[:3, :3]
        t = rot @ tensor @ rot.T          # MJCF takes fullinertia in the body frame, without quat
        return (f'<inertial pos="{_f(ine.pose[:3, 3])}" mass="{ine.mass:.9g}" '
                f'fullinertia="{_f((t[0, 0], t[1, 1], t[2, 2], t[0, 1], t[0, 2], t[1, 2]))}"/>')

    def model_bodies(self, model: Model, kind: str, welded: set[str]) -> tuple[list[str], ModelIndex]:
        idx = ModelIndex(model.name, kind, root_body="")
        links = {l.name: l for l in model.links}
        child_joint = {j.child: j for j in model.joints}
        children: dict = {}
        for j in model.joints:
            if j.parent != "world":
                children.setdefault(j.parent, []).append(j.child)
        roots = [l.name for l in model.links if l.name not in child_joint or child_joint[l.name].parent == "world"]
        if kind in ("ackermann", "multicopter") and len(roots) != 1:
            raise SdfError(model.file, model.line, "model",
                           f"vehicle model {model.name!r} must have exactly one root link, found {roots}")
        contype = OBSTACLE_BITS if kind == "ackermann" else OBSTACLE_BITS | TERRAIN_BITS
        conaff = contype
        if kind == "static":
            contype = conaff = OBSTACLE_BITS
        lines: list[str] = []

        def emit(link_name: str, parent_world: np.ndarray, depth: int):
            link = links[link_name]
            world_tf = model.pose @ link.pose
            rel = inverse_transform(parent_world) @ world_tf
            body = f"{model.name}::{link_name}"
            idx.link_bodies[link_name] = body
            lines.append(f'<body name={quoteattr(body)} {_pos_quat(rel)}>')
            joint = child_joint.get(link_name)
            if kind != "static":
                if depth == 0 and kind in ("dynamic", "multicopter") and joint is None:
                    lines.append(f'<freejoint name={quoteattr(body + "::free")}/>')
                if joint is not None and (joint.type == "fixed" or joint.name in welded):
                    idx.welded_joints.add(joint.name)
                elif joint is not None:
                    jname = f"{model.name}::{joint.name}"
                    idx.joints[joint.name] = jname
                    axis = joint.pose[:3, :3] @ np.asarray(joint.axis)
                    jtype = {"revolute": "hinge", "continuous": "hinge", "prismatic": "slide", "ball": "ball"}[joint.type]
                    attrs = f'name={quoteattr(jname)} type="{jtype}" pos="{_f(joint.pose[:3, 3])}"'
                    if jtype != "ball":
                        attrs += f' axis="{_f(axis)}"'
                    if joint.type in ("revolute", "prismatic") and joint.lower > -1e15 and joint.upper < 1e15:
                        attrs += f' range="{joint.lower:.9g} {joint.upper:.9g}" limited="true"'
                    if joint.damping:
                        attrs += f' damping="{joint.damping:.9g}"'
                    if joint.friction:
                        attrs += f' frictionloss="{joint.friction:.9g}"'
                    # small armature keeps light gimbal/wheel links well conditioned at 2 ms steps
                    attrs += ' armature="1e-5"'
                    lines.append(f"<joint {attrs}/>")
                lines.append(self.inertial(link))
            group = GROUP_COLLISION
            lines.extend(self.link_geoms(model, link, body, contype, conaff, group, kind == "static"))
            for child in children.get(link_name, []):
                emit(child, world_tf, depth + 1)
            lines.append("</body>")

        if kind == "ackermann":
            root = roots[0]
            world_tf = model.pose @ links[root].pose
            yaw = math.atan2(world_tf[1, 0], world_tf[0, 0])
            planar = f"{model.name}::planar"
            idx.root_body = planar
            idx.planar_joints = (f"{planar}::x", f"{planar}::y", f"{planar}::yaw")
            lines.append(f'<body name={quoteattr(planar)} pos="0 0 0">')
            lines.append(f'<joint name="{planar}::x" type="slide" axis="1 0 0" pos="0 0 0"/>')
            lines.append(f'<joint name="{planar}::y" type="slide" axis="0 1 0" pos="0 0 0"/>')
            lines.append(f'<joint name="{planar}::yaw" type="hinge" axis="0 0 1" pos="0 0 0"/>')
            lines.append('<inertial pos="0 0 0" mass="1" diaginertia="1 1 1"/>')
            # the planar frame sits at (x, y, 0) with heading yaw; the root link keeps its height/roll/pitch
            planar_tf = pose_to_transform((world_tf[0, 3], world_tf[1, 3], 0.0), (0.0, 0.0, yaw))
            emit(root, planar_tf, 1)
            lines.append("</body>")
            idx.planar_initial = (world_tf[0, 3], world_tf[1, 3], yaw)
        else:
            for root in roots:
                emit(root, np.eye(4), 0)
            idx.root_body = f"{model.name}::{roots[0]}"
        # Gazebo's default: links of one model do not collide with each other (self_collide false)
        bodies = list(idx.link_bodies.values())
        excludes = [f'<exclude body1={quoteattr(a)} body2={quoteattr(b)}/>'
                    for i, a in enumerate(bodies) for b in bodies[i + 1:]] if kind != "static" else []
        return lines, idx, excludes

    def actor_body(self, actor) -> tuple[list[str], str]:
        body = f"{actor.name}::mocap"
        wp0 = actor.pose @ actor.waypoints[0].pose
        lines = [f'<body name={quoteattr(body)} mocap="true" {_pos_quat(wp0)}>']
        fake_model = Model(actor.name, np.eye(4), True, actor.links, [], [], actor.file, actor.line)
        for link in actor.links:
            lines.extend(self.link_geoms(fake_model, link, f"{actor.name}::{link.name}", OBSTACLE_BITS,
                                         OBSTACLE_BITS, GROUP_ACTOR, False))
        lines.append("</body>")
        return lines, body


def vehicle_kind(model: Model) -> str:
    kinds = {p.kind for p in model.plugins}
    if "ackermann-steering" in kinds:
        if "multicopter-control" in kinds:
            raise SdfError(model.file, model.line, "model", f"{model.name!r}: a model cannot be a car and a multicopter")
        return "ackermann"
    if "multicopter-control" in kinds:
        return "multicopter"
    return "static" if model.static else "dynamic"


def build_mjcf(world: World) -> MjcfBuild:
    w = _Writer(world)
    body_lines, excludes, models = [], [], {}
    for model in world.models:
        kind = vehicle_kind(model)
        welded = set()
        if kind == "multicopter":
            welded = {(p.text("jointName") or "") for p in model.plugins if p.kind == "multicopter-motor-model"}
        lines, idx, exc = w.model_bodies(model, kind, welded)
        body_lines += lines
        excludes += exc
        models[model.name] = idx
    actors = {}
    for actor in world.actors:
        lines, body = w.actor_body(actor)
        body_lines += lines
        actors[actor.name] = body
    gx, gy, gz = world.gravity
    offw, offh = w.max_cam
    xml = "\n".join([
        f'<mujoco model={quoteattr(world.name)}>',
        '  <compiler angle="radian" autolimits="true" inertiafromgeom="false" boundmass="1e-6" boundinertia="1e-9"/>',
        f'  <option timestep="{world.max_step_size_s:.9g}" gravity="{gx:.9g} {gy:.9g} {gz:.9g}" integrator="implicitfast"/>',
        f'  <visual><global offwidth="{offw}" offheight="{offh}"/><quality shadowsize="0"/>'
        '<headlight ambient="0.35 0.35 0.35" diffuse="0.5 0.5 0.5" specular="0.1 0.1 0.1"/>'
        '<map znear="0.01"/></visual>',
        '  <asset>', *("    " + a for a in w.assets), '  </asset>',
        '  <worldbody>',
        '    <light directional="true" pos="0 0 100" dir="-0.3 0.1 -1" castshadow="false"/>',
        *("    " + line for line in body_lines),
        '  </worldbody>',
        '  <contact>', *("    " + e for e in excludes), '  </contact>',
        '</mujoco>',
    ])
    return MjcfBuild(xml=xml, models=models, sensors=w.sensors, actors=actors,
                     terrain_geoms=w.terrain_geoms, hfield_data=w.hfields)

"""SDFormat (1.6 - 1.11, written for 1.9) world parser for the built-in simulator.

The SDF world is the source of truth: the same file opens in Gazebo (Fortress/Harmonic) and here.
This module turns it into plain data classes (no MuJoCo, no ROS). Every element is either
understood, explicitly ignored as purely visual/GUI (logged once in `World.ignored`), or rejected
with an `SdfError` that names the file, the line and the element, so a malformed world never ends
in a traceback.

Supported: <world> gravity, physics (max_step_size, real_time_factor), spherical_coordinates,
wind, models (static/dynamic, nested models flattened with `::`), <include> with `model://`
resolved through GZ_SIM_RESOURCE_PATH / IGN_GAZEBO_RESOURCE_PATH / sim_worlds/models, links
(pose, inertial, collision, visual, sensor), geometry box/cylinder/sphere/capsule/plane/mesh
(STL/OBJ)/heightmap (PNG), surface friction, joints (revolute, continuous, prismatic, fixed,
ball), plugins (kept as XML for `skyroad.sim.plugins`), actors with scripted trajectories.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from lxml import etree

from ..common.paths import share_path
from .transforms import pose_to_transform

SUPPORTED_SDF_VERSIONS = ("1.6", "1.7", "1.8", "1.9", "1.10", "1.11")
PACKAGE_MODELS_DIR = share_path("sim_worlds", "models")


class SdfError(ValueError):
    """A world or model file the simulator cannot use; str() is `file:line: <element>: message`."""

    def __init__(self, path, line, element: str, message: str):
        self.path = str(path)
        self.line = line
        self.element = element
        self.message = message
        super().__init__(f"{self.path}:{line if line is not None else '?'}: <{element}>: {message}")


# ---------------------------------------------------------------- data classes


@dataclass
class Geometry:
    kind: str                       # box | cylinder | sphere | capsule | plane | mesh | heightmap
    size: tuple = ()                # box (sx, sy, sz); cylinder/capsule (radius, length); sphere (r,);
    #                                 plane (sx, sy); heightmap (sx, sy, sz)
    normal: tuple = (0.0, 0.0, 1.0)  # plane only
    file: Path | None = None        # mesh / heightmap file
    scale: tuple = (1.0, 1.0, 1.0)  # mesh only
    pos: tuple = (0.0, 0.0, 0.0)    # heightmap only: centre of the terrain


@dataclass
class Collision:
    name: str
    pose: np.ndarray                # 4x4 in link frame
    geometry: Geometry
    mu: float = 1.0                 # Gazebo/ODE default friction coefficient
    mu2: float = 1.0
    line: int | None = None


@dataclass
class Visual:
    name: str
    pose: np.ndarray
    geometry: Geometry
    rgba: tuple = (0.7, 0.7, 0.7, 1.0)
    line: int | None = None


@dataclass
class Noise:
    """gz-sensors GaussianNoiseModel parameters (type none|gaussian|gaussian_quantized)."""
    type: str = "none"
    mean: float = 0.0
    stddev: float = 0.0
    bias_mean: float = 0.0
    bias_stddev: float = 0.0
    dynamic_bias_stddev: float = 0.0
    dynamic_bias_correlation_time: float = 0.0
    precision: float = 0.0


@dataclass
class Sensor:
    name: str
    type: str                       # imu | gpu_lidar | camera | navsat | contact
    pose: np.ndarray                # 4x4 in link frame
    update_rate_hz: float
    topic: str | None
    frame_id: str | None
    always_on: bool = True
    params: dict = field(default_factory=dict)
    line: int | None = None


@dataclass
class Inertial:
    mass: float = 1.0               # SDF defaults: 1 kg, unit inertia
    pose: np.ndarray = field(default_factory=lambda: np.eye(4))
    inertia: tuple = (1.0, 1.0, 1.0, 0.0, 0.0, 0.0)   # ixx iyy izz ixy ixz iyz


@dataclass
class Link:
    name: str
    pose: np.ndarray                # 4x4 in model frame
    inertial: Inertial
    collisions: list = field(default_factory=list)
    visuals: list = field(default_factory=list)
    sensors: list = field(default_factory=list)
    gravity: bool = True
    enable_wind: bool = False
    line: int | None = None


@dataclass
class Joint:
    name: str
    type: str                       # revolute | continuous | prismatic | fixed | ball
    parent: str                     # link name or "world"
    child: str
    pose: np.ndarray                # 4x4 in child link frame
    axis: tuple = (0.0, 0.0, 1.0)   # in joint frame (= child frame rotated by pose)
    lower: float = -math.inf
    upper: float = math.inf
    effort: float = math.inf
    velocity: float = math.inf
    damping: float = 0.0
    friction: float = 0.0
    line: int | None = None


@dataclass
class Plugin:
    filename: str
    name: str
    kind: str                       # normalised: ackermann-steering, multicopter-motor-model, ...
    element: etree._Element
    file: str
    line: int | None

    def text(self, tag: str, default=None):
        el = self.element.find(tag)
        return default if el is None or el.text is None else el.text.strip()

    def number(self, tag: str, default=None) -> float:
        raw = self.text(tag)
        if raw is None:
            if default is None:
                raise SdfError(self.file, self.line, f"plugin {self.filename}", f"missing required <{tag}>")
            return float(default)
        try:
            value = float(raw)
        except ValueError:
            el = self.element.find(tag)
            raise SdfError(self.file, el.sourceline, tag, f"expected a number, got {raw!r}") from None
        if not math.isfinite(value):
            raise SdfError(self.file, self.element.find(tag).sourceline, tag, "value must be finite")
        return value

    def vector(self, tag: str, n: int, default=None) -> np.ndarray:
        raw = self.text(tag)
        if raw is None:
            if default is None:
                raise SdfError(self.file, self.line, f"plugin {self.filename}", f"missing required <{tag}>")
            return np.asarray(default, dtype=float)
        return np.asarray(_floats(raw, n, self.file, self.element.find(tag)))


@dataclass
class Model:
    name: str
    pose: np.ndarray                # 4x4 in world frame
    static: bool
    links: list
    joints: list
    plugins: list
    file: str
    line: int | None
    enable_wind: bool = False

    def link(self, name: str) -> Link:
        for link in self.links:
            if link.name == name:
                return link
        raise KeyError(name)


@dataclass
class Waypoint:
    time_s: float
    pose: np.ndarray                # 4x4 in world frame


@dataclass
class Actor:
    name: str
    pose: np.ndarray
    links: list
    waypoints: list
    loop: bool
    delay_start_s: float
    auto_start: bool
    file: str
    line: int | None


@dataclass
class SphericalCoordinates:
    latitude_deg: float = 0.0
    longitude_deg: float = 0.0
    elevation_m: float = 0.0
    heading_deg: float = 0.0


@dataclass
class World:
    name: str
    path: Path
    gravity: tuple = (0.0, 0.0, -9.8)
    max_step_size_s: float = 0.001
    real_time_factor: float = 1.0
    spherical: SphericalCoordinates | None = None
    wind_velocity: tuple = (0.0, 0.0, 0.0)
    models: list = field(default_factory=list)
    actors: list = field(default_factory=list)
    plugins: list = field(default_factory=list)
    ignored: list = field(default_factory=list)   # "file:line: <elem> ignored (why)"

    def model(self, name: str) -> Model:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(f"world {self.name!r} has no model {name!r}")


# ------------------------------------------------------------------ helpers

# Elements with no effect on physics or sensing; Gazebo draws them, the built-in sim skips them.
VISUAL_ONLY = {
    "light": "lighting is visual only",
    "scene": "scene settings are visual only",
    "gui": "GUI settings",
    "material": "material scripts/colours other than <diffuse>",
    "cast_shadows": "visual only",
    "transparency": "visual only",
    "skin": "actor skins are visual meshes; the actor's <link> collisions are used",
    "animation": "skeletal animation is visual only",
    "magnetic_field": "no magnetometer in the built-in sim",
    "atmosphere": "no barometer in the built-in sim",
    "audio": "audio",
    "self_collide": "self collisions are off as in Gazebo's default",
    "allow_auto_disable": "solver hint",
    "laser_retro": "lidar intensity hint",
    "max_contacts": "solver hint",
    "velocity_decay": "solver hint",
    "kinematic": "solver hint",
    "must_be_base_link": "solver hint",
    "visualize": "debug drawing",
    "meta": "editor metadata",
    "state": "saved state",
}

PLUGIN_KINDS = {
    # vehicle systems, simulated by skyroad.sim.plugins
    "ackermann-steering": "ackermann-steering",
    "multicopter-motor-model": "multicopter-motor-model",
    "multicopter-control": "multicopter-control",
    "joint-position-controller": "joint-position-controller",
    "odometry-publisher": "odometry-publisher",
    "joint-state-publisher": "joint-state-publisher",
    "wind-effects": "wind-effects",
    # world systems whose job the built-in sim always does (they only switch Gazebo features on)
    "physics": "physics",
    "sensors": "sensors",
    "scene-broadcaster": "scene-broadcaster",
    "user-commands": "user-commands",
    "imu": "imu",
    "navsat": "navsat",
    "contact": "contact",
}

_PLUGIN_RE = re.compile(r"^(?:lib)?(?:gz-sim\d*|ignition-gazebo\d*)-(.+?)(?:-system)?(?:\.so)?$")


def plugin_kind(filename: str) -> str | None:
    m = _PLUGIN_RE.match(filename.strip())
    return PLUGIN_KINDS.get(m.group(1)) if m else None


def _floats(text: str | None, n: int, path, el) -> list[float]:
    parts = (text or "").split()
    if len(parts) != n:
        raise SdfError(path, el.sourceline, el.tag, f"expected {n} numbers, got {text!r}")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise SdfError(path, el.sourceline, el.tag, f"expected {n} numbers, got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise SdfError(path, el.sourceline, el.tag, f"values must be finite, got {text!r}")
    return values


def _bool(text: str | None, path, el) -> bool:
    t = (text or "").strip().lower()
    if t in ("1", "true"):
        return True
    if t in ("0", "false"):
        return False
    raise SdfError(path, el.sourceline, el.tag, f"expected true/false, got {text!r}")


class _Ctx:
    """Parsing context of one file: path for messages, the world's ignore log, include depth."""

    def __init__(self, path: Path, ignored: list, search_paths: list[Path], depth: int = 0):
        self.path = path
        self.ignored = ignored
        self.search_paths = search_paths
        self.depth = depth

    def err(self, el, message: str) -> SdfError:
        return SdfError(self.path, el.sourceline, el.tag, message)

    def ignore(self, el, why: str) -> None:
        self.ignored.append(f"{self.path}:{el.sourceline}: <{el.tag}> ignored ({why})")

    def number(self, parent, tag: str, default: float | None = None, positive=False, nonneg=False) -> float:
        el = parent.find(tag)
        if el is None:
            if default is None:
                raise self.err(parent, f"missing required <{tag}>")
            return float(default)
        value = _floats(el.text, 1, self.path, el)[0]
        if positive and value <= 0:
            raise self.err(el, f"must be > 0, got {value}")
        if nonneg and value < 0:
            raise self.err(el, f"must be >= 0, got {value}")
        return value

    def text(self, parent, tag: str, default: str | None = None) -> str:
        el = parent.find(tag)
        if el is None or el.text is None:
            if default is None:
                raise self.err(parent, f"missing required <{tag}>")
            return default
        return el.text.strip()

    def pose(self, parent, frames: dict | None = None) -> np.ndarray:
        """<pose> child of `parent` as 4x4; `frames` maps allowed relative_to names to transforms."""
        el = parent.find("pose")
        if el is None:
            return np.eye(4)
        values = _floats(el.text, 6, self.path, el)
        if el.get("rotation_format", "euler_rpy") != "euler_rpy":
            raise self.err(el, "only rotation_format='euler_rpy' is supported")
        rpy = values[3:]
        if _bool(el.get("degrees", "false"), self.path, el):
            rpy = [math.radians(v) for v in rpy]
        local = pose_to_transform(values[:3], rpy)
        rel = el.get("relative_to")
        if rel:
            if frames is None or rel not in frames:
                known = ", ".join(sorted(frames)) if frames else "none here"
                raise self.err(el, f"relative_to={rel!r} is not a frame the built-in sim resolves "
                                   f"(known: {known})")
            return frames[rel] @ local
        return local

    def children(self, el, allowed: set[str]):
        """Yield children, rejecting unknown tags and logging visual-only ones."""
        for child in el:
            if not isinstance(child.tag, str):
                continue            # processing instructions
            if child.tag in allowed:
                yield child
            elif child.tag in VISUAL_ONLY:
                self.ignore(child, VISUAL_ONLY[child.tag])
            else:
                raise self.err(child, f"element not supported by the built-in simulator inside <{el.tag}>")


# ------------------------------------------------------------------- parsing


def resource_search_paths(world_path: Path) -> list[Path]:
    paths = []
    for var in ("GZ_SIM_RESOURCE_PATH", "IGN_GAZEBO_RESOURCE_PATH"):
        for p in os.environ.get(var, "").split(os.pathsep):
            if p:
                paths.append(Path(p))
    paths += [world_path.parent / "models", world_path.parent, PACKAGE_MODELS_DIR]
    return paths


def _read_xml(path: Path, origin: tuple | None = None):
    if not path.is_file():
        where = origin if origin else (path, None, "sdf")
        raise SdfError(where[0], where[1], where[2], f"file not found: {path}")
    parser = etree.XMLParser(remove_comments=True, resolve_entities=False, no_network=True)
    try:
        tree = etree.parse(str(path), parser)
    except etree.XMLSyntaxError as exc:
        raise SdfError(path, exc.lineno, "xml", f"malformed XML: {exc.msg}") from None
    root = tree.getroot()
    if root.tag != "sdf":
        raise SdfError(path, root.sourceline, root.tag, "root element must be <sdf>")
    version = root.get("version")
    if version not in SUPPORTED_SDF_VERSIONS:
        raise SdfError(path, root.sourceline, "sdf",
                       f"version={version!r} unsupported (supported: {', '.join(SUPPORTED_SDF_VERSIONS)})")
    return root


def load_world(path) -> World:
    """Parse an SDF world file. Raises SdfError (file:line: <element>: message) on bad input."""
    path = Path(path).resolve()
    root = _read_xml(path)
    worlds = root.findall("world")
    if len(worlds) != 1:
        raise SdfError(path, root.sourceline, "sdf", f"expected exactly one <world>, found {len(worlds)}")
    wel = worlds[0]
    name = wel.get("name")
    if not name:
        raise SdfError(path, wel.sourceline, "world", "missing name attribute")
    world = World(name=name, path=path)
    ctx = _Ctx(path, world.ignored, resource_search_paths(path))
    model_names: set[str] = set()
    allowed = {"physics", "gravity", "spherical_coordinates", "wind", "model", "actor", "include", "plugin"}
    for el in ctx.children(wel, allowed):
        tag = el.tag
        if tag == "gravity":
            world.gravity = tuple(_floats(el.text, 3, path, el))
        elif tag == "physics":
            for child in ctx.children(el, {"max_step_size", "real_time_factor", "real_time_update_rate",
                                           "ode", "bullet", "dart", "simbody", "max_contacts"}):
                if child.tag == "max_step_size":
                    world.max_step_size_s = ctx.number(el, "max_step_size", positive=True)
                elif child.tag == "real_time_factor":
                    world.real_time_factor = ctx.number(el, "real_time_factor", nonneg=True)
                elif child.tag in ("ode", "bullet", "dart", "simbody", "real_time_update_rate"):
                    ctx.ignore(child, "engine-specific solver settings; MuJoCo uses its own")
        elif tag == "spherical_coordinates":
            world.spherical = _parse_spherical(ctx, el)
        elif tag == "wind":
            for child in ctx.children(el, {"linear_velocity"}):
                world.wind_velocity = tuple(_floats(child.text, 3, path, child))
        elif tag in ("model", "include"):
            models = [_parse_model(ctx, el, np.eye(4))] if tag == "model" else _parse_include(ctx, el)
            for m in models:
                if m.name in model_names:
                    raise ctx.err(el, f"duplicate model name {m.name!r}")
                model_names.add(m.name)
                world.models.append(m)
        elif tag == "actor":
            actor = _parse_actor(ctx, el)
            if actor.name in model_names:
                raise ctx.err(el, f"duplicate name {actor.name!r}")
            model_names.add(actor.name)
            world.actors.append(actor)
        elif tag == "plugin":
            world.plugins.append(_parse_plugin(ctx, el))
    return world


def _parse_spherical(ctx: _Ctx, el) -> SphericalCoordinates:
    allowed = {"surface_model", "world_frame_orientation", "latitude_deg", "longitude_deg",
               "elevation", "heading_deg", "surface_axis_equatorial", "surface_axis_polar"}
    for child in ctx.children(el, allowed):
        if child.tag == "surface_model" and (child.text or "").strip() != "EARTH_WGS84":
            raise ctx.err(child, "only EARTH_WGS84 is supported")
        if child.tag == "world_frame_orientation" and (child.text or "").strip() != "ENU":
            raise ctx.err(child, "only ENU world frames are supported")
    sc = SphericalCoordinates(
        latitude_deg=ctx.number(el, "latitude_deg", 0.0),
        longitude_deg=ctx.number(el, "longitude_deg", 0.0),
        elevation_m=ctx.number(el, "elevation", 0.0),
        heading_deg=ctx.number(el, "heading_deg", 0.0),
    )
    if not -90.0 <= sc.latitude_deg <= 90.0:
        raise ctx.err(el.find("latitude_deg"), f"latitude {sc.latitude_deg} outside [-90, 90]")
    if not -180.0 <= sc.longitude_deg <= 180.0:
        raise ctx.err(el.find("longitude_deg"), f"longitude {sc.longitude_deg} outside [-180, 180]")
    return sc


def _parse_plugin(ctx: _Ctx, el) -> Plugin:
    filename = el.get("filename")
    name = el.get("name")
    if not filename or not name:
        raise ctx.err(el, "plugin needs filename and name attributes")
    kind = plugin_kind(filename)
    if kind is None:
        raise ctx.err(el, f"plugin {filename!r} ({name}) is not simulated by the built-in simulator; "
                          f"supported: {', '.join(sorted(set(PLUGIN_KINDS.values())))}")
    return Plugin(filename=filename, name=name, kind=kind, element=el, file=str(ctx.path), line=el.sourceline)


def _resolve_uri(ctx: _Ctx, el, uri: str) -> Path:
    uri = uri.strip()
    if uri.startswith(("http://", "https://")):
        raise ctx.err(el, f"remote URI {uri!r}: the built-in sim works offline; download the model and "
                          "put it on GZ_SIM_RESOURCE_PATH")
    if uri.startswith("model://"):
        rest = uri[len("model://"):]
        for base in ctx.search_paths:
            candidate = base / rest
            if candidate.exists():
                return candidate.resolve()
        raise ctx.err(el, f"cannot resolve {uri!r}; searched GZ_SIM_RESOURCE_PATH and: "
                          + ", ".join(str(p) for p in ctx.search_paths))
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    p = Path(uri)
    if not p.is_absolute():
        p = ctx.path.parent / p
    if not p.exists():
        raise ctx.err(el, f"file not found: {p}")
    return p.resolve()


def _model_sdf_file(ctx: _Ctx, el, model_dir: Path) -> Path:
    if model_dir.is_file():
        return model_dir
    config = model_dir / "model.config"
    if config.is_file():
        try:
            croot = etree.parse(str(config)).getroot()
        except etree.XMLSyntaxError as exc:
            raise SdfError(config, exc.lineno, "xml", f"malformed model.config: {exc.msg}") from None
        sdf_el = croot.find("sdf")
        if sdf_el is not None and sdf_el.text:
            return model_dir / sdf_el.text.strip()
    if (model_dir / "model.sdf").is_file():
        return model_dir / "model.sdf"
    raise ctx.err(el, f"{model_dir} has neither model.config nor model.sdf")


def _parse_include(ctx: _Ctx, el) -> list[Model]:
    if ctx.depth > 8:
        raise ctx.err(el, "includes nested deeper than 8 (a cycle?)")
    uri_el = el.find("uri")
    if uri_el is None or not (uri_el.text or "").strip():
        raise ctx.err(el, "missing required <uri>")
    for child in ctx.children(el, {"uri", "name", "pose", "static", "plugin", "placement_frame"}):
        if child.tag == "placement_frame":
            raise ctx.err(child, "placement_frame is not supported by the built-in simulator")
    target = _model_sdf_file(ctx, uri_el, _resolve_uri(ctx, uri_el, uri_el.text))
    sub_root = _read_xml(target, (ctx.path, uri_el.sourceline, "uri"))
    sub_models = sub_root.findall("model")
    if len(sub_models) != 1:
        raise SdfError(target, sub_root.sourceline, "sdf", "an included file must hold exactly one <model>")
    sub_ctx = _Ctx(target, ctx.ignored, ctx.search_paths, ctx.depth + 1)
    model = _parse_model(sub_ctx, sub_models[0], np.eye(4))
    name_el = el.find("name")
    if name_el is not None and name_el.text:
        model.name = name_el.text.strip()
    if el.find("pose") is not None:
        model.pose = ctx.pose(el)
    if el.find("static") is not None:
        model.static = _bool(el.find("static").text, ctx.path, el.find("static"))
    for pel in el.findall("plugin"):
        model.plugins.append(_parse_plugin(ctx, pel))
    return [model]


def _parse_model(ctx: _Ctx, el, parent_tf: np.ndarray, prefix: str = "") -> Model:
    name = el.get("name")
    if not name:
        raise ctx.err(el, "missing name attribute")
    allowed = {"static", "pose", "link", "joint", "plugin", "model", "include", "enable_wind", "frame"}
    model = Model(name=prefix + name, pose=parent_tf @ ctx.pose(el), static=False, links=[], joints=[],
                  plugins=[], file=str(ctx.path), line=el.sourceline)
    link_els, joint_els = [], []
    for child in ctx.children(el, allowed):
        if child.tag == "static":
            model.static = _bool(child.text, ctx.path, child)
        elif child.tag == "enable_wind":
            model.enable_wind = _bool(child.text, ctx.path, child)
        elif child.tag == "link":
            link_els.append(child)
        elif child.tag == "joint":
            joint_els.append(child)
        elif child.tag == "plugin":
            model.plugins.append(_parse_plugin(ctx, child))
        elif child.tag in ("model", "include"):
            raise ctx.err(child, "nested models are not supported by the built-in simulator; "
                                 "put the nested model's links in the parent model")
        elif child.tag == "frame":
            raise ctx.err(child, "<frame> is not supported by the built-in simulator")
    if not link_els:
        raise ctx.err(el, f"model {name!r} has no <link>")
    # Links may be posed relative_to earlier links or __model__.
    frames = {"__model__": np.eye(4)}
    names = set()
    for lel in link_els:
        link = _parse_link(ctx, lel, frames, model.enable_wind)
        if link.name in names:
            raise ctx.err(lel, f"duplicate link name {link.name!r}")
        names.add(link.name)
        frames[link.name] = link.pose
        model.links.append(link)
    for jel in joint_els:
        model.joints.append(_parse_joint(ctx, jel, names))
    children = [j.child for j in model.joints]
    dup = {c for c in children if children.count(c) > 1}
    if dup:
        raise ctx.err(el, f"links {sorted(dup)} are the child of more than one joint (closed loop)")
    return model


def _parse_link(ctx: _Ctx, el, frames: dict, model_wind: bool) -> Link:
    name = el.get("name")
    if not name:
        raise ctx.err(el, "missing name attribute")
    allowed = {"pose", "inertial", "collision", "visual", "sensor", "gravity", "enable_wind"}
    link = Link(name=name, pose=ctx.pose(el, frames), inertial=Inertial(), line=el.sourceline,
                enable_wind=model_wind)
    link_frames = {name: np.eye(4)}
    for child in ctx.children(el, allowed):
        if child.tag == "inertial":
            link.inertial = _parse_inertial(ctx, child)
        elif child.tag == "collision":
            cname = child.get("name")
            if not cname:
                raise ctx.err(child, "missing name attribute")
            geom = _parse_geometry(ctx, child, collision=True)
            mu, mu2 = 1.0, 1.0
            surface = child.find("surface")
            for _ in ctx.children(child, {"pose", "geometry", "surface", "laser_retro", "max_contacts"}):
                pass      # validates the children
            if surface is not None:
                for s in ctx.children(surface, {"friction", "contact", "bounce", "soft_contact"}):
                    if s.tag == "friction":
                        for f in ctx.children(s, {"ode", "bullet", "torsional"}):
                            if f.tag == "ode":
                                mu = ctx.number(f, "mu", 1.0, nonneg=True)
                                mu2 = ctx.number(f, "mu2", mu, nonneg=True)
                            else:
                                ctx.ignore(f, "only <ode><mu>/<mu2> friction maps to MuJoCo")
                    else:
                        ctx.ignore(s, "contact stiffness/bounce: MuJoCo's soft contacts use defaults")
            link.collisions.append(Collision(cname, ctx.pose(child, link_frames), geom, mu, mu2, child.sourceline))
        elif child.tag == "visual":
            vname = child.get("name")
            if not vname:
                raise ctx.err(child, "missing name attribute")
            rgba = (0.7, 0.7, 0.7, 1.0)
            for sub in ctx.children(child, {"pose", "geometry", "material", "cast_shadows", "transparency",
                                            "plugin"}):
                if sub.tag == "plugin":
                    ctx.ignore(sub, "visual plugins are rendering-only")
            mat = child.find("material")
            if mat is not None and mat.find("diffuse") is not None:
                d_el = mat.find("diffuse")
                vals = (d_el.text or "").split()
                if len(vals) in (3, 4):
                    rgba = tuple(_floats(d_el.text, len(vals), ctx.path, d_el)) + ((1.0,) if len(vals) == 3 else ())
                else:
                    raise ctx.err(d_el, f"expected 3 or 4 numbers, got {d_el.text!r}")
            geom = _parse_geometry(ctx, child, collision=False)
            if geom is not None:
                link.visuals.append(Visual(vname, ctx.pose(child, link_frames), geom, rgba, child.sourceline))
        elif child.tag == "sensor":
            link.sensors.append(_parse_sensor(ctx, child, link_frames))
        elif child.tag == "gravity":
            link.gravity = _bool(child.text, ctx.path, child)
        elif child.tag == "enable_wind":
            link.enable_wind = _bool(child.text, ctx.path, child)
    return link


def _parse_inertial(ctx: _Ctx, el) -> Inertial:
    inertial = Inertial()
    for child in ctx.children(el, {"mass", "pose", "inertia", "fluid_added_mass"}):
        if child.tag == "mass":
            inertial.mass = ctx.number(el, "mass", positive=True)
        elif child.tag == "pose":
            inertial.pose = ctx.pose(el)
        elif child.tag == "inertia":
            vals = []
            for tag in ("ixx", "iyy", "izz", "ixy", "ixz", "iyz"):
                vals.append(ctx.number(child, tag, 1.0 if tag in ("ixx", "iyy", "izz") else 0.0))
            if min(vals[:3]) <= 0:
                raise ctx.err(child, f"principal moments must be > 0, got {vals[:3]}")
            inertial.inertia = tuple(vals)
        else:
            raise ctx.err(child, "fluid added mass is not supported by the built-in simulator")
    return inertial


def _parse_geometry(ctx: _Ctx, el, collision: bool) -> Geometry | None:
    gel = el.find("geometry")
    if gel is None:
        raise ctx.err(el, "missing required <geometry>")
    kinds = [c for c in gel if isinstance(c.tag, str)]
    if len(kinds) != 1:
        raise ctx.err(gel, f"expected exactly one shape, found {len(kinds)}")
    g = kinds[0]
    if g.tag == "box":
        size = tuple(_floats(ctx.text(g, "size"), 3, ctx.path, g.find("size")))
        if min(size) <= 0:
            raise ctx.err(g.find("size"), f"box sizes must be > 0, got {size}")
        return Geometry("box", size)
    if g.tag in ("cylinder", "capsule"):
        return Geometry(g.tag, (ctx.number(g, "radius", positive=True), ctx.number(g, "length", positive=True)))
    if g.tag == "sphere":
        return Geometry("sphere", (ctx.number(g, "radius", positive=True),))
    if g.tag == "plane":
        normal = tuple(_floats(ctx.text(g, "normal", "0 0 1"), 3, ctx.path, g.find("normal") if g.find("normal") is not None else g))
        if np.linalg.norm(normal) < 1e-9:
            raise ctx.err(g, "plane normal must be non-zero")
        size = tuple(_floats(ctx.text(g, "size", "0 0"), 2, ctx.path, g.find("size") if g.find("size") is not None else g))
        return Geometry("plane", size, normal=normal)
    if g.tag == "mesh":
        uri_el = g.find("uri")
        if uri_el is None or not uri_el.text:
            raise ctx.err(g, "missing required <uri>")
        file = _resolve_uri(ctx, uri_el, uri_el.text)
        scale = tuple(_floats(ctx.text(g, "scale", "1 1 1"), 3, ctx.path, g.find("scale") if g.find("scale") is not None else g))
        if g.find("submesh") is not None:
            raise ctx.err(g.find("submesh"), "submesh selection is not supported by the built-in simulator")
        if file.suffix.lower() not in (".stl", ".obj"):
            if collision:
                raise ctx.err(uri_el, f"mesh format {file.suffix!r} unsupported for collisions (use STL or OBJ)")
            ctx.ignore(uri_el, f"visual mesh {file.name}: only STL/OBJ are drawn by the built-in sim")
            return None
        return Geometry("mesh", file=file, scale=scale)
    if g.tag == "heightmap":
        uri_el = g.find("uri")
        if uri_el is None or not uri_el.text:
            raise ctx.err(g, "missing required <uri>")
        file = _resolve_uri(ctx, uri_el, uri_el.text)
        if file.suffix.lower() != ".png":
            raise ctx.err(uri_el, "heightmaps must be PNG images (Gazebo's DEM files are not supported)")
        size = tuple(_floats(ctx.text(g, "size", "1 1 1"), 3, ctx.path, g.find("size") if g.find("size") is not None else g))
        pos = tuple(_floats(ctx.text(g, "pos", "0 0 0"), 3, ctx.path, g.find("pos") if g.find("pos") is not None else g))
        for sub in g:
            if isinstance(sub.tag, str) and sub.tag in ("texture", "blend", "use_terrain_paging", "sampling"):
                ctx.ignore(sub, "heightmap texturing is visual only")
        return Geometry("heightmap", size, file=file, pos=pos)
    if g.tag == "empty":
        return None
    raise ctx.err(g, f"geometry <{g.tag}> is not supported by the built-in simulator "
                     "(box, cylinder, sphere, capsule, plane, mesh STL/OBJ, heightmap PNG)")


def _parse_noise(ctx: _Ctx, el) -> Noise:
    if el is None:
        return Noise()
    # imu/navsat write <noise type="gaussian">, lidar/camera write <noise><type>gaussian</type>
    ntype = el.get("type") or (el.findtext("type") or "none").strip()
    if ntype not in ("none", "gaussian", "gaussian_quantized"):
        raise ctx.err(el, f"noise type {ntype!r} unsupported (none, gaussian, gaussian_quantized)")
    return Noise(
        type=ntype,
        mean=ctx.number(el, "mean", 0.0),
        stddev=ctx.number(el, "stddev", 0.0, nonneg=True),
        bias_mean=ctx.number(el, "bias_mean", 0.0),
        bias_stddev=ctx.number(el, "bias_stddev", 0.0, nonneg=True),
        dynamic_bias_stddev=ctx.number(el, "dynamic_bias_stddev", 0.0, nonneg=True),
        dynamic_bias_correlation_time=ctx.number(el, "dynamic_bias_correlation_time", 0.0, nonneg=True),
        precision=ctx.number(el, "precision", 0.0, nonneg=True),
    )


def _parse_sensor(ctx: _Ctx, el, link_frames: dict) -> Sensor:
    name = el.get("name")
    stype = el.get("type")
    if not name or not stype:
        raise ctx.err(el, "sensor needs name and type attributes")
    if stype == "gpu_ray":
        stype = "gpu_lidar"   # SDF < 1.7 spelling
    if stype == "ray":
        stype = "lidar"
    if stype not in ("imu", "gpu_lidar", "lidar", "camera", "navsat", "contact"):
        raise ctx.err(el, f"sensor type {stype!r} is not simulated by the built-in simulator "
                          "(imu, gpu_lidar, lidar, camera, navsat, contact)")
    common = {"pose", "update_rate", "topic", "always_on", "visualize", "enable_metrics", "plugin",
              "gz_frame_id", "ignition_frame_id", "frame_id"}
    specific = {"imu": {"imu"}, "gpu_lidar": {"lidar", "ray"}, "lidar": {"lidar", "ray"},
                "camera": {"camera"}, "navsat": {"navsat"}, "contact": {"contact"}}[stype]
    params: dict = {}
    for child in ctx.children(el, common | specific):
        if child.tag == "plugin":
            raise ctx.err(child, "sensor plugins are not supported by the built-in simulator")
    rate = ctx.number(el, "update_rate", 0.0, nonneg=True)
    if rate == 0.0 and stype != "contact":
        raise ctx.err(el, "update_rate must be > 0 for the built-in simulator (0 means 'every step' in "
                          "Gazebo, which no real sensor does)")
    frame = None
    for tag in ("gz_frame_id", "ignition_frame_id", "frame_id"):
        if el.find(tag) is not None:
            frame = ctx.text(el, tag)
    topic_el = el.find("topic")
    topic = topic_el.text.strip() if topic_el is not None and topic_el.text else None
    always_on = _bool(el.find("always_on").text, ctx.path, el.find("always_on")) if el.find("always_on") is not None else True
    if stype == "imu":
        imu = el.find("imu")
        noises = {}
        if imu is not None:
            for child in ctx.children(imu, {"angular_velocity", "linear_acceleration", "orientation_reference_frame",
                                            "enable_orientation"}):
                if child.tag in ("angular_velocity", "linear_acceleration"):
                    for axis in ctx.children(child, {"x", "y", "z"}):
                        noises[f"{child.tag}_{axis.tag}"] = _parse_noise(ctx, axis.find("noise"))
                elif child.tag == "enable_orientation":
                    params["enable_orientation"] = _bool(child.text, ctx.path, child)
                else:
                    ctx.ignore(child, "orientation is reported in the world ENU frame")
        params["noise"] = noises
    elif stype in ("gpu_lidar", "lidar"):
        lid = el.find("lidar") if el.find("lidar") is not None else el.find("ray")
        if lid is None:
            raise ctx.err(el, "missing required <lidar>")
        scan = lid.find("scan")
        if scan is None:
            raise ctx.err(lid, "missing required <scan>")
        for child in ctx.children(lid, {"scan", "range", "noise", "visibility_mask"}):
            if child.tag == "visibility_mask":
                ctx.ignore(child, "visibility masks are rendering-only")
        h = scan.find("horizontal")
        if h is None:
            raise ctx.err(scan, "missing required <horizontal>")
        params["h_samples"] = int(ctx.number(h, "samples", 640, positive=True))
        params["h_min"] = ctx.number(h, "min_angle", 0.0)
        params["h_max"] = ctx.number(h, "max_angle", 0.0)
        v = scan.find("vertical")
        params["v_samples"] = int(ctx.number(v, "samples", 1, positive=True)) if v is not None else 1
        params["v_min"] = ctx.number(v, "min_angle", 0.0) if v is not None else 0.0
        params["v_max"] = ctx.number(v, "max_angle", 0.0) if v is not None else 0.0
        if params["h_max"] < params["h_min"] or params["v_max"] < params["v_min"]:
            raise ctx.err(scan, "max_angle must be >= min_angle")
        rng = lid.find("range")
        if rng is None:
            raise ctx.err(lid, "missing required <range>")
        params["range_min"] = ctx.number(rng, "min", 0.0, nonneg=True)
        params["range_max"] = ctx.number(rng, "max", positive=True)
        params["range_resolution"] = ctx.number(rng, "resolution", 0.0, nonneg=True)
        if params["range_max"] <= params["range_min"]:
            raise ctx.err(rng, "range max must be > min")
        params["noise"] = _parse_noise(ctx, lid.find("noise"))
        stype = "gpu_lidar"
    elif stype == "camera":
        cam = el.find("camera")
        if cam is None:
            raise ctx.err(el, "missing required <camera>")
        for child in ctx.children(cam, {"horizontal_fov", "image", "clip", "noise", "distortion", "lens",
                                        "save", "depth_camera", "visibility_mask", "optical_frame_id",
                                        "camera_info_topic"}):
            if child.tag in ("distortion", "lens", "depth_camera"):
                raise ctx.err(child, f"camera <{child.tag}> is not simulated by the built-in simulator")
            if child.tag in ("save", "visibility_mask"):
                ctx.ignore(child, "rendering-only option")
        params["hfov"] = ctx.number(cam, "horizontal_fov", 1.047, positive=True)
        img = cam.find("image")
        params["width"] = int(ctx.number(img, "width", 320, positive=True)) if img is not None else 320
        params["height"] = int(ctx.number(img, "height", 240, positive=True)) if img is not None else 240
        fmt = ctx.text(img, "format", "R8G8B8") if img is not None else "R8G8B8"
        if fmt not in ("R8G8B8", "RGB_INT8"):
            raise ctx.err(img.find("format"), f"image format {fmt!r} unsupported (R8G8B8)")
        clip = cam.find("clip")
        params["near"] = ctx.number(clip, "near", 0.1, positive=True) if clip is not None else 0.1
        params["far"] = ctx.number(clip, "far", 100.0, positive=True) if clip is not None else 100.0
        params["noise"] = _parse_noise(ctx, cam.find("noise"))
        cit = cam.find("camera_info_topic")
        params["camera_info_topic"] = cit.text.strip() if cit is not None and cit.text else None
    elif stype == "navsat":
        nav = el.find("navsat")
        noises = {}
        if nav is not None:
            for child in ctx.children(nav, {"position_sensing", "velocity_sensing"}):
                for axis in ctx.children(child, {"horizontal", "vertical"}):
                    noises[f"{child.tag}_{axis.tag}"] = _parse_noise(ctx, axis.find("noise"))
        params["noise"] = noises
    elif stype == "contact":
        con = el.find("contact")
        params["collisions"] = [c.text.strip() for c in (con.findall("collision") if con is not None else []) if c.text]
    return Sensor(name=name, type=stype, pose=ctx.pose(el, link_frames), update_rate_hz=rate, topic=topic,
                  frame_id=frame, always_on=always_on, params=params, line=el.sourceline)


def _parse_joint(ctx: _Ctx, el, link_names: set[str]) -> Joint:
    name = el.get("name")
    jtype = el.get("type")
    if not name or not jtype:
        raise ctx.err(el, "joint needs name and type attributes")
    if jtype not in ("revolute", "continuous", "prismatic", "fixed", "ball"):
        raise ctx.err(el, f"joint type {jtype!r} is not supported by the built-in simulator "
                          "(revolute, continuous, prismatic, fixed, ball)")
    for child in ctx.children(el, {"parent", "child", "pose", "axis", "physics", "sensor"}):
        if child.tag == "sensor":
            raise ctx.err(child, "joint sensors (force_torque) are not supported by the built-in simulator")
        if child.tag == "physics":
            ctx.ignore(child, "engine-specific joint physics")
    parent = ctx.text(el, "parent")
    child = ctx.text(el, "child")
    for role, link in (("parent", parent), ("child", child)):
        if link != "world" and link not in link_names:
            raise ctx.err(el.find(role), f"{role} link {link!r} does not exist in this model")
    if child == "world":
        raise ctx.err(el.find("child"), "child cannot be 'world'")
    joint = Joint(name=name, type=jtype, parent=parent, child=child, pose=ctx.pose(el), line=el.sourceline)
    axis = el.find("axis")
    if jtype in ("revolute", "continuous", "prismatic"):
        if axis is None:
            raise ctx.err(el, f"{jtype} joint needs <axis>")
        xyz_el = axis.find("xyz")
        if xyz_el is None:
            raise ctx.err(axis, "missing required <xyz>")
        if xyz_el.get("expressed_in") not in (None, "", name):
            raise ctx.err(xyz_el, "expressed_in other than the joint frame is not supported")
        xyz = np.array(_floats(xyz_el.text, 3, ctx.path, xyz_el))
        if np.linalg.norm(xyz) < 1e-9:
            raise ctx.err(xyz_el, "axis must be non-zero")
        joint.axis = tuple(xyz / np.linalg.norm(xyz))
        for sub in ctx.children(axis, {"xyz", "limit", "dynamics", "initial_position", "use_parent_model_frame"}):
            if sub.tag == "use_parent_model_frame" and _bool(sub.text, ctx.path, sub):
                raise ctx.err(sub, "use_parent_model_frame=true is not supported (SDF >= 1.5 style axes only)")
        lim = axis.find("limit")
        if lim is not None and jtype != "continuous":
            joint.lower = ctx.number(lim, "lower", -1e16)
            joint.upper = ctx.number(lim, "upper", 1e16)
            if joint.lower > joint.upper:
                raise ctx.err(lim, f"lower {joint.lower} > upper {joint.upper}")
            joint.effort = ctx.number(lim, "effort", -1.0)
            joint.velocity = ctx.number(lim, "velocity", -1.0)
            joint.effort = math.inf if joint.effort < 0 else joint.effort
            joint.velocity = math.inf if joint.velocity < 0 else joint.velocity
        dyn = axis.find("dynamics")
        if dyn is not None:
            joint.damping = ctx.number(dyn, "damping", 0.0, nonneg=True)
            joint.friction = ctx.number(dyn, "friction", 0.0, nonneg=True)
    return joint


def _parse_actor(ctx: _Ctx, el) -> Actor:
    name = el.get("name")
    if not name:
        raise ctx.err(el, "missing name attribute")
    actor = Actor(name=name, pose=ctx.pose(el), links=[], waypoints=[], loop=True, delay_start_s=0.0,
                  auto_start=True, file=str(ctx.path), line=el.sourceline)
    script = None
    for child in ctx.children(el, {"pose", "script", "link", "joint", "plugin"}):
        if child.tag == "script":
            script = child
        elif child.tag == "link":
            actor.links.append(_parse_link(ctx, child, {"__model__": np.eye(4)}, False))
        elif child.tag in ("joint", "plugin"):
            raise ctx.err(child, f"actor <{child.tag}> is not supported by the built-in simulator")
    if not actor.links:
        raise ctx.err(el, "actor needs at least one <link> with a <collision> (its skin is visual only, "
                          "so sensors and collision checks would not see it)")
    if script is None:
        raise ctx.err(el, "actor needs a <script> with a <trajectory>")
    for child in ctx.children(script, {"loop", "delay_start", "auto_start", "trajectory"}):
        if child.tag == "loop":
            actor.loop = _bool(child.text, ctx.path, child)
        elif child.tag == "delay_start":
            actor.delay_start_s = ctx.number(script, "delay_start", nonneg=True)
        elif child.tag == "auto_start":
            actor.auto_start = _bool(child.text, ctx.path, child)
    trajectories = script.findall("trajectory")
    if len(trajectories) != 1:
        raise ctx.err(script, f"expected exactly one <trajectory>, found {len(trajectories)}")
    traj = trajectories[0]
    for child in ctx.children(traj, {"waypoint"}):
        t = ctx.number(child, "time", nonneg=True)
        if actor.waypoints and t <= actor.waypoints[-1].time_s:
            raise ctx.err(child, f"waypoint times must increase ({t} after {actor.waypoints[-1].time_s})")
        actor.waypoints.append(Waypoint(t, ctx.pose(child)))
    if len(actor.waypoints) < 2:
        raise ctx.err(traj, "a trajectory needs at least 2 waypoints")
    return actor

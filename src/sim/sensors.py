"""Simulated sensors and their output records (core: numpy + MuJoCo, no ROS).

Noise follows gz-sensors' GaussianNoiseModel: a constant bias drawn once per axis from
N(bias_mean, bias_stddev) with a random sign, an optional first-order Gauss-Markov dynamic bias,
white noise N(mean, stddev) per sample, and quantisation for `gaussian_quantized`. The numbers
themselves live in the SDF files next to the datasheet they come from.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import mujoco
import numpy as np

from .sdf import Noise
from .transforms import matrix_to_quat_wxyz


class NoiseModel:
    def __init__(self, noise: Noise, rng: np.random.Generator, shape=()):
        self.n = noise
        self.rng = rng
        self.enabled = noise.type != "none"
        bias = rng.normal(noise.bias_mean, noise.bias_stddev, size=shape) if noise.bias_stddev > 0 else \
            np.full(shape, noise.bias_mean, dtype=float)
        # gz flips the bias sign at random so bias_mean is a magnitude
        if noise.bias_stddev > 0 or noise.bias_mean != 0:
            bias = bias * np.where(rng.uniform(size=shape) < 0.5, -1.0, 1.0)
        self.bias = bias if self.enabled else np.zeros(shape)
        self.dynamic_bias = np.zeros(shape)

    def apply(self, value, dt: float):
        if not self.enabled:
            return value
        n = self.n
        if n.dynamic_bias_stddev > 0 and n.dynamic_bias_correlation_time > 0:
            tau = n.dynamic_bias_correlation_time
            sigma_d = n.dynamic_bias_stddev * math.sqrt(1.0 - math.exp(-2.0 * dt / tau))
            self.dynamic_bias = self.dynamic_bias * math.exp(-dt / tau) + self.rng.normal(0.0, sigma_d, np.shape(value))
        out = value + self.bias + self.dynamic_bias
        if n.stddev > 0 or n.mean != 0:
            out = out + self.rng.normal(n.mean, n.stddev, np.shape(value)) if n.stddev > 0 else out + n.mean
        if n.type == "gaussian_quantized" and n.precision > 0:
            out = np.round(out / n.precision) * n.precision
        return out


class AxesNoise:
    """Per-axis NoiseModels applied to a 3-vector in one call."""

    def __init__(self, noises: list, rng: np.random.Generator):
        self.models = [NoiseModel(n, rng) for n in noises]
        self.bias = np.array([float(mdl.bias) for mdl in self.models])
        self.mean = np.array([n.mean if n.type != "none" else 0.0 for n in noises])
        self.std = np.array([n.stddev if n.type != "none" else 0.0 for n in noises])
        self.simple = all(n.dynamic_bias_stddev == 0 and n.type != "gaussian_quantized" for n in noises)
        self.rng = rng

    def apply(self, value: np.ndarray, dt: float) -> np.ndarray:
        if self.simple:
            return value + self.bias + self.mean + self.std * self.rng.standard_normal(3)
        return np.array([self.models[i].apply(float(value[i]), dt) for i in range(3)])


# ------------------------------------------------------------------ output records


@dataclass
class ImuData:
    frame_id: str
    orientation_xyzw: np.ndarray
    angular_velocity: np.ndarray
    linear_acceleration: np.ndarray
    angular_velocity_variance: np.ndarray
    linear_acceleration_variance: np.ndarray


@dataclass
class LaserScanData:
    frame_id: str
    angle_min: float
    angle_max: float
    angle_increment: float
    range_min: float
    range_max: float
    scan_time: float
    ranges: np.ndarray            # float32, +inf no return, -inf closer than range_min (REP 117)


@dataclass
class PointCloudData:
    frame_id: str
    points: np.ndarray            # (N, 3) float32, sensor frame
    intensities: np.ndarray       # (N,) float32


@dataclass
class NavSatData:
    frame_id: str
    latitude_deg: float
    longitude_deg: float
    altitude_m: float
    position_variance_enu: np.ndarray
    velocity_enu: np.ndarray


@dataclass
class OdometryData:
    frame_id: str
    child_frame_id: str
    position: np.ndarray
    orientation_xyzw: np.ndarray
    linear_velocity: np.ndarray   # child frame
    angular_velocity: np.ndarray  # child frame


@dataclass
class ImageData:
    frame_id: str
    width: int
    height: int
    encoding: str
    pixels: np.ndarray            # (H, W, 3) uint8


@dataclass
class CameraInfoData:
    frame_id: str
    width: int
    height: int
    k: np.ndarray                 # 3x3
    p: np.ndarray                 # 3x4


@dataclass
class JointStateData:
    names: list
    positions: np.ndarray
    velocities: np.ndarray
    efforts: np.ndarray


@dataclass
class Output:
    topic: str
    gz_type: str
    stamp_s: float
    data: object


@dataclass
class Schedule:
    period_s: float
    next_s: float = 0.0

    def due(self, t: float) -> bool:
        if t + 1e-9 >= self.next_s:
            # keep the phase; skip missed slots instead of bursting
            self.next_s += self.period_s * max(1, math.floor((t + 1e-9 - self.next_s) / self.period_s) + 1)
            return True
        return False


# ------------------------------------------------------------------ sensors


def default_frame(model: str, link: str, sensor: str) -> str:
    """Gazebo's frame id when <gz_frame_id> is absent: the scoped sensor name."""
    return f"{model}::{link}::{sensor}"


class ImuSensor:
    gz_type = "gz.msgs.IMU"

    def __init__(self, m, site_id: int, frame_id: str, topic: str, rate_hz: float, noise: dict,
                 rng: np.random.Generator, with_orientation: bool = True):
        self.site_id = site_id
        self.frame_id = frame_id
        self.topic = topic
        self.schedule = Schedule(1.0 / rate_hz)
        self.dt = 1.0 / rate_hz
        zero = Noise()
        self.gyro = AxesNoise([noise.get(f"angular_velocity_{a}", zero) for a in "xyz"], rng)
        self.acc = AxesNoise([noise.get(f"linear_acceleration_{a}", zero) for a in "xyz"], rng)
        self.gyro_var = np.array([noise.get(f"angular_velocity_{a}", zero).stddev ** 2 for a in "xyz"])
        self.acc_var = np.array([noise.get(f"linear_acceleration_{a}", zero).stddev ** 2 for a in "xyz"])
        self.with_orientation = with_orientation
        self._res = np.zeros(6)

    def sample(self, m, d) -> ImuData:
        # needs d.cacc: the simulator calls mj_rnePostConstraint before sampling IMUs
        mujoco.mj_objectAcceleration(m, d, mujoco.mjtObj.mjOBJ_SITE, self.site_id, self._res, 1)
        acc = self._res[3:].copy()            # proper acceleration (includes -gravity), site frame
        mujoco.mj_objectVelocity(m, d, mujoco.mjtObj.mjOBJ_SITE, self.site_id, self._res, 1)
        gyro = self._res[:3].copy()
        gyro = self.gyro.apply(gyro, self.dt)
        acc = self.acc.apply(acc, self.dt)
        q = matrix_to_quat_wxyz(d.site_xmat[self.site_id].reshape(3, 3))
        return ImuData(self.frame_id, np.array([q[1], q[2], q[3], q[0]]), gyro, acc, self.gyro_var, self.acc_var)


class LidarSensor:
    gz_type = "gz.msgs.LaserScan"

    def __init__(self, m, site_id: int, body_id: int, frame_id: str, topic: str, rate_hz: float, params: dict,
                 rng: np.random.Generator):
        self.site_id = site_id
        self.body_id = body_id
        self.frame_id = frame_id
        self.topic = topic
        self.points_topic = topic + "/points"
        self.schedule = Schedule(1.0 / rate_hz)
        self.scan_time = 1.0 / rate_hz
        self.p = params
        nh, nv = params["h_samples"], params["v_samples"]
        h = np.linspace(params["h_min"], params["h_max"], nh) if nh > 1 else np.array([params["h_min"]])
        v = np.linspace(params["v_min"], params["v_max"], nv) if nv > 1 else np.array([params["v_min"]])
        vv, hh = np.meshgrid(v, h, indexing="ij")       # rows: vertical, columns: horizontal
        self.dirs_local = np.stack([np.cos(vv) * np.cos(hh), np.cos(vv) * np.sin(hh), np.sin(vv)], -1).reshape(-1, 3)
        self.n = self.dirs_local.shape[0]
        self.angle_increment = (params["h_max"] - params["h_min"]) / (nh - 1) if nh > 1 else 0.0
        self.noise = NoiseModel(params["noise"], rng, shape=())
        self.geomid = np.zeros(self.n, dtype=np.int32)
        self.dist = np.zeros(self.n)
        # lidar sees model collisions (group 0) and actors (group 2), not visual-only geoms
        self.geomgroup = np.array([1, 0, 1, 0, 0, 0], dtype=np.uint8)

    def cast(self, m, d) -> np.ndarray:
        """True ranges (no noise), -1 for no hit within range_max."""
        rot = d.site_xmat[self.site_id].reshape(3, 3)
        vec = (self.dirs_local @ rot.T).ravel()
        pnt = d.site_xpos[self.site_id].copy()
        mujoco.mj_multiRay(m, d, pnt, vec, self.geomgroup, 1, self.body_id, self.geomid, self.dist, None,
                           self.n, self.p["range_max"])
        return self.dist.copy()

    def sample(self, m, d) -> tuple[LaserScanData, PointCloudData]:
        true = self.cast(m, d)
        hit = true >= 0.0
        ranges = np.where(hit, true, np.inf)
        if self.noise.enabled:
            noisy = self.noise.apply(ranges[hit], self.scan_time)
            ranges[hit] = noisy
        res = self.p["range_resolution"]
        if res > 0:
            ranges[hit] = np.round(ranges[hit] / res) * res
        ranges[hit & (ranges > self.p["range_max"])] = np.inf
        ranges[hit & (ranges < self.p["range_min"])] = -np.inf
        finite = np.isfinite(ranges)
        pts = (self.dirs_local[finite] * ranges[finite, None]).astype(np.float32)
        nh = self.p["h_samples"]
        scan = LaserScanData(self.frame_id, self.p["h_min"], self.p["h_max"], self.angle_increment,
                             self.p["range_min"], self.p["range_max"], self.scan_time,
                             ranges[:nh].astype(np.float32) if self.p["v_samples"] == 1 else
                             ranges.reshape(self.p["v_samples"], nh)[self.p["v_samples"] // 2].astype(np.float32))
        cloud = PointCloudData(self.frame_id, pts, np.zeros(len(pts), dtype=np.float32))
        return scan, cloud


class NavSatSensor:
    gz_type = "gz.msgs.NavSat"

    def __init__(self, site_id: int, frame_id: str, topic: str, rate_hz: float, noise: dict, geodetic,
                 rng: np.random.Generator):
        self.site_id = site_id
        self.frame_id = frame_id
        self.topic = topic
        self.schedule = Schedule(1.0 / rate_hz)
        self.dt = 1.0 / rate_hz
        zero = Noise()
        h = noise.get("position_sensing_horizontal", zero)
        v = noise.get("position_sensing_vertical", zero)
        self.pos_noise = [NoiseModel(h, rng), NoiseModel(h, rng), NoiseModel(v, rng)]
        vh = noise.get("velocity_sensing_horizontal", zero)
        vv = noise.get("velocity_sensing_vertical", zero)
        self.vel_noise = [NoiseModel(vh, rng), NoiseModel(vh, rng), NoiseModel(vv, rng)]
        self.variance = np.array([h.stddev ** 2, h.stddev ** 2, v.stddev ** 2])
        self.geodetic = geodetic
        self._res = np.zeros(6)

    def sample(self, m, d) -> NavSatData:
        p = d.site_xpos[self.site_id]
        noisy = np.array([self.pos_noise[i].apply(float(p[i]), self.dt) for i in range(3)])
        lat, lon, alt = self.geodetic.world_to_geodetic(noisy)
        mujoco.mj_objectVelocity(m, d, mujoco.mjtObj.mjOBJ_SITE, self.site_id, self._res, 0)
        vel = np.array([self.vel_noise[i].apply(float(self._res[3 + i]), self.dt) for i in range(3)])
        return NavSatData(self.frame_id, lat, lon, alt, self.variance, self.geodetic.world_vector_to_enu(vel))


class CameraSensor:
    gz_type = "gz.msgs.Image"

    def __init__(self, camera_name: str, frame_id: str, topic: str, rate_hz: float, params: dict,
                 rng: np.random.Generator):
        self.camera_name = camera_name
        self.frame_id = frame_id
        self.topic = topic
        parent = topic.rsplit("/", 1)[0] if "/" in topic.strip("/") else ""
        self.info_topic = params.get("camera_info_topic") or (parent + "/camera_info")
        self.schedule = Schedule(1.0 / rate_hz)
        self.p = params
        self.width, self.height = params["width"], params["height"]
        self.rng = rng
        self.stddev = params["noise"].stddev if params["noise"].type != "none" else 0.0
        fx = self.width / (2.0 * math.tan(params["hfov"] / 2.0))
        self.k = np.array([[fx, 0.0, (self.width - 1) / 2.0], [0.0, fx, (self.height - 1) / 2.0], [0.0, 0.0, 1.0]])
        self.renderer = None

    def info(self) -> CameraInfoData:
        p = np.hstack([self.k, np.zeros((3, 1))])
        return CameraInfoData(self.frame_id, self.width, self.height, self.k, p)

    def sample(self, m, d) -> ImageData:
        r = self.renderer
        r.update_scene(d, camera=self.camera_name, scene_option=self.scene_option)
        img = r.render()
        if self.stddev > 0:
            noise = self.rng.standard_normal(img.shape, dtype=np.float32) * (self.stddev * 255.0)
            img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
        return ImageData(self.frame_id, self.width, self.height, "rgb8", img)


class Geodetic:
    """World ENU (with <heading_deg>) <-> WGS84 through ECEF, anchored at <spherical_coordinates>."""

    def __init__(self, sc):
        from pyproj import Transformer
        self.sc = sc
        self._to_geo = Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)
        to_ecef = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
        self.origin = np.array(to_ecef.transform(sc.longitude_deg, sc.latitude_deg, sc.elevation_m))
        lat, lon = math.radians(sc.latitude_deg), math.radians(sc.longitude_deg)
        # columns: east, north, up in ECEF
        self.enu_to_ecef = np.array([
            [-math.sin(lon), -math.sin(lat) * math.cos(lon), math.cos(lat) * math.cos(lon)],
            [math.cos(lon), -math.sin(lat) * math.sin(lon), math.cos(lat) * math.sin(lon)],
            [0.0, math.cos(lat), math.sin(lat)],
        ])
        h = math.radians(sc.heading_deg)
        self.world_to_enu = np.array([[math.cos(h), -math.sin(h), 0.0], [math.sin(h), math.cos(h), 0.0], [0, 0, 1.0]])

    def world_vector_to_enu(self, v) -> np.ndarray:
        return self.world_to_enu @ np.asarray(v, dtype=float)

    def world_to_geodetic(self, p) -> tuple[float, float, float]:
        ecef = self.origin + self.enu_to_ecef @ (self.world_to_enu @ np.asarray(p, dtype=float))
        lon, lat, alt = self._to_geo.transform(*ecef)
        return float(lat), float(lon), float(alt)


@dataclass
class CollisionEvent:
    time_s: float
    vehicle: str
    other: str
    position: tuple
    depth_m: float
    speed_m_s: float


@dataclass
class ContactLog:
    events: list = field(default_factory=list)
    active: set = field(default_factory=set)

"""The built-in simulator: an SDF world on MuJoCo, stepping vehicles, actors and sensors.

Core only (no rclpy). `Simulator.step()` advances one physics step (<max_step_size>) and returns
the sensor outputs that fell due, as `skyroad.sim.sensors.Output` records keyed by the Gazebo
topic the world declares. Commands come in by Gazebo topic as well (`command()`), so the ROS node
is a thin table lookup driven by config/gz_bridge.yaml.

Determinism: one `numpy.random.SeedSequence(seed)` spawns a generator per noise source in a fixed
order (sensors in SDF order, then wind), and MuJoCo is run single-threaded, so the same seed and
the same commands give bit-identical trajectories.
"""
from __future__ import annotations

import bisect
import logging
import math
import os
from dataclasses import dataclass


import mujoco
import numpy as np

from . import mjcf, sdf
from .sensors import (CameraSensor, CollisionEvent, ContactLog, Geodetic, ImuSensor, JointStateData,
                      LidarSensor, NavSatSensor, OdometryData, Output, Schedule, default_frame)
from .transforms import matrix_to_quat_wxyz
from .vehicles import (AckermannDrive, JointPid, LeeVelocityController, MulticopterMotors, WindModel,
                       rotor_from_plugin)

log = logging.getLogger("skyroad.sim")

HARD_LANDING_SPEED_M_S = 2.0   # a multicopter touching terrain faster than this counts as a crash


class SimError(RuntimeError):
    """The world parsed but cannot be simulated (message names the world and the problem)."""


@dataclass
class CarHandle:
    name: str
    drive: AckermannDrive
    qpos: np.ndarray          # qpos addresses of x, y, yaw
    dof: np.ndarray
    steer_qpos: list
    wheel_qpos: list
    geoms: set
    prev_vel: tuple
    qpos_list: list | None = None
    dof_list: list | None = None
    acc: tuple = (0.0, 0.0, 0.0)


@dataclass
class CopterHandle:
    name: str
    body: int
    motors: MulticopterMotors
    controller: LeeVelocityController
    qvel: int
    com_offset: np.ndarray    # body-frame CoM of the root body (xfrc acts there)
    wind_mass_kg: float
    geoms: set


class Simulator:
    def __init__(self, world, *, seed: int = 0, enable_cameras=True):
        """world: path or parsed sdf.World. enable_cameras: True, False, or a collection of scoped
        camera sensor names ("car1::base_link::camera") to render only those."""
        self.world = world if isinstance(world, sdf.World) else sdf.load_world(world)
        for line in self.world.ignored:
            log.debug(line)
        self.build = mjcf.build_mjcf(self.world)
        try:
            self.m = mujoco.MjModel.from_xml_string(self.build.xml)
        except ValueError as exc:
            raise SimError(f"{self.world.path}: MuJoCo rejected the generated model: {exc}") from None
        self.d = mujoco.MjData(self.m)
        self.dt = self.m.opt.timestep
        self.time_s = 0.0
        self.step_count = 0
        self.seed = seed
        seeds = np.random.SeedSequence(seed)
        self._rngs = iter(seeds.spawn(256))
        self.gravity = float(-self.world.gravity[2])
        self.contacts = ContactLog()
        self.geodetic = Geodetic(self.world.spherical or sdf.SphericalCoordinates())
        self.inputs: dict[str, tuple[str, object]] = {}     # topic -> (gz type, handler)
        self.outputs: dict[str, str] = {"/clock": "gz.msgs.Clock"}
        self._geom_owner = self._index_geoms()
        self.cars: list[CarHandle] = []
        self.copters: list[CopterHandle] = []
        self.joint_pids: list[tuple[JointPid, int, int]] = []
        self.periodic: list = []    # (Schedule, topic, gz_type, callable)
        self._setup_vehicles()
        self._setup_actors()
        self._setup_sensors(enable_cameras)
        wind_plugin = next((p for p in self.world.plugins if p.kind == "wind-effects"), None)
        self.wind = WindModel(self.world.wind_velocity, wind_plugin, np.random.default_rng(next(self._rngs)))
        mujoco.mj_forward(self.m, self.d)

    # ------------------------------------------------------------ setup

    def _index_geoms(self) -> list[str]:
        owner = []
        terrain = set(self.build.terrain_geoms)
        self.terrain_geom_ids = set()
        for g in range(self.m.ngeom):
            name = mujoco.mj_id2name(self.m, mujoco.mjtObj.mjOBJ_GEOM, g) or ""
            owner.append(name.split("::")[0])
            if name in terrain:
                self.terrain_geom_ids.add(g)
        return owner

    def _model_geoms(self, model: str) -> set:
        return {g for g, o in enumerate(self._geom_owner) if o == model and self.m.geom_contype[g]}

    def _jnt(self, name: str) -> int:
        jid = mujoco.mj_name2id(self.m, mujoco.mjtObj.mjOBJ_JOINT, name)
        if jid < 0:
            raise SimError(f"{self.world.path}: joint {name!r} missing from the generated model")
        return jid

    def _setup_vehicles(self) -> None:
        m = self.m
        for model in self.world.models:
            idx = self.build.models[model.name]
            by_kind: dict = {}
            for p in model.plugins:
                by_kind.setdefault(p.kind, []).append(p)
            if idx.kind == "ackermann":
                plugin = by_kind["ackermann-steering"][0]
                drive = AckermannDrive(plugin, self.gravity)
                x0, y0, yaw0 = idx.planar_initial
                drive.reset(x0, y0, yaw0)
                drive.odom_x = drive.odom_y = drive.odom_yaw = 0.0   # gz odometry starts at the origin
                jids = [self._jnt(n) for n in idx.planar_joints]
                steer, wheels = [], []
                for jname, target in ((drive.left_steer, steer), (drive.right_steer, steer)):
                    if jname:
                        if jname not in idx.joints:
                            raise sdf.SdfError(plugin.file, plugin.line, "plugin", f"steering joint {jname!r} not in model")
                        target.append(m.jnt_qposadr[self._jnt(idx.joints[jname])])
                for jname in drive.left_joints + drive.right_joints:
                    if jname not in idx.joints:
                        raise sdf.SdfError(plugin.file, plugin.line, "plugin", f"wheel joint {jname!r} not in model")
                    wheels.append(m.jnt_qposadr[self._jnt(idx.joints[jname])])
                car = CarHandle(model.name, drive, np.array([m.jnt_qposadr[j] for j in jids]),
                                np.array([m.jnt_dofadr[j] for j in jids]), steer, wheels,
                                self._model_geoms(model.name), (0.0, 0.0, 0.0))
                car.qpos_list = [int(a) for a in car.qpos]
                car.dof_list = [int(a) for a in car.dof]
                self.cars.append(car)
                self._write_car(car)
                self.inputs[drive.topic or f"/model/{model.name}/cmd_vel"] = ("gz.msgs.Twist", drive)
                odom_topic = drive.odom_topic or f"/model/{model.name}/odometry"
                self.periodic.append((Schedule(1.0 / drive.odom_rate_hz), odom_topic, "gz.msgs.Odometry",
                                      lambda c=car: self._wheel_odometry(c)))
            elif idx.kind == "multicopter":
                rotors = [rotor_from_plugin(p) for p in by_kind.get("multicopter-motor-model", [])]
                if not rotors:
                    raise sdf.SdfError(model.file, model.line, "model",
                                       f"{model.name!r}: MulticopterVelocityControl without MulticopterMotorModel rotors")
                root_link = idx.root_body.split("::", 1)[1]
                root_tf_model = model.link(root_link).pose
                positions = []
                for r in rotors:
                    try:
                        link = model.link(r.link)
                    except KeyError:
                        raise sdf.SdfError(model.file, model.line, "plugin", f"rotor link {r.link!r} not in model") from None
                    rel = np.linalg.inv(root_tf_model) @ link.pose
                    positions.append(rel[:3, 3])
                positions = np.array(positions)
                body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, idx.root_body)
                mass = float(m.body_subtreemass[body])
                inertia = m.body_inertia[body].copy()
                ctrl_plugin = by_kind["multicopter-control"][0]
                # The controller allocates about the vehicle's centre of mass (payload/gimbal included),
                # as a trimmed flight controller does; the motors act at the real hub positions.
                mujoco.mj_forward(m, self.d)
                rot0 = self.d.xmat[body].reshape(3, 3)
                com_body = rot0.T @ (self.d.subtree_com[body] - self.d.xpos[body])
                controller = LeeVelocityController(ctrl_plugin, rotors, positions - com_body, mass, inertia,
                                                   self.gravity)
                free = next(j for j in range(m.njnt) if m.jnt_bodyid[j] == body and m.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE)
                copter = CopterHandle(model.name, body, MulticopterMotors(rotors, positions), controller,
                                      int(m.jnt_dofadr[free]), m.body_ipos[body].copy(),
                                      mass if any(l.enable_wind for l in model.links) else 0.0,
                                      self._model_geoms(model.name))
                self.copters.append(copter)
                self.inputs[controller.topic] = ("gz.msgs.Twist", controller)
                self.inputs[controller.enable_topic] = ("gz.msgs.Boolean", controller)
            for p in by_kind.get("joint-position-controller", []):
                pid = JointPid(p)
                if pid.joint not in idx.joints:
                    raise sdf.SdfError(p.file, p.line, "plugin", f"joint {pid.joint!r} is not a movable joint of {model.name!r}")
                jid = self._jnt(idx.joints[pid.joint])
                self.joint_pids.append((pid, int(m.jnt_qposadr[jid]), int(m.jnt_dofadr[jid])))
                self.inputs[pid.topic or f"/model/{model.name}/joint/{pid.joint}/0/cmd_pos"] = ("gz.msgs.Double", pid)
            for p in by_kind.get("joint-state-publisher", []):
                names = [e.text.strip() for e in p.element.findall("joint_name")] or list(idx.joints)
                missing = [n for n in names if n not in idx.joints]
                if missing:
                    raise sdf.SdfError(p.file, p.line, "plugin", f"joints {missing} are not movable joints of {model.name!r}")
                jids = [self._jnt(idx.joints[n]) for n in names]
                topic = p.text("topic") or f"/world/{self.world.name}/model/{model.name}/joint_state"
                rate = p.number("update_rate", 50.0)
                self.periodic.append((Schedule(1.0 / rate), topic, "gz.msgs.Model",
                                      lambda names=names, jids=jids: self._joint_state(names, jids)))
            for p in by_kind.get("odometry-publisher", []):
                base = p.text("robot_base_frame", "base_link")
                link_name = base.split("/")[-1]
                if link_name not in idx.link_bodies:
                    link_name = idx.root_body.split("::", 1)[1] if idx.kind != "ackermann" else model.links[0].name
                body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, idx.link_bodies[link_name])
                topic = p.text("odom_topic") or f"/model/{model.name}/odometry"
                rate = p.number("odom_publish_frequency", 50.0)
                frames = (p.text("odom_frame", f"{model.name}/odom"), base)
                self.periodic.append((Schedule(1.0 / rate), topic, "gz.msgs.Odometry",
                                      lambda body=body, frames=frames: self._body_odometry(body, *frames)))

    def _setup_actors(self) -> None:
        self.actors = []
        for actor in self.world.actors:
            body = mujoco.mj_name2id(self.m, mujoco.mjtObj.mjOBJ_BODY, self.build.actors[actor.name])
            mocap = int(self.m.body_mocapid[body])
            times = np.array([w.time_s for w in actor.waypoints])
            tfs = [actor.pose @ w.pose for w in actor.waypoints]
            pos = np.array([t[:3, 3] for t in tfs])
            yaw = np.unwrap([math.atan2(t[1, 0], t[0, 0]) for t in tfs])
            # plain lists: interpolated every physics step, where numpy's call overhead dominates
            self.actors.append((actor, mocap, times.tolist(), pos.tolist(), [float(v) for v in yaw]))
        self._move_actors(0.0)

    def actor_state(self, actor, t: float):
        """Position and yaw of an actor at sim time t (linear interpolation between waypoints)."""
        a, _, times, pos, yaw = actor
        tt = max(0.0, t - a.delay_start_s) if a.auto_start else 0.0
        t_end = times[-1]
        if a.loop:
            tt = tt % t_end
        tt = min(tt, t_end)
        i = min(max(bisect.bisect_right(times, tt) - 1, 0), len(times) - 2)
        f = (tt - times[i]) / (times[i + 1] - times[i])
        p0, p1 = pos[i], pos[i + 1]
        p = np.array([p0[0] + f * (p1[0] - p0[0]), p0[1] + f * (p1[1] - p0[1]), p0[2] + f * (p1[2] - p0[2])])
        return p, yaw[i] + f * (yaw[i + 1] - yaw[i])

    def _move_actors(self, t: float) -> None:
        for actor in self.actors:
            p, y = self.actor_state(actor, t)
            self.d.mocap_pos[actor[1]] = p
            self.d.mocap_quat[actor[1]] = (math.cos(y / 2), 0.0, 0.0, math.sin(y / 2))

    def _setup_sensors(self, enable_cameras: bool) -> None:
        m = self.m
        self.imus, self.lidars, self.navsats, self.cameras = [], [], [], []
        for s in self.build.sensors:
            sensor = s.sensor
            site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, s.site)
            frame = sensor.frame_id or default_frame(s.model, s.link, sensor.name)
            topic = sensor.topic or f"/world/{self.world.name}/model/{s.model}/link/{s.link}/sensor/{sensor.name}"
            rng = np.random.default_rng(next(self._rngs))
            if not sensor.always_on:
                continue
            if sensor.type == "imu":
                imu = ImuSensor(m, site, frame, topic if sensor.topic else topic + "/imu", sensor.update_rate_hz,
                                sensor.params["noise"], rng)
                self.imus.append(imu)
                self.outputs[imu.topic] = imu.gz_type
            elif sensor.type == "gpu_lidar":
                lidar = LidarSensor(m, site, int(m.site_bodyid[site]), frame, topic if sensor.topic else topic + "/scan",
                                    sensor.update_rate_hz, sensor.params, rng)
                self.lidars.append(lidar)
                self.outputs[lidar.topic] = lidar.gz_type
                self.outputs[lidar.points_topic] = "gz.msgs.PointCloudPacked"
            elif sensor.type == "navsat":
                nav = NavSatSensor(site, frame, topic if sensor.topic else topic + "/navsat", sensor.update_rate_hz,
                                   sensor.params["noise"], self.geodetic, rng)
                self.navsats.append(nav)
                self.outputs[nav.topic] = nav.gz_type
            elif sensor.type == "camera":
                if not isinstance(enable_cameras, bool) and s.site not in enable_cameras:
                    continue      # only the cameras named in enable_cameras
                cam = CameraSensor(s.camera, frame, topic if sensor.topic else topic + "/image", sensor.update_rate_hz,
                                   sensor.params, rng)
                self.cameras.append(cam)
                self.outputs[cam.topic] = cam.gz_type
                self.outputs[cam.info_topic] = "gz.msgs.CameraInfo"
            elif sensor.type == "contact":
                pass   # contacts are recorded for every vehicle (see contact_events)
        for _, topic, gz_type, _ in self.periodic:
            self.outputs[topic] = gz_type
        self.cameras_enabled = bool(self.cameras) and bool(enable_cameras)
        self.camera_error = None
        if self.cameras and enable_cameras:
            try:
                for cam in self.cameras:
                    cam.renderer = mujoco.Renderer(m, cam.height, cam.width)
                    opt = mujoco.MjvOption()
                    opt.geomgroup[:] = 0
                    opt.geomgroup[mjcf.GROUP_VISUAL] = 1
                    opt.geomgroup[mjcf.GROUP_ACTOR] = 1
                    cam.scene_option = opt
            except Exception as exc:   # no GL backend: say so once, keep simulating without cameras
                self.camera_error = (f"cameras disabled: no OpenGL backend for offscreen rendering "
                                     f"(MUJOCO_GL={os.environ.get('MUJOCO_GL', 'unset')}): {exc}")
                log.warning(self.camera_error)
                self.cameras_enabled = False
        self.disabled_outputs: dict = {}     # gz topic -> why the world's sensor does not publish
        if not self.cameras_enabled:
            why = self.camera_error or "cameras disabled (enable_cameras=false)"
            for cam in self.cameras:
                for topic in (cam.topic, cam.info_topic):
                    self.outputs.pop(topic, None)
                    self.disabled_outputs[topic] = why

    # ------------------------------------------------------------ commands

    def command(self, topic: str, value) -> None:
        """Deliver a command by Gazebo topic: Twist -> (linear xyz, angular xyz); Double; Boolean."""
        if topic not in self.inputs:
            raise KeyError(f"world {self.world.name!r} has no input topic {topic!r}")
        gz_type, target = self.inputs[topic]
        if gz_type == "gz.msgs.Twist":
            lin, ang = value
            if isinstance(target, AckermannDrive):
                target.set_command(float(lin[0]), float(ang[2]))
            else:
                target.set_command(lin, float(ang[2]))
        elif gz_type == "gz.msgs.Double":
            target.set_target(float(value))
        elif gz_type == "gz.msgs.Boolean":
            target.enabled = bool(value)

    # ------------------------------------------------------------ stepping

    def _write_car(self, car: CarHandle) -> None:
        x, y, yaw = car.drive.rear_axle_pose()
        d = self.d
        qx, qy, qyaw = car.qpos_list
        d.qpos[qx] = x
        d.qpos[qy] = y
        d.qpos[qyaw] = yaw
        vx, vy, wz = car.drive.world_velocity()
        dx, dy, dyaw = car.dof_list
        d.qvel[dx] = vx
        d.qvel[dy] = vy
        d.qvel[dyaw] = wz
        car.prev_vel = (vx, vy, wz)
        delta, wheel = car.drive.model.delta, car.drive.wheel_angle
        for adr in car.steer_qpos:
            d.qpos[adr] = delta
        for adr in car.wheel_qpos:
            d.qpos[adr] = wheel

    def _copter_forces(self, c: CopterHandle, wind_world) -> None:
        d = self.d
        rot = d.xmat[c.body].reshape(3, 3)
        v_world = d.qvel[c.qvel:c.qvel + 3]
        omega_body = d.qvel[c.qvel + 3:c.qvel + 6]
        w_ref = c.controller.rotor_velocities(rot, v_world, omega_body)
        c.motors.step(self.dt, w_ref)
        v_body = rot.T @ v_world
        f_body, tau_body = c.motors.wrench_body(v_body, omega_body)
        # xfrc_applied acts at the body's centre of mass: move the torque there (tau - r_com x f)
        r = c.com_offset
        tau_body[0] -= r[1] * f_body[2] - r[2] * f_body[1]
        tau_body[1] -= r[2] * f_body[0] - r[0] * f_body[2]
        tau_body[2] -= r[0] * f_body[1] - r[1] * f_body[0]
        force = rot @ f_body
        if c.wind_mass_kg and wind_world is not None:
            force += self.wind.scaling * c.wind_mass_kg * (wind_world - v_world)
        d.xfrc_applied[c.body, :3] = force
        d.xfrc_applied[c.body, 3:] = rot @ tau_body

    def step(self) -> list[Output]:
        d, m, dt = self.d, self.m, self.dt
        wind = self.wind.update(self.time_s, dt) if self.wind.active and self.copters else None
        for c in self.copters:
            self._copter_forces(c, wind)
        for pid, qadr, dadr in self.joint_pids:
            d.qfrc_applied[dadr] = pid.effort(d.qpos[qadr], d.qvel[dadr], dt)
        for car in self.cars:
            car.drive.step(dt)
        mujoco.mj_step(m, d)
        self.time_s += dt
        self.step_count += 1
        for car in self.cars:
            prev = car.prev_vel
            self._write_car(car)
            car.acc = ((car.prev_vel[0] - prev[0]) / dt, (car.prev_vel[1] - prev[1]) / dt,
                       (car.prev_vel[2] - prev[2]) / dt)
        self._move_actors(self.time_s)
        if d.ncon:
            self._record_contacts()
        return self._sensors_due()

    def _record_contacts(self) -> None:
        d = self.d
        vehicles = {c.name: c for c in self.cars}
        vehicles.update({c.name: c for c in self.copters})
        owner = self._geom_owner
        now = set()
        for i in range(d.ncon):
            con = d.contact[i]
            g1, g2 = int(con.geom[0]), int(con.geom[1])
            for a, b in ((g1, g2), (g2, g1)):
                va = owner[a]
                if va not in vehicles or owner[b] == va:
                    continue
                other = owner[b]
                if b in self.terrain_geom_ids:
                    copter = vehicles[va]
                    if not isinstance(copter, CopterHandle):
                        continue
                    speed = float(np.linalg.norm(d.qvel[copter.qvel:copter.qvel + 3]))
                    if speed < HARD_LANDING_SPEED_M_S:
                        continue   # a landing, not a crash
                key = (va, other)
                new_contact = key not in self.contacts.active and key not in now
                now.add(key)
                if new_contact:
                    veh = vehicles[va]
                    if isinstance(veh, CarHandle):
                        speed = abs(veh.drive.model.v)
                        veh.drive.crash_stop()
                    else:
                        speed = float(np.linalg.norm(d.qvel[veh.qvel:veh.qvel + 3]))
                    self.contacts.events.append(CollisionEvent(self.time_s, va, other, tuple(con.pos.copy()),
                                                               float(-con.dist), speed))
                    log.warning("collision: %s hit %s at t=%.2f s (%.2f m/s)", va, other, self.time_s, speed)
                elif isinstance(vehicles[va], CarHandle):
                    vehicles[va].drive.crash_stop()
        self.contacts.active = now

    def _sensors_due(self) -> list[Output]:
        t = self.time_s
        due_imu = [s for s in self.imus if s.schedule.due(t)]
        due_lidar = [s for s in self.lidars if s.schedule.due(t)]
        due_nav = [s for s in self.navsats if s.schedule.due(t)]
        due_cam = [s for s in self.cameras if self.cameras_enabled and s.schedule.due(t)]
        due_periodic = [p for p in self.periodic if p[0].due(t)]
        if not (due_imu or due_lidar or due_nav or due_cam or due_periodic):
            return []
        m, d = self.m, self.d
        mujoco.mj_forward(m, d)
        out: list[Output] = []
        if due_imu:
            for car in self.cars:   # analytic accelerations of the kinematically driven cars
                d.qacc[car.dof] = car.acc
            mujoco.mj_rnePostConstraint(m, d)
            for s in due_imu:
                out.append(Output(s.topic, s.gz_type, t, s.sample(m, d)))
        for s in due_lidar:
            scan, cloud = s.sample(m, d)
            out.append(Output(s.topic, s.gz_type, t, scan))
            out.append(Output(s.points_topic, "gz.msgs.PointCloudPacked", t, cloud))
        for s in due_nav:
            out.append(Output(s.topic, s.gz_type, t, s.sample(m, d)))
        for s in due_cam:
            out.append(Output(s.topic, s.gz_type, t, s.sample(m, d)))
            out.append(Output(s.info_topic, "gz.msgs.CameraInfo", t, s.info()))
        for _, topic, gz_type, fn in due_periodic:
            out.append(Output(topic, gz_type, t, fn()))
        return out

    def run(self, duration_s: float) -> list[Output]:
        outputs = []
        for _ in range(int(round(duration_s / self.dt))):
            outputs.extend(self.step())
        return outputs

    # ------------------------------------------------------------ periodic outputs

    def _wheel_odometry(self, car: CarHandle) -> OdometryData:
        dr = car.drive
        cy, sy = math.cos(dr.odom_yaw / 2), math.sin(dr.odom_yaw / 2)
        return OdometryData(dr.frame_id, dr.child_frame_id, np.array([dr.odom_x, dr.odom_y, 0.0]),
                            np.array([0.0, 0.0, sy, cy]), np.array([dr.odom_v, 0.0, 0.0]),
                            np.array([0.0, 0.0, dr.odom_wz]))

    def _body_odometry(self, body: int, frame_id: str, child_frame_id: str) -> OdometryData:
        d = self.d
        q = matrix_to_quat_wxyz(d.xmat[body].reshape(3, 3))
        # mj_objectVelocity on a body reports at its centre of mass in the *inertial* frame; move it
        # to the link origin and express it in the link frame
        res = np.zeros(6)
        mujoco.mj_objectVelocity(self.m, d, mujoco.mjtObj.mjOBJ_BODY, body, res, 0)
        rot = d.xmat[body].reshape(3, 3)
        omega = res[:3]
        v_origin = res[3:] + np.cross(omega, d.xpos[body] - d.xipos[body])
        return OdometryData(frame_id, child_frame_id, d.xpos[body].copy(), np.array([q[1], q[2], q[3], q[0]]),
                            rot.T @ v_origin, rot.T @ omega)

    def _joint_state(self, names, jids) -> JointStateData:
        m, d = self.m, self.d
        q = np.array([d.qpos[m.jnt_qposadr[j]] for j in jids])
        v = np.array([d.qvel[m.jnt_dofadr[j]] for j in jids])
        e = np.array([d.qfrc_applied[m.jnt_dofadr[j]] for j in jids])
        return JointStateData(list(names), q, v, e)

    # ------------------------------------------------------------ queries (evaluation, tests)

    def body_pose(self, model: str, link: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        idx = self.build.models[model]
        body_name = idx.link_bodies[link] if link else (
            idx.link_bodies[next(iter(idx.link_bodies))] if idx.kind == "ackermann" else idx.root_body)
        b = mujoco.mj_name2id(self.m, mujoco.mjtObj.mjOBJ_BODY, body_name)
        mujoco.mj_kinematics(self.m, self.d)
        return self.d.xpos[b].copy(), self.d.xmat[b].reshape(3, 3).copy()

    def actor_positions(self) -> dict:
        return {a[0].name: self.actor_state(a, self.time_s)[0] for a in self.actors}

    def clearance(self, model: str, max_distance_m: float = 10.0) -> float:
        """Smallest distance between the model's collision geoms and any other model's or actor's
        (terrain excluded), capped at max_distance_m."""
        m, d = self.m, self.d
        mujoco.mj_kinematics(m, d)
        mine = self._model_geoms(model)
        best = max_distance_m
        fromto = np.zeros(6)
        others = [g for g in range(m.ngeom) if self._geom_owner[g] != model and m.geom_contype[g]
                  and g not in self.terrain_geom_ids]
        for g1 in mine:
            for g2 in others:
                dist = mujoco.mj_geomDistance(m, d, g1, g2, best, fromto)
                if dist < best:
                    best = dist
        return float(best)

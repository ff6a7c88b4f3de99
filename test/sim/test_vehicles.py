"""Vehicle models against analytic references."""
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from skyroad.sim import sdf
from skyroad.sim.simulator import Simulator
from skyroad.sim.vehicles import AckermannDrive, SingleTrackModel

WORLDS = Path(__file__).resolve().parents[2] / "sim_worlds"
GROUND = """<model name="ground"><static>true</static><link name="l"><collision name="c">
  <geometry><plane><normal>0 0 1</normal><size>500 500</size></plane></geometry></collision></link></model>"""


def car_params():
    world = sdf.load_world(WORLDS / "town.sdf")
    plugin = next(p for p in world.model("car1").plugins if p.kind == "ackermann-steering")
    return AckermannDrive(plugin, 9.81).params


def linear_bicycle_steady_state(p, v, delta):
    """Textbook steady-state cornering of the linear single-track model (Rajamani 2012, eq. 3.33 ff.):
    yaw rate r = v delta / (L + K v^2) with K = m (lr Cr - lf Cf) / (L Cf Cr)."""
    cf, cr = p.cornering_stiffness_n_per_rad()
    L = p.wheel_base_m
    k = p.mass_kg * (p.lr_m * cr - p.lf_m * cf) / (L * cf * cr)
    r = v * delta / (L + k * v * v)
    beta = (p.lr_m / L - p.mass_kg * v * v * p.lf_m / (L * L * cr)) * delta * L / (L + k * v * v)
    return r, beta


@pytest.mark.parametrize("v, delta", [(5.0, 0.1), (10.0, 0.05), (20.0, 0.02)])
def test_single_track_steady_state_matches_textbook(v, delta):
    p = car_params()
    m = SingleTrackModel(p, v=v, delta=delta)
    for _ in range(int(6.0 / 0.004)):
        m.step(0.004, 0.0, 0.0)
    r_ref, beta_ref = linear_bicycle_steady_state(p, v, delta)
    assert m.r == pytest.approx(r_ref, rel=2e-3)
    assert m.beta == pytest.approx(beta_ref, rel=2e-2, abs=2e-4)
    # the BMW set understeers: yaw rate below the kinematic v tan(delta) / L
    assert m.r < v * math.tan(delta) / p.wheel_base_m


def test_single_track_transient_matches_reference_integration():
    """Step steer at 15 m/s: our implicit-Euler step vs an RK45 solution of CommonRoad's ST ODE."""
    p = car_params()
    m = SingleTrackModel(p, v=15.0, delta=0.0)
    dt, steer_rate = 0.004, 0.4            # steering rate limit of the parameter set
    t_end = 3.0

    def rhs(t, s):
        rate = steer_rate if s[2] < 0.08 else 0.0
        return m.derivatives_dynamic(s, rate, 0.0)

    ref = solve_ivp(rhs, (0.0, t_end), [0.0, 0.0, 0.0, 15.0, 0.0, 0.0, 0.0], rtol=1e-9, atol=1e-9,
                    max_step=0.001)
    for _ in range(int(round(t_end / dt))):
        m.step(dt, steer_rate if m.delta < 0.08 else 0.0, 0.0)
    x, y, delta, v, psi, r, beta = ref.y[:, -1]
    assert math.hypot(m.x - x, m.y - y) < 0.05           # 5 cm after 45 m
    assert m.psi == pytest.approx(psi, abs=2e-3)
    assert m.r == pytest.approx(r, rel=1e-2)


def test_kinematic_low_speed_turning_radius():
    p = car_params()
    m = SingleTrackModel(p, v=0.05, delta=0.3)
    for _ in range(2000):
        m.step(0.004, 0.0, 0.0)
    # rear-axle radius of the kinematic bicycle: L / tan(delta); yaw rate v cos(beta) tan(delta) / L
    beta = math.atan(math.tan(0.3) * p.lr_m / p.wheel_base_m)
    assert m.r == pytest.approx(0.05 * math.cos(beta) * math.tan(0.3) / p.wheel_base_m, rel=1e-9)


def test_car_in_the_sim_follows_cmd_vel_like_the_analytic_model(write_world):
    path = write_world(GROUND + '<include><uri>model://skyroad_car</uri><name>car1</name><pose>0 0 0 0 0 0</pose></include>'
                       '<physics name="p" type="ode"><max_step_size>0.004</max_step_size></physics>')
    sim = Simulator(path, enable_cameras=False)
    p = sim.cars[0].drive.params
    v, delta = 8.0, 0.06
    sim.command("/model/car1/cmd_vel", ((v, 0, 0), (0, 0, v * math.tan(delta) / p.wheel_base_m)))
    outs = sim.run(12.0)
    gt = [o for o in outs if o.topic == "/model/car1/ground_truth/odometry"][-1].data
    wheel = [o for o in outs if o.topic == "/model/car1/odometry"][-1].data
    r_ref, _ = linear_bicycle_steady_state(p, sim.cars[0].drive.model.v, delta)
    assert sim.cars[0].drive.model.v == pytest.approx(v, rel=1e-3)
    assert gt.angular_velocity[2] == pytest.approx(r_ref, rel=5e-3)
    # wheel odometry assumes no slip: it reports the kinematic yaw rate, above the true (understeering) one
    assert wheel.angular_velocity[2] == pytest.approx(v * math.cos(sim.cars[0].drive.model.beta) * math.tan(delta)
                                                      / p.wheel_base_m, rel=1e-2)
    assert wheel.angular_velocity[2] > gt.angular_velocity[2]
    # the IMU sees the lateral acceleration v * r (within its noise and bias)
    imu = [o.data for o in outs if o.topic == "/car1/imu"][-200:]
    ay = np.mean([s.linear_acceleration[1] for s in imu])
    assert ay == pytest.approx(v * r_ref, abs=0.6)


def uav_world(write_world, z=0.17):
    return write_world(GROUND + f'<include><uri>model://skyroad_quadrotor</uri><name>uav1</name>'
                       f'<pose>0 0 {z} 0 0 0</pose></include>'
                       '<physics name="p" type="ode"><max_step_size>0.004</max_step_size></physics>'
                       '<gravity>0 0 -9.80665</gravity>')


def test_quadrotor_hover_and_climb_against_analytic(write_world):
    sim = Simulator(uav_world(write_world), enable_cameras=False)
    c = sim.copters[0]
    mass, g = c.controller.mass, 9.80665
    sim.command("/model/uav1/cmd_vel", ((0, 0, 1.0), (0, 0, 0)))
    sim.run(6.0)
    vz = sim.d.qvel[c.qvel + 2]
    # P velocity loop + gz's thrust loss with inflow (1 - v/25): (g + Kv e)(1 - (1 - e)/25) = g
    kv = c.controller.velocity_gain[2]
    e = (g - g * (1 - 1 / 25.0)) / (kv * (1 - 1 / 25.0) + g / 25.0)   # first-order solve, refined below
    for _ in range(20):
        e = g / (1 - (1 - e) / 25.0) / kv - g / kv
    assert vz == pytest.approx(1.0 - e, abs=2e-3)
    # hover: total thrust carries the weight, the height holds
    sim.command("/model/uav1/cmd_vel", ((0, 0, 0), (0, 0, 0)))
    sim.run(4.0)
    z0 = sim.d.qpos[2]
    sim.run(2.0)
    assert abs(sim.d.qpos[2] - z0) < 0.01
    thrust = float(np.sum(c.motors.kf * c.motors.w ** 2))
    assert thrust == pytest.approx(mass * g, rel=2e-3)
    w_hover = math.sqrt(mass * g / (4 * c.motors.kf[0]))
    assert np.all(np.abs(c.motors.w / w_hover - 1) < 0.1)      # CoM offset of the gimbal: rotors differ a little


def test_quadrotor_yaw_rate_and_horizontal_velocity(write_world):
    """Steady states of gz's P velocity / yaw-rate loops against the rotor drag (force -w c_d v per rotor):
    v = v_c m Kv / (m Kv + sum w c_d) and  wz = wz_c Kw / (Kw + sum w c_d r^2)."""
    sim = Simulator(uav_world(write_world, z=5.0), enable_cameras=False)
    c = sim.copters[0]
    sim.command("/model/uav1/cmd_vel", ((0, 0, 0), (0, 0, 0.5)))
    sim.run(8.0)
    w, cd = c.motors.w, c.motors.c_drag
    r2 = np.sum(c.motors.pos[:, :2] ** 2, axis=1)
    kw = c.controller.rate_gain[2]
    expected = 0.5 * kw / (kw + float(np.sum(w * cd * r2)))
    assert sim.d.qvel[c.qvel + 5] == pytest.approx(expected, abs=3e-3)
    assert expected < 0.48                    # the drag is large enough to matter: the test can fail

    sim.command("/model/uav1/cmd_vel", ((2.0, 0, 0), (0, 0, 0)))
    sim.run(6.0)
    v = sim.d.qvel[c.qvel:c.qvel + 3]
    mkv = c.controller.mass * c.controller.velocity_gain[0]
    expected_v = 2.0 * mkv / (mkv + float(np.sum(c.motors.w * cd)))
    # 1.5 %: the drag forces act above the centre of mass, leaving a small steady attitude error
    assert math.hypot(v[0], v[1]) == pytest.approx(expected_v, abs=0.03)
    assert math.hypot(v[0], v[1]) < 1.97
    # cmd_vel is body-frame (gz): a nose-down pitch turns part of it into a descent
    body_x_z = sim.d.xmat[c.body].reshape(3, 3)[2, 0]
    assert v[2] == pytest.approx(2.0 * body_x_z, abs=0.01)


def test_motor_first_order_lag():
    from skyroad.sim.vehicles import MulticopterMotors, Rotor
    r = Rotor("j", "l", 1.0, 0.0125, 0.025, 800.0, 8.54858e-06, 0.016, 0.0, 0.0)
    motors = MulticopterMotors([r], np.zeros((1, 3)))
    for _ in range(25):                      # 0.1 s at 4 ms
        motors.step(0.004, np.array([600.0]))
    assert motors.w[0] == pytest.approx(600.0 * (1 - math.exp(-0.1 / 0.0125)), rel=1e-9)
    motors.step(0.004, np.array([1000.0]))   # clamped to maxRotVelocity
    assert motors.w[0] < 800.0


def test_gimbal_joint_position_controllers_track_commands():
    sim = Simulator(WORLDS / "airfield.sdf", enable_cameras=False)
    targets = {"yaw": 0.5, "roll": -0.2, "pitch": -0.6}
    for axis, value in targets.items():
        sim.command(f"/model/uav1/gimbal/{axis}_cmd", value)
    outs = sim.run(3.0)
    state = [o.data for o in outs if o.topic == "/model/uav1/gimbal/joint_state"][-1]
    got = dict(zip(state.names, state.positions))
    for axis, value in targets.items():
        assert got[f"gimbal_{axis}_joint"] == pytest.approx(value, abs=0.01)
    assert np.all(np.abs(state.velocities) < 0.01)


def test_collision_with_a_wall_is_recorded_and_stops_the_car(write_world):
    path = write_world(GROUND + '<include><uri>model://skyroad_car</uri><name>car1</name><pose>0 0 0 0 0 0</pose></include>'
                       '<model name="wall"><static>true</static><pose>20 0 1 0 0 0</pose><link name="l">'
                       '<collision name="c"><geometry><box><size>1 10 2</size></box></geometry></collision></link></model>')
    sim = Simulator(path, enable_cameras=False)
    sim.command("/model/car1/cmd_vel", ((5.0, 0, 0), (0, 0, 0)))
    sim.run(8.0)
    events = sim.contacts.events
    assert len(events) == 1 and (events[0].vehicle, events[0].other) == ("car1", "wall")
    assert events[0].speed_m_s > 3.0
    front_x = sim.body_pose("car1")[0][0] + 1.164 + 4.508 / 2      # rear axle + body box front
    assert front_x == pytest.approx(19.5, abs=0.1)                   # stopped at the wall's face
    assert abs(sim.cars[0].drive.model.v) < 0.1


def test_steady_wind_pushes_a_hovering_quadrotor_as_the_wind_model_predicts(write_world):
    """WindEffects force s*m*(w - v) against the P velocity loop m*Kv*(0 - v): v = s w / (s + Kv)."""
    path = write_world(GROUND + """
        <wind><linear_velocity>3 0 0</linear_velocity></wind>
        <plugin filename="gz-sim-wind-effects-system" name="gz::sim::systems::WindEffects">
          <force_approximation_scaling_factor>0.5</force_approximation_scaling_factor>
          <horizontal><magnitude><time_for_rise>0.1</time_for_rise></magnitude>
            <direction><time_for_rise>0.1</time_for_rise></direction></horizontal>
        </plugin>
        <include><uri>model://skyroad_quadrotor</uri><name>uav1</name><pose>0 0 5 0 0 0</pose></include>""")
    sim = Simulator(path, enable_cameras=False)
    c = sim.copters[0]
    sim.run(8.0)
    v = sim.d.qvel[c.qvel:c.qvel + 3]
    kv = c.controller.velocity_gain[0]
    # rotor drag adds to the loop's damping: m Kv + sum(w c_d) per unit velocity
    damping = c.controller.mass * kv + float(np.sum(c.motors.w * c.motors.c_drag))
    expected = 0.5 * c.wind_mass_kg * 3.0 / (0.5 * c.wind_mass_kg + damping)
    assert v[0] == pytest.approx(expected, rel=0.05)
    assert abs(v[1]) < 0.02

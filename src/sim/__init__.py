"""skyroad.sim: the built-in simulator (MuJoCo) that runs the same SDF worlds as Gazebo.

See src/sim/README.md. Headless by default: offscreen rendering through EGL unless MUJOCO_GL says
otherwise (set before mujoco is imported, which is why it happens here).
"""
import os

os.environ.setdefault("MUJOCO_GL", "egl")

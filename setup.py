"""ament_python package `skyroad`; `src/` is importable as `skyroad`.

Builds with `colcon build` on a sourced ROS 2 distro and with `pip install` against the
pinned ROS 2 Jazzy wheels from PyPI (extra `ros-wheels`).
"""
import os
from setuptools import find_packages, setup

PACKAGE = "skyroad"

# Executables, one per node (ros2 run skyroad <name>) plus the CLI. Keep in step with
# docs/architecture.md.
NODE_ENTRY_POINTS = {
    "cmd_vel_gate": "skyroad.common.tools.cmd_vel_gate:main",
    "topic_monitor": "skyroad.common.tools.topic_monitor:main",
    "localization_node": "skyroad.perception.localization_node:main",
    "obstacle_node": "skyroad.perception.obstacle_node:main",
    "planner_node": "skyroad.planning.node:main",
    "controller_node": "skyroad.control.node:main",
    "gimbal_node": "skyroad.uav_gimbal.node:main",
    "geofence_node": "skyroad.airspace_geofence.node:main",
    "sim_node": "skyroad.sim.node:main",
    "uav_mission_node": "skyroad.planning.uav_mission_node:main",
}


def tree_data_files(folder):
    """(share/skyroad/<dir>, [files]) for every file below `folder`, keeping sub-folders."""
    entries = []
    for root, _dirs, files in os.walk(folder):
        paths = [os.path.join(root, f) for f in sorted(files) if not f.endswith((".pyc", "~"))]
        if paths:
            entries.append((os.path.join("share", PACKAGE, root), paths))
    return entries


data_files = [
    ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
    ("share/" + PACKAGE, ["package.xml"]),
]
for shared_folder in ("launch", "config", "sim_worlds", "scenarios"):
    data_files += tree_data_files(shared_folder)

setup(
    name=PACKAGE,
    version="0.1.0",
    package_dir={PACKAGE: "src"},
    packages=[PACKAGE] + [PACKAGE + "." + sub for sub in find_packages("src")],
    package_data={PACKAGE: ["**/*.yaml", "**/*.json", "**/*.xml", "**/*.sdf"]},
    data_files=data_files,
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.26",
        "scipy>=1.11",
        "opencv-python-headless>=4.8",
        "filterpy>=1.4.5",
        "transforms3d>=0.4.1",
        "shapely>=2.0",
        "pyproj>=3.6",
        "pyyaml>=6.0",
        "lxml>=4.9",
        "mujoco>=3.1",
        "motmetrics>=1.4.0",
        "matplotlib>=3.7",
        "osqp>=1.0",          # lateral MPC's QP
        "pyulog>=1.0",        # PX4 ULog base motion for the gimbal bench
    ],
    extras_require={
        # ROS 2 Jazzy from PyPI, exact pins. Leave this extra out when a ROS 2 distro is
        # sourced: its rclpy and message packages are then used instead.
        "ros-wheels": [
            "ros-jazzy-rclpy==7.1.6",
            "ros-jazzy-rmw-fastrtps-cpp==8.4.3",
            "ros-jazzy-std-msgs==5.3.6",
            "ros-jazzy-geometry-msgs==5.3.6",
            "ros-jazzy-sensor-msgs==5.3.6",
            "ros-jazzy-nav-msgs==5.3.6",
            "ros-jazzy-visualization-msgs==5.3.6",
            "ros-jazzy-diagnostic-msgs==5.3.6",
            "ros-jazzy-rosgraph-msgs==2.0.3",
        ],
        "test": ["pytest>=7.4"],
        # CommonRoad benchmark (skyroad.planning.commonroad_eval). commonroad-io 2026.1 does not
        # work with the drivability checker; 2024.3 does. The checker's road-boundary check needs
        # `triangle` (note: Shewchuk's Triangle library restricts commercial use). The SM1 cost
        # needs commonroad-clcs, which `make install` adds with --no-deps (it pins an old osqp).
        "commonroad": [
            "commonroad-io==2024.3",
            "commonroad-drivability-checker==2025.4.0",
            "triangle==20250106",
        ],
    },
    zip_safe=True,
    maintainer="skyroad maintainers",
    maintainer_email="maintainers@skyroad.dev",
    description="ROS 2 autonomy stack in Python for networked cars and multirotor UAVs",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": ["skyroad = skyroad.cli:main"]
        + [f"{name} = {target}" for name, target in NODE_ENTRY_POINTS.items()],
    },
)

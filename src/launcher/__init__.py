"""Runner for ROS 2 XML launch files (ros2 launch semantics) without the launch package.

`load_launch_file(path, {"name": "value"})` -> LaunchDescription (nodes to run, no side
effects); `ProcessLauncher(nodes).run()` / `run_composed(nodes)` run them; `skyroad launch`
is `skyroad.launcher.cli`. See README.md.
"""
from .description import LaunchDescription, NodeSpec, load_launch_file
from .errors import LaunchError

__all__ = ["LaunchDescription", "LaunchError", "NodeSpec", "load_launch_file"]

"""skyroad: ROS 2 autonomy stack for networked cars and multirotor UAVs.

Every subsystem is a numpy/scipy core (no rclpy import) plus a thin ROS node in
`<subsystem>/node.py` (or `*_node.py`). See docs/architecture.md.
"""
__version__ = "0.1.0"

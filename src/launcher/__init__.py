"""Runner for ROS 2 XML launch files (ros2 launch semantics) without the launch package."""

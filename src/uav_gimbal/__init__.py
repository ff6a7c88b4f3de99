"""skyroad.uav_gimbal subsystem (see docs/architecture.md)."""

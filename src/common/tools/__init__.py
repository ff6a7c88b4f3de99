"""Small general-purpose nodes: cmd_vel gate (watchdog) and topic monitor."""

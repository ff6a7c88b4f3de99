"""skyroad.planning subsystem (see docs/architecture.md)."""

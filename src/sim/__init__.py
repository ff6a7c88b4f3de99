"""skyroad.sim subsystem (see docs/architecture.md)."""

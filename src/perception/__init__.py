"""skyroad.perception subsystem (see docs/architecture.md)."""

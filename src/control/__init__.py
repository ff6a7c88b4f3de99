"""skyroad.control subsystem (see docs/architecture.md)."""

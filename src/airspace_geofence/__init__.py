"""skyroad.airspace_geofence subsystem (see docs/architecture.md)."""

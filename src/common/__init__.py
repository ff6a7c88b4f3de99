"""Pieces shared by two or more subsystems: parameters, QoS, diagnostics, watchdogs."""

"""The `skyroad` command. Each subcommand lives with its subsystem and is imported only when
used, so `skyroad --help` stays fast and one broken subsystem cannot take the others down."""
from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module with add_arguments(parser) and run(args) -> int, one-line help)
SUBCOMMANDS = {
    "launch": ("skyroad.launcher.cli", "run a ROS 2 XML launch file (ros2 launch semantics)"),
    "demo": ("skyroad.sim.demo", "run the whole stack in the built-in simulator and write a report"),
    "sim": ("skyroad.sim.cli", "run the built-in MuJoCo simulator on an SDF world"),
    "scenario": ("skyroad.sim.scenario", "run scenario files for simulation CI (JUnit XML)"),
    "zones": ("skyroad.airspace_geofence.cli", "validate, describe and query airspace zone files"),
    "gimbal": ("skyroad.uav_gimbal.cli", "gimbal stabilizer tools (bench)"),
}


def build_parser(argv_subcommand=None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skyroad", description="skyroad ROS 2 autonomy stack")
    subparsers = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        subparser = subparsers.add_parser(name, help=help_text, description=help_text)
        # Only the chosen subcommand's module is imported (its arguments are needed).
        if name == argv_subcommand:
            module = importlib.import_module(module_name)
            module.add_arguments(subparser)
            subparser.set_defaults(_run=module.run)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    if chosen in SUBCOMMANDS:
        try:
            parser = build_parser(chosen)
        except ImportError as error:
            print(f"skyroad {chosen}: not available: {error}", file=sys.stderr)
            return 2
    else:
        parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

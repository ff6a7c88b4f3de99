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


def build_parser() -> argparse.ArgumentParser:
    """Top-level parser for `skyroad --help`; subcommands are parsed by `_parse_subcommand`."""
    parser = argparse.ArgumentParser(prog="skyroad", description="skyroad ROS 2 autonomy stack")
    subparsers = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
    for name, (_module_name, help_text) in SUBCOMMANDS.items():
        subparsers.add_parser(name, help=help_text, description=help_text)
    return parser


def _parse_subcommand(name: str, argv) -> argparse.Namespace:
    module_name, help_text = SUBCOMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"skyroad {name}", description=help_text)
    module.add_arguments(parser)
    try:
        # Options may stand anywhere: `skyroad launch FILE --composed a:=1` as ros2 launch allows.
        args = parser.parse_intermixed_args(argv)
    except TypeError:  # the subcommand has sub-parsers of its own: plain parsing
        args = parser.parse_args(argv)
    args._run = module.run
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in SUBCOMMANDS:
        try:
            args = _parse_subcommand(argv[0], argv[1:])
        except ImportError as error:
            print(f"skyroad {argv[0]}: not available: {error}", file=sys.stderr)
            return 2
    else:
        parser = build_parser()
        parser.parse_args(argv)  # prints help / usage errors and exits
        parser.print_help()
        return 0 if not argv else 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

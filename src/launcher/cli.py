"""`skyroad launch FILE.launch.xml [name:=value ...] [--composed] [--print] [--show-args]`
(also `skyroad launch PACKAGE FILE.launch.xml ...`, like ros2 launch)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import List, Optional, Tuple

from .description import declared_arguments, load_launch_file, parse_cli_arguments
from .errors import LaunchError
from .packages import find_package_share
from .substitutions import SubstitutionError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("launch_file", help="XML launch file, or a package name followed by the file name "
                                            "(searched in the package's share folder)")
    parser.add_argument("launch_arguments", nargs="*", metavar="name:=value",
                        help="launch arguments (declared with <arg> in the file)")
    parser.add_argument("--composed", action="store_true",
                        help="run every node in this process on one executor instead of one process each")
    parser.add_argument("--print", dest="print_only", action="store_true",
                        help="print the resolved nodes (JSON) and exit without running them")
    parser.add_argument("-s", "--show-args", action="store_true",
                        help="list the arguments the launch file declares and exit")


def _locate(first: str, rest: List[str]) -> Tuple[str, List[str]]:
    """`FILE args...` or `PACKAGE FILE args...` -> (path, launch arguments)."""
    if os.path.isfile(first) or not rest or ":=" in rest[0]:
        return first, rest
    package, file_name = first, rest[0]
    try:
        share = Path(find_package_share(package))
    except SubstitutionError as error:
        raise LaunchError(str(error)) from None
    matches = sorted(p for p in share.rglob(file_name) if p.is_file())
    if not matches:
        raise LaunchError(f"launch file {file_name!r} not found in {share}")
    if len(matches) > 1:
        raise LaunchError(f"launch file {file_name!r} is ambiguous in {share}: "
                          + ", ".join(str(m) for m in matches))
    return str(matches[0]), rest[1:]


def run(args: argparse.Namespace) -> int:
    try:
        path, items = _locate(args.launch_file, list(args.launch_arguments))
        if args.show_args:
            for arg in declared_arguments(path):
                default = "(required)" if arg.default is None else f"(default: {arg.default!r})"
                choices = f" one of {arg.choices}" if arg.choices else ""
                print(f"{arg.name} {default}{choices}\n    {arg.description or 'no description given'}")
            return 0
        description = load_launch_file(path, parse_cli_arguments(items))
        for name in description.unused_arguments:
            print(f"[launch] warning: argument '{name}' was given but no <arg> declares it and no "
                  "$(var) reads it", file=sys.stderr)
        if args.print_only:
            from .process_runner import resolve_command
            nodes = []
            for spec in description.nodes:
                entry = spec.as_dict()
                entry["command"] = None if args.composed else resolve_command(spec)
                nodes.append(entry)
            print(json.dumps(dict(file=path, mode="composed" if args.composed else "process",
                                  configurations=description.configurations, nodes=nodes), indent=2))
            return 0
        if args.composed:
            from .composed import run_composed
            return run_composed(description.nodes)
        from .process_runner import ProcessLauncher
        return ProcessLauncher(description.nodes).run()
    except LaunchError as error:
        print(f"skyroad launch: error: {error}", file=sys.stderr)
        return 2


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="skyroad launch", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))

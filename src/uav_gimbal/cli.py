"""`skyroad gimbal bench ...`: the gimbal jitter bench from the skyroad command."""
from __future__ import annotations

import argparse

from . import bench


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="gimbal_command", required=True)
    bench_parser = sub.add_parser("bench", help="closed-loop jitter bench (prints one JSON object)")
    bench.add_arguments(bench_parser)
    plot_parser = sub.add_parser("plot", help="error vs time + spectrum PNG from a bench --save file")
    from . import plot
    plot.add_arguments(plot_parser)


def run(args: argparse.Namespace) -> int:
    if args.gimbal_command == "bench":
        return bench.run(args)
    from . import plot
    return plot.run(args)

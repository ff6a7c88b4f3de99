"""`skyroad sim WORLD`: run the built-in simulator on an SDF world (ROS topics per config/gz_bridge.yaml).

`skyroad sim WORLD --check` parses and builds the world without ROS and prints what it holds.
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("world", help="SDF world file, or a name in sim_worlds/ (town, airfield, demo)")
    parser.add_argument("--rtf", type=float, default=1.0, help="real-time factor; 0 = as fast as possible")
    parser.add_argument("--seed", type=int, default=0, help="seed of all sensor noise and wind gusts")
    parser.add_argument("--duration", type=float, default=0.0, help="stop stepping after this sim time (s)")
    parser.add_argument("--no-cameras", action="store_true", help="do not render camera sensors")
    parser.add_argument("--bridge", default="", help="ros_gz_bridge YAML (default config/gz_bridge.yaml)")
    parser.add_argument("--check", action="store_true", help="parse + build the world, print a summary, exit")


def _check(args) -> int:
    from .node import resolve_world
    from .sdf import SdfError
    from .simulator import SimError, Simulator
    try:
        sim = Simulator(resolve_world(args.world), seed=args.seed, enable_cameras=False)
    except (SdfError, SimError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    w = sim.world
    print(f"world {w.name}: {len(w.models)} models, {len(w.actors)} actors, step {sim.dt * 1000:.1f} ms, "
          f"gravity {w.gravity}")
    if w.spherical:
        print(f"  spherical coordinates: {w.spherical.latitude_deg} N, {w.spherical.longitude_deg} E, "
              f"{w.spherical.elevation_m} m")
    for name, idx in sim.build.models.items():
        if idx.kind != "static":
            print(f"  {name}: {idx.kind}")
    print("  outputs: " + ", ".join(f"{t} [{g}]" for t, g in sorted(sim.outputs.items())))
    print("  inputs:  " + ", ".join(f"{t} [{g}]" for t, (g, _) in sorted(sim.inputs.items())))
    for line in w.ignored:
        print(f"  {line}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.check:
        return _check(args)
    from ..common.ros import run_node
    from .node import SimNode
    ros_args = ["--ros-args", "-p", f"world:={args.world}", "-p", f"real_time_factor:={float(args.rtf)}",
                "-p", f"seed:={int(args.seed)}", "-p", f"duration_s:={float(args.duration)}",
                "-p", f"enable_cameras:={'false' if args.no_cameras else 'true'}"]
    if args.bridge:
        ros_args += ["-p", f"bridge_config:={args.bridge}"]
    return run_node(SimNode, ["skyroad_sim"] + ros_args)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="skyroad sim", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

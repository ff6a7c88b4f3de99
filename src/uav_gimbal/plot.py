"""Figure of the pointing error (separate from the algorithms; matplotlib Agg).

`python -m skyroad.uav_gimbal.plot --input run.npz [--input run2.npz] --output docs/gimbal_error.png`
where run.npz comes from `bench --save`. Top: jitter (0.5 Hz high-passed error) per axis vs
time with the +/-0.005 deg band; bottom: amplitude spectral density of the jitter.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .metrics import AXES, attitude_error_deg, highpass, spectrum


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", action="append", required=True, help="bench --save .npz (repeatable)")
    parser.add_argument("--output", default="docs/gimbal_error.png")
    parser.add_argument("--warmup-s", type=float, default=5.0)


def make_figure(inputs, output, warmup_s=5.0):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(inputs), 2, figsize=(13, 3.6 * len(inputs)), squeeze=False)
    for row, path in enumerate(inputs):
        data = np.load(path, allow_pickle=False)
        rate = float(data["rate_hz"])
        err = attitude_error_deg(data["q_true"], data["q_cmd"])
        jit = highpass(err, rate)
        start = int(warmup_s * rate)
        t = data["t_s"][start:]
        jit = jit[start:]
        ax_t, ax_f = axes[row]
        for i, name in enumerate(AXES):
            ax_t.plot(t, jit[:, i], lw=0.4, label=f"{name} (rms {np.sqrt(np.mean(jit[:, i] ** 2)):.4f} deg)")
        ax_t.axhline(0.005, color="k", ls="--", lw=0.8)
        ax_t.axhline(-0.005, color="k", ls="--", lw=0.8)
        ax_t.set_xlabel("time [s]")
        ax_t.set_ylabel("jitter [deg]")
        ax_t.set_title(f"{str(data['source'])[:70]}", fontsize=9)
        ax_t.legend(fontsize=7, loc="upper right")
        f, asd = spectrum(jit, rate)
        for i, name in enumerate(AXES):
            ax_f.loglog(f[1:], asd[1:, i], lw=0.7, label=name)
        ax_f.set_xlabel("frequency [Hz]")
        ax_f.set_ylabel("ASD [deg/sqrt(Hz)]")
        ax_f.grid(True, which="both", lw=0.3)
        ax_f.legend(fontsize=7)
    fig.tight_layout()
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=110)
    plt.close(fig)
    return output


def run(args) -> int:
    missing = [p for p in args.input if not Path(p).is_file()]
    if missing:
        print(f"gimbal plot: input file(s) not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    print(make_figure(args.input, args.output, args.warmup_s))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skyroad.uav_gimbal.plot")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

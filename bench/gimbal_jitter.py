"""Gimbal jitter bench (same as `python -m skyroad.uav_gimbal.bench`); prints one JSON object.

    python bench/gimbal_jitter.py --base-motion synthetic|FILE [--seconds 60] [--seed N] --json
"""
import sys

from skyroad.uav_gimbal.bench import main

if __name__ == "__main__":
    sys.exit(main())

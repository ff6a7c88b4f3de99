"""Core modules never import rclpy (the node is the only ROS-facing file)."""
import subprocess
import sys

CORE = ["model", "geodesy", "importers", "index", "safety", "reroute", "synthetic", "encounter",
        "outlines", "cli"]


def test_core_modules_do_not_import_rclpy():
    code = ("import sys\n" + "".join(f"import skyroad.airspace_geofence.{m}\n" for m in CORE)
            + "print('rclpy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"

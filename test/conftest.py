"""Test-wide ROS 2 isolation: a per-run ROS_DOMAIN_ID and localhost-only discovery, set before
any test imports rclpy, so parallel runs (CI, helpers, developers) never cross-talk."""
import os
import random

import pytest

if "SKYROAD_TEST_DOMAIN_ID" not in os.environ:
    # Domains 1..100 (0 is the default that real robots use); random but recorded per run.
    os.environ["SKYROAD_TEST_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 100))
os.environ["ROS_DOMAIN_ID"] = os.environ["SKYROAD_TEST_DOMAIN_ID"]
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.pop("ROS_LOCALHOST_ONLY", None)  # deprecated; ignored by Jazzy and confusing


def pytest_report_header(config):
    return f"ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']} ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST"


@pytest.fixture
def ros_context():
    """An initialised rclpy Context of its own, shut down after the test."""
    import rclpy
    context = rclpy.context.Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.try_shutdown(context=context)

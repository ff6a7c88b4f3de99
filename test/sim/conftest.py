import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORLDS = REPO / "sim_worlds"


@pytest.fixture
def write_world(tmp_path):
    """write_world(body, name='w') -> Path of an SDF 1.9 world file holding `body`."""
    def _write(body: str, name: str = "w", filename: str = "world.sdf") -> Path:
        path = tmp_path / filename
        inner = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
        path.write_text('<?xml version="1.0"?>\n<sdf version="1.9">\n'
                        f'  <world name="{name}">\n{inner}\n  </world>\n</sdf>\n')
        return path
    return _write

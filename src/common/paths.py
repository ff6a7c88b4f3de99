"""Where skyroad's shared files (launch/, config/, sim_worlds/, scenarios/) are.

Running from a source tree (editable install, tests, `make demo`) they are the tree's own
folders, so an edit takes effect at once. Installed (colcon, pip wheel) they are in the
package's share directory, `<prefix>/share/skyroad`, found through the ament index
(AMENT_PREFIX_PATH, then this Python's prefix, where pip puts the data files).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

PACKAGE = "skyroad"


def source_tree_root() -> Optional[Path]:
    """<root> when this module runs from <root>/src/common/paths.py of a skyroad checkout."""
    root = Path(__file__).resolve().parents[2]
    package_xml = root / "package.xml"
    try:
        is_ours = f"<name>{PACKAGE}</name>" in package_xml.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return root if (root / "src").is_dir() and is_ours else None


def ament_prefixes(environ=None) -> List[Path]:
    environ = os.environ if environ is None else environ
    prefixes = [Path(p) for p in environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    if Path(sys.prefix) not in prefixes:
        prefixes.append(Path(sys.prefix))
    return prefixes


def ament_package_prefix(package: str, environ=None) -> Optional[Path]:
    for prefix in ament_prefixes(environ):
        if (prefix / "share" / "ament_index" / "resource_index" / "packages" / package).is_file():
            return prefix
    return None


def package_share_dir(environ=None) -> Path:
    """skyroad's share directory (see the module docstring); FileNotFoundError if none."""
    root = source_tree_root()
    if root is not None:
        return root
    prefix = ament_package_prefix(PACKAGE, environ)
    if prefix is not None and (prefix / "share" / PACKAGE).is_dir():
        return prefix / "share" / PACKAGE
    raise FileNotFoundError(f"skyroad's share directory not found: not a source tree and not in the "
                            f"ament index (AMENT_PREFIX_PATH={os.environ.get('AMENT_PREFIX_PATH', '')!r}, "
                            f"{sys.prefix})")


def share_path(*parts: str) -> Path:
    """A path below skyroad's share directory, e.g. share_path("config", "gimbal.yaml")."""
    return package_share_dir().joinpath(*parts)

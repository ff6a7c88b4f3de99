"""Finding packages and executables the way `ros2 launch` does, plus this repo's source tree.

- Package share / prefix: the ament index (`<prefix>/share/ament_index/resource_index/packages/
  <pkg>` for each prefix in AMENT_PREFIX_PATH, then this Python's prefix, where pip puts the
  index of the ROS wheels and of `pip install skyroad`). For `skyroad` run from a source tree or
  an editable install (no share/skyroad installed), the repository root (the folder holding
  package.xml next to src/) is the share folder: it holds launch/, config/, sim_worlds/.
- Executables (`<node pkg exec>`): `<prefix>/lib/<pkg>/<exec>` (colcon's layout), else the
  console script `<exec>` of the Python distribution `<pkg>` (next to sys.executable or on PATH),
  else, for `skyroad`, the Python entry point from setup.py's NODE_ENTRY_POINTS run with this
  interpreter.
"""
from __future__ import annotations

import ast
import importlib.metadata
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from ..common.paths import PACKAGE, ament_package_prefix, package_share_dir, source_tree_root
from .substitutions import SubstitutionError

repo_root = source_tree_root  # kept under its old name for callers


def find_package_share(package: str, environ=None) -> str:
    if package == PACKAGE:
        try:
            return str(package_share_dir(environ))
        except FileNotFoundError:
            pass
    prefix = ament_package_prefix(package, environ)
    if prefix is not None and (prefix / "share" / package).is_dir():
        return str(prefix / "share" / package)
    raise SubstitutionError(f"package '{package}' not found in the ament index "
                            f"(AMENT_PREFIX_PATH={os.environ.get('AMENT_PREFIX_PATH', '')!r}, "
                            f"{sys.prefix})")


def find_package_prefix(package: str, environ=None) -> str:
    prefix = ament_package_prefix(package, environ)
    if prefix is not None:
        return str(prefix)
    if package == PACKAGE and repo_root() is not None:
        return str(repo_root())
    raise SubstitutionError(f"package '{package}' not found in the ament index")


def _setup_py_entry_points(root: Path) -> Dict[str, str]:
    """NODE_ENTRY_POINTS of setup.py, read with ast (setup.py is never executed)."""
    tree = ast.parse((root / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "NODE_ENTRY_POINTS"
                                                for t in node.targets):
            return dict(ast.literal_eval(node.value))
    return {}


def python_entry_points(package: str) -> Dict[str, str]:
    """console_scripts of the Python distribution `package` (name -> 'module:function')."""
    try:
        dist = importlib.metadata.distribution(package)
        return {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    except importlib.metadata.PackageNotFoundError:
        pass
    if package == PACKAGE and repo_root() is not None and (repo_root() / "setup.py").is_file():
        return _setup_py_entry_points(repo_root())
    return {}


@dataclass(frozen=True)
class Executable:
    command: tuple          # argv prefix to run it
    entry_point: Optional[str]  # 'module:function' when it is a Python console script


def find_executable(package: str, executable: str) -> Executable:
    entry_points = python_entry_points(package)
    entry_point = entry_points.get(executable)
    prefix = ament_package_prefix(package)
    if prefix is not None:
        candidate = prefix / "lib" / package / executable
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return Executable((str(candidate),), entry_point)
    if entry_point is not None:
        beside_python = Path(sys.executable).parent / executable
        if beside_python.is_file() and os.access(beside_python, os.X_OK):
            return Executable((str(beside_python),), entry_point)
        on_path = shutil.which(executable)
        if on_path:
            return Executable((on_path,), entry_point)
        module, _, function = entry_point.partition(":")
        code = f"import sys; from {module} import {function}; sys.exit({function}())"
        return Executable((sys.executable, "-c", code), entry_point)
    where = f"{prefix / 'lib' / package}" if prefix is not None else "no ament prefix"
    known = ", ".join(sorted(entry_points)) or "none"
    raise SubstitutionError(f"executable '{executable}' of package '{package}' not found ({where}; "
                            f"Python console scripts of '{package}': {known})")

"""LaunchError: every problem in a launch file, reported with the file and line it comes from."""
from __future__ import annotations

from typing import Optional


class LaunchError(Exception):
    """A launch file cannot be loaded or run. `str()` is `file:line: message`."""

    def __init__(self, message: str, file: Optional[str] = None, line: Optional[int] = None):
        self.message = message
        self.file = file
        self.line = line
        super().__init__(self.__str__())

    @property
    def location(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line is not None else str(self.file)

    def __str__(self) -> str:
        where = self.location
        return f"{where}: {self.message}" if where else self.message

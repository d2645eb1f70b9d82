"""A speaker's private working folder: its daemon's configuration and API socket.

The speaker removes its folder when it stops, and when its start fails.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path


class WorkDir:
    """A folder made with :func:`tempfile.mkdtemp`, until :meth:`remove`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, prefix: str) -> WorkDir:
        return cls(Path(tempfile.mkdtemp(prefix=prefix)))

    def remove(self) -> None:
        """Removes the folder and what it holds. Idempotent."""
        shutil.rmtree(self.path, ignore_errors=True)

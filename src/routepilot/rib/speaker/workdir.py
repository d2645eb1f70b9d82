"""A speaker's private working folder: its daemon's configuration and API socket.

The speaker removes its folder when it stops, and when its start fails. A routepilot
killed with SIGKILL (the OOM killer, an operator's ``kill -9``, a test of fail-open)
runs no code, so its folder stays behind; the next speaker started with the same
prefix removes it. To tell such a leftover from a folder whose routepilot is still
running, the owner holds an exclusive ``flock`` on the folder's lock file for as long
as the folder is in use: the kernel releases it when the owner dies, however it dies,
and it means the same in every PID namespace that shares the temporary directory
(unlike a process id written in the name).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile
from pathlib import Path

from routepilot.log import get_logger

log = get_logger(__name__)

LOCK = "owner.lock"
"""The file whose lock says the folder's owner is alive."""


class WorkDir:
    """A folder made with :func:`tempfile.mkdtemp`, locked by this process until
    :meth:`remove`."""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self._lock_fd: int | None = lock_fd

    @classmethod
    def create(cls, prefix: str) -> WorkDir:
        """Removes what killed owners left under ``prefix`` (:func:`sweep`), then makes
        and locks a new folder."""
        sweep(prefix)
        path = Path(tempfile.mkdtemp(prefix=prefix))
        fd = -1
        try:
            # Locked under another name, then renamed: a sweeper that finds LOCK always
            # finds it locked while its owner lives (flock follows the inode).
            fresh = path / f"{LOCK}.new"
            fd = os.open(fresh, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(fresh, path / LOCK)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            shutil.rmtree(path, ignore_errors=True)
            raise
        return cls(path, fd)

    def remove(self) -> None:
        """Removes the folder and what it holds, then releases the lock. Idempotent."""
        shutil.rmtree(self.path, ignore_errors=True)
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)


def sweep(prefix: str, root: Path | None = None) -> list[Path]:
    """Removes the folders named ``prefix*`` in ``root`` (the temporary directory) that
    this user made and whose owner is dead (their lock is free); returns them.

    Skipped: folders of another user or that are not plain folders (``root`` is shared
    and world-writable), folders of a running owner, and folders without a lock file (one
    being made this instant, or one left by a routepilot from before the lock)."""
    removed = []
    for path in Path(root or tempfile.gettempdir()).glob(f"{prefix}*"):
        try:
            st = path.lstat()
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
                continue
            fd = os.open(path / LOCK, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # its owner runs
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)
        log.info("removed the working folder of a speaker that was killed", path=str(path))
        removed.append(path)
    return removed

"""Entering a network namespace from inside the process (for `run --netns`).

A socket belongs to the namespace it was created in: the API's listening
socket is opened on the host first, then the whole process moves into the
controller's namespace, where every other socket (BGP, probes, flows) and
every child (ExaBGP) is created. The API stays reachable on the host's
loopback while the lab stays unreachable from the host.
"""

from __future__ import annotations

import ctypes
import os

CLONE_NEWNET = 0x40000000


def enter(name: str) -> None:
    """Moves the calling process (it must still be single-threaded) into ``name``."""
    path = f"/run/netns/{name}"
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise OSError(f"network namespace {name!r} not found ({path}): {exc.strerror}") from None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"cannot enter network namespace {name!r}: {os.strerror(err)}")
    finally:
        os.close(fd)

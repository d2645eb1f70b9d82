"""Pure work the event loop must not wait for, run on a thread of its own.

A decision round over a full table is 0.2-0.4 s of Python (more on a loaded machine);
run on the loop it held the API, flows and the RIB feed for that long (#18). The
work handed over here must touch nothing the loop changes meanwhile: snapshots in,
a value out.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class WorkerThread:
    """One thread, so that two calls never run at once; started on first use."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the thread. Cancelled, it still waits for ``fn`` to return
        (a thread cannot be interrupted) and then lets the cancellation through: the
        caller never goes on, nor applies a result, while the work is still running."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, functools.partial(fn, *args))
        return await to_the_end(future)

    def close(self) -> None:
        """Ends the thread (after the call running, if any)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


async def to_the_end(future: asyncio.Future[T]) -> T:
    """The result of ``future``; cancelled meanwhile, waits for ``future`` to finish, drops
    its outcome, and re-raises the cancellation."""
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        while not future.done():
            # Cancelled again while waiting: the first cancellation is the one raised.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({future})
        if not future.cancelled():
            future.exception()  # retrieved: a failure of dropped work is not logged
        raise

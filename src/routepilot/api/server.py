"""The API as a component of the daemon: uvicorn on the daemon's own event loop.

``start()`` binds the socket itself, so a port already in use is a clear
``OSError`` at start (uvicorn would call ``sys.exit`` from inside a task), and
port 0 picks a free port (tests read :attr:`ApiServer.port`). uvicorn's own
signal handling is turned off: the daemon owns SIGINT and SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from routepilot.log import get_logger

log = get_logger(__name__)


def bind(listen: str, port: int) -> socket.socket:
    """A listening, non-blocking TCP socket; OSError names the address when it fails."""
    family = socket.AF_INET6 if ":" in listen else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose proto
    # says TCP, and without it every keep-alive answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((listen, port))
    except OSError as exc:
        sock.close()
        message = f"api cannot listen on {listen}:{port}: {exc.strerror}"
        raise OSError(exc.errno, message) from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ApiServer:
    """Serves ``app`` on ``listen:port`` until :meth:`stop`."""

    def __init__(self, app: FastAPI, listen: str = "127.0.0.1", port: int = 8080) -> None:
        self.app = app
        self.listen = listen
        self.port = port
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    def _bind(self) -> socket.socket:
        return bind(self.listen, self.port)

    async def start(self, sock: socket.socket | None = None) -> None:
        """Serves on ``sock`` when given (bound beforehand, e.g. in another network
        namespace), else binds ``listen:port`` now."""
        sock = sock or self._bind()
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="api")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("api server stopped while starting")
            await asyncio.sleep(0.01)
        log.info("api listening", listen=self.listen, port=self.port)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._server = self._task = None
        log.info("api stopped")

    @property
    def url(self) -> str:
        host = f"[{self.listen}]" if ":" in self.listen else self.listen
        return f"http://{host}:{self.port}"

"""What the ExaBGP and gobgpd backends share: a BGP daemon of its own that routepilot
starts, reads the output of, restarts when it dies and stops.

- **Start:** a private working folder (``workdir.py``) for the daemon's
  configuration and API socket, kept across restarts and removed on stop, on a
  start that fails or is cancelled, and by the next start after a ``kill -9``.
  The daemon gets its own session (a ^C at routepilot's terminal is routepilot's to
  handle: withdraw, then stop the daemon), and SIGTERM when routepilot dies
  (``PR_SET_PDEATHSIG``). Its last lines of output are kept, for the log when it
  dies.
- **Supervision:** when it dies, its sessions are reported down and it is started
  again, after a delay that doubles while it keeps dying without ever bringing a
  session up (a bad configuration, an address that is gone), up to half a minute.
- **Stop:** SIGTERM, so that it closes its sessions with a NOTIFICATION (Cease);
  SIGKILL if it has not exited 5 s later.

Each backend gives :meth:`ProcessSpeaker._prepare` (fill the working folder),
:meth:`ProcessSpeaker._spawn` (start the daemon and connect to it),
:meth:`ProcessSpeaker._disconnect` (drop that connection) and
:meth:`ProcessSpeaker._background` (its watchdog: it watches for a hung daemon in its
own way).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
from abc import abstractmethod
from collections import deque
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from routepilot.log import get_logger
from routepilot.rib.speaker.base import SessionChanged, Speaker, SpeakerRestarted
from routepilot.rib.speaker.workdir import WorkDir

if TYPE_CHECKING:
    from routepilot.config.models import RouterConfig
    from routepilot.rib.config import SpeakerConfig

log = get_logger(__name__)

_PR_SET_PDEATHSIG = 1
MAX_RESTART_DELAY_S = 30.0


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: the daemon gets SIGTERM when routepilot dies.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ProcessSpeaker(Speaker):
    """A speaker backed by a supervised daemon; see the module docstring."""

    NAME: ClassVar[str]
    """The daemon's name in the log ("exabgp", "gobgpd")."""
    WORKDIR: ClassVar[str]
    """The prefix of its working folder's name ("routepilot-exabgp-")."""

    def __init__(self, config: SpeakerConfig, routers: Sequence[RouterConfig]) -> None:
        super().__init__()
        self.config = config
        self.routers = list(routers)
        self._by_address = {r.address: r.name for r in self.routers}
        self._address_of = {r.name: r.address for r in self.routers}
        self._workdir: WorkDir | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._tasks: set[asyncio.Task] = set()
        self._supervisor: asyncio.Task | None = None
        self._stopping = False
        self._up: set[str] = set()
        self._ever_up = False
        """A session came up since the daemon last started (resets the back-off)."""
        self._md5 = any(r.md5_password is not None for r in self.routers)
        self._output: deque[str] = deque(maxlen=20)
        """The daemon's last lines of output, logged when it dies."""

    @property
    def pid(self) -> int | None:
        """The daemon's process id (tests kill it to check that it is restarted; HA's
        last resort and dead man's switch kill it to drop the sessions)."""
        return self._proc.pid if self._proc else None

    @property
    def workdir(self) -> Path | None:
        """The daemon's working folder while the speaker runs (its configuration and API
        socket); the same across the daemon's restarts."""
        return self._workdir.path if self._workdir else None

    async def start(self) -> None:
        """Makes the working folder, starts the daemon and supervises it; returns once it
        accepts commands, or once a daemon that failed to come up is left to the
        supervisor to start again. If the start raises or is cancelled, what it started
        is stopped and the folder removed before the exception goes on."""
        if self._workdir is not None:
            raise RuntimeError(f"the {self.NAME} speaker is already started")
        self._stopping = False
        self._workdir = WorkDir.create(self.WORKDIR)
        try:
            await self._prepare(self._workdir.path)
            await self._spawn()
        except BaseException:
            await self.stop()
            raise
        self._supervisor = asyncio.create_task(self._supervise())
        for coro in self._background():
            self._spawn_task(coro)

    async def stop(self) -> None:
        """Stops the daemon and its supervisor, drops the connection, reports the sessions
        down and removes the working folder (even if stopping fails or is cancelled)."""
        try:
            await self._stop_daemon()
            await self._close()
        finally:
            workdir, self._workdir = self._workdir, None
            if workdir is not None:
                workdir.remove()
        log.info("speaker stopped", speaker=self.NAME)

    @abstractmethod
    async def _prepare(self, workdir: Path) -> None:
        """Writes the daemon's configuration into its new working folder (and opens what
        the daemon connects to)."""

    @abstractmethod
    async def _spawn(self) -> None:
        """Starts the daemon (through :meth:`_exec`) and connects to it."""

    @abstractmethod
    async def _disconnect(self) -> None:
        """Drops the connection to the daemon (it died, or is stopping)."""

    @abstractmethod
    def _background(self) -> list[Coroutine[Any, Any, None]]:
        """What runs beside the daemon once it is started (its watchdog)."""

    async def _close(self) -> None:
        """Closes what :meth:`_prepare` opened, once the daemon is stopped."""

    async def _exec(
        self, command: Sequence[str], env: Mapping[str, str] | None = None
    ) -> asyncio.subprocess.Process:
        self._proc = proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent,
            start_new_session=True,
        )
        self._spawn_task(self._log_output(proc))
        log.info("speaker started", speaker=self.NAME, pid=proc.pid, command=" ".join(command))
        return proc

    def _tail(self) -> str:
        return " | ".join(self._output)

    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping:
            proc = self._proc
            code = await proc.wait() if proc is not None else None
            if self._stopping:
                return
            self.metrics.restarts += 1
            failures = 0 if self._ever_up else failures + 1
            self._ever_up = False
            delay = min(self.config.restart_delay * 2 ** max(failures - 1, 0), MAX_RESTART_DELAY_S)
            log.error("speaker died; restarting", speaker=self.NAME, returncode=code, delay_s=delay,
                      output=self._tail())  # fmt: skip
            await self._disconnect()
            self._sessions_down("speaker died")
            self.emit(SpeakerRestarted(f"{self.NAME} exited with {code}"))
            await asyncio.sleep(delay)
            if self._stopping:
                return
            try:
                await self._spawn()
            except OSError as exc:
                log.error("speaker could not be started", speaker=self.NAME, error=str(exc))
                self._proc = None

    def _sessions_down(self, reason: str) -> None:
        for router in sorted(self._up):
            self.emit(SessionChanged(router, False, reason))
        self._up.clear()

    async def _stop_daemon(self) -> None:
        """Stops the daemon and its supervisor, drops the connection and reports the
        sessions down."""
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout=5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        await self._disconnect()
        for task in list(self._tasks):
            task.cancel()
        self._sessions_down("speaker stopped")

    def _spawn_task(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _log_output(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            if line:
                self._output.append(line)
                log.debug("speaker output", speaker=self.NAME, pid=proc.pid, line=line)

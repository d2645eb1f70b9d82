"""The ExaBGP backend: routepilot starts ExaBGP with a generated configuration.

ExaBGP runs one helper process (``exabgp_relay.py``) that connects back to a
Unix socket routepilot listens on; ExaBGP's events come in over it (session
changes as JSON, received OPENs and UPDATEs as their bytes, exabgp_packets.py)
and API commands go out. Announcements are batched into ``announce attributes ... nlri
P1 P2 ...`` commands, which ExaBGP packs into few UPDATE messages.

Fail-open: ExaBGP gets SIGTERM if routepilot dies (``PR_SET_PDEATHSIG``) and
stops if its helper dies (``exabgp_api_terminate``), so no injected route
outlives routepilot. If ExaBGP dies, it is started again; its Adj-RIB-Out is
then empty, which the :class:`SpeakerRestarted` event tells the consumers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib.util
import os
import sys
from collections.abc import Coroutine, Sequence
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any

from routepilot.log import get_logger
from routepilot.rib.speaker.base import (
    InjectedRoute,
    SessionChanged,
)
from routepilot.rib.speaker.exabgp_packets import PacketDecoder
from routepilot.rib.speaker.process import ProcessSpeaker

if TYPE_CHECKING:
    from routepilot.config.models import RouterConfig
    from routepilot.rib.config import SpeakerConfig

log = get_logger(__name__)

_PROCESS = "routepilot"

TURN_BYTES = 64 * 1024
"""Bytes of ExaBGP's JSON read and decoded between two turns of the event loop. A
StreamReader returns a line without yielding while its buffer holds one, so a table
arriving was decoded for as long as the buffer held lines and the consumer kept up
(#18)."""


class ExaBGPSpeaker(ProcessSpeaker):
    """Speaker backed by an ExaBGP process that routepilot supervises
    (``process.ProcessSpeaker``)."""

    NAME = "exabgp"
    WORKDIR = "routepilot-exabgp-"

    def __init__(self, config: SpeakerConfig, routers: Sequence[RouterConfig]) -> None:
        super().__init__(config, routers)
        self._decoder = PacketDecoder(self._by_address.get)
        self._server: asyncio.base_events.Server | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._connected = asyncio.Event()
        self._last_heard = 0.0
        self._paused = False
        """Not reading ExaBGP's events while the consumer catches up (see _on_relay)."""

    # Configuration.

    def render_config(self, socket_path: str) -> str:
        """ExaBGP's configuration: one neighbor per router, add-path receive."""
        relay = Path(__file__).with_name("exabgp_relay.py")
        lines = [
            f"process {_PROCESS} {{",
            f"    run {sys.executable} {relay} {socket_path};",
            "    encoder json;",
            "}",
        ]
        families = "".join(f" {f};" for f in self.config.families)
        for router in self.routers:
            router_id = self.config.router_id or router.local_address
            lines += [
                f"neighbor {router.address} {{",
                f'    description "{router.name}";',
                f"    local-as {router.asn};",
                f"    peer-as {router.asn};",
                f"    hold-time {self.config.hold_time};",
                "    passive false;",
                # ExaBGP keeps its own copy of every received path by default
                # (about 1.1 KB a path, a third of its time on a full table);
                # routepilot's RIB is the copy that counts, so ExaBGP keeps none.
                "    adj-rib-in false;",
            ]
            if router_id:
                lines.append(f"    router-id {router_id};")
            if router.local_address:
                lines.append(f"    local-address {router.local_address};")
            md5 = getattr(router, "md5_password", None)
            if md5 is not None:
                # Always base64, and said so (not ExaBGP's "auto", which reads a hex-looking
                # password as base64): no character of a password can break the syntax.
                key = base64.b64encode(md5.get_secret_value().encode()).decode()
                lines += [f"    md5-password {key};", "    md5-base64 true;"]
            lines += [
                "    capability { add-path receive; route-refresh enable; }",
                f"    family {{{families} }}",
                # The messages' bytes, not ExaBGP's JSON rendering of them: routepilot
                # decodes UPDATEs itself (exabgp_packets.py), with what the two OPENs
                # negotiated; about 4x less of ExaBGP's CPU a path (#18). Keepalives
                # too: they prove ExaBGP is alive (see _watchdog).
                f"    api {{ processes [ {_PROCESS} ]; receive {{ packets; open; update; "
                "keepalive; } send { packets; open; } neighbor-changes; }",
                "}",
            ]
        return "\n".join(lines) + "\n"

    def _environment(self) -> dict[str, str]:
        ex = self.config.exabgp
        env = dict(os.environ)
        env.update(
            {
                "exabgp_api_ack": "false",
                "exabgp_api_cli": "false",
                "exabgp_api_respawn": "false",
                "exabgp_api_terminate": "true",
                "exabgp_daemon_user": ex.user,
                "exabgp_daemon_daemonize": "false",
                "exabgp_log_level": ex.log_level,
                "exabgp_log_destination": "stdout",
                "exabgp_reactor_speed": str(ex.reactor_speed),
            }
        )
        return env

    def _command(self, config_path: Path) -> list[str]:
        ex = self.config.exabgp
        command = list(ex.command)
        if not command and importlib.util.find_spec("exabgp") is not None:
            # ExaBGP installed beside routepilot: through the launcher that lightens its
            # announce path (see exabgp_launch.py; about 2x on a 10k-route change).
            command = [sys.executable, str(Path(__file__).with_name("exabgp_launch.py"))]
        elif not command:
            beside = Path(sys.executable).with_name("exabgp")
            command = [str(beside)] if beside.exists() else ["exabgp"]
        return [*ex.wrapper, *command, str(config_path)]

    # Lifecycle.

    async def _prepare(self, workdir: Path) -> None:
        socket_path = str(workdir / "api.sock")
        self._server = await asyncio.start_unix_server(self._on_relay, socket_path)
        (workdir / "exabgp.conf").write_text(self.render_config(socket_path))

    def _background(self) -> list[Coroutine[Any, Any, None]]:
        return [self._watchdog()]

    async def _spawn(self) -> None:
        assert self.workdir is not None
        self._connected.clear()
        proc = await self._exec(self._command(self.workdir / "exabgp.conf"), self._environment())
        self._last_heard = asyncio.get_running_loop().time()
        # Wait for the helper to connect, or for ExaBGP to die trying.
        connected = asyncio.ensure_future(self._connected.wait())
        exited = asyncio.ensure_future(proc.wait())
        timeout = self.config.exabgp.start_timeout
        done, _ = await asyncio.wait(
            {connected, exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        for future in (connected, exited):
            future.cancel()
        if connected in done:
            return
        if exited in done:
            await asyncio.sleep(0.05)  # let the last lines of output arrive
            log.error("exabgp exited at start", returncode=proc.returncode, output=self._tail())
        else:
            log.error("exabgp helper did not connect", timeout=timeout, output=self._tail())
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    async def _watchdog(self) -> None:
        """Kills an ExaBGP that stopped talking while a session is up (a hung process).

        An Established session brings the router's keepalives every hold-time/3
        seconds; when none came for longer than the hold time, the router has
        dropped the session already and ExaBGP is stuck: the supervisor restarts it.
        """
        loop = asyncio.get_running_loop()
        limit = self.config.hold_time + 2
        while not self._stopping:
            await asyncio.sleep(1)
            proc = self._proc
            if proc is not None and proc.returncode is None and self._md5:
                self.metrics.tcp_md5_drops.update(tcp_md5_drops(proc.pid))
            if self._paused:
                self._last_heard = loop.time()
            silent = loop.time() - self._last_heard
            if self._up and proc is not None and proc.returncode is None and silent > limit:
                self.metrics.hangs += 1
                log.error("exabgp silent while a session is up; killing it", silent_s=silent)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                self._last_heard = loop.time()

    async def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def _disconnect(self) -> None:
        self._drop_connection()

    def _drop_connection(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer = None
        self._connected.clear()

    async def _on_relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._drop_connection()
        self._writer = writer
        self._connected.set()
        log.info("exabgp helper connected")
        loop = asyncio.get_running_loop()
        read = 0
        try:
            while True:
                if read >= TURN_BYTES:
                    # readline() returns without a turn while its buffer holds a line.
                    read = 0
                    await asyncio.sleep(0)
                if self.backlog() > self._queue.high_water:
                    # Backpressure: the rest of a table waits in the socket and in ExaBGP
                    # until the RIB has caught up. Waiting on the consumer is not ExaBGP
                    # falling silent, so the watchdog's clock restarts after.
                    self._paused = True
                    await self.room()
                    self._paused = False
                    self._last_heard = loop.time()
                    read = 0
                line = await reader.readline()
                if not line:
                    break
                read += len(line)
                self._last_heard = loop.time()
                for event in self._decoder.decode(line):
                    if isinstance(event, SessionChanged):
                        (self._up.add if event.up else self._up.discard)(event.router)
                        self._ever_up |= event.up
                    self.emit(event)
        except (ConnectionError, asyncio.LimitOverrunError, ValueError) as exc:
            self.metrics.decode_errors += 1
            log.warning("exabgp helper connection error", error=str(exc))
        finally:
            if self._writer is writer:
                self._drop_connection()

    # Commands.

    async def announce(self, routes: Sequence[InjectedRoute], router: str | None = None) -> None:
        await self._send("announce", routes, router)
        self.metrics.routes_announced += len(routes)

    async def withdraw(self, routes: Sequence[InjectedRoute], router: str | None = None) -> None:
        await self._send("withdraw", routes, router)
        self.metrics.routes_withdrawn += len(routes)

    def commands(
        self, action: str, routes: Sequence[InjectedRoute], router: str | None = None
    ) -> list[str]:
        """API lines for routes: one ``attributes ... nlri`` line per attribute set and batch."""
        prefix = ""
        if router is not None:
            prefix = f"neighbor {self._address_of[router]} "
        size = self.config.batch_size

        def attrs_of(r: InjectedRoute) -> tuple:
            return (r.next_hop, r.local_pref, r.communities, r.large_communities, r.as_path)

        lines = []
        for (next_hop, local_pref, communities, large, as_path), group in groupby(
            sorted(routes, key=attrs_of), key=attrs_of
        ):
            prefixes = [r.prefix for r in group]
            attrs = f"next-hop {next_hop}"
            if action == "announce":
                attrs += f" local-preference {local_pref}"
                if communities:
                    attrs += f" community [ {' '.join(communities)} ]"
                if large:
                    attrs += f" large-community [ {' '.join(large)} ]"
                if as_path:
                    attrs += f" as-path [ {' '.join(str(a) for a in as_path)} ]"
            for i in range(0, len(prefixes), size):
                nlri = " ".join(prefixes[i : i + size])
                lines.append(f"{prefix}{action} attributes {attrs} nlri {nlri}")
        return lines

    async def _send(self, action: str, routes: Sequence[InjectedRoute], router: str | None) -> None:
        if not routes:
            return
        lines = self.commands(action, routes, router)
        writer = self._writer
        if writer is None:
            # The next session up (after a restart) resyncs what is desired.
            log.warning("exabgp not connected; command dropped", action=action, routes=len(routes))
            return
        writer.write(("\n".join(lines) + "\n").encode())
        self.metrics.commands += len(lines)
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def send_raw(self, text: str) -> None:
        """Sends API commands as they are, one a line (``neighbor X teardown 2`` …)."""
        if self._writer is not None:
            self._writer.write(text.encode() + b"\n")
            self.metrics.commands += text.count("\n") + 1
            await self._writer.drain()


_MD5_COUNTERS = {
    "TCPMD5NotFound": "not_found",
    "TCPMD5Unexpected": "unexpected",
    "TCPMD5Failure": "failure",
}


def parse_tcp_md5_drops(netstat: str) -> dict[str, int]:
    """TCP-MD5 drop counters from ``/proc/net/netstat``: segments the kernel dropped because
    the digest was missing (``not_found``), not expected (``unexpected``) or wrong
    (``failure``). Names absent from the kernel's table are left out."""
    lines = netstat.splitlines()
    for head, values in zip(lines[::2], lines[1::2], strict=False):
        if head.startswith("TcpExt:") and values.startswith("TcpExt:"):
            table = dict(zip(head.split()[1:], values.split()[1:], strict=False))
            return {ours: int(table[k]) for k, ours in _MD5_COUNTERS.items() if k in table}
    return {}


def tcp_md5_drops(pid: int) -> dict[str, int]:
    """The TCP-MD5 drop counters of the network namespace process ``pid`` lives in (ExaBGP's,
    which may be another than routepilot's); {} when they cannot be read."""
    try:
        return parse_tcp_md5_drops(Path(f"/proc/{pid}/net/netstat").read_text())
    except OSError:
        return {}

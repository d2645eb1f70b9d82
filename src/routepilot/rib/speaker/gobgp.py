"""The GoBGP backend: routepilot runs Debian's ``gobgpd`` and drives it over gRPC.

routepilot writes gobgpd's configuration (one iBGP neighbor per router, add-path
receive on every family), starts it with its gRPC API on a Unix socket of a
private directory, and then:

- learns paths from one ``WatchEvent`` stream: the routers' sessions (``peer``)
  and every UPDATE they send, before any policy (an ``ADJIN`` table filter, with
  ``init`` so a table already held is sent first). gobgpd registers the watcher
  and lists the sessions and paths it holds in one step, so nothing is missed;
- injects routes into gobgpd's global RIB with ``AddPathStream``, ``batch_size``
  paths a message, withdrawals in the same stream; the call returns once gobgpd
  holds them. gobgpd sends its global RIB to every router, so a route for one
  router goes to all of them (the injector's per-router calls resync one router
  to the same desired set);
- keeps the routers' paths out of that global RIB (an import policy rejects
  them): routepilot's RIB is the copy that counts, gobgpd needs no best path of
  its own, and a router's path must never outrank, and so withdraw, a route
  routepilot injects;
- tells End-of-RIB from gobgpd's per-family ``end_of_rib_received`` flag
  (``ListPeer``; the watch stream carries no End-of-RIB), once the stream has
  delivered what came before it.

Fail-open as with ExaBGP: gobgpd gets SIGTERM if routepilot dies
(``PR_SET_PDEATHSIG``) and closes its sessions; if it dies it is started again,
with an empty RIB, which :class:`SpeakerRestarted` tells the consumers; if its API
stops answering while a session is up it is killed and restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

# routepilot forks (subprocesses) while gRPC's threads run; its fork handlers serve
# children that use gRPC, which routepilot's never do (they exec at once), and log
# a line at every fork. Read by gRPC when it is first imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import grpc  # noqa: E402

from routepilot.log import get_logger
from routepilot.rib.speaker.base import (
    EndOfRib,
    InjectedRoute,
    SessionChanged,
)
from routepilot.rib.speaker.exabgp import tcp_md5_drops
from routepilot.rib.speaker.gobgp_api._gen import gobgp_pb2 as pb
from routepilot.rib.speaker.gobgp_api._gen import gobgp_pb2_grpc as pb_grpc
from routepilot.rib.speaker.gobgp_api._gen import watch_pb2 as watch_pb
from routepilot.rib.speaker.gobgp_events import TableDecoder, api_path, family_name
from routepilot.rib.speaker.process import ProcessSpeaker

if TYPE_CHECKING:
    from routepilot.config.models import RouterConfig
    from routepilot.rib.config import SpeakerConfig

log = get_logger(__name__)

_FAMILIES = {"ipv4 unicast": "ipv4-unicast", "ipv6 unicast": "ipv6-unicast"}
_ESTABLISHED = pb.PeerState.ESTABLISHED
_EOR_POLL_S = 0.25
_EOR_QUIET_S = 0.2
"""The watch stream must have been idle this long before an End-of-RIB seen with
``ListPeer`` is passed on: gobgpd queued every path the router sent before it."""
_MAX_BACKLOG = 512
"""Events queued for the consumer before the watch stream stops reading: the rest of a
table waits in gobgpd (and gRPC's flow control), not as Python objects here."""
_POLICY = "routepilot-routers-in"
_NEIGHBORS = "routepilot-routers"
_CHANNEL_OPTIONS = [
    # An UPDATE's IPv6 paths each carry its whole MP_REACH_NLRI: messages can be large.
    ("grpc.max_receive_message_length", 256 * 2**20),
    ("grpc.max_send_message_length", 256 * 2**20),
]


def _toml(value: str) -> str:
    # A JSON string is a TOML basic string for everything json.dumps writes.
    return json.dumps(value)


class GoBGPSpeaker(ProcessSpeaker):
    """Speaker backed by a gobgpd process that routepilot supervises
    (``process.ProcessSpeaker``)."""

    NAME = "gobgpd"
    WORKDIR = "routepilot-gobgp-"

    def __init__(self, config: SpeakerConfig, routers: Sequence[RouterConfig]) -> None:
        super().__init__(config, routers)
        self._decoder = TableDecoder(self._by_address.get)
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.GobgpApiStub | None = None
        self._watch_task: asyncio.Task | None = None
        self._last_message = 0.0
        self._last_answer = 0.0
        self._eor_seen: dict[str, set[str]] = {}
        self._eor_sent: dict[str, set[str]] = {}
        self._rib_out: dict[str, InjectedRoute] = {}
        """What gobgpd's global RIB holds from us, by prefix."""

    # Configuration.

    def router_id(self) -> str:
        for candidate in (self.config.router_id, *(r.local_address for r in self.routers)):
            if candidate:
                return str(candidate)
        raise ValueError("the gobgp speaker needs rib.speaker.router_id or a local_address")

    def render_config(self) -> str:
        """gobgpd's TOML configuration: one iBGP neighbor per router, add-path receive,
        no listening socket unless ``gobgp.listen`` (it connects to the routers), and
        the routers' paths kept out of the global RIB."""
        hold = self.config.hold_time
        lines = [
            "[global.config]",
            f"  as = {self.routers[0].asn}",
            f"  router-id = {_toml(self.router_id())}",
            *self._listen_lines(),
            "[global.apply-policy.config]",
            f"  import-policy-list = [{_toml(_POLICY)}]",
            '  default-import-policy = "accept-route"',
            "[[defined-sets.neighbor-sets]]",
            f"  neighbor-set-name = {_toml(_NEIGHBORS)}",
            "  neighbor-info-list = [" + ", ".join(_toml(r.address) for r in self.routers) + "]",
            "[[policy-definitions]]",
            f"  name = {_toml(_POLICY)}",
            "  [[policy-definitions.statements]]",
            '    name = "keep-out-of-the-global-rib"',
            "    [policy-definitions.statements.conditions.match-neighbor-set]",
            f"      neighbor-set = {_toml(_NEIGHBORS)}",
            "    [policy-definitions.statements.actions]",
            '      route-disposition = "reject-route"',
        ]
        for router in self.routers:
            lines += [
                "[[neighbors]]",
                "  [neighbors.config]",
                f"    neighbor-address = {_toml(router.address)}",
                f"    peer-as = {router.asn}",
                f"    local-as = {router.asn}",
                f"    description = {_toml(router.name)}",
            ]
            if router.md5_password is not None:
                lines.append(f"    auth-password = {_toml(router.md5_password.get_secret_value())}")
            lines += [
                "  [neighbors.timers.config]",
                "    connect-retry = 1",
                f"    hold-time = {hold}",
                f"    keepalive-interval = {max(1, hold // 3)}",
                "  [neighbors.transport.config]",
                "    passive-mode = false",
            ]
            if router.local_address:
                lines.append(f"    local-address = {_toml(str(router.local_address))}")
            for family in self.config.families:
                lines += [
                    "  [[neighbors.afi-safis]]",
                    "    [neighbors.afi-safis.config]",
                    f"      afi-safi-name = {_toml(_FAMILIES[family])}",
                    "    [neighbors.afi-safis.add-paths.config]",
                    "      receive = true",
                ]
        return "\n".join(lines) + "\n"

    def _listen_lines(self) -> list[str]:
        """Where gobgpd listens: nowhere (``port = -1``) by default; with ``gobgp.listen``,
        port 179 of the routers' local addresses, so a router's own connection brings the
        session up without waiting for gobgpd's connect timer (5 to 10 s in gobgpd 3)."""
        if not self.config.gobgp.listen:
            return ["  port = -1"]
        lines = ["  port = 179"]
        local = [r.local_address for r in self.routers]
        if all(local):
            unique = sorted({str(a) for a in local})
            lines.append("  local-address-list = [" + ", ".join(map(_toml, unique)) + "]")
        return lines

    def _command(self, config_path: Path, socket_path: Path) -> list[str]:
        gb = self.config.gobgp
        command = [*gb.wrapper, *gb.command, "-f", str(config_path), "-t", "toml"]
        command += ["--api-hosts", f"unix://{socket_path}", "--log-level", gb.log_level]
        command += ["--log-plain", "--pprof-disable"]
        if gb.cpus:
            command += ["--cpus", str(gb.cpus)]
        return command

    # Lifecycle.

    async def _prepare(self, workdir: Path) -> None:
        (workdir / "gobgpd.toml").write_text(self.render_config())

    def _background(self) -> list[Coroutine[Any, Any, None]]:
        return [self._watchdog(), self._end_of_rib()]

    async def _spawn(self) -> None:
        assert self.workdir is not None
        socket_path = self.workdir / "api.sock"
        socket_path.unlink(missing_ok=True)
        proc = await self._exec(self._command(self.workdir / "gobgpd.toml", socket_path))
        channel = grpc.aio.insecure_channel(f"unix:{socket_path}", options=_CHANNEL_OPTIONS)
        stub = pb_grpc.GobgpApiStub(channel)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.gobgp.start_timeout
        while True:
            try:
                await stub.GetBgp(pb.GetBgpRequest(), timeout=1)
                break
            except grpc.aio.AioRpcError:
                pass
            if proc.returncode is not None or loop.time() > deadline:
                await channel.close()
                if proc.returncode is None:
                    log.error("gobgpd api did not answer", output=self._tail())
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                else:
                    await asyncio.sleep(0.05)  # let the last lines of output arrive
                    log.error("gobgpd exited at start", returncode=proc.returncode)
                return
            await asyncio.sleep(0.05)
        self._channel, self._stub = channel, stub
        self._last_answer = self._last_message = loop.time()
        self._watch_task = asyncio.create_task(self._watch(channel, proc))

    async def _watchdog(self) -> None:
        """Kills a gobgpd whose API stopped answering while a session is up (a hung
        process): by then the router has dropped the session at its hold timer."""
        loop = asyncio.get_running_loop()
        limit = self.config.hold_time + 2
        while not self._stopping:
            await asyncio.sleep(1)
            proc, stub = self._proc, self._stub
            if proc is None or proc.returncode is not None or stub is None:
                continue
            if self._md5:
                self.metrics.tcp_md5_drops.update(tcp_md5_drops(proc.pid))
            try:
                await stub.GetBgp(pb.GetBgpRequest(), timeout=1)
                self._last_answer = loop.time()
            except grpc.aio.AioRpcError:
                silent = loop.time() - self._last_answer
                if self._up and silent > limit and proc is self._proc:
                    self.metrics.hangs += 1
                    log.error("gobgpd silent while a session is up; killing it", silent_s=silent)
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    self._last_answer = loop.time()

    async def _disconnect(self) -> None:
        await self._drop_connection()
        self._rib_out.clear()

    async def _drop_connection(self) -> None:
        task, self._watch_task = self._watch_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            with contextlib.suppress(Exception):
                await channel.close()

    # Learning.

    async def _watch(self, channel: grpc.aio.Channel, proc: asyncio.subprocess.Process) -> None:
        # The stub's own method would parse every Any of every path; this one reads
        # the same bytes through watch.proto's view (see gobgp_events.TableDecoder).
        watch = channel.unary_stream(
            "/apipb.GobgpApi/WatchEvent",
            request_serializer=pb.WatchEventRequest.SerializeToString,
            response_deserializer=watch_pb.WatchResponse.FromString,
        )
        adj_in = pb.WatchEventRequest.Table.Filter(
            type=pb.WatchEventRequest.Table.Filter.ADJIN, init=True
        )
        request = pb.WatchEventRequest(
            peer=pb.WatchEventRequest.Peer(), table=pb.WatchEventRequest.Table(filters=[adj_in])
        )
        loop = asyncio.get_running_loop()
        try:
            async for response in watch(request):
                self._last_message = loop.time()
                while self.backlog() > _MAX_BACKLOG:
                    await asyncio.sleep(0.002)
                    self._last_message = loop.time()
                if response.HasField("table"):
                    for event in self._decoder.decode(response.table.paths):
                        self.emit(event)
                elif response.peer:
                    self._on_peer(pb.WatchEventResponse.PeerEvent.FromString(response.peer))
        except grpc.aio.AioRpcError as exc:
            if self._stopping or proc.returncode is not None:
                return
            self.metrics.decode_errors += 1
            log.error("gobgpd watch stream failed", error=str(exc.details()))
        if not self._stopping and proc.returncode is None and proc is self._proc:
            # Without the stream routepilot would miss paths: start afresh.
            log.error("gobgpd watch stream ended; restarting gobgpd")
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    def _on_peer(self, event: pb.WatchEventResponse.PeerEvent) -> None:
        if event.type not in (event.INIT, event.STATE):
            return
        state = event.peer.state
        router = self._by_address.get(state.neighbor_address or event.peer.conf.neighbor_address)
        if router is None:
            return
        up = state.session_state == _ESTABLISHED
        if up and router not in self._up:
            self._up.add(router)
            self._ever_up = True
            self._eor_seen[router] = set()
            self._eor_sent[router] = set()
            self.emit(SessionChanged(router, True))
        elif not up and router in self._up:
            self._up.discard(router)
            name = pb.PeerState.SessionState.Name(state.session_state).lower()
            self.emit(SessionChanged(router, False, f"session {name}"))

    async def _end_of_rib(self) -> None:
        """Passes on each End-of-RIB (RFC 4724) a router sent, once the paths sent
        before it have come through the watch stream."""
        loop = asyncio.get_running_loop()
        while not self._stopping:
            await asyncio.sleep(_EOR_POLL_S)
            stub = self._stub
            waiting = [
                r for r in sorted(self._up) if len(self._eor_sent[r]) < len(self.config.families)
            ]
            if stub is None or not waiting:
                continue
            for router in waiting:
                try:
                    async for reply in stub.ListPeer(
                        pb.ListPeerRequest(address=self._address_of[router]), timeout=5
                    ):
                        for afi in reply.peer.afi_safis:
                            if afi.mp_graceful_restart.state.end_of_rib_received:
                                self._eor_seen[router].add(family_name(afi.config.family))
                except grpc.aio.AioRpcError:
                    continue
            if loop.time() - self._last_message < _EOR_QUIET_S:
                continue
            for router in waiting:
                if router not in self._up:
                    continue
                for family in sorted(self._eor_seen[router] - self._eor_sent[router]):
                    self._eor_sent[router].add(family)
                    self.emit(EndOfRib(router, family))

    # Injecting.

    async def announce(self, routes: Sequence[InjectedRoute], router: str | None = None) -> None:
        self._check_router(router)
        if router is not None:
            # gobgpd sends its global RIB to a router whose session comes up: what it
            # holds already needs no second announcement.
            routes = [r for r in routes if self._rib_out.get(r.prefix) != r]
        if await self._stream([api_path(r) for r in routes]):
            self._rib_out.update((r.prefix, r) for r in routes)
            self.metrics.routes_announced += len(routes)

    async def withdraw(self, routes: Sequence[InjectedRoute], router: str | None = None) -> None:
        self._check_router(router)
        paths = [api_path(r) for r in routes]
        for path in paths:
            path.is_withdraw = True
        if await self._stream(paths):
            for route in routes:
                self._rib_out.pop(route.prefix, None)
            self.metrics.routes_withdrawn += len(routes)

    def _check_router(self, router: str | None) -> None:
        if router is not None and router not in self._address_of:
            raise KeyError(f"unknown router {router!r}")

    async def _stream(self, paths: list[pb.Path]) -> bool:
        """Streams paths to gobgpd's global RIB, ``batch_size`` a message; True once
        gobgpd holds them all, False when gobgpd is not there or refused them."""
        if not paths:
            return False
        stub = self._stub
        if stub is None:
            # The next session up (after a restart) resyncs what is desired.
            log.warning("gobgpd not connected; command dropped", routes=len(paths))
            return False
        size = self.config.batch_size

        async def requests() -> AsyncIterator[pb.AddPathStreamRequest]:
            for i in range(0, len(paths), size):
                self.metrics.commands += 1
                yield pb.AddPathStreamRequest(table_type=pb.GLOBAL, paths=paths[i : i + size])

        try:
            await stub.AddPathStream(requests())
        except grpc.aio.AioRpcError as exc:
            log.error("gobgpd refused routes", routes=len(paths), error=str(exc.details()))
            return False
        return True

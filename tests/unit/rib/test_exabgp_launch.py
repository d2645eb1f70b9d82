"""The ExaBGP launcher: its fixes change no route ExaBGP stores nor any line its API
gets, only what copying, reading and writing cost."""

from __future__ import annotations

import errno
import json
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from routepilot.config.models import RouterConfig
from routepilot.rib.config import SpeakerConfig
from routepilot.rib.speaker import exabgp_launch
from routepilot.rib.speaker.exabgp import ExaBGPSpeaker

pytest.importorskip("exabgp")

LAUNCHER = Path(exabgp_launch.__file__)


@pytest.fixture
def patched(monkeypatch):
    from exabgp.bgp.message import Message
    from exabgp.bgp.neighbor import Neighbor
    from exabgp.reactor.api.processes import Processes
    from exabgp.reactor.api.response import json as api_json
    from exabgp.reactor.asynchronous import ASYNC
    from exabgp.reactor.network.connection import Connection
    from exabgp.reactor.peer import Peer

    monkeypatch.setattr(Neighbor, "remove_self", Neighbor.remove_self)
    monkeypatch.setattr(ASYNC, "LIMIT", ASYNC.LIMIT)
    monkeypatch.setattr(Message, "unpack", Message.__dict__["unpack"])
    monkeypatch.setattr(api_json, "hexstring", api_json.hexstring)
    monkeypatch.setattr(api_json, "socket", api_json.socket)
    monkeypatch.setattr(api_json, "os", api_json.os)
    monkeypatch.setattr(Peer, "run", Peer.run)
    monkeypatch.setattr(Processes, "write", Processes.write)
    monkeypatch.setattr(Connection, "_reader", Connection._reader)
    stock = Neighbor.remove_self
    assert exabgp_launch.patch() is None
    return stock


_COMPARE = """
import json, sys
sys.path[:] = [p for p in sys.path if not p.endswith("speaker")]
from exabgp.environment import getenv
from exabgp.logger import log
log.init(getenv())
from exabgp.bgp.neighbor import Neighbor
from exabgp.configuration.configuration import Configuration
from exabgp.reactor.api import API
from routepilot.rib.speaker import exabgp_launch

stock = Neighbor.remove_self
assert exabgp_launch.patch() is None
api = API(Configuration([]))
out = []
for hop in ("100.64.1.1", "self"):
    # What ExaBGP's own API parser makes of a batched command, as routepilot sends it.
    for change in api.api_attributes(
        f"announce attributes next-hop {hop} local-preference 200 community [ no-export ] "
        "nlri 198.18.0.0/24 198.18.1.0/24", []
    ):
        ours = Neighbor.remove_self(None, change) if hop != "self" else None
        theirs = stock(None, change) if hop != "self" else None
        out.append({
            "hop": hop,
            "equal": ours == theirs == change if ours else None,
            "text": [ours.extensive(), theirs.extensive()] if ours else None,
            "own_nlri": ours.nlri is not change.nlri if ours else None,
            "shared_attributes": ours.attributes is change.attributes if ours else None,
            "self_goes_stock": change.nlri.nexthop.SELF,
        })
print(json.dumps(out))
"""


def test_a_route_is_copied_as_it_was_without_a_deep_copy():
    # In a process of its own: ExaBGP's logger and parser are process-wide state.
    out = subprocess.run(
        [sys.executable, "-c", _COMPARE], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout.splitlines()[-1])
    plain = [r for r in rows if r["hop"] != "self"]
    assert len(plain) == 2
    for r in plain:
        assert r["equal"] and r["text"][0] == r["text"][1]
        # Its own NLRI (the RIB sets the action on it later), the shared attribute set.
        assert r["own_nlri"] and r["shared_attributes"]
    assert [r["self_goes_stock"] for r in rows if r["hop"] == "self"] == [True, True]


def test_more_route_steps_per_reactor_loop(patched):
    from exabgp.reactor.asynchronous import ASYNC

    assert ASYNC.LIMIT >= exabgp_launch.STEPS_PER_LOOP


def test_an_unchecked_version_runs_exabgp_unchanged(monkeypatch):
    from exabgp.bgp.neighbor import Neighbor

    monkeypatch.setattr(exabgp_launch, "CHECKED", ("9.9.",))
    stock = Neighbor.remove_self
    assert "not checked" in exabgp_launch.patch()
    assert Neighbor.remove_self is stock


def test_the_launcher_runs_exabgp_by_path():
    # Its own folder holds routepilot's exabgp.py, which must not hide the package.
    out = subprocess.run(
        [sys.executable, str(LAUNCHER), "version"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ExaBGP" in out.stdout + out.stderr
    assert "unchanged" not in out.stdout


def test_the_speaker_runs_the_installed_exabgp_through_the_launcher():
    router = RouterConfig(name="edge", address="100.64.0.1", asn=65000, local_address="100.64.0.2")
    sp = ExaBGPSpeaker(SpeakerConfig(), [router])
    assert sp._command(Path("/x/exabgp.conf")) == [sys.executable, str(LAUNCHER), "/x/exabgp.conf"]


def test_hexstring_writes_what_exabgps_does():
    from exabgp.util import hexstring

    for value in (b"", b"\x00\xff\x10", bytes(range(256)) * 3):
        assert exabgp_launch.hexstring(value) == hexstring(value)


class _Neighbor(dict):
    def __init__(self, packets: bool, parsed: bool, adj_rib_in: bool = False) -> None:
        super().__init__({"adj-rib-in": adj_rib_in})
        self.api = {
            "receive-packets": ["p"] if packets else [],
            "receive-parsed": ["p"] if parsed else [],
            "receive-consolidate": [],
        }


class _Negotiated:
    def __init__(self, neighbor: _Neighbor) -> None:
        self.neighbor = neighbor


def test_an_update_only_the_apis_packets_need_is_not_parsed(patched):
    from exabgp.bgp.message import Message, Update
    from exabgp.bgp.message.direction import Direction

    body = bytes.fromhex("0000000e40010100400200400304640101011812c612")
    packets_only = _Negotiated(_Neighbor(packets=True, parsed=False))
    skipped = Message.unpack(2, body, Direction.IN, packets_only)
    assert isinstance(skipped, Update) and skipped.nlris == [] and len(skipped.attributes) == 0
    # A neighbor whose API takes parsed updates, or keeps an Adj-RIB-In: ExaBGP's own path
    # (which needs a real Negotiated: the stub has none of its fields, so it fails there).
    for neighbor in (
        _Neighbor(packets=True, parsed=True),
        _Neighbor(packets=True, parsed=False, adj_rib_in=True),
        _Neighbor(packets=False, parsed=True),
    ):
        with pytest.raises(AttributeError):
            Message.unpack(2, body, Direction.IN, _Negotiated(neighbor))


class _Pipe:
    def __init__(self, fail: int | None = None) -> None:
        self.writes: list[bytes] = []
        self.flushes = 0
        self.fail = fail

    def write(self, data: bytes) -> None:
        if self.fail is not None:
            raise OSError(self.fail, os.strerror(self.fail))
        self.writes.append(data)

    def flush(self) -> None:
        self.flushes += 1


class _Processes:
    """ExaBGP's API processes, as far as the turn's writes go."""

    def __init__(self, pipe: _Pipe) -> None:
        self._process = {"api": type("P", (), {"stdin": pipe})()}
        self._broken: list[str] = []
        self.stock_lines: list[str] = []

    def write(self, process, string, neighbor=None):  # type: ignore[no-untyped-def]
        self.stock_lines.append(string)
        return True


class _Peer:
    """A peer whose every step writes one line to the API and then wants to go on
    (NOW) until its messages run out (LATER)."""

    def __init__(self, processes: _Processes, messages: int, rate_limit: int = 0) -> None:
        self.reactor = type("R", (), {"processes": processes})()
        self.neighbor = {"rate-limit": rate_limit}
        self.messages = messages
        self.steps = 0

    def run(self) -> str:
        self.steps += 1
        if self.steps > self.messages:
            return "later"
        self.reactor.processes.write("api", f"update {self.steps}")
        return "now"


def _patched_classes() -> tuple[type[_Peer], type[_Processes]]:
    """Fresh classes for each test: the patch changes the classes it is given."""
    peer, processes = type("Peer", (_Peer,), {}), type("Processes", (_Processes,), {})
    exabgp_launch._longer_turns(peer, "now", processes)
    return peer, processes


@pytest.mark.parametrize("messages", [3, exabgp_launch.MESSAGES_PER_TURN + 5])
def test_a_peers_turn_goes_on_while_it_has_work_and_its_lines_go_in_one_write(messages: int):
    peer_class, processes_class = _patched_classes()
    pipe = _Pipe()
    processes = processes_class(pipe)
    peer = peer_class(processes, messages)
    turns: list[list[bytes]] = []
    while True:
        action = peer.run()
        turns.append(pipe.writes[-1].splitlines() if len(pipe.writes) > len(turns) else [])
        # Each turn's lines reach the API in one write, flushed, by the turn's end.
        assert len(pipe.writes) == len(turns) - (turns[-1] == []) and pipe.flushes == len(turns)
        if action != "now":
            break
    lines = [line for turn in turns for line in turn]
    assert lines == [f"update {k}".encode() for k in range(1, messages + 1)]
    # A turn takes every step that has work, up to the cap: one turn for 3 messages,
    # two when there are more than the cap.
    assert len(turns) == -(-(messages + 1) // exabgp_launch.MESSAGES_PER_TURN)
    assert [len(t) for t in turns][0] == min(messages, exabgp_launch.MESSAGES_PER_TURN)
    assert processes.stock_lines == []


def test_a_rate_limited_peer_takes_exabgps_turns_and_writes():
    peer_class, processes_class = _patched_classes()
    pipe = _Pipe()
    processes = processes_class(pipe)
    peer = peer_class(processes, 5, rate_limit=10)
    assert peer.run() == "now" and peer.steps == 1
    assert processes.stock_lines == ["update 1"] and pipe.writes == []


def test_a_closed_api_pipe_marks_its_helper_broken_as_exabgp_does():
    peer_class, processes_class = _patched_classes()
    processes = processes_class(_Pipe(fail=errno.EPIPE))
    peer_class(processes, 2).run()
    assert processes._broken == ["api"]


class _Socket:
    """A non-blocking socket that has ``chunks`` to give, an EAGAIN between each (b""
    for the peer's close, an int for an errno)."""

    def __init__(self, chunks: list[bytes | int]) -> None:
        self.chunks = chunks
        self.recvs = 0
        self.closed = False
        self.ready = False

    def recv(self, size: int) -> bytes:
        self.recvs += 1
        self.ready = not self.ready
        if not self.ready or not self.chunks:
            raise BlockingIOError(errno.EAGAIN, "try again")
        chunk = self.chunks.pop(0)
        if isinstance(chunk, int):
            raise OSError(chunk, os.strerror(chunk))
        return chunk[:size]

    def close(self) -> None:
        self.closed = True


def _message(kind: int, body: bytes) -> bytes:
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), kind) + body


def _connection(patched, chunks):  # type: ignore[no-untyped-def]
    from exabgp.reactor.network.connection import Connection

    class Quiet(Connection):
        # ExaBGP's close logs through its logger, which only its process sets up.
        def close(self) -> None:
            if self.io:
                self.io.close()
            self.io = None

    conn = Quiet(1, "100.64.0.1", "100.64.0.2")
    conn.defensive = False
    conn.io = _Socket(chunks)
    return conn


def _messages(conn, count: int) -> list[tuple[int, bytes]]:  # type: ignore[no-untyped-def]
    """What ExaBGP's protocol reads: each message's type and body, waits skipped."""
    out: list[tuple[int, bytes]] = []
    while len(out) < count:
        for _length, kind, header, body, notify in conn.reader():
            assert notify is None
            if header:
                out.append((kind, body))
    return out


def test_a_connection_hands_out_every_message_whole_from_few_reads(patched):
    updates = [_message(2, bytes([k]) * (10 + k)) for k in range(200)]
    stream = _message(4, b"") + b"".join(updates)
    # Cut anywhere, headers included, as TCP may deliver it.
    cuts = [0, 7, 30, 31, 400, 4000, 4001, len(stream)]
    chunks: list[bytes | int] = [stream[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
    reads = len(chunks)
    conn = _connection(patched, chunks)
    got = _messages(conn, 201)
    assert got == [(4, b"")] + [(2, bytes([k]) * (10 + k)) for k in range(200)]
    # One recv a chunk and one that found nothing: not two a message.
    assert conn.io.recvs <= 2 * reads + 2


@pytest.mark.parametrize("end", [b"", errno.ECONNRESET])
def test_a_connection_closed_mid_message_is_lost_as_exabgp_says(patched, end):
    from exabgp.reactor.network.error import LostConnection

    whole, cut = _message(2, b"x" * 40), _message(2, b"y" * 40)[:25]
    conn = _connection(patched, [whole + cut, end])
    sock = conn.io
    assert _messages(conn, 1) == [(2, b"x" * 40)]
    with pytest.raises(LostConnection):
        _messages(conn, 1)
    assert sock.closed and conn.io is None


def test_the_api_lines_name_the_host_and_process_as_before(patched):
    from exabgp.reactor.api.response import json as api_json

    assert api_json.socket.gethostname() == socket.gethostname()
    assert api_json.os.getpid() == os.getpid() and api_json.os.getppid() == os.getppid()

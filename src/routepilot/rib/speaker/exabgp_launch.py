"""Runs the ExaBGP installed beside routepilot, with fixes to its announce and receive paths.

Measured on a 10k-route change (bench/inject/run.py, ExaBGP 5.0): ExaBGP spends
about half its CPU on ``copy.deepcopy``, not on BGP. Every route an API command
names is deep-copied, its attribute set included, by ``Neighbor.remove_self``,
which only needs a copy it may change when the next hop is ``self``. And its
scheduler resumes API commands 50 route steps per reactor loop, each loop paying
a fresh asyncio event loop and up to a millisecond's poll.

Measured on a table received (bench/rib/exabgp_modes.py, #18): routepilot takes
received messages as packets (their bytes, exabgp_packets.py), yet ExaBGP still
decodes each UPDATE into its own objects (about three quarters of its CPU a path),
which nothing reads when no API process takes parsed updates and there is no
Adj-RIB-In; and it writes the bytes as hex one Python format call a byte.

This launcher, run as ExaBGP's command (by file path, importing nothing from
routepilot so it starts as fast as ExaBGP itself), changes just these things,
and only on the ExaBGP versions whose code it was checked against:

- ``remove_self`` returns a new ``Change`` with a shallow copy of the NLRI (the
  action and next hop are per-route state, which the outgoing RIB may set later)
  sharing the attribute set, which nothing changes after parsing, when the next
  hop is not ``self``; a ``self`` next hop takes ExaBGP's own path unchanged;
- ``ASYNC.LIMIT`` (route steps per reactor loop) goes from 50 to 2,000;
- ``Message.unpack`` of a received UPDATE returns an empty UPDATE when only the
  API's packets need it (:func:`_bytes_only`): the API process got the bytes
  before the unpack (``Protocol.read_message``), and ExaBGP's own use of the result
  (Adj-RIB-In, route logs) is off. A malformed UPDATE then no longer resets the
  session from ExaBGP's side: routepilot's decoder counts it and skips it, as its
  BMP station does;
- the JSON encoder's ``hexstring`` is the same text made by ``bytes.hex``;
- a peer's turn in the reactor (``Peer.run``) goes on while it has more to do at
  once (``ACTION.NOW``), up to :data:`MESSAGES_PER_TURN` steps, and what its steps
  write to the API processes is flushed once at the end of the turn rather than
  once a message. ExaBGP's reactor gives a peer one message a turn, then polls its
  sockets and pipes, runs its API commands and scheduled work, and flushes the API
  pipe after every line: on a table sent one prefix an UPDATE, as collectors and
  many routers send it, that was about 48 us of ExaBGP's CPU an UPDATE
  (bench/rib/exabgp_modes.py --table mrt), a third of it the flush's write. Not
  with a rate limit on the neighbor, which counts turns;
- a connection reads its socket :data:`READ_SIZE` bytes at a time and hands
  messages out of what it read (``Connection._reader``), where ExaBGP polled the
  socket and called ``recv`` for each message's header and again for its body:
  four system calls a message. Its errors are ExaBGP's own (a closed connection,
  a fatal errno, a timeout), raised where it raised them; its ``defensive`` test
  mode keeps ExaBGP's reader;
- the JSON encoder's header (every line to the API) names the host and the
  process as before, from values read once, not with two system calls a line.

On any other version, or if a name moved, it runs ExaBGP as it is and says so on
its output (which routepilot logs). The wire output is the same either way: the
integration tests compare what BIRD learns, and what routepilot learns.

Usage: python exabgp_launch.py EXABGP-ARGUMENTS...
"""

from __future__ import annotations

import copy
import functools
import os
import socket
import sys
import types

CHECKED = ("5.0.",)
"""ExaBGP versions whose remove_self and ASYNC were read for this (5.0.x)."""
STEPS_PER_LOOP = 2000
READ_SIZE = 65536
"""Bytes a connection asks its socket for at once."""
MESSAGES_PER_TURN = 64
"""Steps a peer takes in one turn of ExaBGP's reactor at most (each reads, or sends,
one message): about 2 ms of work before the reactor looks at its API commands."""


def patch() -> str | None:
    """Applies the fixes; returns why not when it cannot (unchecked version, moved names)."""
    try:
        from exabgp.bgp.message import Message, Update
        from exabgp.bgp.message.direction import Direction
        from exabgp.bgp.message.update.attribute import Attributes
        from exabgp.bgp.neighbor import Neighbor
        from exabgp.environment import getenv
        from exabgp.reactor.api import processes as api_processes
        from exabgp.reactor.api.response import json as api_json
        from exabgp.reactor.asynchronous import ASYNC
        from exabgp.reactor.network import connection, error
        from exabgp.reactor.peer import ACTION, Peer
        from exabgp.rib.change import Change
        from exabgp.version import version
    except ImportError as exc:
        return f"exabgp layout not recognised ({exc})"
    if not version.startswith(CHECKED):
        return f"exabgp {version} not checked"
    if not hasattr(Neighbor, "remove_self") or not isinstance(getattr(ASYNC, "LIMIT", None), int):
        return f"exabgp {version}: remove_self or ASYNC.LIMIT not found"
    if not callable(getattr(api_json, "hexstring", None)):
        return f"exabgp {version}: the JSON encoder's hexstring not found"
    if not callable(getattr(api_processes.Processes, "write", None)) or not hasattr(ACTION, "NOW"):
        return f"exabgp {version}: its API processes or peer actions not found"
    stock = Neighbor.remove_self

    def remove_self(self: Neighbor, change: Change) -> Change:
        if change.nlri.nexthop.SELF:
            return stock(self, change)
        return Change(copy.copy(change.nlri), change.attributes)

    Neighbor.remove_self = remove_self
    api_json.hexstring = hexstring
    stock_unpack = Message.unpack
    update_id = int(Message.CODE.UPDATE)

    def unpack(cls, message, data, direction, negotiated):
        if message == update_id and direction == Direction.IN:
            neighbor = getattr(negotiated, "neighbor", None)
            if neighbor is not None and _bytes_only(neighbor, getenv().log.routes):
                # Nothing reads this UPDATE's objects: the API got its bytes already.
                return Update([], Attributes())
        return stock_unpack(message, data, direction, negotiated)

    Message.unpack = classmethod(unpack)
    ASYNC.LIMIT = max(ASYNC.LIMIT, STEPS_PER_LOOP)
    _longer_turns(Peer, ACTION.NOW, api_processes.Processes)
    _buffered_reads(connection.Connection, error)
    api_json.socket = types.SimpleNamespace(gethostname=functools.cache(socket.gethostname))
    api_json.os = types.SimpleNamespace(getpid=functools.cache(os.getpid), getppid=os.getppid)
    return None


def _buffered_reads(connection_class, error) -> None:
    """``Connection._reader`` reads READ_SIZE bytes at a time (the module's docstring)."""
    stock_reader = connection_class._reader

    def _reader(self, number):
        if self.defensive:
            yield from stock_reader(self, number)
            return
        if not self.io:
            self.close()
            raise error.NotConnected("Trying to read on a closed TCP connection")
        if number == 0:
            yield b""
            return
        held, at = self.__dict__.get("rp_received", b""), self.__dict__.get("rp_at", 0)
        while len(held) - at < number:
            try:
                read = self.io.recv(max(READ_SIZE, number))
            except TimeoutError:
                self.close()
                raise error.TooSlowError("Timeout while reading data from the network") from None
            except OSError as exc:
                if exc.args[0] in error.error.block:
                    self.rp_received, self.rp_at = held, at
                    yield b""
                    continue
                if exc.args[0] in error.error.fatal:
                    self.close()
                    raise error.LostConnection(f"issue reading on the socket: {exc}") from None
                raise error.NetworkError(
                    f"Problem while reading data from the network ({exc})"
                ) from None
            if not read:
                self.close()
                raise error.LostConnection("the TCP connection was closed by the remote end")
            held, at = held[at:] + read, 0
        self.rp_received, self.rp_at = held, at + number
        yield held[at : at + number]

    connection_class._reader = _reader


def _longer_turns(peer_class, now, processes_class) -> None:
    """A peer's turn takes up to MESSAGES_PER_TURN steps; what the turn writes to each
    API process goes in one write at its end (see the module's docstring)."""
    stock_run, stock_write = peer_class.run, processes_class.write

    def run(self):
        if self.neighbor["rate-limit"]:
            return stock_run(self)
        processes = self.reactor.processes
        processes.rp_held = {}
        try:
            action = stock_run(self)
            steps = 1
            while action == now and steps < MESSAGES_PER_TURN:
                action = stock_run(self)
                steps += 1
        finally:
            held, processes.rp_held = processes.rp_held, None
            _write_held(processes, held)
        return action

    def write(self, process, string, neighbor=None):
        held = getattr(self, "rp_held", None)
        if held is None or string is None:
            return stock_write(self, process, string, neighbor)
        held.setdefault(process, []).append(f"{string}\n".encode("ascii"))
        return True

    peer_class.run = run
    processes_class.write = write


def _write_held(processes, held: dict) -> None:
    """Writes each process's held lines at once. As ExaBGP's own write, a closed pipe
    marks the helper broken (the reactor then stops its neighbors, as it does when
    ExaBGP's write finds it so); a helper taken off meanwhile is ExaBGP's to handle."""
    for process, lines in held.items():
        try:
            pipe = processes._process[process].stdin
            pipe.write(b"".join(lines))
            pipe.flush()
        except KeyError:
            pass
        except OSError:
            processes._broken.append(process)


def _bytes_only(neighbor, log_routes: bool) -> bool:
    """Does nothing but the API's packets need this neighbor's received UPDATEs? No
    parsed or consolidated API output, no Adj-RIB-In, no route logging."""
    api = neighbor.api
    return bool(
        api["receive-packets"]
        and not api["receive-parsed"]
        and not api["receive-consolidate"]
        and not neighbor["adj-rib-in"]
        and not log_routes
    )


def hexstring(value: bytes) -> str:
    """ExaBGP's ``exabgp.util.hexstring`` (``0x`` and two upper-case digits a byte), in C."""
    return "0x" + value.hex().upper()


def main() -> int:
    # Run as a script, this file's folder leads sys.path, and routepilot's exabgp.py there
    # would hide the exabgp package.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    why = patch()
    if why is not None:
        print(f"routepilot: running exabgp unchanged: {why}", flush=True)
    from exabgp.application.main import main as exabgp_main

    sys.argv[0] = "exabgp"
    return exabgp_main()


if __name__ == "__main__":
    sys.exit(main())

"""A user-space verdict delayer on NFQUEUE: holds each packet for its prefix's delay.

Runs inside a provider's namespace (`python -m routepilot.lab.delayer RULES`).
The kernel queues packets the iptables NFQUEUE rules select; this process reads
their destination, looks up the delay (most specific prefix first, plus uniform
jitter) and gives the ACCEPT verdict when it is due. SIGHUP reloads the rules.
Verdicts may be given out of order, so one slow prefix never delays another.

It runs under SCHED_FIFO where it may: a waking CFS process waits for a busy core's
running task (measured here beside `stress-ng --cpu 2`: wakeups late by 4 ms at p90 and
8 ms at p99, against 0.1 ms under SCHED_FIFO), and that lateness is added to every
delay, so a loaded machine read 21 ms for a configured 20.

No priority helps when the hypervisor itself does not run the virtual CPU (steal time):
a release falls due while the CPU is away and goes out when it is back. So the delayer
never claims more than it did: it records every packet's destination and the time it
actually held it, counted from the kernel's arrival stamp to the verdict, and writes the
recent ones to ``<rules>.holds.json`` on SIGUSR1 (`read_holds`). That is the path's true
added delay, what a prober must read; the configured delay is its lower bound.
"""

from __future__ import annotations

import heapq
import ipaddress
import json
import os
import random
import select
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


def _destination(packet: bytes) -> tuple[int, int]:
    """(IP version, destination address as an integer); (0, 0) for neither."""
    if len(packet) >= 20 and packet[0] >> 4 == 4:
        return 4, int.from_bytes(packet[16:20], "big")
    if len(packet) >= 40 and packet[0] >> 4 == 6:
        return 6, int.from_bytes(packet[24:40], "big")
    return 0, 0


class Rules:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.v4: list[tuple[int, int, float, float]] = []
        self.v6: list[tuple[int, int, float, float]] = []
        self.base_ms = 0.0
        self.load()

    def load(self) -> None:
        try:
            raw = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            raw = {}
        v4: list[tuple[int, int, float, float]] = []
        v6: list[tuple[int, int, float, float]] = []
        self.base_ms = float(raw.get("base_ms", 0.0))
        for r in raw.get("rules", []):
            net = ipaddress.ip_network(r["prefix"])
            entry = (int(net.network_address), int(net.netmask), r["delay_ms"], r["jitter_ms"])
            (v4 if net.version == 4 else v6).append(entry)
        self.v4, self.v6 = v4, v6  # already most specific first

    def delay_s(self, packet: bytes) -> float:
        version, dst = _destination(packet)
        if not version:
            return self.base_ms / 1000.0
        table = self.v4 if version == 4 else self.v6
        for network, mask, delay, jitter in table:
            if dst & mask == network:
                if jitter:
                    delay = max(0.0, delay + random.uniform(-jitter, jitter))
                return (self.base_ms + delay) / 1000.0
        return self.base_ms / 1000.0


class _Packet(Protocol):
    """The part of netfilterqueue's packet the delayer uses (the library ships no types)."""

    def get_payload(self) -> bytes: ...

    def get_timestamp(self) -> float: ...

    def accept(self) -> None: ...


HOLDS_KEPT = 20000
"""Recent holds kept for `read_holds` (a few minutes of a probe lab's delayed traffic)."""


@dataclass(frozen=True)
class Hold:
    """One packet the delayer held: its destination, when it arrived (``time.monotonic``)
    and how long it was held in milliseconds."""

    dst: str
    arrived: float
    held_ms: float


def destination(packet: bytes) -> str:
    """The packet's destination address ("?" for one that is not IPv4 or IPv6)."""
    version, dst = _destination(packet)
    if version == 4:
        return str(ipaddress.IPv4Address(dst))
    return str(ipaddress.IPv6Address(dst)) if version == 6 else "?"


def holds_path(rules: Path) -> Path:
    return rules.with_name(rules.stem + ".holds.json")


class HoldLog:
    """The packets released lately, written out on request (SIGUSR1)."""

    def __init__(self, rules: Path, realtime: bool) -> None:
        self.path = holds_path(rules)
        self.realtime = realtime
        self.recent: deque[tuple[float, float, bytes]] = deque(maxlen=HOLDS_KEPT)

    def add(self, arrived: float, released: float, header: bytes) -> None:
        self.recent.append((arrived, released, header))

    def write(self) -> None:
        rows = [
            [destination(pkt), arrived, round((released - arrived) * 1000.0, 4)]
            for arrived, released, pkt in self.recent
        ]
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps({"realtime": self.realtime, "holds": rows}))
            os.replace(tmp, self.path)
        except OSError as e:
            print(f"delayer: cannot write {self.path}: {e}", file=sys.stderr)


def read_holds(rules: Path, pid: int, timeout_s: float = 10.0) -> tuple[bool, list[Hold]]:
    """Asks the delayer ``pid`` (reading ``rules``) for its recent holds; returns whether it
    runs under real-time scheduling and the holds, oldest first."""
    path = holds_path(rules)
    path.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"delayer {pid} wrote no {path.name} in {timeout_s:.0f} s")
        time.sleep(0.01)
    raw = json.loads(path.read_text())
    return bool(raw["realtime"]), [Hold(d, a, h) for d, a, h in raw["holds"]]


def arrival(pkt: _Packet, now: float) -> float:
    """When the packet reached the kernel's queue, on the monotonic clock: its kernel stamp
    when it has one (so time spent waiting to be read counts toward its delay), else now."""
    stamp = pkt.get_timestamp()
    if stamp > 0:
        waited = time.time() - stamp
        if 0.0 <= waited < 1.0:
            return now - waited
    return now


REALTIME_PRIORITY = 10
"""Above every CFS task, below the kernel's own real-time threads (50 and up)."""


def prefer_realtime() -> bool:
    """Moves this process to SCHED_FIFO; False (and a line on stderr) where it may not."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
    except OSError as e:
        print(f"delayer: no real-time scheduling ({e}); delays grow with the load", file=sys.stderr)
        return False
    return True


def main(argv: list[str]) -> int:
    from netfilterqueue import NetfilterQueue

    rules = Rules(Path(argv[1]))
    queue_num = int(argv[2]) if len(argv) > 2 else 0
    held: list[tuple[float, int, float, bytes, _Packet]] = []
    seq = 0
    reload = False
    dump = False
    stop = False

    def on_packet(pkt: _Packet) -> None:
        nonlocal seq
        payload = pkt.get_payload()
        delay = rules.delay_s(payload)
        if delay <= 0:
            pkt.accept()
            return
        seq += 1
        arrived = arrival(pkt, time.monotonic())
        heapq.heappush(held, (arrived + delay, seq, arrived, payload[:40], pkt))

    def on_hup(*_: object) -> None:
        nonlocal reload
        reload = True

    def on_usr1(*_: object) -> None:
        nonlocal dump
        dump = True

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGUSR1, on_usr1)
    log = HoldLog(rules.path, prefer_realtime())
    nfq = NetfilterQueue()
    nfq.bind(queue_num, on_packet, max_len=65536, range=128)
    fd = nfq.get_fd()
    while not stop:
        if reload:
            reload = False
            rules.load()
        if dump:
            dump = False
            log.write()
        # select() takes a timeout in microseconds (poll() rounds up to whole
        # milliseconds, which would bias every delay by up to 1 ms).
        timeout = 0.1
        if held:
            timeout = max(0.0, held[0][0] - time.monotonic())
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
        except InterruptedError:
            continue
        if ready:
            nfq.run(block=False)
        now = time.monotonic()
        while held and held[0][0] <= now:
            _, _, arrived, header, pkt = heapq.heappop(held)
            pkt.accept()
            log.add(arrived, time.monotonic(), header)
    for *_, pkt in held:
        pkt.accept()
    nfq.unbind()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

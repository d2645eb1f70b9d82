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
from pathlib import Path
from typing import Protocol


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
        if len(packet) >= 20 and packet[0] >> 4 == 4:
            dst, table = int.from_bytes(packet[16:20], "big"), self.v4
        elif len(packet) >= 40 and packet[0] >> 4 == 6:
            dst, table = int.from_bytes(packet[24:40], "big"), self.v6
        else:
            return self.base_ms / 1000.0
        for network, mask, delay, jitter in table:
            if dst & mask == network:
                if jitter:
                    delay = max(0.0, delay + random.uniform(-jitter, jitter))
                return (self.base_ms + delay) / 1000.0
        return self.base_ms / 1000.0


class _Packet(Protocol):
    """The part of netfilterqueue's packet the delayer uses (the library ships no types)."""

    def get_payload(self) -> bytes: ...

    def accept(self) -> None: ...


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
    held: list[tuple[float, int, _Packet]] = []
    seq = 0
    reload = False
    stop = False

    def on_packet(pkt: _Packet) -> None:
        nonlocal seq
        delay = rules.delay_s(pkt.get_payload())
        if delay <= 0:
            pkt.accept()
            return
        seq += 1
        heapq.heappush(held, (time.monotonic() + delay, seq, pkt))

    def on_hup(*_: object) -> None:
        nonlocal reload
        reload = True

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGTERM, on_term)
    prefer_realtime()
    nfq = NetfilterQueue()
    nfq.bind(queue_num, on_packet, max_len=65536, range=128)
    fd = nfq.get_fd()
    while not stop:
        if reload:
            reload = False
            rules.load()
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
            heapq.heappop(held)[2].accept()
    for _, _, pkt in held:
        pkt.accept()
    nfq.unbind()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

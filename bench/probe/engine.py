"""Benchmark: the probe engine alone, CPU per probe (root: raw sockets).

``ProbeEngine`` sends ICMP echo requests to loopback addresses (the host answers
them itself), reads the transmit stamps and answers and matches them, 64 probes
(one ``send_many``) between reads; no scheduler, no statistics. It uses the engine's public calls
only, so the same script measures two trees of the code side by side::

    PYTHONPATH=/path/to/other/src python bench/probe/engine.py [--probes 60000]

No peer runs beside it (fping's figures are bench/probe/run.py's): this is the
before/after of the per-packet loop. System time includes the kernel's answer,
generated in the prober's own context on loopback.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import sys
import time

from routepilot.probe.engine import KernelTransport, Probe, ProbeEngine
from routepilot.probe.sockets import SocketOptions, Steering


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--probes", type=int, default=60000)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/probe/engine: needs root (raw sockets)", file=sys.stderr)
        return 2
    n = args.probes
    engine = ProbeEngine(KernelTransport(SocketOptions()), [("lo", Steering())], 1.0)
    answered = [0]

    def done(probe: Probe, status: int, rtt_ns: int, responder: str, ttl: int) -> None:
        answered[0] += 1

    targets = [f"127.0.{i // 250}.{i % 250 + 1}" for i in range(1000)]
    engine.socket_for(0, "icmp", socket.AF_INET)
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    sent = 0
    while sent < n:
        # 64 probes at a time, as the prober's sender hands them over (send_many).
        batch = [(0, "icmp", targets[(sent + i) % len(targets)], None) for i in range(64)]
        sent += engine.send_many(batch, done)
        engine.drain_all()
        engine.expire()
    while answered[0] < sent and time.perf_counter() - t0 < 30:
        engine.drain_all()
        engine.expire()
    r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    engine.close()
    user = (r1.ru_utime - r0.ru_utime) / sent * 1e6
    system = (r1.ru_stime - r0.ru_stime) / sent * 1e6
    m = engine.metrics
    print(
        f"bench/probe/engine: {sent} probes, {answered[0]} answered in {t1 - t0:.2f} s; CPU per "
        f"probe {user + system:.1f} us (user {user:.1f}, system {system:.1f}); kernel TX stamps "
        f"{m.tx_kernel_stamps}, user-stamp fallbacks {m.user_stamp_fallbacks}, unmatched "
        f"{m.total('unmatched')}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

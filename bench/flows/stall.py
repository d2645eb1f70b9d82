"""Flow records lost while the event loop is busy: a git ref's collector beside this tree's.

The soak (#18) lost 3-7 % of 100k IPFIX records a second: the collector read its
sockets from the event loop, and stalls of the loop (a decision round on a full
table, a big API response) outlasted the 32 MiB receive buffer. This bench sends
the soak's rate (3,000 datagrams of 33 records a second, paced every 10 ms, from
another process) for ``--seconds`` while the loop is held by CPU-bound Python for
``--stall`` seconds every ``--every`` seconds, with each collector in turn: the
one of ``--ref`` (default ``main``, read with ``git show``) and this tree's. It
prints what each received, what the kernel (and the collector) dropped, and the
CPU a record cost, and the same without stalls, for the reader's own cost.

    nice -n 10 python bench/flows/stall.py [--ref REF] [--seconds S] [--stall S] [--every S]

Loopback only (127.0.0.1).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.soak.round import old_module  # noqa: E402
from tests import flowenc as encode  # noqa: E402

from routepilot.flows import collector as this_collector  # noqa: E402
from routepilot.flows.config import FlowsConfig  # noqa: E402
from routepilot.flows.pipeline import FlowPipeline  # noqa: E402

PER_TICK = 30  # datagrams every 10 ms: 3,000 a second, 99,000 records
SENDER = """
import socket, sys, time
port, path, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
data = open(path, "rb").read()
dgs, i = [], 0
while i < len(data):
    n = int.from_bytes(data[i:i + 4], "big"); dgs.append(data[i + 4:i + 4 + n]); i += 4 + n
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
start, sent, k = time.monotonic(), 0, 0
while time.monotonic() - start < seconds:
    for _ in range(PER_TICK):
        tx.sendto(dgs[k % len(dgs)], ("127.0.0.1", port)); k += 1
    sent += PER_TICK
    time.sleep(max(0.0, start + sent / 3000 - time.monotonic()))
print(sent, flush=True)
""".replace("PER_TICK", str(PER_TICK))


def datagram_file(directory: Path) -> Path:
    """A second of the soak's IPFIX (3,000 datagrams), length-prefixed, for the sender."""
    records = encode.synthetic_records(3_000 * 33, prefixes=5_000)
    dgs = list(encode.ipfix_stream(records, encode.IPV4_FIELDS, template_every=100))
    path = directory / "ipfix.bin"
    path.write_bytes(b"".join(len(d).to_bytes(4, "big") + d for d in dgs))
    return path


async def scenario(module, path: Path, seconds: float, stall: float, every: float) -> dict:
    cfg = FlowsConfig(listen_address="127.0.0.1", netflow_port=0, ipfix_port=0, sflow_port=0)
    pipeline = FlowPipeline(cfg, start=0.0)
    collector = module.FlowCollector(cfg, pipeline)
    await collector.start()
    cpu0 = time.process_time()
    sender = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SENDER, str(collector.ports[0]), str(path), str(seconds),
        stdout=subprocess.PIPE,
    )  # fmt: skip
    start = time.monotonic()
    stalled = 0.0
    next_stall = start + every / 2
    while sender.returncode is None:
        now = time.monotonic()
        if stall and now >= next_stall and now + stall < start + seconds:
            end = now + stall
            while time.monotonic() < end:  # CPU-bound, no await: the loop is held
                sum(range(1000))
            stalled += stall
            next_stall = now + every
        try:
            await asyncio.wait_for(sender.wait(), 0.05)
        except TimeoutError:
            pass
    out, _ = await sender.communicate()
    sent = int(out.split()[0])
    m = pipeline.metrics
    # Everything sent is received, or dropped by the kernel.
    # The kernel reports its drops with the next datagram read: a sentinel (garbage,
    # counted apart) at each check brings the total.
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if m.datagrams["ipfix"] + m.kernel_drops >= sent:
            break
        tx.sendto(b"sentinel", ("127.0.0.1", collector.ports[0]))
        await asyncio.sleep(0.05)
    tx.close()
    await collector.stop()
    cpu = time.process_time() - cpu0
    return {
        "sent": sent,
        "received": m.datagrams["ipfix"],
        "kernel": m.kernel_drops,
        "records": sum(m.records.values()),
        "cpu_us_per_record": cpu / max(sum(m.records.values()), 1) * 1e6,
        "stalled_s": stalled,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ref", default="main")
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--stall", type=float, default=12.0)
    ap.add_argument("--every", type=float, default=16.0)
    args = ap.parse_args()
    ref = old_module(args.ref, "src/routepilot/flows/collector.py", "collector_ref")
    with tempfile.TemporaryDirectory() as tmp:
        path = datagram_file(Path(tmp))
        rows = []
        for stall in (args.stall, 0.0):
            for name, module in ((f"{args.ref}'s collector", ref), ("this tree's", this_collector)):
                r = asyncio.run(scenario(module, path, args.seconds, stall, args.every))
                rows.append((name, stall, r))
    print(f"{args.seconds:.0f} s of 3,000 IPFIX datagrams/s (99k records/s), loopback, the "
          f"event loop held {args.stall:.0f} s every {args.every:.0f} s (or never)")  # fmt: skip
    print(f"{'collector':<22} {'stalls':>7} {'sent':>8} {'received':>9} {'kernel':>7} "
          f"{'lost':>7} {'CPU/record':>11}")  # fmt: skip
    for name, _, r in rows:
        lost = (r["sent"] - r["received"]) / r["sent"]
        # With stalls the process's CPU is mostly the stalls' own: shown without them only.
        cpu = "–" if r["stalled_s"] else f"{r['cpu_us_per_record']:.2f} µs"
        print(f"{name:<22} {r['stalled_s']:>6.0f}s {r['sent']:>8,} {r['received']:>9,} "
              f"{r['kernel']:>7,} {lost:>7.2%} {cpu:>11}")  # fmt: skip
    (_, _, a), (_, _, b), (_, _, c), (_, _, d) = rows
    print(f"lost with stalls, this tree / {args.ref}: "
          f"{(b['sent'] - b['received'])}/{(a['sent'] - a['received'])} datagrams; "
          f"CPU a record without stalls, this tree / {args.ref}: "
          f"{d['cpu_us_per_record'] / c['cpu_us_per_record']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()

"""ExaBGP's CPU a path, handing an add-path table to its API parsed (JSON) or as packets (#18).

A table reaches routepilot's ExaBGP backend through ExaBGP: it decodes every UPDATE
into its own objects and, in ``parsed`` mode (``api { receive { parsed; update; } }``,
routepilot's mode before #18), encodes them as JSON for its API process; in
``packets`` mode (``receive { packets; open; update; }``) it writes each message's bytes
as hex instead, and the consumer decodes the UPDATE itself
(``routepilot.rib.wire.parse_update``). This measures both halves, per path:

1. **ExaBGP.** A router written here (asyncio, loopback only: 127.0.0.2) opens an iBGP
   session with add-path send for IPv4 and IPv6 unicast to an ExaBGP run as routepilot
   runs it (``exabgp_launch.py``, Adj-RIB-In off), sends the table
   (``bench/rib/tables.py``'s ``soak`` shape: 4 providers' paths, path ids 1-4, up to 64
   NLRI an UPDATE) as fast as ExaBGP reads it, then End-of-RIB for both families.
   ExaBGP's API process only copies what it gets to a file (``dd``), so ExaBGP's
   CPU (``/proc/PID/stat``, from the session up to the last End-of-RIB written)
   and its wall time are its own.
2. **The consumer.** The lines captured in each mode, decoded in this process into
   speaker events as routepilot's backend does: the JSON through
   ``exabgp_json.Decoder`` (parsed) or through the packets decoder (packets); CPU
   time per path, best of three passes. The events of both are compared path for
   path (the same RIB input either way).

The peer, in the same run: ``parsed`` mode, as routepilot ran before. Ratios are
packets/parsed. Needs ExaBGP beside routepilot; no root (loopback only).

Usage: python bench/rib/exabgp_modes.py [--paths N] [--modes parsed,packets]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUTER = "127.0.0.2"
LOCAL = "127.0.0.1"
ASN = 65000
TICKS = os.sysconf("SC_CLK_TCK")


def encode_table(paths: int, table: str = "soak") -> tuple[list[bytes], int]:
    """The ``table`` (``bench/rib/tables.py``'s ``soak`` or ``mrt``) as add-path UPDATEs
    (RFC 7911: a 4-byte path id before each NLRI), then End-of-RIB for IPv4 and IPv6
    (RFC 4724). Returns (messages, paths)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bench.rib.tables import table_updates
    from tests import bmpenc as b

    _, updates = table_updates(table, paths)
    out, n = [], 0
    for k, hop, segments, origin, med, communities, prefixes in updates:
        path = b"".join(
            struct.pack("!BB", kind, len(asns)) + struct.pack(f"!{len(asns)}I", *asns)
            for kind, asns in segments
        )
        attrs = b.attr(1, bytes([origin])) + b.attr(2, path) + b.attr(5, struct.pack("!I", 100))
        if med is not None:
            attrs += b.attr(4, struct.pack("!I", med), flags=0x80)
        if communities:
            values = (map(int, c.split(":")) for c in communities)
            attrs += b.attr(8, b"".join(struct.pack("!HH", *v) for v in values), flags=0xC0)
        nlri = b"".join(b.prefix(p, k + 1) for p in prefixes)
        if ":" in hop:
            out.append(b.update(attrs=b.mp_reach6(hop, nlri) + attrs))
        else:
            out.append(b.update(attrs=attrs + b.attr(3, socket.inet_aton(hop)), nlri=nlri))
        n += len(prefixes)
    out.append(b.update())
    out.append(b.update(attrs=b.mp_unreach6(b"")))
    return out, n


def open_message() -> bytes:
    caps = b""
    for afi in (1, 2):
        caps += struct.pack("!BBHBB", 1, 4, afi, 0, 1)
    caps += struct.pack("!BBI", 65, 4, ASN)
    caps += struct.pack("!BBHBBHBB", 69, 8, 1, 1, 2, 2, 1, 2)  # add-path send, both families
    params = struct.pack("!BB", 2, len(caps)) + caps
    body = struct.pack("!BHH4sB", 4, ASN, 180, socket.inet_aton(ROUTER), len(params)) + params
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 1) + body


KEEPALIVE = b"\xff" * 16 + struct.pack("!HB", 19, 4)


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


SINK = """
import os, sys
out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
while data := os.read(0, 1 << 20):
    os.write(out, data)
"""
"""ExaBGP's API process: copies what it gets to a file (its CPU is not ExaBGP's)."""


def config(mode: str, port: int, capture: Path) -> str:
    receive = "parsed; update;" if mode == "parsed" else "packets; open; update;"
    send = "" if mode == "parsed" else " send { packets; open; }"
    return f"""
process sink {{
    run {sys.executable} {capture.with_suffix(".py")} {capture};
    encoder json;
}}
neighbor {ROUTER} {{
    local-address {LOCAL};
    router-id {LOCAL};
    local-as {ASN};
    peer-as {ASN};
    connect {port};
    hold-time 180;
    adj-rib-in false;
    capability {{ add-path receive; }}
    family {{ ipv4 unicast; ipv6 unicast; }}
    api {{ processes [ sink ]; receive {{ {receive} }}{send} neighbor-changes; }}
}}
"""


async def serve(messages: list[bytes], mode: str, work: Path) -> dict:
    from routepilot.rib.speaker import exabgp

    sock = socket.socket()
    sock.bind((ROUTER, 0))
    port = sock.getsockname()[1]
    capture = work / f"{mode}.jsonl"
    conf = work / f"{mode}.conf"
    capture.with_suffix(".py").write_text(SINK)
    conf.write_text(config(mode, port, capture))
    established = asyncio.get_running_loop().create_future()

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(open_message() + KEEPALIVE)
        established.set_result(writer)
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            while await reader.read(65536):  # its OPEN, keepalives: not needed here
                pass

    server = await asyncio.start_server(session, sock=sock)
    launcher = Path(exabgp.__file__).with_name("exabgp_launch.py")
    command = [sys.executable, str(launcher), str(conf)]
    env = dict(os.environ, exabgp_log_level="WARNING", exabgp_api_ack="false")
    env.update(
        exabgp_log_destination="stdout", exabgp_daemon_daemonize="false", exabgp_api_cli="false"
    )
    env.update(exabgp_reactor_speed="0.1", exabgp_daemon_user=os.environ.get("USER", "root"))
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        writer = await asyncio.wait_for(established, 30)
        while not capture.exists() or b'"up"' not in capture.read_bytes():
            await asyncio.sleep(0.02)
        t0, cpu0 = time.perf_counter(), cpu_s(proc.pid)
        for i in range(0, len(messages), 256):
            writer.write(b"".join(messages[i : i + 256]))
            await writer.drain()
        marker = b'"ipv6"' if mode == "parsed" else messages[-1][19:].hex().upper().encode()
        size = 0
        while True:
            await asyncio.sleep(0.05)
            new = capture.stat().st_size
            if new != size:
                size = new
                with capture.open("rb") as f:
                    f.seek(max(0, size - 4096))
                    if marker in f.read().splitlines()[-1]:
                        break
        wall, cpu = time.perf_counter() - t0, cpu_s(proc.pid) - cpu0
        writer.close()
    finally:
        proc.terminate()
        proc.wait()
        server.close()
    return {"wall_s": wall, "cpu_s": cpu, "capture": capture}


def consume(mode: str, lines: list[bytes]) -> tuple[float, list]:
    """CPU seconds (best of three) to turn the captured lines into speaker events."""
    from routepilot.rib.speaker.exabgp_json import Decoder

    best, events = float("inf"), []
    for _ in range(3):
        if mode == "parsed":
            decoder = Decoder({ROUTER: "edge"}.get)
        else:
            from routepilot.rib.speaker.exabgp_packets import PacketDecoder

            decoder = PacketDecoder({ROUTER: "edge"}.get)
        out: list = []
        t = time.process_time()
        for line in lines:
            out.extend(decoder.decode(line))
        best = min(best, time.process_time() - t)
        events = out
    return best, events


def flatten(events: list) -> set[tuple]:
    """(prefix, path id, attributes) of every path learned."""
    from routepilot.rib.speaker.base import PathsLearned

    out = set()
    for e in events:
        if isinstance(e, PathsLearned):
            for prefix, path_id in e.nlri:
                out.add((prefix, path_id, e.attributes))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=400_000)
    parser.add_argument("--modes", default="parsed,packets")
    parser.add_argument("--table", choices=["soak", "mrt"], default="soak")
    args = parser.parse_args()
    messages, paths = encode_table(args.paths, args.table)
    print(
        f"rib exabgp-modes: {paths} paths in {len(messages)} UPDATEs ({args.table} table, add-path)"
    )
    work = Path(tempfile.mkdtemp(prefix="rpbench-exabgp-modes-"))
    results = {}
    try:
        for mode in args.modes.split(","):
            r = asyncio.run(serve(messages, mode, work))
            lines = r["capture"].read_bytes().splitlines()
            r["consumer_s"], events = consume(mode, lines)
            r["paths"] = flatten(events)
            r["bytes"] = sum(len(x) for x in lines)
            results[mode] = r
            total = r["cpu_s"] + r["consumer_s"]
            print(
                f"  {mode}: ExaBGP {r['cpu_s'] / paths * 1e6:.1f} µs CPU a path "
                f"({r['cpu_s']:.1f} s CPU, {r['wall_s']:.1f} s wall, "
                f"{paths / r['wall_s']:,.0f} paths/s), API output {r['bytes'] / paths:.0f} B "
                f"a path; consumer {r['consumer_s'] / paths * 1e6:.1f} µs a path; total "
                f"{total / paths * 1e6:.1f} µs a path; {len(r['paths'])} paths decoded"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if "parsed" in results and "packets" in results:
        a, b = results["parsed"], results["packets"]

        def total(r: dict) -> float:
            return r["cpu_s"] + r["consumer_s"]

        print(
            f"  ratios parsed/packets: ExaBGP CPU {a['cpu_s'] / b['cpu_s']:.2f}x, wall "
            f"{a['wall_s'] / b['wall_s']:.2f}x, consumer {a['consumer_s'] / b['consumer_s']:.2f}x,"
            f" total CPU {total(a) / total(b):.2f}x"
        )
        same = a["paths"] == b["paths"] and len(a["paths"]) == paths
        print(f"  the same {paths} paths in both modes: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()

"""BMP decoding speed: a table streamed to the BMP station, beside the add-path decoder.

- ``bmp``: BMP Route Monitoring messages (one monitored peer per provider, post-policy)
  sent over loopback TCP to a real :class:`BmpStation`; timed until the last
  speaker event is out (decoding only, the RIB is not loaded);
- ``exabgp-json`` (the peer): the same paths as ExaBGP 5 JSON lines through
  routepilot's ``Decoder``, what the add-path route costs routepilot today
  (ExaBGP's own BGP parsing, in its process, not counted).

Updates carry 8 prefixes each, every one with its own attribute set, as
bench/rib/run.py.

``--shape per-prefix``: a table as routers send it over BMP (FRR's Adj-RIB-In
monitoring, gobgpd's Loc-RIB): one prefix a Route Monitoring message, the soak's
table (``tableload.soak_table``: the prefixes of one origin share their attributes,
as in a real table) from K post-policy peers, into a real RIB (as ``run/bmp.py``
hands it events); the peer is the same paths as ExaBGP 5 JSON, one prefix an
update, through routepilot's ``Decoder`` into a RIB of its own. CPU time of this
process is reported beside the wall time (the machine is shared).

Usage: python bench/rib/bmp.py [--prefixes N] [--paths K] [--shape updates|per-prefix]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.rib.run import PER_UPDATE, PROVIDERS, json_lines, prefix  # noqa: E402
from tests import bmpenc as b  # noqa: E402

from routepilot.lab.tableload import soak_table  # noqa: E402
from routepilot.rib.bmp import BmpStation  # noqa: E402
from routepilot.rib.rib import Rib  # noqa: E402
from routepilot.rib.speaker.base import PathsLearned  # noqa: E402


def bmp_stream(n_prefixes: int, paths: int) -> bytes:
    peers = [b.peer_header(f"100.64.{k + 1}.1", 64500 + k) for k in range(paths)]
    out = [b.initiation(), *(b.peer_up(h) for h in peers)]
    for block in range(0, n_prefixes, PER_UPDATE):
        for k in range(paths):
            nlri = b"".join(
                b.prefix(prefix(i)) for i in range(block, min(block + PER_UPDATE, n_prefixes))
            )
            path = [64500 + k, 3000 + block % 5000, 100 + (block // 7) % 900][: 1 + (block + k) % 3]
            attrs = b.ipv4_attrs(f"100.64.{k + 1}.1", path, local_pref=100, med=block % 50)
            out.append(b.route_monitoring(peers[k], b.update(attrs=attrs, nlri=nlri)))
    return b"".join(out)


async def run_bmp(stream: bytes, expected: int) -> float:
    station = BmpStation({"127.0.0.1": "edge"}, "127.0.0.1", 0)
    await station.start()
    seen = 0
    start = time.perf_counter()
    _, writer = await asyncio.open_connection("127.0.0.1", station.port)
    writer.write(stream)
    while seen < expected:
        # As run/ does: wait for one event, then take every event already queued.
        for event in [await station.next_event(), *station.pending_events()]:
            if isinstance(event, PathsLearned):
                seen += len(event.nlri)
    elapsed = time.perf_counter() - start
    writer.close()
    await station.stop()
    return elapsed


def run_json(n_prefixes: int, paths: int) -> float:
    from routepilot.rib.speaker.exabgp_json import Decoder

    lines = list(json_lines(n_prefixes, paths, 0, n_prefixes))
    decoder = Decoder({"100.64.0.1": "edge"}.get)
    start = time.perf_counter()
    for line in lines:
        decoder.decode(line)
    return time.perf_counter() - start


def per_prefix(n_prefixes: int, paths: int) -> tuple[bytes, list[str]]:
    """The soak's IPv4 table from ``paths`` peers, one prefix a message: as BMP and as
    ExaBGP JSON lines."""
    table = soak_table(n_prefixes, 0, paths)
    peers = [b.peer_header(f"100.64.{k + 1}.1", 64500 + k) for k in range(paths)]
    out = [b.initiation(), *(b.peer_up(h) for h in peers)]
    lines = []
    for i, pfx in enumerate(table.v4):
        for k in range(paths):
            path = [64500 + k, *table.paths[k][i]]
            attrs = b.ipv4_attrs(f"100.64.{k + 1}.1", path, local_pref=100)
            out.append(b.route_monitoring(peers[k], b.update(attrs=attrs, nlri=b.prefix(pfx))))
            lines.append(
                '{ "exabgp": "5.0.0", "type": "update", "neighbor": { "address": '
                '{ "local": "100.64.0.2", "peer": "100.64.0.1" }, "direction": "receive", '
                '"message": { "update": { "attribute": { "origin": "igp", "as-path": '
                '{"0": {"element": "as-sequence", "value": '
                f'{json.dumps(path)}}}}}, "local-preference": 100 }}, "announce": '
                f'{{ "ipv4 unicast": {{ "100.64.{k + 1}.1": [ {{ "nlri": "{pfx}", '
                f'"path-information": "0.0.0.{k + 1}" }} ] }} }} }} }} }} }}'
            )
    return b"".join(out), lines


async def run_bmp_rib(stream: bytes, expected: int) -> tuple[float, float, str]:
    """Station and RIB, as the daemon wires them: (wall s, CPU s, cache hit rate)."""
    station = BmpStation({"127.0.0.1": "edge"}, "127.0.0.1", 0)
    await station.start()
    rib = Rib(["edge"], PROVIDERS, capacity=expected)
    start, cpu = time.perf_counter(), time.process_time()
    _, writer = await asyncio.open_connection("127.0.0.1", station.port)
    writer.write(stream)
    while rib.table.paths < expected:
        rib.handle_many([await station.next_event(), *station.pending_events()])
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    ((session, _),) = station._sessions.values()
    cache = session.attributes
    writer.close()
    await station.stop()
    return elapsed, cpu, f"{cache.hits / max(1, cache.hits + cache.misses):.0%}"


def run_json_rib(lines: list[str], expected: int) -> tuple[float, float]:
    from routepilot.rib.speaker.exabgp_json import Decoder

    decoder = Decoder({"100.64.0.1": "edge"}.get)
    rib = Rib(["edge"], PROVIDERS, capacity=expected)
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(lines), 2000):
        rib.handle_many([e for line in lines[i : i + 2000] for e in decoder.decode(line)])
    assert rib.table.paths == expected, rib.table.paths
    return time.perf_counter() - start, time.process_time() - cpu


def main_per_prefix(n: int, k: int) -> None:
    stream, lines = per_prefix(n, k)
    total = n * k
    bmp_s, bmp_cpu, hits = asyncio.run(run_bmp_rib(stream, total))
    json_s, json_cpu = run_json_rib(lines, total)
    size = len(stream) / 2**20
    print(f"paths: {total} ({n} prefixes x {k} peers, one a message), BMP {size:.1f} MiB")
    print(
        f"bmp station + rib:  {bmp_s:.2f} s ({bmp_cpu:.2f} s CPU, {1e6 * bmp_cpu / total:.1f} us a "
        f"path)  {total / bmp_s:,.0f} paths/s; attribute sets from the cache: {hits}"
    )
    print(
        f"exabgp json + rib:  {json_s:.2f} s ({json_cpu:.2f} s CPU, "
        f"{1e6 * json_cpu / total:.1f} us a path)  {total / json_s:,.0f} paths/s (peer)"
    )
    print(f"ratio bmp/json CPU: {bmp_cpu / json_cpu:.2f}, wall: {bmp_s / json_s:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefixes", type=int, default=200_000)
    parser.add_argument("--paths", type=int, default=4)
    parser.add_argument("--shape", choices=["updates", "per-prefix"], default="updates")
    args = parser.parse_args()
    n, k = args.prefixes, args.paths
    if args.shape == "per-prefix":
        main_per_prefix(n, k)
        return
    stream = bmp_stream(n, k)
    bmp_s = asyncio.run(run_bmp(stream, n * k))
    json_s = run_json(n, k)
    total = n * k
    print(f"paths: {total} ({n} prefixes x {k} peers), BMP stream {len(stream) / 2**20:.1f} MiB")
    print(f"bmp station:  {bmp_s:.2f} s  {total / bmp_s:,.0f} paths/s")
    print(f"exabgp json:  {json_s:.2f} s  {total / json_s:,.0f} paths/s (peer)")
    print(f"ratio bmp/json time: {bmp_s / json_s:.2f}")


if __name__ == "__main__":
    main()

"""BMP decoding speed: a table streamed to the BMP station, beside the add-path decoder.

- ``bmp``: BMP Route Monitoring messages (one monitored peer per provider, post-policy)
  sent over loopback TCP to a real :class:`BmpStation`; timed until the last
  speaker event is out (decoding only, the RIB is not loaded);
- ``exabgp-json`` (the peer): the same paths as ExaBGP 5 JSON lines through
  routepilot's ``Decoder``, what the add-path route costs routepilot today
  (ExaBGP's own BGP parsing, in its process, not counted).

Updates carry 8 prefixes each, every one with its own attribute set, as
bench/rib/run.py.

Usage: python bench/rib/bmp.py [--prefixes N] [--paths K]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.rib.run import PER_UPDATE, json_lines, prefix  # noqa: E402
from tests import bmpenc as b  # noqa: E402

from routepilot.rib.bmp import BmpStation  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefixes", type=int, default=200_000)
    parser.add_argument("--paths", type=int, default=4)
    args = parser.parse_args()
    n, k = args.prefixes, args.paths
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

"""The CPU routepilot spends to learn one path (issue 18's learning budget), before and after.

A full table (1.25M prefixes x 4 providers = 5M paths) has to be learned in at most
60 s of this 2-core machine. This measures routepilot's own share of it, per path,
with no daemon and no socket, so the figures are CPU time of routepilot's code alone:

- ``station``: a BMP stream (Initiation, a Peer Up per monitored peer, Route Monitoring
  of post-policy Adj-RIB-In) fed to a real :class:`BmpStation` session through an
  ``asyncio.StreamReader``; timed until every message is decoded into speaker events;
- ``rib (bmp)``: those events handed to a :class:`Rib` ``BATCH`` at a time, as
  ``run/bmp.py`` hands it whatever is queued;
- ``json``: the same table as ExaBGP 5 JSON lines through the ExaBGP backend's
  ``Decoder`` (``bench/rib/memory.py``'s lines), and ``rib (json)``: its events into a RIB.

Two tables (``bench/rib/tables.py``, shared with ``bench/rib/daemon.py``), as
``bench/rib/memory.py``: ``soak`` (``tableload.soak_table``: 4 providers,
attribute sets shared per (origin, provider), so UPDATEs carry many NLRI, up to
``PER_UPDATE``) and ``mrt`` (``lab.mrt.generate``: 14 peers, about 1.35 paths per
attribute set); and ``frr``, the soak's table one NLRI per UPDATE, as FRR's BMP sends
it (``--table frr``, not in the default list). Over BMP each provider is a monitored
peer of one router.

``station keeps``: the memory the station's session still holds once the table is
decoded and its events are in a RIB (what dropping the session frees, traced by
tracemalloc in a pass of its own, the RIB alive: a prefix's text the RIB also holds is
not the station's).

``--before SRC`` runs the same children with another tree's ``src`` (say main's) in
place of this one, alternating, and prints the ratios; both RIBs' best paths are
compared (a digest of the snapshot), so a faster RIB is also the same RIB.

Usage: python bench/rib/learn.py [--table soak,mrt] [--paths N] [--before SRC] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BATCH = 1000
"""Events handed to the RIB at once (a speaker queues up to 1024)."""


def json_lines(providers, updates) -> list[str]:
    from bench.rib.memory import _attr, _line

    origins = {0: "igp", 1: "egp", 2: "incomplete"}
    lines = []
    for k, hop, segments, origin, med, communities, prefixes in updates:
        kinds = [("as-sequence" if kind == 2 else "as-set", asns) for kind, asns in segments]
        comm = [[int(x) for x in c.split(":")] for c in communities]
        family = "ipv6 unicast" if ":" in hop else "ipv4 unicast"
        lines.append(
            _line(
                family,
                hop,
                _attr(kinds, origins[origin], med, comm),
                [(p, k + 1) for p in prefixes],
            )
        )
    return lines


def digest(rib) -> str:
    snap = rib.snapshot()
    h = hashlib.sha256()
    h.update("\n".join(snap.prefixes).encode())
    for arr in (snap.has_route, snap.as_path_len, snap.bgp_best, snap.origin_as):
        h.update(arr.tobytes())
    return h.hexdigest()[:16]


def inputs(table: str, paths: int, cache: str | None) -> tuple[list, list, bytes, list[str]]:
    """The table's providers, its updates, as a BMP stream and as JSON lines; kept in
    ``cache`` (a folder) between runs when given, as generating them takes longer than
    the measurement."""
    import pickle

    from bench.rib.tables import bmp_stream, table_updates

    file = Path(cache) / f"learn-{table}-{paths}.pickle" if cache else None
    if file is not None and file.exists():
        return pickle.loads(file.read_bytes())
    providers, updates = table_updates(table, paths)
    made = (providers, updates, bmp_stream(providers, updates), json_lines(providers, updates))
    if file is not None:
        file.write_bytes(pickle.dumps(made))
    return made


def child(table: str, paths: int, cache: str | None = None) -> dict:
    from routepilot.rib.bmp import station as st
    from routepilot.rib.rib import Rib
    from routepilot.rib.speaker.exabgp_json import Decoder

    providers, updates, stream, lines = inputs(table, paths, cache)
    total = sum(len(u[-1]) for u in updates)
    out: dict = {"paths": total, "updates": len(updates)}

    station = st.BmpStation({"127.0.0.1": "edge"}, "127.0.0.1", 0)
    session = st._Session("edge")

    async def decode() -> float:
        reader = asyncio.StreamReader(limit=1 << 20)
        reader.feed_data(stream)
        reader.feed_eof()
        cpu = time.process_time()
        await station._read(session, reader)
        return time.process_time() - cpu

    out["station_s"] = asyncio.run(decode())
    events = station.pending_events()
    rib = Rib(["edge"], providers, capacity=1024)
    cpu = time.process_time()
    for i in range(0, len(events), BATCH):
        rib.handle_many(events[i : i + BATCH])
    out["rib_bmp_s"] = time.process_time() - cpu
    out["rib_bmp_paths"] = rib.table.paths
    out["rib_bmp_digest"] = digest(rib)
    del events, rib

    decoder = Decoder({"100.64.0.1": "edge"}.get)
    cpu = time.process_time()
    batches = [
        [e for line in lines[i : i + BATCH] for e in decoder.decode(line)]
        for i in range(0, len(lines), BATCH)
    ]
    out["json_s"] = time.process_time() - cpu
    rib = Rib(["edge"], providers, capacity=1024)
    cpu = time.process_time()
    for events in batches:
        rib.handle_many(events)
    out["rib_json_s"] = time.process_time() - cpu
    out["rib_json_paths"] = rib.table.paths
    out["rib_json_digest"] = digest(rib)
    del batches, rib
    out["station_kept_bytes"] = station_kept(providers, stream)
    return out


def station_kept(providers, stream: bytes) -> int:
    """Bytes a station's session holds after decoding the stream into a live RIB: what
    dropping it gives back, traced (slow, so not in the timed passes)."""
    import gc
    import tracemalloc

    from routepilot.rib.bmp import station as st
    from routepilot.rib.rib import Rib

    tracemalloc.start()
    station = st.BmpStation({"127.0.0.1": "edge"}, "127.0.0.1", 0)
    session = st._Session("edge")
    rib = Rib(["edge"], providers, capacity=1024)

    async def decode(station: st.BmpStation, session: st._Session) -> None:
        reader = asyncio.StreamReader(limit=1 << 20)
        reader.feed_data(stream)
        reader.feed_eof()
        await station._read(session, reader)

    asyncio.run(decode(station, session))
    events = station.pending_events()
    for i in range(0, len(events), BATCH):
        rib.handle_many(events[i : i + BATCH])
    del events
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    del session, station
    gc.collect()
    kept = held - tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert rib.table.paths  # alive until here: its prefixes are not the station's
    return kept


def run_child(src: Path, table: str, paths: int, cache: str | None) -> dict:
    code = (
        f"import sys; sys.path[:0] = [{str(src)!r}, {str(ROOT)!r}]; "
        "import json; from bench.rib.learn import child; "
        f"print(json.dumps(child({table!r}, {paths}, {cache!r})))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


FIELDS = (
    ("station_s", "station (BMP decode)"),
    ("rib_bmp_s", "rib from BMP events"),
    ("json_s", "ExaBGP JSON decode"),
    ("rib_json_s", "rib from JSON events"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default="soak,mrt")
    parser.add_argument("--paths", type=int, default=400_000)
    parser.add_argument("--before", type=Path, help="another tree's src, measured beside this one")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cache", help="a folder keeping the generated tables between runs")
    args = parser.parse_args()
    trees = [("after", ROOT / "src")]
    if args.before:
        trees.insert(0, ("before", args.before))
    for table in args.table.split(","):
        runs: dict[str, list[dict]] = {name: [] for name, _ in trees}
        for _ in range(args.rounds):
            for name, src in trees:  # alternating, so that a busy moment hits both
                runs[name].append(run_child(src, table, args.paths, args.cache))
        keys = [k for k, _ in FIELDS] + ["station_kept_bytes"]
        best = {name: {k: min(r[k] for r in rs) for k in keys} for name, rs in runs.items()}
        first = {name: rs[0] for name, rs in runs.items()}
        r = first["after"]
        print(f"{table}: {r['paths']} paths in {r['updates']} UPDATEs (best of {args.rounds})")
        for key, label in FIELDS:
            line = f"  {label:22s}"
            for name, _ in trees:
                line += f"  {name} {1e6 * best[name][key] / r['paths']:5.2f} us/path"
            if args.before:
                line += f"  ratio after/before {best['after'][key] / best['before'][key]:.2f}"
            print(line)
        line = f"  {'station keeps':22s}"
        for name, _ in trees:
            line += f"  {name} {best[name]['station_kept_bytes'] / 2**20:6.1f} MiB"
        if args.before:
            kept = best["after"]["station_kept_bytes"] / best["before"]["station_kept_bytes"]
            line += f"  ratio after/before {kept:.3f}"
        print(line)
        for name, _ in trees:
            f = first[name]
            print(
                f"  {name}: paths {f['rib_bmp_paths']} / {f['rib_json_paths']}, best-path digest "
                f"{f['rib_bmp_digest']} (bmp) {f['rib_json_digest']} (json)"
            )


if __name__ == "__main__":
    main()

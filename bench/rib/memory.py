"""RIB memory: what routepilot's process holds for a whole table, against a plain dict.

No daemons. A table is written once as ExaBGP 5 JSON update lines (what the
speaker's helper relays), then each variant reads it in a child process of its
own, so that its peak resident memory (VmHWM) is its own:

- ``after``: this tree; lines -> the ExaBGP backend's ``Decoder`` -> speaker events ->
  ``Rib.handle_many`` a batch at a time, as ``run/routes.py`` hands them over; then
  the first ``snapshot()`` (a decision round's) and ``prefix_table()`` (flows' LPM);
- ``before``: the same with the ``rib/`` stage of git ``--ref`` (default ``main``),
  unpacked beside this tree (``git archive``) and imported in its place;
- ``dict``: the peer, the plainest structure: the same decoded events into a dict of
  prefix -> list of (router, path id, attributes) tuples;
- ``queued``: this tree again, but every event decoded before the RIB takes any: what
  an unbounded speaker queue holds when the RIB falls a whole table behind.

Two tables:

- ``mrt``: shaped as ``routepilot.lab.mrt.generate`` (the table of ``bench/rib/mrt.py``):
  about 0.5M paths on 0.49M prefixes from 14 peers, one provider each, attribute sets
  shared by the prefixes of one origin, AS paths of 1-12 ASNs, communities on half;
- ``soak``: shaped as ``routepilot.lab.tableload.soak_table``: 4 providers x N prefixes
  over one add-path session (1M IPv4 + 0.25M IPv6 prefixes, 5M paths, in the soak).

Reported per variant: peak RSS (VmHWM) and retained RSS (VmRSS once the snapshot and
the prefix table are dropped) above the interpreter with its imports, per path, and
the ratio to the dict peer; with ``--trace``, tracemalloc's top allocation sites of
``after`` on the same table.

``--route bmp``: what ``bench/rib/mrt.py --runs bmp`` measures in the lab, without root
or daemons. The ``mrt`` table as gobgpd sends its Loc-RIB (RFC 9069: one prefix a Route
Monitoring message, its best path, no Peer Up, no End-of-RIB) goes over loopback TCP to
the station of the whole controller, built as ``lab.tableload.load_table`` builds it
(route_source bmp, the station in its own process, dry-run, no flows, rounds every
0.5 s, the alerts' view read every 50 ms; a fake BGP speaker, which the BMP route does
not use), in a child of its own; it learns every prefix and runs two decision rounds.
Reported: the peak (VmHWM) of the controller's process and of the station's process and
their sum, the controller's RSS once every prefix is held and after the first round, the
time to every prefix and the controller's CPU; ``--ref`` (a git ref, or a source tree
such as /work/main/src) and this tree alternate ``--rounds`` times; ``--trace``:
tracemalloc's top sites once the table is whole and after the rounds.

Usage: python bench/rib/memory.py [--table mrt|soak] [--paths N] [--ref REF] [--trace]
       python bench/rib/memory.py --route bmp [--paths N] [--ref REF|TREE] [--rounds R]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROUTER = "100.64.0.1"
PER_UPDATE = 64
"""NLRI per UPDATE at most: prefixes of one attribute set travel together, as gobgpd
packs them (a 4096-byte UPDATE holds about 800 /24s; 64 keeps many UPDATEs)."""
TOP = 24
"""Allocation sites ``--trace`` prints."""
BATCH = 256
"""Lines decoded and handed to the RIB at once, about one socket read's worth."""


def status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


# -- the tables, as ExaBGP JSON ----------------------------------------------------------


def _line(family: str, next_hop: str, attr: str, nlri: list[tuple[str, int]]) -> str:
    items = ", ".join(f'{{ "nlri": "{p}", "path-information": "0.0.0.{i}" }}' for p, i in nlri)
    return (
        '{ "exabgp": "5.0.0", "type": "update", "neighbor": { "address": '
        f'{{ "local": "100.64.0.2", "peer": "{ROUTER}" }}, "direction": "receive", '
        f'"message": {{ "update": {{ "attribute": {{ {attr} }}, "announce": '
        f'{{ "{family}": {{ "{next_hop}": [ {items} ] }} }} }} }} }} }}\n'
    )


def _attr(segments: list[tuple[str, list[int]]], origin: str, med: int | None, comm: list) -> str:
    path = ", ".join(
        f'"{i}": {{ "element": "{kind}", "value": {json.dumps(asns)} }}'
        for i, (kind, asns) in enumerate(segments)
    )
    out = f'"origin": "{origin}", "as-path": {{ {path} }}, "local-preference": 100'
    if med is not None:
        out += f', "med": {med}'
    if comm:
        out += f', "community": {json.dumps(comm)}'
    return out


def mrt_lines(paths: int) -> tuple[list[tuple[str, str]], Iterator[str]]:
    """The providers (name, next-hop) and the lines of an ``lab.mrt`` shaped table."""
    from routepilot.lab import mrt

    table = mrt.generate(paths)
    providers = [(f"peer{i + 1}", p.address) for i, p in enumerate(table.peers)]
    providers += [(f"peer{i + 1}", f"2001:db8:ffff::{i + 1:x}") for i in range(len(table.peers))]
    origins = {0: "igp", 1: "egp", 2: "incomplete"}

    def lines() -> Iterator[str]:
        groups: dict[int, tuple[object, list[tuple[str, int]]]] = {}
        for prefix, held in table.routes.items():
            for k, path in enumerate(held):
                _, nlri = groups.setdefault(id(path), (path, []))
                nlri.append((prefix, k + 1))
                if len(nlri) == PER_UPDATE:
                    yield _mrt_line(path, nlri, origins)
                    del groups[id(path)]
        for path, nlri in groups.values():
            yield _mrt_line(path, nlri, origins)

    return providers, lines()


def _mrt_line(path, nlri: list[tuple[str, int]], origins: dict[int, str]) -> str:
    segments = [
        ("as-sequence" if kind == 2 else "as-set", list(asns)) for kind, asns in path.segments
    ]
    comm = [[int(x) for x in c.split(":")] for c in path.communities]
    family = "ipv6 unicast" if ":" in path.next_hop else "ipv4 unicast"
    return _line(family, path.next_hop, _attr(segments, origins[path.origin], path.med, comm), nlri)


def soak_lines(paths: int) -> tuple[list[tuple[str, str]], Iterator[str]]:
    """The providers and the lines of a ``tableload.soak_table`` shaped table of ``paths``
    paths (4 per prefix, 80 % IPv4 as in the soak)."""
    from routepilot.lab.tableload import soak_table

    n = paths // 4
    table = soak_table(n - n // 5, n // 5)
    prefixes = table.prefixes
    hops = [f"100.64.{k + 1}.2" for k in range(4)]

    def lines() -> Iterator[str]:
        for k, hop in enumerate(hops):
            groups: dict[tuple[int, ...], list[tuple[str, int]]] = {}
            for prefix, path in zip(prefixes, table.paths[k], strict=True):
                groups.setdefault((":" in prefix, *path), []).append((prefix, k + 1))
            for (v6, *path), nlri in groups.items():
                attr = _attr([("as-sequence", [64_601 + k, *path])], "igp", None, [])
                family = "ipv6 unicast" if v6 else "ipv4 unicast"
                for i in range(0, len(nlri), PER_UPDATE):
                    yield _line(family, hop, attr, nlri[i : i + PER_UPDATE])

    return [(f"isp{k + 1}", hop) for k, hop in enumerate(hops)], lines()


# -- the children ------------------------------------------------------------------------


def child(variant: str, table: str, providers: list[tuple[str, str]], trace: bool) -> dict:
    if trace:
        import tracemalloc

        tracemalloc.start(4)
    from routepilot.rib.rib import Rib
    from routepilot.rib.speaker.exabgp_json import Decoder

    decoder = Decoder({ROUTER: "edge"}.get)
    names: dict[str, list[str]] = {}
    for name, hop in providers:
        names.setdefault(name, []).append(hop)
    # As run/wiring.py builds it: default capacity and slots, own routes recognised.
    rib = Rib(["edge"], list(names.items()), own_local_pref=1000, own_communities=["no-export"])
    held: dict[str, list[tuple[int, int, object]]] = {}

    def to_dict(events: list) -> None:
        for event in events:
            for prefix, path_id in event.nlri:
                paths = held.setdefault(prefix, [])
                for i, (_, pid, _) in enumerate(paths):
                    if pid == path_id:
                        paths[i] = (0, path_id, event.attributes)
                        break
                else:
                    paths.append((0, path_id, event.attributes))

    handle = to_dict if variant == "dict" else rib.handle_many
    gc.collect()
    base = status_kib("VmRSS")
    t0, cpu0 = time.perf_counter(), time.process_time()
    queued: list = []
    with open(table) as f:
        batch: list[str] = []
        for line in f:
            batch.append(line)
            if len(batch) == BATCH:
                events = [e for text in batch for e in decoder.decode(text)]
                queued.extend(events) if variant == "queued" else handle(events)
                batch = []
        events = [e for text in batch for e in decoder.decode(text)]
        queued.extend(events) if variant == "queued" else handle(events)
    if variant == "queued":
        queued_kib = status_kib("VmRSS") - base
        for i in range(0, len(queued), BATCH):
            handle(queued[i : i + BATCH])
        queued = []
    load_s, load_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    hwm_load = status_kib("VmHWM")
    if variant == "dict":
        n_paths = sum(len(p) for p in held.values())
        n_prefixes = len(held)
    else:
        n_paths, n_prefixes = rib.table.paths, len(rib.table.prefix_list)
        snapshot, prefixes = rib.snapshot(), rib.prefix_table()
        assert len(snapshot.prefixes) == n_prefixes, "every prefix has a provider path"
        del snapshot, prefixes
    gc.collect()
    out = {
        "variant": variant,
        "paths": n_paths,
        "prefixes": n_prefixes,
        "base_mib": base / 1024,
        "peak_mib": (status_kib("VmHWM") - base) / 1024,
        "peak_load_mib": (hwm_load - base) / 1024,
        "retained_mib": (status_kib("VmRSS") - base) / 1024,
        "load_s": load_s,
        "load_cpu_s": load_cpu_s,
    }
    if variant == "queued":
        out["queued_mib"] = queued_kib / 1024
    if trace:
        out["top"] = _top(tracemalloc)
        out["traced_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
    return out


def _top(tracemalloc) -> list[str]:
    snap = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    return [
        f"{s.size / 2**20:8.1f} MiB {s.count:>9} blocks  {s.traceback[0]}"
        for s in snap.statistics("lineno")[:TOP]
    ]


def run_child(variant: str, src: Path, table: Path, providers: list, trace: bool = False) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src))
    args = [sys.executable, __file__, "--child", variant, "--file", str(table)]
    args += ["--providers", json.dumps(providers)] + (["--trace"] if trace else [])
    done = subprocess.run(args, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.splitlines()[-1])


def unpack(ref: str, into: Path) -> Path:
    """``ref``'s ``src/`` tree in ``into``, with this tree's generated gRPC stubs (not in git)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "src"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


# -- over BMP, the whole controller (``--route bmp``) --------------------------------------


def locrib_stream(paths: int) -> tuple[list[tuple[str, list[str]]], int, bytes]:
    """The providers, the prefix count and the BMP stream of an ``lab.mrt`` table as gobgpd
    sends its Loc-RIB (RFC 9069): an Initiation, then one Route Monitoring message a prefix
    with its best path (here its first), peer type 3, no Peer Up and no End-of-RIB."""
    import socket
    import struct

    from tests import bmpenc as b

    from routepilot.lab import mrt

    table = mrt.generate(paths)
    providers = [
        (f"peer{i + 1}", [p.address, f"2001:db8:ffff::{i + 1:x}"])
        for i, p in enumerate(table.peers)
    ]
    peer = b.peer_header("", 65000, peer_type=3)
    out = [b.initiation()]
    for prefix, held in table.routes.items():
        path = held[0]
        segments = b"".join(
            struct.pack("!BB", kind, len(asns)) + struct.pack(f"!{len(asns)}I", *asns)
            for kind, asns in path.segments
        )
        attrs = b.attr(1, bytes([path.origin])) + b.attr(2, segments)
        if path.med is not None:
            attrs += b.attr(4, struct.pack("!I", path.med), 0x80)
        if path.communities:
            value = b"".join(struct.pack("!HH", *map(int, c.split(":"))) for c in path.communities)
            attrs += b.attr(8, value, 0xC0)
        if ":" in prefix:
            hop = f"2001:db8:ffff::{path.peer + 1:x}"
            pdu = b.update(attrs=b.mp_reach6(hop, b.prefix(prefix)) + attrs)
        else:
            attrs += b.attr(3, socket.inet_aton(path.next_hop))
            pdu = b.update(attrs=attrs, nlri=b.prefix(prefix))
        out.append(b.route_monitoring(peer, pdu))
    return providers, len(table.routes), b"".join(out)


def bmp_config(providers: list, port: int):
    """As ``lab.tableload.config_for`` with ``route_source="bmp"``: one router, a provider
    per peer, no flows, dry-run, rounds every 0.5 s; the station on 127.0.0.1."""
    from routepilot.config import Config, load_text

    lines = "".join(
        f"  - {{name: {name}, asn: {64_600 + i}, next_hops: [{hops[0]}, '{hops[1]}'], "
        "capacity_mbps: 10000}\n"
        for i, (name, hops) in enumerate(providers)
    )
    text = (
        "routers: [{name: edge, address: 100.64.0.1, asn: 65000, local_address: 100.64.0.2,"
        " route_source: bmp, bmp_address: 127.0.0.1}]\n"
        f"providers:\n{lines}"
        "flows: {enabled: false}\n"
        "inject: {dry_run: true}\n"
        "controller: {cycle_s: 0.5, startup_grace_s: 0}\n"
        f"rib: {{speaker: {{hold_time: 90}}, bmp: {{listen: 127.0.0.1, port: {port}}}}}\n"
    )
    return load_text(text, Config)


def bmp_child(providers: list, prefixes: int, port: int, trace: bool) -> dict:
    """The controller as ``lab.tableload.load_table`` runs it, with a fake speaker (the BMP
    route needs none): learns the table the parent sends its station, runs two decision
    rounds; the peak of its process and of the station's, its RSS along the way."""
    import asyncio

    if trace:
        import tracemalloc

        tracemalloc.start(6)
    from routepilot.alerts.manager import AlertManager
    from routepilot.rib.speaker.fake import FakeSpeaker
    from routepilot.run.view import DaemonView
    from routepilot.run.wiring import build_controller, build_stages
    from routepilot.store import AsyncStore, MemoryStore

    config = bmp_config(providers, port)
    out: dict = {"variant": "bmp", "prefixes": prefixes}

    async def run() -> None:
        stages = build_stages(
            config, store=AsyncStore(MemoryStore()), speaker=FakeSpeaker(["edge"])
        )
        controller = build_controller(config, stages)
        alerts = AlertManager(config.alerts.model_copy(update={"raise_after": 1}))
        gc.collect()
        out["base_mib"] = status_kib("VmRSS") / 1024
        await controller.start()
        view = DaemonView(controller, asyncio.get_running_loop(), config.model_dump(mode="json"))
        print("ready", flush=True)
        rib = controller.rib
        t0, cpu0 = time.perf_counter(), time.process_time()
        marks: dict[str, float] = {}
        traced: dict[str, float] = {}
        while time.perf_counter() - t0 < 600:
            await asyncio.sleep(0.05)
            status, provs = view.alert_view()
            alerts.observe(status, provs)
            decisions = controller.cycle_stats.count
            if "whole" not in marks and rib.table.paths >= prefixes:
                marks["whole"] = status_kib("VmRSS") / 1024
                out["whole_s"] = time.perf_counter() - t0
                out["hwm_whole_mib"] = status_kib("VmHWM") / 1024
                if trace:
                    traced["whole"] = tracemalloc.get_traced_memory()[1] / 2**20
                    tracemalloc.reset_peak()
                    out["top_whole"] = _top(tracemalloc)
            if decisions and "decision" not in marks:
                marks["decision"] = status_kib("VmRSS") / 1024
                if trace:
                    traced["decision"] = tracemalloc.get_traced_memory()[1] / 2**20
            if decisions >= 2:
                break
        out["cpu_s"] = time.process_time() - cpu0
        out["paths"] = rib.table.paths
        out["rss_mib"] = marks
        out["peak_mib"] = status_kib("VmHWM") / 1024
        station = getattr(controller.bmp, "station", None)
        out["station_peak_mib"] = _hwm_mib(getattr(station, "pid", None))
        if trace:
            out["traced_peak_mib"] = traced
            out["top"] = _top(tracemalloc)
        await controller.stop()

    asyncio.run(run())
    return out


def _hwm_mib(pid: int | None) -> float:
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_bmp_child(src: Path, stream: Path, meta: dict, trace: bool = False) -> dict:
    """The controller in a child process (``src`` on its path), the stream sent to its
    station over loopback TCP as a router sends it; the connection stays open until the
    child is done (a closed session withdraws every path)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=f"{src}:{ROOT}")
    args = [sys.executable, __file__, "--child", "bmp", "--file", str(stream), "--port", str(port)]
    args += ["--providers", json.dumps(meta)] + (["--trace"] if trace else [])
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the controller did not start")
        with socket.create_connection(("127.0.0.1", port)) as router:
            router.sendall(stream.read_bytes())
            result = proc.stdout.read()
        if proc.wait() != 0:
            raise RuntimeError(f"the controller failed ({proc.returncode})")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return json.loads(result.strip().splitlines()[-1])


def main_bmp(args: argparse.Namespace) -> None:
    """``--route bmp``: this tree and ``--ref`` alternating, ``--rounds`` times each."""
    here = ROOT / "src"
    sys.path[:0] = [str(here), str(ROOT)]
    with tempfile.TemporaryDirectory(prefix="rp-mem-") as tmp:
        t0 = time.perf_counter()
        cache = Path(args.cache or tmp)
        stream = cache / f"locrib-{args.paths}.bmp"
        known = stream.with_suffix(".json")
        if not known.exists():
            providers, prefixes, data = locrib_stream(args.paths)
            stream.write_bytes(data)
            known.write_text(json.dumps({"providers": providers, "prefixes": prefixes}))
        meta = json.loads(known.read_text())
        print(f"table: mrt as gobgpd's Loc-RIB over BMP, {meta['prefixes']:,} prefixes one a"
              f" message, {stream.stat().st_size / 2**20:.0f} MiB, ready in"
              f" {time.perf_counter() - t0:.0f} s")  # fmt: skip
        # A source tree given as --ref is used as it is (with its build products: the
        # prober's extension, the gRPC stubs, which git does not hold).
        before: Path | None = Path(args.ref)
        if not (before / "routepilot").is_dir() and "before" in args.variants:
            before = unpack(args.ref, Path(tmp))
        results = []
        for _ in range(args.rounds):
            for variant in args.variants.split(","):
                src = before if variant == "before" else here
                assert src is not None
                result = run_bmp_child(src, stream, meta, trace=args.trace)
                result["variant"] = variant
                results.append(result)
                print(json.dumps({k: v for k, v in result.items() if not k.startswith("top")}))
    report_bmp(results, args.ref)


def report_bmp(results: list[dict], ref: str) -> None:
    print(f"\n{'variant':8} {'daemon':>7} {'station':>8} {'total':>7} {'whole':>7}"
          f" {'decided':>8} {'to whole':>9} {'CPU s':>6}   (MiB; peak is VmHWM)")  # fmt: skip
    for r in results:
        rss = r["rss_mib"]
        total = r["peak_mib"] + r["station_peak_mib"]
        print(f"{r['variant']:8} {r['peak_mib']:>7.0f} {r['station_peak_mib']:>8.0f} {total:>7.0f}"
              f" {rss.get('whole', 0):>7.0f} {rss.get('decision', 0):>8.0f}"
              f" {r.get('whole_s', 0):>8.1f}s {r['cpu_s']:>6.1f}")  # fmt: skip
    print(f"(daemon: the controller's process, {results[0]['base_mib']:.0f} MiB before the"
          f" table; station: its BMP process; whole, decided: the daemon's RSS once every"
          f" prefix is held and after the first round; before = git {ref})")  # fmt: skip
    for r in results:
        for key in ("top_whole", "top"):
            if key in r:
                print(
                    f"\ntracemalloc, {r['variant']}, {key} (traced peaks {r['traced_peak_mib']}):"
                )
                print("\n".join(r[key]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--table", choices=("mrt", "soak"), default="mrt")
    parser.add_argument("--paths", type=int, default=500_000)
    parser.add_argument("--ref", default="main", help="git ref of the 'before' variant")
    parser.add_argument("--variants", default="dict,before,after,queued")
    parser.add_argument("--trace", action="store_true", help="tracemalloc's top sites of 'after'")
    parser.add_argument("--cache", help="a folder keeping the table's JSON between runs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--providers", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--route", choices=("addpath", "bmp"), default="addpath",
        help="bmp: the mrt table as gobgpd's Loc-RIB to the whole controller's station",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=1, help="with --route bmp")
    args = parser.parse_args()
    if args.child == "bmp":
        meta = json.loads(args.providers)
        print(json.dumps(bmp_child(meta["providers"], meta["prefixes"], args.port, args.trace)))
        return
    if args.child:
        print(json.dumps(child(args.child, args.file, json.loads(args.providers), args.trace)))
        return
    if args.route == "bmp":
        if args.variants == parser.get_default("variants"):
            args.variants = "before,after"
        main_bmp(args)
        return

    here = ROOT / "src"
    sys.path.insert(0, str(here))
    with tempfile.TemporaryDirectory(prefix="rp-mem-") as tmp:
        t0 = time.perf_counter()
        cache = Path(args.cache or tmp)
        table = cache / f"{args.table}-{args.paths}.jsonl"
        known = table.with_suffix(".providers.json")
        if not known.exists():
            providers, lines = (mrt_lines if args.table == "mrt" else soak_lines)(args.paths)
            with open(table, "w") as f:
                f.writelines(lines)
            known.write_text(json.dumps(providers))
        providers = json.loads(known.read_text())
        print(f"table: {args.table}, {table.stat().st_size / 2**20:.0f} MiB of ExaBGP JSON,"
              f" ready in {time.perf_counter() - t0:.0f} s")  # fmt: skip
        before = unpack(args.ref, Path(tmp))
        results = []
        for variant in args.variants.split(","):
            src = before if variant == "before" else here
            results.append(run_child(variant, src, table, providers))
        if args.trace:
            results.append(run_child("after", here, table, providers, trace=True))
    report(results, args.ref)


def report(results: list[dict], ref: str) -> None:
    peer = next((r for r in results if r["variant"] == "dict"), None)
    print(f"\n{'variant':8} {'paths':>9} {'prefixes':>9} {'peak MiB':>9} {'B/path':>7}"
          f" {'x dict':>7} {'retained':>9} {'B/path':>7} {'x dict':>7} {'load s':>7}"
          f" {'CPU s':>6}")  # fmt: skip
    for r in results:
        if "top" in r:
            continue
        per = r["peak_mib"] * 2**20 / r["paths"]
        kept = r["retained_mib"] * 2**20 / r["paths"]
        ratio = f"{r['peak_mib'] / peer['peak_mib']:.2f}x" if peer else "-"
        kept_ratio = f"{r['retained_mib'] / peer['retained_mib']:.2f}x" if peer else "-"
        print(f"{r['variant']:8} {r['paths']:>9,} {r['prefixes']:>9,} {r['peak_mib']:>9.0f}"
              f" {per:>7.0f} {ratio:>7} {r['retained_mib']:>9.0f} {kept:>7.0f}"
              f" {kept_ratio:>7} {r['load_s']:>7.1f} {r['load_cpu_s']:>6.1f}")  # fmt: skip
    print(f"(above the interpreter with its imports, {results[0]['base_mib']:.0f} MiB;"
          f" before = git {ref})")  # fmt: skip
    by = {r["variant"]: r for r in results if "top" not in r}
    if "before" in by and "after" in by:
        b, a = by["before"], by["after"]
        print(f"after / before: peak {a['peak_mib'] / b['peak_mib']:.2f}x,"
              f" retained {a['retained_mib'] / b['retained_mib']:.2f}x")  # fmt: skip
    for r in results:
        if "queued_mib" in r:
            per = r["queued_mib"] * 2**20 / r["paths"]
            print(f"a whole table's events queued: {r['queued_mib']:.0f} MiB, {per:.0f} B/path")
        if "top" in r:
            print(f"\ntracemalloc, 'after', retained (traced peak {r['traced_peak_mib']:.0f} MiB):")
            print("\n".join(r["top"]))


if __name__ == "__main__":
    main()

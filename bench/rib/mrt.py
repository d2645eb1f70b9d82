"""A whole table from gobgpd, learned by routepilot as a user runs it (#18).

gobgpd (Debian) loads an MRT TABLE_DUMP_V2 table with ``gobgp mrt inject`` and
sends it over iBGP with add-path, and no End-of-RIB, to routepilot's controller
(its speaker, RIB and decision loop), once with each speaker backend. No public
collector's dump can be fetched on this machine, so the table is generated (``routepilot.lab.mrt``:
about 0.5M paths from 14 peers inside 240.0.0.0/4 and 2001:db8::/32).

Measured, each routepilot run in a process of its own:
- routepilot: from the controller's start to every path held, to the routes
  counting as whole, and to the first decision (with the paths held then);
  peak RSS of routepilot's process, of its BMP station's process (the ``bmp`` run) and
  of its speaker (gobgpd; or ExaBGP and its helper); alerts raised; with the GoBGP
  backend and with the ExaBGP one (its Adj-RIB-In off), side by side; with
  ``--adj-rib-in`` also ExaBGP with its Adj-RIB-In on (as before #18);
- routepilot learning over BMP instead (``bmp``): gobgpd sends its Loc-RIB (RFC 9069,
  ``gobgp bmp add ... local-rib``, added once the controller is up) to the controller's
  BMP station, with ``route_source: bmp``; the controller runs inside gobgpd's namespace
  and gobgpd's iBGP session to it is disabled for that run, so that the table is not
  sent twice. gobgpd's Loc-RIB holds one path a prefix (its best), so this run waits
  for every prefix, not every path; the paths of sampled prefixes are checked against
  those the ExaBGP run learned; its own peer: gobgpd sending the same Loc-RIB to a
  station that only counts the messages;
- routepilot starting against an edge router that already holds the table, as it
  does in a network (``edge``): BIRD, fed the table by gobgpd over iBGP add-path
  before routepilot starts, hands it to routepilot's ExaBGP speaker as a route
  reflector with add-path (``lab.edgebird``); gobgpd's own sending pace (about 15k
  paths/s) is then not in the time. Its peer: a second BIRD receiving the table from
  the same edge over the same kind of session;
- the peer, beside it: a second gobgpd receiving the same table from the same
  gobgpd over the same kind of session, until its Adj-RIB-In holds every path.

Needs root, gobgpd and ExaBGP.
Usage: python bench/rib/mrt.py [--paths N] [--runs gobgp,exabgp,bmp,edge] [--adj-rib-in]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = 15.0
BUDGET_MIB = 600.0
PEER = "100.64.0.3"


RUNS = {
    "gobgp": "routepilot, GoBGP backend",
    "exabgp": "routepilot, ExaBGP backend (Adj-RIB-In off)",
    "exabgp-adj-rib-in": "routepilot, ExaBGP with its Adj-RIB-In on (before #18)",
    "bmp": "routepilot, BMP from gobgpd's Loc-RIB (route_source: bmp)",
    "edge": "routepilot, ExaBGP backend, from a BIRD edge that holds the table",
}
EDGE_PEER = "100.64.0.5"
"""A second BIRD that times receiving the table from that edge (the ``edge`` run's peer)."""
SAMPLE = 1000
"""Prefixes whose paths the ExaBGP and BMP runs compare."""


def child(netns: str, meta: Path, run: str) -> dict:
    from routepilot.lab.mrt import Peer
    from routepilot.lab.tableload import BMP_LISTEN, BMP_PORT, EDGE, load_table
    from routepilot.rib.speaker.exabgp import ExaBGPSpeaker

    if run == "exabgp-adj-rib-in":
        # As before #18: ExaBGP keeps its own copy of every path it receives.
        render = ExaBGPSpeaker.render_config

        def with_adj_rib_in(self, socket_path: str) -> str:
            return render(self, socket_path).replace("adj-rib-in false;", "adj-rib-in true;")

        ExaBGPSpeaker.render_config = with_adj_rib_in  # type: ignore[method-assign]
    doc = json.loads(meta.read_text())
    peers = [Peer(**p) for p in doc["peers"]]
    if run == "bmp":

        def bmp_on() -> None:
            gobgp = ["gobgp", "-u", "127.0.0.1", "-p", "50051", "bmp"]
            subprocess.run([*gobgp, "add", f"{BMP_LISTEN}:{BMP_PORT}", "local-rib"], check=True)

        r = asyncio.run(
            load_table(
                peers,
                doc["prefixes"],
                netns,
                timeout=600,
                show=doc["sample"],
                route_source="bmp",
                started=bmp_on,
            )
        )
    elif run == "edge":
        r = asyncio.run(
            load_table(peers, doc["paths"], netns, timeout=600, show=doc["sample"], router=EDGE)
        )
    else:
        backend = run.split("-")[0]
        r = asyncio.run(
            load_table(peers, doc["paths"], netns, timeout=600, backend=backend, show=doc["sample"])
        )
    return {
        "run": run,
        "session_up_s": r.session_up_s,
        "whole_s": r.whole_s,
        "synced_s": r.synced_s,
        "first_decision_s": r.first_decision_s,
        "paths_at_first_decision": r.paths_at_first_decision,
        "paths_held": r.samples[-1].paths if r.samples else 0,
        "alerts": [f"{a.kind} {a.key} {a.state}" for a in r.alerts],
        "rss": r.peak_rss_mib,
        "rss_along": _rss_along(r),
        "end_of_rib": r.end_of_rib,
        "sample": {
            prefix: [[p["next_hop"], p["as_path"], p["origin"], p["med"]] for p in paths]
            for prefix, paths in r.paths.items()
        },
    }


def _rss_along(r) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """routepilot's resident MiB at the load's moments: where its peak comes from."""
    samples = r.samples
    if not samples:
        return {}

    def at(t: float | None) -> float:
        return next((x.rss_mib for x in samples if t is not None and x.t >= t), float("nan"))

    top = max(samples, key=lambda x: x.rss_mib)
    return {
        "started": samples[0].rss_mib,
        "whole": at(r.whole_s),
        "synced": at(r.synced_s),
        "first decision": at(r.first_decision_s),
        "end": samples[-1].rss_mib,
        "most": top.rss_mib,
        "most at s": top.t,
    }


SINK = """
import socket, struct, sys, time
expected = int(sys.argv[1])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[2], int(sys.argv[3])))
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
t0 = time.perf_counter()
buf, messages = b"", 0
while messages < expected:
    data = c.recv(1 << 20)
    if not data:
        break
    buf += data
    i = 0
    while len(buf) - i >= 6:
        length, kind = struct.unpack_from("!IB", buf, i + 1)
        if len(buf) - i < length:
            break
        messages += kind == 0
        i += length
    buf = buf[i:]
print(messages, time.perf_counter() - t0, flush=True)
"""
"""Reads gobgpd's BMP and throws it away, counting Route Monitoring messages."""


def bmp_sink(source, netns: str, expected: int) -> tuple[int, float]:
    """gobgpd's own BMP sending time: its Loc-RIB to a station that only counts the
    messages (the BMP run's peer). Returns (messages, seconds from the connection)."""
    from routepilot.lab.tableload import BMP_LISTEN, BMP_PORT

    command = [sys.executable, "-c", SINK, str(expected), BMP_LISTEN, str(BMP_PORT)]
    with subprocess.Popen(
        ["ip", "netns", "exec", netns, *command], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        proc.stdout.readline()
        source.cli("bmp", "add", f"{BMP_LISTEN}:{BMP_PORT}", "local-rib")
        try:
            messages, seconds = proc.stdout.readline().split()
        finally:
            source.cli("bmp", "del", f"{BMP_LISTEN}:{BMP_PORT}", check=False)
    return int(messages), float(seconds)


def sh(*args: str) -> None:
    subprocess.run(args, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=500_000)
    parser.add_argument("--adj-rib-in", action="store_true", help="also ExaBGP as before #18")
    parser.add_argument(
        "--runs", default="gobgp,exabgp,bmp,edge", help="routepilot runs, comma-separated"
    )
    parser.add_argument("--child", choices=list(RUNS))
    parser.add_argument("--netns")
    parser.add_argument("--meta", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.netns, args.meta, args.child)))
        return
    if os.geteuid() != 0 or shutil.which("gobgpd") is None:
        print("rib mrt: skipped (needs root and gobgpd)")
        return

    from routepilot.lab import mrt
    from routepilot.lab.edgebird import EdgeBird
    from routepilot.lab.gobgp import GobgpNeighbor, GobgpRouter
    from routepilot.lab.tableload import ASN, BMP_LISTEN, BMP_PORT, EDGE, LOCAL, ROUTER

    work = Path(tempfile.mkdtemp(prefix="rpribtest-mrt-"))
    t0 = time.perf_counter()
    table = mrt.generate(args.paths, seed=18)
    dump = work / "table.mrt"
    mrt.write(table, dump, encoding="gobgp3", padding=min(len(table.routes), 20_000))
    meta = work / "meta.json"
    n_prefixes, n_paths = len(table.routes), table.paths
    sample = list(table.routes)[:: max(1, n_prefixes // SAMPLE)]
    meta.write_text(
        json.dumps(
            {
                "paths": n_paths,
                "prefixes": n_prefixes,
                "sample": sample,
                "peers": [vars(p) for p in table.peers],
            }
        )
    )
    multi = sum(1 for p in table.routes.values() if len(p) > 1)
    del table
    print(
        f"rib mrt: generated {n_paths} paths on {n_prefixes} prefixes ({multi} with 2-4 paths) "
        f"from 14 peers in {time.perf_counter() - t0:.0f} s, {dump.stat().st_size / 2**20:.0f} MiB"
    )
    netns = f"rpribtest-mrt-{os.getpid()}"
    sh("ip", "netns", "add", netns)
    source = GobgpRouter(
        netns,
        work,
        ROUTER,
        ASN,
        [
            GobgpNeighbor(LOCAL, ASN, add_path_send=8),
            GobgpNeighbor(PEER, ASN, add_path_send=8),
            GobgpNeighbor(EDGE, ASN, add_path_send=8),
        ],
    )
    chosen = args.runs.split(",") + (["exabgp-adj-rib-in"] if args.adj_rib_in else [])
    edge = EdgeBird(netns, work, EDGE, ASN, feed=ROUTER, clients=[LOCAL, EDGE_PEER])
    edge_peer = EdgeBird(netns, work, EDGE_PEER, ASN, feed=EDGE, clients=[])
    edge_fed_s = edge_peer_s = None
    try:
        sh("ip", "-n", netns, "link", "set", "lo", "up")
        for address in (ROUTER, LOCAL, PEER, EDGE, EDGE_PEER):
            sh("ip", "-n", netns, "addr", "add", f"{address}/32", "dev", "lo")
        source.start()
        inject_s = source.inject_mrt(dump, n_paths)
        print(f"  gobgpd loaded the dump in {inject_s:.1f} s (gobgp mrt inject)")
        if "edge" in chosen:
            edge.start()
            edge_fed_s = edge.wait_fed(n_paths)
            print(f"  BIRD, the edge, held the table from gobgpd in {edge_fed_s:.1f} s")
        runs = {}
        for run in chosen:
            command = [sys.executable, __file__, "--child", run, "--netns", netns]
            if run == "bmp":
                # The station listens inside the namespace, where gobgpd can reach it; the
                # add-path session stays down so that gobgpd sends the table only once.
                command = ["ip", "netns", "exec", netns, *command]
                source.cli("neighbor", LOCAL, "disable")
            try:
                out = subprocess.run(
                    [*command, "--meta", str(meta)], capture_output=True, text=True, check=True
                )
            finally:
                if run == "bmp":
                    source.cli("bmp", "del", f"{BMP_LISTEN}:{BMP_PORT}", check=False)
                    source.cli("neighbor", LOCAL, "enable")
            runs[run] = json.loads(out.stdout.strip().splitlines()[-1])
        sink = bmp_sink(source, netns, n_prefixes) if "bmp" in runs else None
        if "edge" in runs:
            # The edge run's peer: another BIRD receives the table from the same edge.
            t1 = time.perf_counter()
            edge_peer.start()
            edge_peer.wait_fed(n_paths)
            edge_peer_s = time.perf_counter() - t1
            edge_peer.stop()
        # The peer: another gobgpd receives the same table from the same gobgpd.
        receiver = GobgpRouter(
            netns,
            work,
            PEER,
            ASN,
            [GobgpNeighbor(ROUTER, ASN, add_path_receive=True, passive=False)],
            api_port=50052,
        )
        t1 = time.perf_counter()
        receiver.start()
        try:
            while receiver.received(ROUTER) < n_paths and time.perf_counter() - t1 < 600:
                time.sleep(0.25)
            peer_s = time.perf_counter() - t1
            peer_paths = receiver.received(ROUTER)
        finally:
            receiver.stop()
    finally:
        edge_peer.stop()
        edge.stop()
        source.stop()
        subprocess.run(["ip", "netns", "del", netns], check=False)
        shutil.rmtree(work, ignore_errors=True)

    def after_up(r: dict) -> float:
        return r["whole_s"] - r["session_up_s"]

    def total(r: dict) -> float:
        return r["rss"]["routepilot"] + r["rss"]["speaker"] + r["rss"].get("bmp", 0.0)

    def s(value: float | None) -> str:
        return "never" if value is None else f"{value:.1f} s"

    wanted = {run: n_prefixes if run == "bmp" else n_paths for run in runs}
    for run, r in runs.items():
        print(
            f"  {RUNS[run]}: {r['paths_held']} of {wanted[run]} paths, every one held "
            f"{s(r['whole_s'])} after start (session up at {s(r['session_up_s'])}), "
            f"whole by the rate rule at {s(r['synced_s'])}, first decision at "
            f"{s(r['first_decision_s'])} on {r['paths_at_first_decision']} paths; peak RSS "
            f"routepilot {r['rss']['routepilot']:.0f} + speaker {r['rss']['speaker']:.0f} + "
            f"BMP station process {r['rss'].get('bmp', 0.0):.0f} = "
            f"{total(r):.0f} MiB; End-of-RIB {r['end_of_rib']}; alerts {r['alerts'] or 'none'}"
        )
        if r["whole_s"] is not None:
            print(f"    {r['paths_held'] / r['whole_s']:,.0f} paths/s from the start")
        along = ", ".join(f"{k} {v:.0f}" for k, v in r.get("rss_along", {}).items())
        print(f"    routepilot's RSS along the load (MiB; s for the time): {along}")
    print(
        f"  peer: gobgpd received the same {peer_paths} paths from gobgpd in {peer_s:.1f} s "
        f"(from its start, polled every 0.25 s): {peer_paths / peer_s:,.0f} paths/s"
    )
    if sink is not None:
        print(
            f"  peer of the BMP run: gobgpd sent its Loc-RIB ({sink[0]} route monitoring "
            f"messages) to a station that only counts them in {sink[1]:.1f} s: "
            f"{sink[0] / sink[1]:,.0f} paths/s"
        )
    if edge_peer_s is not None:
        print(
            f"  peer of the edge run: BIRD received the same {n_paths} paths from the edge in "
            f"{edge_peer_s:.1f} s (from its start): {n_paths / edge_peer_s:,.0f} paths/s"
        )
    done = {run: r for run, r in runs.items() if r["whole_s"] is not None}
    if "gobgp" in done and "exabgp" in done:
        gobgp, exabgp = done["gobgp"], done["exabgp"]
        print(
            f"  ratios: GoBGP/ExaBGP backend whole-table time "
            f"{gobgp['whole_s'] / exabgp['whole_s']:.2f}x"
            f" (from session up {after_up(gobgp) / after_up(exabgp):.2f}x), routepilot + "
            f"speaker RSS {total(gobgp) / total(exabgp):.2f}x"
        )
    for run, r in done.items():
        rate = r["paths_held"] / r["whole_s"]
        print(
            f"  ratios ({run}): time to every path / gobgpd receiving the table "
            f"{r['whole_s'] / peer_s:.2f}x; paths/s / gobgpd's {rate / (peer_paths / peer_s):.2f}x"
        )
    if "edge" in done and edge_peer_s is not None:
        r = done["edge"]
        print(
            f"  ratios (edge): time to every path / BIRD receiving it from the same edge "
            f"{r['whole_s'] / edge_peer_s:.2f}x"
        )
    if "bmp" in done and sink is not None:
        bmp = done["bmp"]
        print(
            f"  ratios (bmp): time to every path / gobgpd sending them to a counting station "
            f"{(bmp['whole_s'] - bmp['session_up_s']) / sink[1]:.2f}x (from the BMP session up)"
        )
    if "bmp" in done and "exabgp" in done:
        bmp, exabgp = done["bmp"], done["exabgp"]
        bmp_rate = bmp["paths_held"] / bmp["whole_s"]
        exa_rate = exabgp["paths_held"] / exabgp["whole_s"]
        rss = bmp["rss"]["routepilot"] / exabgp["rss"]["routepilot"]
        print(
            f"  ratios: BMP/ExaBGP paths per second {bmp_rate / exa_rate:.2f}x, "
            f"routepilot's own peak RSS {rss:.2f}x"
        )
        # gobgpd's Loc-RIB holds its best path of each prefix: it must be one of the
        # paths the add-path session gave for that prefix.
        bad = [
            prefix
            for prefix, paths in bmp["sample"].items()
            if len(paths) != 1 or paths[0] not in exabgp["sample"].get(prefix, [])
        ]
        print(
            f"  BMP paths checked against add-path on {len(bmp['sample'])} sampled prefixes: "
            f"{'all agree' if not bad else f'{len(bad)} differ, e.g. {bad[:3]}'}"
        )
    if "exabgp-adj-rib-in" in runs and "exabgp" in runs:
        before, exabgp = runs["exabgp-adj-rib-in"], runs["exabgp"]
        print(
            f"  ExaBGP Adj-RIB-In off/on: speaker RSS "
            f"{exabgp['rss']['speaker'] / max(before['rss']['speaker'], 1):.2f}x, time from "
            f"session up {after_up(exabgp) / after_up(before):.2f}x"
        )
    for run, r in runs.items():
        ok = (
            r["whole_s"] is not None
            and r["whole_s"] <= BUDGET_S
            and total(r) <= BUDGET_MIB
            and not r["alerts"]
            and r["paths_at_first_decision"] == wanted[run]
        )
        print(
            f"  budget ({run}): whole table <= {BUDGET_S:.0f} s, routepilot + speaker + "
            f"BMP station process <= "
            f"{BUDGET_MIB:.0f} MiB, no alert, no decision before the table is in: "
            f"{'ok' if ok else 'MISSED'}"
        )


if __name__ == "__main__":
    main()

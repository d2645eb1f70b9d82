"""RIB load: a full table (1M prefixes x 4 add-path paths) from ExaBGP's JSON.

Each variant runs in a child process so its memory is its own:

- ``routepilot``: ExaBGP JSON lines -> ``Decoder`` -> ``Rib.handle`` (the real
  path), then a ``RoutesSnapshot`` and the prefix table for flows' LPM;
- ``dict``: the same events into a dict of dicts (prefix -> path key ->
  attributes), the obvious design the RIB avoids, as the peer.

Updates carry 8 prefixes each and every update has its own attribute set (its
own AS path), which is harsher than a real table where attributes repeat.

Usage: python bench/rib/run.py [--prefixes N] [--paths K]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

PROVIDERS = [(f"isp{k + 1}", [f"100.64.{k + 1}.1"]) for k in range(8)]
PER_UPDATE = 8


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def prefix(i: int) -> str:
    # /24s from 1.0.0.0 upwards, skipping nothing: plenty of room for 1M+.
    n = (1 << 24) + i * 256
    return f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.0/24"


def json_lines(n_prefixes: int, paths: int, start: int, stop: int):
    """ExaBGP 5 JSON update lines for prefix blocks [start, stop), every provider."""
    for block in range(start, stop, PER_UPDATE):
        for k in range(paths):
            nlri = ", ".join(
                f'{{ "nlri": "{prefix(i)}", "path-information": "0.0.0.{k + 1}" }}'
                for i in range(block, min(block + PER_UPDATE, n_prefixes))
            )
            path = [64500 + k, 3000 + block % 5000, 100 + (block // 7) % 900][: 1 + (block + k) % 3]
            attr = (
                f'"origin": "igp", "as-path": {{"0": {{"element": "as-sequence", '
                f'"value": {json.dumps(path)}}}}}, "local-preference": 100, "med": {block % 50}'
            )
            yield (
                '{ "exabgp": "5.0.0", "type": "update", "neighbor": { "address": '
                '{ "local": "100.64.0.2", "peer": "100.64.0.1" }, "direction": "receive", '
                f'"message": {{ "update": {{ "attribute": {{ {attr} }}, "announce": '
                f'{{ "ipv4 unicast": {{ "100.64.{k + 1}.1": [ {nlri} ] }} }} }} }} }} }}'
            )


def child(variant: str, n_prefixes: int, paths: int) -> dict:
    from routepilot.rib.rib import Rib
    from routepilot.rib.speaker.base import PathsLearned
    from routepilot.rib.speaker.exabgp_json import Decoder

    decoder = Decoder({"100.64.0.1": "edge"}.get)
    base = rss_mib()
    rib = Rib(["edge"], PROVIDERS[:paths], capacity=n_prefixes)
    table: dict[str, dict[tuple[int, int], object]] = {}

    def load_dict(event: PathsLearned) -> None:
        for n in event.nlri:
            table.setdefault(n.prefix, {})[(0, n.path_id)] = event.attributes

    def load_rib(events: list) -> None:
        rib.handle_many(events)

    def load_peer(events: list) -> None:
        for event in events:
            load_dict(event)

    handle = load_rib if variant == "routepilot" else load_peer
    spent = 0.0
    chunk = 40_000
    for start in range(0, n_prefixes, chunk):
        lines = list(json_lines(n_prefixes, paths, start, min(start + chunk, n_prefixes)))
        t0 = time.perf_counter()
        # The daemon hands the RIB whatever events are queued; here, 2000 lines at a time.
        for i in range(0, len(lines), 2000):
            handle([e for line in lines[i : i + 2000] for e in decoder.decode(line)])
        spent += time.perf_counter() - t0
        del lines
    out = {"variant": variant, "load_s": spent, "rss_mib": rss_mib() - base}
    if variant == "routepilot":
        t0 = time.perf_counter()
        snap = rib.snapshot()
        out["snapshot_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        rib.snapshot()
        out["snapshot_again_s"] = time.perf_counter() - t0
        # A realistic round's churn: 1000 paths change, then a snapshot.
        churn = list(json_lines(n_prefixes, 1, 0, 1000))
        rib.handle_many([e for line in churn for e in decoder.decode(line)])
        t0 = time.perf_counter()
        rib.snapshot()
        out["snapshot_churn_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        rib.prefix_table()
        out["prefix_table_s"] = time.perf_counter() - t0
        out["prefixes"] = len(snap.prefixes)
        out["paths"] = rib.table.paths
        out["numpy_mib"] = rib.table.memory_bytes() / 2**20
        out["rss_mib"] = rss_mib() - base
    else:
        out["prefixes"] = len(table)
        out["paths"] = sum(len(v) for v in table.values())
    return out


def live(n_prefixes: int, paths: int) -> None:
    """A real BIRD sends ``n_prefixes x paths`` over add-path through a real ExaBGP."""
    import asyncio
    import importlib.util
    import os
    import shutil
    from pathlib import Path

    if os.geteuid() != 0 or shutil.which("bird") is None:
        print("rib live load: skipped (needs root and bird2)")
        return
    spec = importlib.util.spec_from_file_location(
        "inject_bench", Path(__file__).parents[1] / "inject" / "run.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    from routepilot.config.models import RouterConfig
    from routepilot.rib.config import ExaBGPConfig, SpeakerConfig
    from routepilot.rib.rib import Rib
    from routepilot.rib.speaker.exabgp import ExaBGPSpeaker

    statics = []
    for k in range(paths):
        routes = "".join(f"route {prefix(i)} via 100.64.1.{k + 1};\n" for i in range(n_prefixes))
        statics.append(
            f"protocol static isp{k + 1} {{ ipv4 {{ preference 50; import filter "
            f"{{ bgp_path.prepend({64501 + k}); accept; }}; }};\n{routes}}}\n"
        )
    config = bench.BIRD_CONF.replace(
        "ipv4 { import all; export none; }", "ipv4 { add paths tx; import none; export all; }"
    ).replace("protocol kernel { netlink rx buffer 8388608; ipv4 { export all; }; }", "")
    lab = bench.Lab(config + "".join(statics))

    async def run() -> tuple[float, int]:
        router = RouterConfig(
            name="edge", address=bench.ROUTER, asn=bench.ASN, local_address=bench.LOCAL
        )
        speaker = ExaBGPSpeaker(
            SpeakerConfig(exabgp=ExaBGPConfig(wrapper=["ip", "netns", "exec", lab.netns])),
            [router],
        )
        providers = [(f"isp{k + 1}", [f"100.64.1.{k + 1}"]) for k in range(paths)]
        rib = Rib(["edge"], providers, capacity=n_prefixes)
        await speaker.start()
        t0 = time.perf_counter()
        try:
            while not rib.end_of_rib["edge"]:
                events = [await speaker.next_event(), *speaker.pending_events()]
                rib.handle_many(events)
            return time.perf_counter() - t0, rib.table.paths
        finally:
            await speaker.stop()

    try:
        lab.up()
        elapsed, loaded = asyncio.run(run())
    finally:
        lab.down()
    print(
        f"rib live load: BIRD -> ExaBGP -> routepilot, {n_prefixes} x {paths} = {loaded} paths "
        f"in {elapsed:.1f} s ({loaded / elapsed / 1e3:.1f}k paths/s, ExaBGP included)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefixes", type=int, default=1_000_000)
    parser.add_argument("--paths", type=int, default=4)
    parser.add_argument("--child", choices=["routepilot", "dict"])
    parser.add_argument("--live", type=int, default=50_000, help="prefixes from a real BIRD")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.prefixes, args.paths)))
        return
    results = {}
    for variant in ("routepilot", "dict"):
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                variant,
                "--prefixes",
                str(args.prefixes),
                "--paths",
                str(args.paths),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
    rp, peer = results["routepilot"], results["dict"]
    total = args.prefixes * args.paths
    print(f"rib load: {args.prefixes} prefixes x {args.paths} paths = {total} paths")
    print(
        f"  routepilot: {rp['load_s']:.1f} s ({total / rp['load_s'] / 1e3:.0f}k paths/s) "
        f"from ExaBGP JSON, RSS +{rp['rss_mib']:.0f} MiB "
        f"(numpy columns {rp['numpy_mib']:.0f} MiB), "
        f"first snapshot {rp['snapshot_s']:.2f} s, unchanged {rp['snapshot_again_s']:.3f} s, "
        f"after 1000 changed paths {rp['snapshot_churn_s']:.3f} s, "
        f"prefix table {rp['prefix_table_s']:.2f} s, "
        f"{rp['prefixes']} prefixes / {rp['paths']} paths"
    )
    print(
        f"  dict of dicts (peer): {peer['load_s']:.1f} s, RSS +{peer['rss_mib']:.0f} MiB, "
        f"{peer['prefixes']} prefixes / {peer['paths']} paths"
    )
    print(
        f"  ratio routepilot/peer: time {rp['load_s'] / peer['load_s']:.2f}x, "
        f"memory {rp['rss_mib'] / max(peer['rss_mib'], 1):.2f}x"
    )
    if args.live:
        live(args.live, args.paths)


if __name__ == "__main__":
    main()

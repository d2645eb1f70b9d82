"""RIB load: a full table (1M prefixes x 4 add-path paths) from each speaker's API.

Each variant runs in a child process so its memory is its own:

- ``routepilot``: ExaBGP JSON lines -> ``Decoder`` -> ``Rib.handle`` (the real
  path), then a ``RoutesSnapshot`` and the prefix table for flows' LPM;
- ``routepilot-gobgp``: the same table as the bytes of gobgpd's ``WatchEvent``
  messages (one per UPDATE) -> ``TableDecoder`` -> ``Rib.handle``, the GoBGP
  backend's path, side by side with the ExaBGP one;
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
from pathlib import Path

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


def withdraw_lines(n_prefixes: int, paths: int, start: int, stop: int):
    """ExaBGP 5 JSON withdrawals of prefix blocks [start, stop), every provider's path."""
    for block in range(start, stop, PER_UPDATE):
        for k in range(paths):
            nlri = ", ".join(
                f'{{ "nlri": "{prefix(i)}", "path-information": "0.0.0.{k + 1}" }}'
                for i in range(block, min(block + PER_UPDATE, n_prefixes))
            )
            yield (
                '{ "exabgp": "5.0.0", "type": "update", "neighbor": { "address": '
                '{ "local": "100.64.0.2", "peer": "100.64.0.1" }, "direction": "receive", '
                '"message": { "update": { "withdraw": { "ipv4 unicast": '
                f"[ {nlri} ] }} }} }} }} }}"
            )


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, value: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(tag << 3 | 2) + _varint(len(value)) + value


def watch_messages(n_prefixes: int, paths: int, start: int, stop: int):
    """gobgpd's WatchEvent responses (apipb, GoBGP 3.10) carrying the updates that
    ``json_lines`` describes: same prefixes, paths, attributes and path ids."""
    from google.protobuf.any_pb2 import Any as AnyMessage

    from routepilot.rib.speaker.gobgp_api._gen import attribute_pb2 as ap
    from routepilot.rib.speaker.gobgp_api._gen import gobgp_pb2 as pb

    def pack(message) -> AnyMessage:
        out = AnyMessage()
        out.Pack(message)
        return out

    url = b"type.googleapis.com/apipb.IPAddressPrefix"
    neighbor = _field(15, b"100.64.0.1")
    for block in range(start, stop, PER_UPDATE):
        for k in range(paths):
            path = [64500 + k, 3000 + block % 5000, 100 + (block // 7) % 900][: 1 + (block + k) % 3]
            segment = ap.AsSegment(type=ap.AsSegment.AS_SEQUENCE, numbers=path)
            attrs = pb.Path(
                pattrs=[
                    pack(ap.OriginAttribute(origin=0)),
                    pack(ap.AsPathAttribute(segments=[segment])),
                    pack(ap.NextHopAttribute(next_hop=f"100.64.{k + 1}.1")),
                    pack(ap.MultiExitDiscAttribute(med=block % 50)),
                    pack(ap.LocalPrefAttribute(local_pref=100)),
                ]
            ).SerializeToString()
            # identifier (field 18, a varint) and neighbor_ip close every path.
            tail = neighbor + _varint(18 << 3) + _varint(k + 1)
            table = b"".join(
                _field(
                    2,
                    _field(
                        1,
                        _field(1, url)
                        + _field(2, b"\x08\x18" + _field(2, p.partition("/")[0].encode())),
                    )
                    + attrs
                    + tail,
                )
                for p in (prefix(i) for i in range(block, min(block + PER_UPDATE, n_prefixes)))
            )
            yield _field(3, table)


class WatchDecoder:
    """What the GoBGP backend does with each WatchEvent message."""

    def __init__(self) -> None:
        from routepilot.rib.speaker.gobgp_api._gen import watch_pb2
        from routepilot.rib.speaker.gobgp_events import TableDecoder

        self._parse = watch_pb2.WatchResponse.FromString
        self._table = TableDecoder({"100.64.0.1": "edge"}.get)

    def decode(self, raw: bytes) -> list:
        return self._table.decode(self._parse(raw).table.paths)


def feed(lines_of, handle, decoder, n_prefixes: int, paths: int, spent_in=None) -> float:
    """Decodes and hands the lines to ``handle`` 2000 at a time; returns the seconds spent
    in both, and adds those spent in ``handle`` alone to ``spent_in[0]``."""
    spent = 0.0
    chunk = 40_000
    for start in range(0, n_prefixes, chunk):
        lines = list(lines_of(n_prefixes, paths, start, min(start + chunk, n_prefixes)))
        # The daemon hands the RIB whatever events are queued; here, 2000 lines at a time.
        for i in range(0, len(lines), 2000):
            t0 = time.perf_counter()
            events = [e for line in lines[i : i + 2000] for e in decoder.decode(line)]
            t1 = time.perf_counter()
            handle(events)
            t2 = time.perf_counter()
            spent += t2 - t0
            if spent_in is not None:
                spent_in[0] += t2 - t1
        del lines
    return spent


def child(variant: str, n_prefixes: int, paths: int) -> dict:
    from routepilot.rib.rib import Rib
    from routepilot.rib.speaker.base import PathsLearned
    from routepilot.rib.speaker.exabgp_json import Decoder

    decoder = Decoder({"100.64.0.1": "edge"}.get)
    messages = json_lines
    if variant == "routepilot-gobgp":
        decoder, messages = WatchDecoder(), watch_messages
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

    handle = load_peer if variant == "dict" else load_rib
    in_rib = [0.0]
    spent = feed(messages, handle, decoder, n_prefixes, paths, in_rib)
    out = {"variant": variant, "load_s": spent, "rss_mib": rss_mib() - base}
    out["load_rib_s"] = in_rib[0]
    if variant == "routepilot-gobgp":
        out["paths"] = rib.table.paths
    elif variant == "routepilot":
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
        # The whole table withdrawn, update by update (a provider gone, a router's
        # table flushed by a route refresh): the work a withdrawal storm costs.
        in_rib = [0.0]
        out["withdraw_s"] = feed(withdraw_lines, load_rib, decoder, n_prefixes, paths, in_rib)
        out["withdraw_rib_s"] = in_rib[0]
        out["paths_left"] = rib.table.paths
    else:
        out["prefixes"] = len(table)
        out["paths"] = sum(len(v) for v in table.values())

        def unload_peer(events: list) -> None:
            for event in events:
                for n in event.nlri:
                    table[n.prefix].pop((0, n.path_id), None)

        out["withdraw_s"] = feed(withdraw_lines, unload_peer, decoder, n_prefixes, paths)
    return out


def live(n_prefixes: int, paths: int) -> None:
    """A real BIRD sends ``n_prefixes x paths`` over add-path through each real speaker
    (ExaBGP; GoBGP when gobgpd is installed), timed until its End-of-RIB is in the RIB."""
    import asyncio
    import importlib.util
    import os
    import shutil

    if os.geteuid() != 0 or shutil.which("bird") is None:
        print("rib live load: skipped (needs root and bird2)")
        return
    spec = importlib.util.spec_from_file_location(
        "inject_bench", Path(__file__).parents[1] / "inject" / "run.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    from routepilot.config.models import RouterConfig
    from routepilot.rib.config import ExaBGPConfig, GoBGPConfig, SpeakerConfig
    from routepilot.rib.rib import Rib
    from routepilot.rib.speaker import make_speaker

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

    async def run(backend: str) -> tuple[float, int]:
        router = RouterConfig(
            name="edge", address=bench.ROUTER, asn=bench.ASN, local_address=bench.LOCAL
        )
        wrapper = ["ip", "netns", "exec", lab.netns]
        config = SpeakerConfig(
            backend=backend,
            exabgp=ExaBGPConfig(wrapper=wrapper),
            gobgp=GoBGPConfig(wrapper=wrapper),
        )
        speaker = make_speaker(config, [router])
        providers = [(f"isp{k + 1}", [f"100.64.1.{k + 1}"]) for k in range(paths)]
        rib = Rib(["edge"], providers, capacity=n_prefixes)
        await speaker.start()
        t0 = time.perf_counter()
        try:
            while not rib.end_of_rib["edge"]:
                if time.perf_counter() - t0 > 600:
                    raise TimeoutError(f"{backend}: no End-of-RIB after 600 s")
                events = [await speaker.next_event(), *speaker.pending_events()]
                rib.handle_many(events)
            return time.perf_counter() - t0, rib.table.paths
        finally:
            await speaker.stop()

    backends = ["exabgp", "gobgp"] if shutil.which("gobgpd") else ["exabgp"]
    timings: dict[str, tuple[float, int]] = {}
    try:
        lab.up()
        for backend in backends:
            timings[backend] = asyncio.run(run(backend))
    finally:
        lab.down()
    for backend, (elapsed, loaded) in timings.items():
        print(
            f"rib live load: BIRD -> {backend} -> routepilot, {n_prefixes} x {paths} = "
            f"{loaded} paths in {elapsed:.1f} s ({loaded / elapsed / 1e3:.1f}k paths/s, "
            f"speaker included)"
        )
    if "gobgp" in timings:
        print(
            f"  ratio GoBGP/ExaBGP backend: time {timings['gobgp'][0] / timings['exabgp'][0]:.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefixes", type=int, default=1_000_000)
    parser.add_argument("--paths", type=int, default=4)
    parser.add_argument("--child", choices=["routepilot", "routepilot-gobgp", "dict"])
    parser.add_argument("--live", type=int, default=50_000, help="prefixes from a real BIRD")
    parser.add_argument(
        "--mrt", type=int, default=500_000, help="paths of a table from gobgpd (bench/rib/mrt.py)"
    )
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.prefixes, args.paths)))
        return
    results = {}
    for variant in ("routepilot", "routepilot-gobgp", "dict"):
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
        f"  withdrawing every path: routepilot {rp['withdraw_s']:.1f} s "
        f"({rp['withdraw_s'] / total * 1e6:.1f} us a path against "
        f"{rp['load_s'] / total * 1e6:.1f} us to learn one; in the RIB alone, JSON decoding "
        f"aside, {rp['withdraw_rib_s'] / total * 1e6:.1f} us against "
        f"{rp['load_rib_s'] / total * 1e6:.1f} us; {rp['paths_left']} left), "
        f"dict of dicts {peer['withdraw_s']:.1f} s, "
        f"ratio {rp['withdraw_s'] / peer['withdraw_s']:.2f}x"
    )
    print(
        f"  dict of dicts (peer): {peer['load_s']:.1f} s, RSS +{peer['rss_mib']:.0f} MiB, "
        f"{peer['prefixes']} prefixes / {peer['paths']} paths"
    )
    print(
        f"  ratio routepilot/peer: time {rp['load_s'] / peer['load_s']:.2f}x, "
        f"memory {rp['rss_mib'] / max(peer['rss_mib'], 1):.2f}x"
    )
    gb = results["routepilot-gobgp"]
    print(
        f"  GoBGP backend: {gb['load_s']:.1f} s ({total / gb['load_s'] / 1e3:.0f}k paths/s) from "
        f"gobgpd's WatchEvent messages ({gb['load_s'] / total * 1e6:.1f} us a path, "
        f"{(gb['load_s'] - gb['load_rib_s']) / total * 1e6:.1f} us of it decoding, against "
        f"{(rp['load_s'] - rp['load_rib_s']) / total * 1e6:.1f} us decoding ExaBGP's JSON), "
        f"{gb['paths']} paths; ratio GoBGP/ExaBGP backend time {gb['load_s'] / rp['load_s']:.2f}x"
    )
    if args.live:
        live(args.live, args.paths)
    if args.mrt:
        mrt = str(Path(__file__).with_name("mrt.py"))
        subprocess.run([sys.executable, mrt, "--paths", str(args.mrt)], check=True)


if __name__ == "__main__":
    main()

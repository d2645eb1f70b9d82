"""Flow collector benchmark: decode + aggregate rate, LPM rate, aggregation memory.

Prints routepilot's figures beside peers measured in the same run, on the
same data: the ``netflow`` PyPI package and pmacct's ``nfacctd`` on one
capture of >= 1M IPFIX records (generated here, in a temporary directory),
pmacct's ``sfacctd`` on the sFlow capture, pytricia for longest-prefix match.
The export datagrams come from the tests' fake exporter (``tests/flowenc.py``:
test code, not part of the package), hence the repository root on the path.
Rates are per CPU-second of the process doing the work (nfacctd and sfacctd: their
processes together), so that the other tenants of a shared machine do not move
them; the UDP collector line is wall time. ``--records N`` changes the capture
size; ``--quick`` shrinks everything for a smoke run; ``--timed`` gives the records their
first and last packets' times (IPFIX flowStart/EndMilliseconds, NetFlow v9
FIRST/LAST_SWITCHED), as most routers' templates do.
"""

from __future__ import annotations

import argparse
import ipaddress
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

import routepilot.flows  # noqa: F401
from routepilot.config.models import ProviderConfig
from routepilot.flows.aggregate import Aggregator
from routepilot.flows.config import FlowsConfig
from routepilot.flows.lpm import PrefixTable
from routepilot.flows.pipeline import FlowPipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests import flowenc as encode  # noqa: E402


def line(name: str, value: float, unit: str, peer: str = "", ratio: float | None = None) -> None:
    extra = f"   {ratio:8.1f}x {peer}" if ratio is not None else ""
    shown = f"{value:>14,.2f}" if unit == "x" else f"{value:>14,.0f}"
    print(f"  {name:<44} {shown} {unit}{extra}", flush=True)


def bench_routepilot(
    datagrams: list[bytes], nrecords: int, label: str, table: PrefixTable | None = None
) -> float:
    providers = [
        ProviderConfig(name=f"isp{i}", asn=65001 + i, next_hops=[f"100.64.0.{i + 1}"],
                       capacity_mbps=10_000)
        for i in range(4)
    ]  # fmt: skip
    cfg = FlowsConfig()
    best = 0.0
    for _ in range(3):
        p = FlowPipeline(cfg, providers, table if table is not None else (), start=0.0)
        batch = cfg.batch_records
        t0 = time.process_time()
        for d in datagrams:
            p.feed(d, "192.0.2.1", 1.0)
            if p.decoder.buffered_records >= batch:
                p.process(1.0)
        p.process(1.0)
        p.process(11.0)
        elapsed = time.process_time() - t0
        assert sum(p.metrics.records.values()) == nrecords, p.metrics.as_dict()
        best = max(best, nrecords / elapsed)
    line(f"routepilot decode+aggregate ({label})", best, "records/s")
    return best


SENDER = r"""
import socket, struct, sys
port, path = int(sys.argv[1]), sys.argv[2]
data = open(path, "rb").read()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
pos = 0
while pos < len(data):
    n = struct.unpack_from(">H", data, pos)[0]
    s.sendto(data[pos + 2 : pos + 2 + n], ("127.0.0.1", port))
    pos += 2 + n
"""


def bench_collector(datagrams: list[bytes], nrecords: int, workdir: Path) -> None:
    """The UDP collector on loopback, fed by a sender process: syscalls included."""
    import asyncio

    from routepilot.flows.collector import FlowCollector

    path = workdir / "datagrams.bin"
    path.write_bytes(b"".join(len(d).to_bytes(2, "big") + d for d in datagrams))

    async def run() -> tuple[float, FlowPipeline]:
        cfg = FlowsConfig(listen_address="127.0.0.1", netflow_port=0, ipfix_port=0,
                          sflow_port=0, receive_buffer_bytes=256 * 2**20)  # fmt: skip
        pipeline = FlowPipeline(cfg, start=0.0)
        first: list[float] = []
        last = [0.0, 0.0]
        feed = pipeline.feed
        process = pipeline.process

        def timed_feed(data: bytes, exporter: str, now: float) -> None:
            if not first:
                first.extend((time.perf_counter(), time.process_time()))
            feed(data, exporter, now)

        def timed_process(now: float) -> int:
            n = process(now)
            if n:
                last[:] = [time.perf_counter(), time.process_time()]
            return n

        pipeline.feed = timed_feed  # type: ignore[method-assign]
        pipeline.process = timed_process  # type: ignore[method-assign]

        pipeline.feed = timed_feed  # type: ignore[method-assign]
        collector = FlowCollector(cfg, pipeline)
        await collector.start()
        sender = subprocess.Popen([sys.executable, "-c", SENDER, str(collector.ports[0]),
                                   str(path)])  # fmt: skip
        deadline = time.perf_counter() + 120
        m = pipeline.metrics
        while time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
            if pipeline.buffered_records:
                pipeline.process(1.0)
            if (
                sum(m.records.values()) + m.kernel_drops * 33 >= nrecords
                and sender.poll() is not None
            ):
                break
        elapsed = (last[0] - first[0], last[1] - first[1])
        sender.wait()
        await collector.stop()
        return elapsed, pipeline

    (wall, cpu), pipeline = asyncio.run(run())
    got = sum(pipeline.metrics.records.values())
    line("routepilot UDP collector on loopback (recvmsg incl.)", got / cpu, "records/s")
    print(f"    ({got / wall:,.0f} records/s of wall time, the machine being shared)")
    print(f"    ({got:,} of {nrecords:,} records, {pipeline.metrics.kernel_drops:,} datagrams "
          "dropped by the kernel, sender on the other core)")  # fmt: skip


SFLOW_PER_DATAGRAM = 8


def sflow_datagrams(nsamples: int) -> list[bytes]:
    """Flow samples of VLAN-tagged Ethernet frames to 256 /24s, as a switch sends them."""
    frames = [encode.ethernet_ipv4(0xC6120000 + (i << 8) + 1, vlan=10) for i in range(256)]
    per = SFLOW_PER_DATAGRAM
    return [
        encode.sflow_datagram(0x64400001, seq=i, samples=[
            encode.sflow_flow_sample(1024, 1 + j % 4, [(1, encode.sflow_raw_header(
                frames[(i + j) % 256], 1518))], seq=i * per + j) for j in range(per)])
        for i in range(nsamples // per)
    ]  # fmt: skip


def bench_sflow(datagrams: list[bytes]) -> float:
    """sFlow: headers read as datagrams arrive, samples decoded in bulk per batch."""
    nsamples = len(datagrams) * SFLOW_PER_DATAGRAM
    cfg = FlowsConfig()
    best = 0.0
    for _ in range(3):
        p = FlowPipeline(cfg, start=0.0)
        t0 = time.process_time()
        for d in datagrams:
            p.feed(d, "192.0.2.2", 1.0)
            if p.decoder.buffered_records >= cfg.batch_records:
                p.process(1.0)
        p.process(1.0)
        elapsed = time.process_time() - t0
        assert p.metrics.records["sflow"] == nsamples, p.metrics.as_dict()
        best = max(best, nsamples / elapsed)
    line(f"routepilot sFlow decode+aggregate ({SFLOW_PER_DATAGRAM} samples/datagram)", best,
         "samples/s")  # fmt: skip
    return best


def bench_netflow_package(datagrams: list[bytes], limit: int) -> float:
    import netflow

    templates: dict = {"netflow": {}, "ipfix": {}}
    totals: dict[tuple[str, int], int] = {}
    n = 0
    t0 = time.process_time()
    for d in datagrams:
        packet = netflow.parse_packet(d, templates)
        for flow in packet.flows:
            data = flow.data
            dst = data["destinationIPv4Address"]
            key = (dst.rsplit(".", 1)[0] if isinstance(dst, str) else dst >> 8,
                   data["egressInterface"])  # fmt: skip
            totals[key] = totals.get(key, 0) + data["octetDeltaCount"]
            n += 1
        if n >= limit:
            break
    rate = n / (time.process_time() - t0)
    line(f"netflow package parse+aggregate ({n:,} records)", rate, "records/s")
    return rate


def bench_sfacctd(datagrams: list[bytes], workdir: Path) -> float | None:
    """sfacctd's marginal rate on the sFlow capture, measured as nfacctd's."""
    if shutil.which("sfacctd") is None:
        print("  sfacctd not installed: skipped")
        return None
    tenth = len(datagrams) // 10
    small = _pmacct_run("sfacctd", datagrams[:tenth], workdir, "sflow-small", 6343)
    full = _pmacct_run("sfacctd", datagrams, workdir, "sflow-full", 6343)
    if small is None or full is None:
        return None
    (t_small, _), (t_full, _) = small, full
    if t_full - t_small < 0.2:
        print(f"  sfacctd: {t_full:.2f} s CPU for all, {t_small:.2f} s for a tenth: too little "
              "work to measure")  # fmt: skip
        return None
    rate = (len(datagrams) - tenth) * SFLOW_PER_DATAGRAM / (t_full - t_small)
    line("sfacctd pcap_savefile, print plugin (marginal)", rate, "samples/s")
    return rate


def bench_nfacctd(datagrams: list[bytes], records: np.ndarray, workdir: Path) -> float | None:
    """nfacctd's marginal rate: a full run minus a run on a tenth, to cancel start and stop."""
    if shutil.which("nfacctd") is None:
        print("  nfacctd not installed: skipped")
        return None
    tenth = len(datagrams) // 10
    per = len(records) / len(datagrams)
    small = _pmacct_run("nfacctd", datagrams[:tenth], workdir, "small", 2055)
    full = _pmacct_run("nfacctd", datagrams, workdir, "full", 2055)
    if small is None or full is None:
        return None
    (t_small, _), (t_full, p_full) = small, full
    sent = int(records["ie2"].sum())
    if t_full - t_small < 0.2:
        print(f"  nfacctd: {t_full:.2f} s CPU for all, {t_small:.2f} s for a tenth: its start and "
              "stop outweigh the work at this size (use more --records)")  # fmt: skip
        return None
    rate = (len(datagrams) - tenth) * per / max(t_full - t_small, 1e-9)
    line("nfacctd pcap_savefile, print plugin (marginal)", rate, "records/s")
    print(f"    (nfacctd CPU time {t_full:.2f} s for all, {t_small:.2f} s for a tenth; "
          f"packets counted {p_full:,} of {sent:,})")  # fmt: skip
    return rate


def _pmacct_run(daemon: str, datagrams: list[bytes], workdir: Path, tag: str,
                port: int) -> tuple[float, int] | None:  # fmt: skip
    pcap = workdir / f"{tag}.pcap"
    encode.write_pcap(str(pcap), datagrams, dst_port=port)
    out = workdir / f"{daemon}-{tag}.out"
    conf = workdir / f"{daemon}-{tag}.conf"
    # Aggregated per destination /24 (a networks file, as routepilot's prefixes) and output
    # interface, like routepilot's (prefix, provider); big pipes so that the plugin keeps up.
    nets = workdir / "networks.lst"
    nets.write_text("".join(f"198.{18 + i // 256}.{i % 256}.0/24\n" for i in range(512)))
    conf.write_text(
        f"daemonize: false\npcap_savefile: {pcap}\nplugins: print\n"
        f"aggregate: dst_net, out_iface\nnetworks_file: {nets}\n{daemon}_net: file\n"
        f"print_output: csv\nprint_output_file: {out}\nprint_refresh_time: 3600\n"
        "plugin_buffer_size: 102400\nplugin_pipe_size: 1024000000\nlogfile: /dev/null\n"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([daemon, "-f", str(conf)], capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if proc.returncode != 0 or not out.exists():
        print(f"  {daemon} failed ({proc.returncode}): {proc.stderr[-300:]}")
        return None
    rows = out.read_text().splitlines()[1:]
    packets = sum(int(r.split(",")[-2]) for r in rows if r.count(",") >= 3)
    return elapsed, packets


def random_table(n: int, rng: np.random.Generator) -> list[ipaddress.IPv4Network]:
    """A table shaped like the internet's: mostly /24, then /16-/23, a few longer."""
    shares = [0.6, 0.08, 0.1, 0.06, 0.05, 0.03, 0.02, 0.02, 0.02, 0.01, 0.01]
    lengths = rng.choice([24, 23, 22, 21, 20, 19, 18, 16, 25, 28, 32], size=n, p=shares).tolist()
    addrs = rng.integers(1 << 24, 224 << 24, size=n, dtype=np.uint64).tolist()
    nets = {
        (a & ~((1 << (32 - ln)) - 1) & 0xFFFFFFFF, ln) for a, ln in zip(addrs, lengths, strict=True)
    }
    return [ipaddress.IPv4Network(x) for x in nets]


def bench_lpm(nets: list, table: PrefixTable, build: float, nlookups: int,
              rng: np.random.Generator) -> None:  # fmt: skip
    print(f"  LPM table: {len(table):,} IPv4 prefixes built in {build:.2f} s, "
          f"{table.nbytes / 2**20:.0f} MiB")  # fmt: skip
    # Half the lookups inside known prefixes, half anywhere.
    inside = np.array([int(n.network_address) for n in nets], dtype=np.uint64)
    addrs = np.concatenate([
        rng.choice(inside, nlookups // 2) + rng.integers(0, 256, nlookups // 2, dtype=np.uint64),
        rng.integers(0, 1 << 32, nlookups - nlookups // 2, dtype=np.uint64),
    ]).astype(np.uint32)  # fmt: skip
    rng.shuffle(addrs)
    best = 0.0
    for _ in range(3):
        t0 = time.process_time()
        for start in range(0, len(addrs), 1 << 16):
            table.lookup4(addrs[start : start + (1 << 16)])
        best = max(best, len(addrs) / (time.process_time() - t0))
    peer = bench_pytricia(nets, addrs[:200_000])
    line("routepilot LPM, batches of 65536", best, "lookups/s", "pytricia",
         best / peer if peer else None)  # fmt: skip
    v6 = [ipaddress.IPv6Network((((0x20010DB8 << 32) | (int(x) << 16)) << 64, 48)) for x in
          rng.choice(1 << 16, min(len(nets), 50_000), replace=False)]  # fmt: skip
    t6 = PrefixTable(v6)
    uppers = rng.choice(t6.net6, nlookups // 4) | rng.integers(
        0, 1 << 16, nlookups // 4, dtype=np.uint64
    )
    t0 = time.process_time()
    for start in range(0, len(uppers), 1 << 16):
        t6.lookup6(uppers[start : start + (1 << 16)])
    line(f"routepilot IPv6 LPM ({len(t6):,} /48s)", len(uppers) / (time.process_time() - t0),
         "lookups/s")  # fmt: skip


def bench_pytricia(nets: list[ipaddress.IPv4Network], addrs: np.ndarray) -> float | None:
    try:
        import pytricia
    except ImportError:
        print("  pytricia not installed: skipped")
        return None
    pyt = pytricia.PyTricia(32)
    for i, n in enumerate(nets):
        pyt.insert(str(n), i)
    texts = [str(ipaddress.IPv4Address(int(a))) for a in addrs]
    t0 = time.process_time()
    get = pyt.get
    for t in texts:
        get(t)
    rate = len(texts) / (time.process_time() - t0)
    line("pytricia, one get() per address", rate, "lookups/s")
    return rate


def bench_memory(nprefixes: int, rng: np.random.Generator) -> None:
    """Aggregation state for ``nprefixes`` distinct destination prefixes, 4 providers."""
    agg = Aggregator(("a", "b", "c", "d"), window_s=10, smoothing_s=60, max_keys=nprefixes * 4,
                     billing_samples=8928, rollup_top_n=10000, start=0.0)  # fmt: skip
    tracemalloc.start()
    codes_all = rng.permutation(nprefixes).astype(np.uint64)
    for start in range(0, nprefixes, 1 << 16):
        codes = codes_all[start : start + (1 << 16)]
        slots = rng.integers(0, 4, len(codes))
        agg.add(codes, slots, np.full(len(codes), 1500.0), np.ones(len(codes)))
    agg.advance(10.0, str)
    for start in range(0, nprefixes, 1 << 16):  # a second window: smoothed + current state
        codes = codes_all[start : start + (1 << 16)]
        agg.add(codes, rng.integers(0, 4, len(codes)), np.full(len(codes), 1500.0),
                np.ones(len(codes)))  # fmt: skip
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    keys = len(agg.smooth) + len(agg.window) + len(agg.minute)
    print(f"  aggregation of {nprefixes:,} prefixes ({keys:,} keys over 3 tables): "
          f"{current / 2**20:.0f} MiB held, {peak / 2**20:.0f} MiB peak")  # fmt: skip


def with_times(records: np.ndarray, ipfix: bool) -> tuple[np.ndarray, tuple]:
    """The records with time fields added (flows of up to a minute, ending in the last
    10 s), and their template's fields."""
    extra = ((152, 8), (153, 8)) if ipfix else ((22, 4), (21, 4))
    fields = (*encode.IPV4_FIELDS, *extra)
    out = np.zeros(len(records), dtype=encode.record_dtype(fields))
    for name in records.dtype.names or ():
        out[name] = records[name]
    rng = np.random.default_rng(3)
    end = 3_600_000 - rng.integers(0, 10_000, len(records))
    start = end - rng.integers(0, 60_000, len(records))
    base = 1_795_000_000_000 if ipfix else 0
    out[f"ie{extra[0][0]}"], out[f"ie{extra[1][0]}"] = base + start, base + end
    return out, fields


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--timed", action="store_true")
    args = ap.parse_args()
    n = 50_000 if args.quick else args.records
    rng = np.random.default_rng(7)
    print(f"flows benchmark: {n:,} records{' with times' if args.timed else ''}, 1 core")
    records = encode.synthetic_records(n, prefixes=20_000)
    if args.timed:
        ipfix = list(encode.ipfix_stream(*with_times(records, True)))
        v9 = list(encode.v9_stream(*with_times(records, False)))
    else:
        ipfix = list(encode.ipfix_stream(records, encode.IPV4_FIELDS))
        v9 = list(encode.v9_stream(records, encode.IPV4_FIELDS))
    ours = bench_routepilot(ipfix, n, f"IPFIX, {len(ipfix):,} datagrams")
    bench_routepilot(v9, n, "NetFlow v9")
    sflow = sflow_datagrams(40_000 if args.quick else 400_000)
    sflow_rate = bench_sflow(sflow)
    line("  ratio sFlow samples/s / IPFIX records/s", sflow_rate / ours, "x")
    peer = bench_netflow_package(ipfix, min(n, 30_000))
    line("  ratio routepilot / netflow package", ours / peer, "x")
    line("  ratio routepilot sFlow / netflow package (IPFIX)", sflow_rate / peer, "x")
    with tempfile.TemporaryDirectory(prefix="rpbench-") as tmp:
        bench_collector(ipfix, n, Path(tmp))
        nfacctd = bench_nfacctd(ipfix, records, Path(tmp))
        if nfacctd:
            line("  ratio routepilot / nfacctd", ours / nfacctd, "x")
        sfacctd = bench_sfacctd(sflow, Path(tmp))
        if sfacctd:
            line("  ratio routepilot sFlow / sfacctd", sflow_rate / sfacctd, "x")
    nets = random_table(20_000 if args.quick else 1_000_000, rng)
    nets += [ipaddress.IPv4Network(f"198.{18 + i // 256}.{i % 256}.0/24") for i in range(512)]
    t0 = time.perf_counter()
    table = PrefixTable(nets)
    build = time.perf_counter() - t0
    bench_routepilot(ipfix, n, f"IPFIX, LPM on {len(table):,} prefixes", table)
    bench_lpm(nets, table, build, 200_000 if args.quick else 4_000_000, rng)
    bench_memory(20_000 if args.quick else 1_000_000, rng)


if __name__ == "__main__":
    sys.exit(main())

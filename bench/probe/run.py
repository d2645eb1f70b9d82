"""Benchmark: routepilot's prober beside fping, same targets, same namespaces (root).

Two providers on the probe testbed (or, with ``--lab``, the routepilot lab):
provider 1 reaches the bulk targets with no added delay, provider 2 reaches a
small set of targets through a ``--delay-ms`` NFQUEUE delay. fping runs first
(the reference, on the same targets from the same source addresses), then
routepilot's prober twice while a thread of this process does other
pure-Python work (``--load`` of a core, holding the GIL, as decoding and
deciding would): in its worker process (the figures in the table) and inside
this loaded process.

Printed, for each tool: sustained probe rate, the prober's CPU and probes per
CPU-second, self-inflicted loss on the undelayed paths (the path loses
nothing), RTT error p50/p99 against the configured delay on both paths (0 ms and
``--delay-ms``; the delayed figure also holds the delayer's own error, the same
for both tools); then the ratios routepilot / fping. For routepilot also: how
late each answer was read after the kernel stamped it, the error user-space
timestamps would have added.

    python bench/probe/run.py [--seconds 6] [--rate 25000] [--load 0.3] [--lab]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

# The probe bed is test code (tests/fixtures/netns.py): reach it from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fixtures.netns import ProbeBed as Testbed  # noqa: E402
from tests.fixtures.netns import destination, netns, prefix, source4, source6  # noqa: E402

from routepilot.probe.component import Prober  # noqa: E402
from routepilot.probe.config import ProbeConfig  # noqa: E402
from routepilot.probe.metrics import READ_DELAY_BOUNDS_NS  # noqa: E402
from routepilot.probe.sockets import Steering  # noqa: E402
from routepilot.probe.worker import ProberProcess  # noqa: E402


def _hq(counts: list[int], q: float) -> str:
    """The read-delay histogram bucket holding quantile ``q``."""
    total = sum(counts)
    seen = 0
    for bound, c in zip((*READ_DELAY_BOUNDS_NS, math.inf), counts, strict=True):
        seen += c
        if total and seen >= q * total:
            return "inf" if bound == math.inf else f"{bound / 1e6:g} ms"
    return "-"


def _q(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


def run_fping(tb: Testbed, bulk: list[str], slow: list[str], seconds: float, rate: float, delay):
    period_bulk = max(1, round(1000 * len(bulk) / rate))
    count_bulk = max(1, int(seconds * 1000 / period_bulk))
    # The delayed targets at the rate routepilot's one delayed path is probed at (a train of
    # 3 per cycle of len(bulk) / rate seconds), so that both tools are asked the same rate.
    period_slow = max(1, round(1000 * len(slow) * len(bulk) / (3 * rate)))
    count_slow = max(1, int(seconds * 1000 / period_slow))

    def cmd(src: str, count: int, period: int, targets: list[str]) -> list[str]:
        return [
            "ip",
            "netns",
            "exec",
            tb.p,
            "fping",
            "-S",
            src,
            "-C",
            str(count),
            "-p",
            str(period),
            "-i",
            "0",
            "-t",
            "1000",
            "-q",
            *targets,
        ]

    # fping numbers probes with 16 bits per process (targets x count must stay under 65536),
    # so the bulk targets are split over as many fping processes as that needs.
    chunks = max(1, math.ceil(len(bulk) * count_bulk / 60000))
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    size = math.ceil(len(bulk) / chunks)
    t0 = time.monotonic()
    procs = [
        subprocess.Popen(
            cmd(source4(1), count_bulk, period_bulk, bulk[i : i + size]),
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        for i in range(0, len(bulk), size)
    ]
    b = subprocess.Popen(
        cmd(source4(2), count_slow, period_slow, slow),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    out_a = "".join(p.communicate()[1] for p in procs)
    elapsed = time.monotonic() - t0
    out_b = b.communicate()[1]
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) / elapsed
    user = (ru1.ru_utime - ru0.ru_utime) / elapsed
    wakes = (ru1.ru_nvcsw - ru0.ru_nvcsw) / elapsed

    def parse(text: str) -> tuple[list[float], int, int]:
        rtts, sent, lost = [], 0, 0
        for line in text.splitlines():
            if " : " not in line:
                continue
            for v in line.split(" : ", 1)[1].split():
                sent += 1
                if v == "-":
                    lost += 1
                else:
                    rtts.append(float(v))
        return rtts, sent, lost

    rtt_a, sent_a, lost_a = parse(out_a)
    rtt_b, _, _ = parse(out_b)
    return {
        "rate": (sent_a + count_slow * len(slow)) / elapsed,
        "loss": lost_a / sent_a if sent_a else math.nan,
        "err0": rtt_a,
        "errd": [abs(r - delay) for r in rtt_b],
        "late": [],
        "cpu": cpu,
        "user": user,
        "wakes": wakes,
    }


def _load(duty: float, stop: threading.Event, used: list[float]) -> None:
    """Pure-Python work holding the GIL for ``duty`` of the time, in 5 ms slices."""
    while not stop.is_set():
        used[0] = time.thread_time()
        t = time.perf_counter()
        while time.perf_counter() - t < 0.005 * duty:
            sum(i * i for i in range(100))
        time.sleep(0.005 * (1 - duty))


async def run_routepilot(tb, bulk, slow, delayed_k, seconds, rate, duty, delay, isolated):
    n_bulk = len(bulk) // 3
    # The bulk paths ask for ``rate`` probes/s, as fping is asked: each path's cycle (a train
    # of 3, 2 ms apart, then the interval) is as long as fping's period per target. The cap
    # sits 10% above, so that the jittered intervals' bursts do not meet it.
    spacing = 0.002
    interval = max(0.005, len(bulk) / rate - 2 * spacing)
    cfg = ProbeConfig(
        enabled=True,
        max_rate=1.1 * rate,
        per_target_rate=1000,
        per_target_burst=100,
        interval_s=interval,
        exit_interval_s=interval,
        alternative_interval_s=interval,
        train_size=3,
        train_spacing_s=spacing,
        timeout_s=1.0,
        targets_per_prefix=len(slow),
        targets=bulk + slow,
        window_s=600,
    )
    with netns(tb.p):
        pr = (ProberProcess if isolated else Prober)(cfg, tb.providers())
        await pr.start()
    pr.set_paths([(prefix(k), "isp1", 0) for k in range(n_bulk)] + [(prefix(delayed_k), "isp2", 0)])
    stop = threading.Event()
    load_cpu = [0.0]
    loader = threading.Thread(target=_load, args=(duty, stop, load_cpu), daemon=True)
    loader.start()
    # The prober's own CPU: the worker process, or this process less the load thread.
    pids = [pr._proc.pid] if isolated else [os.getpid()]
    try:
        await asyncio.sleep(2.5)  # targets verified, rates settled
        m = pr.refresh_metrics()
        before = pr.recent_rtts()
        t0, cpu0, lcpu0 = time.monotonic(), _cpu(pids), load_cpu[0]
        user0, wakes0 = _cpu(pids, 12), _wakes(pids)
        sent0, lsent0 = m.total("sent"), m.sent["isp1", "icmp"]
        late0 = list(m.read_delay_counts)
        await asyncio.sleep(cfg.timeout_s)
        lost0 = pr.refresh_metrics().lost["isp1", "icmp"]
        await asyncio.sleep(seconds - cfg.timeout_s)
        m = pr.refresh_metrics()
        t1, cpu1, lcpu1 = time.monotonic(), _cpu(pids), load_cpu[0]
        user1, wakes1 = _cpu(pids, 12), _wakes(pids)
        if isolated:
            lcpu0 = lcpu1 = 0.0
        sent1, lsent1 = m.total("sent"), m.sent["isp1", "icmp"]
        late = [b - a for a, b in zip(late0, m.read_delay_counts, strict=True)]
        await asyncio.sleep(cfg.timeout_s)
        m = pr.refresh_metrics()
        lost1 = m.lost["isp1", "icmp"]
        after = pr.recent_rtts()
    finally:
        stop.set()
        await pr.stop()
    err0: list[float] = []
    errd: list[float] = []
    for key, values in after.items():
        new = [v for v in values[len(before.get(key, [])) :] if v == v]
        if key[1] == "isp2":
            errd += [abs(v - delay) for v in new]
        else:
            err0 += new
    return {
        "rate": (sent1 - sent0) / (t1 - t0),
        "loss": (lost1 - lost0) / max(1, lsent1 - lsent0),
        "err0": err0,
        "errd": errd,
        "late": late,
        "unmatched": m.total("unmatched"),
        "fallbacks": m.user_stamp_fallbacks,
        "cpu": (cpu1 - cpu0 - (lcpu1 - lcpu0)) / (t1 - t0),
        "user": (user1 - user0 - (lcpu1 - lcpu0)) / (t1 - t0),
        "wakes": (wakes1 - wakes0) / (t1 - t0),
    }


def _cpu(pids: list[int], fields_: int = 13) -> float:
    """CPU time (seconds) of these processes, this one or the worker: user + system, or
    user alone with ``fields_=12`` (the load thread's time is all user time)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(f) for f in fields[11:fields_])
    return total / os.sysconf("SC_CLK_TCK")


def _wakes(pids: list[int]) -> int:
    """Voluntary context switches of these processes' threads: how often they slept and
    were woken (each wait for a socket or a timer that blocked)."""
    total = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
    return total


class LabEnv:
    """The routepilot lab as the bench's network: probes leave ctl by source address, the edge
    policy-routes them to the provider, BIRD routes them on to the AnyIP internet."""

    def __init__(self, prefixes: int) -> None:
        from routepilot.lab.core import Lab
        from routepilot.lab.spec import LabSpec, ProviderSpec

        spec = LabSpec(
            name="rplabb",
            providers=[
                ProviderSpec(name="isp1", asn=65001, capacity_mbps=1000),
                ProviderSpec(name="isp2", asn=65002, capacity_mbps=1000),
            ],
            prefixes=prefixes,
            prefixes_v6=1,
        )
        self.lab = Lab(spec)
        self.p = self.lab.ns("ctl")

    def __enter__(self) -> LabEnv:
        if self.lab.is_up():
            self.lab.down()
        self.lab.up(wait_s=120)
        return self

    def __exit__(self, *exc: object) -> None:
        self.lab.down()

    def providers(self) -> list[tuple[str, Steering]]:
        return [(f"isp{i}", Steering(source=source4(i), source6=source6(i))) for i in (1, 2)]

    def delay(self, i: int, ms: float, prefixes: tuple[str, ...]) -> None:
        self.lab.impair(f"isp{i}", list(prefixes), delay_ms=ms)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument(
        "--rate",
        type=float,
        default=25000.0,
        help="probes/s asked of both tools on the bulk targets (routepilot's cap: 10%% above)",
    )
    ap.add_argument("--targets", type=int, default=1200, help="bulk targets (3 per /24)")
    ap.add_argument("--load", type=float, default=0.3, help="share of a core the other work takes")
    ap.add_argument("--delay-ms", type=float, default=20.0)
    ap.add_argument(
        "--lab",
        action="store_true",
        help="run on the routepilot lab (BIRD edge and providers, AnyIP internet) instead of "
        "the two-namespace probe testbed",
    )
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/probe: needs root (namespaces, raw sockets)", file=sys.stderr)
        return 2
    n_bulk = args.targets // 3
    delayed_k = n_bulk  # the prefix after the bulk ones
    bulk = [destination(k, h) for k in range(n_bulk) for h in (1, 2, 3)]
    slow = [destination(delayed_k, h) for h in range(1, 21)]
    with LabEnv(n_bulk + 1) if args.lab else Testbed("bench", providers=2) as tb:
        tb.delay(2, args.delay_ms, prefixes=(prefix(delayed_k),))
        fp = run_fping(tb, bulk, slow, args.seconds, args.rate, args.delay_ms)
        rp = asyncio.run(
            run_routepilot(
                tb, bulk, slow, delayed_k, args.seconds, args.rate, args.load, args.delay_ms, True
            )
        )
        rp_in = asyncio.run(
            run_routepilot(
                tb, bulk, slow, delayed_k, args.seconds, args.rate, args.load, args.delay_ms, False
            )
        )
    print(
        f"bench/probe ({'lab' if args.lab else 'probe testbed'}): "
        f"{len(bulk)} targets via isp1 (0 ms), {len(slow)} via isp2 "
        f"({args.delay_ms:g} ms); routepilot loaded by {args.load:.0%} of a core of other work"
    )
    print("routepilot runs its prober in a worker process (the default below) and, for")
    print("comparison, inside the loaded process itself.")
    print(f"{'':26}{'routepilot':>12}{'fping':>12}{'ratio':>9}")

    def row(name: str, a: float, b: float, fmt: str = "{:.0f}", ratio: bool = True) -> None:
        r = a / b if ratio and b and not math.isnan(b) else math.nan
        rs = "" if math.isnan(r) else f"{r:.2f}"
        print(f"{name:26}{fmt.format(a):>12}{fmt.format(b):>12}{rs:>9}")

    row("probes/s", rp["rate"], fp["rate"])
    row("prober CPU, cores", rp["cpu"], fp["cpu"], "{:.2f}")
    row("probes per CPU-second", rp["rate"] / rp["cpu"], fp["rate"] / fp["cpu"])
    us = 1e6
    row(
        "user CPU us per probe",
        us * rp["user"] / rp["rate"],
        us * fp["user"] / fp["rate"],
        "{:.1f}",
    )
    sys_rp, sys_fp = (r["cpu"] - r["user"] for r in (rp, fp))
    row("system CPU us per probe", us * sys_rp / rp["rate"], us * sys_fp / fp["rate"], "{:.1f}")
    row(
        "wake-ups per 1,000 probes",
        1e3 * rp["wakes"] / rp["rate"],
        1e3 * fp["wakes"] / fp["rate"],
        "{:.0f}",
    )
    row("self-inflicted loss %", 100 * rp["loss"], 100 * fp["loss"], "{:.3f}", ratio=False)
    for label, key in (("0 ms path", "err0"), (f"{args.delay_ms:g} ms path", "errd")):
        for q in (50, 99):
            row(f"RTT error p{q} {label} ms", _q(rp[key], q), _q(fp[key], q), "{:.4f}")
    for name, r in (("in-process", rp_in), ("worker process", rp)):
        print(
            f"routepilot {name}: {r['rate']:.0f} probes/s, cpu {r['cpu']:.2f} core, answers "
            f"read <= {_hq(r['late'], 0.5)} (p50) / <= {_hq(r['late'], 0.99)} (p99) after the "
            f"kernel stamped them (what user-space stamps would add), unmatched "
            f"{r['unmatched']}, user-stamp fallbacks {r['fallbacks']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

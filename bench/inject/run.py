"""Injection: a 10k-prefix change, from decision to BIRD's table and kernel FIB.

A real BIRD 2 (the edge router) in a namespace of its own, a real ExaBGP started
by routepilot. The decision is ``Injector.set_desired`` with 10,000 prefixes
(/29s of 198.18.0.0/15) moving to one provider; the clock stops when BIRD holds
all of them from routepilot's session (``birdc show route count``) and again when
the namespace's kernel table has them all. Then everything is withdrawn and
timed the same way.

Three variants, each with its own ExaBGP, in the same run: routepilot as it runs
(batched ``announce attributes ... nlri`` commands, ExaBGP started through
routepilot's launcher, ``exabgp_launch.py``); the same commands to ExaBGP as
installed (routepilot before #18); and the peer, one ``announce route`` command
per prefix to ExaBGP as installed, as a straightforward integration does.
The same change also goes through routepilot's other backend, GoBGP (gobgpd
started by routepilot, routes streamed over its gRPC API), when gobgpd is
installed: both backends side by side.

Usage (root): python bench/inject/run.py [--prefixes N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from routepilot.config.models import InjectConfig, RouterConfig
from routepilot.inject.injector import DesiredRoute, Injector
from routepilot.rib.config import ExaBGPConfig, GoBGPConfig, SpeakerConfig
from routepilot.rib.speaker.exabgp import ExaBGPSpeaker
from routepilot.rib.speaker.gobgp import GoBGPSpeaker

ROUTER, LOCAL, ASN = "100.64.0.1", "100.64.0.2", 65000
NEXT_HOP = "100.64.1.1"
BIRD_CONF = f"""
router id {ROUTER};
protocol device {{ scan time 1; }}
protocol direct {{ ipv4; interface "rp0"; }}
protocol kernel {{ netlink rx buffer 8388608; ipv4 {{ export all; }}; }}
protocol bgp ctl {{
  local {ROUTER} as {ASN}; neighbor {LOCAL} as {ASN};
  error wait time 1, 3; connect retry time 1;
  ipv4 {{ import all; export none; }};
}}
"""


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=30).stdout


class Lab:
    """A namespace with BIRD (``config``, BIRD_CONF by default) and routepilot's address."""

    def __init__(self, config: str = BIRD_CONF) -> None:
        self.config = config
        self.netns = f"rpribtest-bench-{os.getpid()}"
        self.dir = Path(tempfile.mkdtemp(prefix="rpribtest-bench-"))
        self.socket = str(self.dir / "bird.ctl")
        self.bird: subprocess.Popen | None = None

    def up(self) -> None:
        ns = self.netns
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        for addr in (ROUTER, LOCAL):
            sh("ip", "-n", ns, "addr", "add", f"{addr}/32", "dev", "lo")
        sh("ip", "-n", ns, "link", "add", "rp0", "type", "veth", "peer", "name", "rp1")
        sh("ip", "-n", ns, "link", "set", "rp0", "up")
        sh("ip", "-n", ns, "link", "set", "rp1", "up")
        sh("ip", "-n", ns, "addr", "add", "100.64.1.254/24", "dev", "rp0")
        conf = self.dir / "bird.conf"
        conf.write_text(self.config)
        self.bird = subprocess.Popen(
            ["ip", "netns", "exec", ns, "bird", "-f", "-c", str(conf), "-s", self.socket],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while "ready" not in self.birdc("show", "status"):
            if time.monotonic() > deadline:
                raise RuntimeError("bird did not start")
            time.sleep(0.1)

    def down(self) -> None:
        if self.bird is not None:
            self.bird.send_signal(signal.SIGTERM)
            try:
                self.bird.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.bird.kill()
                self.bird.wait()
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True, timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)

    def birdc(self, *args: str) -> str:
        return subprocess.run(
            ["birdc", "-s", self.socket, *args], capture_output=True, text=True, timeout=30
        ).stdout

    def bird_count(self) -> int:
        out = self.birdc("show", "route", "protocol", "ctl", "count")
        m = re.search(r"(\d+) of \d+ routes", out)
        return int(m.group(1)) if m else 0

    def kernel_count(self) -> int:
        out = subprocess.run(
            # Unfiltered: "ip route show proto bird" stopped at 8192 routes here.
            ["ip", "-n", self.netns, "-4", "route", "show"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        return sum(
            1
            for line in out.splitlines()
            if line.startswith(("198.18.", "198.19.")) and "bird" in line
        )


async def until(predicate, timeout: float = 120.0) -> float:
    t0 = time.perf_counter()
    while not predicate():
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("timed out")
        await asyncio.sleep(0.02)
    return time.perf_counter()


async def measure(lab: Lab, n: int, send_announce, send_withdraw) -> dict[str, float]:
    t0 = time.perf_counter()
    await send_announce()
    sent = time.perf_counter()
    in_bird = await until(lambda: lab.bird_count() == n)
    in_fib = await until(lambda: lab.kernel_count() == n)
    t1 = time.perf_counter()
    await send_withdraw()
    gone_bird = await until(lambda: lab.bird_count() == 0)
    gone_fib = await until(lambda: lab.kernel_count() == 0)
    return {
        "send": sent - t0,
        "bird": in_bird - t0,
        "fib": in_fib - t0,
        "withdraw_bird": gone_bird - t1,
        "withdraw_fib": gone_fib - t1,
    }


def _stock_exabgp() -> list[str]:
    """ExaBGP as installed, without routepilot's launcher (as before #18)."""
    beside = Path(sys.executable).with_name("exabgp")
    return [str(beside)] if beside.exists() else ["exabgp"]


async def bench(
    lab: Lab, n: int, rounds: int, speed: float, batch: int
) -> dict[str, list[dict[str, float]]]:
    """routepilot as it runs (batched commands, ExaBGP through its launcher), then the same
    batched commands to ExaBGP as installed, then one command per route to ExaBGP as
    installed (the peer), ``rounds`` times each with an ExaBGP of its own."""
    results: dict[str, list[dict[str, float]]] = {}
    for name, command, per_line in (
        ("routepilot", [], False),
        ("stock ExaBGP, batched", _stock_exabgp(), False),
        ("stock ExaBGP, per line (peer)", _stock_exabgp(), True),
    ):
        results[name] = await _variant(lab, n, rounds, speed, batch, command, per_line)
    return results


async def _variant(
    lab: Lab, n: int, rounds: int, speed: float, batch: int, command: list[str], per_line: bool
) -> list[dict[str, float]]:
    router = RouterConfig(name="edge", address=ROUTER, asn=ASN, local_address=LOCAL)
    exabgp = ExaBGPConfig(
        wrapper=["ip", "netns", "exec", lab.netns], reactor_speed=speed, command=command
    )
    speaker = ExaBGPSpeaker(SpeakerConfig(batch_size=batch, exabgp=exabgp), [router])
    inject = InjectConfig(dry_run=False, max_routes=n)
    injector = Injector(inject, [("isp1", [NEXT_HOP])], speaker)
    net = ipaddress.ip_network("198.18.0.0/15")
    prefixes = [str(p) for _, p in zip(range(n), net.subnets(new_prefix=29), strict=False)]
    desired = [DesiredRoute(p, "isp1") for p in prefixes]
    communities = " ".join(inject.communities)

    async def batched_announce() -> None:
        await injector.set_desired(desired)

    async def batched_withdraw() -> None:
        await injector.set_desired([])

    async def per_line_announce() -> None:
        await speaker.send_raw(
            "\n".join(
                f"announce route {p} next-hop {NEXT_HOP} local-preference "
                f"{inject.local_preference} community [ {communities} ]"
                for p in prefixes
            )
        )

    async def per_line_withdraw() -> None:
        await speaker.send_raw(
            "\n".join(f"withdraw route {p} next-hop {NEXT_HOP}" for p in prefixes)
        )

    announce, withdraw = (
        (per_line_announce, per_line_withdraw) if per_line else (batched_announce, batched_withdraw)
    )
    results = []
    await speaker.start()
    try:
        await until(_established(lab), 60)
        for _ in range(rounds):
            results.append(await measure(lab, n, announce, withdraw))
    finally:
        await speaker.stop()
    return results


async def bench_gobgp(lab: Lab, n: int, rounds: int, batch: int) -> list[dict[str, float]]:
    """The batched change through the GoBGP backend."""
    router = RouterConfig(name="edge", address=ROUTER, asn=ASN, local_address=LOCAL)
    wrapper = ["ip", "netns", "exec", lab.netns]
    config = SpeakerConfig(backend="gobgp", batch_size=batch, gobgp=GoBGPConfig(wrapper=wrapper))
    speaker = GoBGPSpeaker(config, [router])
    injector = Injector(InjectConfig(dry_run=False, max_routes=n), [("isp1", [NEXT_HOP])], speaker)
    net = ipaddress.ip_network("198.18.0.0/15")
    prefixes = [str(p) for _, p in zip(range(n), net.subnets(new_prefix=29), strict=False)]
    desired = [DesiredRoute(p, "isp1") for p in prefixes]

    async def announce() -> None:
        await injector.set_desired(desired)

    async def withdraw() -> None:
        await injector.set_desired([])

    out = []
    await speaker.start()
    try:
        await until(_established(lab), 60)
        for _ in range(rounds):
            out.append(await measure(lab, n, announce, withdraw))
    finally:
        await speaker.stop()
    return out


def _established(lab: Lab):
    return lambda: "Established" in lab.birdc("show", "protocols", "ctl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefixes", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--reactor-speed", type=float, default=SpeakerConfig().exabgp.reactor_speed)
    parser.add_argument("--batch", type=int, default=SpeakerConfig().batch_size)
    args = parser.parse_args()
    if os.geteuid() != 0 or shutil.which("bird") is None:
        print("inject bench: skipped (needs root and bird2)")
        return
    lab = Lab()
    try:
        lab.up()
        results = asyncio.run(
            bench(lab, args.prefixes, args.rounds, args.reactor_speed, args.batch)
        )
        if shutil.which("gobgpd") is not None:
            # BIRD forgets the ExaBGP session's routes when it closes; then gobgpd's.
            results["gobgp"] = asyncio.run(bench_gobgp(lab, args.prefixes, args.rounds, args.batch))
    finally:
        lab.down()
    best = {k: {m: min(r[m] for r in v) for m in v[0]} for k, v in results.items()}
    print(
        f"inject: {args.prefixes} prefixes, decision -> BIRD -> kernel FIB (best of {args.rounds})"
    )
    for name, r in best.items():
        print(
            f"  {name}: sent {r['send']:.2f} s, in BIRD {r['bird']:.2f} s, "
            f"in FIB {r['fib']:.2f} s; withdraw: BIRD {r['withdraw_bird']:.2f} s, "
            f"FIB {r['withdraw_fib']:.2f} s"
        )
    worst = max(r["fib"] for r in results["routepilot"])
    print(f"  routepilot's slowest round to FIB: {worst:.2f} s")
    ours = best["routepilot"]
    for name, r in best.items():
        if name != "routepilot":
            print(
                f"  ratio {name} / routepilot: to FIB {r['fib'] / ours['fib']:.2f}x, "
                f"withdraw {r['withdraw_fib'] / ours['withdraw_fib']:.2f}x"
            )


if __name__ == "__main__":
    main()

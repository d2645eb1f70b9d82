"""A real BIRD 2 edge router in a namespace of its own, for the speaker tests.

One namespace (``rpribtest-<pid>-<n>``) holds BIRD on 100.64.0.1 and ExaBGP on
100.64.0.2 (both on its loopback), and a veth pair carrying the three providers'
subnets, 100.64.1.0/24 .. 100.64.3.0/24. BIRD has static routes for a few
198.18.x.0/24 through each provider's next-hop, with BGP attributes set so
that BGP's choice is known, and sends them all to routepilot with
``add paths tx``. Everything is torn down whatever the test does.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROUTER = "100.64.0.1"
LOCAL = "100.64.0.2"
ASN = 65000
PROVIDERS = [
    ("isp1", ["100.64.1.1", "2001:db8:f1::1"]),
    ("isp2", ["100.64.2.1", "2001:db8:f2::1"]),
    ("isp3", ["100.64.3.1", "2001:db8:f3::1"]),
]

# isp1: AS path length 2 for .1 .2 .3; isp2: length 1 for .1 .2; isp3: length 1
# but ORIGIN incomplete for .1 and LOCAL_PREF 150 for .3. BGP picks isp2 for .1
# and .2 (shorter path, then lower origin) and isp3 for .3 (local-pref).
# IPv6: 2001:db8:1::/48 from isp1 (length 2) and isp3 (length 1): isp3.
EXPECTED_BEST = {
    "198.18.1.0/24": "isp2",
    "198.18.2.0/24": "isp2",
    "198.18.3.0/24": "isp3",
    "2001:db8:1::/48": "isp3",
}
EXPECTED_PROVIDERS = {
    "198.18.1.0/24": {"isp1", "isp2", "isp3"},
    "198.18.2.0/24": {"isp1", "isp2"},
    "198.18.3.0/24": {"isp1", "isp3"},
    "2001:db8:1::/48": {"isp1", "isp3"},
}

BIRD_CONF = """
router id {router};
protocol device {{ scan time 1; }}
protocol direct {{ ipv4; ipv6; interface "rp0"; }}
protocol kernel {{ ipv4 {{ export all; }}; }}
protocol kernel {{ ipv6 {{ export all; }}; }}
protocol static isp1v6 {{
  ipv6 {{ preference 50; import filter {{ bgp_path.prepend(64501); bgp_path.prepend(64501);
    accept; }}; }};
  route 2001:db8:1::/48 via 2001:db8:f1::1;
}}
protocol static isp3v6 {{
  ipv6 {{ preference 50; import filter {{ bgp_path.prepend(64503); accept; }}; }};
  route 2001:db8:1::/48 via 2001:db8:f3::1;
}}
protocol static isp1 {{
  ipv4 {{ preference 50; import filter {{ bgp_path.prepend(64501); bgp_path.prepend(64501);
    accept; }}; }};
  route 198.18.1.0/24 via 100.64.1.1; route 198.18.2.0/24 via 100.64.1.1;
  route 198.18.3.0/24 via 100.64.1.1;
}}
protocol static isp2 {{
  ipv4 {{ preference 50; import filter {{ bgp_path.prepend(64502); accept; }}; }};
  route 198.18.1.0/24 via 100.64.2.1; route 198.18.2.0/24 via 100.64.2.1;
}}
protocol static isp3 {{
  ipv4 {{ preference 50; import filter {{ bgp_path.prepend(64503);
    if net = 198.18.1.0/24 then bgp_origin = ORIGIN_INCOMPLETE;
    if net = 198.18.3.0/24 then bgp_local_pref = 150;
    accept; }}; }};
  route 198.18.1.0/24 via 100.64.3.1; route 198.18.3.0/24 via 100.64.3.1;
}}
protocol bgp ctl {{
  local {router} as {asn};
  neighbor {local} as {asn};
  hold time 9;
  error wait time 1, 3;
  connect retry time 1;
  ipv4 {{ add paths tx; import all; export all; next hop keep; }};
  ipv6 {{ add paths tx; import all; export all; next hop keep; }};
}}
"""

_counter = itertools.count()


@dataclass
class Edge:
    """The BIRD edge router of one test."""

    netns: str
    socket: str

    def birdc(self, *args: str) -> str:
        return subprocess.run(
            ["birdc", "-s", self.socket, *args], capture_output=True, text=True, timeout=10
        ).stdout

    def routes_from_ctl(self) -> dict[str, str]:
        """Prefix -> gateway of the routes BIRD holds from routepilot's session."""
        out = self.birdc("show", "route", "protocol", "ctl")
        out += self.birdc("show", "route", "table", "master6", "protocol", "ctl")
        routes: dict[str, str] = {}
        prefix = None
        for line in out.splitlines():
            head = line.split()
            if head and "/" in head[0]:
                prefix = head[0]
            if "via" in head and prefix:
                routes[prefix] = head[head.index("via") + 1]
        return routes

    def kernel_route(self, prefix: str) -> str:
        return subprocess.run(
            ["ip", "-n", self.netns, "-6" if ":" in prefix else "-4", "route", "show", prefix],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()

    def session_established(self) -> bool:
        return "Established" in self.birdc("show", "protocols", "ctl")


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _start_bird(netns: str, workdir: Path, name: str, config: str) -> tuple[subprocess.Popen, Edge]:
    conf = workdir / f"{name}.conf"
    conf.write_text(config)
    socket = str(workdir / f"{name}.ctl")
    # -f: stay in the foreground, so the fixture owns (and reaps) the process.
    bird = subprocess.Popen(
        ["ip", "netns", "exec", netns, "bird", "-f", "-c", str(conf), "-s", socket],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    edge = Edge(netns, socket)
    wait_for(lambda: "ready" in edge.birdc("show", "status"), timeout=10)
    return bird, edge


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _namespace(netns: str, *addresses: str) -> None:
    _ip("netns", "add", netns)
    _ip("-n", netns, "link", "set", "lo", "up")
    for address in addresses:
        _ip("-n", netns, "addr", "add", f"{address}/32", "dev", "lo")
    _ip("-n", netns, "link", "add", "rp0", "type", "veth", "peer", "name", "rp1")
    _ip("-n", netns, "link", "set", "rp0", "up")
    _ip("-n", netns, "link", "set", "rp1", "up")
    for i in (1, 2, 3):
        _ip("-n", netns, "addr", "add", f"100.64.{i}.254/24", "dev", "rp0")
        _ip("-n", netns, "addr", "add", f"2001:db8:f{i}::254/64", "dev", "rp0", "nodad")


@pytest.fixture
def edge() -> Iterator[Edge]:
    if shutil.which("bird") is None:
        pytest.skip("bird2 is not installed")
    netns = f"rpribtest-{os.getpid()}-{next(_counter)}"
    workdir = Path(tempfile.mkdtemp(prefix="rpribtest-"))
    procs: list[subprocess.Popen] = []
    try:
        _namespace(netns, ROUTER, LOCAL)
        bird, edge = _start_bird(
            netns, workdir, "bird", BIRD_CONF.format(router=ROUTER, local=LOCAL, asn=ASN)
        )
        procs.append(bird)
        yield edge
    finally:
        _stop(procs)
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


ROUTER2 = "100.64.0.3"

# A second edge router with only 198.18.4.0/24: isp1 (length 1) and isp3 (2).
BIRD2_CONF = """
router id {router};
protocol device {{ scan time 1; }}
protocol direct {{ ipv4; interface "rp0"; }}
protocol static isp1 {{
  ipv4 {{ preference 50; import filter {{ bgp_path.prepend(64501); accept; }}; }};
  route 198.18.4.0/24 via 100.64.1.1;
}}
protocol static isp3 {{
  ipv4 {{ preference 50; import filter {{ bgp_path.prepend(64503); bgp_path.prepend(64503);
    accept; }}; }};
  route 198.18.4.0/24 via 100.64.3.1;
}}
protocol bgp ctl {{
  local {router} as {asn};
  neighbor {local} as {asn};
  strict bind yes;
  hold time 9;
  error wait time 1, 3;
  connect retry time 1;
  ipv4 {{ add paths tx; import all; export all; next hop keep; }};
}}
"""


@pytest.fixture
def two_edges() -> Iterator[tuple[Edge, Edge]]:
    """Two BIRD edge routers (100.64.0.1 with the kernel, 100.64.0.3 without) in one namespace."""
    if shutil.which("bird") is None:
        pytest.skip("bird2 is not installed")
    netns = f"rpribtest-{os.getpid()}-{next(_counter)}"
    workdir = Path(tempfile.mkdtemp(prefix="rpribtest-"))
    procs: list[subprocess.Popen] = []
    try:
        _namespace(netns, ROUTER, LOCAL, ROUTER2)
        # Both listen on port 179, so each binds its own address only.
        first = BIRD_CONF.format(router=ROUTER, local=LOCAL, asn=ASN).replace(
            "  hold time 9;", "  strict bind yes;\n  hold time 9;"
        )
        bird1, edge1 = _start_bird(netns, workdir, "bird1", first)
        procs.append(bird1)
        second = BIRD2_CONF.format(router=ROUTER2, local=LOCAL, asn=ASN)
        bird2, edge2 = _start_bird(netns, workdir, "bird2", second)
        procs.append(bird2)
        yield edge1, edge2
    finally:
        _stop(procs)
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def frr_edge():
    """FRR (zebra + bgpd) as the edge router, with three eBGP providers."""
    from .frr import FRR_DIR, FrrLab

    if not (FRR_DIR / "bgpd").exists():
        pytest.skip("frr is not installed")
    workdir = Path(tempfile.mkdtemp(prefix="rpribtest-frr-"))
    lab = FrrLab(f"{os.getpid()}-{next(_counter)}", workdir)
    try:
        edge = lab.up()
        wait_for(edge.providers_established, timeout=60)
        yield edge
    finally:
        lab.down()
        shutil.rmtree(workdir, ignore_errors=True)

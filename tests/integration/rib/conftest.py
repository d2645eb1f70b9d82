"""A real BIRD 2 edge router in a namespace of its own, for the speaker tests.

One namespace (from the shared ``namespaces`` fixture, tests/fixtures/netns.py)
holds BIRD on 100.64.0.1 and the speaker (ExaBGP or gobgpd, the ``backend``
fixture) on 100.64.0.2 (both on its loopback), and a
veth pair carrying the three providers' subnets, 100.64.1.0/24 .. 100.64.3.0/24.
BIRD has static routes for a few 198.18.x.0/24 through each provider's next-hop,
with BGP attributes set so that BGP's choice is known, and sends them all to
routepilot with ``add paths tx``. The fixture removes the namespace and BIRD
whatever the test does.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from dataclasses import dataclass

import pytest
from tests.fixtures.netns import Namespaces, wait_for

from routepilot.lab.netns import ip_batch
from routepilot.rib.config import ExaBGPConfig, GoBGPConfig, SpeakerConfig

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
  strict bind yes;
  hold time 9;
  error wait time 1, 3;
  connect delay time 1;
  connect retry time 1;
  ipv4 {{ add paths tx; import all; export all; next hop keep; }};
  ipv6 {{ add paths tx; import all; export all; next hop keep; }};
}}
"""

_counter = itertools.count()

BACKENDS = ["exabgp", "gobgp"]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """The speaker backend a test runs on: every speaker test runs on both."""
    if request.param == "gobgp" and shutil.which("gobgpd") is None:
        pytest.skip("gobgpd is not installed")
    return request.param


def speaker_config(backend: str, netns: str, listen: bool = True, **kwargs) -> SpeakerConfig:
    """The speaker's configuration for ``backend``, run inside ``netns``.

    ``listen``: gobgpd also accepts the router's connection (``gobgp.listen``), so a
    session comes up as soon as BIRD connects (within its 1-s connect delay and retry)
    instead of at gobgpd's own connect timer, 5 to 10 s after it starts or a session
    drops. BIRD binds its own address only (``strict bind``), leaving port 179 of
    LOCAL to gobgpd. FRR's bgpd listens on every address: its tests keep gobgpd's
    own connect (``listen=False``), so both ways are tested."""
    wrapper = ["ip", "netns", "exec", netns]
    return SpeakerConfig(
        backend=backend,
        exabgp=ExaBGPConfig(wrapper=wrapper),
        gobgp=GoBGPConfig(wrapper=wrapper, listen=listen),
        **kwargs,
    )


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


def _start_bird(nss: Namespaces, netns: str, name: str, config: str) -> Edge:
    conf = nss.workdir / f"{name}.conf"
    conf.write_text(config)
    socket = str(nss.workdir / f"{name}.ctl")
    # -f: stay in the foreground, so the fixture owns (and reaps) the process.
    nss.start(netns, "bird", "-f", "-c", str(conf), "-s", socket)
    edge = Edge(netns, socket)
    wait_for(lambda: "ready" in edge.birdc("show", "status"), timeout=10)
    return edge


def _namespace(nss: Namespaces, *addresses: str) -> str:
    netns = nss.add("rib")
    lines = [f"addr add {address}/32 dev lo" for address in addresses]
    lines += ["link add rp0 type veth peer name rp1", "link set rp0 up", "link set rp1 up"]
    for i in (1, 2, 3):
        lines += [
            f"addr add 100.64.{i}.254/24 dev rp0",
            f"-6 addr add 2001:db8:f{i}::254/64 dev rp0 nodad",
        ]
    ip_batch(netns, lines)
    return netns


@pytest.fixture
def edge(namespaces: Namespaces) -> Edge:
    if shutil.which("bird") is None:
        pytest.skip("bird2 is not installed")
    netns = _namespace(namespaces, ROUTER, LOCAL)
    return _start_bird(
        namespaces, netns, "bird", BIRD_CONF.format(router=ROUTER, local=LOCAL, asn=ASN)
    )


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
  connect delay time 1;
  connect retry time 1;
  ipv4 {{ add paths tx; import all; export all; next hop keep; }};
}}
"""


@pytest.fixture
def two_edges(namespaces: Namespaces) -> tuple[Edge, Edge]:
    """Two BIRD edge routers (100.64.0.1 with the kernel, 100.64.0.3 without) in one namespace."""
    if shutil.which("bird") is None:
        pytest.skip("bird2 is not installed")
    netns = _namespace(namespaces, ROUTER, LOCAL, ROUTER2)
    # Both listen on port 179, so each binds its own address only (BIRD_CONF's strict bind).
    first = BIRD_CONF.format(router=ROUTER, local=LOCAL, asn=ASN)
    edge1 = _start_bird(namespaces, netns, "bird1", first)
    second = BIRD2_CONF.format(router=ROUTER2, local=LOCAL, asn=ASN)
    edge2 = _start_bird(namespaces, netns, "bird2", second)
    return edge1, edge2


@pytest.fixture
def frr_edge(namespaces: Namespaces):
    """FRR (zebra + bgpd) as the edge router, with three eBGP providers."""
    from .frr import FRR_DIR, FrrLab

    if not (FRR_DIR / "bgpd").exists():
        pytest.skip("frr is not installed")
    lab = FrrLab(namespaces)
    try:
        edge = lab.up()
        wait_for(edge.providers_established, timeout=60)
        yield edge
    finally:
        lab.down()

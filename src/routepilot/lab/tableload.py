"""A whole table, tried as a user would: gobgpd holds it, routepilot's controller learns it.

:func:`load_table` starts the real controller (its speaker, ExaBGP or GoBGP; the
RIB; the decision loop; no flows, no probes) against a gobgpd that already holds a
table, and watches it from outside as it learns: paths held, the routes' state,
decision rounds run, alerts that an operator would get, and the memory of
routepilot and of its speaker. The integration test checks the invariants on a
small table; ``bench/rib/mrt.py`` takes the figures on a full one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from routepilot.alerts.manager import Alert, AlertManager
from routepilot.config import Config, load_text
from routepilot.lab.mrt import Peer
from routepilot.rib.speaker import make_speaker
from routepilot.run.view import DaemonView
from routepilot.run.wiring import build_controller, build_stages
from routepilot.store import AsyncStore, MemoryStore

ROUTER = "100.64.0.1"
LOCAL = "100.64.0.2"
EDGE = "100.64.0.4"
"""BIRD, an edge router that holds the table when routepilot starts (``lab.edgebird``),
fed by the gobgpd at :data:`ROUTER`."""
ASN = 65000
BMP_LISTEN = "127.0.0.1"
"""Where the station listens with ``route_source="bmp"`` (the controller then runs inside
the router's namespace, and the router's BMP connection comes from this address)."""
BMP_PORT = 11019


@dataclass
class Sample:
    t: float
    paths: int
    state: str
    decisions: int
    degraded: tuple[str, ...] = ()
    """The controller's degraded reasons (``/api/v1/status`` ``degraded``)."""
    rss_mib: float = 0.0
    """routepilot's resident memory then (its process; the speaker's is not in it)."""


@dataclass
class LoadResult:
    paths_expected: int
    session_up_s: float | None = None
    """Seconds from the controller's start to the session being up."""
    whole_s: float | None = None
    """Seconds from the start until every path was held."""
    synced_s: float | None = None
    """Seconds from the start until the routes counted as whole (no End-of-RIB here)."""
    first_decision_s: float | None = None
    paths_at_first_decision: int | None = None
    samples: list[Sample] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    peak_rss_mib: dict[str, float] = field(default_factory=dict)
    """Peak resident memory (VmHWM) of routepilot's process (``routepilot``), of its speaker
    (``speaker``) and of its BMP station's process (``bmp``, 0 without one)."""
    end_of_rib: int = 0
    paths: dict[str, list[dict]] = field(default_factory=dict)
    """Prefix -> the paths the RIB holds, as the API shows them."""


def config_for(
    peers: Sequence[Peer],
    netns: str,
    cycle_s: float = 0.5,
    backend: str = "exabgp",
    route_source: str = "addpath",
    first_path_wait: float | None = None,
    router: str = ROUTER,
) -> Config:
    """The controller's configuration: one edge router (gobgpd), one provider per peer,
    and routepilot's speaker ``backend`` (``exabgp`` or ``gobgp``) run inside ``netns``.
    ``route_source="bmp"``: the router's paths come from its BMP session to a station on
    :data:`BMP_LISTEN` port :data:`BMP_PORT` (the controller must run inside ``netns``).
    ``first_path_wait``: ``rib.sync_first_path_wait``, when not the default. ``router``:
    the edge router's address (gobgpd's by default; ``lab.edgebird``'s BIRD)."""
    providers = "".join(
        f"  - {{name: peer{i + 1}, asn: {p.asn}, next_hops: [{p.address}, "
        f"'2001:db8:ffff::{i + 1:x}'], capacity_mbps: 10000}}\n"
        for i, p in enumerate(peers)
    )
    bmp = f", route_source: bmp, bmp_address: {BMP_LISTEN}" if route_source == "bmp" else ""
    wait = "" if first_path_wait is None else f"sync_first_path_wait: {first_path_wait}, "
    text = (
        f"routers: [{{name: edge, address: {router}, asn: {ASN}, local_address: {LOCAL}{bmp}}}]\n"
        f"providers:\n{providers}"
        "flows: {enabled: false}\n"
        "inject: {dry_run: true}\n"
        f"controller: {{cycle_s: {cycle_s}, startup_grace_s: 0}}\n"
        # gobgpd, busy packing a full table on 2 shared cores, sends no keepalive for
        # longer than routepilot's default 9 s hold time: the session would drop.
        f"rib: {{{wait}speaker: {{backend: {backend}, hold_time: 90, "
        f"exabgp: {{wrapper: [ip, netns, exec, {netns}]}}, "
        f"gobgp: {{wrapper: [ip, netns, exec, {netns}]}}}}, "
        f"bmp: {{listen: {BMP_LISTEN}, port: {BMP_PORT}}}}}\n"
    )
    return load_text(text, Config)


async def load_table(
    peers: Sequence[Peer],
    paths: int,
    netns: str,
    timeout: float = 300.0,
    decisions_after: int = 2,
    show: Sequence[str] = (),
    backend: str = "exabgp",
    route_source: str = "addpath",
    started: Callable[[], None] | None = None,
    first_path_wait: float | None = None,
    watch: Callable[[Sample], None] | None = None,
    router: str = ROUTER,
) -> LoadResult:
    """Runs the controller until ``paths`` paths are held, the routes count as whole and
    ``decisions_after`` rounds ran; ``show`` names prefixes whose paths are returned.
    ``started`` is called once the controller is up (to point the router's BMP at it);
    ``watch`` with every sample taken (it must not block); ``router``: the address of the
    router that holds the table (gobgpd's by default)."""
    config = config_for(
        peers,
        netns,
        backend=backend,
        route_source=route_source,
        first_path_wait=first_path_wait,
        router=router,
    )
    speaker = make_speaker(config.rib.speaker, config.routers)
    stages = build_stages(config, store=AsyncStore(MemoryStore()), speaker=speaker)
    controller = build_controller(config, stages)
    result = LoadResult(paths)
    # Every observation may raise an alert: stricter than the daemon's watch.
    alerts = AlertManager(config.alerts.model_copy(update={"raise_after": 1}))
    await controller.start()
    view = DaemonView(controller, asyncio.get_running_loop(), config.model_dump(mode="json"))
    t0 = time.perf_counter()
    if started is not None:
        started()
    try:
        rib = controller.rib
        while time.perf_counter() - t0 < timeout:
            await asyncio.sleep(0.05)
            now = time.perf_counter() - t0
            state = controller.routes.state()
            decisions = controller.cycle_stats.count
            # As the daemon's alert watch sees it (Daemon._watch_alerts): the providers
            # judged on the tables' state their round's routes were read in.
            status, providers = view.alert_view()
            sample = Sample(
                now, rib.table.paths, state, decisions, tuple(status["degraded"]), _rss_mib()
            )
            result.samples.append(sample)
            result.alerts += alerts.observe(status, providers)
            if watch is not None:
                watch(sample)
            if result.session_up_s is None and rib.session_up.get("edge"):
                result.session_up_s = now
            if result.whole_s is None and rib.table.paths >= paths:
                result.whole_s = now
            if result.synced_s is None and state == "synced":
                result.synced_s = now
            if result.first_decision_s is None and decisions:
                result.first_decision_s = now
                result.paths_at_first_decision = rib.table.paths
            if decisions >= decisions_after:
                break
        result.peak_rss_mib = {
            "routepilot": _peak_mib([os.getpid()]),
            "speaker": _peak_mib(_tree(getattr(speaker, "pid", None))),
            # The BMP station's own process (rib.bmp.process), where it decodes: routepilot's
            # too, and not the speaker's (it was counted nowhere before).
            "bmp": _peak_mib(_tree(getattr(getattr(controller.bmp, "station", None), "pid", None))),
        }
        result.end_of_rib = rib.metrics.end_of_rib
        result.paths = {prefix: rib.paths(prefix) for prefix in show}
    finally:
        await controller.stop()
    return result


def _tree(pid: int | None) -> list[int]:
    """A process and its descendants (ExaBGP and the helper it runs; gobgpd)."""
    if pid is None:
        return []
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return out


_PAGE_MIB = os.sysconf("SC_PAGE_SIZE") / 2**20


def _rss_mib() -> float:
    """This process's resident memory now."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE_MIB


def _peak_mib(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


# A full table for the soak (bench/soak): every prefix from every provider, each
# with a path of its own, announced by the lab's provider routers (BIRD) as static
# routes, so that edge learns it over eBGP and hands it to routepilot with add-path.

SOAK_V4 = "240.0.0.0/4"
"""Class E: never routed on the internet; the lab's internet answers for it."""
SOAK_V6 = "2001:db8:8000::/33"
"""The upper half of the documentation prefix, minus the lab's links (2001:db8:ff00::/40)."""
SOAK_V6_LOCAL = tuple(f"2001:db8:{start:x}::/{length}" for start, length in
                      ((0x8000, 34), (0xC000, 35), (0xE000, 36), (0xF000, 37), (0xF800, 38),
                       (0xFC00, 39), (0xFE00, 40)))  # fmt: skip
"""SOAK_V6 without 2001:db8:ff00::/40, as the routes the lab's internet answers for (an
AnyIP route over the lab's links would take their addresses)."""
_LAB_LINKS_V6 = 0x20010DB8FF00 << 80
"""2001:db8:ff00::/40, where the lab's links are."""

# 240.0.0.0/4 holds 1,048,576 /24s, about as many as a full table's prefixes, so the
# IPv4 shares are a real table's (about 60% /24s). 2001:db8:8000::/33 holds only
# 32,768 /48s: the IPv6 side keeps /48 as its most common short length and puts the
# rest in /49-/64, which a real table filters but a RIB must hold all the same.
SOAK_V4_LENGTHS = {24: 600, 23: 90, 22: 110, 21: 45, 20: 40, 19: 28, 18: 14, 17: 8, 16: 20,
                   15: 2, 14: 2, 13: 1, 12: 1}  # fmt: skip
SOAK_V6_LENGTHS = {48: 120, 47: 10, 46: 15, 44: 40, 42: 6, 40: 30, 36: 6, 52: 150, 56: 400,
                   60: 80, 64: 140}  # fmt: skip


@dataclass
class SoakTable:
    """Prefixes (IPv4 then IPv6) and, per provider, each prefix's AS path before the
    provider's own AS (transits then the origin, the same origin through every provider)."""

    v4: list[str]
    v6: list[str]
    paths: list[list[tuple[int, ...]]]
    """paths[provider][k]: the AS path of prefix k (v4 then v6) as that provider has it."""

    @property
    def prefixes(self) -> list[str]:
        return self.v4 + self.v6


def soak_table(n4: int, n6: int, providers: int = 4, seed: int = 18) -> SoakTable:
    """``n4`` IPv4 prefixes in :data:`SOAK_V4` and ``n6`` IPv6 ones in :data:`SOAK_V6`,
    each with a path per provider: 0 to 4 transit ASes (about 4 ASes a path with the
    provider's own), an origin shared by many prefixes (heavy-tailed), the transits
    chosen per (provider, origin) so that the prefixes of one origin share attributes
    and travel many to an UPDATE, as in a real table."""
    rng = random.Random(seed)
    v4 = _soak_prefixes(rng, 4, n4)
    v6 = _soak_prefixes(rng, 6, n6)
    origins = [_soak_asn(rng) for _ in range(max(1, (n4 + n6) // 12))]
    transit = [_soak_asn(rng) for _ in range(300)]
    per_origin: list[dict[int, tuple[int, ...]]] = [{} for _ in range(providers)]
    paths: list[list[tuple[int, ...]]] = [[] for _ in range(providers)]
    heavy = max(1, len(origins) // 100)
    for _ in range(n4 + n6):
        origin = origins[rng.randrange(heavy if rng.random() < 0.3 else len(origins))]
        for p in range(providers):
            path = per_origin[p].get(origin)
            if path is None:
                hops = max(0, min(6, round(rng.gauss(2.2, 1.1))))
                path = per_origin[p][origin] = (*rng.sample(transit, hops), origin)
            paths[p].append(path)
    return SoakTable(v4, v6, paths)


def _soak_asn(rng: random.Random) -> int:
    # A quarter 4-byte (RFC 6793); none in the lab's own ranges (64500-65535).
    return rng.randint(131_072, 400_000) if rng.random() < 0.25 else rng.randint(1_000, 64_000)


def _soak_prefixes(rng: random.Random, version: int, n: int) -> list[str]:
    space = ipaddress.ip_network(SOAK_V4 if version == 4 else SOAK_V6)
    lengths = SOAK_V4_LENGTHS if version == 4 else SOAK_V6_LENGTHS
    choices, weights = list(lengths), list(lengths.values())
    bits, base = space.max_prefixlen, int(space.network_address)
    seen: set[tuple[int, int]] = set()
    while len(seen) < n:
        for length in rng.choices(choices, weights, k=min(65536, n - len(seen))):
            network = base | (rng.getrandbits(length - space.prefixlen) << (bits - length))
            if version == 6 and _over_links(network, length):
                continue
            seen.add((network, length))
    out = sorted(seen)
    if version == 4:
        return [f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}/{ln}" for n, ln in out]
    return [f"{ipaddress.IPv6Address(n)}/{ln}" for n, ln in out]


def _over_links(network: int, length: int) -> bool:
    """Does an IPv6 prefix overlap the lab's links (2001:db8:ff00::/40)?"""
    top = network >> 88
    return (
        top == _LAB_LINKS_V6 >> 88
        or length < 40
        and (network >> (128 - length)) == (_LAB_LINKS_V6 >> (128 - length))
    )


def bird_static(
    table: SoakTable,
    provider: int,
    via4: str,
    via6: str,
    name: str = "soak",
    only: Sequence[int] | None = None,
    skip: frozenset[int] = frozenset(),
) -> str:
    """BIRD 2 static protocols (``NAME4``, ``NAME6``) announcing ``table`` as provider
    number ``provider`` (0-based) has it: each route carries its AS path (the provider's
    own AS is added by BGP on export). ``only``: these prefix indices alone; ``skip``:
    indices left out (announced by another protocol)."""
    n4 = len(table.v4)
    paths = table.paths[provider]
    prefixes = table.prefixes
    chunks: dict[int, list[str]] = {4: [], 6: []}
    for k in range(len(prefixes)) if only is None else only:
        if k in skip:
            continue
        # prepend() puts an AS in front: the origin goes first, the nearest transit last.
        attrs = " ".join(f"bgp_path.prepend({asn});" for asn in reversed(paths[k]))
        via = via4 if k < n4 else via6
        chunks[4 if k < n4 else 6].append(f"  route {prefixes[k]} via {via} {{ {attrs} }};")
    out = []
    for version in (4, 6):
        if chunks[version]:
            body = "\n".join(chunks[version])
            out.append(f"protocol static {name}{version} {{\n  ipv{version};\n{body}\n}}\n")
    return "".join(out)

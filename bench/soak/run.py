"""The soak (#18): routepilot at the scale of a real edge, measured from outside.

A lab (real BIRD edge and 4 provider routers, namespaces, the lab's internet)
gets a full table in reserved space: IPv4 prefixes in 240.0.0.0/4 and IPv6 in
2001:db8:8000::/33 (``routepilot.lab.tableload.soak_table``), every prefix from
every provider with a path of its own, announced by each provider's BIRD and
handed by edge's BIRD to routepilot over add-path (or, with ``--route-source bmp``,
by edge's FRR over BMP to routepilot's station: ``bench/soak/edges.py``). Then
routepilot runs, in
dry-run, as a user runs it (``routepilot run`` in the lab's ctl node) under:

- flows: IPFIX over UDP from edge's address (``bench/soak/ipfix.py``), half the
  records to the hot prefixes and half spread over the whole table;
- probes: the hot prefixes (5,000 in ``pr``) measured through every provider,
  with real ICMP answered by the lab's internet (it answers for the soak's
  ranges inside the lab only: nothing of 240.0.0.0/4 is routed to the host);
- churn: one provider withdraws and re-announces 100 prefixes a second (BIRD
  static protocols disabled and enabled by ``birdc``);
- the API polled as the dashboard polls it, and ``/metrics`` scraped.

Measured from outside the processes (psutil on routepilot's process and its
speaker; the API; BIRD's and FRR's consoles): see ``BUDGETS``. The peer beside it:
edge's router learning the same table from the providers, as a ratio.

Profiles: ``smoke`` (about a minute, 50k prefixes; run by tests/lab/test_soak_smoke.py
for its invariants only), ``pr`` (the full table, at most 15 minutes) and ``long``
(hours). Needs root, BIRD and the lab; run it alone (under the lab lock).

Usage: python bench/soak/run.py --profile smoke|pr|long [--json FILE] [--v4 N --v6 N]
       [--route-source addpath|bmp] [--name LAB --api-port PORT]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import ipaddress
import json
import math
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import psutil

from routepilot.config import Config, dump_yaml
from routepilot.lab.controller import controller_config
from routepilot.lab.core import Lab, running
from routepilot.lab.netns import nsrun
from routepilot.lab.spec import LabSpec, edge_link, inet_link
from routepilot.lab.tableload import (
    SOAK_V4,
    SOAK_V6,
    SOAK_V6_LOCAL,
    SoakTable,
    bird_static,
    soak_table,
)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from edges import EDGES, Edge  # noqa: E402

LAB = "rplabsk"
API_PORT = 8080
FLOW_PORT = 2055
CHURN_GROUP = 100
"""Prefixes withdrawn (and, a second later, re-announced) each second of churn."""
CHURN_GROUPS = 10


@dataclass(frozen=True)
class Profile:
    v4: int
    v6: int
    flow_rate: float
    """IPFIX records a second."""
    hot: int
    """Prefixes that carry half the records (and are probed)."""
    churn_s: float
    steady_s: float
    """How long the load runs after the table is whole (churn included)."""
    learn_timeout_s: float


PROFILES = {
    "smoke": Profile(40_000, 10_000, 5_000, 500, 6.0, 16.0, 120.0),
    "pr": Profile(1_000_000, 250_000, 100_000, 5_000, 60.0, 300.0, 600.0),
    "long": Profile(1_000_000, 250_000, 100_000, 5_000, 600.0, 4 * 3600.0, 900.0),
}

# (key, figure, budget, direction): "max" a ceiling, "min" a floor. The pr profile's
# budgets on this 2-core machine (#18). ``{route}``: how the paths come (add-path, BMP).
BUDGETS = [
    ("learned_s", "full table, 4 {route} paths, learned (s)", 60.0, "max"),
    ("peak_rss_mib", "peak RSS, routepilot + speaker (MiB)", 2048.0, "max"),
    ("rss_growth_mib", "RSS growth, second half vs warm-up (MiB)", 64.0, "max"),
    ("cpu_cores", "average CPU, routepilot + speaker (cores)", 1.5, "max"),
    ("flow_lost_pct", "flow records lost (%)", 0.1, "max"),
    ("api_p99_ms", "API p99, status/providers/prefixes/metrics (ms)", 250.0, "max"),
    ("cycle_p99_s", "decision cycle p99 (s)", 1.0, "max"),
    ("whole_after_churn_s", "whole RIB again after churn stops (s)", 10.0, "max"),
    ("sigterm_exit_s", "SIGTERM to exit, routes withdrawn (s)", 5.0, "max"),
    ("prefixes_measured", "prefixes measured through every provider", 5000.0, "min"),
]


@dataclass
class Result:
    profile: str
    prefixes: int = 0
    paths_expected: int = 0
    # Figures (see BUDGETS).
    learned_s: float | None = None
    peak_rss_mib: float | None = None
    rss_growth_mib: float | None = None
    cpu_cores: float | None = None
    flow_lost_pct: float | None = None
    api_p99_ms: float | None = None
    cycle_p99_s: float | None = None
    whole_after_churn_s: float | None = None
    sigterm_exit_s: float | None = None
    prefixes_measured: int | None = None
    # Beside them.
    steady_rss_mib: float | None = None
    threads_max: int | None = None
    route_source: str = "addpath"
    backend: str = "exabgp"
    """routepilot's BGP speaker (``rib.speaker.backend``)."""
    """How routepilot learns edge's paths: ``addpath`` (BIRD's edge) or ``bmp`` (FRR's)."""
    learned_paths_per_s: float | None = None
    learned_cpu_s: float | None = None
    """CPU seconds of routepilot and its speaker from start to the table learned."""
    learned_cpu_us_per_path: float | None = None
    edge_used_route_source: str | None = None
    """Where routepilot says edge's paths came from (``/api/v1/routers``)."""
    edge_learned_s: float | None = None
    """The peer: edge's router, from the providers' reconfiguration to every path held."""
    providers_loaded_s: float | None = None
    """Of ``edge_learned_s``, the providers' BIRD reading the table (their reconfiguration)."""
    edge_kernel_routes: tuple[int, int] | None = None
    """Routes in edge's kernel (both families, every table) once it holds the table, and
    how many of them in the soak's space: the lab's few, none of the soak's."""
    flow_records_sent: int = 0
    flow_records_received: int = 0
    flow_socket_drops: int = 0
    flow_counted_drops: int = 0
    api_requests: int = 0
    api_errors: list[str] = field(default_factory=list)
    api_p99_ms_by_path: dict[str, float] = field(default_factory=dict)
    api_p99_ms_steady: float | None = None
    """API p99 once the table is whole (the budget figure counts the learning too)."""
    probes_sent: int = 0
    probes_answered: int = 0
    phases_s: dict[str, float] = field(default_factory=dict)
    cycles: int = 0
    churn_events: int = 0
    # Invariants (the smoke test's).
    session_dropped: bool = False
    whole: bool = False
    announced_max: int = 0
    """Most routes edge ever held from routepilot (dry-run: none)."""
    routes_left_after_stop: int | None = None
    exit_code: int | None = None
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def mark(self, phase: str) -> None:
        """Seconds from the run's start to the end of ``phase``."""
        self.phases_s[phase] = round(time.monotonic() - self.started, 1)


# -- the lab -------------------------------------------------------------------------


def lab_spec(edge: Edge, name: str = LAB) -> LabSpec:
    """Four providers, a few lab prefixes, no shaping, delay or exporter: the soak brings
    its own table and flows, and nothing in the lab adds work it does not measure."""
    return LabSpec.model_validate(
        {
            "name": name,
            **edge.spec(),
            "providers": [
                {"name": f"isp{i}", "asn": 65000 + i, "capacity_mbps": 10000} for i in range(1, 5)
            ],
            "prefixes": 8,
            "prefixes_v6": 2,
            "shape": False,
            "export": {"exporter": "none"},
        }
    )


def birdc(lab: Lab, node: str, command: str) -> str:
    return lab.birdc(node, command)


def prepare_lab(lab: Lab, edge: Edge) -> None:
    """The lab's internet answers for the soak's ranges, the providers forward them to
    it, and neither edge nor the providers put the table in their kernel (the soak's
    traffic is probes, policy-routed by source on edge; flows are synthetic)."""
    spec = lab.spec
    inet = [f"route add local {SOAK_V4} dev lo"]
    inet += [f"-6 route add local {net} dev lo" for net in SOAK_V6_LOCAL]
    for cmd in inet:
        nsrun(lab.ns("inet"), ["ip", *cmd.split()])
    for i, p in enumerate(spec.providers, start=1):
        _, n4, _, n6 = inet_link(i)
        nsrun(lab.ns(p.name), ["ip", "route", "add", SOAK_V4, "via", n4])
        nsrun(lab.ns(p.name), ["ip", "-6", "route", "add", SOAK_V6, "via", n6])
    edge.keep_table_out_of_kernel(lab)


def wait_for_paths(lab: Lab, edge: Edge, timeout: float = 30.0) -> int:
    """The lab's own prefixes' paths on edge, once edge holds every provider's."""
    spec = lab.spec
    want = sum(len(p.announced(spec.prefixes)) + spec.prefixes_v6 for p in spec.providers)
    wait_for(lambda: edge.paths(lab) >= want, timeout)
    return edge.paths(lab)


def edge_kernel_routes(lab: Lab) -> tuple[int, int]:
    """Routes in edge's kernel, every table and both families, and how many of them are
    in the soak's space (it must be none: the table stays in BGP)."""
    edge = lab.ns("edge")
    total = sum(
        len(nsrun(edge, ["ip", family, "route", "show", "table", "all"]).splitlines())
        for family in ("-4", "-6")
    )
    # The table's space without the lab's links (2001:db8:ff00::/40, inside SOAK_V6).
    spaces = [("-4", SOAK_V4)] + [("-6", net) for net in SOAK_V6_LOCAL]
    soak = sum(
        len(nsrun(edge, ["ip", family, "route", "show", "table", "all", "root", net]).splitlines())
        for family, net in spaces
    )
    return total, soak


def _configure(lab: Lab, node: str) -> None:
    out = birdc(lab, node, "configure")
    if "Reconfigured" not in out and "Reconfiguration in progress" not in out:
        raise RuntimeError(f"{node}: birdc configure: {out.strip()}")


def churn_indices(table: SoakTable) -> list[list[int]]:
    """CHURN_GROUPS groups of CHURN_GROUP IPv4 prefixes, spread over the table."""
    n = len(table.v4)
    step = max(1, n // (CHURN_GROUP * CHURN_GROUPS))
    picked = list(range(0, n, step))[: CHURN_GROUP * CHURN_GROUPS]
    return [picked[g::CHURN_GROUPS] for g in range(CHURN_GROUPS)]


def load_table(lab: Lab, table: SoakTable, churn: list[list[int]]) -> None:
    """Every provider announces the table (isp1's churn groups as their own protocols,
    ``soakc0`` …), by reconfiguring its BIRD; returns once every BIRD took its config."""
    in_churn = frozenset(k for group in churn for k in group)
    threads = []
    for i, p in enumerate(lab.spec.providers, start=1):
        _, n4, _, n6 = inet_link(i)
        conf = lab.dir / f"{p.name}-bird.conf"
        text = conf.read_text().replace(
            "export where source = RTS_STATIC;",
            'export where source = RTS_STATIC && !(proto ~ "soak*");',
        )
        extra = bird_static(table, i - 1, n4, n6, skip=in_churn if i == 1 else frozenset())
        if i == 1:
            extra += "".join(
                bird_static(table, 0, n4, n6, name=f"soakc{g}_", only=group)
                for g, group in enumerate(churn)
            )
        conf.write_text(text + extra)
        threads.append(threading.Thread(target=_configure, args=(lab, p.name)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def wait_for(check: Callable[[], bool], timeout: float, every: float = 0.25) -> float | None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if check():
            return time.monotonic() - t0
        time.sleep(every)
    return None


# -- flows ------------------------------------------------------------------------------


def destinations(lab: Lab, table: SoakTable, hot: int, path: Path, seed: int = 5) -> list[str]:
    """Writes the flow generator's destinations; returns the hot prefixes."""
    rng = np.random.default_rng(seed)
    n4, n6 = len(table.v4), len(table.v6)
    hot6 = min(n6, hot // 5)
    hot_k = list(rng.choice(n4, hot - hot6, replace=False)) + list(
        n4 + rng.choice(n6, hot6, replace=False)
    )
    prefixes = table.prefixes
    spread_k = rng.choice(n4 + n6, min(n4 + n6, 200_000), replace=False)

    def host(k: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        net = ipaddress.ip_network(prefixes[k])
        return net.network_address + 1

    def split(ks) -> tuple[np.ndarray, np.ndarray]:
        v4 = [int(host(k)) for k in ks if k < n4]
        v6 = [host(k).packed for k in ks if k >= n4]
        return np.array(v4, dtype=np.uint32), np.array(v6, dtype="V16")

    hot4, hot6a = split(hot_k)
    spread4, spread6 = split(spread_k)
    ifx = lab.ifindexes()
    names = [p.name for p in lab.spec.providers]
    np.savez(
        path,
        hot_v4=hot4,
        hot_v6=hot6a,
        spread_v4=spread4,
        spread_v6=spread6,
        ifindex=np.array([ifx[n] for n in names], dtype=np.uint32),
        next_hop4=np.array(
            [int(ipaddress.ip_address(edge_link(i)[1])) for i in range(1, 5)], dtype=np.uint32
        ),
        next_hop6=np.array(
            [ipaddress.ip_address(edge_link(i)[3]).packed for i in range(1, 5)], dtype="V16"
        ),
    )
    return [prefixes[k] for k in hot_k]


# -- routepilot -------------------------------------------------------------------------


def soak_config(
    lab: Lab, profile: Profile, edge: Edge, api_port: int = API_PORT, backend: str = "exabgp"
) -> Path:
    """The lab's controller configuration, sized for the soak: the hot prefixes tracked
    and probed through every provider, flows on the soak's port, decisions every 5 s,
    edge's paths from ``edge.route_source``, routepilot's speaker ``backend``."""
    cfg = controller_config(
        lab.spec, lab.ifindexes(), str(lab.dir / "routepilot.db"), api_port=api_port
    )
    top = int(profile.hot * 1.2)
    routers = [r.model_copy(update={"route_source": edge.route_source}) for r in cfg.routers]
    cfg = cfg.model_copy(
        update={
            "routers": routers,
            "flows": cfg.flows.model_copy(update={"top_n": top, "netflow_port": FLOW_PORT}),
            "probe": cfg.probe.model_copy(
                update={
                    "targets": [],
                    "allowed_ranges": [*cfg.probe.allowed_ranges, SOAK_V4, SOAK_V6],
                    "max_prefixes": top,
                    "max_rate": 4000.0,
                    "interval_s": 2.0,
                    "exit_interval_s": 5.0,
                    "alternative_interval_s": 10.0,
                    "train_size": 2,
                    "timeout_s": 1.0,
                    "window_s": 60.0,
                }
            ),
            "controller": cfg.controller.model_copy(update={"cycle_s": 5.0}),
            "inject": cfg.inject.model_copy(update={"dry_run": True}),
            "rib": cfg.rib.model_copy(
                update={"speaker": cfg.rib.speaker.model_copy(update={"backend": backend})}
            ),
        }
    )
    path = lab.dir / "routepilot-soak.yaml"
    path.write_text(dump_yaml(Config.model_validate(cfg.model_dump(mode="json"))))
    return path


class Api:
    """The API as the dashboard and a Prometheus server use it; every latency is kept."""

    def __init__(self, port: int = API_PORT) -> None:
        self.address = ("127.0.0.1", port)
        self.latencies: list[float] = []
        self.stamps: list[float] = []
        self.by_path: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self._conn: http.client.HTTPConnection | None = None
        self.lock = threading.Lock()

    def get(self, path: str) -> bytes | None:
        with self.lock:
            t0 = time.perf_counter()
            try:
                if self._conn is None:
                    self._conn = http.client.HTTPConnection(*self.address, timeout=10)
                self._conn.request("GET", path)
                resp = self._conn.getresponse()
                body = resp.read()
                ok = resp.status == 200
            except (OSError, http.client.HTTPException):
                self._conn = None
                body, ok = None, False
            took = time.perf_counter() - t0
            self.latencies.append(took)
            self.stamps.append(t0)
            self.by_path.setdefault(path.split("?")[0], []).append(took)
            if not ok:
                self.errors.append(path)
                return None
            return body

    def json(self, path: str) -> dict | list | None:
        body = self.get(path)
        return json.loads(body) if body else None

    def metrics(self) -> dict[str, float]:
        """Sample name (with labels) -> value, from /metrics."""
        body = self.get("/metrics") or b""
        out: dict[str, float] = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    out[name] = float(value)
        return out


def metric_sum(metrics: dict[str, float], name: str) -> float:
    return sum(v for k, v in metrics.items() if k == name or k.startswith(name + "{"))


class Watch:
    """psutil on routepilot's process and its speaker (and whatever else it starts),
    once a second; the dashboard's polls; edge's routes from routepilot."""

    def __init__(self, lab: Lab, edge: Edge, pid: int, api: Api) -> None:
        self.lab, self.edge, self.api = lab, edge, api
        self.root = psutil.Process(pid)
        self.samples: list[tuple[float, float, float, int]] = []
        """(time, RSS MiB, CPU seconds so far, threads)."""
        self.cycle_ms: list[float] = []
        self.session_down = False
        self.session_seen_up = False
        self.announced_max = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._sample, daemon=True),
                         threading.Thread(target=self._dashboard, daemon=True)]  # fmt: skip
        self._cpu_dead = 0.0
        self._seen: dict[int, float] = {}

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def cpu_seconds(self) -> float | None:
        """CPU seconds of routepilot's processes since its start (ended ones kept)."""
        with contextlib.suppress(psutil.Error):
            # The start is the root process's own: sampling began a moment after it.
            t = self.root.cpu_times()
            alive = t.user + t.system
            kids = 0.0
            for p in self.root.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    c = p.cpu_times()
                    kids += c.user + c.system
            return alive + kids + self._cpu_dead
        return None

    def _procs(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return []

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss = 0.0
            threads = 0
            cpu_now: dict[int, float] = {}
            for p in self._procs():
                with contextlib.suppress(psutil.Error), p.oneshot():
                    rss += p.memory_info().rss / 2**20
                    t = p.cpu_times()
                    cpu_now[p.pid] = t.user + t.system
                    threads += p.num_threads()
            # A process that ended keeps its CPU in the total.
            for pid, cpu in self._seen.items():
                if pid not in cpu_now:
                    self._cpu_dead += cpu
            self._seen = cpu_now
            if cpu_now:
                self.samples.append(
                    (time.monotonic(), rss, self._cpu_dead + sum(cpu_now.values()), threads)
                )
            self._stop.wait(1.0)

    def _dashboard(self) -> None:
        """The dashboard's overview page (status, providers, busiest prefixes) every 2 s,
        and a Prometheus scrape, as a user with the dashboard open and monitoring has."""
        while not self._stop.is_set():
            status = self.api.json("/api/v1/status")
            if isinstance(status, dict):
                if (status.get("cycle") or {}).get("duration_ms") is not None:
                    self.cycle_ms.append(status["cycle"]["duration_ms"])
                # A drop is down after up: a BMP session (routepilot's station is where
                # edge connects, with edge's retry back-off) may come up after the first poll.
                session = status.get("sessions", {}).get("edge")
                if session == "established":
                    self.session_seen_up = True
                elif session is not None and self.session_seen_up:
                    self.session_down = True
            self.api.get("/api/v1/providers")
            self.api.get("/api/v1/prefixes?top=100")
            self.api.get("/metrics")
            with contextlib.suppress(Exception):
                self.announced_max = max(
                    self.announced_max, self.edge.paths_from_controller(self.lab)
                )
            self._stop.wait(2.0)


def status_paths(api: Api) -> tuple[int, str]:
    status = api.json("/api/v1/status")
    routes = (status or {}).get("routes") or {}
    return int(routes.get("paths", 0)), str(routes.get("state", "?"))


def p99(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def measured_prefixes(store: Path, providers: int) -> int:
    """Prefixes answered through every provider in the last two minutes, read from
    routepilot's store (its per-minute probe rollups, the last one written at stop)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT prefix FROM probes WHERE answered > 0 AND minute >= "
            "(SELECT MAX(minute) FROM probes) - 120 GROUP BY prefix "
            "HAVING COUNT(DISTINCT provider) >= ?",
            (providers,),
        ).fetchall()
    return len(rows)


# -- the run ----------------------------------------------------------------------------


def keep_logs(lab_dir: Path, into: Path) -> None:
    """routepilot's and edge's logs, copied before the lab's folder is removed: a run that
    missed a budget (a table never learned) is explained by them."""
    into.mkdir(parents=True, exist_ok=True)
    for path in [*lab_dir.glob("ctl-*.log"), *lab_dir.glob("edge-*.log")]:
        shutil.copy2(path, into / path.name)


@contextlib.contextmanager
def soak_lab(edge: Edge, name: str = LAB) -> Iterator[Lab]:
    with running(lab_spec(edge, name)) as lab:
        prepare_lab(lab, edge)
        yield lab


def run(
    profile_name: str,
    v4: int | None = None,
    v6: int | None = None,
    log=print,
    route_source: str = "addpath",
    name: str = LAB,
    api_port: int = API_PORT,
    logs: Path | None = None,
    backend: str = "exabgp",
) -> Result:
    """One soak: ``route_source`` (``addpath`` or ``bmp``) picks edge's router and how
    routepilot learns its paths; ``name`` and ``api_port`` let it run beside another lab;
    ``logs`` keeps routepilot's and edge's logs there, as the lab's folder goes with it;
    ``backend`` is routepilot's BGP speaker."""
    base = PROFILES[profile_name]
    profile = replace(base, v4=base.v4 if v4 is None else v4, v6=base.v6 if v6 is None else v6)
    edge = EDGES[route_source]
    result = Result(profile_name, route_source=route_source, backend=backend)
    t0 = time.monotonic()
    table = soak_table(profile.v4, profile.v6)
    churn = churn_indices(table)
    result.prefixes = len(table.prefixes)
    result.paths_expected = 4 * result.prefixes
    log(f"soak {profile_name}: {result.prefixes:,} prefixes ({len(table.v4):,} IPv4, "
        f"{len(table.v6):,} IPv6) x 4 providers = {result.paths_expected:,} paths, "
        f"generated in {time.monotonic() - t0:.0f} s")  # fmt: skip
    result.mark("table generated")
    with soak_lab(edge, name) as lab:
        result.mark("lab up")
        try:
            _run_in(lab, edge, profile, table, churn, result, log, api_port)
        finally:
            if logs is not None:
                keep_logs(lab.dir, logs)
    result.mark("lab down")
    return result


def _run_in(
    lab: Lab,
    edge: Edge,
    profile: Profile,
    table: SoakTable,
    churn: list[list[int]],
    result: Result,
    log,
    api_port: int,
) -> None:
    expected = result.paths_expected
    # The lab's own few prefixes travel beside the table.
    lab_paths = wait_for_paths(lab, edge)
    t = time.monotonic()
    load_table(lab, table, churn)
    loaded = time.monotonic() - t
    result.providers_loaded_s = loaded
    edge_target = lab_paths + expected
    took = wait_for(lambda: edge.paths(lab) >= edge_target, profile.learn_timeout_s, 0.5)
    result.edge_learned_s = None if took is None else loaded + took
    result.mark("table on edge")
    result.edge_kernel_routes = edge_kernel_routes(lab)
    log(
        f"  peer: edge ({edge.label}) holds every path {result.edge_learned_s} s after the "
        f"providers' reconfiguration began ({loaded:.1f} s of it the providers' BIRD reading "
        f"the table); edge's kernel: {result.edge_kernel_routes[0]} routes, "
        f"{result.edge_kernel_routes[1]} of them in the soak's space"
    )
    hot = destinations(lab, table, profile.hot, lab.dir / "destinations.npz")
    config = soak_config(lab, profile, edge, api_port, result.backend)
    api = Api(api_port)
    t_start = time.monotonic()
    pid = lab.controller_start(config, wait_s=60.0)
    watch = Watch(lab, edge, pid, api)
    watch.start()
    try:
        _measure(lab, profile, table, churn, result, log, api, watch, t_start, edge_target, hot)
    finally:
        watch.stop()
        if lab.controller_pid():
            lab.controller_stop(timeout_s=30.0)


def _measure(lab, profile, table, churn, result, log, api, watch, t_start, edge_target, hot):
    expected_ctl = edge_target  # every path edge holds goes to routepilot
    learned = wait_for(lambda: status_paths(api)[0] >= expected_ctl, profile.learn_timeout_s, 0.5)
    result.learned_s = None if learned is None else time.monotonic() - t_start
    if result.learned_s:
        result.learned_paths_per_s = expected_ctl / result.learned_s
        # CPU time, unlike wall time, holds on a loaded machine: the learning's cost.
        cpu = watch.cpu_seconds()
        if cpu is not None:
            result.learned_cpu_s = cpu
            result.learned_cpu_us_per_path = 1e6 * cpu / expected_ctl
    result.mark("table learned")
    paths, state = status_paths(api)
    routers = api.json("/api/v1/routers")
    if isinstance(routers, list):
        edge = next((r for r in routers if r.get("name") == "edge"), {})
        result.edge_used_route_source = edge.get("route_source")
    log(f"  routepilot: {paths:,} of {expected_ctl:,} paths, routes {state}, "
        f"{result.learned_s} s after its start, edge's paths from "
        f"{result.edge_used_route_source}")  # fmt: skip
    if learned is None:
        result.notes.append(f"table not learned within {profile.learn_timeout_s:.0f} s")
        return
    wait_for(lambda: status_paths(api)[1] == "synced", 60.0, 0.5)
    steady_from = time.monotonic()
    stats = lab.dir / "ipfix-stats.json"
    gen = subprocess.Popen(
        ["ip", "netns", "exec", lab.ns("edge"), sys.executable, str(HERE / "ipfix.py"),
         "--to", "100.66.1.2", "--port", str(FLOW_PORT), "--rate", str(profile.flow_rate),
         "--destinations", str(lab.dir / "destinations.npz"), "--stats", str(stats)],
    )  # fmt: skip
    before = api.metrics()
    # Churn first, then quiet: the RIB must be whole again soon after it stops.
    churn_end = time.monotonic() + profile.churn_s
    group = 0
    disabled: str | None = None
    while time.monotonic() < churn_end:
        tick = time.monotonic()
        name = f"soakc{group % CHURN_GROUPS}_4"
        birdc(lab, "isp1", f"disable {name}")
        if disabled:
            birdc(lab, "isp1", f"enable {disabled}")
        disabled = name
        result.churn_events += 2 * CHURN_GROUP
        group += 1
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    if disabled:
        birdc(lab, "isp1", f"enable {disabled}")
    quiet = time.monotonic()
    whole = wait_for(lambda: status_paths(api)[0] >= expected_ctl, 120.0, 0.1)
    result.whole_after_churn_s = None if whole is None else time.monotonic() - quiet
    result.whole = whole is not None and status_paths(api)[1] == "synced"
    result.mark("churn")
    log(
        f"  churn: {result.churn_events:,} withdrawals and announcements in "
        f"{profile.churn_s:.0f} s; whole again {result.whole_after_churn_s} s after it stopped"
    )
    end = steady_from + profile.steady_s
    while time.monotonic() < end:
        time.sleep(min(5.0, max(0.0, end - time.monotonic())))
    gen.terminate()
    gen.wait(timeout=10)
    # The collector decodes what is queued within a flush interval or two.
    time.sleep(1.0)
    after = api.metrics()
    sent = json.loads(stats.read_text()) if stats.exists() else {"records": 0}
    received = metric_sum(after, "routepilot_flow_records_total") - metric_sum(
        before, "routepilot_flow_records_total"
    )
    result.flow_records_sent = int(sent["records"])
    result.flow_records_received = int(received)
    result.flow_socket_drops = int(metric_sum(after, "routepilot_flow_kernel_drops_total"))
    result.flow_counted_drops = int(metric_sum(after, "routepilot_flow_drops_total"))
    if result.flow_records_sent:
        lost = max(0, result.flow_records_sent - result.flow_records_received)
        result.flow_lost_pct = 100.0 * lost / result.flow_records_sent
    result.cycles = int(metric_sum(after, "routepilot_decision_rounds_total"))
    result.cycle_p99_s = None if not watch.cycle_ms else (p99(watch.cycle_ms) or 0) / 1000
    _resources(result, watch, steady_from)
    result.session_dropped = (
        watch.session_down or not watch.session_seen_up or status_paths(api)[1] != "synced"
    )
    watch.stop()
    result.api_requests = len(api.latencies)
    result.api_errors = api.errors
    result.api_p99_ms = (p99(api.latencies) or 0) * 1000
    steady_at = time.perf_counter() - (time.monotonic() - steady_from)
    steady = [x for x, at in zip(api.latencies, api.stamps, strict=True) if at >= steady_at]
    result.api_p99_ms_steady = (p99(steady) or 0) * 1000
    result.api_p99_ms_by_path = {k: round((p99(v) or 0) * 1000, 1) for k, v in api.by_path.items()}
    result.probes_sent = int(metric_sum(after, "routepilot_probes_sent_total"))
    result.probes_answered = int(metric_sum(after, "routepilot_probes_answered_total"))
    result.announced_max = watch.announced_max
    # SIGTERM: the clock runs until the process is gone; then edge must hold nothing
    # from routepilot (in dry-run it never held anything; the session is gone too).
    pid = lab.controller_pid()
    proc = psutil.Process(pid)
    t = time.monotonic()
    proc.terminate()
    with contextlib.suppress(psutil.TimeoutExpired):
        result.exit_code = proc.wait(timeout=30)
    result.sigterm_exit_s = time.monotonic() - t
    result.routes_left_after_stop = watch.edge.paths_from_controller(lab)
    result.prefixes_measured = measured_prefixes(lab.dir / "routepilot.db", len(lab.spec.providers))
    result.mark("stopped")


def _resources(result: Result, watch: Watch, steady_from: float) -> None:
    samples = watch.samples
    if not samples:
        return
    result.peak_rss_mib = max(s[1] for s in samples)
    result.threads_max = max(s[3] for s in samples)
    steady = [s for s in samples if s[0] >= steady_from]
    if len(steady) >= 8:
        quarter, half = len(steady) // 4, len(steady) // 2
        warm = [s[1] for s in steady[:quarter]]
        late = [s[1] for s in steady[half:]]
        result.rss_growth_mib = sum(late) / len(late) - sum(warm) / len(warm)
        result.steady_rss_mib = sorted(late)[len(late) // 2]
    # CPU over the whole run, learning included.
    first, last = samples[0], samples[-1]
    if last[0] > first[0]:
        result.cpu_cores = (last[2] - first[2]) / (last[0] - first[0])


# -- report -----------------------------------------------------------------------------


def verdicts(result: Result) -> list[tuple[str, float, str, float | None, bool]]:
    rows = []
    route = EDGES[result.route_source].label
    for key, label, budget, kind in BUDGETS:
        label = label.format(route=route)
        value = getattr(result, key)
        ok = value is not None and (value <= budget if kind == "max" else value >= budget)
        rows.append((label, budget, kind, value, ok))
    return rows


def table_text(result: Result) -> str:
    lines = ["| figure | budget | measured | ok |", "|---|---|---|---|"]
    for label, budget, kind, value, ok in verdicts(result):
        shown = "—" if value is None else f"{value:,.3g}" if value < 10 else f"{value:,.0f}"
        bound = f"{'≤' if kind == 'max' else '≥'} {budget:,g}"
        lines.append(f"| {label} | {bound} | {shown} | {'ok' if ok else 'MISSED'} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=list(PROFILES), default="smoke")
    parser.add_argument("--json", type=Path, help="write the result as JSON here")
    parser.add_argument("--v4", type=int, help="IPv4 prefixes (the profile's by default)")
    parser.add_argument("--v6", type=int, help="IPv6 prefixes (the profile's by default)")
    parser.add_argument(
        "--route-source",
        choices=list(EDGES),
        default="addpath",
        help="how routepilot learns edge's paths: add-path from BIRD's edge (the default) "
        "or BMP from FRR's edge",
    )
    parser.add_argument("--name", default=LAB, help=f"the lab's name ({LAB} by default)")
    parser.add_argument(
        "--api-port", type=int, default=API_PORT, help="routepilot's API port on the host"
    )
    parser.add_argument(
        "--logs", type=Path, help="keep routepilot's and edge's logs in this folder"
    )
    parser.add_argument(
        "--backend",
        choices=["exabgp", "gobgp"],
        default="exabgp",
        help="routepilot's BGP speaker (rib.speaker.backend): ExaBGP (the default) or gobgpd",
    )
    args = parser.parse_args()
    result = run(
        args.profile, args.v4, args.v6, print, args.route_source, args.name, args.api_port,
        args.logs, args.backend,
    )  # fmt: skip
    print(table_text(result))
    extra = {k: v for k, v in asdict(result).items() if k not in {b[0] for b in BUDGETS}}
    extra.pop("started")
    print("beside:", json.dumps(extra))
    if result.edge_learned_s and result.learned_s:
        edge = EDGES[result.route_source]
        print(f"ratio: routepilot ({edge.label}) / edge's router learning the same table: "
              f"{result.learned_s / result.edge_learned_s:.2f}x")  # fmt: skip
    if args.json:
        doc = {"result": asdict(result), "budgets": [
            {"figure": label, "budget": budget, "kind": kind, "measured": value, "ok": ok}
            for label, budget, kind, value, ok in verdicts(result)]}  # fmt: skip
        args.json.write_text(json.dumps(doc, indent=2))
    if args.profile == "smoke":
        return 0
    return 0 if all(row[4] for row in verdicts(result)) else 1


if __name__ == "__main__":
    sys.exit(main())

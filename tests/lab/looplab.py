"""A lab with routepilot running in it, and what the closed-loop tests read from it."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from routepilot.api.client import ApiClient, ApiError
from routepilot.config import dump_yaml
from routepilot.lab import ix
from routepilot.lab.controller import controller_config
from routepilot.lab.core import Lab
from routepilot.lab.snmp import community_file
from routepilot.lab.spec import LabSpec, edge_link
from routepilot.lab.traffic import zipf_shares

TOKEN = "lab"

FAST_EXPORT = {"active_timeout_s": 5}
"""A spec's ``export`` for a test that waits on flows: the exporter reports a long flow
every 5 s instead of the lab's 10 (``ExportSpec.active_timeout_s``), so the first
records after the traffic starts or the controller restarts, and the flows of a moved
prefix on its new exit, come in half the time. The lab's own default stays what
`routepilot lab up` gives a user (docs/lab.md)."""

LINK_SAMPLER = """
import json, sys, time
seconds, names = int(sys.argv[1]), sys.argv[2:]
files = [open(f"/sys/class/net/{n}/statistics/tx_bytes") for n in names]

def read():
    # The counters and the time they were read at, within a millisecond: a read the
    # scheduler interrupted is made again.
    while True:
        t0 = time.monotonic()
        values = []
        for f in files:
            f.seek(0)
            values.append(int(f.read()))
        t1 = time.monotonic()
        if t1 - t0 < 1e-3:
            return {"t": (t0 + t1) / 2, "bytes": dict(zip(names, values))}

first = read()
print(json.dumps(first), flush=True)
for i in range(1, seconds + 1):
    time.sleep(max(0.0, first["t"] + i - time.monotonic()))
    print(json.dumps(read()), flush=True)
"""
"""Reads edge's provider link counters once a second (run in edge's namespace)."""


def three_providers(**isp3: object) -> list[dict]:
    """The lab's usual providers for a spec's ``providers``: isp1, isp2 and isp3 (AS 65001
    to 65003), with ``isp3``'s keys added to the third (``announce="0-15"``)."""
    return [
        {"name": "isp1", "asn": 65001},
        {"name": "isp2", "asn": 65002},
        {"name": "isp3", "asn": 65003, **isp3},
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopLab:
    """Lab + controller + the checks a network engineer would make by hand."""

    def __init__(self, spec: LabSpec, tmp: Path, **overrides: object) -> None:
        self.lab = Lab(spec)
        self.spec = spec
        self.tmp = tmp
        self.port = free_port()
        self.overrides = overrides
        self.config_path = tmp / f"{spec.name}-routepilot.yaml"
        self.provider_overrides: dict[str, dict[str, object]] = {}
        """Per provider, keys to set in its configuration (e.g. ``commit_mbps``)."""
        self.router_overrides: dict[str, object] = {}
        """Keys to set in every router's configuration (e.g. ``route_source``)."""

    # -- lifecycle ------------------------------------------------------------------

    def up(self, v6: bool = True) -> None:
        """A fresh lab, 4 Mb/s of traffic (IPv6 too unless ``v6`` is false) and the
        controller, once the traffic reaches its API."""
        self.lab.down()
        self.lab.up(wait_s=30)
        self.write_config()
        self.lab.traffic_start(rate_mbps=4, duration_s=1800, v6=v6)
        self.lab.controller_start(self.config_path)
        self.wait_traffic()

    @contextlib.contextmanager
    def running(self, v6: bool = True) -> Iterator[LoopLab]:
        """``up`` for the time of a ``with`` block (a module's fixture), ``down`` after,
        whatever happens."""
        try:
            self.up(v6)
            yield self
        finally:
            self.down()

    def restart(self) -> None:
        """Stops the controller and starts it again on the configuration file as it is
        now, then waits for the traffic in its API."""
        self.lab.controller_stop()
        self.lab.controller_start(self.config_path)
        self.wait_traffic()

    def wait_traffic(self) -> None:
        self.wait(lambda: len(self.api("/prefixes?top=5")) >= 5, 60, "traffic in the API")

    def write_config(self, **extra: object) -> None:
        base = controller_config(
            self.spec,
            self.lab.ifindexes(),
            str(self.tmp / "rp.db"),
            self.port,
            str(community_file(self.lab.dir)),
        )
        data = base.model_dump(mode="json")
        for key, value in {**self.overrides, **extra}.items():
            section, _, field = key.partition("__")
            data[section][field] = value
        for p in data["providers"]:
            p.update(self.provider_overrides.get(p["name"], {}))
        for r in data["routers"]:
            r.update(self.router_overrides)
        self.config_path.write_text(dump_yaml(type(base).model_validate(data)))

    def down(self) -> None:
        self.lab.down()

    # -- reading ----------------------------------------------------------------------

    def api(self, path: str, method: str = "GET", body: dict | None = None):  # type: ignore[no-untyped-def]
        """The controller's API, as an engineer's script would call it (query in ``path``)."""
        path, _, query = path.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if p)
        return ApiClient(f"http://127.0.0.1:{self.port}", TOKEN).call(method, path, params, body)

    def exit_of(self, prefix: str) -> str | None:
        """The provider edge's kernel FIB sends ``prefix`` to."""
        addr = prefix.split("/")[0]
        host = addr[:-1] + "1" if addr.endswith(".0") else addr + "1"
        out = subprocess.run(
            ["ip", "-n", self.lab.ns("edge"), "route", "get", host], capture_output=True, text=True
        ).stdout
        nh = {edge_link(i)[1]: p.name for i, p in enumerate(self.spec.providers, start=1)}
        nh.update({ix.lan_address(peer): peer for peer in ix.peers(self.spec)})
        for word in out.split():
            if word in nh:
                return nh[word]
        dev = out.split(" dev ")[1].split()[0] if " dev " in out else None
        return dev if dev in {p.name for p in self.spec.providers} else None

    def injected_routes(self) -> int:
        """Routes edge holds from the controller."""
        if self.spec.edge_router == "frr":
            out = self.lab.vtysh("show bgp ipv4 unicast neighbors 100.66.1.2 routes")
            return sum(1 for line in out.splitlines() if "198." in line)
        out = self.lab.birdc("edge", "show route protocol ctl count")
        words = out.split()
        return int(words[words.index("of") - 1]) if "of" in words else 0

    def link_rates(self, provider: str, seconds: int) -> list[float]:
        """The link's rate to ``provider`` in bits/s, from the counter, over each of the
        next ``seconds`` seconds."""
        return [w[provider] for w in self.links_rates(seconds)]

    def links_rates(self, seconds: int) -> list[dict[str, float]]:
        """Every provider link's rate in bits/s, from edge's counters, over each of the
        next ``seconds`` seconds; all links are read together in each window.

        A sampler inside edge's namespace reads the counters and the clock side by side
        (``LINK_SAMPLER``). Reading them with ``ip -s link`` and stamping the time after
        it returned put the process's exit and the pipe between the two: on a busy host a
        delay there shortened one window's measured length and read its rate high.
        """
        names = [p.name for p in self.spec.providers]
        out = subprocess.run(
            ["ip", "netns", "exec", self.lab.ns("edge"), sys.executable, "-c", LINK_SAMPLER,
             str(seconds), *names],
            capture_output=True, text=True, check=True, timeout=seconds + 30,
        ).stdout  # fmt: skip
        reads = [json.loads(line) for line in out.splitlines()]
        return [
            {n: (b["bytes"][n] - a["bytes"][n]) * 8 / (b["t"] - a["t"]) for n in names}
            for a, b in zip(reads, reads[1:], strict=False)
        ]

    def rounds_later(self, n: int, timeout: float | None = None) -> None:
        """Waits until the controller has run ``n`` more decision rounds (by default for
        10 s and 3 s a round at most)."""
        start = self.api("/status")["cycle"]["count"]
        self.wait(
            lambda: self.api("/status")["cycle"]["count"] >= start + n,
            10 + 3 * n if timeout is None else timeout,
            f"{n} rounds",
        )

    def busiest(self, n: int, among: Callable[[int], bool] = lambda k: True) -> list[str]:
        """The n busiest IPv4 destination prefixes the lab's traffic goes to."""
        v4 = self.spec.prefixes_v4_list()
        everything = v4 + self.spec.prefixes_v6_list()
        shares = zipf_shares(len(everything), self.spec.traffic.zipf_s)
        order = sorted(range(len(v4)), key=lambda k: -shares[k])
        return [v4[k] for k in order if among(k)][:n]

    def detail(self, prefix: str) -> str:
        """The prefix as the API explains it, for failure messages."""
        try:
            d = self.api(f"/prefixes/{prefix}")
        except (OSError, ValueError, ApiError) as exc:
            return f"(no detail: {exc})"
        rows = [
            f"{m['provider']}: route={m['has_route']} samples={m['samples']} rtt={m['rtt_ms']} "
            f"loss={m['loss']} [{m['loss_low']}, {m['loss_high']}]"
            for m in d["measurements"]
        ]
        out = (
            f"{prefix} exit={d['exit']} reason={d['reason']} since={d['since']} "
            f"traffic={d['traffic_bps']:.0f} b/s; " + "; ".join(rows)
        )
        e, pol = d.get("explanation"), d.get("policy")
        if e:
            out += f"; last decision {e.get('reason')} at {e.get('time')}: {e.get('summary')}"
        if pol:
            out += f"; policy {pol}"
        try:
            st = self.api("/status")
        except (OSError, ValueError, ApiError) as exc:
            return out + f"; (no status: {exc})"
        cyc = st["cycle"]
        age = st["now"] - cyc["last"] if cyc.get("last") else None
        routes = (st.get("routes") or {}).get("state")
        out += (
            f"; controller: {cyc['count']} rounds, last {age} s ago, paused={st['paused']}, "
            f"routes={routes}, degraded={st['degraded']}"
        )
        try:
            sick = [
                f"{p['name']}(session_up={p['session_up']}, healthy={p['healthy']})"
                for p in self.api("/providers")
                if not (p["session_up"] and p["healthy"])
            ]
        except (OSError, ValueError, ApiError) as exc:
            sick = [f"(no providers: {exc})"]
        out += f"; providers not up and healthy: {sick or 'none'}"
        return out + "".join(f"; log: {line}" for line in self.log_problems())

    def log_problems(self, last: int = 5) -> list[str]:
        """The controller log's last warnings and errors."""
        path = self.lab.state.dir / "ctl-controller.log"
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        bad = [x for x in lines if "level=error" in x or "level=warning" in x]
        return [x[:300] for x in bad[-last:]]

    @staticmethod
    def wait(
        check: Callable[[], bool],
        timeout: float,
        what: str,
        step: float = 0.1,
        diag: Callable[[], str] | None = None,
    ) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            try:
                if check():
                    return time.monotonic() - start
            except (OSError, ValueError, ApiError):
                pass
            time.sleep(step)
        extra = f" ({diag()})" if diag else ""
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{extra}")

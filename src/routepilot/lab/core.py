"""The lab as a whole: `up`, `down`, `status`, impairments and traffic.

`Lab` is what the CLI, the demo, the tests and the benchmarks use.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from routepilot.config import Config, ConfigError, dump_yaml, load_file
from routepilot.lab import bird, frr, impair, topology
from routepilot.lab.controller import controller_config
from routepilot.lab.netns import (
    LabError,
    delete_namespace,
    list_namespaces,
    namespace_pids,
    nsrun,
    pid_alive,
    pid_cmdline,
    run,
    spawn,
    terminate,
)
from routepilot.lab.spec import CTL_LINK, LabSpec
from routepilot.lab.state import LabState, ProcessRecord
from routepilot.log import get_logger

log = get_logger(__name__)

_PROTO_LINE = re.compile(r"^(\S+)\s+BGP\s+\S+\s+(\S+)\s+\S+\s+(\S+)(?:\s+(.*))?$")


class Lab:
    """A running (or to-be-started) lab, identified by its name."""

    def __init__(self, spec: LabSpec) -> None:
        self.spec = spec
        self.state = LabState.load(spec.name) or LabState(
            name=spec.name, spec=spec.model_dump(mode="json"), created=time.time()
        )

    # -- lookup ---------------------------------------------------------------

    @classmethod
    def attach(cls, name: str = "rplab") -> Lab:
        """The lab called ``name`` as `lab up` recorded it."""
        state = LabState.load(name)
        if state is None:
            raise LabError(f"lab {name!r} is not up (start it with `routepilot lab up`)")
        return cls(LabSpec.model_validate(state.spec))

    @property
    def dir(self) -> Path:
        return self.state.dir

    def ns(self, node: str) -> str:
        if node not in self.spec.nodes():
            raise LabError(f"unknown node {node!r} (nodes: {', '.join(self.spec.nodes())})")
        return self.spec.ns(node)

    def is_up(self) -> bool:
        mine = [n for n in list_namespaces() if n.startswith(f"{self.spec.name}-")]
        return bool(mine) or (self.dir / "state.json").exists()

    # -- up / down --------------------------------------------------------------

    def up(self, wait_s: float = 30.0) -> None:
        if self.is_up():
            raise LabError(
                f"lab {self.spec.name!r} is already up (see `routepilot lab status`, "
                "or `routepilot lab down` first)"
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state.save()
        try:
            topology.build(self.spec, self.state.namespaces)
            self.state.save()
            self._start_daemons()
            self._write_controller_config()
            if wait_s:
                self.wait_established(wait_s)
        except BaseException:
            log.error("lab up failed; removing what was built", lab=self.spec.name)
            self.down()
            raise
        self.state.ready = True
        self.state.save()
        log.info("lab up", lab=self.spec.name, providers=len(self.spec.providers))

    def down(self) -> list[str]:
        """Removes every namespace, process and file of this lab; returns what it removed."""
        removed: list[str] = []
        records = self.state.processes
        pids = [r.pid for r in records if self._owns(r)]
        ours = sorted(
            {
                *self.state.namespaces,
                *[n for n in list_namespaces() if n.startswith(f"{self.spec.name}-")],
            }
        )
        for ns in ours:
            pids += namespace_pids(ns)
        terminate(sorted(set(pids)))
        removed += [f"pid {p}" for p in sorted(set(pids))]
        for ns in ours:
            delete_namespace(ns)
            removed.append(f"netns {ns}")
        if self.dir.exists():
            shutil.rmtree(self.dir)
            removed.append(f"dir {self.dir}")
        self.state = LabState(name=self.spec.name, spec=self.state.spec, created=time.time())
        return removed

    @staticmethod
    def _owns(rec: ProcessRecord) -> bool:
        return pid_alive(rec.pid) and rec.marker in pid_cmdline(rec.pid)

    # -- daemons ----------------------------------------------------------------

    def _spawn(
        self, node: str, role: str, cmd: list[str], marker: str, in_namespace: bool = True
    ) -> int:
        ns = self.ns(node) if in_namespace else None
        pid = spawn(ns, cmd, self.dir / f"{node}-{role}.log")
        self.state.processes.append(ProcessRecord(node, role, pid, marker))
        self.state.save()
        return pid

    def _start_bird(self, node: str, config: str) -> None:
        conf = self.dir / f"{node}-bird.conf"
        conf.write_text(config)
        sock, pidfile = self.dir / f"{node}-bird.ctl", self.dir / f"{node}-bird.pid"
        # -f: stay in the foreground as our child, so its PID is known at once.
        self._spawn(
            node,
            "bird",
            ["bird", "-f", "-c", str(conf), "-s", str(sock), "-P", str(pidfile)],
            str(conf),
        )

    def _start_frr_edge(self) -> None:
        # FRR drops privileges to its own user (root is not in its vty group), so
        # everything it writes lives in a folder that user owns.
        home = self.dir / "edge-frr"
        home.mkdir(exist_ok=True)
        conf = home / "frr.conf"
        conf.write_text(frr.edge_config(self.spec, str(home / "frr.log")))
        try:
            pw = pwd.getpwnam("frr")
        except KeyError:
            raise LabError("FRR is not installed (apt-get install frr)") from None
        for path in (home, conf):
            os.chown(path, pw.pw_uid, pw.pw_gid)
        zsock = home / "zserv.api"
        common = ["--vty_socket", str(home), "-z", str(zsock), "-f", str(conf)]
        self._spawn(
            "edge",
            "zebra",
            ["/usr/lib/frr/zebra", *common, "-i", str(home / "zebra.pid")],
            str(zsock),
        )
        deadline = time.monotonic() + 10
        while not zsock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._spawn(
            "edge", "bgpd", ["/usr/lib/frr/bgpd", *common, "-i", str(home / "bgpd.pid")], str(zsock)
        )

    def _start_daemons(self) -> None:
        if self.spec.edge_router == "frr":
            self._start_frr_edge()
        else:
            self._start_bird("edge", bird.edge_config(self.spec, str(self.dir / "edge-bird.log")))
        for p in self.spec.providers:
            log_path = str(self.dir / f"{p.name}-bird.log")
            self._start_bird(p.name, bird.provider_config(self.spec, p.name, log_path))
            impair.install_hooks(self.ns(p.name))
            rules = self.dir / f"{p.name}-impair.json"
            # The delayer reads its rules at start (a SIGHUP before its handler is
            # installed would kill it), then the kernel rules steer packets to it.
            rules.write_text(json.dumps(impair.delayer_rules([], p.base_delay_ms)))
            self._spawn(
                p.name,
                "delayer",
                [sys.executable, "-m", "routepilot.lab.delayer", str(rules)],
                str(rules),
            )
            if p.base_delay_ms:
                impair.apply(self.ns(p.name), [], rules, None, p.base_delay_ms)
        self._spawn(
            "inet", "sink", [sys.executable, "-m", "routepilot.lab.sink"], "routepilot.lab.sink"
        )
        self._start_exporters()

    def ifindexes(self) -> dict[str, int]:
        """Kernel ifIndex of each of edge's provider-facing interfaces (one `ip` call)."""
        links = json.loads(run(["ip", "-j", "-n", self.ns("edge"), "link", "show"]))
        index = {link["ifname"]: link["ifindex"] for link in links}
        return {p.name: index[p.name] for p in self.spec.providers}

    def _start_exporters(self) -> None:
        ex = self.spec.export
        if ex.exporter == "none":
            return
        target = f"{CTL_LINK[1]}:{ex.port}"
        ifindexes = self.ifindexes()
        for p in self.spec.providers:
            idx = ifindexes[p.name]
            if ex.exporter == "softflowd":
                ctl = self.dir / f"edge-softflowd-{p.name}.ctl"
                cmd = [
                    "softflowd",
                    "-d",
                    "-i",
                    f"{idx}:{p.name}",
                    "-n",
                    target,
                    "-v",
                    str(ex.version),
                    "-t",
                    f"maxlife={ex.active_timeout_s}",
                    "-t",
                    "expint=1",
                    "-p",
                    str(self.dir / f"edge-softflowd-{p.name}.pid"),
                    "-c",
                    str(ctl),
                ]
                if ex.version != 5:
                    cmd.append("-6")
                self._spawn("edge", f"softflowd-{p.name}", cmd, str(ctl))
            else:
                conf = self.dir / f"edge-pmacctd-{p.name}.conf"
                conf.write_text(
                    "daemonize: false\n"
                    f"pcap_interface: {p.name}\n"
                    "pcap_ifindex: sys\n"
                    "pcap_direction: out\n"
                    "plugins: nfprobe\n"
                    f"nfprobe_receiver: {target}\n"
                    f"nfprobe_version: {ex.version}\n"
                    f"nfprobe_timeouts: maxlife={ex.active_timeout_s}:expint=1\n"
                    "nfprobe_direction: out\n"
                    f"nfprobe_ifindex: {idx}\n"
                    "aggregate: src_host, dst_host, src_port, dst_port, proto, tos\n"
                )
                # pmacctd rewrites its process title, so its name is the marker.
                self._spawn("edge", f"pmacctd-{p.name}", ["pmacctd", "-f", str(conf)], "pmacctd")

    def _write_controller_config(self, api_port: int = 8080) -> None:
        cfg = controller_config(
            self.spec, self.ifindexes(), str(self.dir / "routepilot.db"), api_port
        )
        (self.dir / "routepilot.yaml").write_text(dump_yaml(cfg))

    # -- the controller -----------------------------------------------------------

    def controller_pid(self) -> int | None:
        return next(
            (r.pid for r in self.state.processes if r.role == "controller" and self._owns(r)), None
        )

    def controller_start(
        self,
        config: Path | None = None,
        api_port: int | None = None,
        wait_s: float = 30.0,
        dry_run: bool = False,
    ) -> int:
        """Starts `routepilot run` for this lab: BGP, flows and probes in `ctl`, its API
        on the host's loopback. Returns its PID once its BGP session is Established."""
        if self.controller_pid():
            raise LabError("the controller is already running (lab controller stop first)")
        if config is None:
            if api_port is not None:
                self._write_controller_config(api_port)
            config = self.controller_config_path
        if dry_run:
            try:
                cfg = load_file(config, Config)
            except ConfigError as exc:
                raise LabError(str(exc)) from None
            cfg = cfg.model_copy(update={"inject": cfg.inject.model_copy(update={"dry_run": True})})
            config = self.dir / "routepilot-dry-run.yaml"
            config.write_text(dump_yaml(cfg))
        cmd = [
            sys.executable,
            "-m",
            "routepilot.cli.main",
            "run",
            "-c",
            str(config),
            "--netns",
            self.ns("ctl"),
        ]
        pid = self._spawn("ctl", "controller", cmd, str(config), in_namespace=False)
        deadline = time.monotonic() + wait_s
        while wait_s and time.monotonic() < deadline:
            if not pid_alive(pid):
                log_file = self.dir / "ctl-controller.log"
                tail = log_file.read_text().strip().splitlines()[-1:] if log_file.exists() else []
                raise LabError("the controller exited at start" + (f": {tail[0]}" if tail else ""))
            if self.bgp_sessions("edge").get("ctl") == "Established":
                return pid
            time.sleep(0.2)
        if wait_s:
            raise LabError(f"the controller's BGP session is not Established after {wait_s:.0f} s")
        return pid

    def controller_kill(self) -> bool:
        """SIGKILL, as a crash would: for fail-open tests and demonstrations."""
        pid = self.controller_pid()
        if pid is None:
            return False
        os.kill(pid, 9)
        terminate([pid], timeout=5)
        self.state.processes = [r for r in self.state.processes if r.role != "controller"]
        self.state.save()
        return True

    def controller_stop(self, timeout_s: float = 15.0) -> bool:
        """Stops the controller gracefully (it withdraws its routes first)."""
        recs = [r for r in self.state.processes if r.role == "controller"]
        running = [r.pid for r in recs if self._owns(r)]
        terminate(running, timeout=timeout_s)
        self.state.processes = [r for r in self.state.processes if r.role != "controller"]
        self.state.save()
        return bool(running)

    @property
    def controller_config_path(self) -> Path:
        return self.dir / "routepilot.yaml"

    # -- BGP ----------------------------------------------------------------------

    def birdc(self, node: str, command: str) -> str:
        sock = self.dir / f"{node}-bird.ctl"
        return nsrun(self.ns(node), ["birdc", "-s", str(sock), *command.split()])

    def vtysh(self, command: str) -> str:
        """Runs a command on an FRR edge (`show bgp summary json` …)."""
        return nsrun(
            self.ns("edge"), ["vtysh", "--vty_socket", str(self.dir / "edge-frr"), "-c", command]
        )

    def bgp_sessions(self, node: str = "edge") -> dict[str, str]:
        """Session name -> BGP state (Established, Active, Connect …) as the router reports it.

        Names are BIRD's protocol names (isp1, isp1_v6, ctl) whichever daemon runs edge."""
        if node == "edge" and self.spec.edge_router == "frr":
            return self._frr_sessions()
        try:
            out = self.birdc(node, "show protocols")
        except LabError:
            return {}
        sessions = {}
        for line in out.splitlines():
            m = _PROTO_LINE.match(line.strip())
            if m:
                sessions[m.group(1)] = m.group(3)
        return sessions

    def _frr_sessions(self) -> dict[str, str]:
        try:
            raw = json.loads(self.vtysh("show bgp neighbors json") or "{}")
        except (LabError, ValueError):
            return {}
        names = frr.session_names(self.spec)
        return {
            names.get(addr, addr): info.get("bgpState", "?")
            for addr, info in raw.items()
            if isinstance(info, dict)
        }

    def wait_established(self, timeout_s: float) -> float:
        """Waits until every edge<->provider session is Established; returns seconds taken."""
        start = time.monotonic()
        wanted = {f"{p.name}{s}" for p in self.spec.providers for s in ("", "_v6")}
        while True:
            state = self.bgp_sessions("edge")
            down = sorted(n for n in wanted if state.get(n) != "Established")
            if not down:
                return time.monotonic() - start
            if time.monotonic() - start > timeout_s:
                raise LabError(
                    f"BGP sessions not Established after {timeout_s:.0f} s: "
                    + ", ".join(f"{n}={state.get(n, '?')}" for n in down)
                )
            time.sleep(0.25)

    # -- impairments ------------------------------------------------------------

    def impairments(self, provider: str) -> list[impair.Impairment]:
        return impair.from_dicts(self.state.impairments.get(provider, []))

    def impair(
        self,
        provider: str,
        prefixes: list[str] | None = None,
        *,
        delay_ms: float = 0.0,
        jitter_ms: float = 0.0,
        loss_pct: float = 0.0,
        blackhole: bool = False,
    ) -> None:
        """Sets the impairment of ``provider`` toward ``prefixes`` (all destinations when none)."""
        self.spec.index(provider)
        targets = [impair.check_prefix(p) for p in prefixes] if prefixes else [impair.ALL]
        entries = self.impairments(provider)
        for t in targets:
            entries = impair.merge(
                entries, impair.Impairment(t, delay_ms, jitter_ms, loss_pct, blackhole)
            )
        self._apply(provider, entries)

    def clear(self, provider: str, prefixes: list[str] | None = None) -> None:
        """Removes impairments of ``provider`` (only for ``prefixes`` when given)."""
        self.spec.index(provider)
        if prefixes:
            drop = {impair.check_prefix(p) for p in prefixes}
            entries = [e for e in self.impairments(provider) if e.prefix not in drop]
        else:
            entries = []
        self._apply(provider, entries)

    def clear_all(self) -> None:
        """Removes every provider's impairments."""
        for p in self.spec.providers:
            self.clear(p.name)

    def _apply(self, provider: str, entries: list[impair.Impairment]) -> None:
        delayer = next(
            (
                r.pid
                for r in self.state.processes
                if r.node == provider and r.role == "delayer" and self._owns(r)
            ),
            None,
        )
        base = self.spec.providers[self.spec.index(provider) - 1].base_delay_ms
        impair.apply(
            self.ns(provider), entries, self.dir / f"{provider}-impair.json", delayer, base
        )
        self.state.impairments[provider] = impair.to_dicts(entries)
        self.state.save()

    # -- traffic ----------------------------------------------------------------

    def traffic_start(
        self, rate_mbps: float | None = None, duration_s: float | None = None, v6: bool = True
    ) -> int:
        self.traffic_stop()
        t = self.spec.traffic
        rate = rate_mbps if rate_mbps is not None else t.rate_mbps
        duration = duration_s if duration_s is not None else t.duration_s
        if rate <= 0 or duration <= 0:
            raise LabError("traffic rate and duration must be positive")
        prefixes = self.spec.prefixes_v4_list() + (self.spec.prefixes_v6_list() if v6 else [])
        cmd = [
            sys.executable,
            "-m",
            "routepilot.lab.traffic",
            "--rate",
            str(rate),
            "--duration",
            str(duration),
            "--zipf",
            str(t.zipf_s),
            "--hosts",
            str(t.hosts_per_prefix),
            "--tcp-share",
            str(t.tcp_share),
            *prefixes,
        ]
        pid = self._spawn("cust", "traffic", cmd, "routepilot.lab.traffic")
        self.state.traffic = {
            "pid": pid,
            "rate_mbps": rate,
            "started": time.time(),
            "duration_s": duration,
        }
        self.state.save()
        return pid

    def traffic_stop(self) -> bool:
        recs = [r for r in self.state.processes if r.role == "traffic"]
        running = [r.pid for r in recs if self._owns(r)]
        terminate(running)
        self.state.processes = [r for r in self.state.processes if r.role != "traffic"]
        self.state.traffic = {}
        self.state.save()
        return bool(running)

    # -- status -----------------------------------------------------------------

    def status(self) -> dict:
        existing = set(list_namespaces())
        procs = [
            {"node": r.node, "role": r.role, "pid": r.pid, "alive": self._owns(r)}
            for r in self.state.processes
        ]
        edge_routes = 0
        with contextlib.suppress(LabError):
            proto = "bgp" if self.spec.edge_router == "frr" else "bird"
            edge_routes = len(
                nsrun(self.ns("edge"), ["ip", "route", "show", "proto", proto]).splitlines()
            )
        traffic = dict(self.state.traffic)
        if traffic:
            traffic["running"] = any(p["alive"] for p in procs if p["role"] == "traffic")
        return {
            "name": self.spec.name,
            "edge_router": self.spec.edge_router,
            "ready": self.state.ready,
            "nodes": {
                n: {"namespace": self.spec.ns(n), "exists": self.spec.ns(n) in existing}
                for n in self.spec.nodes()
            },
            "providers": [
                {
                    "name": p.name,
                    "asn": p.asn,
                    "capacity_mbps": p.capacity_mbps,
                    "announces": len(p.announced(self.spec.prefixes)),
                    "impairments": self.state.impairments.get(p.name, []),
                }
                for p in self.spec.providers
            ],
            "bgp": self.bgp_sessions("edge"),
            "edge_bgp_routes_in_fib": edge_routes,
            "processes": procs,
            "traffic": traffic,
            "controller_config": str(self.controller_config_path),
        }


@contextlib.contextmanager
def running(spec: LabSpec, wait_s: float = 30.0) -> Iterator[Lab]:
    """A lab up for the duration of a block (tests, benchmarks) and removed after it,
    whatever happens. A leftover of the same name (a run that was killed) goes first."""
    lab = Lab(spec)
    lab.down()
    try:
        lab.up(wait_s=wait_s)
        yield lab
    finally:
        lab.down()

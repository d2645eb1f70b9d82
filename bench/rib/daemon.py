"""The whole daemon learning a table over BMP while its API answers (issue #18), before and after.

Issue #18 wants ``routepilot run`` to learn a full table (5M paths) within 60 s on this
2-core machine while its API stays responsive (``/api/v1/status`` p99 at most 250 ms).
``bench/rib/learn.py`` measures the station's and the RIB's CPU in process; this runs
the real daemon, as a user runs it, and measures it from outside:

1. **The daemon.** ``routepilot run -c FILE`` (the CLI's entry point, with
   ``PYTHONPATH`` set to the tree measured) on a configuration of its own in a
   temporary folder: dry-run, no flows, no probes, no telemetry, SQLite store, the API
   and the BMP station on free ports of 127.0.0.1, and one router, ``edge``, with
   ``route_source: bmp`` at 127.0.0.1 (where the stream comes from). The daemon always
   runs its BGP speaker (ExaBGP) for its injections; it is pointed at
   ``127.0.0.1:179``, where nothing listens (checked before each run: the bench stops if
   something accepts there), so it only retries its connection; being dry-run, nothing
   would be sent anyway. Its CPU is counted with the daemon's, as it is part of it.
2. **The router.** The bench connects to the station over loopback TCP and writes the
   table as a router does (``bench/rib/tables.py``, the same bytes ``learn.py`` feeds):
   an Initiation, a Peer Up per provider (a monitored peer each, post-policy), then one
   Route Monitoring message per BGP UPDATE, up to 64 NLRI each (one with
   ``--shape frr``, as FRR sends a table); TCP's flow control
   paces it at the rate the station reads. The connection stays open until the daemon
   has stopped (a closed BMP session would withdraw every path).
3. **Watched.** ``/api/v1/status`` every ``--poll`` seconds (each request's latency,
   one request at a time, as a dashboard polls); the table is *learned* at the first
   status whose ``routes.paths`` is the table's whole count of (peer, prefix) pairs.
   psutil reads the CPU time of the daemon's process tree (routepilot, ExaBGP and its
   helper), and ``/proc/PID/status`` their peak RSS (VmHWM), at every poll. Then 10
   more status requests, the table learned: what one costs by itself. Percentiles are
   by nearest rank over every request of a run (a few tens: p90 and p99 are near the
   worst).
4. **Stopped.** SIGTERM, timed until the process has exited.

``--before TREE`` runs the same with another source tree (say ``/work/main/src``),
alternating round by round so that a busy moment hits both, and prints both with the
ratio after/before (median over ``--rounds``). Two identical trees give the bench's
noise. Needs no root, no namespace; only loopback.

Usage: python bench/rib/daemon.py [--paths N] [--shape soak|mrt|frr|sync] [--before TREE]
       [--rounds R] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from bench.rib.tables import bmp_stream, table_updates  # noqa: E402

LAUNCH = "import sys; sys.argv[0] = 'routepilot'; from routepilot.cli.main import main; main()"
"""``routepilot`` as the console script runs it, from whichever tree PYTHONPATH names."""
SPEAKER_TARGET = ("127.0.0.1", 179)
"""Where the daemon's BGP speaker tries to connect (the router's address): nothing may
listen there."""


IDLE_POLLS = 10
"""Status requests once the table is learned."""


class BenchError(RuntimeError):
    """A run that could not be measured; the message says why."""


@dataclass
class Table:
    """The table as a router sends it, and what the RIB holds once it is learned."""

    shape: str
    providers: list[tuple[str, list[str], int]]
    """(name, next hops, ASN) per provider, a monitored peer each."""
    stream: bytes
    paths: int
    """Distinct (peer, prefix) pairs: the paths a RIB holds without add-path."""
    updates: int


@dataclass
class Run:
    """One daemon's figures."""

    tree: str
    learn_s: float = 0.0
    """From the bench's connection to the station to the first status with every path."""
    sent_s: float = 0.0
    """From that connection to the stream's last byte taken by the kernel."""
    paths_per_s: float = 0.0
    cpu_s: float = 0.0
    """CPU time of the daemon's process tree while it learned (user and system)."""
    cpu_us_per_path: float = 0.0
    main_us_per_path: float = 0.0
    """CPU a path of routepilot's own process, where its event loop (and the API) runs;
    the rest of the tree is its BMP station process, if any, and its speaker."""
    rss_mib: float = 0.0
    """Peak RSS (VmHWM) of routepilot's process."""
    tree_rss_mib: float = 0.0
    """The same summed over its process tree (ExaBGP and its helper too)."""
    status_ms: list[float] = field(default_factory=list)
    """Every status request's latency while the table arrived."""
    status_errors: int = 0
    idle_ms: list[float] = field(default_factory=list)
    """Status latency once the table is learned and the stream has been taken: what a
    request costs by itself, against which the figures while learning read as stalls."""
    state: str = ""
    """``routes.state`` when the table was learned."""
    exit_s: float = 0.0
    returncode: int | None = None

    def latency(self, q: float) -> float:
        ms = sorted(self.status_ms)
        return ms[min(len(ms) - 1, int(q * len(ms)))] if ms else float("nan")


def make_table(shape: str, paths: int) -> Table:
    providers, updates = table_updates(shape, paths)
    asns: dict[int, int] = {}
    for k, _, segments, *_ in updates:
        if k not in asns and segments and segments[0][1]:
            asns[k] = segments[0][1][0]
    pairs = {(u[0], p) for u in updates for p in u[-1]}
    named = [(name, hops, asns.get(k, 64_601 + k)) for k, (name, hops) in enumerate(providers)]
    return Table(shape, named, bmp_stream(providers, updates), len(pairs), len(updates))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(table: Table, folder: Path, api_port: int, bmp_port: int) -> dict:
    """The daemon's configuration: every stage off but the RIB, its station and the API."""
    return {
        "log_level": "warning",
        "routers": [
            {"name": "edge", "address": SPEAKER_TARGET[0], "asn": 65000, "route_source": "bmp"}
        ],
        "providers": [
            {"name": n, "asn": asn, "next_hops": hops, "capacity_mbps": 10_000}
            for n, hops, asn in table.providers
        ],
        "flows": {"enabled": False},
        "probe": {"enabled": False},
        "inject": {"dry_run": True},
        "api": {"listen": "127.0.0.1", "port": api_port},
        "rib": {
            "bmp": {"listen": "127.0.0.1", "port": bmp_port},
            "speaker": {"router_id": "198.18.0.1"},
            "max_prefixes": max(4_000_000, table.paths),
        },
        "store": {"path": str(folder / "routepilot.db")},
    }


def check_speaker_target() -> None:
    """The speaker's connection must be refused: a BGP listener there would get a session."""
    with socket.socket() as s:
        s.settimeout(2)
        if s.connect_ex(SPEAKER_TARGET) == 0:
            raise BenchError(
                f"something listens on {SPEAKER_TARGET[0]}:{SPEAKER_TARGET[1]}: the daemon's "
                "BGP speaker would connect to it; stop it or run elsewhere"
            )


def check_tree(tree: Path, env: dict) -> None:
    """PYTHONPATH must win over any installed routepilot, or both runs measure one tree."""
    got = subprocess.run(
        [sys.executable, "-c", "import routepilot; print(routepilot.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    path = got.stdout.strip()
    if got.returncode or not Path(path).resolve().is_relative_to(tree.resolve()):
        raise BenchError(f"routepilot imports from {path or got.stderr.strip()}, not {tree}")


class Watch:
    """The daemon's process tree, read from outside: CPU time and peak RSS per process.

    A process seen once is remembered with its last reading, so a helper that exits
    still counts."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.cpu: dict[int, float] = {}
        self.hwm: dict[int, int] = {}
        self.folders: set[Path] = set()
        """The speaker's temporary folders (its configuration's), removed after a kill."""

    def sample(self) -> float:
        with contextlib.suppress(psutil.Error):
            procs = [self.root, *self.root.children(recursive=True)]
            for p in procs:
                with contextlib.suppress(psutil.Error, OSError):
                    if p.pid not in self.cpu:
                        self.folders |= {
                            Path(a).parent for a in p.cmdline() if a.endswith("/exabgp.conf")
                        }
                    # A process's own time only: a reaped child's is in its parent's
                    # children_* and already in its own last reading here.
                    t = p.cpu_times()
                    self.cpu[p.pid] = t.user + t.system
                    self.hwm[p.pid] = max(self.hwm.get(p.pid, 0), vm_hwm(p.pid))
        return sum(self.cpu.values())

    def pids(self) -> set[int]:
        return set(self.cpu)


def vm_hwm(pid: int) -> int:
    """Peak resident set of ``pid`` in bytes (Linux ``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def status(port: int, timeout: float) -> tuple[float, dict | None]:
    """(latency ms, the status or None on an error)."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/api/v1/status")
        resp = conn.getresponse()
        body = resp.read()
        ms = 1000 * (time.perf_counter() - start)
        return ms, json.loads(body) if resp.status == 200 else None
    except (OSError, http.client.HTTPException, ValueError):
        return 1000 * (time.perf_counter() - start), None
    finally:
        conn.close()


def tail(log: Path, lines: int = 15) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return ""


class Sender(threading.Thread):
    """The router: connects to the station and writes the whole stream, then keeps the
    session open until :meth:`close`."""

    def __init__(self, port: int, stream: bytes, timeout: float) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.settimeout(timeout)
        self.stream = stream
        self.started = time.perf_counter()
        self.done: float | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.sock.sendall(self.stream)
            self.done = time.perf_counter()
        except OSError as exc:
            self.error = exc

    def close(self) -> None:
        self.sock.close()


def wait_api(proc: subprocess.Popen, api_port: int, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"the daemon exited with {proc.returncode} at start:\n{tail(log)}")
        _, got = status(api_port, 2)
        if got is not None:
            return
        time.sleep(0.1)
    raise BenchError(f"the daemon's API did not answer within {timeout:.0f} s:\n{tail(log)}")


def connect(proc: subprocess.Popen, table: Table, bmp_port: int, log: Path, t: float) -> Sender:
    deadline = time.monotonic() + 30
    while True:
        try:
            return Sender(bmp_port, table.stream, t)
        except OSError as exc:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"the BMP station did not accept: {exc}\n{tail(log)}") from None
            time.sleep(0.1)


def measure(tree: Path, table: Table, poll: float, timeout: float) -> Run:
    """One daemon from ``tree`` learning ``table``; it is killed whatever happens."""
    check_speaker_target()
    run = Run(str(tree))
    env = {**os.environ, "PYTHONPATH": str(tree)}
    check_tree(tree, env)
    with tempfile.TemporaryDirectory(prefix="routepilot-daemonbench-") as tmp:
        folder = Path(tmp)
        api_port, bmp_port = free_port(), free_port()
        cfg = folder / "routepilot.yaml"
        cfg.write_text(json.dumps(config(table, folder, api_port, bmp_port), indent=1))
        log = folder / "daemon.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", LAUNCH, "run", "-c", str(cfg)],
                env=env,
                cwd=folder,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as one on failure
            )
        watch: Watch | None = None
        sender: Sender | None = None
        try:
            watch = Watch(proc.pid)
            wait_api(proc, api_port, log, 60)
            cpu0 = watch.sample()
            main0 = watch.cpu.get(proc.pid, 0.0)
            sender = connect(proc, table, bmp_port, log, timeout)
            sender.start()
            learn(run, proc, sender, watch, api_port, table, poll, timeout, log)
            run.cpu_s = watch.sample() - cpu0
            run.cpu_us_per_path = 1e6 * run.cpu_s / table.paths
            run.main_us_per_path = 1e6 * (watch.cpu.get(proc.pid, 0.0) - main0) / table.paths
            for _ in range(IDLE_POLLS):
                time.sleep(poll)
                run.idle_ms.append(status(api_port, timeout=30)[0])
            watch.sample()
            run.rss_mib = watch.hwm.get(proc.pid, 0) / 2**20
            run.tree_rss_mib = sum(watch.hwm.values()) / 2**20
            start = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            try:
                run.returncode = proc.wait(60)
            except subprocess.TimeoutExpired:
                raise BenchError(
                    f"the daemon did not exit 60 s after SIGTERM:\n{tail(log)}"
                ) from None
            run.exit_s = time.perf_counter() - start
        finally:
            if sender is not None:
                sender.close()
            stop(proc, watch.pids() if watch else set())
            for speaker_folder in watch.folders if watch else ():
                if speaker_folder.name.startswith("routepilot-exabgp-"):
                    shutil.rmtree(speaker_folder, ignore_errors=True)
    return run


def learn(
    run: Run,
    proc: subprocess.Popen,
    sender: Sender,
    watch: Watch,
    api_port: int,
    table: Table,
    poll: float,
    timeout: float,
    log: Path,
) -> None:
    """Polls the status until it shows every path; fills ``run``'s learning figures."""
    paths = 0
    while True:
        tick = time.perf_counter()
        ms, got = status(api_port, timeout=30)
        now = time.perf_counter()
        run.status_ms.append(ms)
        if got is None:
            run.status_errors += 1
        else:
            routes = got.get("routes", {})
            paths = routes.get("paths", 0)
            if paths >= table.paths:
                run.learn_s = now - sender.started
                run.state = routes.get("state", "")
                break
        if proc.poll() is not None:
            raise BenchError(
                f"the daemon exited with {proc.returncode} while learning:\n{tail(log)}"
            )
        if sender.error is not None:
            raise BenchError(f"sending the table failed after {paths} paths: {sender.error}")
        if now - sender.started > timeout:
            raise BenchError(
                f"the daemon held {paths} of {table.paths} paths after {timeout:.0f} s "
                f"(stream {'sent' if sender.done else 'still sending'})"
            )
        watch.sample()
        time.sleep(max(0.0, poll - (time.perf_counter() - tick)))
    if sender.done is None:
        sender.join(5)
    run.sent_s = (sender.done or time.perf_counter()) - sender.started
    run.paths_per_s = table.paths / run.learn_s


def stop(proc: subprocess.Popen, pids: set[int]) -> None:
    """Kills the daemon's process group and any process of its tree still alive (by pid,
    only those seen under the daemon)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
    for pid in pids - {proc.pid}:
        with contextlib.suppress(psutil.Error):
            child = psutil.Process(pid)
            child.kill()


ROWS = (
    ("learn_s", "table learned (s)", "{:.1f}"),
    ("sent_s", "stream taken by the station (s)", "{:.1f}"),
    ("paths_per_s", "paths a second", "{:,.0f}"),
    ("cpu_s", "CPU of the daemon's tree (s)", "{:.1f}"),
    ("cpu_us_per_path", "CPU a path (us)", "{:.1f}"),
    ("main_us_per_path", "CPU a path, routepilot's own process (us)", "{:.1f}"),
    ("rss_mib", "peak RSS routepilot (MiB)", "{:.0f}"),
    ("tree_rss_mib", "peak RSS with its speaker (MiB)", "{:.0f}"),
    ("p50", "status p50 while learning (ms)", "{:.1f}"),
    ("p90", "status p90 (ms)", "{:.1f}"),
    ("p99", "status p99 (ms)", "{:.1f}"),
    ("worst", "status worst (ms)", "{:.0f}"),
    ("idle_p50", "status p50 once learned (ms)", "{:.1f}"),
    ("idle_worst", "status worst once learned (ms)", "{:.1f}"),
    ("exit_s", "SIGTERM to exit (s)", "{:.2f}"),
)


def figures(run: Run) -> dict[str, float]:
    out = {k: float(getattr(run, k)) for k, _, _ in ROWS if hasattr(run, k)}
    out.update(p50=run.latency(0.5), p90=run.latency(0.9), p99=run.latency(0.99))
    out["worst"] = max(run.status_ms, default=float("nan"))
    out["idle_p50"] = statistics.median(run.idle_ms) if run.idle_ms else float("nan")
    out["idle_worst"] = max(run.idle_ms, default=float("nan"))
    return out


def report(table: Table, runs: dict[str, list[Run]]) -> None:
    names = list(runs)
    med = {
        n: {k: statistics.median(figures(r)[k] for r in rs) for k, _, _ in ROWS}
        for n, rs in runs.items()
    }
    rounds = len(next(iter(runs.values())))
    print(
        f"{table.shape}: {table.paths:,} paths in {table.updates:,} UPDATEs "
        f"({len(table.stream) / 2**20:.0f} MiB of BMP), median of {rounds} round(s)"
    )
    head = f"  {'':34s}" + "".join(f"{n:>12s}" for n in names)
    print(head + ("  after/before" if len(names) == 2 else ""))
    for key, label, fmt in ROWS:
        line = f"  {label:34s}" + "".join(f"{fmt.format(med[n][key]):>12s}" for n in names)
        if len(names) == 2 and med["before"][key]:
            line += f"  {med['after'][key] / med['before'][key]:11.2f}x"
        print(line)
    for n, rs in runs.items():
        polls = sum(len(r.status_ms) for r in rs)
        errors = sum(r.status_errors for r in rs)
        states = ", ".join(sorted({r.state for r in rs}))
        codes = ", ".join(sorted({str(r.returncode) for r in rs}))
        print(f"  {n}: {polls} status polls, {errors} failed; routes.state {states}; exit {codes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=1_000_000)
    parser.add_argument("--shape", choices=["soak", "mrt", "frr", "sync"], default="soak")
    parser.add_argument("--before", type=Path, help="another source tree, measured beside this")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between status polls")
    parser.add_argument("--timeout", type=float, help="seconds to learn; default 60 + 1 ms/path")
    parser.add_argument("--json", type=Path, help="write every run's figures here")
    args = parser.parse_args()
    timeout = args.timeout or 60 + args.paths / 1000
    trees = [("after", ROOT / "src")]
    if args.before:
        trees.insert(0, ("before", args.before))
    start = time.perf_counter()
    table = make_table(args.shape, args.paths)
    print(f"table made in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    runs: dict[str, list[Run]] = {name: [] for name, _ in trees}
    try:
        for i in range(args.rounds):
            for name, tree in trees if i % 2 == 0 else trees[::-1]:
                run = measure(tree, table, args.poll, timeout)
                runs[name].append(run)
                print(
                    f"round {i + 1} {name}: learned in {run.learn_s:.1f} s, "
                    f"p99 {run.latency(0.99):.0f} ms",
                    file=sys.stderr,
                )
    except BenchError as exc:
        sys.exit(f"daemon bench failed: {exc}")
    report(table, runs)
    if args.json:
        data = {
            "shape": table.shape,
            "paths": table.paths,
            "updates": table.updates,
            "runs": {n: [{**asdict(r), **figures(r)} for r in rs] for n, rs in runs.items()},
        }
        args.json.write_text(json.dumps(data, indent=1))


if __name__ == "__main__":
    main()

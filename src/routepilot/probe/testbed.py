"""A two-namespace testbed for the prober's integration tests and benchmark (root only).

``rpprobetest-<tag>-p`` (the prober) and ``rpprobetest-<tag>-r`` (the far end)
are joined by one veth pair per provider. The prober holds one probe source
address per provider (100.67.0.<i>, 2001:db8:ff67::<i>), policy-routed by source
and by mark <i> to provider i's link, as an edge router would. The far end
answers every address of 198.18.0.0/15 and 2001:db8:1000::/36 (AnyIP ``local``
routes): ICMP echo, TCP SYN to port 80 (a listener; other ports RST), UDP (port
unreachable), with ICMP rate limits lifted. Impairments apply per provider on
the far end's ingress: loss and blackhole with nftables, delay with an NFQUEUE
verdict delayer (this kernel has no netem).

Only these namespaces and the 198.18.0.0/15, 2001:db8::/32 and 100.64.0.0/10
ranges are ever used. ``python -m routepilot.probe.testbed delayer|listen`` are
the helper processes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from routepilot.probe.sockets import Steering

PREFIX = "rpprobetest-"
_CLONE_NEWNET = 0x40000000


def sh(*cmd: str, check: bool = True, input: str | None = None) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, input=input)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip()}")
    return proc.stdout


@contextlib.contextmanager
def netns(name: str) -> Iterator[None]:
    """Runs the block with this thread in namespace ``name``; sockets made there stay there."""
    libc = ctypes.CDLL(None, use_errno=True)
    back = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(target, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
        yield
    finally:
        libc.setns(back, _CLONE_NEWNET)
        os.close(target)
        os.close(back)


def source4(i: int) -> str:
    return f"100.67.0.{i}"


def source6(i: int) -> str:
    return f"2001:db8:ff67::{i}"


def destination(k: int, host: int = 1) -> str:
    """Address ``host`` of destination prefix k (the lab's plan: 198.18.k.0/24, then 198.19)."""
    return f"198.{18 + k // 256}.{k % 256}.{host}"


def prefix(k: int) -> str:
    return f"198.{18 + k // 256}.{k % 256}.0/24"


def prefix6(k: int) -> str:
    return f"2001:db8:{0x1000 + k:x}::/48"


def destination6(k: int, host: int = 1) -> str:
    return f"2001:db8:{0x1000 + k:x}::{host:x}"


class Testbed:
    """Brings the namespaces up in ``__enter__`` and always down in ``__exit__``."""

    def __init__(self, tag: str, providers: int = 2) -> None:
        # The creator's pid is part of the names, so that a run killed before it could clean
        # up is recognised and its namespaces reaped by the next one (see reap_stale).
        self.p = f"{PREFIX}{tag}-{os.getpid()}-p"
        self.r = f"{PREFIX}{tag}-{os.getpid()}-r"
        self.n = providers
        self._procs: list[subprocess.Popen] = []
        self._delayers: dict[int, subprocess.Popen] = {}
        self._nft: list[str] = []

    def steering(self, i: int, by: str = "source") -> Steering:
        if by == "mark":
            return Steering(mark=i)
        if by == "interface":
            return Steering(source=source4(i), source6=source6(i), interface=f"pv{i}")
        return Steering(source=source4(i), source6=source6(i))

    def providers(self, by: str = "source") -> list[tuple[str, Steering]]:
        return [(f"isp{i}", self.steering(i, by)) for i in range(1, self.n + 1)]

    def __enter__(self) -> Testbed:
        reap_stale()
        self.down()
        try:
            self._up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def _up(self) -> None:
        p, r = self.p, self.r
        for ns in (p, r):
            sh("ip", "netns", "add", ns)
            # No duplicate address detection: addresses are usable at once, not after ~1 s.
            for conf in ("all", "default"):
                sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{conf}.accept_dad=0")
        lines_p = ["link set lo up"]
        lines_r = [
            "link set lo up",
            "route add local 198.18.0.0/15 dev lo",
            "-6 route add local 2001:db8:1000::/36 dev lo",
        ]
        for i in range(1, self.n + 1):
            sh(
                "ip",
                "link",
                "add",
                f"pv{i}",
                "netns",
                p,
                "type",
                "veth",
                "peer",
                f"rv{i}",
                "netns",
                r,
            )
            lines_p += [
                f"addr add 100.66.{i}.1/24 dev pv{i}",
                f"-6 addr add 2001:db8:ff66:{i}::1/64 dev pv{i} nodad",
                f"link set pv{i} up",
                f"addr add {source4(i)}/32 dev lo",
                f"-6 addr add {source6(i)}/128 dev lo nodad",
                f"route add default via 100.66.{i}.2 dev pv{i} table {100 + i}",
                f"-6 route add default via 2001:db8:ff66:{i}::2 dev pv{i} table {100 + i}",
                f"rule add from {source4(i)} lookup {100 + i} pref {100 + i}",
                f"-6 rule add from {source6(i)} lookup {100 + i} pref {100 + i}",
                f"rule add fwmark {i} lookup {100 + i} pref {200 + i}",
                f"-6 rule add fwmark {i} lookup {100 + i} pref {200 + i}",
            ]
            lines_r += [
                f"addr add 100.66.{i}.2/24 dev rv{i}",
                f"-6 addr add 2001:db8:ff66:{i}::2/64 dev rv{i} nodad",
                f"link set rv{i} up",
                f"route add {source4(i)}/32 via 100.66.{i}.1 dev rv{i}",
                f"-6 route add {source6(i)}/128 via 2001:db8:ff66:{i}::1 dev rv{i}",
            ]
        for ns, lines in ((p, lines_p), (r, lines_r)):
            v4 = [x for x in lines if not x.startswith("-6 ")]
            v6 = [x[3:] for x in lines if x.startswith("-6 ")]
            sh("ip", "-n", ns, "-batch", "-", input="\n".join(v4) + "\n")
            sh("ip", "-6", "-n", ns, "-batch", "-", input="\n".join(v6) + "\n")
        for key, value in (
            ("net.ipv4.icmp_ratelimit", "0"),
            ("net.ipv4.icmp_msgs_per_sec", "10000000"),
            ("net.ipv4.icmp_msgs_burst", "10000000"),
            ("net.ipv6.icmp.ratelimit", "0"),
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.tcp_max_syn_backlog", "65536"),
            ("net.core.somaxconn", "65535"),
        ):
            sh("ip", "netns", "exec", r, "sysctl", "-qw", f"{key}={value}", check=False)
        sh("ip", "netns", "exec", p, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", check=False)
        sh(
            "ip", "netns", "exec", r, "nft", "-f", "-",
            input="table inet rpprobe {\n chain pre {\n"
            "  type filter hook prerouting priority -300; policy accept;\n }\n}\n",
        )  # fmt: skip
        self._procs.append(self._helper(r, "listen", "--port", "80"))
        self._warm_up()

    def _warm_up(self) -> None:
        """Resolves the neighbours of every link, so the first probes are not held by ND/ARP."""
        for i in range(1, self.n + 1):
            for src, dst in ((source4(i), destination(0)), (source6(i), destination6(0))):
                sh("ip", "netns", "exec", self.p, "ping", "-c1", "-W1", "-I", src, dst, check=False)

    def _helper(self, ns: str, *args: str, realtime: bool = False) -> subprocess.Popen:
        """Starts a helper inside ``ns``; its stdout is a pipe (the delayer says "ready")."""
        # The delayer stands for the network: real-time priority keeps its hold times
        # exact while the prober and everything else on the machine compete for the CPU.
        rt = ["chrt", "-f", "50"] if realtime and _realtime_ok() else []
        return subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                ns,
                *rt,
                sys.executable,
                "-m",
                "routepilot.probe.testbed",
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    # --- impairments on provider i's ingress at the far end --------------------------------

    def _rule(self, rule: str) -> None:
        sh("ip", "netns", "exec", self.r, "nft", "add", "rule", "inet", "rpprobe", "pre", rule)

    def clear_impairments(self) -> None:
        sh("ip", "netns", "exec", self.r, "nft", "flush", "chain", "inet", "rpprobe", "pre")
        for tool in ("iptables", "ip6tables"):
            sh("ip", "netns", "exec", self.r, tool, "-t", "mangle", "-F", check=False)
        for proc in self._delayers.values():
            _stop(proc)
        self._delayers.clear()

    def loss(self, i: int, permille: int, prefix: str = "198.18.0.0/15") -> None:
        fam = "ip6" if ":" in prefix else "ip"
        self._rule(f'iifname "rv{i}" {fam} daddr {prefix} numgen random mod 1000 < {permille} drop')

    def blackhole(self, i: int, prefix: str = "198.18.0.0/15") -> None:
        fam = "ip6" if ":" in prefix else "ip"
        self._rule(f'iifname "rv{i}" {fam} daddr {prefix} drop')

    def delay(self, i: int, ms: float, prefixes: tuple[str, ...] = ("198.18.0.0/15",)) -> None:
        """Holds packets toward ``prefixes`` arriving over provider i for ``ms``."""
        if i not in self._delayers:
            proc = self._helper(
                self.r, "delayer", "--queue", str(i), "--delay-ms", str(ms), realtime=True
            )
            self._delayers[i] = proc
            # Until the delayer has bound its queue, --queue-bypass lets packets through
            # undelayed: wait for its word.
            ready = select.select([proc.stdout], [], [], 20.0)[0]
            if not ready or proc.stdout.readline().strip() != "ready":
                raise RuntimeError(f"delayer for provider {i} did not start")
        for prefix in prefixes:
            tool = "ip6tables" if ":" in prefix else "iptables"
            sh(
                "ip", "netns", "exec", self.r, tool, "-t", "mangle", "-A", "PREROUTING",
                "-i", f"rv{i}", "-d", prefix, "-j", "NFQUEUE", "--queue-num", str(i),
                "--queue-bypass",
            )  # fmt: skip

    # --- teardown ---------------------------------------------------------------------------

    def down(self) -> None:
        for proc in [*self._delayers.values(), *self._procs]:
            _stop(proc)
        self._delayers.clear()
        self._procs.clear()
        for ns in (self.p, self.r):
            if Path(f"/run/netns/{ns}").exists():
                for pid in sh("ip", "netns", "pids", ns, check=False).split():
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(pid), signal.SIGKILL)
                sh("ip", "netns", "del", ns, check=False)


def reap_stale() -> list[str]:
    """Deletes testbed namespaces whose creating process is gone; returns their names."""
    gone = []
    for path in Path("/run/netns").glob(f"{PREFIX}*"):
        parts = path.name.rsplit("-", 2)
        if len(parts) != 3 or not parts[1].isdigit() or Path(f"/proc/{parts[1]}").exists():
            continue
        for pid in sh("ip", "netns", "pids", path.name, check=False).split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        sh("ip", "netns", "del", path.name, check=False)
        gone.append(path.name)
    return gone


def _realtime_ok() -> bool:
    """Whether this host lets us run a process under SCHED_FIFO (containers may not)."""
    if not shutil.which("chrt"):
        return False
    return subprocess.run(["chrt", "-f", "50", "true"], capture_output=True).returncode == 0


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(3)


# --- helper processes (run inside the far-end namespace) -----------------------------------


def _listen(port: int) -> None:
    import socket

    socks = []
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port))
        s.listen(65535)
        s.setblocking(False)
        socks.append(s)
    import select

    while True:
        readable, _, _ = select.select(socks, [], [], 1.0)
        for s in readable:
            with contextlib.suppress(OSError):
                conn, _ = s.accept()
                conn.close()


def _delayer(queue: int, delay_ms: float) -> None:
    """Accepts each queued packet ``delay_ms`` after it arrived (FIFO: one constant delay)."""
    import collections
    import select

    from netfilterqueue import COPY_META, NetfilterQueue

    delay_ns = int(delay_ms * 1e6)
    held: collections.deque = collections.deque()

    def on_packet(pkt) -> None:  # type: ignore[no-untyped-def]
        # The kernel's receive stamp, when there is one, is when the packet really arrived.
        now = time.time_ns()
        arrived = int(pkt.get_timestamp() * 1e9)
        if not 0 < now - arrived < 1_000_000_000:
            arrived = now
        held.append((arrived + delay_ns, pkt))

    nfq = NetfilterQueue()
    nfq.bind(queue, on_packet, max_len=65536, mode=COPY_META)
    fd = nfq.get_fd()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    while True:
        now = time.time_ns()
        while held and held[0][0] <= now:
            held.popleft()[1].accept()
        timeout = 0.5
        if held:
            wait = (held[0][0] - now) / 1e9
            # Sleep most of the wait in select, the last stretch by spinning, for precision.
            timeout = max(0.0, wait - 0.0002)
        readable, _, _ = select.select([fd], [], [], timeout)
        if readable:
            nfq.run(block=False)
        elif held and timeout < 0.001:
            while time.time_ns() < held[0][0]:
                pass


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="routepilot.probe.testbed")
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("delayer")
    d.add_argument("--queue", type=int, required=True)
    d.add_argument("--delay-ms", type=float, required=True)
    li = sub.add_parser("listen")
    li.add_argument("--port", type=int, default=80)
    args = ap.parse_args(argv)
    if args.cmd == "delayer":
        _delayer(args.queue, args.delay_ms)
    else:
        _listen(args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Two network namespaces joined by a veth pair, with real flow exporters on one end.

Used by the integration tests and by ``make_golden.py`` (which refreshes the
captures in tests/unit/flows/testdata/). Namespaces are named ``rpflowtest-*``
and removed, with every process started here, whatever happens.

Layout: ``rpflowtest-<tag>-s`` holds ``v0`` (100.64.250.1/30, 2001:db8:fffe::1/64)
and the exporter; ``rpflowtest-<tag>-d`` holds ``v1`` (100.64.250.2). Traffic to
198.18.0.0/15 and 2001:db8::/32 leaves through ``v0`` and dies in the other
namespace. Exports go to 127.0.0.1 inside the source namespace, where tcpdump
records them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SEND_SCRIPT = r"""
import socket, sys, json
plan = json.loads(sys.argv[1])
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for dst, size, count in plan:
    s = s6 if ":" in dst else s4
    payload = b"x" * size
    for _ in range(count):
        s.sendto(payload, (dst, 9))
"""


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


class FlowLab:
    """A pair of namespaces; every method is safe to call after a partial setup."""

    def __init__(self, tag: str) -> None:
        self.src = f"rpflowtest-{tag}-s"
        self.dst = f"rpflowtest-{tag}-d"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.workdir = Path(tempfile.mkdtemp(prefix="rpflowtest-"))

    def up(self) -> None:
        for ns in (self.src, self.dst):
            _run("ip", "netns", "add", ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run("ip", "link", "add", "v0", "netns", self.src, "type", "veth", "peer", "v1",
             "netns", self.dst)  # fmt: skip
        _run("ip", "-n", self.src, "addr", "add", "100.64.250.1/30", "dev", "v0")
        _run("ip", "-n", self.dst, "addr", "add", "100.64.250.2/30", "dev", "v1")
        _run("ip", "-n", self.src, "addr", "add", "2001:db8:fffe::1/64", "dev", "v0", "nodad")
        _run("ip", "-n", self.dst, "addr", "add", "2001:db8:fffe::2/64", "dev", "v1", "nodad")
        _run("ip", "-n", self.src, "link", "set", "v0", "up")
        _run("ip", "-n", self.dst, "link", "set", "v1", "up")
        _run("ip", "-n", self.src, "route", "add", "198.18.0.0/15", "via", "100.64.250.2")
        _run("ip", "-n", self.src, "-6", "route", "add", "2001:db8::/32", "via",
             "2001:db8:fffe::2")  # fmt: skip

    def down(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=5)
        self.procs.clear()
        for ns in (self.src, self.dst):
            _run("ip", "netns", "del", ns, check=False)

    def start(self, *cmd: str) -> subprocess.Popen[bytes]:
        """Starts a process inside the source namespace."""
        p = subprocess.Popen(
            ["ip", "netns", "exec", self.src, *cmd],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / f"{Path(cmd[0]).name}.log", "ab"),  # noqa: SIM115
        )
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)

    def capture(self, path: Path, port: int) -> subprocess.Popen[bytes]:
        """tcpdump of export datagrams on the source namespace's loopback."""
        p = self.start("tcpdump", "-i", "lo", "-U", "-s", "0", "-Z", "root", "-w", str(path),
                       "udp", "and", "dst", "port", str(port))  # fmt: skip
        time.sleep(1.0)
        return p

    def send(self, plan: list[tuple[str, int, int]]) -> None:
        """Sends ``count`` UDP datagrams of ``size`` payload bytes to each destination."""
        import json

        _run("ip", "netns", "exec", self.src, "python3", "-c", SEND_SCRIPT, json.dumps(plan))

    def softflowd(self, version: int, port: int) -> subprocess.Popen[bytes]:
        ctl = self.workdir / "softflowd.ctl"
        return self.start("softflowd", "-d", "-i", "v0", "-v", str(version), "-n",
                          f"127.0.0.1:{port}", "-c", str(ctl), "-p",
                          str(self.workdir / "softflowd.pid"), "-6", "-t", "maxlife=1",
                          "-t", "expint=1")  # fmt: skip

    def softflowd_expire(self) -> None:
        ctl = self.workdir / "softflowd.ctl"
        _run("softflowctl", "-c", str(ctl), "expire-all", check=False)

    def pmacctd(self, plugin_conf: str) -> subprocess.Popen[bytes]:
        conf = self.workdir / "pmacctd.conf"
        conf.write_text(
            "daemonize: false\npcap_interface: v0\n"
            f"pidfile: {self.workdir / 'pmacctd.pid'}\n" + plugin_conf
        )
        return self.start("pmacctd", "-f", str(conf))


@contextmanager
def flow_lab(tag: str | None = None) -> Iterator[FlowLab]:
    lab = FlowLab(tag or str(os.getpid()))
    try:
        lab.down()  # leftovers of an earlier, killed run
        lab.up()
        yield lab
    finally:
        lab.down()

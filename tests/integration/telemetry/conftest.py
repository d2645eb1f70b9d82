"""A real net-snmp agent in its own network namespace, torn down whatever happens.

The agent serves the namespace's interfaces, so the namespace's loopback carries
only the traffic the test sends: its kernel counters are the truth the poller
must match. The poller reaches the agent over a veth pair (100.127.255.0/30, in
the lab's 100.64.0.0/10). The agent's ifTable cache (3 s by default) is set to 0
through NET-SNMP-AGENT-MIB's nsCacheTimeout so the counters are read on request,
as a router's counters are at poll time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HOST_IP, AGENT_IP = "100.127.255.1", "100.127.255.2"
PORT = 16161
COMMUNITY = "rp-test-community"
ADMIN = "rp-test-admin"
V3_USER, V3_AUTH, V3_PRIV = "rpuser", "rp-auth-pass-1", "rp-priv-pass-1"
IF_TABLE_CACHE = "1.3.6.1.4.1.8072.1.5.3.1.2.1.3.6.1.2.1.2.2"


@dataclass
class Agent:
    netns: str
    pid: int
    port: int
    workdir: Path

    def counters(self, ifname: str = "lo") -> tuple[int, int]:
        """(rx_bytes, tx_bytes) of an interface of the agent's namespace, from the kernel."""
        for line in Path(f"/proc/{self.pid}/net/dev").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name.strip() == ifname:
                f = rest.split()
                return int(f[0]), int(f[8])
        raise KeyError(ifname)


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def _wait_answer(env: dict[str, str], port: int, deadline: float) -> None:
    while True:
        r = subprocess.run(
            ["snmpget", "-v2c", "-c", COMMUNITY, "-t", "0.3", "-r", "0",
             f"{AGENT_IP}:{port}", "1.3.6.1.2.1.1.3.0"],
            capture_output=True, text=True, env=env,
        )  # fmt: skip
        if r.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"snmpd on port {port} did not answer: {r.stderr.strip()}")
        time.sleep(0.1)


def start_snmpd(netns: str, workdir: Path, port: int, *extra: str) -> tuple[subprocess.Popen, dict]:
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "snmpd.conf"
    conf.write_text(
        f"agentaddress udp:{AGENT_IP}:{port}\n"
        f"rocommunity {COMMUNITY} {HOST_IP}\n"
        f"rwcommunity {ADMIN} {HOST_IP} .1.3.6.1.4.1.8072.1.5\n"
        f'createUser {V3_USER} SHA "{V3_AUTH}" AES "{V3_PRIV}"\n'
        f"rouser {V3_USER} priv\n"
    )
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(workdir / "persist")}
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, "snmpd", "-f", "-C", "-c", str(conf),
         "-Lf", str(workdir / "snmpd.log"), "-m", "", "-M", "/nonexistent", *extra],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_answer(env, port, time.monotonic() + 10)
        _run_env(
            env, "snmpset", "-v2c", "-c", ADMIN, f"{AGENT_IP}:{port}", IF_TABLE_CACHE, "i", "0"
        )
    except BaseException:
        stop(proc)
        raise
    return proc, env


def _run_env(env: dict[str, str], *cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    if os.geteuid() != 0 or not shutil.which("snmpd") or not shutil.which("snmpset"):
        pytest.skip("needs root, snmpd and snmpset (Debian snmpd, snmp)")
    name = f"rptel{os.getpid() % 100000}"
    host, peer = f"{name}h", f"{name}n"
    _run("ip", "netns", "add", name)
    try:
        _run("ip", "link", "add", host, "type", "veth", "peer", "name", peer)
        _run("ip", "link", "set", peer, "netns", name)
        _run("ip", "addr", "add", f"{HOST_IP}/30", "dev", host)
        _run("ip", "link", "set", host, "up")
        _run("ip", "-n", name, "addr", "add", f"{AGENT_IP}/30", "dev", peer)
        _run("ip", "-n", name, "link", "set", peer, "up")
        _run("ip", "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "link", "del", host], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture(scope="module")
def agent(netns: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    workdir = tmp_path_factory.mktemp("snmpd")
    proc, _env = start_snmpd(netns, workdir, PORT)
    try:
        yield Agent(netns, proc.pid, PORT, workdir)
    finally:
        stop(proc)


@pytest.fixture
def traffic(agent: Agent) -> Iterator[Callable[[float, float], None]]:
    """Starts steady UDP traffic on the namespace's loopback; stopped after the test."""
    procs: list[subprocess.Popen] = []

    def start(rate_bps: float, seconds: float) -> None:
        script = Path(__file__).with_name("traffic.py")
        procs.append(
            subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    agent.netns,
                    sys.executable,
                    str(script),
                    str(rate_bps),
                    str(seconds),
                ],
            )  # fmt: skip
        )

    yield start
    for p in procs:
        stop(p)

"""What the lab tests read from the routers: the edge FIB and the controller's add-path feed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from routepilot.lab.core import Lab
from routepilot.lab.spec import CTL_LINK, EDGE_ASN

HERE = Path(__file__).parent


def fib_next_hops(lab: Lab, family: str) -> dict[str, str]:
    """Prefix -> next hop of the BGP routes in edge's kernel FIB."""
    proto = "bgp" if lab.spec.edge_router == "frr" else "bird"
    out = subprocess.run(
        ["ip", "-n", lab.ns("edge"), family, "route", "show", "proto", proto],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fib = {}
    for line in out.splitlines():
        words = line.split()
        if "via" in words:
            fib[words[0]] = words[words.index("via") + 1]
    return fib


def collect_add_paths(
    lab: Lab, tmp_path: Path, expected: dict[str, set[str]], timeout_s: float = 20
) -> dict[str, set[str]]:
    """Peers a real ExaBGP in ctl with edge (add-path receive) and returns prefix -> next hops,
    waiting until ``expected`` is seen or the timeout passes."""
    tmp_path.chmod(0o777)
    dump = tmp_path / "updates.json"
    conf = tmp_path / "exabgp.conf"
    conf.write_text(f"""
process dump {{
    run {sys.executable} {HERE / "exabgp_dump.py"} {dump};
    encoder json;
}}
neighbor {CTL_LINK[0]} {{
    router-id {CTL_LINK[1]};
    local-address {CTL_LINK[1]};
    local-as {EDGE_ASN};
    peer-as {EDGE_ASN};
    family {{ ipv4 unicast; ipv6 unicast; }}
    capability {{ add-path receive; }}
    api {{ processes [ dump ]; receive {{ parsed; update; }} }}
}}
""")
    env = {
        "exabgp_daemon_user": "root",
        "exabgp_log_level": "WARNING",
        "exabgp_cli_enable": "false",
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
    }
    proc = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            lab.ns("ctl"),
            "env",
            *[f"{k}={v}" for k, v in env.items()],
            sys.executable,
            "-m",
            "exabgp",
            "server",
            str(conf),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    paths: dict[str, set[str]] = {}
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            paths = _paths(dump)
            if all(paths.get(p) == nh for p, nh in expected.items()):
                break
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(10)
    return paths


def _paths(dump: Path) -> dict[str, set[str]]:
    paths: dict[str, set[str]] = {}
    if not dump.exists():
        return paths
    for line in dump.read_text().splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue  # a line still being written
        update = msg.get("neighbor", {}).get("message", {}).get("update", {})
        for next_hops in update.get("announce", {}).values():
            for nh, nlris in next_hops.items():
                for n in nlris:
                    paths.setdefault(n["nlri"], set()).add(nh)
    return paths


def first_export(lab: Lab, rate_mbps: float = 3) -> tuple[str, int, int]:
    """Runs traffic and returns (exporter address, version, length) of the first flow
    export datagram that reaches ctl on the lab's export port."""
    receiver = (
        "import socket\n"
        "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
        f"s.bind(('{CTL_LINK[1]}',{lab.spec.export.port}))\n"
        "print('ready', flush=True)\n"
        "s.settimeout(30)\n"
        "d,a=s.recvfrom(65535)\n"
        "print(a[0], int.from_bytes(d[:2],'big'), len(d))\n"
    )
    recv = subprocess.Popen(
        ["ip", "netns", "exec", lab.ns("ctl"), sys.executable, "-c", receiver],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert recv.stdout is not None
    assert recv.stdout.readline().strip() == "ready"  # bound: no export is missed
    lab.traffic_start(rate_mbps=rate_mbps, duration_s=30)
    try:
        out, _ = recv.communicate(timeout=40)
    finally:
        lab.traffic_stop()
        recv.kill()
    exporter, version, length = out.split()
    return exporter, int(version), int(length)

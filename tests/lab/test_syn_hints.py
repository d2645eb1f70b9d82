"""SYN hints in the lab (issue 15, part 7): real TCP connection attempts from cust that
one provider drops, seen by softflowd on edge (unsampled NetFlow v9), hint their prefix
for probing; the hint alone moves nothing.

The provider drops only TCP to one port toward the prefix (a stateful filter gone
wrong), so the prober's ICMP probes through it still answer: whatever the controller
does next comes from the hint, and the test can tell that it does not move the prefix.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from routepilot.lab.spec import CUST_LINK, LabSpec
from tests.lab.looplab import FAST_EXPORT, TOKEN, LoopLab, three_providers

pytestmark = pytest.mark.lab

SPEC = {
    "name": "rplabsh",
    "providers": three_providers(),
    "prefixes": 32,
    "prefixes_v6": 2,
    "export": FAST_EXPORT,  # the attempts' flows are exported 5 s after them at the latest
}
PORT = 8443
SOURCES = [f"100.66.0.{20 + i}" for i in range(4)]
"""Extra addresses on cust: the attempts come from several hosts, as the default
``flows.syn_hints.min_sources`` (3) asks."""

ATTEMPTS = r"""
import socket, sys, time
dst, port, sources, n = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(","), int(sys.argv[4])
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.bind((sources[i % len(sources)], 0))
    s.connect_ex((dst, port))
    socks.append(s)
time.sleep(1.5)  # the kernel sends each SYN, and one retransmission, meanwhile
for s in socks:
    s.close()
"""


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopLab]:
    tmp = tmp_path_factory.mktemp("synhints")
    # Only the 8 busiest prefixes are measured: the one the test picks is not, until hinted.
    ll = LoopLab(LabSpec.model_validate(SPEC), tmp, probe__max_prefixes=8)
    with ll.running(v6=False):
        yield ll


def cust_sources(loop: LoopLab) -> None:
    ns = loop.lab.ns("cust")
    links = json.loads(subprocess.run(["ip", "-j", "-n", ns, "addr"], capture_output=True,
                                      text=True, check=True).stdout)  # fmt: skip
    dev = next(
        link["ifname"]
        for link in links
        if any(a.get("local") == CUST_LINK[1] for a in link.get("addr_info", []))
    )
    for src in SOURCES:
        subprocess.run(["ip", "-n", ns, "addr", "replace", f"{src}/24", "dev", dev], check=True)


def drop_tcp(loop: LoopLab, provider: str, prefix: str) -> None:
    """``provider`` drops TCP to ``PORT`` toward ``prefix`` (its own nftables table)."""
    rules = (
        "table inet rphint {\n  chain forward {\n"
        "    type filter hook forward priority -5; policy accept;\n"
        f"    ip daddr {prefix} tcp dport {PORT} counter drop\n  }}\n}}\n"
    )
    subprocess.run(["ip", "netns", "exec", loop.lab.ns(provider), "nft", "-f", "-"],
                   input=rules, text=True, check=True)  # fmt: skip


def attempts(loop: LoopLab, prefix: str, n: int) -> None:
    host = prefix.split("/")[0].rsplit(".", 1)[0] + ".9"
    cmd = ["ip", "netns", "exec", loop.lab.ns("cust"), sys.executable, "-c", ATTEMPTS]
    subprocess.run([*cmd, host, str(PORT), ",".join(SOURCES), str(n)], check=True, timeout=30)


def metric(loop: LoopLab, name: str) -> float:
    r = httpx.get(f"http://127.0.0.1:{loop.port}/metrics",
                  headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)  # fmt: skip
    r.raise_for_status()
    for line in r.text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not on /metrics")


def test_unanswered_syns_hint_the_prefix_which_is_probed_and_not_moved(loop: LoopLab) -> None:
    # A prefix with traffic that is not among the measured ones, and its exit.
    prefix = loop.busiest(20)[-1]
    loop.wait(lambda: loop.exit_of(prefix) is not None, 30, "a route for the prefix")
    exit_ = loop.exit_of(prefix)
    assert exit_ is not None
    loop.wait(lambda: loop.api(f"/prefixes/{prefix}")["traffic_bps"] > 0, 60,
              f"traffic to {prefix} in the API")  # fmt: skip
    # Not measured: not among the 8 busiest (the first rates may have put it there).
    loop.wait(lambda: all(m["samples"] == 0 for m in loop.api(f"/prefixes/{prefix}")
                          ["measurements"]), 60, f"{prefix} not measured",
              diag=lambda: loop.detail(prefix))  # fmt: skip
    assert loop.api(f"/prefixes/{prefix}")["syn_hints"] == []
    journal = len(loop.api(f"/decisions?prefix={prefix}"))

    cust_sources(loop)
    drop_tcp(loop, exit_, prefix)
    attempts(loop, prefix, 40)

    def hinted() -> list[dict]:
        return loop.api(f"/prefixes/{prefix}")["syn_hints"]

    # softflowd exports a flow at its active timeout (5 s here) at the latest.
    loop.wait(lambda: bool(hinted()), 60, f"{prefix} hinted", step=0.5,
              diag=lambda: loop.detail(prefix))  # fmt: skip
    (hint,) = hinted()
    assert hint["provider"] == exit_
    assert hint["unanswered"] >= 20 and hint["sources"] >= 3
    assert metric(loop, "routepilot_flow_syn_hinted_prefixes") >= 1
    assert metric(loop, "routepilot_flow_syn_unanswered_records_total") >= 20

    # Hinted, it is measured through every provider with a route.
    def measured() -> bool:
        ms = loop.api(f"/prefixes/{prefix}")["measurements"]
        return all(m["samples"] > 0 for m in ms if m["has_route"])

    loop.wait(measured, 60, f"{prefix} probed through every provider", step=0.5,
              diag=lambda: loop.detail(prefix))  # fmt: skip

    # The probes answer (only TCP is dropped): the hint alone must not move it. Several
    # rounds later, edge still sends it to the same exit and nothing was decided about it.
    loop.rounds_later(5)
    assert loop.exit_of(prefix) == exit_, loop.detail(prefix)
    assert len(loop.api(f"/decisions?prefix={prefix}")) == journal, loop.detail(prefix)
    assert loop.api(f"/prefixes/{prefix}")["syn_hints"], "the hint holds (hold_s 300 s)"

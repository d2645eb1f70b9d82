"""The traffic source in `cust`: starts and stops `routepilot.lab.traffic` there."""

from __future__ import annotations

import sys
import time

from routepilot.lab.netns import LabError
from routepilot.lab.processes import ProcessTable

ROLE = "traffic"


def start(procs: ProcessTable, rate_mbps: float | None, duration_s: float | None, v6: bool) -> int:
    """Replaces any running source by one at ``rate_mbps`` for ``duration_s`` (the spec's
    values when None), toward every destination prefix. With two edges, cust and cust2
    each send half of it."""
    stop(procs)
    spec = procs.spec
    t = spec.traffic
    rate = rate_mbps if rate_mbps is not None else t.rate_mbps
    duration = duration_s if duration_s is not None else t.duration_s
    if rate <= 0 or duration <= 0:
        raise LabError("traffic rate and duration must be positive")
    prefixes = spec.prefixes_v4_list() + (spec.prefixes_v6_list() if v6 else [])
    customers = ["cust", "cust2"][: spec.edges]
    share = rate / len(customers)
    cmd = [
        sys.executable,
        "-m",
        "routepilot.lab.traffic",
        "--rate",
        str(share),
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
    pid = procs.spawn("cust", ROLE, cmd, "routepilot.lab.traffic")
    for node in customers[1:]:
        procs.spawn(node, f"{ROLE}-{node}", cmd, "routepilot.lab.traffic")
    procs.state.traffic = {
        "pid": pid,
        "rate_mbps": rate,
        "started": time.time(),
        "duration_s": duration,
    }
    procs.state.save()
    return pid


def stop(procs: ProcessTable) -> bool:
    procs.state.traffic = {}
    if procs.spec.edges > 1:
        procs.stop(f"{ROLE}-cust2")
    return procs.stop(ROLE)

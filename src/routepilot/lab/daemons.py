"""The lab's daemons at `lab up`: the routers (BIRD or FRR), the delayers and the sink.

Each runs in its node's namespace, in the foreground as a child of the lab's
process table, so its PID is known at once and recorded before anything else.
"""

from __future__ import annotations

import json
import os
import pwd
import sys
import time

from routepilot.lab import bird, frr, impair
from routepilot.lab.exporters import start_exporters
from routepilot.lab.netns import LabError
from routepilot.lab.processes import ProcessTable


def start_daemons(procs: ProcessTable) -> None:
    """Starts every daemon of the lab: edge's router, the providers' routers and delayers,
    the internet's sink and edge's flow exporters."""
    spec, folder = procs.spec, procs.dir
    if spec.edge_router == "frr":
        _start_frr_edge(procs)
    else:
        _start_bird(procs, "edge", bird.edge_config(spec, str(folder / "edge-bird.log")))
    for p in spec.providers:
        log_path = str(folder / f"{p.name}-bird.log")
        _start_bird(procs, p.name, bird.provider_config(spec, p.name, log_path))
        ns = spec.ns(p.name)
        impair.install_hooks(ns)
        rules = folder / f"{p.name}-impair.json"
        # The delayer reads its rules at start (a SIGHUP before its handler is
        # installed would kill it), then the kernel rules steer packets to it.
        rules.write_text(json.dumps(impair.delayer_rules([], p.base_delay_ms)))
        procs.spawn(
            p.name,
            "delayer",
            [sys.executable, "-m", "routepilot.lab.delayer", str(rules)],
            str(rules),
        )
        if p.base_delay_ms:
            impair.apply(ns, [], rules, None, p.base_delay_ms)
    procs.spawn(
        "inet", "sink", [sys.executable, "-m", "routepilot.lab.sink"], "routepilot.lab.sink"
    )
    start_exporters(procs)


def _start_bird(procs: ProcessTable, node: str, config: str) -> None:
    conf = procs.dir / f"{node}-bird.conf"
    conf.write_text(config)
    sock, pidfile = procs.dir / f"{node}-bird.ctl", procs.dir / f"{node}-bird.pid"
    # -f: stay in the foreground as our child, so its PID is known at once.
    procs.spawn(
        node,
        "bird",
        ["bird", "-f", "-c", str(conf), "-s", str(sock), "-P", str(pidfile)],
        str(conf),
    )


def _start_frr_edge(procs: ProcessTable) -> None:
    # FRR drops privileges to its own user (root is not in its vty group), so
    # everything it writes lives in a folder that user owns.
    home = procs.dir / "edge-frr"
    home.mkdir(exist_ok=True)
    conf = home / "frr.conf"
    conf.write_text(frr.edge_config(procs.spec, str(home / "frr.log")))
    try:
        pw = pwd.getpwnam("frr")
    except KeyError:
        raise LabError("FRR is not installed (apt-get install frr)") from None
    for path in (home, conf):
        os.chown(path, pw.pw_uid, pw.pw_gid)
    zsock = home / "zserv.api"
    common = ["--vty_socket", str(home), "-z", str(zsock), "-f", str(conf)]
    procs.spawn(
        "edge", "zebra", ["/usr/lib/frr/zebra", *common, "-i", str(home / "zebra.pid")], str(zsock)
    )
    # bgpd connects to zebra's socket at start: wait for zebra to open it.
    deadline = time.monotonic() + 10
    while not zsock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    procs.spawn(
        "edge", "bgpd", ["/usr/lib/frr/bgpd", *common, "-i", str(home / "bgpd.pid")], str(zsock)
    )

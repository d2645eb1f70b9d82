"""A real SNMP agent on edge: net-snmp's snmpd serving edge's own interface counters.

Started by `lab up` when the spec asks for it (``snmp: true``): snmpd runs in edge's
namespace, answers v2c on edge's ctl-facing address (100.66.1.1, port 161) to ctl
only, and the generated controller config polls it for every provider link (edge's
interface to a provider carries the provider's name). The community lives in a file
of the lab's folder, which the controller config names (never the value).

The agent's ifTable cache (3 s by default) is set to 0 through NET-SNMP-AGENT-MIB's
nsCacheTimeout, over a write community limited to that subtree and to edge's own
loopback, so the counters are read at request time, as a router's are.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from routepilot.lab.netns import LabError, nsrun
from routepilot.lab.processes import ProcessTable
from routepilot.lab.spec import CTL_LINK

PORT = 161
COMMUNITY_FILE = "snmp-community"
IF_TABLE_CACHE = "1.3.6.1.4.1.8072.1.5.3.1.2.1.3.6.1.2.1.2.2"


def community_file(folder: Path) -> Path:
    """Where the lab keeps the v2c community the controller reads."""
    return folder / COMMUNITY_FILE


def start_snmpd(procs: ProcessTable) -> None:
    """Starts snmpd on edge and waits until it answers with its cache turned off."""
    folder = procs.dir
    community = secrets.token_hex(8)
    admin = secrets.token_hex(8)
    path = community_file(folder)
    path.write_text(community + "\n")
    path.chmod(0o600)
    conf = folder / "edge-snmpd.conf"
    conf.write_text(
        f"agentaddress udp:{CTL_LINK[0]}:{PORT},udp:127.0.0.1:{PORT}\n"
        f"rocommunity {community} {CTL_LINK[1]}\n"
        f"rwcommunity {admin} 127.0.0.1 .1.3.6.1.4.1.8072.1.5\n"
    )
    conf.chmod(0o600)
    persist = folder / "edge-snmpd-persist"
    persist.mkdir(exist_ok=True)
    procs.spawn(
        "edge",
        "snmpd",
        ["env", f"SNMP_PERSISTENT_DIR={persist}", "snmpd", "-f", "-C", "-c", str(conf),
         "-Lf", str(folder / "edge-snmpd-agent.log"), "-m", "", "-M", "/nonexistent"],
        str(conf),
    )  # fmt: skip
    ns = procs.spec.ns("edge")
    deadline = time.monotonic() + 10
    while True:
        # The write community sees only its subtree: the cache setting itself says the
        # agent is up.
        out = nsrun(
            ns,
            ["snmpget", "-v2c", "-c", admin, "-t", "0.3", "-r", "0", "-m", "",
             f"127.0.0.1:{PORT}", IF_TABLE_CACHE],
            check=False,
        )  # fmt: skip
        if "INTEGER" in out:
            break
        if time.monotonic() > deadline:
            raise LabError("snmpd on edge did not answer within 10 s (is Debian snmpd installed?)")
        time.sleep(0.1)
    nsrun(
        ns,
        ["snmpset", "-v2c", "-c", admin, "-m", "", f"127.0.0.1:{PORT}", IF_TABLE_CACHE, "i", "0"],
    )

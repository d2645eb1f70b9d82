"""Refreshes the golden captures in tests/unit/flows/testdata/ from real exporters.

Run as root: ``.venv/bin/python tests/integration/flows/make_golden.py``. Each
capture is made in fresh ``rpflowtest-*`` namespaces: an exporter (softflowd or
pmacctd) watches ``v0`` while UDP traffic to 198.18.0.0/15 and 2001:db8::/32
crosses it, tcpdump records the export datagrams, and our decode of the result
is stored beside it as JSON (review the diff: it is the expected decode).
``--json-only`` re-decodes the stored captures without making new ones (after a
deliberate change of the report).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[3]))  # run as a script, from anywhere

from tests.fixtures.netns import FlowLab, flow_lab  # noqa: E402

TESTDATA = Path(__file__).parents[2] / "unit" / "flows" / "testdata"

PLAN = [(f"198.18.{i}.{10 + i}", 100 + 50 * i, 1500) for i in range(6)] + [
    (f"2001:db8:{i + 1:x}::{i + 7:x}", 200 + 100 * i, 1500) for i in range(3)
]
"""(destination, UDP payload bytes, datagrams): 13,500 datagrams in all."""

PMACCT_COMMON = "pcap_filter: udp\nplugin_buffer_size: 1024\n"
CAPTURES = {
    "softflowd-v5": ("softflowd", 5, 2055),
    "softflowd-v9": ("softflowd", 9, 2055),
    "softflowd-ipfix": ("softflowd", 10, 4739),
    "pmacct-v9-sampled": (
        "pmacctd",
        PMACCT_COMMON + "plugins: nfprobe\nnfprobe_receiver: 127.0.0.1:2055\nnfprobe_version: 9\n"
        "nfprobe_timeouts: udp=1:maxlife=2:expint=1:general=1\nsampling_rate: 4\n",
        2055,
    ),
    "pmacct-ipfix": (
        "pmacctd",
        PMACCT_COMMON + "plugins: nfprobe\nnfprobe_receiver: 127.0.0.1:4739\n"
        "nfprobe_version: 10\nnfprobe_timeouts: udp=1:maxlife=2:expint=1:general=1\n",
        4739,
    ),
    "pmacct-sflow": (
        "pmacctd",
        PMACCT_COMMON + "plugins: sfprobe\nsfprobe_receiver: 127.0.0.1:6343\n"
        "sfprobe_agentip: 100.64.250.1\nsampling_rate: 32\n",
        6343,
    ),
}


def make(lab: FlowLab, name: str, out: Path) -> None:
    exporter, how, port = CAPTURES[name]
    cap = lab.capture(out, port)
    if exporter == "softflowd":
        proc = lab.softflowd(int(how), port)
        time.sleep(1.0)
        lab.send(PLAN)
        time.sleep(2.0)
        lab.softflowd_expire()
    else:
        proc = lab.pmacctd(str(how))
        time.sleep(2.0)
        lab.send(PLAN)
        time.sleep(6.0)
    time.sleep(2.0)
    lab.stop(proc)
    time.sleep(1.0)
    lab.stop(cap)


def main(args: list[str]) -> None:
    import routepilot.flows  # noqa: F401
    from routepilot.flows.offline import decode_capture

    json_only = "--json-only" in args
    names = [a for a in args if not a.startswith("--")]
    for name in names or list(CAPTURES):
        pcap = TESTDATA / f"{name}.pcap"
        if not json_only:
            with flow_lab(f"g{name[:6]}") as lab:
                make(lab, name, pcap)
        report = decode_capture(pcap, max_records=200)
        report["capture"] = pcap.name
        (TESTDATA / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")
        print(name, pcap.stat().st_size, "bytes", report["records"], report["drops"])


if __name__ == "__main__":
    main(sys.argv[1:])

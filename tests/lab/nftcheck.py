"""What the lab's impairment rules really did: the nftables counters of lab/impair.py."""

from __future__ import annotations

import json
import subprocess

from routepilot.lab.core import Lab


def nft_dropped(lab: Lab, provider: str, net: str) -> int:
    """Packets the provider's loss rule for ``net`` dropped since it was installed: the
    nftables counter of that rule (lab/impair.py), the loss the path really had."""
    out = subprocess.run(
        ["ip", "netns", "exec", lab.ns(provider), "nft", "-j", "list", "table", "inet",
         "rplab_impair"],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout  # fmt: skip
    addr, length = net.split("/")
    dropped = 0
    for item in json.loads(out)["nftables"]:
        expr = item.get("rule", {}).get("expr", [])
        ours = any(
            e.get("match", {}).get("right") == {"prefix": {"addr": addr, "len": int(length)}}
            for e in expr
        )
        if ours and any("drop" in e for e in expr):
            dropped += sum(e["counter"]["packets"] for e in expr if "counter" in e)
    return dropped

"""Impairments per provider and destination prefix: delay, jitter, loss, blackhole.

This kernel has no netem and no `nft queue`, so:
- delay and jitter: the iptables NFQUEUE target hands packets to a user-space
  verdict delayer (lab/delayer.py) in the provider's namespace; `--queue-bypass`
  keeps traffic flowing if the delayer dies;
- loss and blackhole: nftables rules on the forward hook (`numgen random`).
Impairments apply to the provider's traffic toward the internet (one direction),
so a configured delay or loss reads as such in a round trip.
Within one provider, the most specific prefix wins.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
from dataclasses import asdict, dataclass
from pathlib import Path

from routepilot.lab.netns import LabError, nsrun, run
from routepilot.lab.spec import DEST_V4, DEST_V6

ALL = "all"
QUEUE_NUM = 0
_TABLE = "rplab_impair"
_CHAIN = "RPLAB_DELAY"


@dataclass(frozen=True)
class Impairment:
    """What happens to one provider's traffic toward one destination prefix."""

    prefix: str = ALL
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    blackhole: bool = False

    def __post_init__(self) -> None:
        if self.delay_ms < 0 or self.delay_ms > 10000:
            raise LabError(f"delay must be between 0 and 10000 ms, got {self.delay_ms}")
        if self.jitter_ms < 0 or self.jitter_ms > 10000:
            raise LabError(f"jitter must be between 0 and 10000 ms, got {self.jitter_ms}")
        if not 0 <= self.loss_pct <= 100:
            raise LabError(f"loss must be between 0 and 100 %, got {self.loss_pct}")

    @property
    def delays(self) -> bool:
        return self.delay_ms > 0 or self.jitter_ms > 0

    def networks(self) -> list[str]:
        return [str(DEST_V4), str(DEST_V6)] if self.prefix == ALL else [self.prefix]


def check_prefix(prefix: str) -> str:
    """Normalises a destination prefix; anything outside the lab's destinations is refused."""
    try:
        net = ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        raise LabError(f"bad prefix {prefix!r}: expected e.g. 198.18.3.0/24") from None
    if isinstance(net, ipaddress.IPv4Network):
        inside = net.subnet_of(DEST_V4)
    else:
        inside = net.subnet_of(DEST_V6)
    if not inside:
        raise LabError(f"prefix {net} is outside the lab's destinations ({DEST_V4}, {DEST_V6})")
    return str(net)


def _specific_first(entries: list[Impairment]) -> list[tuple[Impairment, str]]:
    pairs = [(e, n) for e in entries for n in e.networks()]
    return sorted(pairs, key=lambda pair: -ipaddress.ip_network(pair[1]).prefixlen)


def nft_ruleset(entries: list[Impairment], uplink: str = "inet") -> str:
    """The provider's nftables table: loss and blackhole, most specific prefix first.

    ``uplink``: the interface (an nft wildcard such as ``t*``) toward the destinations."""
    rules = []
    for e, net in _specific_first(entries):
        fam = "ip6" if ":" in net else "ip"
        match = f'oifname "{uplink}" {fam} daddr {net}'
        if e.blackhole:
            rules.append(f"{match} counter drop")
        elif e.loss_pct > 0:
            per_mille_x10 = round(e.loss_pct * 100)  # resolution 0.01 %
            rules.append(f"{match} numgen random mod 10000 < {per_mille_x10} counter drop")
        rules.append(f"{match} accept")
    body = "\n".join(f"    {r}" for r in rules)
    return (
        f"table inet {_TABLE}\ndelete table inet {_TABLE}\n"
        f"table inet {_TABLE} {{\n  chain forward {{\n"
        f"    type filter hook forward priority 0; policy accept;\n{body}\n  }}\n}}\n"
    )


def iptables_rules(
    entries: list[Impairment], v6: bool, base_delay_ms: float = 0.0, uplink: str = "inet"
) -> str:
    """iptables-restore input steering delayed prefixes to the delayer's queue.

    With a base delay (the provider's nominal latency) every destination goes
    through the delayer."""
    queue = f"NFQUEUE --queue-num {QUEUE_NUM} --queue-bypass"
    out = uplink.replace("*", "+")  # iptables spells nft's wildcard with a plus
    lines = ["*mangle", f":{_CHAIN} - [0:0]", f"-F {_CHAIN}"]
    for e, net in _specific_first(entries):
        if (":" in net) != v6:
            continue
        target = queue if e.delays or base_delay_ms > 0 else "RETURN"
        lines.append(f"-A {_CHAIN} -o {out} -d {net} -j {target}")
    if base_delay_ms > 0:
        lines.append(f"-A {_CHAIN} -o {out} -d {DEST_V6 if v6 else DEST_V4} -j {queue}")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def delayer_rules(entries: list[Impairment], base_delay_ms: float = 0.0) -> dict:
    """The delayer's table: a base delay for every destination, plus each prefix's own."""
    return {
        "base_ms": base_delay_ms,
        "rules": [
            {"prefix": net, "delay_ms": e.delay_ms, "jitter_ms": e.jitter_ms}
            for e, net in _specific_first(entries)
            if e.delays or e.prefix != ALL
        ],
    }


def install_hooks(ns: str) -> None:
    """Creates the empty chain and the jump once, at `lab up`."""
    for tool in ("iptables", "ip6tables"):
        nsrun(ns, [tool, "-t", "mangle", "-N", _CHAIN])
        nsrun(ns, [tool, "-t", "mangle", "-A", "FORWARD", "-j", _CHAIN])
    run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=nft_ruleset([]))


def apply(
    ns: str,
    entries: list[Impairment],
    rules_file: Path,
    delayer_pid: int | None,
    base_delay_ms: float = 0.0,
    *,
    uplink: str = "inet",
) -> None:
    """Applies a provider's whole impairment set at once (replacing the previous one)."""
    rules_file.write_text(json.dumps(delayer_rules(entries, base_delay_ms)))
    if delayer_pid:
        try:
            os.kill(delayer_pid, signal.SIGHUP)
        except ProcessLookupError:
            pass
    v4 = iptables_rules(entries, v6=False, base_delay_ms=base_delay_ms, uplink=uplink)
    v6 = iptables_rules(entries, v6=True, base_delay_ms=base_delay_ms, uplink=uplink)
    nsrun(ns, ["iptables-restore", "--noflush"], input=v4)
    nsrun(ns, ["ip6tables-restore", "--noflush"], input=v6)
    nsrun(ns, ["nft", "-f", "-"], input=nft_ruleset(entries, uplink))


def to_dicts(entries: list[Impairment]) -> list[dict]:
    return [asdict(e) for e in entries]


def from_dicts(raw: list[dict]) -> list[Impairment]:
    return [Impairment(**d) for d in raw]


def merge(current: list[Impairment], update: Impairment) -> list[Impairment]:
    """Replaces the entry for the same prefix, keeps the others."""
    return [e for e in current if e.prefix != update.prefix] + [update]

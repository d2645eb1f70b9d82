"""Runs `ping` inside a lab node and parses what a network engineer would read."""

from __future__ import annotations

import re
import statistics
import subprocess
from dataclasses import dataclass


@dataclass
class PingResult:
    sent: int
    received: int
    rtts_ms: list[float]

    @property
    def loss(self) -> float:
        return 1 - self.received / self.sent

    @property
    def median_ms(self) -> float:
        return statistics.median(self.rtts_ms)


def ping(
    ns: str, source: str, dest: str, count: int, interval: float = 0.01, wait_s: float = 1.0
) -> PingResult:
    cmd = [
        "ip",
        "netns",
        "exec",
        ns,
        "ping",
        "-n",
        "-c",
        str(count),
        "-i",
        str(interval),
        "-W",
        str(wait_s),
        "-I",
        source,
        dest,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=count * interval + 60).stdout
    rtts = [float(x) for x in re.findall(r"time=([\d.]+) ms", out)]
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert m, out
    return PingResult(int(m.group(1)), int(m.group(2)), rtts)

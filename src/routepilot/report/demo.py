"""A day with a story, for `routepilot report --demo` and the report tests.

Three providers, eight busy prefixes, and the three things route control is
for, at known times and sizes: BGP's default for four prefixes gets 40 ms
slower for six hours, another loses 5% of packets for four hours, and a third
blacks out for half an hour. routepilot moves the prefixes a minute after each
starts (ten seconds for the outage) and back five minutes after each ends.
The numbers a report computes from it can be checked by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from routepilot.report.config import SlaConfig, SlaTarget
from routepilot.view import SeriesQuery
from routepilot.view_rows import decision_row, provider_row, select_decisions, utilization_row

H = 3600.0
PROVIDERS = [
    provider_row("isp1", 65001, 1e9, 300e6, 2.0),
    provider_row("isp2", 65002, 1e9, 200e6, 1.5),
    provider_row("isp3", 65003, 5e8, 0.0, 3.0),
]
BASE_RTT = {"isp1": 20.0, "isp2": 25.0, "isp3": 30.0}
# prefix -> (BGP default, traffic in bit/s)
PREFIXES = {
    "198.18.0.0/24": ("isp1", 40e6),
    "198.18.1.0/24": ("isp1", 30e6),
    "198.18.2.0/24": ("isp1", 20e6),
    "198.18.3.0/24": ("isp1", 10e6),
    "198.18.4.0/24": ("isp2", 25e6),
    "198.18.5.0/24": ("isp2", 15e6),
    "198.18.6.0/24": ("isp3", 10e6),
    "198.18.7.0/24": ("isp3", 5e6),
}

DEMO_SLA = SlaConfig(
    rtt_ms=50.0, loss=0.005, availability=0.999, providers={"isp3": SlaTarget(rtt_ms=35.0)}
)
"""Targets for the demo: isp1 misses its RTT target during its six slow hours."""


@dataclass(frozen=True)
class Event:
    """An impairment of ``provider`` towards ``prefixes`` and routepilot's answer to it."""

    reason: str
    provider: str
    prefixes: tuple[str, ...]
    start_h: float
    end_h: float
    add_ms: float
    loss: float
    to: str
    react_s: float
    revert_s: float = 300.0


EVENTS = (
    Event("latency", "isp1", tuple(list(PREFIXES)[:4]), 2, 8, 40.0, 0.0, "isp2", 60),
    Event("loss", "isp2", tuple(list(PREFIXES)[4:6]), 10, 14, 0.0, 0.05, "isp1", 60),
    Event("outage", "isp3", tuple(list(PREFIXES)[6:]), 18, 18.5, 0.0, 1.0, "isp1", 10),
)


class DemoView:
    """The read side of a ControllerView over a 24-hour story ending at ``now``."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now
        self.t0 = now - 24 * H
        self._journal: list[dict] = []
        for e in EVENTS:
            for prefix in e.prefixes:
                default, traffic = PREFIXES[prefix]
                imp = self._sample(prefix, default, self.t0 + e.start_h * H + 1)
                alt = self._sample(prefix, e.to, self.t0 + e.start_h * H + 1)
                move = self.t0 + e.start_h * H + e.react_s
                back = self.t0 + e.end_h * H + e.revert_s
                self._journal.append(
                    self._entry(move, prefix, default, e.to, e.reason, traffic, imp, alt)
                )
                self._journal.append(
                    self._entry(
                        back,
                        prefix,
                        e.to,
                        default,
                        "revert",
                        traffic,
                        alt,
                        self._sample(prefix, default, back),
                    )
                )
        self._journal.sort(key=lambda d: -d["time"])

    @staticmethod
    def _entry(
        t: float,
        prefix: str,
        old: str,
        new: str,
        reason: str,
        traffic: float,
        before: tuple[float | None, float],
        after: tuple[float | None, float],
    ) -> dict:
        return decision_row(
            t, prefix, (old, new), PREFIXES[prefix][0], reason, traffic, before, after
        )

    def _sample(self, prefix: str, provider: str, t: float) -> tuple[float | None, float]:
        """(RTT ms or None when nothing answers, loss) of ``provider`` towards ``prefix``."""
        rtt, loss = BASE_RTT[provider], 0.0
        for e in EVENTS:
            active = self.t0 + e.start_h * H <= t < self.t0 + e.end_h * H
            if active and e.provider == provider and prefix in e.prefixes:
                rtt, loss = rtt + e.add_ms, e.loss
        return (None if loss >= 1 else rtt), loss

    def exit_at(self, prefix: str, t: float) -> str:
        exit_ = PREFIXES[prefix][0]
        for d in sorted(self._journal, key=lambda d: d["time"]):
            if d["prefix"] == prefix and d["time"] <= t:
                exit_ = d["to_provider"]
        return exit_

    # -- the ControllerView reads a report needs -------------------------------------

    def status(self) -> dict:
        return {"now": self.now, "paused": False, "dry_run": False}

    def providers(self) -> list[dict]:
        return [dict(p) for p in PROVIDERS]

    def decisions(
        self,
        since: float | None = None,
        until: float | None = None,
        prefix: str | None = None,
        provider: str | None = None,
        reason: str | None = None,
        limit: int = 200,
    ) -> list[dict]:
        return select_decisions(self._journal, since, until, prefix, provider, reason, limit)

    def _times(self, q: SeriesQuery) -> list[float]:
        t = q.since - q.since % q.step_s
        out = []
        while t < q.until:
            if t >= q.since:
                out.append(t)
            t += q.step_s
        return out

    def measurements(self, q: SeriesQuery) -> list[dict]:
        out = []
        names = [q.provider] if q.provider else [p["name"] for p in PROVIDERS]
        for t in self._times(q):
            for name in names:
                if q.prefix is not None:
                    rtt, loss = self._sample(q.prefix, name, t)
                else:
                    samples = [self._sample(p, name, t) for p in PREFIXES]
                    rtts = sorted(r for r, _ in samples if r is not None)
                    rtt = rtts[len(rtts) // 2] if rtts else None
                    loss = sum(x for _, x in samples) / len(samples)
                out.append(
                    {
                        "time": t,
                        "prefix": q.prefix,
                        "provider": name,
                        "rtt_ms": rtt,
                        "rtt_p90_ms": rtt,
                        "loss": loss,
                        "samples": 60,
                    }
                )
        return out

    def utilization(self, q: SeriesQuery) -> list[dict]:
        out = []
        for t in self._times(q):
            for p in PROVIDERS:
                if q.provider and p["name"] != q.provider:
                    continue
                rate = sum(
                    tr for pf, (_, tr) in PREFIXES.items() if self.exit_at(pf, t) == p["name"]
                )
                out.append(utilization_row(t, p, rate))
        return out

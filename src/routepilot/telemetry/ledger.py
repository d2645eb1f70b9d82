"""The open billing period: counter deltas in, closed 5-minute samples out. Pure.

Each link's deltas (octets between two polls, with their wall-clock bounds) are
spread over the sample slots they overlap, in proportion to the overlap (the
rate is taken as even between two polls). A slot closes once the caller's clock
is ``grace_s`` past its end; its sample per provider is the sum over the
provider's links of octets / covered seconds. A delta that arrives for a slot
already closed is counted in :attr:`BillingLedger.late_octets` and dropped.

When a closed slot falls after the period's end, the period rolls over: the old
period's samples move to :attr:`BillingLedger.finished` for the caller to keep.

:meth:`BillingLedger.to_rows` and :meth:`BillingLedger.from_rows` turn the open
period (closed samples and the partial slots) into plain dicts and back, so the
store can keep it across a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from routepilot.telemetry.billing import (
    Billed,
    Sample,
    bill,
    burst_left,
    free_slots,
    over_commit,
    period_bounds,
    project,
    slot_start,
    slots_in,
    sum_samples,
)
from routepilot.telemetry.config import BillingConfig


@dataclass
class _Partial:
    """Octets and covered seconds of one link in one open slot."""

    in_octets: float = 0.0
    out_octets: float = 0.0
    covered_s: float = 0.0


@dataclass(frozen=True)
class BillingStatus:
    """Where one provider or group stands in the open period."""

    name: str
    mode: str
    period_start: float
    period_end: float
    slots: int
    """Sample slots in the whole period."""
    samples: int
    """Samples so far."""
    commit_bps: float
    current: Billed
    """Billed rates of the samples so far."""
    projected: Billed
    """Billed rates projected to the end of the period (see billing.project)."""
    projected_without: Billed
    """The same projection with the traffic routepilot moved put back where BGP sent it
    (each sample's outbound rate less routepilot's net shift onto the provider)."""
    free_slots: int
    """Samples of the period that are free by the percentile rule."""
    over_commit: int
    """Samples so far above the commit (in the billed direction)."""
    burst_left: int
    """Samples above the commit still free this period."""

    def as_dict(self) -> dict:
        """Plain values (bits per second, seconds since the epoch) for the API and reports."""

        def rates(b: Billed) -> dict[str, float]:
            return {"in_bps": b.in_bps, "out_bps": b.out_bps, "billable_bps": b.billable_bps}

        return {
            "name": self.name,
            "mode": self.mode,
            "period_start": self.period_start,
            "period_end": self.period_end,
            "slots": self.slots,
            "samples": self.samples,
            "commit_bps": self.commit_bps,
            "current": rates(self.current),
            "projected": rates(self.projected),
            "projected_without": rates(self.projected_without),
            "free_slots": self.free_slots,
            "over_commit": self.over_commit,
            "burst_left": self.burst_left,
        }


@dataclass
class FinishedPeriod:
    """A period that rolled over: its final samples, per provider."""

    start: float
    end: float
    samples: dict[str, list[Sample]]


@dataclass
class BillingLedger:
    """Samples of the open period per provider; see the module docstring."""

    config: BillingConfig
    period_start: float = 0.0
    period_end: float = 0.0
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    partial: dict[tuple[str, str, float], _Partial] = field(default_factory=dict)
    """Open slots keyed by (provider, link, slot start)."""
    late_octets: int = 0
    finished: list[FinishedPeriod] = field(default_factory=list)
    shifts: dict[tuple[str, float], list[float]] = field(default_factory=dict)
    """Per (provider, slot start): [sum, count] of routepilot's net outbound shift onto the
    provider (bits/s, negative when it moved traffic away), one value per decision round."""

    def add_shift(self, provider: str, t: float, bps: float) -> None:
        """Records that at ``t`` routepilot sent ``bps`` more (or less) out of ``provider``
        than BGP alone would have."""
        self._ensure_period(t)
        slot = slot_start(t, self.period_start, self.config.sample_s)
        acc = self.shifts.setdefault((provider, slot), [0.0, 0.0])
        acc[0] += bps
        acc[1] += 1

    def _without(self, name: str, samples: list[Sample]) -> list[Sample]:
        """``samples`` of provider or group ``name`` with routepilot's shift taken out."""
        members = next((g.providers for g in self.config.groups if g.name == name), [name])
        out = []
        for s in samples:
            shift = 0.0
            for m in members:
                acc = self.shifts.get((m, s.start))
                if acc and acc[1]:
                    shift += acc[0] / acc[1]
            out.append(Sample(s.start, s.in_bps, max(0.0, s.out_bps - shift), s.coverage))
        return out

    def _ensure_period(self, t: float) -> None:
        if not self.period_end:
            self.period_start, self.period_end = period_bounds(
                t, self.config.day, self.config.timezone
            )

    def add(
        self,
        provider: str,
        link: str,
        start: float,
        end: float,
        in_octets: int,
        out_octets: int,
    ) -> None:
        """Spread one delta of ``link`` (of ``provider``) over the slots it overlaps."""
        if end <= start:
            return
        self._ensure_period(start)
        length = self.config.sample_s
        span = end - start
        t = start
        while t < end:
            slot = slot_start(t, self.period_start, length)
            if slot >= self.period_end:
                # Slots past the period's end are counted from the next period's start.
                nxt, _ = period_bounds(slot, self.config.day, self.config.timezone)
                slot = slot_start(t, nxt, length)
            upto = min(end, slot + length)
            share = (upto - t) / span
            key = (provider, link, slot)
            if key not in self.partial and self._closed(provider, slot):
                self.late_octets += round((in_octets + out_octets) * share)
            else:
                p = self.partial.setdefault(key, _Partial())
                p.in_octets += in_octets * share
                p.out_octets += out_octets * share
                p.covered_s += upto - t
            t = upto

    def _closed(self, provider: str, slot: float) -> bool:
        done = self.samples.get(provider)
        return bool(done) and done[-1].start >= slot  # type: ignore[index]

    def close(self, now: float, grace_s: float) -> list[tuple[str, Sample]]:
        """Close every slot that ended ``grace_s`` before ``now``; returns the new samples."""
        length = self.config.sample_s
        due: dict[tuple[str, float], list[_Partial]] = {}
        for (provider, _link, slot), p in list(self.partial.items()):
            if slot + length + grace_s <= now:
                due.setdefault((provider, slot), []).append(p)
                del self.partial[(provider, _link, slot)]
        new: list[tuple[str, Sample]] = []
        for (provider, slot), parts in sorted(due.items(), key=lambda kv: kv[0][1]):
            covered = [p for p in parts if p.covered_s > 0]
            if not covered:
                continue
            if slot >= self.period_end:
                self._roll(slot)
            sample = Sample(
                slot,
                sum(p.in_octets * 8 / p.covered_s for p in covered),
                sum(p.out_octets * 8 / p.covered_s for p in covered),
                min(1.0, min(p.covered_s for p in covered) / length),
            )
            self.samples.setdefault(provider, []).append(sample)
            new.append((provider, sample))
        return new

    def _roll(self, slot: float) -> None:
        self.finished.append(FinishedPeriod(self.period_start, self.period_end, self.samples))
        self.samples = {}
        self.period_start, self.period_end = period_bounds(
            slot, self.config.day, self.config.timezone
        )
        self.shifts = {k: v for k, v in self.shifts.items() if k[1] >= self.period_start}

    def slots(self) -> int:
        return slots_in(self.period_start, self.period_end, self.config.sample_s)

    def mode_of(self, name: str) -> str:
        for g in self.config.groups:
            if g.name == name:
                return g.mode or self.config.mode
        return self.config.modes.get(name, self.config.mode)

    def series(self, name: str) -> list[Sample]:
        """Samples of a provider, or the summed samples of a group."""
        for g in self.config.groups:
            if g.name == name:
                return sum_samples([self.samples.get(p, []) for p in g.providers])
        return list(self.samples.get(name, []))

    def status(self, name: str, commit_bps: float) -> BillingStatus:
        """Where provider or group ``name`` stands, against ``commit_bps`` (0: no commit)."""
        mode, p = self.mode_of(name), self.config.percentile
        samples = self.series(name)
        slots = self.slots() if self.period_end else len(samples)
        over = over_commit(samples, mode, commit_bps) if commit_bps else 0
        return BillingStatus(
            name=name,
            mode=mode,
            period_start=self.period_start,
            period_end=self.period_end,
            slots=slots,
            samples=len(samples),
            commit_bps=commit_bps,
            current=bill(samples, mode, p),
            projected=project(samples, mode, slots, self.config.projection_samples, p),
            projected_without=project(
                self._without(name, samples), mode, slots, self.config.projection_samples, p
            ),
            free_slots=free_slots(slots, p),
            over_commit=over,
            burst_left=burst_left(samples, mode, commit_bps, slots, p)
            if commit_bps
            else free_slots(slots, p),
        )

    def to_rows(self) -> list[dict]:
        """The open period as plain dicts: one per closed sample and one per partial slot."""
        rows: list[dict] = [
            {
                "kind": "period",
                "start": self.period_start,
                "end": self.period_end,
                "late_octets": self.late_octets,
            }
        ]
        for provider, samples in sorted(self.samples.items()):
            rows.extend(
                {
                    "kind": "sample",
                    "provider": provider,
                    "start": s.start,
                    "in_bps": s.in_bps,
                    "out_bps": s.out_bps,
                    "coverage": s.coverage,
                }
                for s in samples
            )
        for (provider, link, slot), p in sorted(self.partial.items()):
            rows.append(
                {
                    "kind": "partial",
                    "provider": provider,
                    "link": link,
                    "start": slot,
                    "in_octets": p.in_octets,
                    "out_octets": p.out_octets,
                    "covered_s": p.covered_s,
                }
            )
        for (provider, slot), (total, count) in sorted(self.shifts.items()):
            rows.append(
                {"kind": "shift", "provider": provider, "start": slot, "sum": total, "n": count}
            )
        return rows

    def billable(self, name: str) -> list[float]:
        """Per sample of provider or group ``name``, the rate its mode bills: the larger of
        in and out (``greater``), else the direction whose percentile is the higher."""
        samples = self.series(name)
        mode = self.mode_of(name)
        if mode == "greater":
            return [max(s.in_bps, s.out_bps) for s in samples]
        billed = bill(samples, mode, self.config.percentile)
        if billed.in_bps > billed.out_bps:
            return [s.in_bps for s in samples]
        return [s.out_bps for s in samples]

    @classmethod
    def from_rows(cls, config: BillingConfig, rows: list[dict]) -> BillingLedger:
        """The ledger :meth:`to_rows` wrote. Rows of an unknown kind raise ValueError."""
        ledger = cls(config)
        for row in rows:
            kind = row.get("kind")
            if kind == "period":
                ledger.period_start = float(row["start"])
                ledger.period_end = float(row["end"])
                ledger.late_octets = int(row.get("late_octets", 0))
            elif kind == "sample":
                ledger.samples.setdefault(row["provider"], []).append(
                    Sample(
                        float(row["start"]),
                        float(row["in_bps"]),
                        float(row["out_bps"]),
                        float(row["coverage"]),
                    )
                )
            elif kind == "partial":
                ledger.partial[(row["provider"], row["link"], float(row["start"]))] = _Partial(
                    float(row["in_octets"]), float(row["out_octets"]), float(row["covered_s"])
                )
            elif kind == "shift":
                ledger.shifts[(row["provider"], float(row["start"]))] = [
                    float(row["sum"]),
                    float(row["n"]),
                ]
            else:
                raise ValueError(f"billing row of unknown kind {kind!r}")
        for samples in ledger.samples.values():
            samples.sort(key=lambda s: s.start)
        return ledger

    def adopt(self, stored: BillingLedger) -> int:
        """Takes in the samples another instance kept for the same open period (an HA
        takeover: the former active's ledger, read from the shared store), and returns
        how many samples it added or improved.

        A slot held by both keeps the sample with the greater coverage (the two polled
        the same counters; the one that saw more of the slot is the better measure).
        Routepilot's shifts are the former active's (a standby moves nothing), and the
        open slots stay this instance's own, which it is polling now. A ledger of another
        period is left out: this instance's own period is the open one."""
        if not stored.period_end or (self.period_end and stored.period_start != self.period_start):
            return 0
        if not self.period_end:
            self.period_start, self.period_end = stored.period_start, stored.period_end
        changed = 0
        for provider, theirs in stored.samples.items():
            mine = {s.start: s for s in self.samples.get(provider, [])}
            for s in theirs:
                held = mine.get(s.start)
                if held is None or s.coverage > held.coverage:
                    mine[s.start] = s
                    changed += 1
            self.samples[provider] = sorted(mine.values(), key=lambda s: s.start)
        for key, value in stored.shifts.items():
            self.shifts[key] = list(value)
        return changed

"""The diagnosis stage over snapshots: traceroutes of degraded paths with hops mapped to
ASNs, an AS incident stored, announced and re-probed, closed when the loss ends."""

from __future__ import annotations

import asyncio

import numpy as np

from routepilot.config.diagnose import DiagnoseConfig
from routepilot.config.models import ProviderConfig
from routepilot.diagnose.component import CLOSED, OPENED, Diagnosis
from routepilot.probe.oneshot import Hop
from routepilot.probe.snapshot import MeasurementSnapshot
from routepilot.probe.trace import Tracer
from routepilot.store import AsyncStore
from routepilot.store.memory import MemoryStore

PROVIDERS = [
    ProviderConfig(name=n, asn=a, next_hops=[f"100.64.{i}.2"], capacity_mbps=100)
    for i, (n, a) in enumerate([("isp1", 65001), ("isp2", 65002), ("isp3", 65003)], start=1)
]
PREFIXES = [f"198.18.{k}.0/24" for k in range(6)]
# isp1 and isp2 cross AS64501 toward every prefix, isp3 crosses AS64502.
PATHS = {"isp1": (65001, 64501), "isp2": (65002, 65002, 64501), "isp3": (65003, 64502)}
INFRA = {"100.92.1.1": 65001, "100.92.2.1": 65002, "100.92.3.1": 65003,
         "100.92.101.1": 64501, "100.92.102.1": 64502}  # fmt: skip


def learned(prefix: str, provider: str) -> tuple[int, ...] | None:
    address = prefix.split("/")[0]
    if address in INFRA:
        return (INFRA[address],)
    # The longest match: an address inside a destination /24 has that /24's route.
    prefix = address.rsplit(".", 1)[0] + ".0/24"
    if prefix in PREFIXES:
        k = PREFIXES.index(prefix)
        return (*PATHS[provider], 64600 + k)
    return None


def snapshot(lossy: set[str]) -> MeasurementSnapshot:
    n, p = len(PREFIXES), len(PROVIDERS)
    loss = np.array([[0.2 if pr.name in lossy else 0.0 for pr in PROVIDERS] for _ in range(n)])
    rtt = np.full((n, p), 10.0)
    samples = np.full((n, p), 40)
    targets = {x: (x.replace(".0/24", ".5"),) for x in PREFIXES}
    return MeasurementSnapshot(
        0.0, tuple(PREFIXES), tuple(pr.name for pr in PROVIDERS), rtt, rtt, rtt, rtt * 0,
        loss, loss, loss, samples, np.zeros((n, p), dtype=int), rtt, targets=targets,
    )  # fmt: skip


async def fake_trace(target, provider, kind, max_hops, per_hop, timeout_s):  # type: ignore[no-untyped-def]
    i = int(provider[0][-1])
    t = 2 if i == 3 else 1
    return [
        Hop(1, "100.66.1.1", [0.1, 0.1], False),
        Hop(2, f"100.92.{i}.1", [1.0, 1.2], False),
        Hop(3, f"100.92.{100 + t}.1", [2.0], False),
        Hop(4, target, [3.0, 3.0], True),
    ]


def test_an_as_incident_from_snapshots_to_store_listeners_and_reprobing() -> None:
    async def main() -> None:
        store = AsyncStore(MemoryStore())
        await store.start()
        cfg = DiagnoseConfig(open_rounds=2, close_after_s=10.0, trace_busiest=0)
        d = Diagnosis(cfg, PROVIDERS, learned, store=store, clock=lambda: 0.0)
        d.tracer = Tracer(Tracer.of_providers(PROVIDERS), d.asn_of, trace_fn=fake_trace)
        heard: list[tuple[str, int]] = []
        d.listeners.append(lambda what, inc: heard.append((what, inc.id)))
        await d.start()
        sick = snapshot({"isp1", "isp2"})  # AS64501 loses
        await d.round(0.0, None, None, sick)
        await asyncio.sleep(0)  # the traceroutes of the degraded paths run
        await asyncio.gather(*d._tasks)
        # Every degraded prefix traced through every provider, hops mapped to their ASes.
        assert len(d.tracer.latest) == len(PREFIXES) * 3
        trace = d.tracer.latest[(PREFIXES[0], "isp1")]
        assert [h.asn for h in trace.hops] == [None, 65001, 64501, 64600]
        assert trace.hops[2].loss == 0.5 and trace.reached
        changes = await d.round(5.0, None, None, sick)
        assert [(i.kind, i.asn) for i in changes.opened] == [("as", 64501)]
        inc = changes.opened[0]
        assert inc.prefixes == sorted(PREFIXES)
        assert inc.evidence[0]["hops"][2] == {
            "ttl": 3,
            "address": "100.92.101.1",
            "asn": 64501,
            "rtt_ms": 2.0,
            "loss": 0.5,
        }
        assert heard == [(OPENED, inc.id)]
        samples = {
            (s.name, tuple(s.labels.values())): s.value
            for family in d.metrics.collect()
            for s in family.samples
        }
        assert samples[("routepilot_incidents_open", ("as",))] == 1
        assert samples[("routepilot_incidents_opened_total", ())] == 1
        assert samples[("routepilot_traceroutes_total", ())] == len(PREFIXES) * 3
        assert d.reprobe == frozenset(PREFIXES)
        # decide/'s input: which provider's path crosses the AS (isp3's avoids it).
        assert d.crossing == {x: {"isp1": 64501, "isp2": 64501} for x in PREFIXES}
        assert (await store.incidents())[0]["cause"]["asn"] == 64501
        # Healthy again: closed after close_after_s, stored closed, heard, no more re-probing.
        well = snapshot(set())
        assert not (await d.round(10.0, None, None, well)).closed
        closed = (await d.round(16.0, None, None, well)).closed
        assert [i.id for i in closed] == [inc.id] and heard[-1] == (CLOSED, inc.id)
        assert d.reprobe == frozenset() and d.crossing == {}
        assert (await store.incidents())[0]["closed"] == 16.0
        assert d.incidents()[0]["closed"] == 16.0
        # A restarted diagnosis numbers the next incident after the stored ones.
        again = Diagnosis(cfg, PROVIDERS, learned, store=store)
        await again.start()
        assert again.book.next_id == inc.id + 1 and not again.book.open
        await d.stop()
        await store.stop()

    asyncio.run(main())


def test_traces_are_kept_per_prefix_and_provider_with_their_time_newest_first() -> None:
    """An engineer's "what did this path cross, and since when": the newest few traces of
    each (prefix, provider), not only the last."""
    from routepilot.probe.trace import TRACES_KEPT

    async def main() -> None:
        clock = [0.0]
        d = Diagnosis(DiagnoseConfig(trace_busiest=0), PROVIDERS, learned, clock=lambda: 0.0)
        d.tracer = Tracer(
            Tracer.of_providers(PROVIDERS), d.asn_of, trace_fn=fake_trace, clock=lambda: clock[0]
        )
        for t in range(TRACES_KEPT + 3):
            clock[0] = 100.0 + t
            for provider in ("isp1", "isp3"):
                await d.tracer.trace(PREFIXES[0], provider, "198.18.0.1")
        await d.tracer.trace(PREFIXES[1], "isp1", "198.18.1.1")
        got = d.traces(PREFIXES[0])
        assert len(got) == 2 * TRACES_KEPT  # the oldest three of each path are gone
        assert [t["time"] for t in got] == sorted((t["time"] for t in got), reverse=True)
        assert got[0]["time"] == 100.0 + TRACES_KEPT + 2
        assert {t["prefix"] for t in got} == {PREFIXES[0]}
        only = d.traces(PREFIXES[0], "isp3")
        assert {t["provider"] for t in only} == {"isp3"} and len(only) == TRACES_KEPT
        assert only[0]["asns"] == [65003, 64502, 64600]  # isp3 avoids AS64501
        assert only[0]["hops"][2] == {
            "ttl": 3, "address": "100.92.102.1", "asn": 64502, "rtt_ms": 2.0, "loss": 0.5,
        }  # fmt: skip
        assert d.traces("198.18.99.0/24") == []

    asyncio.run(main())

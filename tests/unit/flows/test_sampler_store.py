"""Sampler rates kept in the store: a restarted collector scales at once (issue 9, case 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from routepilot.flows.config import FlowsConfig
from routepilot.flows.pcap import read_datagrams
from routepilot.flows.pipeline import FlowPipeline
from routepilot.flows.sink import SamplerRate
from routepilot.store.config import StoreConfig
from routepilot.store.memory import MemoryStore
from routepilot.store.sqlite import SqliteStore

from .make_device_captures import DEVICES

CAPTURE = DEVICES / "v9-records-before-sampler.pcap"


def _sqlite(tmp_path: Path) -> SqliteStore:
    return SqliteStore.open(StoreConfig(path=str(tmp_path / "rp.db")))


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_last_rate_per_sampler_is_kept(kind, tmp_path):
    store = MemoryStore() if kind == "memory" else _sqlite(tmp_path)
    store.write_sampler_rates([SamplerRate("192.0.2.1", 9, 1, 2, 100, 1.0),
                               SamplerRate("192.0.2.1", 10, 1, 0, 64, 1.0)])  # fmt: skip
    store.write_sampler_rates([SamplerRate("192.0.2.1", 9, 1, 2, 2182, 2.0)])
    assert store.sampler_rates() == [SamplerRate("192.0.2.1", 9, 1, 2, 2182, 2.0),
                                     SamplerRate("192.0.2.1", 10, 1, 0, 64, 1.0)]  # fmt: skip
    store.close()


def test_a_restarted_collector_scales_before_the_options_data(tmp_path):
    datagrams = list(read_datagrams(CAPTURE))
    store = _sqlite(tmp_path)
    first = FlowPipeline(FlowsConfig(), rates=store)
    for d in datagrams:
        first.feed(d.payload, d.src, d.time)
    first.finish(10)
    store.close()

    store = _sqlite(tmp_path)  # the daemon restarts
    second = FlowPipeline(FlowsConfig(), rates=store)
    second.restore_rates(store.sampler_rates())
    for d in (datagrams[0], datagrams[-1]):  # template and records, no options data
        second.feed(d.payload, d.src, 20)
    second.finish(21)
    store.close()
    assert second.metrics.drops == {}
    assert second.bytes_total == first.bytes_total == 2182 * 15000

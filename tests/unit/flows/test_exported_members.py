"""The public names of routepilot.flows are a contract with the daemon and other stages."""

from __future__ import annotations

import routepilot.flows as flows


def test_public_names():
    assert flows.__all__ == [
        "FlowCollector", "FlowDecoder", "FlowMetrics", "FlowPipeline", "FlowsConfig",
        "MemorySink", "PrefixTable", "ProviderRow", "RollupSink", "TrafficRow",
        "TrafficSnapshot", "decode_capture",
    ]  # fmt: skip
    for name in flows.__all__:
        assert getattr(flows, name).__name__ == name


def test_snapshot_fields_decide_relies_on():
    fields = set(flows.TrafficSnapshot.__dataclass_fields__)
    assert {"time", "window_s", "prefixes", "providers", "bps", "pps", "provider_bps",
            "provider_5m_samples", "unattributed_bps"} <= fields  # fmt: skip


def test_memory_sink_satisfies_the_protocol():
    sink: flows.RollupSink = flows.MemorySink()
    sink.write_traffic([flows.TrafficRow(0.0, 60.0, "198.18.0.0/24", "isp1", 1.0, 1.0)])
    sink.write_provider_traffic([flows.ProviderRow(0.0, 60.0, "isp1", 1.0, 1.0, 8 / 60)])
    assert len(sink.traffic) == len(sink.providers) == 1

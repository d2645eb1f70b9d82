"""Metric names and shapes the daemon's /metrics exposition relies on."""

from __future__ import annotations

import re

from routepilot.flows.metrics import FlowMetrics

SERIES = re.compile(r'^routepilot_flow_[a-z_]+(\{[a-z_]+="[a-z0-9_]+"\})?$')


def test_samples_are_series_value_pairs():
    m = FlowMetrics()
    m.drops["no_template"] += 2
    m.records["ipfix"] += 5
    m.sequence_gaps["sflow"] += 1
    samples = dict(m.samples())
    assert samples['routepilot_flow_drops_total{reason="no_template"}'] == 2
    assert samples['routepilot_flow_records_total{protocol="ipfix"}'] == 5
    assert samples["routepilot_flow_kernel_drops_total"] == 0
    assert all(SERIES.match(k) for k in samples), samples


def test_labelled_samples_for_render_samples():
    m = FlowMetrics()
    m.drops["bad_set_length"] += 1
    assert ("routepilot_flow_drops_total", {"reason": "bad_set_length"}, 1) in list(
        m.labelled_samples()
    )

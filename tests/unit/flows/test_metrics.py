"""Metric names and shapes the daemon's /metrics exposition relies on."""

from __future__ import annotations

import re

from tests.samples import series, value

from routepilot.flows.metrics import FlowMetrics

NAME = re.compile(r"^routepilot_flow_[a-z_]+$")
LABEL_VALUE = re.compile(r"^[a-z0-9_]+$")


def test_series_names_and_labels():
    m = FlowMetrics()
    m.drops["no_template"] += 2
    m.records["ipfix"] += 5
    m.sequence_gaps["sflow"] += 1
    assert value(m, "routepilot_flow_drops_total", reason="no_template") == 2
    assert value(m, "routepilot_flow_records_total", protocol="ipfix") == 5
    assert value(m, "routepilot_flow_sequence_gaps_total", protocol="sflow") == 1
    assert value(m, "routepilot_flow_kernel_drops_total") == 0
    samples = series(m)
    for name, labels in samples:
        assert NAME.match(name), name
        assert len(labels) <= 1 and all(LABEL_VALUE.match(v) for _, v in labels), labels


def test_drop_reasons_are_one_labelled_family():
    m = FlowMetrics()
    m.drops["bad_set_length"] += 1
    families = {f.name: f for f in m.collect()}
    drops = families["routepilot_flow_drops"]
    assert drops.type == "counter"
    assert [(s.name, s.labels, s.value) for s in drops.samples] == [
        ("routepilot_flow_drops_total", {"reason": "bad_set_length"}, 1)
    ]

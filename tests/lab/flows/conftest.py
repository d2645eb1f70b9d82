"""A lab of its own for the collector's lab test (name rplabf), so it never touches another's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from routepilot.lab.core import Lab, running
from routepilot.lab.spec import ExportSpec, LabSpec, ProviderSpec, TrafficSpec


@pytest.fixture(scope="module")
def flows_lab() -> Iterator[Lab]:
    spec = LabSpec(
        name="rplabf",
        providers=[
            ProviderSpec(name="isp1", asn=65001, capacity_mbps=100),
            ProviderSpec(name="isp2", asn=65002, capacity_mbps=100),
        ],
        prefixes=12,
        prefixes_v6=4,
        # pmacct: softflowd 1.1.0 holds the tail of the traffic in its capture buffer.
        export=ExportSpec(exporter="pmacct", version=10, active_timeout_s=5),
        traffic=TrafficSpec(tcp_share=0.0),
    )
    with running(spec, wait_s=90) as lab:
        yield lab

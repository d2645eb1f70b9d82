"""A lab of its own for the prober's lab tests (name rplabp), so it never touches another run's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from routepilot.lab.core import Lab, running
from routepilot.lab.spec import LabSpec, ProviderSpec


@pytest.fixture(scope="module")
def probe_lab() -> Iterator[Lab]:
    spec = LabSpec(
        name="rplabp",
        providers=[
            ProviderSpec(name="isp1", asn=65001, capacity_mbps=100),
            ProviderSpec(name="isp2", asn=65002, capacity_mbps=100),
            ProviderSpec(name="isp3", asn=65003, capacity_mbps=100),
        ],
        prefixes=16,
        prefixes_v6=4,
    )
    with running(spec, wait_s=60) as lab:
        yield lab


@pytest.fixture
def plab(probe_lab: Lab) -> Iterator[Lab]:
    """The lab with no impairment before or after the test."""
    probe_lab.clear_all()
    yield probe_lab
    probe_lab.clear_all()

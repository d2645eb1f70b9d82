"""Fixtures for lab tests: one lab per session, removed at the end whatever happens."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from routepilot.lab.core import Lab, running
from routepilot.lab.spec import LabSpec, ProviderSpec

TEST_LAB = "rplabt"


def test_spec(name: str = TEST_LAB) -> LabSpec:
    """Three providers; isp3 is a partial-transit peer announcing half the prefixes."""
    return LabSpec(
        name=name,
        providers=[
            ProviderSpec(name="isp1", asn=65001, capacity_mbps=100),
            ProviderSpec(name="isp2", asn=65002, capacity_mbps=100),
            ProviderSpec(name="isp3", asn=65003, capacity_mbps=50, announce="0-15"),
        ],
        prefixes=32,
        prefixes_v6=8,
    )


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    start = time.monotonic()
    with running(test_spec(), wait_s=0) as lab:
        lab.up_seconds = time.monotonic() - start  # type: ignore[attr-defined]
        yield lab


@pytest.fixture
def clean_impairments(lab: Lab) -> Iterator[Lab]:
    yield lab
    lab.clear_all()

"""A prober namespace and a far-end namespace per module, always torn down."""

from __future__ import annotations

import os
import shutil

import pytest

from routepilot.probe.testbed import Testbed


@pytest.fixture(scope="module")
def testbed(request):
    if os.geteuid() != 0 or not shutil.which("nft"):
        pytest.skip("needs root and nftables")
    tag = request.module.__name__.rsplit("_", 1)[-1][:8]
    with Testbed(tag, providers=3) as tb:
        yield tb


@pytest.fixture
def bed(testbed):
    """The module's testbed with no impairment left over from an earlier test."""
    testbed.clear_impairments()
    yield testbed
    testbed.clear_impairments()

"""Marks each test by the tier its folder names: tests/unit, tests/integration, tests/lab;
loads the namespace fixtures (tests/fixtures/netns.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_TIERS = ("unit", "integration", "lab")

# Every namespace fixture (the lab, the probe bed, the flow pair, a test's own set).
pytest_plugins = ["tests.fixtures.netns"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    for item in items:
        try:
            tier = Path(item.fspath).relative_to(root).parts[0]
        except ValueError:
            continue
        if tier not in _TIERS:
            raise pytest.UsageError(
                f"{item.nodeid}: a test belongs in tests/unit, tests/integration or tests/lab"
            )
        # `make test` collects each tier from its own folder only (importing the other
        # tiers' modules cost about 20 s a run): a test marked for another tier than its
        # folder's would run in neither.
        other = {m.name for m in item.iter_markers() if m.name in _TIERS} - {tier}
        if other:
            raise pytest.UsageError(f"{item.nodeid}: marked {sorted(other)}, in tests/{tier}")
        item.add_marker(getattr(pytest.mark, tier))
        if tier in ("integration", "lab") and os.geteuid() != 0:
            item.add_marker(pytest.mark.skip(reason=f"{tier} tests need root"))

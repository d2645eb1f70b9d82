"""store/warm.py: the last stored minute of traffic as the snapshot a restart starts from."""

from __future__ import annotations

import numpy as np
import pytest

from routepilot.flows.snapshot import TrafficRow
from routepilot.store.warm import WINDOW_S, last_minute

PROVIDERS = ("isp1", "isp2", "isp3")
T = 1_800_000_000.0


def row(t: float, prefix: str, provider: str | None, mbps: float) -> TrafficRow:
    """One stored minute of ``prefix`` through ``provider`` at ``mbps``, 1,000-byte packets."""
    octets = mbps * 1e6 / 8 * 60
    return TrafficRow(t, 60.0, prefix, provider, octets, octets / 1000)


def test_the_last_minute_busiest_first_at_its_rates() -> None:
    rows = [
        row(T - 120, "198.18.0.0/24", "isp1", 50.0),  # an older minute: not summed in
        row(T - 60, "198.18.0.0/24", "isp1", 2.0),
        row(T - 60, "198.18.1.0/24", "isp2", 8.0),
        row(T - 60, "198.18.1.0/24", "isp3", 1.0),
        row(T - 60, "2001:db8:1::/48", "isp3", 0.5),
    ]
    snap = last_minute(rows, PROVIDERS)
    assert snap is not None
    assert snap.time == T - 60 and snap.window_s == WINDOW_S
    assert snap.prefixes == ("198.18.1.0/24", "198.18.0.0/24", "2001:db8:1::/48")
    assert snap.providers == PROVIDERS
    np.testing.assert_allclose(
        snap.bps, [[0.0, 8e6, 1e6], [2e6, 0.0, 0.0], [0.0, 0.0, 0.5e6]], rtol=1e-9
    )
    np.testing.assert_allclose(snap.pps, snap.bps / 8000, rtol=1e-9)
    assert snap.provider_bps == pytest.approx({"isp1": 2e6, "isp2": 8e6, "isp3": 1.5e6})


def test_rows_of_removed_providers_unattributed_or_empty_are_left_out() -> None:
    rows = [
        row(T, "198.18.0.0/24", "isp9", 9.0),  # a provider removed from the configuration
        row(T, "198.18.1.0/24", None, 9.0),  # traffic no provider could be attributed
        row(T, "198.18.2.0/24", "isp1", 0.0),
        row(T - 60, "198.18.3.0/24", "isp2", 3.0),
    ]
    snap = last_minute(rows, PROVIDERS)
    assert snap is not None
    # The newest minute held only rows that do not count: the one before stands in.
    assert snap.time == T - 60 and snap.prefixes == ("198.18.3.0/24",)
    assert snap.provider_bps == pytest.approx({"isp1": 0.0, "isp2": 3e6, "isp3": 0.0})


def test_nothing_usable_means_a_cold_start() -> None:
    assert last_minute([], PROVIDERS) is None
    assert last_minute([row(T, "198.18.0.0/24", "isp9", 1.0)], PROVIDERS) is None
    assert last_minute([row(T, "198.18.0.0/24", "isp1", 0.0)], PROVIDERS) is None

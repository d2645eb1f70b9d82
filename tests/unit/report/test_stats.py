"""Provider percentiles, availability and SLA checks, against numbers worked out by hand."""

from __future__ import annotations

import pytest

from routepilot.report.config import SlaConfig, SlaTarget
from routepilot.report.stats import provider_stats, providers_section, quantile, sla_check


def test_quantile_interpolates_between_ranks() -> None:
    xs = [40.0, 10.0, 30.0, 20.0]  # sorted: 10 20 30 40
    assert quantile(xs, 0.0) == 10.0
    assert quantile(xs, 1.0) == 40.0
    assert quantile(xs, 0.5) == pytest.approx(25.0)  # position 1.5
    assert quantile(xs, 0.9) == pytest.approx(37.0)  # position 2.7 → 30 + 0.7 * 10
    assert quantile([], 0.5) is None
    assert quantile([7.0], 0.95) == 7.0


def rows(*minutes: tuple[float | None, float | None, int]) -> list[dict]:
    return [
        {"time": 60.0 * i, "provider": "a", "rtt_ms": r, "loss": x, "samples": n}
        for i, (r, x, n) in enumerate(minutes)
    ]


def test_provider_stats_weighs_loss_by_probes_and_counts_down_minutes() -> None:
    s = provider_stats(
        rows((10.0, 0.0, 60), (20.0, 0.1, 60), (None, 1.0, 30), (30.0, 0.0, 30), (None, None, 0)),
        down_loss=0.5,
    )
    assert s["rtt_ms"]["mean"] == pytest.approx(20.0)
    assert s["rtt_ms"]["p50"] == pytest.approx(20.0)
    # Loss: (0*60 + 0.1*60 + 1*30 + 0*30) / 180 probes = 36 / 180.
    assert s["loss"]["mean"] == pytest.approx(0.2)
    assert s["loss"]["max"] == 1.0
    # The minute with no loss figure was not probed: 4 minutes, 1 of them down.
    assert s["minutes"] == 4
    assert s["down_minutes"] == 1
    assert s["availability"] == pytest.approx(0.75)


def test_provider_stats_of_nothing_is_none_not_zero() -> None:
    s = provider_stats([], down_loss=0.5)
    assert s["availability"] is None
    assert s["rtt_ms"]["p95"] is None
    assert s["loss"]["mean"] is None


def test_sla_targets_fall_back_field_by_field() -> None:
    sla = SlaConfig(rtt_ms=50, loss=0.01, providers={"b": SlaTarget(rtt_ms=80, availability=0.99)})
    assert sla.target("a") == SlaTarget(rtt_ms=50, loss=0.01)
    assert sla.target("b") == SlaTarget(rtt_ms=80, loss=0.01, availability=0.99)


def test_sla_check_compares_the_configured_quantile() -> None:
    rtts = [float(x) for x in range(1, 101)]  # 1..100 ms: p95 = 95.05, p50 = 50.5
    stats = {"loss": {"mean": 0.002}, "availability": 0.998}
    sla = SlaConfig(rtt_ms=96, loss=0.001, availability=0.99)
    got = sla_check("a", stats, rtts, sla)
    assert got["checks"]["rtt_ms"] == {
        "target": 96,
        "measured": pytest.approx(95.05),
        "met": True,
        "quantile": 0.95,
    }
    assert got["checks"]["loss"]["met"] is False
    assert got["checks"]["availability"]["met"] is True
    assert got["met"] is False
    median = sla_check("a", stats, rtts, SlaConfig(rtt_ms=50, rtt_quantile=0.5))
    assert median["checks"]["rtt_ms"]["measured"] == pytest.approx(50.5)
    assert median["met"] is False
    assert sla_check("a", stats, rtts, SlaConfig()) == {"met": None, "checks": {}}


def test_providers_section_keeps_the_providers_order() -> None:
    series = [
        {"time": 0.0, "provider": "b", "rtt_ms": 5.0, "loss": 0.0, "samples": 1},
        {"time": 0.0, "provider": "a", "rtt_ms": 9.0, "loss": 0.0, "samples": 1},
    ]
    out = providers_section([{"name": "a", "asn": 1}, {"name": "b", "asn": 2}], series, SlaConfig())
    assert [p["name"] for p in out] == ["a", "b"]
    assert out[0]["rtt_ms"]["p50"] == 9.0

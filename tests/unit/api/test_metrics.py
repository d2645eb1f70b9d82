"""The /metrics page: the view's gauges, the API's own families, escaping, no family twice."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.samples import parse
from tests.unit.api.conftest import make_client

from routepilot.api.app import create_app
from routepilot.api.config import ApiConfig
from routepilot.api.fake import FakeView
from routepilot.api.metrics import view_families
from routepilot.flows.metrics import FlowMetrics
from routepilot.metrics import Registry, StageMetrics, gauge, render


def _page(*collectors: object) -> str:
    registry = Registry()
    for c in collectors:
        registry.register(c)  # type: ignore[arg-type]
    return (
        TestClient(create_app(FakeView(), ApiConfig(), registry, static_dir=Path("/nonexistent")))
        .get("/metrics")
        .text
    )


def test_label_values_are_escaped() -> None:
    flows = FlowMetrics()
    flows.drop("short", 2)
    flows.drop('bad "x"\n')
    text = _page(flows)
    assert 'routepilot_flow_drops_total{reason="short"} 2.0' in text
    assert 'routepilot_flow_drops_total{reason="bad \\"x\\"\\n"} 1.0' in text
    samples = parse(text)
    assert samples[("routepilot_flow_drops_total", (("reason", 'bad "x"\n'),))] == 1


@pytest.mark.parametrize(
    "value,text",
    [(1, "1.0"), (2.5, "2.5"), (3.0, "3.0"), (True, "1.0"), (math.nan, "NaN"), (math.inf, "+Inf")],
)
def test_values(value, text) -> None:
    class One(StageMetrics):
        def collect(self):  # type: ignore[no-untyped-def]
            yield gauge("routepilot_x", "X.", value)

    registry = Registry()
    registry.register(One())
    assert f"\nroutepilot_x {text}\n" in render(registry)[0].decode()


def test_view_families_follow_the_view() -> None:
    view = FakeView()
    status = view.status()
    status["sessions"]["edge2"] = "idle"
    providers = view.providers()
    providers[0]["rtt_ms"] = None
    samples = {
        (s.name, tuple(s.labels.items())): s.value
        for family in view_families(status, providers)
        for s in family.samples
    }
    assert samples[("routepilot_bgp_session_up", (("router", "edge2"),))] == 0
    assert ("routepilot_provider_rtt_seconds", (("provider", "isp1"),)) not in samples  # unknown
    assert samples[("routepilot_provider_rtt_seconds", (("provider", "isp2"),))] == pytest.approx(
        providers[1]["rtt_ms"] / 1000
    )
    assert samples[("routepilot_provider_rate_bytes_per_second", (("provider", "isp2"),))] == (
        pytest.approx(providers[1]["rate_bps"] / 8)
    )


def test_every_name_follows_prometheus_conventions() -> None:
    text = make_client(ApiConfig()).get("/metrics").text
    names = {name for name, _ in parse(text)}
    assert names
    for name in names:
        assert name.startswith("routepilot_"), name
        assert name == name.lower()
        assert not name.endswith("_ms") and "_percent" not in name


def test_a_collector_repeating_the_views_families_is_refused() -> None:
    """Prometheus rejects a scrape with a family twice: the registry refuses it up front."""

    class Paused(StageMetrics):
        def collect(self):  # type: ignore[no-untyped-def]
            yield gauge("routepilot_paused", "Paused.", 1)

    registry = Registry()
    registry.register(Paused())
    with pytest.raises(ValueError, match="routepilot_paused"):
        create_app(FakeView(), ApiConfig(), registry, static_dir=Path("/nonexistent"))


def test_each_family_once_on_the_page() -> None:
    text = _page(FlowMetrics())
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types))
    assert {"routepilot_paused", "routepilot_up", "routepilot_dry_run"} <= set(types)


def test_a_failing_collector_still_serves_the_rest() -> None:
    class Broken(StageMetrics):
        def collect(self):  # type: ignore[no-untyped-def]
            raise KeyError("pipeline")

        def describe(self):  # type: ignore[no-untyped-def]
            return []

    samples = parse(_page(Broken()))
    assert samples[("routepilot_up", ())] == 1
    assert samples[("routepilot_api_metrics_errors_total", ())] == 1

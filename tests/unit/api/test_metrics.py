"""The Prometheus exposition: names, types, labels, escaping, histograms, deduplication."""

from __future__ import annotations

import math

import pytest
from tests.unit.api.conftest import make_client

from routepilot.api.config import ApiConfig
from routepilot.api.fake import FakeView
from routepilot.api.metrics import Registry, families, render_samples, view_samples


def test_render_samples_mixes_dicts_and_tuples() -> None:
    text = render_samples(
        {"routepilot_inject_announcements_total": 3, "routepilot_inject_routes": 7},
        [
            ("routepilot_flow_drops_total", {"reason": "short"}, 2),
            ("routepilot_flow_drops_total", {"reason": 'bad "x"\n'}, 1),
        ],
        helps={"routepilot_inject_routes": "Routes announced now."},
    )
    assert text.splitlines() == [
        "# TYPE routepilot_inject_announcements_total counter",
        "routepilot_inject_announcements_total 3",
        "# HELP routepilot_inject_routes Routes announced now.",
        "# TYPE routepilot_inject_routes gauge",
        "routepilot_inject_routes 7",
        "# TYPE routepilot_flow_drops_total counter",
        'routepilot_flow_drops_total{reason="short"} 2',
        'routepilot_flow_drops_total{reason="bad \\"x\\"\\n"} 1',
    ]


@pytest.mark.parametrize(
    "value,text",
    [(1, "1"), (2.5, "2.5"), (3.0, "3"), (True, "1"), (math.nan, "NaN"), (math.inf, "+Inf")],
)
def test_values(value, text) -> None:
    assert render_samples({"x": value}).splitlines()[-1] == f"x {text}"


def test_registry_counter_gauge_histogram() -> None:
    reg = Registry()
    c = reg.counter("routepilot_things_total", "Things.", ("kind",))
    g = reg.gauge("routepilot_queue", "Queued.")
    h = reg.histogram("routepilot_wait_seconds", "Wait.", (0.1, 1.0))
    c.inc(kind="a")
    c.inc(2, kind="a")
    g.set(4)
    for v in (0.05, 0.5, 5.0):
        h.observe(v)
    assert c.value(kind="a") == 3
    assert reg.render().splitlines() == [
        "# HELP routepilot_things_total Things.",
        "# TYPE routepilot_things_total counter",
        'routepilot_things_total{kind="a"} 3',
        "# HELP routepilot_queue Queued.",
        "# TYPE routepilot_queue gauge",
        "routepilot_queue 4",
        "# HELP routepilot_wait_seconds Wait.",
        "# TYPE routepilot_wait_seconds histogram",
        'routepilot_wait_seconds_bucket{le="0.1"} 1',
        'routepilot_wait_seconds_bucket{le="1"} 2',
        'routepilot_wait_seconds_bucket{le="+Inf"} 3',
        "routepilot_wait_seconds_sum 5.55",
        "routepilot_wait_seconds_count 3",
    ]


def test_registry_refuses_bad_names_and_labels() -> None:
    reg = Registry()
    with pytest.raises(ValueError, match="_total"):
        reg.counter("routepilot_things", "no suffix")
    c = reg.counter("routepilot_x_total", "x", ("a",))
    with pytest.raises(ValueError, match="labels"):
        c.inc(b="1")
    with pytest.raises(ValueError, match="already registered"):
        reg.gauge("routepilot_x_total", "again")


def test_view_samples_follow_the_view() -> None:
    view = FakeView()
    status = view.status()
    status["sessions"]["edge2"] = "idle"
    providers = view.providers()
    providers[0]["rtt_ms"] = None
    names = {(n, tuple(labels.items())): v for n, labels, v in view_samples(status, providers)}
    assert names[("routepilot_bgp_session_up", (("router", "edge2"),))] is False
    assert names[("routepilot_provider_rtt_seconds", (("provider", "isp1"),))] is None
    assert names[("routepilot_provider_rtt_seconds", (("provider", "isp2"),))] == pytest.approx(
        providers[1]["rtt_ms"] / 1000
    )
    text = render_samples(view_samples(status, providers))
    assert 'routepilot_provider_rtt_seconds{provider="isp1"}' not in text  # unknown: no sample


def test_every_name_follows_prometheus_conventions() -> None:
    text = make_client(ApiConfig()).get("/metrics").text
    for name in families(text):
        assert name.startswith("routepilot_"), name
        assert name == name.lower()
        assert not name.endswith("_ms") and "_percent" not in name


def test_families_the_daemon_exposes_are_not_repeated() -> None:
    daemon = "routepilot_paused 1\n# TYPE routepilot_dry_run gauge\nroutepilot_dry_run 0\n"
    text = make_client(ApiConfig(), metrics=lambda: daemon).get("/metrics").text
    assert text.count("routepilot_paused ") == 1 and "routepilot_paused 1" in text
    assert text.count("# TYPE routepilot_dry_run gauge") == 1
    assert families(text) >= {"routepilot_paused", "routepilot_up", "routepilot_dry_run"}


def test_a_failing_daemon_renderer_still_serves_the_rest() -> None:
    def broken() -> str:
        raise KeyError("pipeline")

    text = make_client(ApiConfig(), metrics=broken).get("/metrics").text
    assert "routepilot_up 1" in text
    assert "routepilot_api_metrics_errors_total 1" in text

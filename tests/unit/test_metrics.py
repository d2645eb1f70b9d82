"""The one metrics registry: every family of every stage has HELP and TYPE, names follow
Prometheus conventions, a family cannot be exposed twice, and a broken collector does not
blank the page."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from types import SimpleNamespace

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

import routepilot
from routepilot.alerts.component import Alerting
from routepilot.api.app import create_app
from routepilot.api.config import AlertsConfig, ApiConfig, WebhookConfig
from routepilot.api.fake import FakeView
from routepilot.api.limits import LimitMetrics
from routepilot.api.metrics import ApiMetrics, ViewMetrics
from routepilot.config.diagnose import DiagnoseConfig
from routepilot.config.ha import HaConfig
from routepilot.diagnose.component import Diagnosis
from routepilot.flows.metrics import FlowMetrics
from routepilot.ha import Leadership, MemoryLease
from routepilot.inject.metrics import InjectMetrics
from routepilot.metrics import Registry, StageMetrics, counter, gauge, histogram, render
from routepilot.probe.metrics import ProbeMetrics
from routepilot.probe.ondemand import OnDemandMetrics
from routepilot.rib.bmp.metrics import BmpMetrics
from routepilot.rib.metrics import RibMetrics, SpeakerMetrics
from routepilot.run.controller import CycleStats
from routepilot.run.metrics import ControllerMetrics
from routepilot.store.metrics import StoreMetrics
from routepilot.telemetry.metrics import TelemetryMetrics


def _subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _subclasses(sub)
    return out


def every_collector(tmp_path: Path) -> list[StageMetrics]:
    """One of each stage's metrics objects, with a sample in every labelled family."""
    flows = FlowMetrics()
    flows.datagrams["ipfix"] += 3
    flows.records["ipfix"] += 30
    flows.drop("no_template")
    flows.sequence_gaps["sflow"] += 1
    probe = ProbeMetrics()
    for attr in ("sent", "answered", "lost", "unreachable", "send_errors", "unmatched"):
        getattr(probe, attr)["isp1", "icmp"] += 1
    probe.observe_read_delay(3_000_000)
    db = tmp_path / "rp.db"
    db.write_bytes(b"x" * 100)
    alerting = Alerting(AlertsConfig(webhooks=[WebhookConfig(url="http://127.0.0.1:9/x")]))
    api = ApiMetrics()
    api.observe("GET", "/api/v1/status", 200, 0.003)
    limits = LimitMetrics()
    limits.rejected["body_too_large"] += 1
    stats = CycleStats(count=2, duration_ms=12.5, moves_total=1)
    telemetry = TelemetryMetrics()
    telemetry.requests["edge1"] += 4
    telemetry.errors["edge1", "timeout"] += 1
    telemetry.discontinuities["edge1", "agent_restart"] += 1
    ondemand = OnDemandMetrics()
    ondemand.count("probe", "ok")
    ondemand.probes_sent["isp1"] = 30
    controller = SimpleNamespace(
        cycle_stats=stats, outage_wakeups=0, injector=SimpleNamespace(announced={})
    )
    return [
        flows,
        probe,
        RibMetrics(),
        SpeakerMetrics(),
        InjectMetrics(),
        StoreMetrics(str(db)),
        alerting.metrics,
        api,
        limits,
        ViewMetrics(FakeView()),
        ControllerMetrics(controller),  # type: ignore[arg-type]
        telemetry,
        Leadership(HaConfig(enabled=True, node="a"), MemoryLease()).metrics,
        BmpMetrics(messages={"route_monitoring": 3}),
        ondemand,
        Diagnosis(DiagnoseConfig(), [], lambda prefix, provider: None).metrics,
    ]


def test_every_stage_metrics_class_is_covered_here(tmp_path: Path) -> None:
    for module in pkgutil.walk_packages(routepilot.__path__, "routepilot."):
        importlib.import_module(module.name)
    covered = {type(c) for c in every_collector(tmp_path)}
    shipped = {c for c in _subclasses(StageMetrics) if c.__module__.startswith("routepilot.")}
    assert len(shipped) >= 10
    assert shipped <= covered, shipped - covered


def _heads(text: str) -> tuple[dict[str, str], dict[str, str]]:
    helps, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            _, _, name, doc = line.split(" ", 3)
            assert name not in helps, f"HELP twice for {name}"
            helps[name] = doc
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert name not in types, f"TYPE twice for {name}"
            types[name] = kind
    return helps, types


def test_every_family_has_help_and_type(tmp_path: Path) -> None:
    registry = Registry()
    for collector in every_collector(tmp_path):
        registry.register(collector)
    text, _ = render(registry)
    text = text.decode()
    helps, types = _heads(text)
    families = list(text_string_to_metric_families(text))
    assert len(families) >= 90
    by_name = {f.name: f for f in families}
    errors = by_name["routepilot_telemetry_errors"].samples
    assert [(s.labels, s.value) for s in errors] == [({"agent": "edge1", "reason": "timeout"}, 1)]
    for family in families:
        name = family.name + ("_total" if family.type == "counter" else "")
        assert helps.get(name, "").strip(), f"{name} has no HELP"
        assert types.get(name) in ("counter", "gauge", "histogram"), f"{name}: {types.get(name)}"
    # Every sample belongs to a family declared before it.
    declared: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            declared.add(line.split()[2])
        elif line and not line.startswith("#"):
            sample = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)  # type: ignore[union-attr]
            base = re.sub(r"_(bucket|sum|count)$", "", sample)
            assert sample in declared or base in declared, line


def test_every_name_follows_prometheus_conventions(tmp_path: Path) -> None:
    registry = Registry()
    for collector in every_collector(tmp_path):
        registry.register(collector)
    text = render(registry)[0].decode()
    _, types = _heads(text)
    for name, kind in types.items():
        assert name.startswith("routepilot_") and name == name.lower(), name
        assert not name.endswith("_ms") and "_percent" not in name, name
        assert name.endswith("_total") == (kind == "counter"), (name, kind)


def test_describe_is_what_collect_gives(tmp_path: Path) -> None:
    for collector in every_collector(tmp_path):
        described = {(m.name, m.type) for m in collector.describe()}
        collected = {(m.name, m.type) for m in collector.collect()}
        assert described == collected, type(collector)


def test_a_family_cannot_be_registered_twice() -> None:
    registry = Registry()
    registry.register(FlowMetrics())
    with pytest.raises(ValueError, match="routepilot_flow_drops"):
        registry.register(FlowMetrics())


def test_no_global_registry_and_many_instances() -> None:
    for _ in range(2):
        create_app(FakeView(), ApiConfig(), static_dir=Path("/nonexistent"))
        registry = Registry()
        registry.register(FlowMetrics())
    global_names = {m.name for m in prometheus_client.REGISTRY.collect()}
    assert not any(n.startswith("routepilot") for n in global_names), global_names


def test_helpers_refuse_names_against_conventions() -> None:
    with pytest.raises(ValueError, match="_total"):
        counter("routepilot_things", "No suffix.")
    with pytest.raises(ValueError, match="_total"):
        gauge("routepilot_things_total", "A gauge named like a counter.")
    with pytest.raises(ValueError, match="labels"):
        counter("routepilot_x_total", "x", labels=("a", "b"), values={"only-one": 1})


def test_histogram_buckets_are_cumulative() -> None:
    family = histogram("routepilot_wait_seconds", "Wait.", (0.1, 1.0), [1, 1, 1], 5.55)
    samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    assert samples == {
        ("routepilot_wait_seconds_bucket", "0.1"): 1,
        ("routepilot_wait_seconds_bucket", "1.0"): 2,
        ("routepilot_wait_seconds_bucket", "+Inf"): 3,
        ("routepilot_wait_seconds_count", None): 3,
        ("routepilot_wait_seconds_sum", None): 5.55,
    }

"""The live daemon's /metrics, as Prometheus would scrape it, passes promtool (issue 10).

The controller runs in the lab with real BIRD, ExaBGP, flows, probes and its SQLite
store; the page is fetched over HTTP from the running process, not built from a fake
view, and Prometheus's own linter checks it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from routepilot.lab.spec import LabSpec
from tests.lab.looplab import FAST_EXPORT, TOKEN, LoopLab
from tests.samples import parse

SPEC = {
    "name": "rplabm",
    "providers": [{"name": "isp1", "asn": 65001}, {"name": "isp2", "asn": 65002}],
    "prefixes": 8,
    "prefixes_v6": 2,
    "export": FAST_EXPORT,  # the traffic's first records come sooner
}

STORE_FAMILIES = {
    "routepilot_store_rows_written_total",
    "routepilot_store_write_errors_total",
    "routepilot_store_write_seconds_total",
    "routepilot_store_pruned_rows_total",
    "routepilot_store_dropped_rows_total",
    "routepilot_store_database_bytes",
}


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopLab]:
    ll = LoopLab(LabSpec.model_validate(SPEC), tmp_path_factory.mktemp("metrics"))
    try:
        ll.up()
        yield ll
    finally:
        ll.down()


def _scrape(loop: LoopLab, accept: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if accept:
        headers["Accept"] = accept
    r = httpx.get(f"http://127.0.0.1:{loop.port}/metrics", headers=headers, timeout=10)
    r.raise_for_status()
    return r


def _total(samples: dict, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def test_live_metrics_pass_promtool_with_every_stage(loop: LoopLab) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: apt-get install prometheus"

    wanted = (
        "routepilot_store_rows_written_total",
        "routepilot_probes_sent_total",
        "routepilot_decision_rounds_total",
    )

    def missing() -> list[str]:
        samples = parse(_scrape(loop).text)
        return [name for name in wanted if not _total(samples, name) > 0]

    loop.wait(
        lambda: not missing(),
        120,
        "the store's rows, probes and a decision round on /metrics",
        diag=lambda: f"still zero or absent: {missing()}",
    )
    r = _scrape(loop)
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr

    families = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    assert families >= STORE_FAMILIES, STORE_FAMILIES - families
    samples = parse(text)
    assert samples[("routepilot_store_database_bytes", ())] > 0
    assert samples[("routepilot_store_write_errors_total", ())] == 0
    # Every stage of the running daemon reaches the page, with live values.
    assert _total(samples, "routepilot_flow_records_total") > 0
    assert _total(samples, "routepilot_probes_answered_total") > 0
    assert samples[("routepilot_rib_prefixes", ())] > 0
    assert _total(samples, "routepilot_bgp_session_up") >= 1
    assert _total(samples, "routepilot_bgp_speaker_events_total") > 0
    assert ("routepilot_inject_routes", ()) in samples
    assert ("routepilot_alerts_queued", ()) in samples
    assert samples[("routepilot_up", ())] == 1
    assert _total(samples, "routepilot_api_requests_total") > 0


def test_live_metrics_in_openmetrics_when_asked(loop: LoopLab) -> None:
    r = _scrape(loop, "application/openmetrics-text; version=1.0.0; charset=utf-8")
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.endswith("# EOF\n")
    assert "# TYPE routepilot_store_rows_written counter" in r.text

"""Reading a period from a source: the journal before and in it, provider aggregates."""

from __future__ import annotations

import pytest

from routepilot.api.fake import FakeView
from routepilot.report import source as src
from routepilot.report.source import collect, provider_aggregate


def row(t, provider, prefix, rtt, loss, samples):  # type: ignore[no-untyped-def]
    return {
        "time": t,
        "provider": provider,
        "prefix": prefix,
        "rtt_ms": rtt,
        "loss": loss,
        "samples": samples,
    }


def test_rows_without_prefix_are_the_aggregate_as_they_are() -> None:
    rows = [row(0, "a", None, 5.0, 0.0, 10), row(0, "a", "p", 9.0, 0.0, 10)]
    assert provider_aggregate(rows) == [rows[0]]


def test_per_prefix_rows_are_folded_into_a_median_and_a_probe_weighted_loss() -> None:
    rows = [
        row(0, "a", "p1", 10.0, 0.0, 30),
        row(0, "a", "p2", 30.0, 0.5, 10),
        row(0, "a", "p3", 20.0, None, 0),
        row(0, "b", "p1", None, 1.0, 10),
        row(60, "a", "p1", 11.0, 0.0, 30),
    ]
    got = {(r["provider"], r["time"]): r for r in provider_aggregate(rows)}
    assert got["a", 0]["rtt_ms"] == 20.0
    assert got["a", 0]["loss"] == pytest.approx(5 / 40)
    assert got["a", 0]["samples"] == 40
    assert got["b", 0]["rtt_ms"] is None and got["b", 0]["loss"] == 1.0
    assert got["a", 60]["rtt_ms"] == 11.0


def test_journal_is_read_in_and_before_the_period_without_duplicates(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    view = FakeView()
    since = view.now - 1800
    data = collect(view, 1800)
    # FakeView's until and since are both inclusive: the move at exactly `since` came twice.
    times = [d["time"] for d in data.decisions]
    assert len(times) == len(set(times)) == 30
    assert any(t < since for t in times) and any(t >= since for t in times)
    assert not data.journal_truncated
    monkeypatch.setattr(src, "MAX_DECISIONS", 5)
    assert collect(view, 1800).journal_truncated


def test_one_prefix_probed_several_ways_is_one_row_a_minute() -> None:
    rows = [row(0, "a", "p", 10.0, 0.0, 20), row(0, "a", "p", 14.0, 0.1, 20)]
    (one,) = src.fold(rows, "p")
    assert (one["prefix"], one["rtt_ms"], one["loss"], one["samples"]) == ("p", 12.0, 0.05, 40)

"""Reading a metrics collector in tests, the way a scrape would (``collect()``)."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families


def series(collector: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a collector: ``{(name, sorted labels): value}``."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in collector.collect()
        for s in family.samples
    }


def value(collector: Any, name: str, **labels: str) -> float | None:
    """One sample's value (``None`` when the collector has no such series)."""
    return series(collector).get((name, tuple(sorted(labels.items()))))


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition text, parsed by prometheus-client's own parser."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

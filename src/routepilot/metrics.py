"""The one metrics registry and the one renderer, on ``prometheus-client``.

Every stage keeps its counters as plain numbers on a metrics object (the hot
paths pay one integer or dict update per batch, and the prober's worker process
can pickle them), and that object is a custom collector: :meth:`collect` turns
the numbers into metric families, each with its HELP and TYPE. Nothing is
registered at import time and the library's global ``REGISTRY`` is never used:
the composition root (``run/``) builds one :class:`Registry`, registers every
stage's metrics object in it, and the API renders that registry at ``/metrics``
with :func:`render`.

Names follow the Prometheus conventions: a ``routepilot_`` prefix, base units
(``_seconds``, ``_bytes``, ``_ratio``), counters ending in ``_total``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from routepilot.log import get_logger

__all__ = [
    "Collector",
    "Metric",
    "Registry",
    "StageMetrics",
    "counter",
    "gauge",
    "histogram",
    "render",
]

log = get_logger(__name__)

ERRORS = "routepilot_api_metrics_errors_total"


def counter(
    name: str,
    help_text: str,
    value: float | None = None,
    *,
    labels: Sequence[str] = (),
    values: Mapping[Any, float] | None = None,
) -> CounterMetricFamily:
    """A counter family: one unlabelled ``value``, or ``values`` keyed by label value(s)."""
    if not name.endswith("_total"):
        raise ValueError(f"counter {name!r} must end in _total")
    family = CounterMetricFamily(name, help_text, labels=labels)
    _fill(family, labels, value, values)
    return family


def gauge(
    name: str,
    help_text: str,
    value: float | None = None,
    *,
    labels: Sequence[str] = (),
    values: Mapping[Any, float | None] | None = None,
) -> GaugeMetricFamily:
    """A gauge family; a ``None`` value (unknown now) gives no sample rather than a made-up 0."""
    if name.endswith("_total"):
        raise ValueError(f"gauge {name!r} must not end in _total (that suffix means a counter)")
    family = GaugeMetricFamily(name, help_text, labels=labels)
    _fill(family, labels, value, values)
    return family


def _fill(
    family: CounterMetricFamily | GaugeMetricFamily,
    labels: Sequence[str],
    value: float | None,
    values: Mapping[Any, float | None] | None,
) -> None:
    if value is not None:
        family.add_metric([], float(value))
    for key, v in sorted((values or {}).items(), key=lambda kv: str(kv[0])):
        if v is None:
            continue
        keys = key if isinstance(key, tuple) else (key,)
        if len(keys) != len(labels):
            raise ValueError(f"{family.name} takes labels {tuple(labels)}, got {keys!r}")
        family.add_metric([str(k) for k in keys], float(v))


def histogram(
    name: str,
    help_text: str,
    bounds: Sequence[float],
    counts: Sequence[int],
    sum_value: float,
    *,
    labels: Sequence[str] = (),
    label_values: Sequence[str] = (),
    family: HistogramMetricFamily | None = None,
) -> HistogramMetricFamily:
    """A histogram from per-bucket (not cumulative) ``counts``: one per bound, then the
    overflow. Pass ``family`` to add another label set to the same family."""
    if len(counts) != len(bounds) + 1:
        raise ValueError(f"{name}: {len(bounds)} bounds need {len(bounds) + 1} counts")
    family = family or HistogramMetricFamily(name, help_text, labels=labels)
    buckets: list[tuple[str, float]] = []
    seen = 0
    for bound, n in zip(bounds, counts, strict=False):
        seen += n
        buckets.append((floatToGoString(bound), seen))
    buckets.append(("+Inf", seen + counts[-1]))
    family.add_metric(list(label_values), buckets, sum_value)
    return family


class StageMetrics:
    """Base of every stage's metrics object: a collector whose families are known.

    ``describe()`` gives the family names and types, so a registry refuses a second
    collector that would expose the same family (Prometheus rejects such a scrape).
    It is the families of ``collect()`` itself, so the two cannot drift apart.
    """

    def collect(self) -> Iterator[Metric]:
        raise NotImplementedError

    def describe(self) -> list[Metric]:
        return [Metric(m.name, m.documentation, m.type) for m in self.collect()]


class _Handle:
    """A registered collector, hashed by identity: the library keys its registry by
    collector, and a stage's metrics dataclass compares by value (so is unhashable)."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    def collect(self) -> Iterable[Metric]:
        return self.collector.collect()

    def describe(self) -> Iterable[Metric]:
        describe = getattr(self.collector, "describe", None)
        return describe() if describe is not None else self.collector.collect()


class Registry(CollectorRegistry):
    """The daemon's one registry: every stage's collector, each scraped on its own.

    A collector that raises during a scrape is logged and left out of that scrape
    (and counted in ``routepilot_api_metrics_errors_total``): one broken stage must
    not blank the whole page, and the other families still go out.
    """

    def __init__(self) -> None:
        super().__init__()
        self._handles: dict[int, _Handle] = {}
        self.collect_errors = 0

    def register(self, collector: Collector) -> None:
        if id(collector) in self._handles:
            raise ValueError(f"{type(collector).__name__} is already registered")
        handle = _Handle(collector)
        super().register(handle)
        self._handles[id(collector)] = handle

    def unregister(self, collector: Collector) -> None:
        super().unregister(self._handles.pop(id(collector)))

    def collect(self) -> Iterable[Metric]:
        for handle in list(self._handles.values()):
            try:
                families = list(handle.collector.collect())
            except Exception as exc:
                self.collect_errors += 1
                name = type(handle.collector).__name__
                log.error("metrics collector failed", collector=name, exc_info=exc)
                continue
            yield from families
        yield counter(
            ERRORS,
            "Metric collectors that failed during a scrape (their families were left out).",
            self.collect_errors,
        )


def render(registry: Collector, accept: str | None = None) -> tuple[bytes, str]:
    """The exposition body and its content type: Prometheus text 0.0.4 unless the
    scraper's ``Accept`` header asks for OpenMetrics."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type

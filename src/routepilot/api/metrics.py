"""Prometheus text exposition (format 0.0.4), without a client library.

Stages keep their counters as plain integers (``flows/metrics.py``,
``probe/metrics.py`` …) and hand out samples, either as a ``{name: value}``
dict or as ``(name, labels, value)`` tuples; :func:`render_samples` turns any
mix of those into the text Prometheus scrapes. A name ending in ``_total`` is a
counter, anything else a gauge, as the Prometheus naming conventions say.

:class:`Registry` holds the few metrics the API keeps itself (requests and
their durations, alerts), with labelled counters, gauges and histograms.
:func:`view_samples` derives the controller-level gauges (provider health,
RTT, loss, utilization, sessions) from what ``ControllerView`` reports, so they
exist whichever daemon implements the view.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence

Labels = Mapping[str, str]
Sample = tuple[str, Labels, float]
SampleSource = Mapping[str, float] | Iterable[tuple[str, Labels, float]]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _fmt_value(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt_labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
    return "{" + inner + "}"


_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def families(text: str) -> set[str]:
    """Names of the metric families an exposition text holds (for deduplication)."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE ") or line.startswith("# HELP "):
            parts = line.split(maxsplit=3)
            if len(parts) >= 3:
                names.add(parts[2])
        elif line and not line.startswith("#"):
            m = _NAME.match(line)
            if m:
                names.add(m.group(0))
    return names


def _kind(name: str) -> str:
    return "counter" if name.endswith("_total") else "gauge"


def _normalise(source: SampleSource) -> Iterable[Sample]:
    if isinstance(source, Mapping):
        return ((name, {}, value) for name, value in source.items())
    return source


def render_samples(*sources: SampleSource, helps: Mapping[str, str] | None = None) -> str:
    """Renders samples grouped by metric family, each family with its HELP and TYPE once."""
    families: dict[str, list[tuple[Labels, float]]] = {}
    for source in sources:
        for name, labels, value in _normalise(source):
            families.setdefault(name, []).append((labels, value))
    helps = helps or {}
    lines: list[str] = []
    for name, rows in families.items():
        if name in helps:
            lines.append(f"# HELP {name} {_escape(helps[name])}")
        lines.append(f"# TYPE {name} {_kind(name)}")
        for labels, value in rows:
            if value is None:
                continue
            lines.append(f"{name}{_fmt_labels(labels)} {_fmt_value(value)}")
    return "\n".join(lines) + ("\n" if lines else "")


class _Family:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labels: Sequence[str]) -> None:
        self.name = name
        self.help = help_text
        self.labels = tuple(labels)
        self._lock = threading.Lock()

    def _key(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        if set(labels) != set(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, got {tuple(labels)}")
        return tuple(str(labels[k]) for k in self.labels)

    def _head(self) -> list[str]:
        return [f"# HELP {self.name} {_escape(self.help)}", f"# TYPE {self.name} {self.kind}"]


class Counter(_Family):
    """A monotonically increasing count; its name must end in ``_total``."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        if not name.endswith("_total"):
            raise ValueError(f"counter {name!r} must end in _total")
        super().__init__(name, help_text, labels)
        self._values: dict[tuple[str, ...], float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(self._key(labels), 0)

    def render(self) -> list[str]:
        out = self._head()
        for key, value in sorted(self._values.items()):
            labels = _fmt_labels(dict(zip(self.labels, key, strict=True)))
            out.append(f"{self.name}{labels} {_fmt_value(value)}")
        return out


class Gauge(Counter):
    """A value that goes up and down."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        _Family.__init__(self, name, help_text, labels)
        self._values = {}

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = value


class Histogram(_Family):
    """Observations counted into cumulative ``le`` buckets, with ``_sum`` and ``_count``."""

    kind = "histogram"

    def __init__(
        self, name: str, help_text: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> None:
        super().__init__(name, help_text, labels)
        self.buckets = tuple(sorted(buckets))
        self._counts: dict[tuple[str, ...], list[int]] = {}
        self._sums: dict[tuple[str, ...], float] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            counts = self._counts.setdefault(key, [0] * (len(self.buckets) + 1))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
            counts[-1] += 1
            self._sums[key] = self._sums.get(key, 0.0) + value

    def render(self) -> list[str]:
        out = self._head()
        for key, counts in sorted(self._counts.items()):
            base = dict(zip(self.labels, key, strict=True))
            for bound, n in zip(self.buckets, counts[:-1], strict=True):
                labels = _fmt_labels({**base, "le": _fmt_value(float(bound))})
                out.append(f"{self.name}_bucket{labels} {n}")
            out.append(f"{self.name}_bucket{_fmt_labels({**base, 'le': '+Inf'})} {counts[-1]}")
            out.append(f"{self.name}_sum{_fmt_labels(base)} {_fmt_value(self._sums[key])}")
            out.append(f"{self.name}_count{_fmt_labels(base)} {counts[-1]}")
        return out


class Registry:
    """The metrics one component keeps; names are unique within it."""

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}

    def _add(self, family: _Family) -> _Family:
        if family.name in self._families:
            raise ValueError(f"metric {family.name} is already registered")
        self._families[family.name] = family
        return family

    def counter(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Counter:
        return self._add(Counter(name, help_text, labels))  # type: ignore[return-value]

    def gauge(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Gauge:
        return self._add(Gauge(name, help_text, labels))  # type: ignore[return-value]

    def histogram(
        self, name: str, help_text: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> Histogram:
        return self._add(Histogram(name, help_text, buckets, labels))  # type: ignore[return-value]

    def render(self) -> str:
        lines: list[str] = []
        for family in self._families.values():
            lines += family.render()  # type: ignore[attr-defined]
        return "\n".join(lines) + ("\n" if lines else "")


VIEW_HELP = {
    "routepilot_up": "1 while the controller answers the API.",
    "routepilot_paused": "1 when control is paused (no changes are made).",
    "routepilot_dry_run": "1 in recommendation mode (nothing is announced).",
    "routepilot_degraded": "1 when the controller reports itself degraded.",
    "routepilot_decision_cycles_total": "Decision cycles run since start.",
    "routepilot_decision_cycle_duration_seconds": "Duration of the last decision cycle.",
    "routepilot_prefixes": "Busy prefixes tracked.",
    "routepilot_active_improvements": "Prefixes currently routed away from BGP's default.",
    "routepilot_moves_last_hour": "Journal entries in the last hour.",
    "routepilot_bgp_session_up": "1 when the iBGP session to the edge router is established.",
    "routepilot_provider_session_up": "1 when the provider's routes reach the controller.",
    "routepilot_provider_healthy": "1 when the provider answers its probes.",
    "routepilot_provider_rtt_seconds": "Median RTT over the provider's probed prefixes.",
    "routepilot_provider_loss_ratio": "Probe loss through the provider, 0..1.",
    "routepilot_provider_rate_bytes_per_second": "Traffic leaving by the provider.",
    "routepilot_provider_capacity_bytes_per_second": "Capacity of the provider's link.",
    "routepilot_provider_commit_bytes_per_second": "Committed rate (0: none).",
    "routepilot_provider_p95_bytes_per_second": "95th percentile so far in the billing period.",
    "routepilot_provider_utilization_ratio": "rate / capacity.",
    "routepilot_provider_prefixes_routed": "Busy prefixes leaving by the provider.",
}


def _bytes(bps: float | None) -> float | None:
    """The API speaks bits per second, as network engineers do; Prometheus's base unit is
    the byte, so exposed rates are divided by 8."""
    return None if bps is None else bps / 8


def view_samples(status: Mapping, providers: Sequence[Mapping]) -> list[Sample]:
    """Controller-level gauges from ``status()`` and ``providers()`` (see api/view.py).

    Names and units pass ``promtool check metrics`` (tests/integration/api/test_promtool.py)."""
    cycle = status.get("cycle") or {}
    counts = status.get("counts") or {}
    out: list[Sample] = [
        ("routepilot_up", {}, 1),
        ("routepilot_paused", {}, bool(status.get("paused"))),
        ("routepilot_dry_run", {}, bool(status.get("dry_run"))),
        ("routepilot_degraded", {}, bool(status.get("degraded"))),
        ("routepilot_decision_cycles_total", {}, cycle.get("count") or 0),
    ]
    if cycle.get("duration_ms") is not None:
        out.append(
            ("routepilot_decision_cycle_duration_seconds", {}, cycle["duration_ms"] / 1000.0)
        )
    for key in ("prefixes", "active_improvements", "moves_last_hour"):
        if counts.get(key) is not None:
            out.append((f"routepilot_{key}", {}, counts[key]))
    for router, state in sorted((status.get("sessions") or {}).items()):
        out.append(("routepilot_bgp_session_up", {"router": router}, state == "established"))
    for p in providers:
        lab = {"provider": str(p.get("name"))}
        rtt = p.get("rtt_ms")
        out += [
            ("routepilot_provider_session_up", lab, bool(p.get("session_up"))),
            ("routepilot_provider_healthy", lab, bool(p.get("healthy"))),
            ("routepilot_provider_rtt_seconds", lab, None if rtt is None else rtt / 1000.0),
            ("routepilot_provider_loss_ratio", lab, p.get("loss")),
            ("routepilot_provider_rate_bytes_per_second", lab, _bytes(p.get("rate_bps"))),
            ("routepilot_provider_capacity_bytes_per_second", lab, _bytes(p.get("capacity_bps"))),
            ("routepilot_provider_commit_bytes_per_second", lab, _bytes(p.get("commit_bps"))),
            ("routepilot_provider_p95_bytes_per_second", lab, _bytes(p.get("p95_bps"))),
            ("routepilot_provider_utilization_ratio", lab, p.get("utilization")),
            ("routepilot_provider_prefixes_routed", lab, p.get("prefixes_routed")),
        ]
    return out  # type: ignore[return-value]

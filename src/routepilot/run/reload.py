"""Changes without a restart: which keys of a new configuration can apply live.

A reload (SIGHUP, ``POST /api/v1/control/reload``, ``PUT /api/v1/config``) hands
a whole, validated configuration. It is compared with the one in force key by
key; if any changed key needs a restart (a listen address, the BGP speaker, the
routers …) the reload is refused by name and nothing changes. Otherwise every
changed top-level section is handed whole to the component that owns it, from
the next decision round on.

The rule is a list of what needs a restart, not of what may change: a key a
stage adds inside a live section (``policy``, ``inject``, ``probe``,
``maintenance`` …) is hot-reloadable without this module knowing it. A new
top-level section needs its applier registered by the wiring; until then its
changes are refused as needing a restart, never silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

RESTART_ONLY: tuple[str, ...] = (
    # Sessions, sockets and files opened at start.
    "routers",
    "rib",
    "store",
    "api",
    "flows",
    "telemetry",
    "alerts",
    "log_level",
    "prefixes",
    # Providers: their identity, how routes, flows and probes are attributed to them.
    "providers[*]",
    "providers[].name",
    "providers[].asn",
    "providers[].next_hops",
    "providers[].probe",
    "providers[].flow_interfaces",
    # What our own routes look like (the RIB recognises them by it).
    "inject.local_preference",
    "inject.communities",
    "inject.dry_run_journal",
    # How probes are made and counted (sockets, per-path windows).
    "probe.enabled",
    "probe.process",
    "probe.kind",
    "probe.fallback_kinds",
    "probe.tcp_port",
    "probe.udp_port",
    "probe.payload_bytes",
    "probe.timeout_s",
    "probe.window_s",
    "probe.rollup_s",
    "probe.outage_losses",
    "policy.outage_consecutive_losses",
)
"""Keys a running controller cannot change: ``a.b`` covers ``a.b`` and everything under
it; ``list[]`` stands for any element of a list of sections, ``list[*]`` for its
length (providers added or removed)."""


def flatten(data: Any, path: str = "") -> dict[str, Any]:
    """Every leaf of a JSON-like value by its dotted path; sections in lists are indexed
    (``providers[0].capacity_mbps``) and their count is a leaf of its own (``[*]``)."""
    out: dict[str, Any] = {}
    if isinstance(data, Mapping):
        for key, value in data.items():
            out.update(flatten(value, f"{path}.{key}" if path else str(key)))
    elif isinstance(data, list) and data and all(isinstance(v, Mapping) for v in data):
        out[f"{path}[*]"] = len(data)
        for i, value in enumerate(data):
            out.update(flatten(value, f"{path}[{i}]"))
    else:
        out[path] = data
    return out


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Dotted paths whose value differs between two configurations (as JSON)."""
    a, b = flatten(old), flatten(new)
    keys = sorted(set(a) | set(b))
    return [k for k in keys if a.get(k, _MISSING) != b.get(k, _MISSING)]


_MISSING = object()


def generic(path: str) -> str:
    """``providers[2].asn`` -> ``providers[].asn`` (``[*]`` stays)."""
    out, i = [], 0
    while i < len(path):
        if path[i] == "[" and path[i + 1 : i + 2] != "*":
            j = path.index("]", i)
            out.append("[]")
            i = j + 1
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def _covers(pattern: str, path: str) -> bool:
    return path == pattern or path.startswith(pattern + ".") or path.startswith(pattern + "[")


def restart_only(changed: Iterable[str], patterns: Iterable[str] = RESTART_ONLY) -> list[str]:
    """The changed keys that need a restart, as the operator wrote them."""
    pats = tuple(patterns)
    return [k for k in changed if any(_covers(p, generic(k)) for p in pats)]


def sections(changed: Iterable[str]) -> list[str]:
    """The top-level sections the changed keys belong to, in order."""
    out: list[str] = []
    for k in changed:
        top = k.split(".", 1)[0].split("[", 1)[0]
        if top not in out:
            out.append(top)
    return out


class ReloadRefused(Exception):
    """A configuration that is not applied; the message names why (for the operator)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status

"""Exchange (IX) LANs as the API shows them: the peers of one exchange added up.

An exchange peer is a provider of its own everywhere else (its routes are checked
per peer, its traffic and probes are its own); this view only groups the
providers that name the same ``exchange`` and sums what they carry.
"""

from __future__ import annotations

_PEER_KEYS = ("name", "session_up", "healthy", "rate_bps", "capacity_bps", "prefixes_routed")


def exchanges(providers: list[dict]) -> list[dict]:
    """Per exchange named by a provider row's ``exchange``, in name order: its peers and
    their sums."""
    groups: dict[str, list[dict]] = {}
    for p in providers:
        if p.get("exchange"):
            groups.setdefault(p["exchange"], []).append(p)
    out = []
    for name in sorted(groups):
        peers = groups[name]
        rate = sum(p["rate_bps"] for p in peers)
        capacity = sum(p["capacity_bps"] for p in peers)
        out.append(
            {
                "name": name,
                "peers": [{k: p[k] for k in _PEER_KEYS} for p in peers],
                "peers_up": sum(1 for p in peers if p["session_up"]),
                "peers_healthy": sum(1 for p in peers if p["healthy"]),
                "rate_bps": rate,
                "capacity_bps": capacity,
                "utilization": rate / capacity if capacity else 0.0,
                "prefixes_routed": sum(p["prefixes_routed"] for p in peers),
            }
        )
    return out

"""ExaBGP's JSON API (``encoder json``, API version 5) -> speaker events.

The field names are ExaBGP's contract: ``type`` is ``state`` (``neighbor.state``
is ``connected``/``up``/``down``) or ``update``; an update's ``message`` holds
either ``eor`` (End-of-RIB, RFC 4724) or ``update`` with ``attribute``,
``announce`` (family -> next-hop -> NLRI list) and ``withdraw`` (family -> NLRI
list). With add-path each NLRI is an object with ``nlri`` and
``path-information`` (the RFC 7911 path identifier, printed as a dotted quad).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from routepilot.rib.speaker.base import (
    ORIGINS,
    EndOfRib,
    MalformedUpdate,
    Nlri,
    NlriBlock,
    PathAttributes,
    PathsLearned,
    PathsWithdrawn,
    SessionChanged,
    SpeakerEvent,
)


def document(line: str | bytes) -> dict | MalformedUpdate:
    """One line of ExaBGP's API as the JSON object it must be, or why it is not one.

    orjson: a whole table is a line a message (one prefix an UPDATE from many routers),
    and the standard library's parser took about a third of routepilot's CPU a path
    there (6.0 against 1.2 us a line)."""
    try:
        doc = orjson.loads(line)
    except ValueError as exc:
        return MalformedUpdate("", f"not json: {exc}")
    if not isinstance(doc, dict):
        return MalformedUpdate("", "json is not an object")
    return doc


class Decoder:
    """Decodes one JSON line at a time; ``router_of`` maps a peer address to a router name."""

    def __init__(self, router_of: Callable[[str], str | None]) -> None:
        self._router_of = router_of

    def decode(self, line: str | bytes) -> list[SpeakerEvent]:
        """Events of one line; a line that is not understood becomes a MalformedUpdate."""
        doc = document(line)
        if isinstance(doc, MalformedUpdate):
            return [doc]
        return self.decode_document(doc)

    def decode_document(self, doc: dict) -> list[SpeakerEvent]:
        """Events of one line already read as its JSON object (:func:`document`)."""
        kind = doc.get("type")
        neighbor = doc.get("neighbor")
        if kind not in ("state", "update") or not isinstance(neighbor, dict):
            return []
        peer = _get(neighbor, "address", "peer")
        router = self._router_of(str(peer)) if peer is not None else None
        if router is None:
            return [MalformedUpdate(str(peer), "message from an unknown peer")]
        try:
            if kind == "state":
                return _state(router, neighbor)
            if neighbor.get("direction", "receive") != "receive":
                return []
            return _update(router, neighbor.get("message") or {})
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return [MalformedUpdate(router, f"{type(exc).__name__}: {exc}")]


def _get(doc: dict, *keys: str) -> Any:
    node: Any = doc
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _state(router: str, neighbor: dict) -> list[SpeakerEvent]:
    state = neighbor.get("state")
    if state == "up":
        return [SessionChanged(router, True)]
    if state == "down":
        return [SessionChanged(router, False, str(neighbor.get("reason", "")))]
    return []


def _update(router: str, message: dict) -> list[SpeakerEvent]:
    if "eor" in message:
        eor = message["eor"]
        return [EndOfRib(router, f"{eor['afi']} {eor['safi']}")]
    update = message.get("update")
    if not isinstance(update, dict):
        return []
    events: list[SpeakerEvent] = []
    for family, nlris in (update.get("withdraw") or {}).items():
        _unicast(family)
        events.append(PathsWithdrawn(router, _nlris(nlris)))
    announce = update.get("announce") or {}
    if announce:
        base = _attributes(update.get("attribute") or {})
        for family, by_next_hop in announce.items():
            _unicast(family)
            for next_hop, nlris in _global_next_hops(by_next_hop).items():
                attrs = PathAttributes(
                    next_hop,
                    base["as_path"],
                    base["origin"],
                    base["med"],
                    base["local_pref"],
                    base["communities"],
                )
                events.append(PathsLearned(router, attrs, _nlris(nlris)))
    return events


def _global_next_hops(by_next_hop: dict[str, Any]) -> dict[str, Any]:
    """Drops link-local next-hops that stand beside a global one.

    An IPv6 NEXT_HOP may carry a global and a link-local address (RFC 2545 section
    3); ExaBGP lists the same NLRI under both. The global one identifies the
    provider; learning the link-local one too would replace the path (same
    add-path id) with one no provider claims.
    """
    if len(by_next_hop) < 2:
        return by_next_hop
    kept = {nh: n for nh, n in by_next_hop.items() if not nh.lower().startswith("fe80:")}
    return kept or by_next_hop


def _unicast(family: str) -> None:
    if family not in ("ipv4 unicast", "ipv6 unicast"):
        raise ValueError(f"unexpected family {family!r}")


def _nlris(items: list) -> Sequence[Nlri]:
    # The common add-path case as two columns (no tuple per path: these loops run per
    # path), with the path id kept once when the whole update shares it, as a router's
    # add-path update for one provider does. An update of a few paths (a table whose
    # attribute sets hardly repeat) is cheaper as the tuple it always was.
    if len(items) < _BLOCK_FROM:
        try:
            out = tuple(
                [_new_nlri(Nlri, (i["nlri"], _path_id(i["path-information"]))) for i in items]
            )
        except (TypeError, KeyError):
            return tuple(_nlri(i) for i in items)
        if not all(type(n[0]) is str for n in out):
            raise TypeError("nlri is not a string")
        return out
    try:
        prefixes = [i["nlri"] for i in items]
        ids = [_path_id(i["path-information"]) for i in items]
    except (TypeError, KeyError):
        return tuple(_nlri(i) for i in items)
    if not all(type(p) is str for p in prefixes):
        raise TypeError("nlri is not a string")
    if ids and ids.count(ids[0]) == len(ids):
        return NlriBlock(prefixes, ids[0])
    return NlriBlock(prefixes, ids)


_new_nlri = tuple.__new__
_BLOCK_FROM = 8
"""NLRI in an update from which an :class:`NlriBlock` costs less than a tuple of Nlri."""


def _nlri(item: Any) -> Nlri:
    if isinstance(item, str):
        return Nlri(item, 0)
    path_info = item.get("path-information")
    prefix = item["nlri"]
    if not isinstance(prefix, str):
        raise TypeError("nlri is not a string")
    return Nlri(prefix, _path_id(path_info) if path_info is not None else 0)


@functools.lru_cache(maxsize=4096)
def _path_id(value: Any) -> int:
    if isinstance(value, int):
        return value
    a, b, c, d = (int(x) for x in str(value).split("."))
    return a << 24 | b << 16 | c << 8 | d


def _attributes(attr: dict) -> dict:
    origin = attr.get("origin", "igp")
    if origin not in ORIGINS:
        raise ValueError(f"unknown origin {origin!r}")
    med = attr.get("med")
    local_pref = attr.get("local-preference")
    return {
        "as_path": _as_path(attr.get("as-path")),
        "origin": ORIGINS[origin],
        "med": int(med) if med is not None else None,
        "local_pref": int(local_pref) if local_pref is not None else None,
        "communities": tuple(f"{int(a)}:{int(b)}" for a, b in attr.get("community", ())),
    }


def _as_path(value: Any) -> tuple[int, ...]:
    """AS numbers in order; an AS_SET counts as one AS (RFC 4271 section 9.1.2.2 (a))."""
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(int(a) for a in value)
    if not isinstance(value, dict):
        raise TypeError("as-path is neither a list nor segments")
    path: list[int] = []
    for key in sorted(value, key=int):
        segment = value[key]
        asns = [int(a) for a in segment["value"]]
        if segment.get("element", "as-sequence").endswith("sequence"):
            path.extend(asns)
        elif asns:
            path.append(min(asns))
    return tuple(path)

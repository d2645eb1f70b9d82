"""Backup and restore of the state an operator cares about, the same on every backend.

A backup is one JSON document: a header (format, version, when, from which
routepilot and backend) and named *sections*. Each section is a
:class:`Section`: a name, how to read it from a store and how to write it back.
Adding a kind of operator state (maintenance windows, users …) is adding a
section to ``SECTIONS``; a backup holding a section this routepilot does not
know is refused at restore, never half-applied.

What is not in a backup: time series, the journal and the traceroutes (history,
kept by the database's own backups), and what is announced (live state, rebuilt
by the rounds): a restored installation starts with nothing announced.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from routepilot import __version__
from routepilot.store.base import ControllerState, Store, StoreError
from routepilot.store.codec import state_from_json, state_to_json

FORMAT = "routepilot-backup"
VERSION = 1


@dataclass(frozen=True)
class Section:
    name: str
    dump: Callable[[Store], Any]
    """The section's content, as JSON values."""
    parse: Callable[[Any], Any]
    """Checks the content and turns it into what ``load`` writes; ValueError if bad."""
    load: Callable[[Store, Any], None]
    """Writes the parsed content back (replacing what the store holds)."""
    describe: Callable[[Any], str]
    """A short summary of the JSON content for the CLI (``3 pins, 1 exclusion``)."""


def _dump_controller(store: Store) -> dict[str, Any]:
    s = store.load_state()
    return {
        "pins": dict(sorted(s.pins.items())),
        "exclusions": sorted(s.exclusions),
        "paused": s.paused,
        "dry_run": s.dry_run,
        "decision": json.loads(state_to_json(s.decision)),
    }


def _parse_controller(data: Any) -> ControllerState:
    if not isinstance(data, Mapping):
        raise ValueError("section controller: expected an object")
    pins, exclusions = data.get("pins", {}), data.get("exclusions", [])
    if not isinstance(pins, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in pins.items()
    ):
        raise ValueError("section controller: pins must map prefixes to provider names")
    if not isinstance(exclusions, list) or not all(isinstance(p, str) for p in exclusions):
        raise ValueError("section controller: exclusions must be a list of prefixes")
    dry_run = data.get("dry_run")
    if dry_run is not None and not isinstance(dry_run, bool):
        raise ValueError("section controller: dry_run must be true, false or null")
    try:
        decision = state_from_json(json.dumps(data.get("decision", {})))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"section controller: unreadable decision state ({exc})") from None
    # Nothing announced and no saved time: a standby taking over must not re-announce
    # what was in force when the backup was made.
    return ControllerState(
        pins=dict(pins),
        exclusions=frozenset(exclusions),
        paused=bool(data.get("paused", False)),
        dry_run=dry_run,
        injections={},
        decision=decision,
        saved_at=None,
    )


def _load_controller(store: Store, state: ControllerState) -> None:
    store.save_state(state)


def _describe_controller(data: Any) -> str:
    return (
        f"{len(data.get('pins', {}))} pins, {len(data.get('exclusions', []))} exclusions, "
        f"{len(data.get('decision', {}).get('active', {}))} improvements in decide's memory"
    )


SECTIONS: tuple[Section, ...] = (
    Section(
        "controller", _dump_controller, _parse_controller, _load_controller, _describe_controller
    ),
)
"""Every kind of operator state, in restore order. Add new kinds here."""


def backup(store: Store, backend: str, sections: tuple[Section, ...] = SECTIONS) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "created": time.time(),
        "routepilot": __version__,
        "backend": backend,
        "sections": {s.name: s.dump(store) for s in sections},
    }


def check(document: Any, sections: tuple[Section, ...] = SECTIONS) -> dict[str, Any]:
    """The sections of a backup document, once its header and section names are known."""
    if not isinstance(document, Mapping) or document.get("format") != FORMAT:
        raise ValueError(f'not a routepilot backup (no "format": "{FORMAT}")')
    version = document.get("version")
    if version != VERSION:
        raise ValueError(f"backup format version {version!r}; this routepilot reads {VERSION}")
    content = document.get("sections")
    if not isinstance(content, Mapping):
        raise ValueError("the backup has no sections object")
    known = {s.name for s in sections}
    unknown = sorted(set(content) - known)
    if unknown:
        raise ValueError(
            f"the backup holds sections this routepilot does not know ({', '.join(unknown)}): "
            "restore it with the routepilot that made it, or a newer one"
        )
    return dict(content)


def restore(store: Store, document: Any, sections: tuple[Section, ...] = SECTIONS) -> list[str]:
    """Writes every section the backup holds; returns their summaries. Every section is
    checked before anything is written."""
    content = check(document, sections)
    chosen = [s for s in sections if s.name in content]
    parsed = [s.parse(content[s.name]) for s in chosen]  # all checked before any write
    done = []
    for s, value in zip(chosen, parsed, strict=True):
        s.load(store, value)
        done.append(f"{s.name}: {s.describe(content[s.name])}")
    return done


def write_file(path: Path, document: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)


def read_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise StoreError(f"{path}: cannot read the backup: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise StoreError(f"{path}: not JSON ({exc})") from None

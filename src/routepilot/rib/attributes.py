"""Interned attribute sets, each held once as a few bytes rather than as Python objects.

A full table has hundreds of thousands of distinct attribute sets. As objects, one
set is a named tuple, an AS-path tuple, an int object per 4-byte ASN and a string
per community: about 500 bytes, the largest share of the RIB's memory (issue 18).
Kept as its ``marshal`` encoding (format version 2: no back-references and no
interned-string marks, so equal values always encode to equal bytes), it is about
130; the same bytes are the key it is found by. The best-path columns that the
selection reads are kept apart as numbers (``table._AttributeColumns``); the objects
are built again only for the API's and the debugger's questions about one prefix.
"""

from __future__ import annotations

import marshal
import numbers
from collections.abc import Callable
from typing import Any

from routepilot.rib.speaker.base import (
    Attributes,
    EncodedAttributes,
    PathAttributes,
    SharedAttributes,
)

_FORMAT = 2
"""marshal's format version 2: the newest whose output depends only on the values."""
_RECENT = 4096
"""Attribute sets looked up lately, kept as objects: an update's set is looked up again
when it is counted, and encoding it costs 20 times a dict lookup."""
_SAME = 1 << 19
"""Shared attribute set objects (:class:`SharedAttributes`) interned lately, by
identity. The BMP station hands on one object per attribute set it has decoded, so a
set that comes back is the same object: found by ``id()`` it is neither hashed (a tuple
of tuples, hashed again every time) nor encoded. A full table has about 400k sets and a
router's BMP sync brings them back at random (one prefix a message, in prefix order), so
this holds more than ``_RECENT``. Only shared sets: the producer holds them anyway, where
keeping other sets (a new object an update) would hold one of each update here."""


class AttributeStore:
    """Attribute sets by id (0, 1, ... in the order first seen)."""

    def __init__(self) -> None:
        self._blobs: list[bytes] = []
        self._index: dict[bytes, int] = {}
        self._recent: dict[PathAttributes, int] = {}
        self._same: dict[int, tuple[PathAttributes, int]] = {}
        """id(set) -> (the set, kept so that its id is not reused meanwhile; its id here)."""
        self._missed: tuple[PathAttributes | None, bytes] = (None, b"")
        """The last set :meth:`find` did not find, with its bytes: :meth:`add` follows."""

    def __len__(self) -> int:
        return len(self._blobs)

    def find(self, attrs: Attributes) -> int | None:
        """The id of an attribute set already held, None when it is not."""
        if type(attrs) is EncodedAttributes:
            return self._index.get(attrs)
        if not isinstance(attrs, PathAttributes):
            return None
        found = self._recent.get(attrs)
        if found is None:
            blob = _encode(attrs)  # hashed by the lookup above: a bad set is refused there
            found = self._index.get(blob)
            if found is None:
                self._missed = (attrs, blob)
            else:
                self._remember(attrs, found)
        return found

    def add(self, attrs: PathAttributes) -> tuple[int, bool]:
        """The id of ``attrs``, and whether it is new (then it is held from now on)."""
        found = self._recent.get(attrs)
        if found is not None:
            return found, False
        missed, blob = self._missed
        if missed is not attrs:
            blob = _encode(attrs)
        self._missed = (None, b"")
        found = self._index.get(blob)
        if found is not None:
            self._remember(attrs, found)
            return found, False
        idx = len(self._blobs)
        self._blobs.append(blob)
        self._index[blob] = idx
        self._remember(attrs, idx)
        return idx, True

    def intern(self, attrs: Attributes, admit: Callable[[PathAttributes], None]) -> int:
        """The id of ``attrs``, held from now on; for a set not held yet, ``admit(attrs)``
        runs first and may refuse it by raising (then nothing is held). One encoding and
        one lookup a new set, where :meth:`find` then :meth:`add` take two of each."""
        if type(attrs) is EncodedAttributes:
            return self._intern_encoded(attrs, admit)
        if not isinstance(attrs, PathAttributes):
            raise TypeError(f"not an attribute set: {type(attrs).__name__}")
        shared = type(attrs) is SharedAttributes
        if shared:
            same = self._same.get(id(attrs))
            if same is not None and same[0] is attrs:
                return same[1]
        found = self._recent.get(attrs)
        if found is not None:
            if shared:
                self._keep(attrs, found)
            return found
        blob = _encode(attrs)
        found = self._index.get(blob)
        if found is None:
            admit(attrs)
            found = len(self._blobs)
            self._blobs.append(blob)
            self._index[blob] = found
        if len(self._recent) >= _RECENT:
            self._recent.clear()
        self._recent[attrs] = found
        if shared:
            self._keep(attrs, found)
        return found

    def _intern_encoded(
        self, blob: EncodedAttributes, admit: Callable[[PathAttributes], None]
    ) -> int:
        """An encoded set (:class:`EncodedAttributes`): found by its bytes, no encoding; a
        new one is held as the very object its producer keeps, so the set is in memory
        once. Its hash is computed once and kept by the object, and a set that comes back
        is the same object, so a lookup is a dict probe and an identity test."""
        found = self._index.get(blob)
        if found is None:
            admit(decode(blob))
            found = len(self._blobs)
            self._blobs.append(blob)
            self._index[blob] = found
        return found

    def _keep(self, attrs: PathAttributes, attr_id: int) -> None:
        if len(self._same) >= _SAME:
            self._same.clear()
        self._same[id(attrs)] = (attrs, attr_id)

    def _remember(self, attrs: PathAttributes, attr_id: int) -> None:
        if len(self._recent) >= _RECENT:
            self._recent.clear()
        self._recent[attrs] = attr_id

    def get(self, attr_id: int) -> PathAttributes:
        return decode(self._blobs[attr_id])


def decode(blob: bytes) -> PathAttributes:
    """The attribute set of its encoding (:func:`encode`)."""
    return PathAttributes(*marshal.loads(blob))


def encode(attrs: PathAttributes) -> bytes:
    """The bytes of one attribute set; equal sets give equal bytes.

    Raises TypeError for a set that is not hashable (a list where a tuple belongs), as a
    dict keyed by the set itself would, so bad updates are refused as before."""
    hash(attrs)
    return _encode(attrs)


def _encode(attrs: PathAttributes) -> bytes:
    values = tuple(attrs)
    next_hop, as_path, origin, med, local_pref, communities = values
    plain = (
        type(next_hop) is str
        and type(origin) is int
        and type(med) in _INT_OR_NONE
        and type(local_pref) in _INT_OR_NONE
        and type(as_path) is tuple
        and type(communities) is tuple
        and set(map(type, as_path)) <= _INT
        and set(map(type, communities)) <= _STR
    )
    if not plain:
        # Numpy integers (marshal would write their bytes), int or str subclasses: equal
        # to the plain values, so stored as them.
        values = _plain(values)
    return marshal.dumps(values, _FORMAT)


_INT_OR_NONE = frozenset({int, type(None)})
_INT = frozenset({int})
_STR = frozenset({str})


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    # numbers.Integral takes numpy's integers too, without importing numpy here: the BMP
    # station's process encodes its sets with this module and needs nothing else of it.
    if isinstance(value, numbers.Integral) and type(value) is not bool:
        return int(value)
    if isinstance(value, str):
        return str(value)
    return value

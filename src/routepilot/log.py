"""Structured logging: lowercase messages with key=value fields.

Every stage logs through ``get_logger(__name__)`` and passes fields as keyword
arguments, so a line reads ``level=info logger=routepilot.lab msg="lab up" nodes=7``
and can be grepped or parsed without guessing.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any

_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None)))


def _quote(value: Any) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "=\n\t'):
        return json.dumps(text)
    return text


class KeyValueFormatter(logging.Formatter):
    """Formats a record as ``ts=... level=... logger=... msg=... k=v``."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"ts={ts}.{int(record.msecs):03d}Z",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
            f"msg={_quote(record.getMessage())}",
        ]
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                parts.append(f"{key}={_quote(value)}")
        if record.exc_info:
            parts.append(f"exc={_quote(self.formatException(record.exc_info))}")
        return " ".join(parts)


class StructuredLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger whose calls take fields as keyword arguments.

    ``LoggerAdapter.debug()`` and its siblings already pass any keyword on to
    ``process()``, which moves the fields into ``extra`` for the formatter.
    """

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        std: dict[str, Any] = {
            k: kwargs.pop(k) for k in ("exc_info", "stack_info", "stacklevel") if k in kwargs
        }
        std["extra"] = kwargs
        return msg, std


def get_logger(name: str) -> StructuredLogger:
    return StructuredLogger(logging.getLogger(name), {})


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted, not to the one that was
    there at setup: a CLI run inside a test runner (or any caller that swaps stderr and closes
    the old one) must not leave a handler bound to a closed stream."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def setup_logging(level: str = "info", stream: Any = None) -> None:
    """Configures the root ``routepilot`` logger once, for the CLI and the daemon."""
    root = logging.getLogger("routepilot")
    root.setLevel(level.upper())
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream) if stream is not None else _CurrentStderr()
    handler.setFormatter(KeyValueFormatter())
    root.addHandler(handler)
    root.propagate = False

"""The SNMP client behind the poller: a small interface and its pysnmp backend.

The poller only needs two operations, a GET of a few scalar/column instances and
a walk of one column (to resolve ifName to ifIndex), so :class:`SnmpClient` is
that and nothing more; :mod:`routepilot.telemetry.fake` has an in-memory agent
behind the same interface for unit tests. Every failure comes back as a value
(:class:`SnmpError` with a reason), never as an exception, so one bad agent can
never stop the polling loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# Reasons a request or a value failed, as counted in the metrics and shown in status.
TIMEOUT = "timeout"
AUTH = "auth"
NO_SUCH_OBJECT = "no_such_object"
ERROR_STATUS = "error_status"
TRANSPORT = "transport"

# Marker values for varbinds the agent has no instance for (RFC 3416 section 4.2.1).
NO_SUCH = None


@dataclass(frozen=True)
class SnmpError:
    """Why a request failed: ``reason`` is one of the module's reason constants."""

    reason: str
    detail: str


class SnmpClient(Protocol):
    """What the poller asks of one agent."""

    async def get(self, oids: list[str]) -> dict[str, int | str | None] | SnmpError:
        """Values of ``oids`` (numeric, dotted); ``None`` for noSuchObject/noSuchInstance."""
        ...

    async def walk(self, oid: str) -> dict[str, int | str] | SnmpError:
        """Every instance under ``oid``, keyed by the full numeric OID."""
        ...

    def close(self) -> None:
        """Release the client's socket."""
        ...

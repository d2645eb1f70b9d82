"""The public names of decide/ and store/ are a contract: adding or removing one is deliberate."""

from __future__ import annotations

import inspect

import routepilot.decide
import routepilot.store
from routepilot.store.aio import AsyncStore
from routepilot.store.base import Store
from routepilot.store.memory import MemoryStore
from routepilot.store.sqlite import SqliteStore


def test_decide_exports() -> None:
    assert sorted(routepilot.decide.__all__) == [
        "Active", "DecisionInput", "DecisionResult", "DecisionState", "Move", "PolicyConfig",
        "ProviderLike", "Reason", "decide",
    ]  # fmt: skip


def test_store_exports() -> None:
    assert sorted(routepilot.store.__all__) == [
        "AsyncStore", "AuditQuery", "AuditRecord", "ControlEvent", "ControllerState",
        "JournalEntry", "MemoryStore", "Query", "SqliteStore", "Store", "StoreConfig",
        "StoreError", "ThreadedSink", "TokenRecord", "UserRecord", "UtilizationSample",
        "open_store",
    ]  # fmt: skip


def test_reason_labels_are_stable() -> None:
    assert [r.label for r in routepilot.decide.Reason] == [
        "default", "outage", "loss", "latency", "capacity", "cost", "revert", "pinned",
        "excluded", "uncontrolled", "deferred", "policy", "static",
        "maintenance", "commit", "jitter", "as_incident",
    ]  # fmt: skip
    # Stored codes keep their meaning: a new reason is appended, never inserted.
    assert routepilot.decide.Reason.JITTER == 15
    assert routepilot.decide.Reason.AS_INCIDENT == 16


def test_every_store_implements_the_protocol_and_async_mirrors_it() -> None:
    wanted = {n for n, _ in inspect.getmembers(Store, inspect.isfunction) if not n.startswith("_")}
    for impl in (SqliteStore, MemoryStore):
        for name in wanted:
            theirs = inspect.signature(getattr(impl, name)).parameters
            ours = inspect.signature(getattr(Store, name)).parameters
            assert list(theirs) == list(ours), (impl.__name__, name)
    assert wanted - {"close"} <= set(dir(AsyncStore))

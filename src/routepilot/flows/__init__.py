"""routepilot flows stage: NetFlow v5/v9, IPFIX and sFlow v5 in, traffic per (prefix, provider) out.

The public names below are what the daemon and other stages use; everything
else in the package is private. They load on first use, so that
importing one module of the package does not load them all.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FlowCollector": "routepilot.flows.collector",
    "FlowDecoder": "routepilot.flows.decoder",
    "FlowMetrics": "routepilot.flows.metrics",
    "FlowPipeline": "routepilot.flows.pipeline",
    "FlowsConfig": "routepilot.flows.config",
    "MemorySink": "routepilot.flows.sink",
    "PrefixTable": "routepilot.flows.lpm",
    "ProviderRow": "routepilot.flows.sink",
    "RollupSink": "routepilot.flows.sink",
    "TrafficRow": "routepilot.flows.sink",
    "TrafficSnapshot": "routepilot.flows.snapshot",
    "decode_capture": "routepilot.flows.offline",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'routepilot.flows' has no attribute {name!r}")

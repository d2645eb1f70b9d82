"""Options data: the sampling rates exporters announce (RFC 3954 §6.1, RFC 7011 §4.1)."""

from __future__ import annotations

import numpy as np

from routepilot.flows.metrics import FlowMetrics
from routepilot.flows.templates import Template, column

MAX_RATE = 2**31


def learn_rates(
    t: Template, buf: bytes, samplers: dict[int, int], cap: int, metrics: FlowMetrics
) -> list[tuple[int, int]]:
    """Reads the rates in options records of ``t`` into ``samplers`` (sampler id -> rate,
    id 0 for the whole domain); returns the (sampler, rate) pairs that changed.

    A rate comes as samplingInterval / samplerRandomInterval (34/50), or as a packet
    interval and space (305/306, RFC 5477): one in (interval + space) / interval.
    """
    assert t.dtype is not None
    arr = np.frombuffer(buf, dtype=t.dtype)
    rate = column(t, arr, "sampling")
    interval = column(t, arr, "packet_interval")
    space = column(t, arr, "packet_space")
    sampler = column(t, arr, "sampler")
    if rate is None and interval is not None:
        space = space if space is not None else np.zeros_like(interval)
        safe = np.maximum(interval, 1)
        rate = np.where(interval > 0, (interval + space) // safe, 0)
    if rate is None:
        return []
    ids = sampler.tolist() if sampler is not None else [0] * len(arr)
    changed = []
    for sid, r in zip(ids, rate.tolist(), strict=True):
        if r <= 0 or r > MAX_RATE:
            continue
        if sid not in samplers and len(samplers) >= cap:
            metrics.drop("sampler_cache_full")
            continue
        if samplers.get(sid) != r:
            samplers[sid] = r
            changed.append((sid, r))
    return changed

"""The decoders' common output: a column batch of flow records.

Every decoder (v5, v9/IPFIX, sFlow) produces the same columns, so that
attribution, longest-prefix match and aggregation run once per batch on whole
numpy arrays. IPv6 addresses are kept as two 64-bit halves; routing decisions
only ever need the upper half (no provider announces longer than /64).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

COLUMNS: dict[str, type] = {
    "exporter": np.uint32,
    "family": np.uint8,
    "dst4": np.uint32,
    "dst6_hi": np.uint64,
    "dst6_lo": np.uint64,
    "nh4": np.uint32,
    "nh6_hi": np.uint64,
    "nh6_lo": np.uint64,
    "out_if": np.uint32,
    "bytes": np.uint64,
    "packets": np.uint64,
    "sampling": np.uint32,
    "proto": np.uint8,
    "tcp_flags": np.uint16,
    "src": np.uint64,
    "start": np.float64,
    "end": np.float64,
}
UNTIMED = float("nan")
"""``start`` and ``end`` of a record whose export carries no usable times."""


@dataclass
class FlowBatch:
    """Records as columns; ``family`` is 4 or 6 (0 for a record with no destination).

    ``bytes`` and ``packets`` are as the exporter counted them; ``sampling`` is
    the 1-in-N rate to scale them by (1 when unsampled). ``proto`` is the IP protocol
    number and ``tcp_flags`` the TCP flags of every packet of the flow ORed together
    (IPFIX tcpControlBits, RFC 7125), both 0 when the export lacks them (sFlow: see
    :mod:`~routepilot.flows.sflow`). ``src`` is a key of the source address, enough to
    count distinct sources: the IPv4 address, or an IPv6 address's two halves XORed.
    ``start`` and ``end`` are the times of the record's first and last packet, in seconds
    on the collector's clock (NaN when the export does not say: sFlow, templates without
    time fields; and once the rates have warmed up, as nothing else reads them): the time
    its ``bytes`` span, which the rates read while they warm up
    (:mod:`~routepilot.flows.warmup`).
    """

    exporter: np.ndarray
    family: np.ndarray
    dst4: np.ndarray
    dst6_hi: np.ndarray
    dst6_lo: np.ndarray
    nh4: np.ndarray
    nh6_hi: np.ndarray
    nh6_lo: np.ndarray
    out_if: np.ndarray
    bytes: np.ndarray
    packets: np.ndarray
    sampling: np.ndarray
    proto: np.ndarray
    tcp_flags: np.ndarray
    src: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.family)

    @staticmethod
    def empty(n: int = 0) -> FlowBatch:
        batch = FlowBatch(**{name: np.zeros(n, dtype=dt) for name, dt in COLUMNS.items()})
        batch.start[:] = batch.end[:] = UNTIMED
        return batch

    @staticmethod
    def concat(batches: list[FlowBatch]) -> FlowBatch:
        if not batches:
            return FlowBatch.empty()
        if len(batches) == 1:
            return batches[0]
        return FlowBatch(
            **{
                f.name: np.concatenate([getattr(b, f.name) for b in batches])
                for f in fields(FlowBatch)
            }
        )

    def select(self, mask: np.ndarray) -> FlowBatch:
        return FlowBatch(**{f.name: getattr(self, f.name)[mask] for f in fields(FlowBatch)})

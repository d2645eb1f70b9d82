"""Decoding a capture of export datagrams: what `routepilot flows decode` prints.

The report is a contract (``--json``, golden tests): per exporter and domain
the templates and sampling seen, record counts, drops, and the total traffic
per (prefix, provider) over the whole capture, scaled for sampling.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from routepilot.config.models import ProviderConfig
from routepilot.flows.aggregate import SLOT_BITS, SLOT_MASK, Columns, reduce
from routepilot.flows.config import FlowsConfig
from routepilot.flows.pcap import read_datagrams
from routepilot.flows.pipeline import EXPIRE_EVERY_S, FlowPipeline
from routepilot.flows.records import FlowBatch


def decode_capture(
    path: Path,
    config: FlowsConfig | None = None,
    providers: Sequence[ProviderConfig] = (),
    prefixes: Iterable[str] = (),
    max_records: int = 0,
) -> dict[str, Any]:
    """Decodes every datagram of ``path``; lists up to ``max_records`` records one by one."""
    pipeline = FlowPipeline(config or FlowsConfig(), providers, prefixes)
    totals = Columns(2)
    listed: list[dict[str, Any]] = []
    count = 0
    last_expire: float | None = None
    for d in read_datagrams(path, pipeline.metrics):
        count += 1
        # Time is the capture's: held data and templates expire as they would have
        # in the collector that received these datagrams.
        if last_expire is None or d.time - last_expire >= EXPIRE_EVERY_S:
            pipeline.decoder.expire(d.time)
            last_expire = d.time
        pipeline.feed(d.payload, d.src, d.time)
        if pipeline.buffered_records >= pipeline.config.batch_records:
            _drain(pipeline, totals, listed, max_records)
    _drain(pipeline, totals, listed, max_records)
    pipeline.decoder.finish()
    names = pipeline.providers.names
    order = np.lexsort((totals.keys, -totals.vals[0]))
    aggregate = []
    for i in order.tolist():
        key = int(totals.keys[i])
        slot = key & int(SLOT_MASK)
        aggregate.append(
            {
                "prefix": pipeline.mapper.text(key >> SLOT_BITS),
                "provider": names[slot] if slot < len(names) else None,
                "bytes": int(round(totals.vals[0][i])),
                "packets": int(round(totals.vals[1][i])),
            }
        )
    m = pipeline.metrics
    report: dict[str, Any] = {
        "capture": str(path),
        "datagrams": count,
        "exporters": pipeline.decoder.summary(),
        "records": dict(sorted(m.records.items())),
        "drops": dict(sorted(m.drops.items())),
        "sequence_gaps": dict(sorted(m.sequence_gaps.items())),
        "unattributed_records": m.unattributed_records,
        "total_bytes": int(round(pipeline.bytes_total)),
        "total_packets": int(round(pipeline.packets_total)),
        "aggregate": aggregate,
    }
    if max_records:
        report["flows"] = listed
    return report


def _drain(
    pipeline: FlowPipeline, totals: Columns, listed: list[dict[str, Any]], max_records: int
) -> None:
    batch = pipeline.decoder.flush()
    if not len(batch):
        return
    if len(listed) < max_records:
        listed.extend(
            records_as_dicts(batch, pipeline.decoder.exporter_names)[: max_records - len(listed)]
        )
    codes, slots, nbytes, npkts = pipeline.prepare(batch)
    keys = (codes << np.uint64(SLOT_BITS)) | slots.astype(np.uint64)
    uk, sums = reduce(keys, np.vstack([nbytes, npkts]))
    totals.add(uk, sums)


def records_as_dicts(batch: FlowBatch, exporters: list[str]) -> list[dict[str, Any]]:
    """One dict per record (tests and `--json`; never on the hot path)."""
    out = []
    for i in range(len(batch)):
        fam = int(batch.family[i])
        if fam == 4:
            dst = str(ipaddress.IPv4Address(int(batch.dst4[i])))
        elif fam == 6:
            dst = str(ipaddress.IPv6Address((int(batch.dst6_hi[i]) << 64) | int(batch.dst6_lo[i])))
        else:
            dst = None
        if int(batch.nh4[i]):
            nh = str(ipaddress.IPv4Address(int(batch.nh4[i])))
        elif int(batch.nh6_hi[i]) or int(batch.nh6_lo[i]):
            nh = str(ipaddress.IPv6Address((int(batch.nh6_hi[i]) << 64) | int(batch.nh6_lo[i])))
        else:
            nh = None
        out.append(
            {
                "exporter": exporters[int(batch.exporter[i])],
                "dst": dst,
                "next_hop": nh,
                "out_if": int(batch.out_if[i]),
                "bytes": int(batch.bytes[i]),
                "packets": int(batch.packets[i]),
                "sampling": int(batch.sampling[i]),
            }
        )
    return out

"""Runs the collector until SIGTERM (or at most SECONDS) and prints what it counted, as JSON.

Started by the integration tests inside an ``rpflowtest-*`` namespace
(``ip netns exec NS python collector_script.py PORT SECONDS [ADDRESS]``), where
the exporters send to 127.0.0.1 (or ADDRESS). Prefixes on the command line after
the address are the routing table; providers, if any, come as JSON in the
environment (``RP_PROVIDERS='[{"name": "isp1", "exporter": "...", "ifindex": 3}]'``).
It prints ``ready`` once it listens, then every 0.2 s a line ``{"progress": totals}``
(bytes per prefix so far), so that a test waits until what it sent has come, then
the final JSON as its last line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time

import routepilot.flows  # noqa: F401
from routepilot.config.models import ProviderConfig
from routepilot.flows.collector import FlowCollector
from routepilot.flows.config import FlowsConfig
from routepilot.flows.pipeline import FlowPipeline


async def main(port: int, seconds: float, address: str, prefixes: list[str]) -> None:
    cfg = FlowsConfig(listen_address=address, netflow_port=port, ipfix_port=port,
                      sflow_port=port, flush_interval_s=0.1)  # fmt: skip
    providers = [
        ProviderConfig(name=p["name"], asn=65000 + i, next_hops=[f"192.0.2.{i + 1}"],
                       capacity_mbps=1000,
                       flow_interfaces=[{"exporter": p["exporter"], "ifindex": p["ifindex"]}])
        for i, p in enumerate(json.loads(os.environ.get("RP_PROVIDERS", "[]")))
    ]  # fmt: skip
    pipeline = FlowPipeline(cfg, providers, prefixes)
    names = [*pipeline.providers.names, "unattributed"]
    totals: dict[str, list[float]] = {}
    by_provider: dict[str, float] = {}
    prepare = pipeline.prepare_batch

    def counting(batch):
        kept, codes, slots, nbytes, npkts = prepare(batch)
        for c, s, b, p in zip(codes.tolist(), slots.tolist(), nbytes.tolist(), npkts.tolist(),
                              strict=True):  # fmt: skip
            t = totals.setdefault(pipeline.mapper.text(c), [0.0, 0.0])
            t[0] += b
            t[1] += p
            by_provider[names[s]] = by_provider.get(names[s], 0.0) + b
        return kept, codes, slots, nbytes, npkts

    pipeline.prepare_batch = counting  # type: ignore[method-assign]
    collector = FlowCollector(cfg, pipeline)
    await collector.start()
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    deadline = time.monotonic() + seconds
    while not stop.is_set() and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)
        print(json.dumps({"progress": {k: v[0] for k, v in totals.items()}}), flush=True)
    await collector.stop()
    m = pipeline.metrics
    print(json.dumps({"totals": totals, "providers": by_provider, "metrics": m.as_dict()}),
          flush=True)  # fmt: skip


if __name__ == "__main__":
    address = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]), address, sys.argv[4:]))

"""Runs the collector for a while and prints what it counted, as JSON.

Started by the integration tests inside an ``rpflowtest-*`` namespace
(``ip netns exec NS python collector_script.py PORT SECONDS``), where the
exporters send to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import sys

import routepilot.flows  # noqa: F401
from routepilot.flows.collector import FlowCollector
from routepilot.flows.config import FlowsConfig
from routepilot.flows.pipeline import FlowPipeline


async def main(port: int, seconds: float) -> None:
    cfg = FlowsConfig(listen_address="127.0.0.1", netflow_port=port, ipfix_port=port,
                      sflow_port=port, flush_interval_s=0.1)  # fmt: skip
    pipeline = FlowPipeline(cfg)
    totals: dict[str, list[float]] = {}
    prepare = pipeline.prepare

    def counting(batch):
        codes, slots, nbytes, npkts = prepare(batch)
        for c, b, p in zip(codes.tolist(), nbytes.tolist(), npkts.tolist(), strict=True):
            t = totals.setdefault(pipeline.mapper.text(c), [0.0, 0.0])
            t[0] += b
            t[1] += p
        return codes, slots, nbytes, npkts

    pipeline.prepare = counting  # type: ignore[method-assign]
    collector = FlowCollector(cfg, pipeline)
    await collector.start()
    print("ready", flush=True)
    await asyncio.sleep(seconds)
    await collector.stop()
    m = pipeline.metrics
    print(json.dumps({"totals": totals, "metrics": m.as_dict()}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))

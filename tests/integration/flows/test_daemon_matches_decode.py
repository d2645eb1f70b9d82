"""The daemon's collector and `flows decode --json` agree on every golden capture.

One capture, two paths: the CLI decodes the file; the collector receives the same
datagrams, in the same order, over UDP on loopback and flushes on its own clock
(every 50 ms here, as the daemon does every 200 ms), each datagram before the
next is sent, the worst case for records that wait for later datagrams. Records, drops, losses,
sampling, per-exporter state and traffic per (prefix, provider) must be equal
(issue 9 part 2, case 5: they once differed by 2,182x after a restart).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from routepilot.cli.main import app
from routepilot.config.models import ProviderConfig
from routepilot.flows.collector import FlowCollector
from routepilot.flows.config import FlowsConfig
from routepilot.flows.pcap import read_datagrams
from routepilot.flows.pipeline import FlowPipeline
from routepilot.flows.sink import MemorySink

TESTDATA = Path(__file__).parents[2] / "unit" / "flows" / "testdata"
CAPTURES = sorted(TESTDATA.glob("*.pcap")) + sorted((TESTDATA / "devices").glob("*.pcap"))
PROVIDERS = [
    ProviderConfig(name="isp1", asn=65001, next_hops=["100.64.0.1"], capacity_mbps=100),
    ProviderConfig(name="isp2", asn=65002, next_hops=["100.64.0.2"], capacity_mbps=100),
]
CONFIG = (
    "providers:\n"
    "  - {name: isp1, asn: 65001, next_hops: [100.64.0.1], capacity_mbps: 100}\n"
    "  - {name: isp2, asn: 65002, next_hops: [100.64.0.2], capacity_mbps: 100}\n"
)


class _CountingPipeline(FlowPipeline):
    """The daemon's pipeline, counting what it was fed and processed, so the test can
    wait for each datagram to be decoded before it sends the next."""

    fed = 0
    processed = 0

    def feed(self, datagram: bytes, exporter: str, now: float) -> None:
        self.fed += 1
        super().feed(datagram, exporter, now)

    def process(self, now: float) -> int:
        n = super().process(now)
        self.processed = self.fed
        return n


def _decode(pcap: Path, tmp_path: Path) -> dict:
    cfg = tmp_path / "rp.yaml"
    cfg.write_text(CONFIG)
    result = CliRunner().invoke(
        app, ["flows", "decode", "--pcap", str(pcap), "--json", "--config", str(cfg)]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _collect(pcap: Path) -> tuple[_CountingPipeline, MemorySink]:
    datagrams = [d.payload for d in read_datagrams(pcap)]

    async def run() -> tuple[_CountingPipeline, MemorySink]:
        cfg = FlowsConfig(listen_address="127.0.0.1", netflow_port=0, ipfix_port=0,
                          sflow_port=0, flush_interval_s=0.05)  # fmt: skip
        sink = MemorySink()
        pipeline = _CountingPipeline(cfg, PROVIDERS, sink=sink, start=time.time())
        collector = FlowCollector(cfg, pipeline)
        await collector.start()
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for i, d in enumerate(datagrams):
                tx.sendto(d, ("127.0.0.1", collector.ports[0]))
                # As an exporter that sends its options data a while after its records:
                # the collector decodes each datagram before the next arrives.
                deadline = time.monotonic() + 10
                while pipeline.processed <= i and time.monotonic() < deadline:
                    await asyncio.sleep(0.005)
        finally:
            tx.close()
            await collector.stop()
        assert pipeline.fed == len(datagrams), "the collector did not receive every datagram"
        # Close the minute buckets so the traffic per (prefix, provider) reaches the sink.
        pipeline.aggregator.advance(time.time() + 120, pipeline.mapper.text)
        return pipeline, sink

    return asyncio.run(run())


def _without_exporter(entries: list[dict]) -> list[dict]:
    # The capture's source address is not loopback's: compare everything else.
    return [{k: v for k, v in e.items() if k != "exporter"} for e in entries]


@pytest.mark.parametrize("pcap", CAPTURES, ids=lambda p: p.stem)
def test_collector_and_flows_decode_agree(pcap, tmp_path):
    decoded = _decode(pcap, tmp_path)
    pipeline, sink = _collect(pcap)
    m = pipeline.metrics
    assert dict(m.records) == decoded["records"]
    assert {k: v for k, v in m.drops.items() if v} == decoded["drops"]
    assert dict(m.sequence_gaps) == decoded["sequence_gaps"]
    assert m.unattributed_records == decoded["unattributed_records"]
    assert round(pipeline.bytes_total) == decoded["total_bytes"]
    assert round(pipeline.packets_total) == decoded["total_packets"]
    assert _without_exporter(json.loads(json.dumps(pipeline.decoder.summary()))) == (
        _without_exporter(decoded["exporters"])
    )
    traffic: dict[tuple[str, str | None], float] = defaultdict(float)
    for row in sink.traffic:
        traffic[(row.prefix, row.provider)] += row.bytes
    assert {k: round(v) for k, v in traffic.items()} == {
        (r["prefix"], r["provider"]): r["bytes"] for r in decoded["aggregate"]
    }

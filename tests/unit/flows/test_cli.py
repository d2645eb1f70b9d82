"""`routepilot flows decode`: the text report and the ``--json`` contract."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from routepilot.cli.main import app

TESTDATA = Path(__file__).parent / "testdata"
runner = CliRunner()


def test_decode_json_contract():
    result = runner.invoke(app, ["flows", "decode", "--pcap", str(TESTDATA / "pmacct-ipfix.pcap"),
                                 "--json", "--records", "2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) == {"capture", "datagrams", "exporters", "records", "drops",
                           "sequence_gaps", "unattributed_records", "total_bytes",
                           "total_packets", "aggregate", "flows"}  # fmt: skip
    assert set(report["aggregate"][0]) == {"prefix", "provider", "bytes", "packets"}
    assert set(report["flows"][0]) == {"exporter", "dst", "next_hop", "out_if", "bytes",
                                       "packets", "sampling"}  # fmt: skip
    assert set(report["exporters"][0]) >= {"exporter", "version", "domain", "sampling", "templates"}


def test_decode_text_with_config(tmp_path):
    cfg = tmp_path / "rp.yaml"
    cfg.write_text(
        "providers:\n  - name: isp1\n    asn: 65001\n    next_hops: [100.64.250.2]\n"
        "    capacity_mbps: 100\n    flow_interfaces: [{exporter: 127.0.0.1, ifindex: 0}]\n"
        "prefixes: [198.18.0.0/16]\n"
    )
    result = runner.invoke(app, ["flows", "decode", "--pcap", str(TESTDATA / "pmacct-sflow.pcap"),
                                 "--config", str(cfg)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "sFlow v5 agent 100.64.250.1" in result.output
    assert "198.18.0.0/16" in result.output


def test_decode_errors_are_one_line(tmp_path):
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture at all, sorry")
    result = runner.invoke(app, ["flows", "decode", "--pcap", str(junk)])
    assert result.exit_code == 2
    assert result.output.startswith("error:")
    missing = runner.invoke(app, ["flows", "decode", "--pcap", str(tmp_path / "nope.pcap")])
    assert missing.exit_code == 2

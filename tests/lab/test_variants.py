"""The lab's variants: FRR as the edge router, pmacct as the exporter."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from routepilot.lab.core import Lab, running
from routepilot.lab.spec import CTL_LINK, LabSpec, dest_prefix_v4, edge_link, probe_source
from tests.lab.bgpcheck import collect_add_paths, fib_next_hops, first_export


@pytest.fixture(scope="module")
def frr_lab() -> Iterator[Lab]:
    spec = LabSpec.model_validate(
        {
            "name": "rplabv",
            "edge_router": "frr",
            "prefixes": 12,
            "prefixes_v6": 4,
            "providers": [
                {"name": "isp1", "asn": 65001},
                {"name": "isp2", "asn": 65002},
                {"name": "isp3", "asn": 65003, "announce": "0-5"},
            ],
            # A long flow's first export comes after 5 s, not the lab's 10: the export
            # test waits for it.
            "export": {"exporter": "pmacct", "version": 10, "port": 4739, "active_timeout_s": 5},
        }
    )
    with running(spec, wait_s=20) as lab:
        yield lab


def test_frr_edge_follows_shortest_as_path(frr_lab: Lab) -> None:
    spec = frr_lab.spec
    next_hop = {p.name: edge_link(i)[1] for i, p in enumerate(spec.providers, start=1)}
    expected = {dest_prefix_v4(k): next_hop[spec.bgp_best(k)] for k in range(spec.prefixes)}
    deadline = time.monotonic() + 10
    while (fib := fib_next_hops(frr_lab, "-4")) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    assert fib == expected


def test_frr_edge_sends_every_path_to_the_controller(frr_lab: Lab, tmp_path: Path) -> None:
    expected = {
        dest_prefix_v4(k): {edge_link(i)[1] for i in (1, 2, 3) if i < 3 or k < 6}
        for k in range(frr_lab.spec.prefixes)
    }
    paths = collect_add_paths(frr_lab, tmp_path, expected)
    assert {p: paths.get(p) for p in expected} == expected


def test_frr_edge_steers_probe_sources(frr_lab: Lab) -> None:
    for i in (1, 2, 3):
        out = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                frr_lab.ns("ctl"),
                "traceroute",
                "-n",
                "-q",
                "1",
                "-w",
                "1",
                "-s",
                probe_source(i)[0],
                "198.18.1.1",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        assert edge_link(i)[1] in out, out


def test_pmacct_exports_ipfix_to_ctl(frr_lab: Lab) -> None:
    exporter, version, _ = first_export(frr_lab, rate_mbps=2)
    assert (exporter, version) == (CTL_LINK[0], 10)

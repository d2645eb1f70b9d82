"""Random and mutated datagrams: always a counted drop or a decode, never an exception."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routepilot.flows.config import FlowsConfig
from routepilot.flows.pcap import read_datagrams
from routepilot.flows.pipeline import FlowPipeline

HERE = Path(__file__).parent
SEEDS = [d.payload for p in sorted((HERE / "testdata").glob("*.pcap"))
         for d in list(read_datagrams(p))[:3]]  # fmt: skip


def _pipeline() -> FlowPipeline:
    return FlowPipeline(FlowsConfig(max_templates=8, max_pending_sets=4, batch_records=32))


def _check(p: FlowPipeline, datagrams: list[bytes]) -> None:
    for i, d in enumerate(datagrams):
        p.feed(d, f"192.0.2.{i % 3}", float(i))
        p.process(float(i))
    p.process(1e6)
    assert not p.metrics.drops.get("decoder_error"), "decoder hit its catch-all"
    assert not p.metrics.drops.get("pipeline_error")


headers = st.sampled_from([b"\x00\x05", b"\x00\x09", b"\x00\x0a", b"\x00\x00\x00\x05", b""])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(headers, st.binary(max_size=300)), min_size=1, max_size=8))
def test_random_datagrams(parts):
    _check(_pipeline(), [h + b for h, b in parts])


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(range(len(SEEDS))),
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=6),
    st.integers(0, 2000),
)
def test_mutated_real_datagrams(seed, flips, cut):
    data = bytearray(SEEDS[seed])
    for pos, value in flips:
        if data:
            data[pos % len(data)] = value
    # The unmutated seeds come first so that templates are known when mutations arrive.
    _check(_pipeline(), [*SEEDS[: seed + 1], bytes(data[: max(cut, 4)]), bytes(data)])


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
def test_atheris_bounded_run(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(SEEDS):
        (corpus / f"seed{i}").write_bytes(seed)
    runs = os.environ.get("ROUTEPILOT_FUZZ_RUNS", "50000")
    proc = subprocess.run(
        [sys.executable, str(HERE / "fuzz_target.py"), f"-runs={runs}", "-max_len=1500",
         "-max_total_time=15", "-rss_limit_mb=1024", str(corpus)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]

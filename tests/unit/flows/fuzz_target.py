"""atheris entry point over every decoder: ``python fuzz_target.py -runs=N [corpus]``.

Any exception, and any datagram the decoder had to stop with its catch-all
(``decoder_error``), is a finding: bad input must become a counted drop.
"""

from __future__ import annotations

import sys

import atheris
import numpy  # noqa: F401  (imported uninstrumented: only our code is the target)
import pydantic  # noqa: F401

with atheris.instrument_imports(include=["routepilot"]):
    import routepilot.flows  # noqa: F401
    from routepilot.flows.config import FlowsConfig
    from routepilot.flows.pipeline import FlowPipeline

PIPELINE = FlowPipeline(FlowsConfig(max_templates=16, max_pending_sets=8, batch_records=64))
CLOCK = [0.0]


def one_input(data: bytes) -> None:
    CLOCK[0] += 0.5
    exporter = f"192.0.2.{data[0] % 4}" if data else "192.0.2.9"
    PIPELINE.feed(data, exporter, CLOCK[0])
    PIPELINE.process(CLOCK[0])
    m = PIPELINE.metrics.drops
    if m.get("decoder_error") or m.get("pipeline_error"):
        raise RuntimeError(f"decoder gave up on input {data.hex()}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()

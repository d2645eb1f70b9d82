"""The fakes other stages' tests use, and the stage's import weight."""

from __future__ import annotations

import os
import subprocess
import sys

from routepilot.telemetry.fake import FakeTelemetry


def test_fake_telemetry_hands_on_the_rates_it_was_given() -> None:
    fake = FakeTelemetry(time=100.0)
    fake.set_rate("isp1", 1e6, 4e6)
    snap = fake.snapshot()
    assert snap.source == "snmp" and snap.time == 100.0
    assert snap.provider_out_bps == {"isp1": 4e6} and snap.provider_in_bps == {"isp1": 1e6}
    assert snap.known("isp1") and not snap.known("isp2")
    assert [(lk.provider, lk.status) for lk in snap.links] == [("isp1", "ok")]


def test_config_and_fakes_do_not_load_pysnmp() -> None:
    code = (
        "import sys, routepilot.telemetry.fake, routepilot.telemetry.config, "
        "routepilot.telemetry.poller; print('pysnmp' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert out.stdout.strip() == "False"

"""ROUTEPILOT-MIB is valid SMIv2: libsmi's ``smilint`` (Debian smitools) at its strictest
level finds nothing to say, and net-snmp's ``snmptranslate`` resolves its names.

Both need the IETF base modules (SNMPv2-SMI, SNMPv2-TC, SNMPv2-CONF, SNMP-FRAMEWORK-MIB),
which Debian keeps out of main (snmp-mibs-downloader, non-free): the test looks for them
in $ROUTEPILOT_MIBDIRS and the usual places and says so when it cannot run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

DOCS = Path(__file__).parents[3] / "docs"
BASE = ("SNMPv2-SMI", "SNMPv2-TC", "SNMPv2-CONF", "SNMP-FRAMEWORK-MIB")
PLACES = (
    *filter(None, os.environ.get("ROUTEPILOT_MIBDIRS", "").split(":")),
    "/usr/share/snmp/mibs/ietf",
    "/var/lib/mibs/ietf",
    "/usr/share/mibs/ietf",
    "/usr/share/snmp/mibs",
)


def base_mibs() -> str | None:
    for place in PLACES:
        p = Path(place)
        if all((p / m).exists() or (p / f"{m}.txt").exists() for m in BASE):
            return str(p)
    return None


needs = pytest.mark.skipif(base_mibs() is None, reason="no IETF base MIBs (set ROUTEPILOT_MIBDIRS)")


@needs
@pytest.mark.skipif(shutil.which("smilint") is None, reason="smilint (smitools) not installed")
def test_smilint_is_silent_at_its_strictest() -> None:
    env = {**os.environ, "SMIPATH": f"{base_mibs()}:{DOCS}"}
    p = subprocess.run(
        ["smilint", "-l", "6", "-s", "ROUTEPILOT-MIB"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    own = [line for line in p.stderr.splitlines() if "ROUTEPILOT-MIB" in line]
    assert p.returncode == 0 and own == [], p.stderr


@needs
@pytest.mark.skipif(shutil.which("snmptranslate") is None, reason="net-snmp tools not installed")
def test_snmptranslate_resolves_the_notifications() -> None:
    env = {**os.environ, "MIBDIRS": f"{base_mibs()}:{DOCS}"}
    p = subprocess.run(
        ["snmptranslate", "-m", "ROUTEPILOT-MIB", "-On", "ROUTEPILOT-MIB::rpProviderOutage"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.stdout.strip() == ".1.3.6.1.4.1.32473.0.1", p.stderr

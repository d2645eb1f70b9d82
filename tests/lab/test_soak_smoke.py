"""The soak's smoke profile (bench/soak/run.py --profile smoke): its invariants, no timings.

50,000 prefixes from 4 providers (200,000 paths), IPFIX flows, churn, probes and
the API polled, learned two ways: over add-path from the lab's BIRD edge, and over
BMP from an FRR edge (``--route-source bmp``). Either way routepilot keeps its
session, holds the whole table again after churn, announces nothing in dry-run,
and stops cleanly on SIGTERM with nothing of its own left on edge; edge's kernel
holds nothing of the table. The figures and their budgets belong to the ``pr``
profile, run by hand.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from routepilot.lab.netns import list_namespaces

RUNNER = Path(__file__).resolve().parents[2] / "bench" / "soak" / "run.py"


def _runner():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("soak_run", RUNNER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["soak_run"] = module
    spec.loader.exec_module(module)
    return module


def _tail(log: Path, lines: int = 40) -> str:
    """The end of routepilot's log, kept by the soak when the lab goes: what a failure says."""
    if not log.exists():
        return f"(no {log.name})"
    return f"{log.name}, last {lines} lines:\n" + "\n".join(log.read_text().splitlines()[-lines:])


@pytest.mark.timeout(300)
@pytest.mark.parametrize("route_source", ["addpath", "bmp"])
def test_the_smoke_soak_keeps_its_session_its_whole_table_and_stops_cleanly(
    route_source: str, tmp_path: Path
) -> None:
    soak = _runner()
    lines: list[str] = []
    logs = tmp_path / "logs"
    r = soak.run("smoke", log=lines.append, route_source=route_source, logs=logs)
    detail = "\n".join(lines) + f"\n{r}\n" + _tail(logs / "ctl-controller.log")
    assert r.learned_s is not None, f"the table was never whole in routepilot\n{detail}"
    assert r.edge_used_route_source == route_source, f"edge's paths not from {route_source}"
    assert r.edge_kernel_routes and r.edge_kernel_routes[1] == 0, (
        f"edge's kernel holds routes of the soak's space\n{detail}"
    )
    assert not r.session_dropped, f"the BGP session to edge dropped\n{detail}"
    assert r.whole, f"the RIB was not whole again after churn\n{detail}"
    assert r.churn_events > 0
    assert r.flow_records_received > 0, f"no flow record reached routepilot\n{detail}"
    assert r.probes_answered > 0, f"no probe was answered\n{detail}"
    assert r.api_requests > 0 and not r.api_errors, f"API errors: {r.api_errors}\n{detail}"
    assert r.announced_max == 0, f"dry-run, yet edge held routepilot's routes\n{detail}"
    assert r.exit_code == 0, f"routepilot exited {r.exit_code} on SIGTERM\n{detail}"
    assert r.routes_left_after_stop == 0, f"routes left on edge after stop\n{detail}"
    assert not [n for n in list_namespaces() if n.startswith(f"{soak.LAB}-")]

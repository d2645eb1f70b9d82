"""Active/standby on PostgreSQL in the lab (issue 14): `lab up --controllers 2` gives ctl
and ctl2, both peering with edge, and node db running Debian's PostgreSQL.

What an operator checks: only the active's routes ever reach edge; when the
active dies, edge falls back to BGP at once and the standby re-announces the
same improvements when the lease expires; an active cut off from the database
withdraws before the standby announces; a restarted former active is a standby.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from routepilot.api.client import ApiClient, ApiError
from routepilot.lab.controller import HA_TIMINGS
from routepilot.lab.core import Lab
from routepilot.lab.ctl import API_PORTS
from routepilot.lab.spec import LabSpec
from tests.lab.looplab import TOKEN, LoopLab, three_providers

SPEC = {
    "name": "rplabha",
    "providers": three_providers(),
    "prefixes": 32,
    "prefixes_v6": 4,
    "controllers": 2,
    "snmp": True,  # both poll edge's counters; the active bills them
    "billing_sample_s": 5,
}
LEASE_S = HA_TIMINGS["lease_s"]
ROUTE_LINE = re.compile(r"^(\S+)?\s+\S+\s+\[(ctl2?)\s")


def api(node: str, path: str, method: str = "GET", body: dict | None = None):  # type: ignore[no-untyped-def]
    return ApiClient(f"http://127.0.0.1:{API_PORTS[node]}", TOKEN).call(method, path, None, body)


def role(node: str) -> str | None:
    try:
        return api(node, "/ha")["role"]
    except (OSError, ApiError):
        return None


class HaLab(LoopLab):
    """The closed-loop helpers (edge's FIB, busiest prefixes) on the two-controller lab."""

    def controller_routes(self) -> dict[str, set[str]]:
        """Prefix -> the controller nodes edge holds a route from for it, in one look."""
        out = self.lab.birdc("edge", 'show route where proto ~ "ctl*"')
        held: dict[str, set[str]] = {}
        prefix = None
        for line in out.splitlines():
            m = ROUTE_LINE.match(line)
            if m:
                prefix = m.group(1) or prefix
                if prefix:
                    held.setdefault(prefix, set()).add(m.group(2))
        return held


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HaLab]:
    tmp: Path = tmp_path_factory.mktemp("ha")
    hl = HaLab(LabSpec.model_validate(SPEC), tmp)
    lab: Lab = hl.lab
    try:
        lab.down()
        lab.up(wait_s=30)
        lab.traffic_start(rate_mbps=4, duration_s=1800)
        lab.controller_start(node="ctl")
        hl.wait(lambda: role("ctl") == "active", 20, "ctl active")
        # Samples that only ctl measured: ctl2 must bill them once it takes over.
        hl.wait(lambda: len(_series("ctl")) >= 2, 60, "ctl's first billing samples")
        lab.controller_start(node="ctl2")
        hl.wait(lambda: role("ctl2") == "standby", 20, "ctl2 standby")
        hl.wait(lambda: len(api("ctl", "/prefixes", body=None)) >= 5, 60, "traffic in the API")
        yield hl
    finally:
        lab.down()


def _series(node: str) -> list[dict]:
    """isp1's billing samples on ``node``, once it bills from SNMP."""
    body = api(node, "/billing?series=true")
    if body["source"] != "snmp":
        return []
    return next(e for e in body["providers"] if e["name"] == "isp1")["series"]


def _improve(ha: HaLab, active: str, count: int = 2) -> dict[str, str]:
    """Blackholes ``count`` busy prefixes on their BGP default; returns prefix -> the exit
    the active moved each to, once a round after the moves saved them."""
    chosen = {}
    for prefix in ha.busiest(16):
        k = int(prefix.split(".")[2])
        default = ha.spec.bgp_best(k)
        if ha.exit_of(prefix) == default:
            chosen[prefix] = default
        if len(chosen) == count:
            break
    for prefix, default in chosen.items():
        ha.lab.impair(default, [prefix], blackhole=True)
    ha.wait(
        lambda: all(ha.exit_of(p) not in (d, None) for p, d in chosen.items()),
        10,
        "outage moves by the active",
    )
    moved = {p: ha.exit_of(p) or "" for p in chosen}
    rounds = api(active, "/status")["cycle"]["count"]
    ha.wait(lambda: api(active, "/status")["cycle"]["count"] >= rounds + 2, 10, "two rounds")
    return moved


def test_standby_announces_nothing_and_refuses_writes(ha: HaLab) -> None:
    moved = _improve(ha, "ctl", 1)
    held = ha.controller_routes()
    assert set(moved) <= set(held)
    assert all(nodes == {"ctl"} for nodes in held.values()), held
    body = api("ctl2", "/ha")
    assert (body["role"], body["active"]) == ("standby", "ctl")
    assert [p["node"] for p in body["peers"]] == ["ctl"]
    assert api("ctl2", "/status")["sessions"] == {"edge": "established"}
    # Reads work on the standby: it learns, measures, and shows the pair's exits.
    exits = {p["prefix"]: p["exit"] for p in api("ctl2", "/prefixes")}
    assert all(exits.get(p) == e for p, e in moved.items()), exits
    with pytest.raises(ApiError) as refused:
        api("ctl2", "/control/pause", "POST")
    assert refused.value.status == 409
    assert "standby: send writes to the active, ctl (http://127.0.0.1:8080)" in str(refused.value)
    # The daemon runs end to end on PostgreSQL: its journal is there, read by both.
    assert api("ctl", "/decisions")[0]["reason"] == "outage"
    assert api("ctl2", "/decisions")[0]["prefix"] == api("ctl", "/decisions")[0]["prefix"]


def test_kill_active_standby_takes_over_the_same_improvements(ha: HaLab) -> None:
    moved = _improve(ha, "ctl", 2)
    defaults = {p: ha.spec.bgp_best(int(p.split(".")[2])) for p in moved}
    pid = ha.lab.controller_pid("ctl")
    assert pid
    first_sample = _series("ctl")[0]["start"]  # measured before ctl2 ran
    start = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    fell_back = ha.wait(
        lambda: all(ha.exit_of(p) == defaults[p] for p in moved), 5, "fail open", 0.01
    )
    ha.wait(
        lambda: all(ha.exit_of(p) == moved[p] for p in moved),
        LEASE_S + 10,
        "the standby's announcements",
        0.05,
    )
    gap = time.monotonic() - start
    body = api("ctl2", "/ha")
    assert (body["role"], body["epoch"]) == ("active", 2)
    took = body["last_takeover"]
    assert took["announced"] >= len(moved) and took["saved"] >= len(moved)
    # The billing period goes on from the former active's: ctl2 now bills the samples
    # ctl measured before ctl2 started (read back at its start, or joined at takeover when
    # ctl saved them later; which one depends on when ctl's save landed).
    assert took["billing_samples_adopted"] is not None
    assert _series("ctl2")[0]["start"] == first_sample
    assert all(nodes == {"ctl2"} for nodes in ha.controller_routes().values())
    print(
        f"kill -9 of the active: edge on BGP's defaults after {fell_back * 1000:.0f} ms, "
        f"the same {len(moved)} improvements back through ctl2 after {gap:.2f} s "
        f"(lease {LEASE_S:g} s; takeover to speaker {took['ms']} ms)"
    )
    assert fell_back < 1.0
    assert gap <= LEASE_S + 2.0, f"gap {gap:.2f} s over the goal of lease + 2 s"

    # The former active comes back as a standby: it announces nothing.
    ha.lab.controller_stop(node="ctl")
    ha.lab.controller_start(node="ctl")
    ha.wait(lambda: role("ctl") == "standby", 20, "ctl back as standby")
    assert api("ctl", "/ha")["active"] == "ctl2"
    ha.wait(lambda: ha.lab.bgp_sessions().get("ctl") == "Established", 20, "ctl's session")
    assert all(nodes == {"ctl2"} for nodes in ha.controller_routes().values())


def _handover(
    ha: HaLab,
    active: str,
    moved: dict[str, str],
    fail: Callable[[], None],
    restore: Callable[[], None],
) -> tuple[float, float, int]:
    """Samples edge's routes every 100 ms while ``fail()`` takes the active out, until the
    standby announces ``moved``; ``restore()`` runs whatever happens. Asserts that edge
    never held both controllers' routes for one prefix and that the active's were gone
    before the standby's came. Returns, from the failure: the last sample with the
    active's routes, the first with the standby's, and the number of samples."""
    standby = "ctl" if active == "ctl2" else "ctl2"
    samples: list[tuple[float, dict[str, set[str]]]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            t = time.monotonic()
            samples.append((t, ha.controller_routes()))
            stop.wait(max(0.0, 0.1 - (time.monotonic() - t)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        ha.wait(lambda: len(samples) >= 5, 5, "the first samples")
        failed = time.monotonic()
        fail()
        ha.wait(
            lambda: set(moved) <= {p for p, n in samples[-1][1].items() if standby in n},
            LEASE_S + 15,
            "the standby's announcements",
        )
        ha.wait(lambda: len(samples) >= 5 + 20, 10, "more samples")
    finally:
        stop.set()
        sampler.join(5)
        restore()
    both = [(t - failed, p) for t, held in samples for p, n in held.items() if len(n) > 1]
    assert not both, f"both controllers' routes at once: {both[:5]}"
    last_old = max(t for t, held in samples if any(active in n for n in held.values()))
    first_new = min(t for t, held in samples if any(standby in n for n in held.values()))
    assert last_old < first_new
    return last_old - failed, first_new - failed, len(samples)


def test_active_cut_off_from_the_database_withdraws_before_the_standby_announces(
    ha: HaLab,
) -> None:
    active = "ctl2" if role("ctl2") == "active" else "ctl"
    standby = "ctl" if active == "ctl2" else "ctl2"
    moved = _improve(ha, active, 1)
    assert moved
    gone, first, n = _handover(
        ha,
        active,
        moved,
        lambda: ha.lab.link(active, "db", up=False),
        lambda: ha.lab.link(active, "db", up=True),
    )
    log = ha.lab.dir / (f"{active}-controller.log" if active == "ctl" else
                        f"{active}-controller-{active}.log")  # fmt: skip
    for line in log.read_text().splitlines():  # how it stepped down, for the record
        if any(w in line for w in ("stepp", "dropp", "lease", "took over")):
            print(line)
    print(
        f"{active} cut off from the database: its routes gone {gone:.2f} s after "
        f"the cut, {standby}'s first {first:.2f} s after it "
        f"({n} samples every 100 ms, never both)"
    )
    # Back on the database, the former active stays a standby.
    ha.wait(lambda: role(active) == "standby" and api(active, "/ha")["active"] == standby,
            20, "the cut-off node back as standby")  # fmt: skip
    assert api(standby, "/ha")["role"] == "active"


def test_a_frozen_active_is_cut_off_by_its_dead_mans_switch(ha: HaLab) -> None:
    """SIGSTOP of the whole active daemon: neither its loop nor its watchdog runs, and its
    speaker would keep announcing. The switch beside it kills the speaker past the
    deadline, so edge drops the frozen one's routes before the standby announces; thawed,
    the former active finds itself a standby and announces nothing."""
    active = "ctl2" if role("ctl2") == "active" else "ctl"
    standby = "ctl" if active == "ctl2" else "ctl2"
    moved = _improve(ha, active, 1)
    pid = ha.lab.controller_pid(active)
    assert pid
    gone, first, n = _handover(
        ha,
        active,
        moved,
        lambda: os.kill(pid, signal.SIGSTOP),
        lambda: os.kill(pid, signal.SIGCONT),
    )
    print(
        f"{active} frozen: its routes gone {gone:.2f} s after SIGSTOP, "
        f"{standby}'s first {first:.2f} s after it ({n} samples every 100 ms, never both)"
    )
    assert gone > 0
    # Thawed: a standby that counts its speaker killed by the switch, announcing nothing.
    ha.wait(lambda: role(active) == "standby" and api(active, "/ha")["active"] == standby,
            20, "the thawed node as standby")  # fmt: skip
    assert api(standby, "/ha")["role"] == "active"
    text = ApiClient(f"http://127.0.0.1:{API_PORTS[active]}", TOKEN)._http.get("/metrics").text
    kills = [ln for ln in text.splitlines() if ln.startswith("routepilot_ha_switch_kills_total")]
    assert kills and float(kills[0].rsplit(" ", 1)[1]) == 1, kills
    ha.wait(lambda: ha.lab.bgp_sessions().get(active) == "Established", 30, "its session back")
    assert all(nodes == {standby} for nodes in ha.controller_routes().values())

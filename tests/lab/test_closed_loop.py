"""The closed loop in the lab: real BIRD, real ExaBGP, real probes and flows (issue 5)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import time
from collections.abc import Iterator

import pytest
import yaml

from routepilot.lab.spec import LabSpec
from tests.lab.looplab import FAST_EXPORT, LoopLab, three_providers

SPEC = {
    "name": "rplabc",
    "providers": three_providers(announce="0-15"),  # isp3 is a partial peer
    "prefixes": 32,
    "prefixes_v6": 4,
    "export": FAST_EXPORT,  # the flows follow a move, and come back after a restart, sooner
}


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopLab]:
    tmp = tmp_path_factory.mktemp("loop")
    # Moves are re-measured 8 s after them (30 s by default), so that the latency test
    # reads its move's re-measurement without waiting half a minute.
    ll = LoopLab(
        LabSpec.model_validate(SPEC),
        tmp,
        policy__hold_down_s=10.0,
        controller__remeasure_after_s=8.0,
    )
    try:
        ll.up()
        yield ll
    finally:
        ll.down()


@pytest.fixture
def clean(loop: LoopLab) -> Iterator[LoopLab]:
    yield loop
    loop.lab.clear_all()


def _index(prefix: str) -> int:
    return int(prefix.split(".")[2])


def _pick(loop: LoopLab, taken: set[str], among=lambda k: True) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A busy prefix not used by an earlier test, and its BGP default provider."""
    for prefix in loop.busiest(32, among):
        if prefix not in taken and loop.exit_of(prefix) == loop.spec.bgp_best(_index(prefix)):
            taken.add(prefix)
            return prefix, loop.spec.bgp_best(_index(prefix))
    raise AssertionError("no unused busy prefix left")


USED: set[str] = set()


def test_latency_moves_prefix_and_flows_follow(clean: LoopLab) -> None:
    loop = clean
    prefix, default = _pick(loop, USED, lambda k: k < 16)
    loop.lab.impair(default, [prefix], delay_ms=40)
    took = loop.wait(
        lambda: loop.exit_of(prefix) not in (default, None),
        30,
        "latency move",
        diag=lambda: loop.detail(prefix),
    )
    new = loop.exit_of(prefix)
    moves = loop.api(f"/decisions?prefix={prefix}")
    assert moves[0]["reason"] == "latency" and moves[0]["to_provider"] == new
    assert moves[0]["old_rtt_ms"] > 35 and moves[0]["new_rtt_ms"] < 5
    # The flow exports from edge show the traffic leaving by the new exit.

    def traffic() -> dict[str, float]:
        return {
            m["provider"]: m["traffic_bps"] for m in loop.api(f"/prefixes/{prefix}")["measurements"]
        }

    loop.wait(
        lambda: traffic()[new] > 0 and traffic()[default] < 0.2 * traffic()[new],
        45,
        "flows through the new exit",
        diag=lambda: str(traffic()),
    )

    # The move's new exit is re-measured after it, and the journal says what it gave.
    def move() -> dict:
        return next(
            d
            for d in loop.api(f"/decisions?prefix={prefix}")
            if (d["time"], d["reason"]) == (moved["time"], "latency")
        )

    moved = moves[0]
    loop.wait(
        lambda: move()["after_time"] is not None,
        30,
        "the move re-measured",
        diag=lambda: str(move()),
    )
    after = move()
    assert after["after_time"] >= moved["time"] + 8.0
    assert after["after_rtt_ms"] < 5 and after["after_loss"] == 0.0, after
    assert (
        f"Re-measured {after['after_time'] - moved['time']:.0f} s later through {new}: RTT"
        in (after["summary"])
    )
    print(f"latency move after {took:.1f} s; re-measured: {after['after_rtt_ms']:.2f} ms")

    # The daemon's log says it too, in lines a log shipper parses into fields.
    lines = _log_records(loop)
    assert any(
        r["msg"] == "move" and r.get("prefix") == prefix and r.get("to") == new
        and r.get("reason") == "latency"
        for r in lines
    ), [r for r in lines if r["msg"] == "move"]  # fmt: skip


def _log_records(loop: LoopLab) -> list[dict[str, str]]:
    """Every line of the running daemon's log as its fields (docs/operations.md: one record
    a line, ``ts level logger msg`` then ``key=value``, values quoted as a shell would)."""
    records = []
    text = (loop.lab.dir / "ctl-controller.log").read_text()
    for number, line in enumerate(text.splitlines(), 1):
        try:
            fields = dict(part.split("=", 1) for part in shlex.split(line))
        except ValueError as exc:
            raise AssertionError(f"log line {number} does not parse ({exc}): {line!r}") from None
        assert {"ts", "level", "logger", "msg"} <= set(fields), (number, line)
        assert fields["level"] in ("debug", "info", "warning", "error", "critical"), line
        records.append(fields)
    assert records, "the daemon logged nothing"
    return records


def test_outage_moves_within_3s(clean: LoopLab) -> None:
    loop = clean
    prefix, default = _pick(loop, USED)
    loop.lab.impair(default, [prefix], blackhole=True)
    took = loop.wait(lambda: loop.exit_of(prefix) not in (default, None), 3, "outage move", 0.02)
    assert loop.api(f"/decisions?prefix={prefix}")[0]["reason"] == "outage"
    print(f"outage moved in edge's FIB {took:.2f} s after the blackhole")


def test_brownout_moves_within_15s(clean: LoopLab) -> None:
    loop = clean
    prefix, default = _pick(loop, USED, lambda k: k < 16)
    loop.lab.impair(default, [prefix], loss_pct=5)
    took = loop.wait(
        lambda: loop.exit_of(prefix) not in (default, None),
        15,
        "loss move",
        diag=lambda: loop.detail(prefix),
    )
    assert loop.api(f"/decisions?prefix={prefix}")[0]["reason"] == "loss"
    print(f"brownout moved after {took:.1f} s")


def _bird_routes(loop: LoopLab, prefix: str) -> dict[str, dict]:
    """``birdc show route for PREFIX all`` on edge, per protocol: AS path, next hop, best."""
    out = loop.lab.birdc("edge", f"show route for {prefix} all")
    routes: dict[str, dict] = {}
    current: dict | None = None
    for line in out.splitlines():
        m = re.search(r"unicast \[(\S+) [^\]]*\]( \*)?", line)
        if m:
            current = routes[m.group(1)] = {"best": bool(m.group(2)), "as_path": []}
        elif current is not None and line.strip().startswith("BGP.as_path:"):
            current["as_path"] = [int(a) for a in line.split(":", 1)[1].split()]
        elif current is not None and line.strip().startswith("BGP.next_hop:"):
            current["next_hop"] = line.split(":", 1)[1].split()[0]
    return routes


def test_looking_glass_matches_bird_and_shows_the_injection(clean: LoopLab) -> None:
    loop = clean
    prefix, default = _pick(loop, USED, lambda k: k < 16)
    address = prefix.replace(".0/24", ".9")
    lg = loop.api(f"/routes/{address}")
    bird = _bird_routes(loop, prefix)
    assert lg["prefix"] == prefix and lg["injected"] is None
    theirs = {p["provider"]: p for p in lg["paths"] if not p["own"]}
    assert set(theirs) == set(bird) == {"isp1", "isp2", "isp3"}, (lg, bird)
    for name, path in theirs.items():
        assert path["as_path"] == bird[name]["as_path"], (name, path, bird[name])
        assert path["next_hop"] == bird[name]["next_hop"]
    assert [n for n, r in bird.items() if r["best"]] == [lg["bgp_choice"]] == [default]
    assert [p["provider"] for p in lg["paths"] if p["best"]] == [default]

    loop.lab.impair(default, [prefix], blackhole=True)
    loop.wait(lambda: loop.exit_of(prefix) not in (default, None), 5, "outage move")
    exit_now = loop.exit_of(prefix)
    loop.wait(lambda: loop.api(f"/routes/{prefix}")["injected"] is not None, 5, "the injection")
    lg = loop.api(f"/routes/{prefix}")
    assert lg["injected"]["provider"] == exit_now and lg["bgp_choice"] == default
    bird = _bird_routes(loop, prefix)
    assert bird["ctl"]["best"] and bird["ctl"]["next_hop"] == lg["injected"]["next_hop"]


def test_routers_view_counts_what_edge_holds_per_provider(clean: LoopLab) -> None:
    loop = clean

    def bird_counts() -> dict[str, int]:
        counts = {}
        for name in ("isp1", "isp2", "isp3"):
            # Each provider has one session per family: isp1 (master4) and isp1_v6 (master6).
            out = loop.lab.birdc("edge", f"show route protocol {name} count")
            out += loop.lab.birdc("edge", f"show route table master6 protocol {name}_v6 count")
            counts[name] = sum(int(n) for n in re.findall(r"(\d+) of \d+ routes", out))
        return counts

    (edge,) = loop.api("/routers")
    assert (edge["name"], edge["session"], edge["synced"]) == ("edge", "established", True)
    assert edge["route_source"] == "addpath"
    assert edge["providers"] == bird_counts(), edge
    assert edge["providers"]["isp3"] == 16 + 4  # the partial peer: prefixes 0-15 and the v6


def test_recovery_returns_to_bgp_default_after_hold_down(clean: LoopLab) -> None:
    loop = clean
    prefix, default = _pick(loop, USED)
    loop.lab.impair(default, [prefix], delay_ms=40)
    loop.wait(
        lambda: loop.exit_of(prefix) != default, 30, "the move", diag=lambda: loop.detail(prefix)
    )
    moved = time.monotonic()
    loop.lab.clear(default)
    loop.wait(lambda: loop.exit_of(prefix) == default, 90, "the return to BGP's default")
    assert time.monotonic() - moved >= 10  # not before the hold-down
    assert loop.api(f"/decisions?prefix={prefix}")[0]["reason"] == "revert"


def test_never_chooses_a_provider_without_a_route(clean: LoopLab) -> None:
    loop = clean
    # isp3 announces only prefixes 0-15: with both other providers slow for a
    # prefix it does not announce, routepilot must not send it to isp3.
    prefix, _ = _pick(loop, USED, lambda k: k >= 16)
    for p in ("isp1", "isp2"):
        loop.lab.impair(p, [prefix], delay_ms=40)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert loop.exit_of(prefix) in ("isp1", "isp2")
        time.sleep(0.2)
    for move in loop.api("/decisions?provider=isp3&limit=1000"):
        assert move["to_provider"] != "isp3" or _index(move["prefix"]) < 16, move


def test_dry_run_announces_nothing_but_journals(clean: LoopLab) -> None:
    loop = clean
    loop.api("/control/dry-run", "PUT", {"enabled": True})
    try:
        loop.wait(lambda: loop.injected_routes() == 0, 10, "withdrawal of every route")
        prefix, default = _pick(loop, USED)
        loop.lab.impair(default, [prefix], blackhole=True)
        loop.wait(
            lambda: any(m["dry_run"] for m in loop.api(f"/decisions?prefix={prefix}")),
            10,
            "a dry-run journal entry",
        )
        assert loop.exit_of(prefix) == default
        assert loop.injected_routes() == 0
    finally:
        loop.api("/control/dry-run", "PUT", {"enabled": False})


def test_fail_open_and_restart(clean: LoopLab) -> None:
    loop = clean
    prefix, default = _pick(loop, USED)
    loop.lab.impair(default, [prefix], blackhole=True)
    loop.wait(lambda: loop.exit_of(prefix) != default, 5, "outage move")
    assert loop.injected_routes() >= 1
    pid = loop.lab.controller_pid()
    assert pid
    start = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    took = loop.wait(lambda: loop.exit_of(prefix) == default, 5, "fail open", 0.01)
    assert took < 1.0
    assert loop.injected_routes() == 0
    print(f"fail-open: edge back on BGP's default {took * 1000:.0f} ms after kill -9")
    # Restart: the still-broken prefix is moved again, nothing else comes back.
    loop.lab.controller_stop()
    loop.lab.controller_start(loop.config_path)
    loop.wait(lambda: loop.exit_of(prefix) != default, 20, "the move after restart")
    loop.wait(lambda: loop.injected_routes() >= 1, 10, "injection")
    active = {p["prefix"] for p in loop.api("/prefixes?top=100") if p["exit"] != p["default"]}
    assert prefix in active
    assert loop.injected_routes() == len(active)
    assert time.monotonic() - start < 60


def _failing(loop: LoopLab, prefix: str, provider: str) -> bool:
    """Whether the controller's last round saw ``prefix`` failing through ``provider``
    (as many losses in a row as an outage takes)."""
    detail = loop.api(f"/prefixes/{prefix}")
    (m,) = [m for m in detail["measurements"] if m["provider"] == provider]
    return m["consecutive_losses"] >= 3  # policy.outage_consecutive_losses


def test_operator_pin_exclusion_and_pause_on_edge_and_across_a_restart(clean: LoopLab) -> None:
    """What an engineer does by hand, read in edge's FIB: a pin routes the prefix through
    its provider; an excluded prefix stays on BGP's choice through an outage that moves
    its neighbour; both survive a restart; paused, an outage seen moves nothing and what
    is announced stays; resumed, it moves."""
    loop = clean
    pinned, default = _pick(loop, USED, lambda k: k < 16)
    to = next(p for p in ("isp1", "isp2", "isp3") if p != default)
    # Two prefixes BGP sends the same way: one excluded, one the control.
    excluded, shared = _pick(loop, USED)
    control, _ = _pick(loop, USED, lambda k: loop.spec.bgp_best(k) == shared)
    held, held_default = _pick(loop, USED)
    try:
        assert loop.api(f"/prefixes/{pinned}/pin", "POST", {"provider": to})["pinned"] == to
        loop.wait(lambda: loop.exit_of(pinned) == to, 10, "the pin in edge's FIB")
        assert loop.api(f"/prefixes/{excluded}/exclude", "POST")["excluded"]
        loop.lab.impair(shared, [excluded, control], blackhole=True)

        def control_moved_and_excluded_stayed() -> None:
            loop.wait(
                lambda: loop.exit_of(control) != shared and loop.exit_of(pinned) == to,
                10,
                "the control's outage move, and the pin",
            )
            assert loop.exit_of(excluded) == shared, loop.detail(excluded)

        control_moved_and_excluded_stayed()
        loop.restart()
        control_moved_and_excluded_stayed()
        detail = loop.api(f"/prefixes/{excluded}")
        assert detail["excluded"] and loop.api(f"/prefixes/{pinned}")["pinned"] == to

        assert loop.api("/control/pause", "POST")["paused"]
        loop.lab.impair(held_default, [held], blackhole=True)
        loop.wait(lambda: _failing(loop, held, held_default), 10, "a paused round seeing it")
        assert loop.exit_of(held) == held_default, loop.detail(held)
        # Announced routes stay.
        assert (loop.exit_of(pinned), loop.exit_of(control) != shared) == (to, True)
        assert not loop.api("/control/resume", "POST")["paused"]
        loop.wait(lambda: loop.exit_of(held) != held_default, 10, "the move once resumed")

        loop.api(f"/prefixes/{excluded}/exclude", "DELETE")
        loop.wait(lambda: loop.exit_of(excluded) != shared, 10, "the move once included")
        loop.api(f"/prefixes/{pinned}/pin", "DELETE")
        loop.wait(lambda: loop.exit_of(pinned) == default, 30, "BGP's choice once unpinned")
    finally:
        loop.api("/control/resume", "POST")
        loop.api(f"/prefixes/{excluded}/exclude", "DELETE")
        loop.api(f"/prefixes/{pinned}/pin", "DELETE")


def test_capacity_keeps_link_under_target(loop: LoopLab) -> None:
    # Tell routepilot isp1's link is small: it must detour enough busy prefixes
    # to keep its traffic under 90 % of that capacity. The restart also proves the
    # warm start: the first rounds decide on the stored minute, not on the first
    # records (some flows and not others, some with the bytes of before a move).
    loop.lab.controller_stop()
    capacity_mbps = 1.0
    capacity, target = capacity_mbps * 1e6, 0.9 * capacity_mbps * 1e6
    loop.write_config()
    data = yaml.safe_load(loop.config_path.read_text())
    for p in data["providers"]:
        if p["name"] == "isp1":
            p["capacity_mbps"] = capacity_mbps
    loop.config_path.write_text(yaml.safe_dump(data))
    loop.lab.controller_start(loop.config_path)
    started = time.time()

    def estimate() -> float:
        return next(p for p in loop.api("/providers") if p["name"] == "isp1")["rate_bps"]

    took_move = loop.wait(
        lambda: any(m["time"] >= started for m in loop.api("/decisions?reason=capacity")),
        60,
        "a capacity move",
    )
    # What the link carries, from edge's interface counter: under its target, and it
    # stays there: never above the link, on average at its target.
    took_under = loop.wait(
        lambda: loop.link_rates("isp1", 1)[0] <= target, 60, "isp1 under its target", step=0
    )
    windows = loop.links_rates(10)
    samples = [w["isp1"] for w in windows]
    totals = [sum(w.values()) for w in windows]
    # routepilot's own estimate follows once the smoothing has caught up with the moves.
    lag = loop.wait(lambda: estimate() <= capacity, 90, "routepilot's isp1 rate under the link")
    moves = [m for m in loop.api("/decisions?limit=1000") if m["time"] >= started]
    detours = [m for m in moves if m["reason"] == "capacity"]
    returns = [m for m in moves if m["reason"] == "revert"]
    rounds = sorted({round(m["time"], 1) for m in detours + returns})
    print(
        f"capacity: first detour after {took_move:.1f} s, isp1 under target "
        f"{took_under:.1f} s later; isp1 then {[round(x / 1e3) for x in samples]} kb/s; "
        f"routepilot's estimate under the link {lag:.1f} s later; {len(detours)} detours and "
        f"{len(returns)} returns in {len(rounds)} rounds; all links "
        f"{[round(x / 1e3) for x in totals]} kb/s"
    )
    others = [
        (round(m["time"] - started, 1), m["prefix"], m["from_provider"], m["to_provider"],
         m["reason"])
        for m in moves
        if m["reason"] != "capacity"
    ]  # fmt: skip
    status = loop.api("/status")
    diag = {"other moves": others, "degraded": status["degraded"], "routes": status.get("routes")}
    assert max(samples) <= capacity, (samples, diag)
    assert sum(samples) / len(samples) <= target * 1.05, (samples, diag)
    # No oscillation: nothing detoured came home over the limit again.
    assert not returns, diag
    # The warm start ended once the live view was whole.
    assert not any("flows not back yet" in d for d in status["degraded"]), diag

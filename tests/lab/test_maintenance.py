"""Maintenance windows and changes without a restart, in the lab: real BIRD, real ExaBGP,
the real controller driven through its CLI, API and SIGHUP (issue 11, parts 3 and 7)."""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from routepilot.lab.spec import LabSpec
from tests.lab.looplab import FAST_EXPORT, TOKEN, LoopLab, three_providers

pytestmark = pytest.mark.lab

SPEC = {
    "name": "rplabm",
    "providers": three_providers(),
    "prefixes": 24,
    "prefixes_v6": 2,
    "export": FAST_EXPORT,  # the flows come back after the restart sooner
}


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopLab]:
    tmp = tmp_path_factory.mktemp("maint")
    with LoopLab(LabSpec.model_validate(SPEC), tmp, policy__hold_down_s=10.0).running() as ll:
        yield ll


@pytest.fixture(autouse=True)
def _no_impairment_left(loop: LoopLab) -> Iterator[None]:
    """A test that fails half-way leaves no impairment to the next (stop 26: a failed
    reload test left its slowdowns, and the next test waited in vain for a quiet start)."""
    yield
    loop.lab.clear_all()


def cli(loop: LoopLab, *args: str) -> subprocess.CompletedProcess:
    """`routepilot …` as an engineer types it, against the lab's controller."""
    return subprocess.run(
        [sys.executable, "-m", "routepilot.cli.main", *args,
         "--api", f"http://127.0.0.1:{loop.port}", "--token", TOKEN],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def most_defaults(loop: LoopLab) -> str:
    """The provider that is BGP's default for the most busy prefixes, once the controller
    knows the traffic and the routes of (nearly) every prefix of the lab."""

    def rows() -> list[dict]:
        # The lab's IPv4 destinations (its own links carry a little traffic too).
        return [p for p in loop.api("/prefixes?top=100") if p["prefix"].startswith("198.18.")]

    loop.wait(
        lambda: len(rows()) >= SPEC["prefixes"] - 2 and all(p["default"] for p in rows()),
        90,
        "traffic and routes for the lab's prefixes",
        step=0.5,
        diag=lambda: str([(p["prefix"], p["default"]) for p in rows()]),
    )
    return collections.Counter(p["default"] for p in rows()).most_common(1)[0][0]


def busy_on(loop: LoopLab, provider: str) -> list[str]:
    """Busy IPv4 prefixes (in the controller's view) whose BGP default is ``provider``
    and that another provider also has a route for."""
    out = []
    for p in loop.api("/prefixes?top=100"):
        if ":" in p["prefix"] or p["default"] != provider:
            continue
        detail = loop.api(f"/prefixes/{p['prefix']}")
        if any(m["has_route"] and m["provider"] != provider for m in detail["measurements"]):
            out.append(p["prefix"])
    return out


def through(loop: LoopLab, prefixes: list[str], provider: str) -> list[str]:
    """Those of ``prefixes`` that edge's kernel FIB sends out through ``provider``."""
    return [p for p in prefixes if loop.exit_of(p) == provider]


def wait_through(
    loop: LoopLab, prefixes: list[str], provider: str, expected: list[str], what: str
) -> float:
    """Waits (60 s at most) until edge's FIB sends exactly ``expected`` of ``prefixes``
    through ``provider``; returns how long that took."""
    return loop.wait(
        lambda: through(loop, prefixes, provider) == expected,
        60,
        what,
        step=0.5,
        diag=lambda: str(through(loop, prefixes, provider)),
    )


def test_drain_moves_traffic_off_a_provider_survives_a_restart_and_returns(
    loop: LoopLab,
) -> None:
    provider = most_defaults(loop)
    prefixes = busy_on(loop, provider)
    assert len(prefixes) >= 3, prefixes
    assert through(loop, prefixes, provider) == prefixes  # on BGP's default before

    started = cli(loop, "maintenance", "start", provider, "--for", "20m", "--drain",
                  "--reason", "lab fibre work", "--json")  # fmt: skip
    assert started.returncode == 0, started.stderr
    window = json.loads(started.stdout)
    assert window["state"] == "active" and window["drain"] and window["provider"] == provider
    took = wait_through(
        loop, prefixes, provider, [], f"edge's FIB to send nothing through {provider}"
    )
    moves = loop.api(f"/decisions?provider={provider}&reason=maintenance&limit=1000")
    assert {m["prefix"] for m in moves if m["from_provider"] == provider} >= set(prefixes)
    assert all(m["to_provider"] != provider for m in moves)
    print(f"drain: {len(prefixes)} prefixes off {provider} in {took:.1f} s")

    # A restart: the window is stored, the new controller drains again.
    loop.lab.controller_stop()
    restarted = time.monotonic()
    loop.lab.controller_start(loop.config_path)
    listed = json.loads(cli(loop, "maintenance", "list", "--json").stdout)
    assert [(w["id"], w["state"], w["provider"]) for w in listed] == [
        (window["id"], "active", provider)
    ]
    loop.wait(
        lambda: len(loop.api("/prefixes?top=100")) >= len(prefixes), 60, "traffic after restart"
    )
    loop.wait(
        lambda: through(loop, prefixes, provider) == [] and loop.injected_routes() > 0,
        60,
        f"the drain of {provider} after the restart",
        step=0.5,
        diag=lambda: str(through(loop, prefixes, provider)),
    )
    took_again = time.monotonic() - restarted
    print(f"drain after a restart: off {provider} again {took_again:.1f} s after the stop")

    ended = cli(loop, "maintenance", "end", str(window["id"]))
    assert ended.returncode == 0, ended.stderr
    took_back = wait_through(loop, prefixes, provider, prefixes, f"the traffic back on {provider}")
    back = loop.api(f"/decisions?provider={provider}&reason=revert&limit=1000")
    assert {m["prefix"] for m in back if m["to_provider"] == provider} >= set(prefixes)
    kinds = [e["kind"] for e in loop.api("/events")]
    assert kinds[:2] == ["maintenance_end", "maintenance_start"]
    print(f"drain: back on {provider} {took_back:.1f} s after the end")


def _route_line(loop: LoopLab, prefix: str) -> str:
    """edge's route from the controller for ``prefix``, with its age ([ctl HH:MM:SS])."""
    return loop.lab.birdc("edge", f"show route for {prefix} protocol ctl").strip()


AGE = re.compile(r"\[ctl (\d\d):(\d\d):(\d\d(?:\.\d+)?) ")


def _unchanged_since(before: str, after: str, wall: float) -> None:
    """``after`` is ``before``'s route, the same in every attribute, and edge has not
    changed it since the wall-clock time ``wall``.

    The two lines are not compared whole: BIRD shows a route's time as the real time now
    minus its monotonic age, reading the real clock later in the event loop's turn than the
    monotonic one (``tm_format_time``): the same untouched route shows times some
    milliseconds apart on a busy host (stop 26: .824, then .816). A route announced again
    after ``wall`` would show a time after it."""
    assert AGE.sub("[ctl TIME ", after) == AGE.sub("[ctl TIME ", before), (before, after)
    found = AGE.search(after)
    assert found, after
    hh, mm, ss = found.groups()
    shown = int(hh) * 3600 + int(mm) * 60 + float(ss)
    local = time.localtime(wall)
    at = local.tm_hour * 3600 + local.tm_min * 60 + local.tm_sec + wall % 1
    # Seconds from the route's last change to ``wall`` (modulo a day, for midnight): a route
    # changed after ``wall`` would read nearly a day here.
    assert 0 < (at - shown) % 86400 < 3600, (after, time.strftime("%H:%M:%S", local))


def _withdraws(loop: LoopLab) -> int:
    """Withdrawals edge received from the controller (IPv4 channel)."""
    out = loop.lab.birdc("edge", "show protocols all ctl")
    for line in out.splitlines():
        if line.strip().startswith("Import withdraws:"):
            return int(line.split(":")[1].split()[0])
    raise AssertionError(f"no import withdraws in:\n{out}")


def _pick(loop: LoopLab, taken: set[str]) -> tuple[str, str]:
    for p in loop.api("/prefixes?top=100"):
        prefix = p["prefix"]
        on_default = p["default"] and p["exit"] == p["default"] == loop.exit_of(prefix)
        if ":" not in prefix and prefix not in taken and on_default:
            taken.add(prefix)
            return prefix, p["default"]
    raise AssertionError("no busy prefix left on its default")


def test_reload_applies_live_and_refuses_whole(loop: LoopLab) -> None:
    taken: set[str] = set()
    # An improvement in force: a latency move off a slowed default.
    moved, default = _pick(loop, taken)
    loop.lab.impair(default, [moved], delay_ms=40)
    loop.wait(lambda: loop.exit_of(moved) not in (default, None), 40, "the latency move",
              diag=lambda: loop.detail(moved))  # fmt: skip
    new_exit = loop.exit_of(moved)
    # A smaller slowdown elsewhere, under today's 10 ms threshold: nothing moves.
    small, small_default = _pick(loop, taken)
    loop.lab.impair(small_default, [small], delay_ms=7)
    loop.rounds_later(5, timeout=60)
    assert loop.exit_of(small) == small_default, loop.detail(small)
    before_route, before_withdraws = _route_line(loop, moved), _withdraws(loop)
    assert moved in before_route

    # SIGHUP with the threshold lowered to 4 ms: applied, the 7 ms path now moves, and
    # the improvement in force is neither withdrawn nor announced again.
    loop.write_config(policy__latency_threshold_ms=4.0)
    sighup = time.time()
    os.kill(loop.lab.controller_pid() or 0, signal.SIGHUP)
    loop.wait(lambda: loop.api("/events")[0]["kind"] == "config_applied", 15, "the reload")
    event = loop.api("/events")[0]
    assert event["detail"] == "sighup: policy.latency_threshold_ms"
    assert loop.api("/config")["policy"]["latency_threshold_ms"] == 4.0
    loop.wait(lambda: loop.exit_of(small) not in (small_default, None), 40,
              "the move the lower threshold allows", diag=lambda: loop.detail(small))  # fmt: skip
    assert loop.api(f"/decisions?prefix={small}")[0]["reason"] == "latency"
    assert loop.exit_of(moved) == new_exit
    _unchanged_since(before_route, _route_line(loop, moved), sighup)  # same route, same age
    assert _withdraws(loop) == before_withdraws

    # Refusals change nothing: an invalid file (named by line and key), a restart-only key.
    good = loop.config_path.read_text()
    loop.config_path.write_text(
        good.replace("latency_threshold_ms: 4.0", "latency_threshold_ms: -1")
    )
    refused = cli(loop, "reload")
    assert refused.returncode == 1
    assert f"{loop.config_path}:" in refused.stderr
    assert "policy.latency_threshold_ms" in refused.stderr
    loop.write_config(policy__latency_threshold_ms=20.0, api__port=loop.port + 1)
    refused = cli(loop, "reload")
    assert refused.returncode == 1 and "api.port" in refused.stderr, refused.stderr
    assert "needs a restart" in refused.stderr
    loop.rounds_later(3, timeout=60)
    assert loop.api("/config")["policy"]["latency_threshold_ms"] == 4.0
    assert [e["kind"] for e in loop.api("/events")][:2] == ["config_refused", "config_refused"]
    assert loop.exit_of(moved) == new_exit and loop.exit_of(small) != small_default
    _unchanged_since(before_route, _route_line(loop, moved), sighup)
    assert _withdraws(loop) == before_withdraws
    print(f"reload: {moved} kept its route ({before_route.split('[')[1].split(']')[0]}), "
          f"{small} moved by the lower threshold, two refusals changed nothing")  # fmt: skip
    loop.write_config(policy__latency_threshold_ms=4.0)
    assert cli(loop, "reload").returncode == 0


def planned(loop: LoopLab) -> list[dict]:
    """The windows `maintenance list` shows from the configuration."""
    rows = json.loads(cli(loop, "maintenance", "list", "--json").stdout)
    return [w for w in rows if w["source"] == "config"]


def test_a_planned_window_comes_and_goes_with_a_reload(loop: LoopLab) -> None:
    # A one-off window in the configuration file, applied by `routepilot reload`: the
    # drain starts at the next round; taken out of the file again, the traffic returns.
    provider = most_defaults(loop)
    prefixes = busy_on(loop, provider)
    loop.wait(lambda: through(loop, prefixes, provider) == prefixes, 60, "a quiet start")
    now = time.time()
    window = {
        "name": "lab-planned",
        "provider": provider,
        "start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60)),
        "end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 900)),
        "drain": True,
        "reason": "planned in the file",
    }
    loop.write_config(maintenance__windows=[window])
    reloaded = time.monotonic()
    applied = cli(loop, "reload")
    assert applied.returncode == 0, applied.stderr
    assert "maintenance.windows" in applied.stdout
    (listed,) = planned(loop)
    assert (listed["source"], listed["name"], listed["state"]) == (
        "config", "lab-planned", "active",
    )  # fmt: skip
    wait_through(loop, prefixes, provider, [], f"the planned drain of {provider}")
    took = time.monotonic() - reloaded
    loop.write_config()
    assert cli(loop, "reload").returncode == 0
    took_back = wait_through(loop, prefixes, provider, prefixes, f"the traffic back on {provider}")
    assert planned(loop) == []
    print(f"planned window: {len(prefixes)} prefixes off {provider} {took:.1f} s after the "
          f"reload, back {took_back:.1f} s after the next")  # fmt: skip

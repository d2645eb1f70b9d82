"""Decisions said as sentences: units, rounding, and every reason."""

from __future__ import annotations

import pytest

from routepilot.decide import Reason
from routepilot.explain import HELD_BY, bps, ms, pct, summary, with_interval

MOVE = {
    "prefix": "198.18.3.0/24", "from_provider": "isp1", "to_provider": "isp2",
    "default_provider": "isp1", "traffic_bps": 341_234.5, "old_rtt_ms": 48.23,
    "new_rtt_ms": 12.06, "old_loss": 0.07512, "new_loss": 0.0, "threshold_ms": 10.0,
    "dry_run": False,
}  # fmt: skip


def test_the_issue_example_word_for_word() -> None:
    d = with_interval(
        {**MOVE, "reason": "loss"},
        [
            {"provider": "isp1", "loss_low": 0.0412, "loss_high": 0.1118},
            {"provider": "isp2", "loss_low": None, "loss_high": None},
        ],
    )
    assert summary(d) == (
        "moved off isp1: it lost 7.5% of probes (95% interval 4.1–11.2%) while isp2 lost "
        "0.0%; 341 kb/s moved"
    )


def test_latency_outage_revert_and_dry_run() -> None:
    assert summary({**MOVE, "reason": "latency", "traffic_bps": 1_436_032.5}) == (
        "moved off isp1: its RTT was 48.2 ms against 12.1 ms through isp2, 36.2 ms faster "
        "(the threshold is 10.0 ms); 1.4 Mb/s moved"
    )
    assert summary({**MOVE, "reason": "outage", "old_loss": 1.0}) == (
        "moved off isp1: it stopped answering (100.0% of probes lost) while isp2 answers "
        "(0.0% lost); 341 kb/s moved"
    )
    revert = {**MOVE, "reason": "revert", "from_provider": "isp2", "to_provider": "isp1"}
    assert summary(revert).startswith("back to isp1 (BGP's default): the reason to leave it")
    dry = summary({**MOVE, "reason": "latency", "dry_run": True})
    assert dry.startswith("would move off isp1") and dry.endswith("(dry-run: nothing announced)")


@pytest.mark.parametrize("reason", [r.label for r in Reason])
def test_every_reason_has_a_sentence_without_raw_numbers(reason: str) -> None:
    text = summary({**MOVE, "reason": reason})
    assert text and "None" not in text and "0.0751" not in text and "341234" not in text
    # Only BGP's own choice reads as BGP's default: no reason falls through to it.
    assert text.startswith("BGP's default") == (reason == "default"), text


def test_policy_static_maintenance_and_commit_say_what_held_or_moved_it() -> None:
    kept_off = summary({**MOVE, "reason": "policy"})
    assert kept_off.startswith("moved off isp1 to isp2: a policy rule keeps it off isp1")
    left = summary({**MOVE, "reason": "policy", "to_provider": None, "from_provider": None})
    assert left == "left to BGP (isp1) by a policy rule or the inject allowlist"
    assert summary({**MOVE, "reason": "static"}).startswith("held on isp2 by a static policy")
    assert "isp1 is in a maintenance window" in summary({**MOVE, "reason": "maintenance"})
    assert "isp1 is above its commit level" in summary({**MOVE, "reason": "commit"})


def test_units_and_rounding() -> None:
    assert [ms(0.0288), ms(40.26), ms(123.4), ms(None)] == ["0.029 ms", "40.3 ms", "123 ms", "–"]
    assert [pct(0.0), pct(0.0004), pct(0.5)] == ["0.0%", "0.04%", "50.0%"]
    assert [bps(950), bps(341_234), bps(1_436_032), bps(2e9)] == [
        "950 b/s", "341 kb/s", "1.4 Mb/s", "2 Gb/s",
    ]  # fmt: skip


@pytest.mark.parametrize("reason", sorted(HELD_BY))
def test_a_held_improvement_says_held_and_compares_with_bgps_default(reason: str) -> None:
    held = {**MOVE, "reason": reason, "from_provider": "isp2", "to_provider": "isp2"}
    text = summary(held)
    assert text.startswith(f"held on isp2, where {HELD_BY[reason]} took it"), text
    assert "moved" not in text and "through isp1 (BGP's default)" in text, text
    assert "RTT 12.1 ms against 48.2 ms" in text and "loss 0.0% against 7.5%" in text, text


def test_a_held_jitter_move_reads_the_defaults_figures_from_the_measurements() -> None:
    held = {**MOVE, "reason": "jitter", "from_provider": "isp2", "to_provider": "isp2"}
    measured = [
        {"provider": "isp1", "jitter_ms": 9.04, "loss_low": 0.041, "loss_high": 0.112},
        {"provider": "isp2", "jitter_ms": 0.61, "loss_low": 0.0, "loss_high": 0.02},
    ]
    text = summary(with_interval(held, measured))
    assert text == (
        "held on isp2, where a jitter move took it: RTT 12.1 ms against 48.2 ms through isp1 "
        "(BGP's default), loss 0.0% (95% interval 0.0–2.0%) against 7.5% (95% interval "
        "4.1–11.2%), jitter 0.610 ms against 9.0 ms"
    )


def test_a_move_re_measured_after_it_says_what_its_new_exit_gave() -> None:
    d = {**MOVE, "reason": "latency", "time": 1000.0}
    assert summary(d).endswith("; 341 kb/s moved")
    later = {**d, "after_time": 1030.4, "after_rtt_ms": 11.87, "after_loss": 0.0}
    assert summary(later) == summary(d) + (
        ". Re-measured 30 s later through isp2: RTT 11.9 ms, loss 0.0%"
    )
    # Re-measured with no answer at all: the loss says so, the RTT is a dash.
    lost = {**d, "after_time": 1030.0, "after_rtt_ms": None, "after_loss": 1.0}
    assert summary(lost).endswith("through isp2: RTT –, loss 100.0%")
    # Not yet re-measured, or nothing measured then: nothing is said.
    assert summary({**d, "after_time": None, "after_rtt_ms": None}) == summary(d)

from __future__ import annotations

import pytest

from routepilot.lab.scenario import ScenarioError, parse_scenario, parse_time, play

TEXT = """
# brownout then blackout
at 0s: traffic start rate 10
at 30s: isp1 198.18.16.0/20 loss 5%
at 1m: isp2 delay 40ms jitter 2ms
at 1m30s: isp3 blackhole
at 2m: isp3 clear
at 2m30s: end
"""


def test_times() -> None:
    assert parse_time("90") == 90
    assert parse_time("1m30s") == 90
    assert parse_time("1h") == 3600
    with pytest.raises(ValueError):
        parse_time("soon")


def test_parse_text_scenario() -> None:
    sc = parse_scenario(TEXT)
    assert [s.action for s in sc.steps] == [
        "traffic-start",
        "impair",
        "impair",
        "impair",
        "clear",
        "end",
    ]
    assert sc.steps[1].prefixes == ("198.18.16.0/20",) and sc.steps[1].loss_pct == 5
    assert sc.steps[2].delay_ms == 40 and sc.steps[2].jitter_ms == 2
    assert sc.steps[0].rate_mbps == 10
    assert sc.length_s == 150


def test_yaml_form_matches_text_form() -> None:
    yaml_text = "name: demo\nsteps:\n" + "".join(
        f"  - '{line}'\n" for line in TEXT.splitlines() if line.startswith("at")
    )
    assert parse_scenario(yaml_text).steps == parse_scenario(TEXT).steps


@pytest.mark.parametrize(
    "line, message",
    [
        ("at 5s: isp1 loss 500%", "at most 100"),
        ("at 5s: isp1 delay -3ms", "must not be negative"),
        ("at 5s: isp1 10.0.0.0/8 loss 1%", "outside the lab"),
        ("at 5s: isp1 wobble", "unknown word"),
        ("at 5s: isp1", "nothing to do"),
        ("at later: isp1 loss 1%", "bad time"),
        ("isp1 loss 1%", "expected `at TIME: ACTION`"),
    ],
)
def test_bad_lines_name_their_line(line: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as exc:
        parse_scenario("# header\n" + line, "s.txt")
    assert str(exc.value).startswith("s.txt:2:")


class FakeLab:
    """Records calls; a unit test of timing, the lab tests run the real thing."""

    class spec:  # noqa: N801
        @staticmethod
        def index(name: str) -> int:
            if name not in ("isp1", "isp2", "isp3"):
                raise KeyError(name)
            return int(name[-1])

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def impair(self, provider, prefixes, **kw):  # type: ignore[no-untyped-def]
        self.calls.append(("impair", provider, prefixes, kw["loss_pct"], kw["blackhole"]))

    def clear(self, provider, prefixes):  # type: ignore[no-untyped-def]
        self.calls.append(("clear", provider, prefixes))

    def traffic_start(self, rate, duration):  # type: ignore[no-untyped-def]
        self.calls.append(("traffic", rate))

    def traffic_stop(self) -> None:
        self.calls.append(("stop",))


def test_play_runs_steps_at_their_times() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    lab = FakeLab()
    play(lab, parse_scenario(TEXT), speed=2, echo=lambda _: None, clock=lambda: now[0], sleep=sleep)
    assert lab.calls[0] == ("traffic", 10)
    assert lab.calls[1] == ("impair", "isp1", ["198.18.16.0/20"], 5, False)
    assert lab.calls[4] == ("clear", "isp3", None)
    assert now[0] == 75  # 150 s at twice the speed


def test_unknown_provider_fails_before_first_step() -> None:
    lab = FakeLab()
    with pytest.raises(KeyError):
        play(
            lab,
            parse_scenario("at 0s: traffic start\nat 1s: isp9 loss 1%"),
            echo=lambda _: None,
            sleep=lambda s: None,
        )
    assert lab.calls == []

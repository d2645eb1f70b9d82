"""Scenario files: timed impairment and traffic changes, one step a line.

    # a provider browns out, another blacks out and comes back
    at 0s:    traffic start rate 10
    at 30s:   isp1 198.18.16.0/20 loss 5%
    at 1m:    isp2 delay 40ms jitter 2ms
    at 90s:   isp3 blackhole
    at 2m:    isp3 clear
    at 2m30s: end

A file is either such lines, or YAML with a `steps:` list of them (and an
optional `name` and `description`). Steps run in time order; `end` marks the
scenario's length (otherwise the last step ends it).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import yaml

from routepilot.lab.impair import check_prefix
from routepilot.lab.netns import LabError


class ScenarioError(Exception):
    """A scenario file that cannot be played; the message names the line."""


@dataclass(frozen=True)
class Step:
    at_s: float
    action: str
    """'impair', 'clear', 'traffic-start', 'traffic-stop' or 'end'."""
    provider: str = ""
    prefixes: tuple[str, ...] = ()
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    blackhole: bool = False
    rate_mbps: float | None = None
    duration_s: float | None = None
    text: str = ""


@dataclass
class Scenario:
    steps: list[Step] = field(default_factory=list)
    name: str = ""
    description: str = ""

    @property
    def length_s(self) -> float:
        return max((s.at_s for s in self.steps), default=0.0)


_TIME = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")
_STEP = re.compile(r"^at\s+(\S+)\s*:\s*(.+)$")


def parse_time(text: str) -> float:
    m = _TIME.match(text.strip())
    if not text.strip() or not m or not any(m.groups()):
        raise ValueError(f"bad time {text!r}: expected e.g. 30s, 1m30s, 2m, 90")
    h, mnt, s = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mnt * 60 + s


def _number(words: list[str], i: int, unit: str, what: str) -> float:
    if i >= len(words):
        raise ValueError(f"{what} needs a value, e.g. {what} 10{unit}")
    raw = words[i].lower().removesuffix(unit)
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(
            f"bad {what} {words[i]!r}: expected a number of {unit or 'units'}"
        ) from None
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {words[i]}")
    return value


def parse_step(line: str) -> Step:
    m = _STEP.match(line.strip())
    if not m:
        raise ValueError("expected `at TIME: ACTION`, e.g. `at 30s: isp1 loss 5%`")
    at = parse_time(m.group(1))
    words = m.group(2).split()
    head = words[0].lower()
    if head == "end":
        return Step(at, "end", text=line.strip())
    if head == "traffic":
        if len(words) < 2 or words[1] not in ("start", "stop"):
            raise ValueError("expected `traffic start [rate N] [duration Ns]` or `traffic stop`")
        if words[1] == "stop":
            return Step(at, "traffic-stop", text=line.strip())
        rate = duration = None
        i = 2
        while i < len(words):
            if words[i] == "rate":
                rate = _number(words, i + 1, "mbps", "rate")
            elif words[i] == "duration":
                duration = parse_time(words[i + 1]) if i + 1 < len(words) else None
            else:
                raise ValueError(f"unknown traffic option {words[i]!r} (rate, duration)")
            i += 2
        return Step(at, "traffic-start", rate_mbps=rate, duration_s=duration, text=line.strip())
    provider, rest = words[0], words[1:]
    prefixes, values, action, blackhole = [], {}, "impair", False
    i = 0
    while i < len(rest):
        w = rest[i].lower()
        if "/" in w:
            try:
                prefixes.append(check_prefix(w))
            except LabError as exc:
                raise ValueError(str(exc)) from None
        elif w == "delay":
            values["delay_ms"] = _number(rest, i + 1, "ms", "delay")
            i += 1
        elif w == "jitter":
            values["jitter_ms"] = _number(rest, i + 1, "ms", "jitter")
            i += 1
        elif w == "loss":
            values["loss_pct"] = _number(rest, i + 1, "%", "loss")
            if values["loss_pct"] > 100:
                raise ValueError("loss must be at most 100%")
            i += 1
        elif w == "blackhole":
            blackhole = True
        elif w == "clear":
            action = "clear"
        else:
            raise ValueError(
                f"unknown word {rest[i]!r} (expected a prefix, delay, jitter, "
                "loss, blackhole or clear)"
            )
        i += 1
    if action == "impair" and not values and not blackhole:
        raise ValueError("nothing to do: give delay, jitter, loss, blackhole or clear")
    return Step(
        at,
        action,
        provider=provider,
        prefixes=tuple(prefixes),
        blackhole=blackhole,
        text=line.strip(),
        **values,
    )


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    lines: list[tuple[int, str]]
    meta: dict = {}
    stripped = text.lstrip()
    if stripped.startswith(("steps:", "name:", "description:")):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ScenarioError(f"{source}: not valid YAML: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise ScenarioError(f"{source}: expected a `steps:` list")
        unknown = set(data) - {"steps", "name", "description"}
        if unknown:
            raise ScenarioError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}")
        meta = data
        text_lines = text.splitlines()
        lines = []
        for step in data["steps"]:
            line_no = next((n for n, t in enumerate(text_lines, 1) if str(step) in t), 0)
            lines.append((line_no, str(step)))
    else:
        lines = [(n, t.split("#", 1)[0].strip()) for n, t in enumerate(text.splitlines(), 1)]
    steps = []
    for n, line in lines:
        if not line:
            continue
        try:
            steps.append(parse_step(line))
        except ValueError as exc:
            raise ScenarioError(f"{source}:{n}: {exc}") from None
    if not steps:
        raise ScenarioError(f"{source}: no steps")
    steps.sort(key=lambda s: s.at_s)
    return Scenario(steps, str(meta.get("name", "")), str(meta.get("description", "")))


def load_scenario(path: Path) -> Scenario:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_scenario(text, str(path))


class _ProviderNumbers(Protocol):
    def index(self, provider: str) -> int: ...


class ScenarioLab(Protocol):
    """What a scenario drives: the lab (``lab.core.Lab``), or a unit test's fake."""

    @property
    def spec(self) -> _ProviderNumbers: ...

    def impair(
        self,
        provider: str,
        prefixes: list[str] | None,
        *,
        delay_ms: float,
        jitter_ms: float,
        loss_pct: float,
        blackhole: bool,
    ) -> None: ...

    def clear(self, provider: str, prefixes: list[str] | None) -> None: ...

    def traffic_start(self, rate_mbps: float | None, duration_s: float | None) -> object: ...

    def traffic_stop(self) -> object: ...


def play(
    lab: ScenarioLab,
    scenario: Scenario,
    *,
    speed: float = 1.0,
    echo: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    tick: Callable[[], None] | None = None,
) -> None:
    """Plays the steps against a lab at their times (divided by ``speed``).

    ``tick`` is called about every half second while waiting (the demo prints
    routepilot's moves from it)."""
    for s in scenario.steps:  # fail before the first step, not in the middle
        if s.provider:
            lab.spec.index(s.provider)
    start = clock()
    for s in scenario.steps:
        while (wait := start + s.at_s / speed - clock()) > 0:
            sleep(min(wait, 0.5) if tick else wait)
            if tick:
                tick()
        echo(f"[{s.at_s:>6.1f}s] {s.text.split(':', 1)[1].strip()}")
        if s.action == "impair":
            lab.impair(
                s.provider,
                list(s.prefixes) or None,
                delay_ms=s.delay_ms,
                jitter_ms=s.jitter_ms,
                loss_pct=s.loss_pct,
                blackhole=s.blackhole,
            )
        elif s.action == "clear":
            lab.clear(s.provider, list(s.prefixes) or None)
        elif s.action == "traffic-start":
            lab.traffic_start(s.rate_mbps, s.duration_s)
        elif s.action == "traffic-stop":
            lab.traffic_stop()

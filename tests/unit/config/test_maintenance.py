"""The maintenance section: planned windows by cron or start/end, checked with their line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tests.unit.config.test_config import GOOD

from routepilot.config import Config, ConfigError, dump_yaml, load_text

pytestmark = pytest.mark.unit


def test_windows_by_cron_and_by_start_end() -> None:
    cfg = load_text(
        GOOD
        + """maintenance:
  drain_lead_s: 120
  windows:
    - {name: tue, provider: isp1, cron: "0 2 * * 2", duration_s: 3600, drain: true}
    - {name: once, provider: isp2, start: "2026-12-24T01:00", end: "2026-12-24T03:00Z"}
""",
        Config,
    )
    tue, once = cfg.maintenance.windows
    assert tue.drain and tue.duration_s == 3600 and cfg.maintenance.drain_lead_s == 120
    assert once.start == datetime(2026, 12, 24, 1, tzinfo=UTC)  # no zone: UTC
    assert load_text(dump_yaml(cfg), Config) == cfg


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ('{name: w, provider: isp1, cron: "0 25 * * *", duration_s: 60}', "not a cron"),
        ('{name: w, provider: isp1, cron: "0 2 * * *"}', "cron and duration_s go together"),
        ("{name: w, provider: isp1}", "either cron and duration_s, or start and end"),
        (
            '{name: w, provider: isp1, start: "2026-12-24T03:00", end: "2026-12-24T01:00"}',
            "end must be after start",
        ),
        ('{name: w, provider: isp9, cron: "0 2 * * *", duration_s: 60}', "unknown providers"),
    ],
)
def test_bad_windows_are_refused_with_their_line(window: str, message: str) -> None:
    text = GOOD + f"maintenance:\n  windows:\n    - {window}\n"
    with pytest.raises(ConfigError) as exc:
        load_text(text, Config, "rp.yaml")
    assert message in str(exc.value)
    assert str(exc.value).startswith("rp.yaml:")

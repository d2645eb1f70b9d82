"""docs/config.md is generated from the config models and must not drift from them."""

from __future__ import annotations

from pathlib import Path

from routepilot.config import Config
from routepilot.config.reference import reference_markdown

DOC = Path(__file__).parents[3] / "docs" / "config.md"


def test_config_reference_is_current() -> None:
    assert DOC.read_text() == reference_markdown(Config), (
        "docs/config.md is stale: regenerate it with "
        "`.venv/bin/routepilot config reference > docs/config.md`"
    )


def test_every_key_is_documented() -> None:
    text = reference_markdown(Config)
    for line in text.splitlines():
        if line.startswith("| `"):
            meaning = line.rstrip("|").rsplit("|", 1)[-1].strip()
            assert meaning, f"undocumented key: {line}"

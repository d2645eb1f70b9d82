"""Structured logs: every log call in routepilot has a fixed lowercase message and passes
its fields as keywords, and a line reads as ``key=value`` pairs a program can parse.

An engineer greps ``msg="speaker died; restarting"`` across hosts and counts by
``speaker=``; a message with a value baked in (an f-string, ``%s``) breaks both.
"""

from __future__ import annotations

import ast
import io
import logging
import shlex
from pathlib import Path

import pytest

import routepilot
from routepilot.log import KeyValueFormatter, get_logger

pytestmark = pytest.mark.unit

SRC = Path(routepilot.__file__).parent
LEVELS = {"debug", "info", "warning", "error", "exception", "critical"}


def log_calls() -> list[tuple[str, ast.Call]]:
    """Every ``<something log>.<level>(...)`` call in routepilot's source, with its place."""
    calls = []
    for path in sorted(SRC.rglob("*.py")):
        if "_gen" in path.parts:  # generated gRPC stubs
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver = node.func.value
            name = receiver.id if isinstance(receiver, ast.Name) else ""
            name = name or (receiver.attr if isinstance(receiver, ast.Attribute) else "")
            if node.func.attr in LEVELS and "log" in name.lower():
                calls.append((f"{path.relative_to(SRC)}:{node.lineno}", node))
    return calls


def test_every_log_call_has_a_fixed_lowercase_message_and_keyword_fields() -> None:
    calls = log_calls()
    assert len(calls) > 100  # the scan sees the code base, not an empty folder
    bad = []
    for where, call in calls:
        msg = call.args[0] if call.args else None
        fixed = isinstance(msg, ast.Constant) and isinstance(msg.value, str)
        text = msg.value if fixed else ""  # type: ignore[union-attr]
        if not fixed or len(call.args) > 1 or "%" in text or text[:1].isupper():
            bad.append(f"{where}: {ast.unparse(call)[:120]}")
    assert bad == [], "\n".join(bad)


def test_a_line_parses_back_into_its_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(KeyValueFormatter())
    logger = logging.getLogger("routepilot.test_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        get_logger("routepilot.test_logs").error(
            "speaker died; restarting",
            speaker="exabgp",
            returncode=-9,
            output='line one\nsaid "x=1"',
            empty="",
        )
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue().rstrip("\n")
    assert "\n" not in line  # one record, one line, whatever its fields hold
    fields = dict(part.split("=", 1) for part in shlex.split(line))
    assert fields["level"] == "error"
    assert fields["logger"] == "routepilot.test_logs"
    assert fields["msg"] == "speaker died; restarting"
    assert fields["speaker"] == "exabgp" and fields["returncode"] == "-9"
    assert fields["output"] == 'line one\\nsaid "x=1"'
    assert fields["empty"] == ""
    assert fields["ts"].endswith("Z")

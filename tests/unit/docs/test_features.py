"""docs/features.md must stay true: every test it cites exists, and its statuses add up.

The page claims, per capability, a status and the tests that prove it. A test renamed or
deleted, a `done` row without a lab or integration proof, or counts that no longer match
the tables would make it lie; each of these fails here.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).parents[3]
DOC = ROOT / "docs" / "features.md"
STATUSES = ("done", "partial", "missing")
HEADER = "| Capability | Status | Proven by | Missing, or a note |"
TEST = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")
BENCH = re.compile(r"`(bench/\w+/\w+\.py)`")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _rows() -> list[tuple[int, list[str]]]:
    """Every row of every capability table, with its line number."""
    rows = []
    in_table = False
    for number, line in enumerate(DOC.read_text().splitlines(), 1):
        if line.strip() == HEADER:
            in_table = True
        elif in_table and line.startswith("|---"):
            continue
        elif in_table and line.startswith("|"):
            rows.append((number, _cells(line)))
        else:
            in_table = False
    return rows


def _defines(path: Path, name: str) -> bool:
    return re.search(rf"^\s*(async\s+)?def {name}\(", path.read_text(), re.M) is not None


def test_every_cited_test_exists() -> None:
    text = DOC.read_text()
    cited = TEST.findall(text)
    assert cited, "docs/features.md cites no test"
    missing = [
        f"{path}::{name}"
        for path, name in sorted(set(cited))
        if not (ROOT / path).is_file() or not _defines(ROOT / path, name)
    ]
    assert not missing, f"docs/features.md cites tests that do not exist: {missing}"


def test_every_cited_benchmark_exists() -> None:
    missing = [b for b in set(BENCH.findall(DOC.read_text())) if not (ROOT / b).is_file()]
    assert not missing, f"docs/features.md cites benchmarks that do not exist: {missing}"


def test_every_row_has_four_cells_and_a_status() -> None:
    rows = _rows()
    assert len(rows) > 50
    for number, cells in rows:
        assert len(cells) == 4, f"docs/features.md:{number}: expected 4 cells, got {cells}"
        assert cells[1] in STATUSES, f"docs/features.md:{number}: unknown status {cells[1]!r}"


def test_done_rows_are_proven_beyond_unit_tests() -> None:
    for number, cells in _rows():
        if cells[1] != "done":
            continue
        proofs = [p for p, _ in TEST.findall(cells[2]) if not p.startswith("tests/unit/")]
        assert proofs or BENCH.search(cells[2]), (
            f"docs/features.md:{number}: {cells[0]!r} is done but cites no lab, "
            "integration or benchmark proof"
        )


def test_partial_rows_say_what_is_missing() -> None:
    for number, cells in _rows():
        if cells[1] == "partial":
            assert cells[3] or "unit only" in cells[2], (
                f"docs/features.md:{number}: {cells[0]!r} is partial but says nothing missing"
            )


def test_missing_rows_name_an_issue_or_say_there_is_none() -> None:
    for number, cells in _rows():
        if cells[1] == "missing":
            assert re.search(r"#\d+", cells[3]) or "No issue filed" in cells[3], (
                f"docs/features.md:{number}: {cells[0]!r} is missing but names no issue"
            )


def test_counts_match_the_tables() -> None:
    counted = Counter(cells[1] for _, cells in _rows())
    stated = {}
    for line in DOC.read_text().splitlines():
        cells = _cells(line)
        if line.startswith("|") and len(cells) == 2 and cells[1].isdigit():
            stated[cells[0]] = int(cells[1])
    expected = {s: counted[s] for s in STATUSES} | {"total": sum(counted.values())}
    assert stated == expected, f"the counts in docs/features.md should read {expected}"

"""The dashboard's ES modules import each other without a cycle.

A cycle between browser modules works until one module reads an export of the
other at load time, then fails only in the browser; this walks the static
`import … from "./x.js"` lines instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import routepilot.web

STATIC = Path(routepilot.web.__file__).parent / "static"
_IMPORT = re.compile(r"""^\s*(?:import|export)\s[^;]*?\sfrom\s+["']\./([\w.-]+\.js)["']""", re.M)


def _graph() -> dict[str, set[str]]:
    return {p.name: set(_IMPORT.findall(p.read_text())) for p in sorted(STATIC.glob("*.js"))}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    path: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            found = visit(dep)
            if found:
                return found
        path.pop()
        done.add(node)
        return None

    for start in graph:
        found = visit(start)
        if found:
            return found
    return None


def test_every_import_names_an_existing_module() -> None:
    graph = _graph()
    assert "app.js" in graph and graph["app.js"], "the walk found no imports at all"
    missing = {(m, dep) for m, deps in graph.items() for dep in deps if dep not in graph}
    assert not missing


def test_no_import_cycle_between_the_dashboard_modules() -> None:
    assert _cycle(_graph()) is None, " -> ".join(_cycle(_graph()) or [])


def test_the_walk_sees_a_cycle() -> None:
    assert _cycle({"a.js": {"b.js"}, "b.js": {"a.js"}}) == ["a.js", "b.js", "a.js"]

"""flows/ has no import cycle: each format's decoder stands alone (issue 10 item 3)."""

from __future__ import annotations

import ast
from pathlib import Path

import routepilot.flows

PACKAGE = Path(routepilot.flows.__file__).parent


def _imports(path: Path) -> set[str]:
    """The flows modules ``path`` imports, at any level (lazy imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "routepilot.flows":
                found |= {a.name for a in node.names}
            elif node.module.startswith("routepilot.flows."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names
                      if a.name.startswith("routepilot.flows.")}  # fmt: skip
    return found


def test_no_import_cycle_in_flows():
    graph = {p.stem: _imports(p) & {q.stem for q in PACKAGE.glob("*.py")}
             for p in PACKAGE.glob("*.py") if p.stem != "__init__"}  # fmt: skip
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        if state.get(module) == 1:
            raise AssertionError("import cycle: " + " -> ".join([*path, module]))
        if state.get(module) == 2:
            return
        state[module] = 1
        for dep in sorted(graph.get(module, ())):
            visit(dep, [*path, module])
        state[module] = 2

    for module in sorted(graph):
        visit(module, [])


def test_format_decoders_do_not_import_the_router():
    for name in ("ipfix", "netflow5", "sflow", "sflow_bulk", "domains", "templates", "format"):
        assert "decoder" not in _imports(PACKAGE / f"{name}.py"), name

"""The import graph: every module imports alone, config/ is a leaf, no cycles.

An import-order trap (a module that only works because something else was
imported first) hides in a test run where everything is already loaded; a
fresh interpreter per module finds it. The cycle check reads the source, so it
also names cycles that happen to import fine today.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "routepilot"
STAGES = (
    "alerts",
    "api",
    "cli",
    "decide",
    "diagnose",
    "flows",
    "ha",
    "inject",
    "lab",
    "probe",
    "report",
    "rib",
    "run",
    "store",
    "telemetry",
    "web",
)

KNOWN_CYCLES: set[frozenset[str]] = set()
"""Cycles being removed on another branch; each must still exist, so that the
entry goes as soon as the cycle does (see the test)."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = sorted(_module_name(p) for p in (SRC / PACKAGE).rglob("*.py"))


THIRD_PARTY = ("numpy", "pydantic", "yaml", "httpx", "fastapi", "starlette", "uvicorn", "typer")
"""Loaded once before the fork, to keep the test fast; the trap it looks for is in
routepilot's own import order, which every child starts without."""

_FORK_EACH = """
import importlib, json, os, sys, traceback
for name in THIRD_PARTY:
    importlib.import_module(name)
for line in sys.stdin:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # a print on import is not an answer
        try:
            importlib.import_module(line.strip())
            code, text = 0, ""
        except BaseException:
            code, text = 1, traceback.format_exc()
        os.write(write, text.encode())
        os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        text = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    print(json.dumps([os.waitstatus_to_exitcode(status), text]), flush=True)
"""


@pytest.fixture(scope="module")
def import_alone() -> Iterator[Callable[[str], tuple[int, str]]]:
    """Imports a module in a child forked from an interpreter that has loaded no
    routepilot module, one module per request: each test (each xdist worker) imports
    only its own modules. (A batch of all of them per process had every worker of
    ``make test`` import every module, 125 s of a 6-minute unit run on each of two.)"""
    script = f"THIRD_PARTY = {THIRD_PARTY!r}\n{_FORK_EACH}"
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def one(module: str) -> tuple[int, str]:
        stdin.write(module + "\n")
        stdin.flush()
        answer = stdout.readline()
        assert answer, f"the importing interpreter died (exit {proc.poll()})"
        code, text = json.loads(answer)
        return code, text

    try:
        yield one
    finally:
        stdin.close()
        proc.wait(timeout=60)


def test_every_module_is_listed() -> None:
    assert len(MODULES) > 100
    assert "routepilot.run.wiring" in MODULES and "routepilot.config.models" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_alone(module: str, import_alone: Callable[[str], tuple[int, str]]) -> None:
    code, error = import_alone(module)
    assert code == 0, f"importing {module} alone fails:\n{error}"


def test_config_loads_no_stage() -> None:
    code = (
        "import sys, routepilot.config, routepilot.config.models, routepilot.config.reference\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('routepilot'))))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded = proc.stdout.split()
    assert "routepilot.config.models" in loaded
    stages = [m for m in loaded if m.split(".")[1:2] and m.split(".")[1] in STAGES]
    assert stages == [], f"routepilot.config loads stage modules: {stages}"


# -- the import graph ----------------------------------------------------------------------


def _module_level_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports at module level, ``TYPE_CHECKING`` ones too (a cycle of types is still a
    cycle of knowledge); imports inside functions are left out."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            stack.extend(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            stack.extend(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                stack.extend(handler.body)
        elif isinstance(node, ast.With):
            stack.extend(node.body)


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> set[str]:
    known = set(MODULES)
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    base = node.module or ""
    if node.level:
        here = module.split(".") if is_package else module.split(".")[:-1]
        here = here[: len(here) - (node.level - 1)]
        base = ".".join([*here, base] if base else here)
    out = {base} if base in known else set()
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        if sub in known:
            out.add(sub)
    return out


def _graph() -> dict[str, set[str]]:
    """Module -> modules it runs on import, with the packages whose ``__init__`` runs too."""
    graph: dict[str, set[str]] = {}
    for path in (SRC / PACKAGE).rglob("*.py"):
        module = _module_name(path)
        is_package = path.name == "__init__.py"
        own = module.split(".") if is_package else module.split(".")[:-1]
        ancestors = {".".join(own[:n]) for n in range(1, len(own) + 1)}
        edges: set[str] = set()
        for node in _module_level_imports(ast.parse(path.read_text(), str(path))):
            for target in _targets(module, is_package, node):
                parts = target.split(".")
                for n in range(1, len(parts) + 1):
                    step = ".".join(parts[:n])
                    if step not in ancestors and step in graph.keys() | set(MODULES):
                        edges.add(step)
        edges.discard(module)
        graph[module] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[frozenset[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(frozenset(component))
    return out


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [frozenset("abc")]


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph())
    unexpected = [sorted(c) for c in cycles if c not in KNOWN_CYCLES]
    assert unexpected == [], f"import cycles in src/: {unexpected}"
    gone = [sorted(c) for c in KNOWN_CYCLES if c not in cycles]
    assert gone == [], f"fixed on this branch: remove them from KNOWN_CYCLES: {gone}"


SHARED_TYPES = {
    "routepilot.decide.reasons",
    "routepilot.decide.state",
    "routepilot.decide.windows",
    "routepilot.flows.snapshot",
    "routepilot.probe.snapshot",
    "routepilot.rib.snapshot",
}
"""The modules of small shared types a stage may take from another stage."""


def test_store_takes_only_shared_types_from_other_stages() -> None:
    graph = _graph()
    wrong = {
        (module, target)
        for module, targets in graph.items()
        if module.startswith("routepilot.store.")
        for target in targets
        if target.count(".") >= 2  # a module, not a package whose __init__ runs on the way
        and target.split(".")[1] in STAGES
        and target.split(".")[1] != "store"
        and target not in SHARED_TYPES
    }
    assert wrong == set()


def test_surfaces_share_the_controller_view_not_each_others_modules() -> None:
    graph = _graph()
    wrong = {
        (module, target)
        for module, targets in graph.items()
        if module.startswith("routepilot.report.")
        for target in targets
        if target.startswith("routepilot.api.") and target != "routepilot.api.client"
    }
    assert wrong == set()

"""The package's shape: no import cycles, and the shared modules know no family."""

from __future__ import annotations

import ast
from pathlib import Path

import stepsize_server.schedules as schedules

ROOT = Path(schedules.__file__).parent
PACKAGE = "stepsize_server.schedules"
FAMILIES = {"core", "keras", "torch", "hf"}
# Only the registry gathers the families; the rest of the top level is generic.
GENERIC = {"node", "params", "steps", "validation", "evaluation", "lint", "errors"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def _imports() -> dict[str, set[str]]:
    """Module -> the modules of the package it imports, at any level (function bodies too)."""
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    module = f"{base}.{node.module}" if node.module else base
                else:
                    module = node.module or ""
                if module.startswith(PACKAGE):
                    # `from . import core` imports the submodule core, not the package.
                    if node.module:
                        targets.add(module)
                    targets.update(f"{module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.startswith(PACKAGE))
        graph[name] = targets
    return {m: {t for t in ts if t in graph and t != m} for m, ts in graph.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                return [*stack[stack.index(t) :], t]
            if t not in state and (found := visit(t)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_cycles():
    graph = _imports()
    assert f"{PACKAGE}.core" in graph[f"{PACKAGE}.registry"]  # the graph sees `from . import`
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    # A parent package's __init__ importing its own submodules is how a package exposes
    # them, not a cycle; what matters is that no submodule imports back up into it.
    for m, ts in graph.items():
        for t in ts:
            assert not m.startswith(t + "."), f"{m} imports its own package {t}"
    acyclic = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in graph.items()}
    assert _cycle(acyclic) is None, _cycle(acyclic)


def test_the_shared_modules_know_no_family():
    graph = _imports()
    for name in GENERIC:
        module = f"{PACKAGE}.{name}"
        families = {t for t in graph[module] if t.split(".")[2] in FAMILIES}
        assert not families, f"{module} imports {families}"


def test_each_family_is_a_package():
    for family in [*FAMILIES, "expressions"]:
        assert (ROOT / family / "__init__.py").is_file()
    prefixed = [p.name for p in ROOT.glob("*_*.py") if not p.name.startswith("__")]
    assert not prefixed, f"a family prefix in a top-level module name: {prefixed}"

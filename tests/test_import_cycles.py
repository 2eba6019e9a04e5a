"""No import cycles inside either package, through any import statement.

The sources are parsed with `ast` (nothing is imported), every `import` and `from ...
import` anywhere in a module counts (module level, inside functions and methods, under
`if TYPE_CHECKING:`), and the module graph of each package must have no cycle. An edge
goes to the module an import names: `from . import x` is an edge to the submodule `x`
when there is one, else to the package's `__init__`; the parents Python initializes on
the way (`a` and `a.b` for `import a.b.c`) are not edges of their own.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "stepsize": ROOT / "client" / "stepsize",
    "stepsize_server": ROOT / "service" / "stepsize_server",
}


def modules_of(package: str, directory: Path) -> dict[str, Path]:
    """Every module of the package under `directory`, by dotted name."""
    found = {}
    for path in sorted(directory.rglob("*.py")):
        parts = [package, *path.relative_to(directory).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The modules of `known` that `module` (the file `path`) imports, anywhere in it."""
    is_package = path.name == "__init__.py"
    here = module if is_package else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = here.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.add(submodule if submodule in known else base)
    edges = set()
    for target in targets:
        # `import pkg.a.b` where only `pkg.a` is ours as a module: the nearest known one
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != module:
            edges.add(target)
    return edges


def import_graph(package: str, directory: Path) -> nx.DiGraph:
    """The package's modules and their imports of each other."""
    modules = modules_of(package, directory)
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for module, path in modules.items():
        for target in imports_of(module, path, set(modules)):
            graph.add_edge(module, target)
    return graph


def tangled_groups(graph: nx.DiGraph) -> list[set[str]]:
    """The groups of modules that import each other, directly or not (empty: no cycle)."""
    groups = [g for g in nx.strongly_connected_components(graph) if len(g) > 1]
    return sorted(groups, key=sorted)


def import_cycles(graph: nx.DiGraph) -> list[list[str]]:
    """One cycle in each tangled group, as the modules in import order, the first
    repeated at the end."""
    found = []
    for group in tangled_groups(graph):
        cycle = [edge[0] for edge in nx.find_cycle(graph.subgraph(group))]
        found.append([*cycle, cycle[0]])
    return found


def describe(graph: nx.DiGraph) -> str:
    """Each tangled group with one of its cycles, for the failure message."""
    return "\n".join(
        f"{sorted(group)}: {' -> '.join(cycle)}"
        for group, cycle in zip(tangled_groups(graph), import_cycles(graph), strict=True)
    )


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_package_has_no_import_cycle(package: str) -> None:
    graph = import_graph(package, PACKAGES[package])
    assert graph.number_of_nodes() > 10, "the package's modules were not found"
    assert graph.number_of_edges() > 10, "no imports between the modules were found"
    assert not tangled_groups(graph), f"import cycles in {package}:\n{describe(graph)}"


def write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_function_level_import_closing_a_circle_is_a_cycle(tmp_path: Path) -> None:
    files = {
        "__init__.py": "from .client import Client\n",
        "client.py": "from . import shims\nfrom .errors import Error\n\nclass Client: ...\n",
        "errors.py": "class Error(Exception): ...\n",
        "shims/__init__.py": "",
        "shims/torch.py": "def f():\n    from ..client import Client\n    return Client\n",
    }
    directory = write_package(tmp_path / "demo", files)
    graph = import_graph("demo", directory)
    assert set(graph.edges) == {
        ("demo", "demo.client"),
        ("demo.client", "demo.shims"),
        ("demo.client", "demo.errors"),
        ("demo.shims.torch", "demo.client"),
    }
    assert tangled_groups(graph) == []  # shims/__init__ does not import torch.py yet

    (directory / "shims" / "__init__.py").write_text("from . import torch\n")
    graph = import_graph("demo", directory)
    assert tangled_groups(graph) == [{"demo.client", "demo.shims", "demo.shims.torch"}]
    cycle = "demo.client -> demo.shims -> demo.shims.torch -> demo.client"
    assert [" -> ".join(c) for c in import_cycles(graph)] == [cycle]
    assert cycle in describe(graph)


def test_type_checking_imports_and_the_package_init_count(tmp_path: Path) -> None:
    files = {
        "__init__.py": "from .transport import Transport\n__version__ = '1'\n",
        "transport.py": (
            "from typing import TYPE_CHECKING\nimport demo\n"
            "if TYPE_CHECKING:\n    from demo.errors import Error\nclass Transport: ...\n"
        ),
        "errors.py": "from .transport import Transport\n",
    }
    graph = import_graph("demo", write_package(tmp_path / "demo", files))
    assert graph.has_edge("demo.transport", "demo.errors")  # the TYPE_CHECKING import
    assert graph.has_edge("demo.transport", "demo")  # `import demo`: the package's __init__
    assert tangled_groups(graph) == [{"demo", "demo.transport", "demo.errors"}]
    (cycle,) = import_cycles(graph)
    assert cycle[0] == cycle[-1] and len(cycle) >= 3
    assert all(graph.has_edge(a, b) for a, b in itertools.pairwise(cycle))

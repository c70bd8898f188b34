"""The layout shows the flow: definitions -> sources -> (init) -> engine -> measures -> output -> api -> cli.

A module imports only its own layer and the layers before it (at module level or inside a
function), module-level imports have no cycles, and the light layers never import pandas at
module level (`--help` and `validate` stay fast).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from tests.conftest import ROOT

PACKAGE = ROOT / "src" / "funnelcli"
LAYERS = ["errors", "definitions", "sources", "init", "engine", "measures", "output", "api", "cli"]
LIGHT = ["errors", "definitions", "init", "output", "cli"]  # no pandas or numpy at module level


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "funnelcli" or len(parts) == 1:
        return None  # the package's front door imports lazily, by name
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if node.module == "funnelcli" or node.module.count(".") == 1}
        elif isinstance(node, ast.If) and top_level_only and not _is_type_checking(node):
            found |= imports_in(node.body)
    return found


def imports_in(body) -> set[str]:
    found = set()
    for node in body:
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_run_one_way(path):
    mine = layer(module_name(path))
    if mine is None:
        return
    for imported in imports(path):
        theirs = layer(imported)
        if theirs is not None:
            assert theirs <= mine, f"{module_name(path)} ({LAYERS[mine]}) imports {imported} ({LAYERS[theirs]})"


@pytest.mark.parametrize("path", [p for p in MODULES if (layer(module_name(p)) is not None and LAYERS[layer(module_name(p))] in LIGHT)],
                         ids=lambda p: module_name(p))
def test_light_layers_do_not_import_pandas_at_module_level(path):
    heavy = {m for m in imports(path, top_level_only=True) if m.split(".")[0] in ("pandas", "numpy", "pyarrow")}
    assert not heavy, f"{module_name(path)} imports {heavy} at module level"


def test_no_import_cycles():
    names = {module_name(p): p for p in MODULES}
    graph = {
        name: {m for m in imports(path, top_level_only=True) if m in names and m != name}
        for name, path in names.items()
    }
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]) if nxt in stack else nxt)
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])


def test_every_package_says_its_job():
    for package in ["definitions", "sources", "init", "engine", "measures", "output"]:
        doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "import" in doc.lower(), f"{package}/__init__.py should say its job and what it may import"


def test_functions_are_small():
    long = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 65:
                long.append(f"{module_name(path)}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not long, "split these functions:\n" + "\n".join(long)

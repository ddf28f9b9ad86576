"""The layout of the packages stays as built (issue 19): each room owns what it holds.

Every import counts, wherever it is written: at module level, inside a function, under
`if TYPE_CHECKING:`. The rules:
- `protocol` imports none of the other packages (it is the sans-I/O core of all);
- `endpoint` (what host agent and viewer share) imports only `protocol`;
- `host_agent` and `viewer` import nothing of each other and nothing of `relay`;
- `relay` (the server) imports nothing of `endpoint`, `host_agent` or `viewer`;
- inside each package no module reaches itself through imports, over any number of steps.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("protocol", "endpoint", "relay", "host_agent", "viewer", "fernwartung")
FORBIDDEN = {
    "protocol": {"endpoint", "relay", "host_agent", "viewer", "fernwartung"},
    "endpoint": {"relay", "host_agent", "viewer", "fernwartung"},
    "relay": {"endpoint", "host_agent", "viewer", "fernwartung"},
    "host_agent": {"viewer", "relay", "fernwartung"},
    "viewer": {"host_agent", "relay", "fernwartung"},
    "fernwartung": set(),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def imported(name: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """Every module of the project that `name` imports, with the line (any place in the file)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            # `from package import module` imports that module (a package's own __init__
            # around its modules is no circle); `from module import name`, the module.
            modules = [f"{stem}.{alias.name}" for alias in node.names]
            named = [module for module in modules if module in known]
            targets = named if len(named) == len(modules) else [stem, *named]
        else:
            continue
        for target in targets:
            if target.split(".")[0] not in PACKAGES:
                continue
            # The deepest known module the name lies in (a function's module, say).
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target, node.lineno


def import_graph() -> dict[str, dict[str, int]]:
    found = modules()
    known = set(found)
    return {name: dict(imported(name, path, known)) for name, path in found.items()}


def test_the_layout_check_reads_every_kind_of_import(tmp_path):
    # Would the check see the ways an import hides? (A check that reads nothing passes all.)
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from viewer.client import ViewerClient\n"
        "def later():\n    import relay.server\n"
        "from . import capture\n"
    )
    path = tmp_path / "host_agent" / "example.py"
    path.parent.mkdir()
    path.write_text(source)
    known = {"viewer.client", "relay.server", "host_agent.capture", "host_agent.example"}
    found = dict(imported("host_agent.example", path, known))
    assert set(found) == {"viewer.client", "relay.server", "host_agent.capture"}


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_what_it_may(package):
    wrong = [
        f"{name}:{line} imports {target}"
        for name, targets in import_graph().items()
        if name.split(".")[0] == package
        for target, line in targets.items()
        if target.split(".")[0] in FORBIDDEN[package]
    ]
    assert not wrong, "\n".join(wrong)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            part = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                part.append(member)
                if member == node:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_long_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"d"}, "d": {"a"}, "e": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "d"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_of_a_package_imports_itself_around_a_circle(package):
    graph = {
        name: {
            target
            for target in targets
            if target.split(".")[0] == package and target != package  # not the __init__
        }
        for name, targets in import_graph().items()
        if name.split(".")[0] == package
    }
    assert cycles(graph) == []

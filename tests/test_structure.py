"""The architecture's rules, checked on the source: no import cycle, a core free of pytest, and
the loop's private ``_lw_`` attributes touched only inside the core."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import loopwarden

SRC = Path(loopwarden.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(SRC.rglob("*.py"))}


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _imports(name: str) -> set[str]:
    """loopwarden's modules that ``name`` imports at run time (at the top or in a function)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                )
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            target = target.strip(".")
            if target in MODULES and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _cycles() -> list[list[str]]:
    # Tarjan's strongly connected components; a component of more than one module is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in GRAPH:
        if name not in index:
            visit(name)
    return found


def test_no_import_cycle():
    assert _cycles() == []


def test_the_cycle_finder_finds_a_cycle():
    # report imports _keys; an import back (the leaks <-> report cycle there was) closes one.
    GRAPH["loopwarden._plugin._keys"].add("loopwarden._plugin.report")
    try:
        assert _cycles() == [["loopwarden._plugin._keys", "loopwarden._plugin.report"]]
    finally:
        GRAPH["loopwarden._plugin._keys"].discard("loopwarden._plugin.report")


def _reached_from(start: str) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for target in GRAPH[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


@functools.cache
def _imports_pytest(name: str) -> bool:
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        if any(n.split(".")[0] in ("pytest", "_pytest", "pluggy") for n in names):
            return True
    return False


def test_the_core_never_imports_pytest():
    core = [name for name in MODULES if name.startswith("loopwarden._core")]
    assert len(core) > 10
    offenders = {
        name: sorted(m for m in _reached_from(name) if _imports_pytest(m))
        for name in core
        if any(_imports_pytest(m) for m in _reached_from(name))
    }
    assert offenders == {}


def test_the_loops_private_attributes_are_touched_only_in_the_core():
    touched = sorted(
        f"{name}:{node.lineno} {node.attr}"
        for name, path in MODULES.items()
        if not name.startswith("loopwarden._core")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr.startswith("_lw_")
    )
    assert touched == []


def test_no_plugin_imports_another_capabilitys_module():
    """Plugins share state by stash keys (_keys) and events by hooks (_hookspecs); the main
    plugin (config: settings, mode) is the one they all read."""
    capabilities = {
        f"loopwarden._plugin.{name}"
        for name in [
            "runner",
            "guard",
            "leaks",
            "report",
            "watchdog",
            "clock",
            "fuzz",
            "db",
            "components",
            "doctor",
        ]
    }
    reaching = {
        name: sorted(GRAPH[name] & capabilities)
        for name in MODULES
        if name.startswith("loopwarden.") and GRAPH[name] & capabilities
    }
    assert reaching == {}

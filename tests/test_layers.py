"""The house keeps its shape: imports run one way, no circles, and only the CLI talks.

Every import in ``pipkit/`` is read with ``ast``: at module level, inside functions and under
``if TYPE_CHECKING:`` alike (a lazy import is still a dependency a reader must follow). The
layers, top to bottom::

    cli (pipkit.cli, pipkit.fastpath, pipkit.__main__)  ->  render  ->  ops (types only)
    cli  ->  ops  ->  env  ->  core  ->  errors, fsutil
    servers: nothing from pipkit

A module may import its own layer and any layer below; never one above. ``render`` may import
``ops`` (and below) for types only. Nothing below the CLI prints, prompts, writes to
stdout/stderr, or imports a UI library; ``pipkit.render`` is imported by the CLI layer alone.
Like pip-tools' ``test_circular_imports.py``, but for the layering itself.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pipkit"

# Lower number = lower layer. A module may import modules of its own rank or lower.
RANKS = {
    "errors": 0,
    "fsutil": 0,
    "core": 1,
    "env": 2,
    "ops": 3,
    "render": 4,
    "cli": 5,
}
CLI_MODULES = {"pipkit.cli", "pipkit.fastpath", "pipkit.__main__"}
UI_LIBRARIES = {"typer", "click", "rich"}
# The standalone last-resort undo (stdlib only, runs when pipkit cannot start) prints from
# its own main; the probe prints its JSON answer to pipkit, which runs it as a child process.
MAY_WRITE = {"pipkit.env.transaction": {"_undo_standalone", "main"}, "pipkit.env.probe": {"main"}}
# The one module that launches the servers may name their files and read their ready-line
# pattern (pipkit.servers.common is stdlib-only); nothing else imports the servers package.
SERVER_LAUNCHER = "pipkit.env.serverproc"
SERVER_FACTS = {"pipkit.servers", "pipkit.servers.common"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, ast.Module]:
    return {
        module_name(path): ast.parse(path.read_text(encoding="utf-8"), str(path))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def layer(name: str) -> str:
    """The layer a pipkit module belongs to."""
    if name in CLI_MODULES:
        return "cli"
    parts = name.split(".")
    if len(parts) == 1:
        return "package"  # pipkit/__init__.py: the version only
    return parts[1]


def imports(name: str, tree: ast.Module) -> Iterator[tuple[str, int]]:
    """Every module ``tree`` imports (absolute names), with its line."""
    package = name if name.endswith("__init__") else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield module, node.lineno
            # `from pipkit import render` imports the module pipkit.render
            for alias in node.names:
                yield f"{module}.{alias.name}", node.lineno


def pipkit_imports(name: str, tree: ast.Module, known: set[str]) -> set[tuple[str, int]]:
    found = set()
    for module, line in imports(name, tree):
        if module in known and module != name:
            found.add((module, line))
    return found


TREES = modules()
KNOWN = set(TREES)


def test_the_walk_sees_lazy_and_type_checking_imports() -> None:
    """The checker itself: it must see an import inside a function and under TYPE_CHECKING."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pipkit.ops.sync import SyncResult\n"
        "def f():\n    from pipkit import render\n"
    )
    found = {m for m, _ in imports("pipkit.env.x", ast.parse(source))}
    assert {"pipkit.ops.sync", "pipkit.render"} <= found


@pytest.mark.parametrize("name", sorted(n for n in TREES if layer(n) in RANKS))
def test_imports_run_one_way(name: str) -> None:
    mine = layer(name)
    wrong = []
    for module, line in sorted(pipkit_imports(name, TREES[name], KNOWN)):
        theirs = layer(module)
        if theirs == "servers" and not (name == SERVER_LAUNCHER and module in SERVER_FACTS):
            wrong.append(f"line {line}: {module} (servers are launched by path, never imported)")
        elif theirs == "render" and mine != "cli":
            wrong.append(f"line {line}: {module} (only the CLI renders)")
        elif theirs in RANKS and RANKS[theirs] > RANKS[mine]:
            wrong.append(f"line {line}: {module} ({theirs} is above {mine})")
    assert not wrong, f"{name} imports against the layers:\n" + "\n".join(wrong)


@pytest.mark.parametrize("name", sorted(n for n in TREES if layer(n) == "servers"))
def test_servers_import_nothing_from_pipkit(name: str) -> None:
    bad = [
        f"line {line}: {module}"
        for module, line in imports(name, TREES[name])
        if module.split(".")[0] == "pipkit" and layer(module) != "servers"
    ]
    assert not bad, f"{name} imports pipkit: {bad}"


def test_no_import_circles() -> None:
    graph = {
        name: {m for m, _ in pipkit_imports(name, tree, KNOWN)} for name, tree in TREES.items()
    }
    # A package's __init__ is not an edge worth following: importing pipkit.ops.x names the
    # package pipkit.ops too, which is empty.
    graph = {n: {m for m in deps if m in graph and TREES[m].body} for n, deps in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for dep in graph[node]:
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not circles, f"import circles: {circles}"


def _writes(tree: ast.Module, allowed: set[str]) -> Iterator[str]:
    """Calls that talk to the user: print(), sys.stdout/stderr.write, input()."""

    def walk(node: ast.AST, inside: str | None) -> Iterator[str]:
        for child in ast.iter_child_nodes(node):
            name = inside
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = child.name
            elif isinstance(child, ast.If) and "__main__" in ast.unparse(child.test):
                name = "main"  # `if __name__ == "__main__":` is the module's own main
            if isinstance(child, ast.Call) and (inside not in allowed):
                func = child.func
                if isinstance(func, ast.Name) and func.id in ("print", "input"):
                    yield f"line {child.lineno}: {func.id}()"
                elif (
                    isinstance(func, ast.Attribute)
                    and func.attr == "write"
                    and isinstance(func.value, ast.Attribute)
                    and func.value.attr in ("stdout", "stderr")
                ):
                    yield f"line {child.lineno}: sys.{func.value.attr}.write()"
            yield from walk(child, name)

    yield from walk(tree, None)


@pytest.mark.parametrize(
    "name", sorted(n for n in TREES if layer(n) in ("ops", "env", "core", "errors", "fsutil"))
)
def test_the_library_never_talks_to_the_user(name: str) -> None:
    tree = TREES[name]
    ui = [
        f"line {line}: {module}"
        for module, line in imports(name, tree)
        if module.split(".")[0] in UI_LIBRARIES
    ]
    assert not ui, f"{name} imports a UI library: {ui}"
    talk = list(_writes(tree, MAY_WRITE.get(name, set())))
    assert not talk, f"{name} talks to the user (return it in a result, or log it): {talk}"


def test_the_checker_sees_a_print() -> None:
    tree = ast.parse("import sys\ndef f():\n    print('x')\n    sys.stderr.write('y')\n")
    assert len(list(_writes(tree, set()))) == 2

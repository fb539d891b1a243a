"""The package's import graph: no cycles, dependencies pointing down, a cheap ``import reznet_ws``.

The graph is read from the source with ``ast``, nothing is imported. What counts as an edge
``a -> b`` (``a`` and ``b`` modules of reznet_ws):

- an ``import`` or ``from ... import`` that runs when ``a`` is imported: at module level,
  including inside module-level ``if`` / ``try`` / ``with`` blocks and class bodies, but not
  inside ``if TYPE_CHECKING:`` (never run) nor inside functions (they run on call, not at import:
  a lazy import is how a cycle at import time is avoided);
- ``from p import name`` is an edge to ``p.name`` when that is a module, else to ``p``;
- importing ``p.q.r`` also runs ``p/__init__`` and ``p/q/__init__``: edges to those packages too,
  except to packages that contain ``a`` (they are already being imported when ``a`` runs).

A cycle in that graph is a real one: some import order reaches a half-initialised module.

Two tests are stricter and count imports inside functions too: the stats, API, admin and checks
modules have no cycle even so, and the lower layers (settings, codec, stats, features) do not
import the upper ones (API, admin, checks) at all.

That importing ``reznet_ws.codec`` loads no Django is tested in tests/test_codec_purity.py.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import reznet_ws

PACKAGE = Path(reznet_ws.__file__).resolve().parent
ROOT = PACKAGE.parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(nodes: list[ast.stmt], *, in_functions: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Yield the import statements that run when the module runs (and, if asked, in functions)."""
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if in_functions:
                yield from _imports(node.body, in_functions=True)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _imports(node.orelse, in_functions=in_functions)
        else:  # if / try / with / for / class bodies run at import
            yield from _imports(_child_statements(node), in_functions=in_functions)


def _child_statements(node: ast.stmt) -> list[ast.stmt]:
    children: list[ast.stmt] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.stmt):
            children.append(child)
        elif isinstance(child, (ast.ExceptHandler, ast.match_case)):
            children.extend(child.body)
    return children


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """Yield the reznet_ws modules ``node`` (in ``module``) imports, by name."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    if node.level:
        is_package = MODULES[module].name == "__init__.py"
        base = module.split(".")
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        source = ".".join([*base, node.module] if node.module else base)
    else:
        source = node.module or ""
    for alias in node.names:
        submodule = f"{source}.{alias.name}"
        yield submodule if submodule in MODULES else source


def _with_packages(module: str, target: str) -> Iterator[str]:
    """Yield ``target`` and the packages its import runs, minus those that contain ``module``."""
    parts = target.split(".")
    for end in range(1, len(parts) + 1):
        name = ".".join(parts[:end])
        contains_module = module == name or module.startswith(name + ".")
        if name in MODULES and not contains_module:
            yield name


def import_graph(*, in_functions: bool = False) -> dict[str, set[str]]:
    """Return module -> the reznet_ws modules it imports (see the module docstring)."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        edges: set[str] = set()
        for node in _imports(tree.body, in_functions=in_functions):
            for target in _targets(module, node):
                edges.update(_with_packages(module, target))
        edges.discard(module)
        graph[module] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return one cycle (``[a, b, ..., a]``) per strongly connected component that has one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(node: str) -> None:  # Tarjan
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))
    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_in(graph, component) for component in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:  # shortest path from start back to start, inside the component
        node = queue.pop(0)
        for nxt in sorted(graph[node] & component):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError("a strongly connected component without a cycle")


def test_the_graph_is_read() -> None:
    graph = import_graph()
    assert "reznet_ws.stats.types" in graph["reznet_ws.stats.backends"]
    assert "reznet_ws.api.views" in graph["reznet_ws.api.urls"]
    assert "reznet_ws.api" not in graph["reznet_ws.api.urls"]  # its own package: being imported
    assert "reznet_ws.stats" in graph["reznet_ws.api.views"]  # from ..stats import get_stats
    assert "reznet_ws.stats.prometheus" in graph["reznet_ws.api.views"]


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_cycles_through_lazy_imports_in_the_stats_and_api_layers() -> None:
    """The stats, API, admin and checks modules import each other one way, even in functions."""
    own = ("reznet_ws.stats", "reznet_ws.api", "reznet_ws.admin", "reznet_ws.checks")
    graph = {
        module: {t for t in targets if _in(t, own)}
        for module, targets in import_graph(in_functions=True).items()
        if _in(module, own)
    }
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


LOWER = ("reznet_ws.conf", "reznet_ws.codec", "reznet_ws.stats", "reznet_ws.features")
UPPER = ("reznet_ws.api", "reznet_ws.admin", "reznet_ws.checks")


def _in(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_lower_layers_never_import_upper_ones() -> None:
    graph = import_graph(in_functions=True)
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if _in(module, LOWER)
        for target in targets
        if _in(target, UPPER)
    )
    assert not wrong, "imports that point up:\n" + "\n".join(wrong)


HEAVY = {
    "django",
    "channels",
    "daphne",
    "twisted",
    "autobahn",
    "rest_framework",
    "redis",
    "channels_redis",
}


def test_importing_the_package_is_cheap() -> None:
    script = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import reznet_ws\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded = set(result.stdout.split())
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}
    assert {m for m in loaded if m.startswith("reznet_ws")} == {"reznet_ws"}

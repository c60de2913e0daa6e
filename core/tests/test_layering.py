"""parlay's modules depend on each other one way: the graph of their imports has no cycle.

Every import statement counts, at module level or inside a function (an import deferred into a function
still ties the two modules together); imports under `if TYPE_CHECKING:` do not, since they never run.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import parlay

SOURCE = Path(parlay.__file__).parent

#: The root package resolves its exports through a lazy `__getattr__` on first use. It is the facade over
#: every layer, not a layer: counting its exports would make each module that says `import parlay` (the CLI,
#: the conformance kit) depend on the whole API, a cycle no import ever runs. It is left out of the graph.
FACADES = {"parlay"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_statements(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of `tree`, less the bodies of `if TYPE_CHECKING:` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_names(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The dotted names an import statement may load: `from a import b` may load module `a.b`, else `a`."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:  # relative: from the module's package, up `level - 1` packages
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = ".".join([*package[: len(package) - node.level + 1], *filter(None, [node.module])])
    return [f"{base}.{alias.name}" for alias in node.names]


def import_graph() -> dict[str, set[str]]:
    """parlay module -> the parlay modules it imports."""
    paths = {module_name(path): path for path in SOURCE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        if module in FACADES:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        targets = graph[module] = set()
        for node in runtime_statements(tree):
            for name in imported_names(node, module, path.name == "__init__.py"):
                while name and name not in paths:  # `from a.b import c` where c is not a module imports a.b
                    name = name.rpartition(".")[0]
                if name and name not in FACADES and name != module:
                    targets.add(name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a path that ends where it starts, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph.get(node, ())):
            cycle = visit(target, path)
            if cycle:
                return cycle
        path.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def test_parlay_imports_have_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


def test_the_graph_sees_every_module_and_every_runtime_import():
    graph = import_graph()
    assert "parlay.dataflow.kernel" in graph and "parlay.executors.threads" in graph
    assert "parlay.dataflow.kernel" in graph["parlay.dataflow.loader"]  # at module level
    assert "parlay.plugins.manager" in graph["parlay.dataflow.kernel"]  # inside a function
    assert "parlay.dataflow.current" in graph["parlay.apps"]  # `from parlay.dataflow import current`
    assert "parlay.errors" in graph["parlay.dataflow.current"]  # `from parlay.errors import SomeError`
    assert "parlay.dataflow.kernel" not in graph["parlay.dataflow.taskrecord"]  # under TYPE_CHECKING only


def test_find_cycle_returns_the_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_relative_imports_resolve_from_the_package():
    (node,) = ast.parse("from ..errors import ParlayError").body
    assert imported_names(node, "parlay.dataflow.kernel", is_package=False) == ["parlay.errors.ParlayError"]
    (node,) = ast.parse("from . import current").body
    assert imported_names(node, "parlay.dataflow", is_package=True) == ["parlay.dataflow.current"]

"""Layering, checked over the imports of app/ (parsed with ast, nothing imported or run).

Every read of STIX content goes through ``app.sharing.reads``, which builds the visibility clause for the reader
itself: no other module may call the store's clause-taking functions or build a clause, so no route can hand
the store a clause of its own (issue 12).

And dependencies point one way, down the layers of ``LAYERS`` (issue 15): no part of app/ imports a part above it,
no import cycle closes anywhere, and nothing below the protocol imports FastAPI or Starlette. So the store, for
one, imports nothing from ``app.taxii``, which only parses and encodes."""

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"
READ_API = APP / "sharing" / "reads.py"
STORE_OBJECTS = "app.store.objects"
CLAUSE_TAKING = {"page", "visible_producers", "remove_from_collection"}
CLAUSE_BUILDERS = "app.sharing.visibility"


@functools.cache
def _modules() -> tuple[tuple[Path, ast.Module], ...]:
    """Every module of app/, parsed once per test process: the checks below only read the trees. Parsing the ~90
    files again in each of six tests made this module take 0.66 s alone; parsed once, 0.35 s."""
    return tuple((path, ast.parse(path.read_text(), filename=str(path))) for path in sorted(APP.rglob("*.py")))


def _imported(tree: ast.Module) -> Iterator[tuple[str, str | None, str]]:
    """(module, imported name or None, local alias) for every import in ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, alias.asname or alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                yield node.module, alias.name, alias.asname or alias.name


def _violations(path: Path, tree: ast.Module) -> list[str]:
    """Imports of clause-taking store functions or of clause builders, and calls of the former through a
    module alias (``object_store.page``)."""
    found, aliases = [], set()
    for module, name, local in _imported(tree):
        if module == CLAUSE_BUILDERS or (module == "app.sharing" and name == "visibility"):
            found.append(f"imports {CLAUSE_BUILDERS}")
        if module == STORE_OBJECTS and name in CLAUSE_TAKING:
            found.append(f"imports {STORE_OBJECTS}.{name}")
        if (module, name) in ((STORE_OBJECTS, None), ("app.store", "objects")):
            aliases.add(local)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr in CLAUSE_TAKING and isinstance(node.value, ast.Name)
                and node.value.id in aliases):
            found.append(f"calls {node.value.id}.{node.attr}")
    return [f"{path.relative_to(APP.parent)}: {what}" for what in found]


def test_only_the_read_api_builds_and_applies_visibility_clauses() -> None:
    allowed = {READ_API, APP / "sharing" / "visibility.py"}
    problems = [v for path, tree in _modules() if path not in allowed for v in _violations(path, tree)]
    assert problems == []


def test_the_edges_read_through_the_read_api() -> None:
    """The protocol, the admin API and the entry points do read content — through ``app.sharing.reads``."""
    trees = dict(_modules())
    edges = [p for p in trees if p.is_relative_to(APP / "taxii") or p.is_relative_to(APP / "admin")
             or p in (APP / "main.py", APP / "cli.py")]
    assert ("app.sharing", "reads") in {(m, n) for m, n, _ in _imported(trees[APP / "taxii" / "routes.py"])}
    assert edges and all(not _violations(p, trees[p]) for p in edges)


def test_the_checker_sees_a_violation() -> None:
    """The checks above would notice a route that applies a clause of its own."""
    route = ast.parse("from app.store import objects as s\nfrom app.sharing.visibility import visible_to\n"
                      "s.page(c, 'x', f, visible_to(None, public_collection=True))\n")
    assert len(_violations(APP / "taxii" / "routes.py", route)) == 2


# ------------------------------------------------------------------ the layers: one direction of dependencies

# Top to bottom. A part of app/ (a package, or a module at the top of app/) may import only parts listed after it:
# the face (entry points, admin API) → jobs → the TAXII protocol → domain services → the store → STIX → the base.
# The domain services are ordered too (an admission publishes into the directory through ``sharing``, a post is
# routed into feeds), and so is the face. ``app`` itself is the package root (its version).
LAYERS = (
    ("face", ("cli", "main", "openapi", "admin")),
    ("jobs", ("jobs", "mirroring")),
    ("protocol", ("taxii",)),
    ("domain", ("ingest", "feeds", "participants", "sharing", "audit")),
    ("store", ("store",)),
    ("stix", ("stix",)),
    # observability (metrics, logs) sits in the base, above config: every layer may count and log
    ("base", ("observability", "config", "shipped", "errors", "app")),
)
RANK = {part: rank for rank, part in enumerate(p for _, parts in LAYERS for p in parts)}
LAYER = {part: layer for layer, parts in LAYERS for part in parts}


def _module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _target(module: str, name: str | None) -> str:
    """The module an import reaches: ``from app.x import y`` is module app.x.y when that is a module."""
    if name is not None:
        candidate = APP.parent.joinpath(*f"{module}.{name}".split("."))
        if candidate.is_dir() or candidate.with_suffix(".py").is_file():
            return f"{module}.{name}"
    return module


def _app_imports(path: Path, tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, imported app module) for every import in ``tree``: at the top, inside functions and under
    ``if TYPE_CHECKING:`` alike (ast.walk visits them all); relative imports resolved against ``path``."""
    package = _module_name(path).split(".")[: None if path.name == "__init__.py" else -1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "app" or alias.name.startswith("app."):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                module = ".".join([*package[: len(package) - node.level + 1], *filter(None, [module])])
            if module == "app" or module.startswith("app."):
                for alias in node.names:
                    yield node.lineno, _target(module, alias.name)


def _part(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def _graph(modules: list[tuple[Path, ast.Module]]) -> dict[str, dict[str, str]]:
    """module → {imported app module → where: 'app/x.py:LINE'}."""
    graph: dict[str, dict[str, str]] = {}
    for path, tree in modules:
        edges = graph.setdefault(_module_name(path), {})
        for line, target in _app_imports(path, tree):
            edges.setdefault(target, f"{path.relative_to(APP.parent)}:{line}")
    return graph


def _upward(graph: dict[str, dict[str, str]]) -> list[str]:
    problems = []
    for module, edges in sorted(graph.items()):
        source = _part(module)
        for target, where in sorted(edges.items()):
            destination = _part(target)
            if source == destination:
                continue
            if source not in RANK or destination not in RANK:
                problems.append(f"{where}: {module} imports {target}: add "
                                f"{source if source not in RANK else destination!r} to LAYERS in tests/test_layers.py")
            elif RANK[source] > RANK[destination]:
                problems.append(f"{where}: {module} imports {target}, but {source} ({LAYER[source]}) sits below "
                                f"{destination} ({LAYER[destination]}): dependencies point down only")
    return problems


def _cycles(graph: dict[str, dict[str, str]]) -> list[str]:
    """One import cycle per strongly connected set of modules, spelled with where each import is."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[str] = []

    def visit(module: str) -> None:  # Tarjan; app/ is a few hundred edges deep at most
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph.get(module, {}):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            members = []
            while (member := stack.pop()) != module:
                members.append(member)
            members.append(module)
            if len(members) > 1 or module in graph[module]:
                found.append(" ; ".join(f"{graph[m][t]}: {m} imports {t}" for m in sorted(members)
                                        for t in sorted(graph[m]) if t in members))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_dependencies_point_down_the_layers() -> None:
    problems = _upward(_graph(list(_modules())))
    assert not problems, "imports against the layers (see LAYERS):\n" + "\n".join(problems)


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph(list(_modules())))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_every_part_of_app_has_a_layer() -> None:
    parts = {_part(_module_name(path)) for path, _ in _modules()}
    assert parts <= set(RANK), f"not in LAYERS: {sorted(parts - set(RANK))}"


def test_the_layer_checker_sees_violations() -> None:
    """An upward import, one inside a function or under TYPE_CHECKING, and a cycle are all caught."""
    store = ast.parse("from app.sharing.rules import Audience\n")
    stix = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from app.store import objects\n")
    config = ast.parse("def f():\n    from app.taxii.errors import TaxiiError\n")
    graph = _graph([(APP / "store" / "x.py", store), (APP / "stix" / "x.py", stix), (APP / "config.py", config)])
    assert [p.split(":")[0] for p in _upward(graph)] == ["app/config.py", "app/stix/x.py", "app/store/x.py"]
    cycle = _graph([(APP / "feeds" / "definitions.py", ast.parse("from app.feeds import registry\n")),
                    (APP / "feeds" / "registry.py", ast.parse("import app.feeds.definitions\n"))])
    assert len(_cycles(cycle)) == 1


def _absolute_imports(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def test_nothing_below_the_protocol_knows_http_frameworks() -> None:
    """Domain code raises ``app.errors`` refusals and takes plain values; FastAPI and Starlette stay at the edge."""
    problems = [f"{path.relative_to(APP.parent)}: imports {module}" for path, tree in _modules()
                if RANK.get(_part(_module_name(path)), 0) > RANK["taxii"] for module in _absolute_imports(tree)
                if module.split(".")[0] in ("fastapi", "starlette")]
    assert problems == []

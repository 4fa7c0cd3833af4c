"""Layering, checked over the imports of app/ (parsed with ast, nothing imported or run).

Every read of STIX content goes through ``app.sharing.reads``, which builds the visibility clause for the reader
itself: no other module may call the store's clause-taking functions or build a clause, so no route can hand
the store a clause of its own (issue 12). And the store sits below the protocol: it imports nothing from
``app.taxii``, which only parses and encodes."""

import ast
from collections.abc import Iterator
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"
READ_API = APP / "sharing" / "reads.py"
STORE_OBJECTS = "app.store.objects"
CLAUSE_TAKING = {"page", "visible_producers", "remove_from_collection"}
CLAUSE_BUILDERS = "app.sharing.visibility"


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(APP.rglob("*.py")):
        yield path, ast.parse(path.read_text(), filename=str(path))


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
    edges = [p for p, _ in _modules() if p.is_relative_to(APP / "taxii") or p.is_relative_to(APP / "admin")
             or p in (APP / "main.py", APP / "cli.py")]
    routes = ast.parse((APP / "taxii" / "routes.py").read_text())
    assert ("app.sharing", "reads") in {(m, n) for m, n, _ in _imported(routes)}
    assert edges and all(not _violations(p, ast.parse(p.read_text())) for p in edges)


def test_the_store_imports_nothing_from_the_protocol() -> None:
    problems = [f"{path.relative_to(APP.parent)}: {module}" for path, tree in _modules()
                if path.is_relative_to(APP / "store") for module, _, _ in _imported(tree)
                if module == "app.taxii" or module.startswith("app.taxii.")]
    assert problems == []


def test_the_checker_sees_a_violation() -> None:
    """The checks above would notice a route that applies a clause of its own."""
    route = ast.parse("from app.store import objects as s\nfrom app.sharing.visibility import visible_to\n"
                      "s.page(c, 'x', f, visible_to(None, public_collection=True))\n")
    assert len(_violations(APP / "taxii" / "routes.py", route)) == 2

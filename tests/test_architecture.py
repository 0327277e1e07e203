"""The module structure, checked from the source (AST): imports at module level, no cycles, no private
names borrowed across modules.

A function-level import is how a cycle hides (the import runs late, after both modules are loaded), so
every import in `connector/` is at module level except the few lazy imports of optional or heavy
libraries listed in `LAZY_IMPORTS` with their reason, and those the start-up of the command line needs by
rule (`lazy_by_rule`); the module graph drawn by every import, late ones included, has no cycle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "connector"

# what a layer must not import (docs/architecture.md, "Layers"): the domain is pure, adapters know no use
# case, the store serves the services, and only the entry points know the composition root
ENTRY_POINTS = {"bootstrap", "cli", "web", "scheduler", "sandbox"}
FORBIDDEN = {
    "domain": "everything",
    "sources": {"ledgers", "store", "service", *ENTRY_POINTS},
    "ledgers": {"sources", "store", "service", *ENTRY_POINTS},
    "store": {"service", *ENTRY_POINTS},
    "service": ENTRY_POINTS,
    "metrics": "everything",  # instruments every layer counts into
}

# (module file, top-level package imported inside a function) → why it is imported late
LAZY_IMPORTS = {
    (
        "connector/ledgers/beancount/adapter.py",
        "beancount",
    ): "optional extra `tokenbooks[beancount]`, only to read back",
    ("connector/sources/focus_files.py", "pyarrow"): "heavy (about 0.3 s), only for Parquet FOCUS exports",
    (
        "connector/sources/warehouse/duckdb_engine.py",
        "duckdb",
    ): "heavy (about 0.2 s), only for `--engine duckdb`",
    (
        "connector/sources/warehouse/duckdb_engine.py",
        "pyarrow",
    ): "heavy (about 0.3 s), only for Parquet FOCUS exports",
    (
        "connector/sources/aws_cost_explorer.py",
        "boto3",
    ): "heavy (about 0.3 s), only when Cost Explorer is pulled",
    (
        "connector/sources/aws_cost_explorer.py",
        "botocore",
    ): "heavy, comes with boto3, only when Cost Explorer is pulled",
    ("connector/sources/warehouse/engines.py", "duckdb"): "heavy, only for a DuckDB warehouse source",
    ("connector/sources/warehouse/engines.py", "google"): "heavy (google-cloud-bigquery), only for BigQuery",
    ("connector/sources/warehouse/engines.py", "botocore"): "heavy, only for an Athena warehouse source",
    ("connector/sources/warehouse/engines.py", "cryptography"): "only for a Snowflake key-pair login",
    ("connector/sources/warehouse/engines.py", "snowflake"): "heavy, only for a Snowflake warehouse source",
    ("connector/tracing.py", "opentelemetry"): "optional extra `tokenbooks[otel]`; traces are off without it",
    # what `tokenbooks --help` must not load (tests/test_cli_imports.py): each where its command needs it
    ("connector/store/db.py", "alembic"): "heavy (about 0.5 s with mako), only when a store is opened",
    (
        "connector/sources/warehouse/choice.py",
        "connector",
    ): "the DuckDB reader (duckdb, sqlglot), only for a large FOCUS import",
    ("connector/bootstrap.py", "connector"): "the warehouse source (sqlglot), only where one is configured",
    ("connector/scheduler.py", "connector"): "the console server (uvicorn, Starlette), only for `serve`",
    ("connector/service/audit_files.py", "connector"): "the xlsx writer (openpyxl), only for a workbook",
}

# The command line starts with typer, rich and the ledger registry only (tests/test_cli_imports.py;
# docs/architecture.md, "Layers" and "Adding a ledger"), so two kinds of module import tokenbooks' own
# modules late by rule rather than one by one: a command-line module imports the composition root, the
# settings and the use cases inside the command that runs them; a ledger's registry entry and connection
# import its adapter and the SDK-bound modules inside `build` and the methods that reach the ledger.
LAZY_BY_RULE = re.compile(r"connector/cli/\w+\.py|connector/ledgers/\w+/(entry|connection)\.py")


def lazy_by_rule(path: str, module: str) -> bool:
    """Whether the module at `path` may import `module` inside a function by the start-up rule above."""
    return module.split(".")[0] == "connector" and LAZY_BY_RULE.fullmatch(path) is not None


# A ledger is one package, `connector/ledgers/<name>/`, reached through the registry (docs/architecture.md,
# "Adding a ledger"): outside its package only the registry imports it, and these, each with its reason.
LEDGER_REGISTRY = "connector/ledgers/registry.py"
LEDGER_IMPORTS = {
    (
        "connector/service/beancount_export.py",
        "beancount",
    ): "`tokenbooks export beancount` writes beancount's format whatever the ledger, with its writer",
    (
        "connector/cli/export.py",
        "beancount",
    ): "writes the exported file as the beancount ledger does (atomically)",
    (
        "connector/sandbox/demo.py",
        "quickbooks",
    ): "`tokenbooks demo` is a QuickBooks walk-through: it points the QuickBooks settings at its sandbox",
    (
        "bench/nightly_sync.py",
        "quickbooks",
    ): "the benchmark builds each ledger's adapter itself, on a manual clock",
    ("bench/nightly_sync.py", "xero"): "the benchmark builds each ledger's adapter itself, on a manual clock",
}


def ledger_packages() -> list[str]:
    """The registered ledgers' packages: each folder of `connector/ledgers/` with an `entry.py`."""
    return sorted(p.parent.name for p in (PACKAGE / "ledgers").glob("*/entry.py"))


def ledger_imports(tree: ast.AST, path: str, ledgers: list[str]) -> list[tuple[int, str]]:
    """(line, ledger) of each import, in the module at `path`, of a ledger package it is not part of."""
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for ledger in ledgers:
            package = f"connector.ledgers.{ledger}"
            inside = path.startswith(f"connector/ledgers/{ledger}/")
            if not inside and any(n == package or n.startswith(f"{package}.") for n in names):
                found.append((node.lineno, ledger))
                break
    return found


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (the Alembic migrations are scripts, not modules)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def function_level_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, imported module) of each import inside a function or method."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import):
                    found.extend((inner.lineno, alias.name) for alias in inner.names)
                elif isinstance(inner, ast.ImportFrom):
                    found.append((inner.lineno, "." * inner.level + (inner.module or "")))
    return found


def late_imports(tree: ast.AST, modules: dict[str, Path]) -> set[str]:
    """The package's modules that a module imports inside a function: they draw edges of the module graph
    too, so a cycle cannot hide in a late import."""
    late = [
        inner
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(node)
        if isinstance(inner, ast.Import | ast.ImportFrom)
    ]
    return module_imports(ast.Module(body=late, type_ignores=[]), modules)


def module_imports(tree: ast.Module, modules: dict[str, Path]) -> set[str]:
    """The package's modules that a module imports when it is loaded (`if TYPE_CHECKING:` excluded)."""
    found = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module in modules:
                found.add(node.module)
            found.update(
                f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules
            )
        elif isinstance(node, ast.With):  # imports under a warnings filter are still module level
            found.update(module_imports(ast.Module(body=node.body, type_ignores=[]), modules))
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def private_imports(tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, module, name) of each `from module import _name` (dunders such as `__version__` are public)."""
    return [
        (node.lineno, node.module or "", alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]


def test_imports_are_at_module_level_except_the_listed_lazy_ones():
    found = []
    for path in _modules().values():
        for line, module in function_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
            listed = (_relative(path), module.split(".")[0]) in LAZY_IMPORTS
            if not listed and not lazy_by_rule(_relative(path), module):
                found.append(f"{_relative(path)}:{line}: imports {module} inside a function")
    assert found == [], "move these imports to the top of their module (or break the cycle they hide):\n" + (
        "\n".join(found)
    )


def test_every_listed_lazy_import_is_still_there():
    """An entry left behind after the import moved would allow a new lazy import without a reason."""
    present = {
        (_relative(path), module.split(".")[0])
        for path in _modules().values()
        for _, module in function_level_imports(ast.parse(path.read_text(encoding="utf-8")))
    }
    assert set(LAZY_IMPORTS) <= present


def import_graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports, at module level or late (inside a function)."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[name] = module_imports(tree, modules) | late_imports(tree, modules)
    return graph


def test_the_package_has_no_import_cycle():
    assert cycles(import_graph()) == []


def layer(module: str) -> str:
    """`connector.service.sync` → `service`; `connector.metrics` → `metrics`."""
    return module.split(".")[1] if module.count(".") else module


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for module, imported in sorted(graph.items()):
        forbidden = FORBIDDEN.get(layer(module), set())
        for target in sorted(imported):
            other = layer(target)
            if other != layer(module) and (forbidden == "everything" or other in forbidden):
                found.append(f"{module} imports {target}")
    return found


def test_each_layer_imports_only_what_it_may():
    assert layer_violations(import_graph()) == []


@pytest.mark.parametrize("folder", ["connector", "tests", "bench"])
def test_no_private_name_is_imported_from_another_module(folder):
    found = [
        f"{_relative(path)}:{line}: from {module} import {name}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line, module, name in private_imports(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert found == [], "make these public (with a docstring) or move them where they are used:\n" + (
        "\n".join(found)
    )


def test_a_ledger_package_is_imported_only_by_the_registry_and_the_listed_exceptions():
    ledgers = ledger_packages()
    assert {"quickbooks", "xero", "beancount"} <= set(ledgers)
    found = [
        f"{_relative(path)}:{line}: imports connector.ledgers.{ledger}"
        for folder in ("connector", "bench")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if _relative(path) != LEDGER_REGISTRY
        for line, ledger in ledger_imports(
            ast.parse(path.read_text(encoding="utf-8")), _relative(path), ledgers
        )
        if (_relative(path), ledger) not in LEDGER_IMPORTS
    ]
    assert found == [], "reach the ledger through connector.ledgers.registry.LEDGERS:\n" + "\n".join(found)


def test_every_listed_ledger_import_is_still_there():
    for (module, ledger), why in LEDGER_IMPORTS.items():
        tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
        assert ledger_imports(tree, module, [ledger]), (
            f"{module} no longer imports {ledger} ({why}): unlist it"
        )


# ------------------------------------------------------------------------------ the checks can fail


def test_the_checks_find_what_they_look_for():
    """Each check, on a small source that breaks its rule, reports it (so a passing run means something)."""
    lazy = ast.parse("def f():\n    from connector.service import pull\n")
    assert function_level_imports(lazy) == [(2, "connector.service")]
    pull = {"connector.service.pull": Path("pull.py")}
    assert late_imports(lazy, pull) == {"connector.service.pull"}  # drawn in the graph the cycle check reads
    assert lazy_by_rule("connector/cli/sync.py", "connector.service.sync")
    assert lazy_by_rule("connector/ledgers/sage/entry.py", "connector.ledgers.sage.adapter")
    assert not lazy_by_rule("connector/ledgers/sage/entry.py", "sage_sdk")  # an SDK is its adapter's import
    assert not lazy_by_rule("connector/service/sync.py", "connector.ledgers.registry")
    assert not lazy_by_rule("connector/ledgers/sage/adapter.py", "connector.retrying")
    borrowed = ast.parse("from connector.cli.base import _period, __version__, period\n")
    assert private_imports(borrowed) == [(1, "connector.cli.base", "_period")]
    modules = {"a": Path("a.py"), "b": Path("b.py"), "c": Path("c.py")}
    assert module_imports(ast.parse("import a\nfrom b import x\nfrom os import path\n"), modules) == {
        "a",
        "b",
    }
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    graph = {
        "connector.domain.money": {"connector.store.db"},
        "connector.store.db": {"connector.domain.money"},
    }
    assert layer_violations(graph) == ["connector.domain.money imports connector.store.db"]
    reaching = ast.parse(
        "import os\nfrom connector.ledgers.xero.oauth import XeroOAuth\nimport connector.ledgers.sage\n"
    )
    assert ledger_imports(reaching, "connector/service/x.py", ["sage", "xero"]) == [(2, "xero"), (3, "sage")]
    assert ledger_imports(reaching, "connector/ledgers/xero/entry.py", ["xero"]) == []

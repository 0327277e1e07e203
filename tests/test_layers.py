"""The store stays behind its port: outside `connector/store/`, no module imports SQLAlchemy, SQLModel or the
tables, builds the SQL unit of work, or reaches for an engine or a session; services take a `Store`
(`connector/store/port.py`) and read records (`connector/store/records.py`).

The one exception is the composition root (`connector/bootstrap.py`), which builds the SQL store from an
engine and hands `app.store` to everything else.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "connector"
FORBIDDEN_IMPORTS = ("sqlalchemy", "sqlmodel", "connector.store.tables")
PUBLIC = ("port", "records", "common", "urls", "__init__")  # what others may import (urls: for the settings)


def _sql_store_modules() -> set[str]:
    """The store's SQL side: every module of `connector/store/` but its public face (`PUBLIC`); only
    the composition root and the store itself import them."""
    found = {f"connector.store.{p.stem}" for p in (PACKAGE / "store").glob("*.py") if p.stem not in PUBLIC}
    return found | {"connector.store.migrations"}


SQL_STORE_MODULES = _sql_store_modules()

# The composition root builds the engine and the SQL store and hands `app.store` to everything else: it may
# import the store's SQL side (never SQLAlchemy itself), and its `App.engine` stays for admin tasks and tests.
COMPOSITION_ROOT = "connector/bootstrap.py"


def leaks(path: Path) -> list[str]:
    """What in `path` reaches past the store's port, as `line: what`."""
    return leaks_in(path.read_text(), path)


def leaks_in(source: str, path: Path) -> list[str]:
    root = str(path.relative_to(ROOT)) == COMPOSITION_ROOT
    found = []
    for node in ast.walk(ast.parse(source, str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name.startswith(FORBIDDEN_IMPORTS) or (name in SQL_STORE_MODULES and not root):
                found.append(f"{node.lineno}: imports {name}")
        if isinstance(node, ast.Attribute) and _reaches_sql(node) and not root:
            found.append(f"{node.lineno}: uses .{node.attr}")
    return found


def _reaches_sql(node: ast.Attribute) -> bool:
    """`x.engine` (the database itself), or `uow.session` (the SQL unit of work's session)."""
    if node.attr == "engine":
        return True
    return node.attr == "session" and isinstance(node.value, ast.Name) and node.value.id == "uow"


def modules_outside_the_store() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if PACKAGE / "store" not in p.parents)


@pytest.mark.parametrize(
    "path", modules_outside_the_store(),
    ids=lambda p: str(p.relative_to(ROOT)),
)  # fmt: skip
def test_a_converted_module_reaches_the_store_only_through_its_port(path):
    assert leaks(path) == [], f"{path.relative_to(ROOT)} reaches past connector/store/port.py"


@pytest.mark.parametrize("name", ["port.py", "records.py"])
def test_the_port_and_the_records_import_no_sql(name):
    tree = ast.parse((PACKAGE / "store" / name).read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert [m for m in imported if m.startswith(("sqlalchemy", "sqlmodel", "connector.store."))
            and m not in ("connector.store.records",)] == []  # fmt: skip


def test_a_leak_is_seen_whatever_its_form():
    module = ROOT / "connector" / "service" / "leaky_example.py"  # judged as a service would be
    source = (
        "from sqlalchemy import select\nimport sqlmodel\nfrom connector.store.tables import FactRow\n"
        "from connector.store.unit_of_work import UnitOfWork\n"
        "def f(app, uow):\n    app.engine\n    uow.session.exec(select(FactRow))\n"
    )
    found = leaks_in(source, module)
    assert [line.split(": ")[1] for line in found] == [
        "imports sqlalchemy",
        "imports sqlalchemy.select",
        "imports sqlmodel",
        "imports connector.store.tables",
        "imports connector.store.tables.FactRow",
        "imports connector.store.unit_of_work",
        "uses .engine",
        "uses .session",
    ]

"""Toybooks' registry entry: account references look like `T-5010`, no extras, one ledger per process, its
settings section `TOKENBOOKS_TOYBOOKS__*`, and its OAuth connection (`connection.py`)."""

from __future__ import annotations

from typing import Any

from connector.domain.ledger_targets import TargetShape
from connector.ledgers.registry_types import LedgerEntry
from tests.ledgers.toybooks.adapter import ToybooksLedger
from tests.ledgers.toybooks.connection import CONNECTION
from tests.ledgers.toybooks.settings import ToybooksSettings

TARGET = TargetShape(
    ledger="toybooks",
    title="Toybooks",
    account_pattern=r"^T-\d{4}$",
    account_example="write e.g. `T-5010`",
    schema={"description": "A Toybooks account, e.g. T-5010."},
)
BOOKS: dict[str, ToybooksLedger] = {}  # the books of each entity, so a test can look inside


def build(app: Any, entity: str) -> ToybooksLedger:
    section = app.settings.ledger("toybooks", ToybooksSettings)
    return BOOKS.setdefault(entity, ToybooksLedger(section.company))


ENTRY = LedgerEntry(TARGET, build, settings=ToybooksSettings, connection=CONNECTION)

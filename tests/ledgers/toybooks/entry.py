"""Toybooks' registry entry: account references look like `T-5010`, no extras, one ledger per process."""

from __future__ import annotations

from typing import Any

from connector.domain.ledger_targets import TargetShape
from connector.ledgers.registry_types import LedgerEntry
from tests.ledgers.toybooks.adapter import ToybooksLedger

TARGET = TargetShape(
    ledger="toybooks",
    title="Toybooks",
    account_pattern=r"^T-\d{4}$",
    account_example="write e.g. `T-5010`",
    schema={"description": "A Toybooks account, e.g. T-5010."},
)
BOOKS: dict[str, ToybooksLedger] = {}  # the books of each entity, so a test can look inside


def build(_app: Any, entity: str) -> ToybooksLedger:
    return BOOKS.setdefault(entity, ToybooksLedger())


ENTRY = LedgerEntry(TARGET, build)

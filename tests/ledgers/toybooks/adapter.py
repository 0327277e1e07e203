"""Toybooks' adapter: the ledger port over the in-memory ledger, with its own chart of accounts."""

from __future__ import annotations

from connector.domain.chart import LedgerAccount
from connector.ledgers.memory import MemoryLedger

CHART = [
    LedgerAccount("1", "AI COGS", "T-5010", "Expense"),
    LedgerAccount("2", "AI R&D", "T-6010", "Expense"),
    LedgerAccount("3", "AI S&M", "T-6110", "Expense"),
    LedgerAccount("4", "AI G&A", "T-6210", "Expense"),
    LedgerAccount("5", "Accrued AI costs", "T-2150", "Liability"),
    LedgerAccount("6", "Suspense", "T-9990", "Expense"),
]


class ToybooksLedger(MemoryLedger):
    name = "toybooks"

    def __init__(self, company: str) -> None:
        super().__init__(CHART)
        self.company = company  # from its settings section (TOKENBOOKS_TOYBOOKS__COMPANY)

"""QuickBooks' registry entry: how a mapping names a QuickBooks target, which accounts it refuses on a journal
line, and how the composition root builds the adapter for an entity from `TOKENBOOKS_QUICKBOOKS__*`. The adapter
(and python-quickbooks under it) is imported when `build` runs, not with the registry
(`connector/ledgers/registry.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.domain.ledger_targets import TargetShape
from connector.ledgers.quickbooks.connection import CONNECTION
from connector.ledgers.quickbooks.settings import QuickBooksSettings
from connector.ledgers.registry_types import LedgerEntry

if TYPE_CHECKING:
    from connector.domain.chart import LedgerAccount
    from connector.ledgers.quickbooks.adapter import QuickBooksLedger

# QuickBooks wants a vendor on an A/P line and a customer on an A/R line (JournalEntryLineDetail.Entity),
# and tokenbooks' journals name neither (erps.md).
NEEDS_A_NAME = {"Accounts Payable": "a vendor", "Accounts Receivable": "a customer"}


def refuses_account(account: LedgerAccount) -> str:
    if account.type in NEEDS_A_NAME:
        return (
            f"is an {account.type} account: QuickBooks refuses a journal line on it without "
            f"{NEEDS_A_NAME[account.type]}, and tokenbooks' journals name none"
        )
    return ""


TARGET = TargetShape(
    ledger="quickbooks",
    title="QuickBooks",
    extras=("class", "department"),
    schema={
        "description": "A QuickBooks account, or {account, class, department}.",
        "properties": {"class": {"type": "string"}, "department": {"type": "string"}},
    },
    refuses_account=refuses_account,
)


def build(app: Any, entity: str) -> QuickBooksLedger:
    """The adapter for `entity` (`app` is the composition root, `bootstrap.App`)."""
    from connector.ledgers.quickbooks.adapter import QuickBooksLedger, quickbooks_pacer
    from connector.retrying import RetryPolicy

    qbo = app.settings.ledger("quickbooks", QuickBooksSettings)
    return QuickBooksLedger(
        base_url=qbo.base_url,
        tokens=app.tokens("quickbooks", entity, app.oauth("quickbooks").refresh),
        minorversion=qbo.minorversion,
        timeout=qbo.timeout_seconds,
        retry=RetryPolicy(qbo.max_retries + 1, sleep=app.sleep, throttle_budget=qbo.throttle_budget_seconds),
        batch_size=qbo.batch_size,
        max_lines=qbo.max_lines_per_journal,
        pacer=quickbooks_pacer(
            requests_per_minute=qbo.requests_per_minute,
            batches_per_minute=qbo.batches_per_minute,
            clock=app.monotonic,
            sleep=app.sleep,
        ),
    )


ENTRY = LedgerEntry(TARGET, build, settings=QuickBooksSettings, connection=CONNECTION)

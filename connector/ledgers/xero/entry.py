"""Xero's registry entry: how a mapping names a Xero target (an account code and up to two tracking
options), which accounts it refuses on a manual journal line, and how the composition root builds the
adapter for an entity from `TOKENBOOKS_XERO__*`. The adapter (and xero-python under it) is imported when
`build` runs, not with the registry (`connector/ledgers/registry.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.domain.ledger_targets import TargetShape
from connector.ledgers.registry_types import LedgerEntry
from connector.ledgers.xero.connection import CONNECTION
from connector.ledgers.xero.limits import NOT_JOURNALABLE
from connector.ledgers.xero.settings import XeroSettings

if TYPE_CHECKING:
    from connector.domain.chart import LedgerAccount
    from connector.ledgers.xero.adapter import XeroLedger


def refuses_account(account: LedgerAccount) -> str:
    """Xero refuses manual journal lines on system accounts (AR, AP, retained earnings …), bank and
    inventory accounts (erps.md); the adapter checks the same before sending."""
    if account.system:
        return f"is a Xero system account ({account.system}): Xero refuses it on manual journal lines"
    if account.type in NOT_JOURNALABLE:
        return f"is {NOT_JOURNALABLE[account.type]}: Xero refuses it on manual journal lines"
    return ""


TARGET = TargetShape(
    ledger="xero",
    title="Xero",
    extras=("tracking",),
    max_tracking=2,
    schema={
        "description": "A Xero account code, or {account, tracking: {Category: Option}} (two at most).",
        "properties": {
            "tracking": {"type": "object", "maxProperties": 2, "additionalProperties": {"type": "string"}}
        },
    },
    inactive_word="archived",
    refuses_account=refuses_account,
)


def build(app: Any, entity: str) -> XeroLedger:
    """The adapter for `entity` (`app` is the composition root, `bootstrap.App`)."""
    from connector.ledgers.xero.adapter import XeroLedger
    from connector.retrying import RetryPolicy

    xero = app.settings.ledger("xero", XeroSettings)
    oauth = app.oauth("xero")
    tokens = app.tokens("xero", entity, oauth.refresh)
    tenant_id = xero.tenant_id or tokens.current().company_id
    return XeroLedger(
        base_url=xero.base_url,
        tokens=tokens,
        client_id=oauth.client_id,
        client_secret=oauth.client_secret,
        tenant_id=tenant_id,
        timeout=xero.timeout_seconds,
        retry=RetryPolicy(xero.max_retries + 1, sleep=app.sleep),
        limiter=app.rate_limiter("xero", tenant_id),
    )


ENTRY = LedgerEntry(TARGET, build, settings=XeroSettings, connection=CONNECTION)

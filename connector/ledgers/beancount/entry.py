"""Beancount's registry entry: a mapping names beancount accounts directly (beancount's grammar), the file
opens any account on first use, and the composition root builds the file ledger for an entity under the
data directory. The file ledger is imported when `build` runs, not with the registry
(`connector/ledgers/registry.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.domain.ledger_targets import TargetShape
from connector.ledgers.registry_types import LedgerEntry

if TYPE_CHECKING:
    from connector.ledgers.beancount.adapter import BeancountLedger

TARGET = TargetShape(
    ledger="beancount",
    title="beancount",
    # a root, then components starting with a capital or a digit (beancount's grammar)
    account_pattern=r"^(Assets|Liabilities|Equity|Income|Expenses)(:[A-Z0-9][A-Za-z0-9-]*)+$",
    account_example="write e.g. `Expenses:AI:COGS` (a root, then capitalised components joined by ':')",
    extras=("tracking",),  # carried as posting metadata
    max_tracking=2,
    schema={
        "description": "A beancount account name (e.g. Expenses:AI:COGS), or {account, tracking} (two at most).",
        "properties": {
            "tracking": {"type": "object", "maxProperties": 2, "additionalProperties": {"type": "string"}}
        },
    },
    opens_accounts=True,
)


def build(app: Any, entity: str) -> BeancountLedger:
    """The file ledger for `entity` (`app` is the composition root, `bootstrap.App`)."""
    from connector.ledgers.beancount.adapter import BeancountLedger, BeancountNames

    mapping = app.mapping()[0]
    company = mapping.entity(entity)
    return BeancountLedger(
        app.data_path("ledgers", f"{entity}.beancount"),
        title=f"{company.name}: AI spend booked by tokenbooks",
        currency=company.currency,
        opened_on=mapping.effective_from,
        names=BeancountNames.from_mapping(mapping, "beancount"),
    )


ENTRY = LedgerEntry(TARGET, build)

"""Export: a period's posted journals as a beancount file, for plain-text accountants and auditors.

What is exported is what tokenbooks *posted* (the outbox, status `posted`): each journal with its key, memo,
lines and where the ledger holds it (the QuickBooks / Xero id), the mapping's account roles under readable
beancount names, and a balance assertion per account on the first day after the period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from connector.domain.mapping import MappingSet
from connector.domain.periods import Period
from connector.ledgers.beancount.adapter import BeancountNames, Document, Posted, balances
from connector.store.port import Store


@dataclass(frozen=True, slots=True)
class BeancountExport:
    text: str
    journals: int
    balances: dict[tuple[str, str], Decimal]  # (account, currency) → the period's movement


def export_beancount(
    store: Store, mapping: MappingSet, *, entity: str, period: Period, now: datetime
) -> BeancountExport:
    company = mapping.entity(entity)
    with store.unit_of_work() as uow:
        stored = uow.outbox.list(
            entity, statuses=["posted"], first_day=period.first_day, last_day=period.last_day
        )
    names = BeancountNames.from_mapping(mapping, company.ledger)
    postings = [Posted(s.journal, s.ledger, s.ledger_id) for s in stored]
    document = Document(
        title=f"{company.name or entity}: AI spend {period}",
        currency=company.currency,
        opened_on=period.first_day,
        comments=(
            f"tokenbooks export of entity {entity} ({company.ledger}), period {period}: the {len(stored)} "
            f"journal(s) tokenbooks posted, as of {now:%Y-%m-%d %H:%M} UTC",
            f"mapping version {mapping.version} ({mapping.source}); account names stand for the mapping's roles",
            "check it with: bean-check <this file>",
        ),
        assert_on=period.next().first_day,
        postings=postings,
    )
    return BeancountExport(document.render(names), len(stored), balances(postings, names))

"""A golden month: October 2026 of the demo company, planned night by night, must give exactly the journals
stored in `golden/october.txt` (kind, key, date, lines, memo).

It pins the plan's output while the store is rebuilt behind a unit of work (issue 15): any change in what is
planned, or in how it is keyed and dated, shows here as a diff. The month uses the demo's provider data
(`connector/sandbox/demo_data.py`: nine projects, one unmapped, one day restated three days later), credits
sold and redeemed (revenue and breakage) and the provider's invoice, trued up in November.

To accept an intended change, run with `TOKENBOOKS_UPDATE_GOLDEN=1` and review the diff of the file.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from connector.domain.journals import as_text
from connector.sandbox.demo_data import DEMO_PERIOD, month_of_costs
from tests.service.books_world import BooksWorld, books_world

GOLDEN = Path(__file__).parent / "golden" / "october.txt"
SOLD = "s-1,globex,g-1,purchase,2026-10-01,12000.00,USD,api-credits,2026-11-15"
REDEEMED = (
    "r-1,globex,g-1,redemption,2026-10-12,3100.00,USD,api-credits,",
    "r-2,globex,g-1,redemption,2026-10-26,2450.50,USD,api-credits,",
)


def _october(world: BooksWorld) -> None:
    costs = month_of_costs()
    world.customer_credits(SOLD, *REDEEMED)
    for day in DEMO_PERIOD.days():
        for line in costs:  # what the provider answers on the night after `day`, restatement included
            if line.day <= day:
                world.source.set(str(line.amount_as_of(day)), line.day, line.project, line.line_item)
        world.night(day)
    world.invoice("INV-2026-10", "2026-10", "2026-11-03", _invoiced(costs))
    for day in (date(2026, 11, 1) + timedelta(days=n) for n in range(16)):
        world.night(day)


def _invoiced(costs) -> str:
    """The invoice: the exact cost of the month plus 12.34 the accruals never saw (a true-up)."""
    total = sum((line.amount_as_of(date(2026, 11, 3)) for line in costs), Decimal("12.34"))
    return f"{total:.2f}"


def _journals_as_text(world: BooksWorld) -> str:
    parts = []
    for journal in world.journals():
        memo = f"\n  memo: {journal.memo}" if journal.memo else ""
        moved = f"\n  moved from: {journal.original_date}" if journal.original_date else ""
        parts.append(as_text(journal) + memo + moved)
    return "\n\n".join(parts) + "\n"


def test_the_october_books_are_exactly_the_golden_journals(tmp_path):
    world = books_world(tmp_path)
    _october(world)
    text = _journals_as_text(world)
    if os.environ.get("TOKENBOOKS_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()

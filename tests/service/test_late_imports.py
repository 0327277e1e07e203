"""Provider data imported after its month was planned (a FOCUS export restated or delivered late) is booked
by the next nightly sync, whichever month that sync is in, in the first open period when its own is closed."""

from datetime import date, timedelta
from decimal import Decimal

from connector.domain.journals import JournalKind
from tests.service.books_world import books_world
from tests.sources.builders import FOCUS_COLUMNS, focus_row
from tests.support import FULL_MAPPING

BEDROCK_RULE = """\
  - id: bedrock
    when: {provider: aws}
    category: cogs
"""


def test_a_focus_export_restating_a_closed_month_is_booked_by_the_next_nightly_sync_on_the_first_open_day(
    tmp_path, database_url
):
    books = books_world(tmp_path, database_url=database_url)
    books.rewrite_mapping(FULL_MAPPING + BEDROCK_RULE)
    october = [focus_row("10.00", day=date(2026, 10, d), x_LineItemId=f"r{d}") for d in (1, 2, 3)]
    columns = [*FOCUS_COLUMNS, "x_LineItemId"]
    books.import_focus(october, columns)
    books.night(date(2026, 10, 31))
    assert sum(j.debit_total for j in books.journals(JournalKind.USAGE_ACCRUAL)) == Decimal("30.00")
    books.ledger.lock = date(2026, 10, 31)  # October is closed in the ledger
    books.night(date(2026, 11, 9))

    restated = [*october[:1], focus_row("14.50", day=date(2026, 10, 2), x_LineItemId="r2"), october[2]]
    books.clock.now += timedelta(hours=9)  # the next morning, AWS's November export restates 2 October
    books.import_focus(restated, columns)
    night = books.night(date(2026, 11, 10))

    [late] = [p.journal for p in night.plan.planned if p.journal.kind is JournalKind.USAGE_ACCRUAL]
    assert late.txn_date == date(2026, 11, 1)
    assert late.debit_total == Decimal("4.50")
    assert "closed through 2026-10-31" in late.memo
    assert books.night(date(2026, 11, 11)).plan.planned == []


def test_the_close_of_a_closed_month_names_what_was_booked_for_it_after_its_lock(tmp_path, database_url):
    """The controller re-reads October's close after November's corrections: its figures include the late
    restatement, so the checklist must say it sits in November's books (date, key, amount), or the close
    would not match October in the ledger."""
    from connector.domain.periods import Period
    from connector.service.close import close_month

    books = books_world(tmp_path, database_url=database_url)
    books.rewrite_mapping(FULL_MAPPING + BEDROCK_RULE)
    columns = [*FOCUS_COLUMNS, "x_LineItemId"]
    books.import_focus([focus_row("10.00", day=date(2026, 10, 2), x_LineItemId="r2")], columns)
    books.night(date(2026, 10, 31))
    books.ledger.lock = date(2026, 10, 31)
    books.clock.now += timedelta(days=9)
    books.import_focus([focus_row("14.50", day=date(2026, 10, 2), x_LineItemId="r2")], columns)
    books.night(date(2026, 11, 10))

    checklist = close_month(books.app, entity="acme-us", period=Period(2026, 10)).checklist
    [later] = checklist.booked_later
    assert (later.txn_date, later.original_date, later.amount, later.currency) == (
        date(2026, 11, 1),
        date(2026, 10, 2),
        Decimal("4.50"),
        "USD",
    )

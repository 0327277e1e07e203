"""`mappings check` against the ledger's chart (fetched, cached, offline), `preview` and `coverage`."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from connector.domain.errors import Retriable
from connector.domain.journals import JournalKind, as_text
from connector.domain.periods import Period
from connector.domain.planner import LedgerCalendar
from connector.service.mapping_preview import coverage_report, preview_mapping
from connector.service.mappings import check_mapping_file, load_history
from connector.store.unit_of_work import UnitOfWork
from tests.service.conftest import World
from tests.service.mapping_support import (
    ENG_TO_SALES,
    ENTITY,
    OCT5,
    OCT6,
    book_september,
    new_mapping,
    nightly,
)
from tests.support import CHART_ACCOUNTS, CHART_OPTIONS, MINIMAL_MAPPING, mapping

SEPTEMBER = Period(2026, 9)


@pytest.fixture
def sandbox_chart(world: World) -> World:
    world.ledger.accounts = list(CHART_ACCOUNTS)
    world.ledger.options = list(CHART_OPTIONS)
    return world


def check(world: World, text: str | None = None, **kw):
    path = world.mapping_path
    if text is not None:
        path = world.mapping_path.with_name("candidate.yaml")
        path.write_text(text)
    return check_mapping_file(world.app, path, **kw)


def test_the_chart_is_fetched_once_cached_with_its_time_and_refreshed_on_request(sandbox_chart: World):
    world = sandbox_chart
    first = check(world)
    assert first.ok
    assert first.charts == {ENTITY: "checked against the QuickBooks chart fetched now (18 accounts)"}
    reads = world.ledger.stats.read_calls
    second = check(world)
    assert second.charts == {ENTITY: "checked against the QuickBooks chart cached 2026-10-02 02:30 UTC"}
    assert world.ledger.stats.read_calls == reads  # the cache answered
    assert "fetched now" in check(world, refresh=True).charts[ENTITY]
    world.clock.now += timedelta(hours=25)  # older than TOKENBOOKS_CHART_MAX_AGE_HOURS
    assert "fetched now" in check(world).charts[ENTITY]


def test_offline_the_cached_chart_is_used_and_without_one_the_check_says_it_skipped_it(sandbox_chart: World):
    world = sandbox_chart
    skipped = check(world, offline=True)
    assert skipped.ok  # nothing wrong was found; the warning says what was not checked
    [warning] = skipped.problems
    assert not warning.is_error
    assert "were not checked against the ledger: no chart is cached yet" in warning.message
    check(world)  # fetch and cache
    world.ledger.accounts = [a for a in CHART_ACCOUNTS if a.number != "5010"]  # not seen offline
    assert check(world, offline=True).ok
    assert not check(world, refresh=True).ok


def test_an_unreachable_ledger_falls_back_to_the_cache_and_says_so(sandbox_chart: World):
    world = sandbox_chart
    check(world)

    def unreachable():
        raise Retriable("QuickBooks is unreachable (connection refused)")

    world.ledger.chart_of_accounts = unreachable
    report = check(world, refresh=True)
    assert report.ok
    assert "could not refresh it: QuickBooks is unreachable" in report.charts[ENTITY]


def test_missing_and_inactive_references_are_reported_with_file_line_and_fix(sandbox_chart: World):
    text = MINIMAL_MAPPING.replace('ai_cogs: {quickbooks: "5010"}', 'ai_cogs: {quickbooks: "5001"}').replace(
        "    category: rnd\n", "    category: rnd\n    quickbooks: {class: Legacy Tools}\n"
    )
    report = check(sandbox_chart, text)
    assert not report.ok
    path = sandbox_chart.mapping_path.with_name("candidate.yaml")
    assert [str(p).split(". Fix:")[0] for p in report.problems] == [
        f"{path}:7: roles.ai_cogs.quickbooks.account: account '5001' is not in the QuickBooks chart of accounts "
        "of acme-us (chart fetched 2026-10-02 02:30 UTC)",
        f"{path}:21: eng.quickbooks.class: class 'Legacy Tools' is inactive in QuickBooks (chart fetched "
        "2026-10-02 02:30 UTC); the ledger refuses it on new lines",
    ]
    assert "did you mean '5010 AI COGS'" in report.problems[0].fix


def test_check_refuses_a_changed_file_that_reuses_a_version_number(sandbox_chart: World):
    world = sandbox_chart
    nightly(world, OCT5)  # records version 1
    report = check(world, ENG_TO_SALES.replace("mapping_version: 2", "mapping_version: 1"))
    [problem] = [p for p in report.problems if p.is_error]
    assert problem.location == "1"
    assert "version 1 was already used for a different file" in problem.message
    assert check(world, ENG_TO_SALES).ok


# ------------------------------------------------------------------------------------------------ preview


def preview(world: World, candidate_text: str, period: Period = SEPTEMBER, lock: date | None = None):
    current, text = world.app.mapping()
    return preview_mapping(
        world.app.store,
        history=load_history(world.app.store, current, text),
        candidate=mapping(candidate_text, "candidate.yaml"),
        entity=ENTITY,
        period=period,
        calendar=LedgerCalendar(lock),
        clock=world.clock,
    )


def test_preview_shows_totals_side_by_side_and_exactly_the_reclass_the_sync_then_posts(world: World):
    book_september(world)
    with UnitOfWork(world.app.engine) as uow:
        outbox_before = len(uow.outbox.list(ENTITY))
    report = preview(world, ENG_TO_SALES)
    assert [(ln.target.key(), ln.category.value, ln.current, ln.candidate) for ln in report.lines] == [
        ("5010|class=Support Assistant", "cogs", Decimal("100.00"), Decimal("100.00")),
        ("6110", "rnd", Decimal("100.00"), Decimal("0.00")),
        ("6120", "sales_marketing", Decimal("0.00"), Decimal("100.00")),
    ]
    assert [p.journal.kind for p in report.journals] == [JournalKind.RECLASS, JournalKind.RECLASS]
    assert report.due_anyway == []
    assert report.notes == []
    with UnitOfWork(world.app.engine) as uow:
        assert len(uow.outbox.list(ENTITY)) == outbox_before  # a preview writes nothing
    previewed = [as_text(p.journal) for p in report.journals]

    new_mapping(world, ENG_TO_SALES)
    posted = nightly(world, OCT6).post.posted
    with UnitOfWork(world.app.engine) as uow:
        september = [as_text(uow.outbox.by_key(ENTITY, key).journal) for key in posted if "-2609" in key]
    assert september == previewed


def test_preview_dates_a_reclass_into_a_closed_month_on_the_first_open_day(world: World):
    book_september(world)
    [planned] = preview(world, ENG_TO_SALES, lock=date(2026, 9, 30)).journals
    assert planned.journal.txn_date == date(2026, 10, 1)
    assert "the books are closed through 2026-09-30" in planned.journal.memo


def test_preview_shows_the_unallocated_share_under_each_mapping_and_explains_a_change_that_changes_nothing(
    world: World,
):
    book_september(world)
    world.source.set("20.00", OCT5, project="proj_hackathon")
    nightly(world, OCT5)
    covering = ENG_TO_SALES + "  - id: hackathon\n    when: {project: proj_hackathon}\n    category: rnd\n"
    report = preview(world, covering, Period(2026, 10))
    [(before, after)] = zip(report.current_coverage, report.candidate_coverage, strict=True)
    assert (before.suspense, before.accuracy) == (Decimal("20.00"), Decimal("0.5556"))
    assert (after.suspense, after.accuracy) == (Decimal("0"), Decimal("1.0000"))
    future = preview(world, ENG_TO_SALES.replace("2026-09-01", "2026-12-01"))
    assert future.journals == []
    assert "after 2026-09: it changes nothing in this period" in future.notes[0]


def test_coverage_reports_the_share_mapped_and_the_largest_unmapped_spend(world: World):
    world.source.set("75.00", OCT5)
    world.source.set("20.00", OCT5, project="proj_hackathon")
    world.source.set("5.00", OCT5, project="proj_hackathon", line_item="other")
    nightly(world, OCT5)
    current, text = world.app.mapping()
    rows, unmapped = coverage_report(
        world.app.store,
        history=load_history(world.app.store, current, text),
        entity=ENTITY,
        period=Period(2026, 10),
        clock=world.clock,
    )
    assert [c.as_dict() for c in rows] == [
        {
            "provider": "openai",
            "period": "2026-10",
            "currency": "USD",
            "total": Decimal("100.00"),
            "mapped": Decimal("75.00"),
            "suspense": Decimal("25.00"),
            "accuracy": Decimal("0.7500"),
        }
    ]
    [pattern] = unmapped
    assert (pattern.describe(), pattern.amount, pattern.facts) == (
        "openai: project=proj_hackathon",
        Decimal("25.00"),
        2,
    )

"""The close checklist the overview and reconciliation pages show is stored after a run and read back while
the books are unchanged; any change to the books (an approval, a sync, an invoice) makes it stale, and the
page computes it again. What is stored reads back exactly as computed."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from starlette.testclient import TestClient

from connector.domain.close import (
    AccrualLine,
    Checklist,
    DeferredLine,
    HeldJournal,
    LotLine,
    checklist_data,
    checklist_from_data,
)
from connector.domain.periods import Period
from connector.service import console as reads
from connector.service.after_run import after_run
from connector.service.console import acting_as
from connector.service.sync import sync
from connector.store.unit_of_work import UnitOfWork
from tests.service.conftest import World
from tests.web.conftest import sign_in

OCTOBER = Period.parse("2026-10")


def test_a_checklist_reads_back_exactly_as_it_was_stored():
    checklist = Checklist(
        OCTOBER,
        accruals=[
            AccrualLine("openai", "org-1", "USD", Decimal("1234.567"), Decimal("-0.01"), Decimal(0), None)
        ],
        lots=[
            LotLine(
                "lot-1",
                "anthropic",
                "acme",
                "USD",
                Decimal("1000"),
                Decimal("250.00"),
                Decimal(0),
                Decimal("750.00"),
                date(2027, 1, 31),
                90,
            )
        ],
        deferred=[
            DeferredLine(
                "cust",
                "g-1",
                "api-credits",
                "EUR",
                Decimal("100000"),
                Decimal("60000"),
                Decimal("5217.39"),
                Decimal("34782.61"),
            )
        ],
        suspense={"USD": Decimal("12.3400")},
        held=[HeldJournal("TB-RC-261001-001", date(2026, 10, 1), "reclass", "a mapping change")],
        unposted=[HeldJournal("TB-AC-261002-001", date(2026, 10, 2), "usage_accrual", "failed")],
        reconciliation=[("openai", "org-1", "variance")],
        reconciliation_notes={("openai", "org-1"): "invoice ≠ posted (off by 3.00)"},
    )
    again = checklist_from_data(checklist_data(checklist))
    assert again == checklist
    assert again.accruals[0].accrued == Decimal("1234.567")  # exact digits, Decimal again
    assert [b.what for b in again.blockers] == [b.what for b in checklist.blockers]


def test_the_stored_checklist_is_read_until_the_books_change(client: TestClient, console_world: World):
    world = console_world
    world.app.settings = world.app.settings.model_copy(update={"ledger_mode": "approve"})
    ran_at = world.clock.now
    after_run(world.app, "acme-us")  # what the scheduler and the CLI do after each run
    world.clock.now += timedelta(hours=3)

    first, computed_at = reads.close_checklist(world.app, "acme-us", OCTOBER)
    assert computed_at == ran_at  # stored by the run, not computed by the page
    stamp = reads.books_stamp(world.app, "acme-us")
    with UnitOfWork(world.app.engine) as uow:  # the overview's spend by month too
        spend = uow.console_summaries.get("acme-us", "spend:2025-11..2026-10", stamp)
    assert spend is not None
    assert spend[0][-1] == ["2026-10", {**spend[0][-1][1], "AI COGS": "60.00", "R&D": "15.00"}, "75.00", []]
    sign_in(client, "ada")
    page = client.get("/reconciliation?period=2026-10").text
    assert f"Computed {ran_at:%Y-%m-%d %H:%M} UTC" in page
    assert "Checklist computed" in client.get("/").text

    world.source.set("7.00", date(2026, 10, 4))  # a sync holds a journal: the books changed
    world.clock.night_after(date(2026, 10, 4))
    sync(acting_as(world.app, "abe"), entity="acme-us", until=date(2026, 10, 4))
    held, computed_at = reads.close_checklist(world.app, "acme-us", OCTOBER)
    assert computed_at == world.clock.now  # stale: computed again
    assert [h.key for h in held.held] == ["TB-AC-261004-001"]
    assert [h.key for h in first.held] == []
    sign_in(client, "ada")  # a night later: the earlier session has ended
    assert "TB-AC-261004-001" in client.get("/reconciliation?period=2026-10").text

    assert reads.books_stamp(world.app, "acme-us") != stamp
    october = Period.parse("2026-10")
    assert reads.overview(world.app, "acme-us").months == reads.spend_by_month(
        world.app, "acme-us", Period.parse("2025-11"), october
    )  # the spend by month computed again, as the spend report has it now

    world.clock.now += timedelta(minutes=5)  # nothing changed: the same stored checklist
    assert reads.close_checklist(world.app, "acme-us", OCTOBER)[1] == computed_at

    from connector.service.approvals import approve

    approve(world.app.store, world.clock, entity="acme-us", target="TB-AC-261004-001", approver="april")
    released, computed_at = reads.close_checklist(world.app, "acme-us", OCTOBER)
    assert computed_at == world.clock.now  # an approval changes the books: computed again
    assert released.held == []
    with UnitOfWork(world.app.engine) as uow:
        stored = uow.console_summaries.get(
            "acme-us", "close:2026-10", reads.books_stamp(world.app, "acme-us")
        )
    assert stored is not None
    assert checklist_from_data(stored[0]) == released


def test_a_change_made_in_the_console_stores_the_summaries_again_before_the_next_page(
    client: TestClient, console_world: World
):
    world = console_world
    world.app.settings = world.app.settings.model_copy(update={"ledger_mode": "approve"})
    world.source.set("7.00", date(2026, 10, 4))
    world.clock.night_after(date(2026, 10, 4))
    sync(acting_as(world.app, "abe"), entity="acme-us", until=date(2026, 10, 4))  # holds a journal
    csrf = sign_in(client, "april")
    approved = client.post(
        "/journals/TB-AC-261004-001/approve", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert approved.status_code == 303
    stamp = reads.books_stamp(world.app, "acme-us")
    with UnitOfWork(world.app.engine) as uow:
        for name in ("close:2026-10", "close:2026-09", "spend:2025-11..2026-10"):
            found = uow.console_summaries.get("acme-us", name, stamp)
            assert found is not None, name  # stored with the approval's stamp: the next page reads it
    assert checklist_from_data(found_close(world, stamp)).held == []


def found_close(world: World, stamp: str):
    with UnitOfWork(world.app.engine) as uow:
        found = uow.console_summaries.get("acme-us", "close:2026-10", stamp)
    assert found is not None
    return found[0]


def test_a_held_journal_blocking_the_close_links_to_its_page(client: TestClient, console_world: World):
    world = console_world
    world.app.settings = world.app.settings.model_copy(update={"ledger_mode": "approve"})
    world.source.set("7.00", date(2026, 10, 4))
    world.clock.night_after(date(2026, 10, 4))
    sync(acting_as(world.app, "abe"), entity="acme-us", until=date(2026, 10, 4))
    sign_in(client, "ada")
    page = client.get("/reconciliation?period=2026-10").text
    assert '<a class="mono" href="/journals/TB-AC-261004-001">TB-AC-261004-001</a> (usage_accrual' in page


def test_two_pages_storing_the_same_summary_at_once_do_not_conflict(console_world: World):
    from datetime import UTC, datetime

    engine = console_world.app.engine
    first, second = UnitOfWork(engine), UnitOfWork(engine)
    with first as a, second as b:  # both saw no stored summary, both store one: the later one stands
        assert b.console_summaries.get("acme-us", "close:2026-10", "s2") is None
        a.console_summaries.save(
            "acme-us", "close:2026-10", {"n": 1}, "s1", datetime(2026, 10, 4, tzinfo=UTC)
        )
        a.commit()
        b.console_summaries.save(
            "acme-us", "close:2026-10", {"n": 2}, "s2", datetime(2026, 10, 5, tzinfo=UTC)
        )
        b.commit()
    with UnitOfWork(engine) as uow:
        assert uow.console_summaries.get("acme-us", "close:2026-10", "s1") is None
        assert uow.console_summaries.get("acme-us", "close:2026-10", "s2") == (
            {"n": 2},
            datetime(2026, 10, 5, tzinfo=UTC),
        )

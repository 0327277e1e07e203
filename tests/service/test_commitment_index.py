"""The commitment index: the poster and the sync find the audit chain's commitment of a journal or of a
provider day by key — reading those few events, not every commitment since the store began — and the sync
refuses to plan from a day whose facts differ from what the chain committed (an `UPDATE facts SET
amount=…` became a delta journal no provider answer explains, which the poster posted: it was freshly
committed). An index row edited by hand turns into a refusal, never into a pass."""

from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import event as sa_event

from connector.domain.audit_chain import COMMITTED
from connector.domain.journals import JournalKind
from connector.service.audit import unvouched, verify_chain
from connector.service.pull import pull_sources
from connector.service.status import service_status
from connector.service.sync import sync
from connector.store.tables import EventRow
from connector.store.unit_of_work import UnitOfWork
from tests.service.books_world import ENTITY, books_world, policies
from tests.service.conftest import World
from tests.service.test_audit import tamper
from tests.service.test_beancount import BEANCOUNT_MAPPING
from tests.service.test_fact_commitments import forge_fact, key_of
from tests.sources.builders import focus_csv, focus_row
from tests.test_cli_bad_input import Cli

OCT1, OCT2, OCT3 = date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)


def nights(world: World, days: list[date]) -> None:
    for day in days:
        world.source.set(f"{10 + day.day}.00", day)
        world.clock.night_after(day)
        assert sync(world.app, entity="acme-us", until=day).status == "succeeded"


def journal_ids(world: World, *keys: str) -> list[int]:
    with UnitOfWork(world.app.engine) as uow:
        return [stored.id for stored in uow.outbox.list("acme-us") if stored.journal.key in keys]


class LoadedEvents:
    """The events the ORM builds while it listens (each row of the log read and parsed)."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def __enter__(self) -> LoadedEvents:
        sa_event.listen(EventRow, "load", self._loaded)
        return self

    def __exit__(self, *_: object) -> None:
        sa_event.remove(EventRow, "load", self._loaded)

    def _loaded(self, row: EventRow, _context: object) -> None:
        self.ids.append(row.id or 0)


# ------------------------------------------------------------------------------------------ the poster


def test_the_poster_reads_the_commitments_of_the_journals_it_posts_not_every_commitment(world: World):
    """A year of nights made `unvouched` read and parse every `journals.committed` event, on every sync
    with journals pending; it reads the first commitment (is the chain committing?) and the events that
    committed the journals asked for."""
    nights(world, [date(2026, 10, day) for day in range(1, 9)])
    with UnitOfWork(world.app.engine) as uow:
        assert len(uow.events.of_kind(COMMITTED)) == 8
    [last] = journal_ids(world, "TB-AC-261008-001")
    with UnitOfWork(world.app.engine) as uow:
        committed = {e.id for e in uow.events.of_kind(COMMITTED)}
    with UnitOfWork(world.app.engine) as uow, LoadedEvents() as loaded:
        assert unvouched(uow, [last]) == {}
    assert len(set(loaded.ids) & committed) <= 2, loaded.ids  # the first commitment, and the journal's


def test_an_index_row_pointed_at_another_event_or_deleted_refuses_the_journal_never_passes_it(world: World):
    nights(world, [OCT1, OCT2, OCT3])
    first, last = journal_ids(world, "TB-AC-261001-001", "TB-AC-261003-001")
    with UnitOfWork(world.app.engine) as uow:
        other = uow.events.of_kind("run.started")[-1].id
        committed = uow.events.of_kind(COMMITTED)[-1].id
    tamper(world, "UPDATE commitment_index SET event_id = :other WHERE key = 'TB-AC-261003-001'", other=other)
    with UnitOfWork(world.app.engine) as uow:
        said = unvouched(uow, [last])[last]
    assert said.startswith(f"the commitment index names event {other}, which does not commit it")
    assert "`tokenbooks audit verify`" in said
    tamper(world, "DELETE FROM commitment_index WHERE key = 'TB-AC-261003-001'")
    with UnitOfWork(world.app.engine) as uow:
        assert unvouched(uow, [first, last]) == {
            last: "no event of the audit chain committed it: it was added behind the audit log"
        }
    # the events stay the truth: verify reads them, not the index, and names the row that differs
    problems = verify_chain(world.app.store).problems
    assert [p.message for p in problems] == [
        "the commitment index names no commitment for journal TB-AC-261003-001 of acme-us, but event "
        f"{committed} committed it last"
    ]


def test_an_altered_journal_found_by_the_index_is_still_refused(world: World):
    nights(world, [OCT1])
    [journal] = journal_ids(world, "TB-AC-261001-001")
    tamper(
        world, "UPDATE journal_lines SET amount = amount + 5 WHERE journal_id = :j AND line_no = 1", j=journal
    )
    with UnitOfWork(world.app.engine) as uow:
        said = unvouched(uow, [journal])[journal]
    assert said.startswith("it differs from what event ")
    assert "altered behind the audit log" in said


# --------------------------------------------------------------------------------------------- the sync


WEEK = [date(2026, 10, day) for day in range(1, 7)]  # nights of the 1st to the 6th: the 1st left the window
OCT7 = date(2026, 10, 7)


def test_the_sync_refuses_to_plan_from_a_day_whose_fact_was_altered_and_books_the_others(world: World):
    """October 1st's fact is edited behind the log after it was posted (and after the nightly window, which
    would restate it from the provider, moved past it); the operator's full plan of the month (`sync
    --full-plan`) on the 8th reads it: the day is refused — no delta journal for it, the run `partial`
    naming source, account and day and `audit verify` — and the 7th is booked. Until the row is put back
    every run refuses it again; then the month plans nothing more for it."""
    nights(world, WEEK)
    edited = key_of(OCT1)
    tamper(
        world, "UPDATE facts SET amount = amount + 1000 WHERE natural_key = :key AND is_current", key=edited
    )
    world.source.set("17.00", OCT7)
    world.clock.night_after(OCT7)

    result = sync(world.app, entity="acme-us", until=OCT7, full_plan=True)

    assert result.status == "partial"
    assert [p.journal.key for p in result.plan.planned] == ["TB-AC-261007-001"]
    assert sorted(world.ledger.journals)[0] == "TB-AC-261001-001"
    assert len(world.ledger.journals) == 7  # the week, once each: no delta for the 1st
    reason = " ".join(result.reason.split())
    assert reason.startswith(
        "acme-us: 1 provider day(s) refused for planning, their facts differ from what the audit chain "
        f"committed: openai.costs (org-1) 2026-10-01: fact {edited} (id "
    )
    assert "altered behind the audit log" in reason
    assert "Posting day(s) 2026-10-01 are left as last planned" in reason
    assert "run `tokenbooks audit verify`" in reason
    with UnitOfWork(world.app.engine) as uow:
        [refused] = uow.events.of_kind("plan.refused_days")
    assert (refused.level, refused.data["days"][0]["day"]) == ("error", "2026-10-01")
    status = service_status(world.app.store, ["acme-us"], {}, now=world.clock())
    assert any("refused for planning" in problem for problem in status.problems), status.problems

    again = sync(world.app, entity="acme-us", until=OCT7)  # the nightly run, no full plan: refused again
    assert (again.status, again.plan.planned) == ("partial", [])
    assert "openai.costs (org-1) 2026-10-01" in (again.reason or "")

    tamper(
        world, "UPDATE facts SET amount = amount - 1000 WHERE natural_key = :key AND is_current", key=edited
    )
    fixed = sync(world.app, entity="acme-us", until=OCT7)
    assert (fixed.status, fixed.plan.planned) == ("succeeded", [])


def test_a_fact_added_or_deleted_behind_the_log_refuses_its_day_too(world: World):
    nights(world, WEEK)
    forge_fact(world, like=key_of(OCT1))
    tamper(world, "UPDATE facts SET is_current = false WHERE natural_key = :key", key=key_of(OCT2))
    world.clock.night_after(date(2026, 10, 6))
    result = sync(world.app, entity="acme-us", until=date(2026, 10, 6), full_plan=True)
    assert (result.status, result.plan.planned) == ("partial", [])
    said = {r.day: r.why for r in result.plan.refused}
    assert said[OCT1].startswith("fact forged-key was added since event ")
    assert said[OCT2].startswith(f"fact {key_of(OCT2)} is no longer current since event ")


def test_a_day_whose_index_row_names_another_event_is_refused_not_passed(world: World):
    nights(world, WEEK)
    with UnitOfWork(world.app.engine) as uow:
        other = uow.events.of_kind("run.started")[-1].id
    tamper(
        world,
        "UPDATE commitment_index SET event_id = :e WHERE kind = 'facts' AND key = '2026-10-01'",
        e=other,
    )
    world.clock.night_after(date(2026, 10, 6))
    result = sync(world.app, entity="acme-us", until=date(2026, 10, 6), full_plan=True)
    [refused] = result.plan.refused
    assert refused.why.startswith(f"the commitment index names event {other}, which does not commit this day")
    assert result.plan.planned == []
    [named] = [p for p in verify_chain(world.app.store).problems if p.problem == "index-altered"]
    assert named.message.startswith(
        f"the commitment index names event {other} for facts of openai.costs (org-1) on 2026-10-01, but event "
    )


def test_a_day_whose_index_row_was_deleted_is_refused_not_passed(world: World):
    nights(world, WEEK)
    tamper(world, "UPDATE facts SET amount = amount + 1000 WHERE natural_key = :key", key=key_of(OCT1))
    tamper(world, "DELETE FROM commitment_index WHERE kind = 'facts' AND key = '2026-10-01'")
    world.clock.night_after(date(2026, 10, 6))
    result = sync(world.app, entity="acme-us", until=date(2026, 10, 6), full_plan=True)
    [refused] = result.plan.refused  # the events tell its day from one older than the commitments
    assert refused.day == OCT1
    assert "differs from what event " in refused.why
    assert result.plan.planned == []


def test_the_command_line_says_which_day_it_refused_and_books_the_rest(tmp_path: Path):
    """A FOCUS export imported, one of its facts edited in the database before the night's sync: the
    person running `tokenbooks sync` reads on stderr which source, account and day were refused, and why."""
    cli = Cli(tmp_path)
    cli.file("mapping.yaml", BEANCOUNT_MAPPING)
    cli.env |= {"TOKENBOOKS_ENTITY": "acme-us"}
    export = focus_csv(
        tmp_path / "bedrock.csv", [focus_row("3.00", day=OCT1, hour=12), focus_row("4.00", day=OCT2, hour=12)]
    )
    imported = cli.run("import", "focus", str(export), "--entity", "acme-us")
    assert imported.code == 0, imported.said
    with sqlite3.connect(cli.db) as connection:
        connection.execute("UPDATE facts SET amount = '300.00' WHERE charge_date = '2026-10-01'")

    done = cli.run("sync", "--until", "2026-10-02")

    said = " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    assert "1 provider day(s) refused for planning" in said, said
    assert "2026-10-01" in said
    assert "altered behind the audit log" in said
    assert "run `tokenbooks audit verify`" in said
    ledger = (tmp_path / "data" / "ledgers" / "acme-us.beancount").read_text()
    assert "2026-10-02" in ledger
    assert "300.00" not in ledger
    [(_kind, status, reason)] = [run for run in cli.runs() if run[0] == "sync"]
    assert status == "partial"
    assert "refused for planning" in reason


def test_a_refused_day_never_planned_books_no_month_end_reversal_of_its_month(
    tmp_path: Path, database_url: str
):
    """Month-end reversing accruals: October's accrual (booked on the 31st) sums every day of the month
    and is reversed on 1 November. The 31st's fact is pulled but altered behind the log before any plan
    read it (a pull, then an edit, then the night's sync): the day is refused, so October's accrual is
    left as posted — nothing — and its reversal, a bucket of 1 November mirroring it, must be left too: a
    reversal of an accrual never booked is a credit to the accrued liability nothing explains."""
    world = books_world(tmp_path, policies("accrual: month_end_reversing"), database_url)
    world.source.set("1000.00", date(2026, 10, 30))
    world.night(date(2026, 10, 30))
    world.source.set("200.00", date(2026, 10, 31))
    world.clock.night_after(date(2026, 11, 1))
    pull_sources(world.app, entity=ENTITY, until=date(2026, 11, 1))
    tamper(
        world,
        "UPDATE facts SET amount = amount + 50 WHERE natural_key = :key",
        key=key_of(date(2026, 10, 31)),
    )

    world.source.refused = {date(2026, 10, 31): "'$250.00' is not a plain decimal"}  # kept as stored

    result = sync(world.app, entity=ENTITY, until=date(2026, 11, 1))

    assert result.status == "partial"
    assert [r.day for r in result.plan.refused] == [date(2026, 10, 31)]
    assert result.plan.planned == []
    assert world.journals(JournalKind.USAGE_ACCRUAL, JournalKind.REVERSAL) == []

    tamper(
        world,
        "UPDATE facts SET amount = amount - 50 WHERE natural_key = :key",
        key=key_of(date(2026, 10, 31)),
    )
    world.source.refused = {}  # the row put back and the export corrected: the month books whole, mirrored
    world.night(date(2026, 11, 1))
    [accrual] = world.journals(JournalKind.USAGE_ACCRUAL)
    [reversal] = world.journals(JournalKind.REVERSAL)
    assert (accrual.txn_date, reversal.txn_date) == (date(2026, 10, 31), date(2026, 11, 1))
    assert sorted(-line.amount for line in reversal.lines) == sorted(line.amount for line in accrual.lines)
    assert max(line.amount for line in accrual.lines) == Decimal("1200.00")

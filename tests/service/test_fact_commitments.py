"""The provider facts under the audit chain: each window of facts stored commits, per provider day, a digest
of every fact then current on it, and `audit verify` names each fact altered, deleted or added behind the
log (an edited fact made the next sync post a delta no provider answer explains, and verified intact)."""

from __future__ import annotations

from datetime import date
from itertools import pairwise

from sqlalchemy import text

from connector.domain.audit_chain import ALLOCATIONS_COMMITTED, FACTS_COMMITTED
from connector.service.audit import verify_allocations, verify_chain
from connector.service.sync import sync
from connector.store.unit_of_work import UnitOfWork
from tests.service.conftest import World
from tests.service.test_audit import month, tamper
from tests.support import fact
from tests.test_cli import tokenbooks_with

SOURCE = "facts of openai.costs (org-1)"


def night(world: World, day: date) -> None:
    world.clock.night_after(day)
    assert sync(world.app, entity="acme-us", until=day).status == "succeeded"


def key_of(day: date) -> str:
    """The natural key of the bucket `ScriptedSource.set` reports by default on `day`."""
    return fact("0", day, line_item="out").natural_key


def forge_fact(world: World, *, like: str) -> None:
    """A fact inserted behind the log ('forged-key', amount 500) on the day of the fact keyed `like`."""
    tamper(
        world,
        "INSERT INTO facts (entity, source, provider, provider_account, natural_key, version, is_current, "
        "charge_date, posting_date, amount, currency, cost_basis, charge_category, dimensions, pulled_at) "
        "SELECT entity, source, provider, provider_account, 'forged-key', 1, is_current, charge_date, "
        "posting_date, 500, currency, cost_basis, charge_category, dimensions, pulled_at FROM facts "
        "WHERE natural_key = :key",
        key=like,
    )


def test_a_year_of_nightly_pulls_and_late_restatements_verifies_intact(world: World):
    """Each month's days pulled nightly; the provider restates last month's first day late and withdraws a
    bucket; each window stored commits the days it stored, and the year verifies with every fact vouched."""
    for number in range(1, 13):
        first, mid = date(2026, number, 1), date(2026, number, 15)
        world.source.set(f"{100 + number}.00", first)
        world.source.set("7.25", first, project="proj_shared", line_item="embeddings")
        night(world, first)
        world.source.set(f"{number}.10", mid)
        if number > 1:  # late: last month's first day restated, and a bucket of it withdrawn
            world.source.set(f"{200 + number}.00", date(2026, number - 1, 1))
            world.source.withdraw(date(2026, number - 1, 1), project="proj_shared", line_item="embeddings")
        night(world, mid)
        if number > 1:
            world.clock.night_after(mid)
            assert sync(world.app, entity="acme-us", since=date(2026, number - 1, 1), until=mid).status == (
                "succeeded"
            )
    report = verify_chain(world.app.store)
    assert report.problems == []
    assert report.unvouched == []
    assert report.facts == 12 * 2 + 1  # the last month's shared bucket is still reported
    with UnitOfWork(world.app.engine) as uow:
        assert len(uow.events.of_kind(FACTS_COMMITTED)) >= 24


def test_an_edited_amount_a_deleted_and_an_inserted_fact_are_each_named(world: World):
    month(world)
    assert verify_chain(world.app.store).facts == 3
    oct1, oct2 = date(2026, 10, 1), date(2026, 10, 2)
    edited, deleted = key_of(oct1), key_of(oct2)
    tamper(world, "UPDATE facts SET amount = amount + 1000 WHERE natural_key = :key", key=edited)
    tamper(
        world,
        "DELETE FROM allocations WHERE fact_id IN (SELECT id FROM facts WHERE natural_key = :k)",
        k=deleted,
    )
    tamper(world, "DELETE FROM facts WHERE natural_key = :key", key=deleted)
    forge_fact(world, like=edited)
    problems = verify_chain(world.app.store).problems
    # the deleted fact's allocations went with it: named too (test_an_allocation_whose_rule_…)
    assert [p.problem for p in problems if not p.problem.startswith("fact-")] == ["allocations-altered"]
    messages = sorted(p.message for p in problems if p.problem.startswith("fact-"))
    assert len(messages) == 3, messages
    added, altered = [m for m in messages if f"on {oct1}" in m]  # sorted: "fact forged-key" first
    [missing] = [m for m in messages if f"on {oct2}" in m]
    assert altered.startswith(f"{SOURCE} on {oct1} (committed by event ")
    assert f"fact {edited} (id " in altered
    assert "was altered after it was stored" in altered
    assert "fact forged-key (id " in added
    assert "added behind the audit log" in added
    assert f"fact {deleted} is no longer current in the store" in missing


def test_a_fact_marked_superseded_or_a_superseded_version_put_back_is_named(world: World):
    month(world)
    world.source.set("125.00", date(2026, 10, 1))  # restated: version 2, version 1 kept as history
    night(world, date(2026, 10, 2))
    assert verify_chain(world.app.store).problems == []
    key = key_of(date(2026, 10, 1))
    tamper(world, "UPDATE facts SET is_current = NOT is_current WHERE natural_key = :key", key=key)
    [problem] = verify_chain(world.app.store).problems
    assert problem.problem == "fact-altered"
    assert f"fact {key} (id " in problem.message


def test_facts_stored_before_the_chain_committed_any_are_not_vouched_for_not_altered(world: World):
    month(world)
    tamper(world, "DELETE FROM events WHERE kind = :kind", kind=FACTS_COMMITTED)
    with UnitOfWork(world.app.engine) as uow:  # as a store older than the fact commitments: no such event
        events = uow.events.all()
    tamper(world, "DELETE FROM events")
    with UnitOfWork(world.app.engine) as uow:
        for event in events:
            uow.events.append(
                event.kind,
                event.message,
                run_id=event.run_id,
                actor=event.actor,
                level=event.level,
                data=event.data,
                now=event.at,
            )
        uow.commit()
    report = verify_chain(world.app.store)
    assert [p for p in report.problems if p.problem.startswith("fact")] == []
    assert report.unvouched == [
        "openai.costs (org-1): 2 day(s) of facts (2026-10-01 to 2026-10-02) were stored before the audit chain "
        "committed facts: not vouched for"
    ]


def test_the_cli_names_the_edited_fact_and_exits_1(world: World, tmp_path):
    month(world)
    edited = key_of(date(2026, 10, 1))
    tamper(world, "UPDATE facts SET amount = 1 WHERE natural_key = :key", key=edited)
    variables = {
        "TOKENBOOKS_DATABASE_URL": world.app.settings.database_url,
        "TOKENBOOKS_MAPPING_FILE": str(world.mapping_path),
        "TOKENBOOKS_DATA_DIR": str(tmp_path),
    }
    done = tokenbooks_with(variables, tmp_path, "audit", "verify")
    said = " ".join(done.stderr.split())
    assert done.returncode == 1, said
    assert "Traceback" not in done.stderr
    assert f"✗ {SOURCE} on 2026-10-01 (committed by event " in said
    assert f"fact {edited} (id " in said
    assert "was altered after it was stored" in said


def test_an_allocation_whose_rule_was_edited_or_deleted_is_named_with_its_fact(world: World):
    """An edited rule id made the lineage (audit trace, the console) show a rule that never placed it."""
    month(world)
    assert verify_chain(world.app.store).problems == []
    edited, deleted = key_of(date(2026, 10, 1)), key_of(date(2026, 10, 2))
    owner = "(SELECT id FROM facts WHERE natural_key = :key)"
    tamper(world, f"UPDATE allocations SET rule_id = 'forged-rule' WHERE fact_id = {owner}", key=edited)
    tamper(world, f"DELETE FROM allocations WHERE fact_id = {owner}", key=deleted)
    problems = verify_chain(world.app.store).problems
    assert {p.problem for p in problems} == {"allocations-altered"}
    messages = sorted(p.message for p in problems)
    assert len(messages) == 2, messages
    on_oct1, on_oct2 = sorted(messages, key=lambda m: "2026-10-02" in m)
    assert on_oct1.startswith(f"the allocations of fact {edited} (id ")
    assert "of openai.costs (org-1) on 2026-10-01 (committed by event " in on_oct1
    assert on_oct1.endswith(
        "were altered, added or deleted after the plan stored them (now rule(s) forged-rule)"
    )
    assert on_oct2.startswith(f"the allocations of fact {deleted} (id ")
    assert on_oct2.endswith("(now none)")


def test_allocations_altered_on_both_sides_of_a_window_edge_are_each_named(world: World):
    """verify reads the allocations a window of fact ids at a time (a million facts a month held at once
    measured 1.6 KB a fact): a fact whose rule was edited just below a window's edge, and one whose
    allocations were deleted just above it (only its commitment is left to name it), are both named,
    as they are when the whole store is one window."""
    month(world)
    world.source.set("42.00", date(2026, 10, 3))
    world.source.set("8.00", date(2026, 10, 3), project="proj_shared", line_item="embeddings")
    night(world, date(2026, 10, 3))
    with world.app.engine.connect() as connection:
        ids = [i for (i,) in connection.execute(text("SELECT id FROM facts WHERE is_current ORDER BY id"))]
    below, edge = next((a, b) for a, b in pairwise(ids) if b == a + 1 and a > 1)
    tamper(world, "UPDATE allocations SET rule_id = 'forged-rule' WHERE fact_id = :i", i=below)
    tamper(world, "DELETE FROM allocations WHERE fact_id = :i", i=edge)
    by_window = {
        window: sorted(p.message for p in verify_allocations(world.app.store, window=window)[0])
        for window in (edge, edge - 1, 1, 10_000)
    }
    named = by_window[edge]  # [0, edge) holds the edited fact, [edge, 2·edge) the deleted one
    assert len(named) == 2, named
    assert any(f"(id {below}) " in m and m.endswith("(now rule(s) forged-rule)") for m in named), named
    assert any(f"(id {edge}) " in m and m.endswith("(now none)") for m in named), named
    assert all(found == named for found in by_window.values()), by_window


def test_the_allocations_a_restatement_rewrites_verify_intact(world: World):
    month(world)
    world.source.set("99.00", date(2026, 10, 2))
    world.source.withdraw(date(2026, 10, 1), project="proj_shared", line_item="embeddings")
    night(world, date(2026, 10, 2))
    report = verify_chain(world.app.store)
    assert report.problems == []
    assert report.unvouched == []


def test_a_raw_payload_edited_or_a_fact_pointed_at_another_payload_is_named(world: World):
    """The lineage shows the payload behind a fact, with its sha256: both were outside the chain."""
    month(world)
    key = key_of(date(2026, 10, 1))
    tamper(
        world,
        "UPDATE raw_payloads SET body = '{\"forged\": true}' WHERE id = "
        "(SELECT raw_payload_id FROM facts WHERE natural_key = :key)",
        key=key,
    )
    [problem] = verify_chain(world.app.store).problems
    assert problem.problem == "payload-altered"
    assert problem.message.startswith("raw payload ")
    assert problem.message.endswith("of openai.costs: its body was altered after it was stored")
    tamper(world, "UPDATE facts SET raw_payload_id = NULL WHERE natural_key = :key", key=key)
    problems = verify_chain(world.app.store).problems
    assert [p.problem for p in problems] == ["fact-altered", "payload-altered"]
    assert f"fact {key} (id " in problems[0].message


def test_focus_imports_restating_a_closed_month_commit_their_facts_and_an_edit_is_named(
    tmp_path, database_url
):
    """The import's `uow.facts.replace_window` commits its window as a pull's promotion does."""
    from tests.service.books_world import books_world
    from tests.service.test_late_imports import BEDROCK_RULE
    from tests.sources.builders import FOCUS_COLUMNS, focus_row
    from tests.support import FULL_MAPPING

    books = books_world(tmp_path, database_url=database_url)
    books.rewrite_mapping(FULL_MAPPING + BEDROCK_RULE)
    columns = [*FOCUS_COLUMNS, "x_LineItemId"]
    october = [focus_row("10.00", day=date(2026, 10, d), x_LineItemId=f"r{d}") for d in (1, 2, 3)]
    books.import_focus(october, columns)
    books.night(date(2026, 10, 31))
    books.ledger.lock = date(2026, 10, 31)
    books.import_focus([october[0], focus_row("14.50", day=date(2026, 10, 2), x_LineItemId="r2")], columns)
    books.night(date(2026, 11, 10))
    report = verify_chain(books.app.store)
    assert report.problems == []
    assert report.facts == 3  # the restating export reported 1 and 2 October: the 3rd stays
    with books.app.engine.begin() as connection:
        connection.execute(
            text("UPDATE facts SET amount = 1 WHERE is_current AND charge_date = :day"),
            {"day": date(2026, 10, 2)},
        )
    [problem] = verify_chain(books.app.store).problems
    assert problem.problem == "fact-altered"
    assert " on 2026-10-02 (committed by event " in problem.message


def test_the_commitments_of_a_night_are_stamped_with_the_runs_clock(world: World):
    """A night's events are stamped with its run's clock; the allocations' commitments were stamped with
    the wall clock instead (the plan did not hand its time down), so an auditor's period export or a
    replayed past night showed them weeks away from the run that wrote them."""
    world.source.set("12.00", date(2026, 10, 5))
    night(world, date(2026, 10, 5))
    with UnitOfWork(world.app.engine) as uow:
        stamped = {
            kind: {event.at for event in uow.events.of_kind(kind)}
            for kind in (FACTS_COMMITTED, ALLOCATIONS_COMMITTED)
        }
    assert stamped == {FACTS_COMMITTED: {world.clock()}, ALLOCATIONS_COMMITTED: {world.clock()}}

"""Mappings in the nightly sync: a version that reaches into the past is booked as reclass journals, the
version and rule stay with every allocation, a broken mapping posts nothing, coverage is reported."""

from datetime import date
from decimal import Decimal

import pytest

from connector.domain.journals import JournalKind, as_text
from connector.store.unit_of_work import UnitOfWork
from tests.domain.test_broken_mappings import BROKEN, BROKEN_DIR
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
from tests.support import CHART_ACCOUNTS, CHART_OPTIONS, MINIMAL_MAPPING


@pytest.fixture
def booked(world: World) -> World:
    return book_september(world)


def reclasses(world: World) -> list:
    return [j for j in world.ledger.journals.values() if j.key.startswith("TB-RC-")]


def test_a_version_reaching_into_an_open_past_month_posts_reclasses_dated_on_their_own_days(booked: World):
    new_mapping(booked, ENG_TO_SALES)
    result = nightly(booked, OCT6)
    assert result.status == "succeeded"
    with UnitOfWork(booked.app.engine) as uow:
        stored = {s.journal.key: s.journal for s in uow.outbox.list(ENTITY)}
    moved = [stored[key] for key in result.post.posted]
    assert (
        "\n".join(as_text(j) for j in moved)
        == """\
2026-09-10 TB-RC-260910-001 reclass USD
  Dr 6120                                            40.00
  Cr 6110                                            40.00
2026-09-11 TB-RC-260911-001 reclass USD
  Dr 6120                                            60.00
  Cr 6110                                            60.00
2026-10-05 TB-RC-261005-001 reclass USD
  Dr 6120                                            25.00
  Cr 6110                                            25.00"""
    )
    for journal in moved:
        assert journal.kind is JournalKind.RECLASS
        assert sum(line.amount for line in journal.lines) == 0  # expense lines net to zero
        assert all(line.target.account in ("6110", "6120") for line in journal.lines)  # no accrual touched
    assert sum(j.debit_total for j in moved) == Decimal("125.00")  # exactly the spend of the changed rule
    assert booked.ledger.balance("6110") == 0
    assert booked.ledger.balance("6120") == Decimal("125.00")
    assert booked.ledger.balance("2150") == Decimal("-225.00")  # the liability is untouched
    assert nightly(booked, OCT6).post.posted == []  # and a re-run posts nothing


def test_a_reclass_into_a_locked_month_is_posted_on_the_first_open_day_and_says_why(booked: World):
    new_mapping(booked, ENG_TO_SALES)
    booked.ledger.lock = date(2026, 9, 30)
    result = nightly(booked, OCT6)
    september = booked.ledger.journals["TB-RC-261001-001"]
    assert (
        as_text_of(booked, "TB-RC-261001-001")
        == """\
2026-10-01 TB-RC-261001-001 reclass USD
  Dr 6120                                           100.00
  Cr 6110                                           100.00"""
    )
    assert (
        "Moved to 2026-10-01: the books are closed through 2026-09-30; it belongs to 2026-09"
        in september.memo
    )
    assert sorted(result.post.posted) == ["TB-RC-261001-001", "TB-RC-261005-001"]
    assert all(
        j.txn_date > date(2026, 9, 30) for j in booked.ledger.journals.values() if j.key in result.post.posted
    )


def as_text_of(world: World, key: str) -> str:
    with UnitOfWork(world.app.engine) as uow:
        return as_text(uow.outbox.by_key(ENTITY, key).journal)


def test_every_allocation_keeps_the_rule_and_the_version_that_placed_it(booked: World):
    new_mapping(booked, ENG_TO_SALES)
    result = nightly(booked, OCT6)
    with UnitOfWork(booked.app.engine) as uow:
        stored = uow.facts.current(ENTITY)
        rows = [row for s in stored for row in uow.allocations.for_fact(s.id)]
        events = [e.kind for e in uow.events.for_run(result.run_id)]
    placed = sorted((r.posting_date.isoformat(), r.rule_id, r.mapping_version, r.category) for r in rows)
    assert placed == [
        ("2026-09-10", "eng", 2, "sales_marketing"),
        ("2026-09-10", "support", 2, "cogs"),
        ("2026-09-11", "eng", 2, "sales_marketing"),
        ("2026-10-05", "eng", 2, "sales_marketing"),
    ]
    assert "mapping.version" in events
    assert "mapping.reclass" in events


def test_a_dry_run_of_the_new_version_does_not_swallow_the_reclass(booked: World):
    new_mapping(booked, ENG_TO_SALES)
    dry = nightly(booked, OCT6, dry_run=True)
    assert {p.journal.kind for p in dry.plan.planned} == {JournalKind.RECLASS}
    assert reclasses(booked) == []
    real = nightly(booked, OCT6)
    assert len(real.post.posted) == 3
    assert booked.ledger.balance("6120") == Decimal("125.00")


def test_a_version_effective_in_the_future_changes_nothing_already_booked(booked: World):
    new_mapping(booked, ENG_TO_SALES.replace("effective_from: 2026-09-01", "effective_from: 2026-11-01"))
    result = nightly(booked, OCT6)
    assert result.status == "succeeded"
    assert reclasses(booked) == []
    assert booked.ledger.balance("6110") == Decimal("125.00")


def test_a_changed_file_that_keeps_its_version_number_posts_nothing(booked: World):
    new_mapping(booked, ENG_TO_SALES.replace("mapping_version: 2", "mapping_version: 1"))
    before = dict(booked.ledger.journals)
    result = nightly(booked, OCT6)
    assert result.status == "failed"
    assert "version 1 was already used for a different file" in result.reason
    assert "raise mapping_version to 2" in result.reason
    assert booked.ledger.journals == before


def test_an_older_version_number_than_one_already_used_is_refused(booked: World):
    new_mapping(booked, ENG_TO_SALES.replace("mapping_version: 2", "mapping_version: 5"))
    assert nightly(booked, OCT6).status == "succeeded"
    new_mapping(booked, MINIMAL_MAPPING.replace("mapping_version: 1", "mapping_version: 4"))
    result = nightly(booked, OCT6)
    assert result.status == "failed"
    assert "version 4 is older than version 5, which is already in use" in result.reason
    assert "raise mapping_version to 6" in result.reason


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_mapping_fails_the_run_naming_file_and_line_and_posts_nothing(world: World, name):
    world.ledger.accounts = list(CHART_ACCOUNTS)
    world.ledger.options = list(CHART_OPTIONS)
    path = BROKEN_DIR / f"{name}.yaml"
    new_mapping(world, path.read_text())
    world.source.set("120.00", OCT5)
    result = nightly(world, OCT5)
    line, words = BROKEN[name]
    assert result.status == "failed"
    assert f"{world.mapping_path}:{line}: " in result.reason
    assert words in result.reason
    assert world.ledger.journals == {}
    with UnitOfWork(world.app.engine) as uow:
        assert uow.outbox.list(ENTITY) == []


def test_coverage_is_in_the_run_stats_and_suspense_raises_an_alert_naming_the_spend(world: World):
    world.source.set("90.00", OCT5)
    world.source.set("10.00", OCT5, project="proj_nobody_mapped")
    result = nightly(world, OCT5)
    with UnitOfWork(world.app.engine) as uow:
        run = uow.runs.get(result.run_id)
        [alert] = [e for e in uow.events.for_run(result.run_id) if e.kind == "alert.suspense"]
    assert run.stats["coverage"] == [
        {
            "provider": "openai",
            "period": "2026-10",
            "currency": "USD",
            "total": "100.00",
            "mapped": "90.00",
            "suspense": "10.00",
            "accuracy": "0.9000",
        }
    ]
    assert run.stats["suspense"] == [{"provider": "openai", "currency": "USD", "amount": "10.00"}]
    assert "10.00 USD of openai spend matched no mapping rule" in alert.message
    assert "2026-10: 90.00% mapped" in alert.message
    assert "project=proj_nobody_mapped" in alert.message

    nightly(world, OCT5)  # the same facts: planned again from the kept sums
    again = nightly(world, OCT5)  # and now nothing changed at all: the plan is skipped, the suspense stays
    with UnitOfWork(world.app.engine) as uow:
        [reminder] = [e for e in uow.events.for_run(again.run_id) if e.kind == "alert.suspense"]
    assert reminder.message.startswith(
        "10.00 USD of openai spend matched no mapping rule and went to suspense (unchanged since the last plan). "
    )
    assert "()" not in reminder.message
    assert "largest unmapped: ." not in reminder.message


def test_a_plan_state_recorded_before_suspense_was_kept_per_currency_is_planned_again_not_misread(
    world: World,
):
    """An upgrade finds the last plan's state recorded with suspense per provider only ({"openai": "10.00"}):
    the next night plans again (and records the new form) instead of failing on the old one."""
    world.source.set("10.00", OCT5, project="proj_nobody_mapped")
    nightly(world, OCT5)
    with UnitOfWork(world.app.engine) as uow:
        state = uow.events.last_data("plan.state", entity=ENTITY)
        assert state is not None
        uow.events.append(
            "plan.state", "recorded by an earlier release", data={**state, "suspense": {"openai": "10.00"}}
        )
        uow.commit()
    again = nightly(world, OCT5)
    assert again.status == "succeeded", again.reason
    assert not again.plan.skipped
    assert again.plan.suspense == {("openai", "USD"): Decimal("10.00")}
    assert nightly(world, OCT5).plan.skipped  # the new form recorded: the next night skips as before


def test_a_file_reworded_without_changing_its_rules_keeps_its_version_number(booked: World):
    reworded = MINIMAL_MAPPING.replace("change_note: test mapping", "change_note: test mapping, reviewed") + (
        "# a comment added by the controller\n"
    )
    new_mapping(booked, reworded)
    result = nightly(booked, OCT6)
    assert result.status == "succeeded"
    assert reclasses(booked) == []
    with UnitOfWork(booked.app.engine) as uow:
        [event] = [e for e in uow.events.for_run(result.run_id) if e.kind == "mapping.version"]
    assert event.message == "mapping version 1 file reworded, same rules"

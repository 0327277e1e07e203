"""The nightly sync end to end on fakes: idempotent, convergent, crash-safe, and honest when it fails."""

import itertools
from datetime import date
from decimal import Decimal

import pytest

from connector.domain.errors import Retriable
from connector.service.sync import sync
from connector.store.unit_of_work import UnitOfWork
from tests.service.conftest import World

ENTITY = "acme-us"
OCT1, OCT2, OCT3 = date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)


def nightly(world: World, day: date):
    world.clock.night_after(day)
    return sync(world.app, entity=ENTITY, until=day)


def test_a_night_posts_its_accrual_and_a_second_run_with_no_new_data_posts_nothing(world: World):
    world.source.set("120.00", OCT1)
    world.source.set("30.00", OCT1, project="proj_eng_tools")
    first = nightly(world, OCT1)
    assert first.status == "succeeded"
    assert first.post.posted == ["TB-AC-261001-001"]
    assert world.ledger.balance("5010") == Decimal("120.00")
    assert world.ledger.balance("6110") == Decimal("30.00")
    assert world.ledger.balance("2150") == Decimal("-150.00")
    writes = world.ledger.stats.write_calls

    again = nightly(world, OCT1)
    assert again.status == "succeeded"
    assert again.plan.planned == []
    assert again.post.posted == []
    assert again.post.found == []
    assert world.ledger.stats.write_calls == writes


def test_a_restated_day_posts_only_its_delta(world: World):
    world.source.set("120.00", OCT1)
    nightly(world, OCT1)
    world.source.set("132.35", OCT1)  # the provider restates 1 October on the next pull
    world.source.set("10.00", OCT2)
    second = nightly(world, OCT2)
    keys = second.post.posted
    assert keys == ["TB-AC-261001-002", "TB-AC-261002-001"]
    delta = world.ledger.journals["TB-AC-261001-002"]
    assert sorted(line.amount for line in delta.lines) == [Decimal("-12.35"), Decimal("12.35")]
    assert world.ledger.balance("5010") == Decimal("142.35")
    assert second.pulls[0].replaced.restated == 1


def test_conservation_posted_expense_equals_the_cost_facts(world: World):
    amounts = {OCT1: ["10.004", "5.001"], OCT2: ["7.50", "0.333"], OCT3: ["1.00"]}
    for day, values in amounts.items():
        for i, value in enumerate(values):
            world.source.set(
                value, day, project=["proj_support_assistant", "proj_x"][i % 2], line_item=f"l{i}"
            )
    nightly(world, OCT3)
    expense = sum(world.ledger.balance(a) for a in ("5010", "6110", "6120", "6130", "6190"))
    assert expense == -world.ledger.balance("2150")
    exact = sum(Decimal(v) for values in amounts.values() for v in values)
    # each day's accrual is the day's exact cost rounded once (15.005 → 15.01, 7.833 → 7.83, 1.00), its
    # category lines rounded to add up to it: 10.01 + 5.00, 7.50 + 0.33, 1.00
    assert expense == Decimal("23.84")
    assert world.ledger.balance("5010") == Decimal("18.51")
    assert abs(expense - exact) <= Decimal("0.005") * 3


def test_unmapped_spend_lands_in_suspense_and_raises_an_alert(world: World):
    world.source.set("9.99", OCT1, project="proj_nobody_mapped")
    result = nightly(world, OCT1)
    assert world.ledger.balance("6190") == Decimal("9.99")
    assert result.plan.suspense == {("openai", "USD"): Decimal("9.99")}
    with UnitOfWork(world.app.engine) as uow:
        alerts = [e for e in uow.events.for_run(result.run_id) if e.kind == "alert.suspense"]
    assert alerts
    assert "9.99 USD of openai spend matched no mapping rule" in alerts[0].message


def test_an_answer_lost_after_the_ledger_wrote_does_not_duplicate_on_the_next_run(world: World):
    world.source.set("120.00", OCT1)
    world.ledger.faults.append("lost")  # the ledger creates the journal, then the answer is lost
    first = nightly(world, OCT1)
    assert first.status == "partial"
    assert first.post.failed[0][0] == "TB-AC-261001-001"
    assert len(world.ledger.journals) == 1

    second = nightly(world, OCT1)
    assert second.post.found == ["TB-AC-261001-001"]  # looked up by key, not created again
    assert len(world.ledger.journals) == 1
    assert world.ledger.balance("5010") == Decimal("120.00")


def test_a_crash_between_the_ledger_write_and_our_record_does_not_duplicate(world: World):
    world.source.set("120.00", OCT1)
    real_post = world.ledger.post

    def post_then_die(requests):
        real_post(requests)
        raise KeyboardInterrupt  # the process dies: nothing after the ledger call runs

    world.ledger.post = post_then_die
    with pytest.raises(KeyboardInterrupt):
        nightly(world, OCT1)
    world.ledger.post = real_post
    with UnitOfWork(world.app.engine) as uow:
        [stored] = uow.outbox.list(ENTITY)
        assert stored.status == "posting"  # the attempt was recorded before the call

    after = nightly(world, OCT1)
    assert after.post.found == ["TB-AC-261001-001"]
    assert len(world.ledger.journals) == 1


def test_a_malformed_provider_page_fails_the_run_with_its_reason_and_posts_nothing(world: World):
    world.source.set("120.00", OCT1)
    world.source.broken = "missing: the page has no data array"
    result = nightly(world, OCT1)
    assert result.status == "failed"
    assert "organization/costs" in result.reason
    assert "page 1" in result.reason
    assert "data" in result.reason
    assert result.reason.count("Fix:") <= 1  # one fix for the run, not one per problem besides
    assert world.ledger.journals == {}
    with UnitOfWork(world.app.engine) as uow:
        run = uow.runs.get(result.run_id)
        assert run.status == "failed"
        assert "no data array" in run.reason
        assert uow.outbox.list(ENTITY) == []
        assert uow.facts.current(ENTITY) == []


def test_a_mapping_with_a_yaml_error_fails_the_run_naming_file_and_line(world: World):
    world.source.set("120.00", OCT1)
    world.mapping_path.write_text("mapping_version: 1\nrules:\n  - id: [unclosed\n")
    result = nightly(world, OCT1)
    assert result.status == "failed"
    assert f"{world.mapping_path}:4" in result.reason or f"{world.mapping_path}:3" in result.reason
    assert world.ledger.journals == {}


def test_an_unreachable_ledger_fails_the_run_and_nothing_is_half_posted(world: World):
    world.source.set("120.00", OCT1)

    def unreachable():
        raise Retriable("QuickBooks at http://127.0.0.1:9 is unreachable (connection refused)")

    world.ledger.lock_date = unreachable
    result = nightly(world, OCT1)
    assert result.status == "failed"
    assert "unreachable" in result.reason
    assert world.ledger.journals == {}
    del world.ledger.lock_date  # back up: the next run posts everything once
    assert nightly(world, OCT1).post.posted == ["TB-AC-261001-001"]


def test_every_run_is_in_the_hash_chained_log(world: World):
    world.source.set("1.00", OCT1)
    result = nightly(world, OCT1)
    with UnitOfWork(world.app.engine) as uow:
        events = uow.events.all()
    assert events[0].kind == "run.started"
    assert events[-1].kind == "run.finished"
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(events))
    assert any(e.kind == "posting.attempt" and e.run_id == result.run_id for e in events)


def test_dry_run_plans_but_writes_neither_outbox_nor_ledger(world: World):
    world.source.set("120.00", OCT1)
    world.clock.night_after(OCT1)
    result = sync(world.app, entity=ENTITY, until=OCT1, dry_run=True)
    assert [p.journal.key for p in result.plan.planned] == ["TB-AC-261001-001"]
    assert world.ledger.journals == {}
    with UnitOfWork(world.app.engine) as uow:
        assert uow.outbox.list(ENTITY) == []


def test_a_night_with_nothing_new_skips_planning_and_any_change_plans_again(world: World):
    world.source.set("120.00", OCT1)
    assert not nightly(world, OCT1).plan.skipped
    quiet = nightly(world, OCT1)
    assert quiet.plan.skipped  # same facts, mapping, policy, lock date, outbox: nothing classified
    assert quiet.plan.planned == []

    world.source.set("125.00", OCT1)  # a restatement
    restated = nightly(world, OCT1)
    assert not restated.plan.skipped
    assert restated.post.posted == ["TB-AC-261001-002"]
    assert nightly(world, OCT1).plan.skipped

    world.mapping_path.write_text(
        world.mapping_path.read_text().replace("change_note: test mapping", "change_note: v2")
    )
    world.app._mapping = None  # the controller edited the mapping
    assert not nightly(world, OCT1).plan.skipped
    world.ledger.lock = date(2026, 9, 30)  # the books were closed through September
    assert not nightly(world, OCT1).plan.skipped
    assert nightly(world, OCT1).plan.skipped


def test_a_journal_refused_since_the_last_plan_is_planned_again_on_a_quiet_night(world: World):
    world.source.set("120.00", OCT1)
    world.ledger.faults.append("fail")  # not applied: the journal waits in the outbox
    nightly(world, OCT1)
    with UnitOfWork(world.app.engine) as uow:
        [stored] = uow.outbox.list(ENTITY)
        uow.outbox.set_status(stored.id, "rejected", now=world.clock(), error="refused")
        uow.commit()
    again = nightly(world, OCT1)
    assert not again.plan.skipped  # a rejection changes what is posted: the month is planned again
    assert again.post.posted == ["TB-AC-261001-001"]  # the same journal, planned and posted again
    assert world.ledger.balance("5010") == Decimal("120.00")


def test_a_rejected_journal_is_planned_again_even_when_its_day_left_the_window(world: World):
    world.source.set("120.00", OCT1)
    world.ledger.faults.append("reject")  # refused for good (e.g. an account archived that day)
    first = nightly(world, OCT1)
    assert first.post.rejected[0][0] == "TB-AC-261001-001"
    result = nightly(world, date(2026, 11, 20))  # weeks later: 1 October is outside the pull window
    assert result.post.posted == ["TB-AC-261001-001"]
    assert world.ledger.balance("5010") == Decimal("120.00")


def test_a_backfill_pull_restating_a_month_before_the_nightly_window_is_booked_by_the_next_sync(world: World):
    """`tokenbooks pull --since` (a backfill: no planning) stores a restatement of 30 September on
    5 November; the next nightly's own window (its bookmark less the lag days) plans only November, yet the
    delta must be booked: the pull left the day as a mark, and the sync plans from it."""
    from connector.service.pull import pull_sources

    sep30, nov4 = date(2026, 9, 30), date(2026, 11, 4)
    world.source.set("120.00", sep30)
    for day in (sep30, date(2026, 11, 3), nov4):
        nightly(world, day)
    world.source.set("132.35", sep30)  # the provider restated 30 September, seen only by a pull reaching back
    world.clock.now = world.clock.now.replace(hour=10)
    pulled = pull_sources(world.app, entity=ENTITY, since=sep30, until=nov4)
    assert pulled.pulls[0].replaced.restated == 1

    night = nightly(world, date(2026, 11, 5))
    assert night.post.posted == ["TB-AC-260930-002"]
    assert world.ledger.balance("5010") == Decimal("132.35")
    with UnitOfWork(world.app.engine) as uow:
        [reach] = [e for e in uow.events.for_run(night.run_id) if e.kind == "facts.reach_back"]
    assert reach.data["from_day"] == "2026-09-30"
    assert nightly(world, date(2026, 11, 6)).post.posted == []  # the mark was cleared by the plan

"""The planner: desired − posted → delta journals. Golden journals, then the invariants as properties."""

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.domain.classifier import Classifier
from connector.domain.journals import Journal, as_text, sum_contributions
from connector.domain.planner import LedgerCalendar, LockedBehaviour, plan
from connector.domain.posting_buckets import counter_targets, usage_accrual_desired
from tests.support import fact, mapping

MAPPING = mapping()
COUNTER = counter_targets(MAPPING, "quickbooks")


def desired_for(*facts):
    return usage_accrual_desired(Classifier(MAPPING).classify_all(facts))


OPEN = LedgerCalendar()


def run_plan(desired, posted=None, calendar=OPEN, serials=None):
    return plan(desired, posted or {}, counter_target=COUNTER, calendar=calendar, used_serials=serials or {})


def golden(journals: list[Journal]) -> str:
    return "\n".join(as_text(j) for j in journals)


def test_a_day_of_usage_becomes_one_accrual_journal():
    journals = [
        p.journal
        for p in run_plan(
            desired_for(
                fact("120.004", project="proj_support_assistant"),
                fact("30.00", project="proj_eng_copilot"),
                fact("10.00", project="proj_shared"),
                fact("2.50", project="proj_unknown"),
            )
        )
    ]
    assert (
        golden(journals)
        == """\
2026-10-01 TB-AC-261001-001 usage_accrual USD
  Dr 5010                                             4.00
  Dr 5010 (Support Assistant)                       120.00
  Dr 6110                                            33.00
  Dr 6130                                             3.00
  Dr 6190                                             2.50
  Cr 2150                                           162.50"""
    )


def test_a_second_plan_after_posting_plans_nothing():
    desired = desired_for(fact("120.00"), fact("30.00", project="proj_eng_x"))
    first = run_plan(desired)
    posted = sum_contributions(p.journal for p in first)
    assert run_plan(desired, posted) == []


def test_a_restated_day_posts_only_its_delta():
    before = desired_for(fact("120.00"))
    posted = sum_contributions(p.journal for p in run_plan(before))
    after = desired_for(fact("132.35"))
    delta = run_plan(after, posted, serials={"TB-AC-261001-": 1})
    assert (
        golden([p.journal for p in delta])
        == """\
2026-10-01 TB-AC-261001-002 usage_accrual USD
  Dr 5010 (Support Assistant)                        12.35
  Cr 2150                                            12.35"""
    )


def test_a_lower_restatement_credits_the_category_back():
    posted = sum_contributions(p.journal for p in run_plan(desired_for(fact("120.00"))))
    delta = run_plan(desired_for(fact("100.00")), posted, serials={"TB-AC-261001-": 1})
    assert (
        golden([p.journal for p in delta])
        == """\
2026-10-01 TB-AC-261001-002 usage_accrual USD
  Dr 2150                                            20.00
  Cr 5010 (Support Assistant)                        20.00"""
    )


def test_moving_spend_between_categories_is_a_reclass_that_nets_to_zero():
    posted = sum_contributions(p.journal for p in run_plan(desired_for(fact("50.00", project="proj_eng_a"))))
    moved = desired_for(fact("50.00", project="proj_support_assistant"))
    journals = [p.journal for p in run_plan(moved, posted, serials={"TB-AC-261001-": 1})]
    assert (
        golden(journals)
        == """\
2026-10-01 TB-RC-261001-001 reclass USD
  Dr 5010 (Support Assistant)                        50.00
  Cr 6110                                            50.00"""
    )


def test_a_journal_for_a_locked_day_moves_to_the_first_open_day_and_says_why():
    calendar = LedgerCalendar(lock_date=date(2026, 10, 31))
    [planned] = run_plan(desired_for(fact("75.00", date(2026, 10, 14))), calendar=calendar)
    j = planned.journal
    assert j.txn_date == date(2026, 11, 1)
    assert j.original_date == date(2026, 10, 14)
    assert "books are closed through 2026-10-31" in j.memo
    assert "2026-10" in j.memo
    assert not planned.held


def test_a_journal_for_a_locked_day_is_held_when_the_policy_says_hold():
    calendar = LedgerCalendar(lock_date=date(2026, 10, 31), locked_behaviour=LockedBehaviour.HOLD)
    [planned] = run_plan(desired_for(fact("75.00", date(2026, 10, 14))), calendar=calendar)
    assert planned.held
    assert "locked" in planned.hold_reason


def test_locked_deltas_of_many_days_are_gathered_in_one_journal_on_the_first_open_day():
    calendar = LedgerCalendar(lock_date=date(2026, 10, 31))
    facts = [fact("10.00", date(2026, 10, d)) for d in (3, 4, 5)]
    [planned] = run_plan(desired_for(*facts), calendar=calendar)
    assert planned.journal.txn_date == date(2026, 11, 1)
    assert len(planned.journal.contributions) == 3
    assert (
        golden([planned.journal])
        == """\
2026-11-01 TB-AC-261101-001 usage_accrual USD
  Dr 5010 (Support Assistant)                        30.00
  Cr 2150                                            30.00"""
    )


def test_usage_moved_from_a_locked_day_to_an_open_one_is_booked_as_a_transfer_between_periods():
    calendar = LedgerCalendar(lock_date=date(2026, 10, 1))
    first = run_plan(desired_for(fact("0.01", date(2026, 10, 1))), calendar=calendar)
    posted = sum_contributions(p.journal for p in first)
    moved = desired_for(fact("0.01", date(2026, 10, 2)))  # the provider restates: it was 2 October's usage
    [transfer] = run_plan(moved, posted, calendar, serials={"TB-AC-261002-": 1})
    assert (
        golden([transfer.journal])
        == """\
2026-10-02 TB-RC-261002-001 reclass USD
  Dr 5010 (Support Assistant)                         0.01
  Cr 5010 (Support Assistant)                         0.01"""
    )
    descriptions = sorted(line.description for line in transfer.journal.lines)
    assert descriptions == ["openai reclass for 2026-10-01", "openai reclass for 2026-10-02"]
    after = sum_contributions(p.journal for p in [*first, transfer])
    assert run_plan(moved, after, calendar) == []


# ------------------------------------------------------------------------------------------ properties

amounts = st.decimals(min_value=Decimal("-50"), max_value=Decimal("5000"), places=6, allow_nan=False)
projects = st.sampled_from(["proj_support_assistant", "proj_eng_x", "proj_shared", "proj_other", None])
days = st.integers(min_value=0, max_value=5).map(lambda n: date(2026, 10, 1) + timedelta(days=n))
fact_specs = st.lists(st.tuples(amounts, projects, days), min_size=1, max_size=25)


def facts_from(specs):
    return [fact(str(a), d, project=p, line_item=f"item-{i}") for i, (a, p, d) in enumerate(specs)]


@settings(max_examples=150, deadline=None)
@given(specs=fact_specs)
def test_every_planned_journal_balances_and_replanning_plans_nothing(specs):
    desired = desired_for(*facts_from(specs))
    planned = run_plan(desired)
    for p in planned:
        assert p.journal.debit_total == p.journal.credit_total
    assert run_plan(desired, sum_contributions(p.journal for p in planned)) == []


@settings(max_examples=100, deadline=None)
@given(versions=st.lists(fact_specs, min_size=1, max_size=5), lock_day=st.none() | days)
def test_after_any_sequence_of_restatements_posted_equals_desired(versions, lock_day):
    posted: dict = {}
    serials: dict = {}
    calendar = LedgerCalendar(lock_date=lock_day)
    for specs in versions:
        desired = desired_for(*facts_from(specs))
        for p in run_plan(desired, posted, calendar, serials):
            for c in p.journal.contributions:
                posted[c.bucket] = posted.get(c.bucket, Decimal(0)) + c.amount
            prefix = p.journal.key[: p.journal.key.rfind("-") + 1]
            serials[prefix] = serials.get(prefix, 0) + 1
            assert lock_day is None or p.journal.txn_date > lock_day
        assert {b: a for b, a in posted.items() if a} == {b: a for b, a in desired.items() if a}


@settings(max_examples=100, deadline=None)
@given(specs=fact_specs)
def test_conservation_allocations_sum_to_the_facts_and_suspense_catches_the_rest(specs):
    facts = facts_from(specs)
    allocations = Classifier(MAPPING).classify_all(facts)
    assert sum(a.amount for a in allocations) == sum(f.amount for f in facts)
    for f in facts:
        assert sum(a.amount for a in allocations if a.fact is f) == f.amount


def _days_from_the_15th(bucket):
    """A policy switched to monthly accruals on 15 October: the month-end bucket sums 15..31 October."""
    if bucket.period == date(2026, 10, 31):
        return [date(2026, 10, 15) + timedelta(days=i) for i in range(17)]
    return [bucket.period]


def test_a_memo_says_the_days_a_bucket_sums_a_whole_month_by_its_name():
    from connector.domain.periods import Period
    from connector.domain.planner import Trace

    desired = desired_for(fact("10.00", date(2026, 10, 31)))
    october = Trace(days=lambda bucket: Period.of(bucket.period).days())
    [month] = plan(desired, {}, counter_target=COUNTER, calendar=OPEN, used_serials={}, trace=october)
    assert "usage accrual for October 2026 (2026-10-01..2026-10-31), org-1" in month.journal.memo
    assert {ln.description for ln in month.journal.lines} == {
        "openai usage accrual October 2026 (2026-10-01..2026-10-31)"  # provider_label: the key as is
    }
    half = Trace(days=_days_from_the_15th)
    [part] = plan(desired, {}, counter_target=COUNTER, calendar=OPEN, used_serials={}, trace=half)
    assert "usage accrual for 2026-10-15..2026-10-31, org-1" in part.journal.memo  # not the month: a part
    [own] = plan(desired, {}, counter_target=COUNTER, calendar=OPEN, used_serials={})
    assert "usage accrual for 2026-10-31, org-1" in own.journal.memo  # a daily bucket: its own day


CENTS = st.integers(min_value=-50_000, max_value=50_000).map(lambda c: Decimal(c) / 100)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(CENTS, CENTS), min_size=1, max_size=6))
def test_every_journal_a_month_end_reversal_mirrors_is_named_by_exactly_one_reversal(nights):
    """Night after night the month's accrual and its true-up are restated; each reversal names what it
    reverses: every accrual and true-up journal once, by the first reversal planned with or after it
    (none when they net to nothing: no reversal is due, and the next one names them)."""
    from dataclasses import replace

    from connector.domain.journals import JournalKind, key_prefix, serial_of
    from connector.domain.planner import Trace

    accrual = next(iter(desired_for(fact("1.00", date(2026, 10, 31)))))
    true_up = replace(accrual, kind=JournalKind.TRUE_UP)
    reversal = replace(accrual, kind=JournalKind.REVERSAL, period=date(2026, 11, 1))
    mirrored = lambda bucket: [replace(accrual, currency=bucket.currency), replace(true_up)]  # noqa: E731
    posted: dict = {}
    stored: dict = {}
    serials: dict = {}
    named: list[str] = []
    mirrors: list[str] = []
    unreversed: list[str] = []  # mirrored since the last reversal
    for accrued, trued in nights:
        desired = {accrual: accrued, true_up: trued, reversal: -(accrued + trued)}
        trace = Trace(keys=stored, mirrored=mirrored)
        planned = plan(
            desired, posted, counter_target=COUNTER, calendar=OPEN, used_serials=serials, trace=trace
        )
        for p in planned:
            journal = p.journal
            order = 1 + max((o for keys in stored.values() for o, _ in keys), default=0)
            for c in journal.contributions:
                posted[c.bucket] = posted.get(c.bucket, Decimal(0)) + c.amount
                stored.setdefault(c.bucket, []).append((order, journal.key))
            prefix = key_prefix(journal.kind, journal.txn_date)
            serials[prefix] = max(serials.get(prefix, 0), serial_of(journal.key))
            if journal.kind is JournalKind.REVERSAL:
                names = journal.memo.split(". Reverses ", 1)[1].split(", ")
                assert sorted(names) == sorted(unreversed)
                named += names
                unreversed = []
            else:
                mirrors.append(journal.key)
                unreversed.append(journal.key)
    assert len(named) == len(set(named))  # none named twice
    assert sorted(named + unreversed) == sorted(mirrors)  # none left out

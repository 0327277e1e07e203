"""Properties of the desired amounts of every journal kind, planned through the real planner.

For random books — usage on arrears, prepaid, month-end reversing and capitalizing accounts, credit lots,
credits sold and redeemed, invoices, a lock date and a locked-period behaviour — every journal balances,
nothing is ever dated in the locked period unless it is held, planning again after posting plans nothing,
any sequence of restatements converges (posted = desired), and planning a later window alone, from what
was posted before it, agrees with planning everything.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.domain.accounting_policy import PolicyHistory
from connector.domain.classifier import Classifier
from connector.domain.credits import CreditLot, CustomerCreditEvent, CustomerCreditKind
from connector.domain.desired import ACCRUED_KINDS, COST_KINDS, BooksInput, UsageCosts, desired_books
from connector.domain.invoices import Invoice
from connector.domain.journals import sum_contributions
from connector.domain.money import ZERO
from connector.domain.planner import LedgerCalendar, LockedBehaviour, plan, unconverged
from connector.domain.policy_file import parse_policies
from connector.domain.posting_buckets import counter_targets
from tests.support import FULL_MAPPING, fact, mapping

MAPPING = mapping(
    FULL_MAPPING.replace(
        "  - id: eng\n",
        "  - id: build\n    when: {project: proj_build}\n    category: capitalize\n  - id: eng\n",
    )
)
POLICIES, _ = parse_policies(
    """\
policy_version: 1
effective_from: 2026-01-01
change_note: properties
defaults:
  expected_breakage_percent: {default: 8}
  capitalization: {fine_tuning: capitalize, useful_life_months: 3}
entities:
  acme-us:
    accounts:
      - {provider: openai, account: prepaid, billing: prepaid}
      - {provider: openai, account: reversing, accrual: month_end_reversing}
      - {provider: openai, account: monthly, granularity: monthly}
""",
    "properties.yaml",
)
HISTORY = PolicyHistory.of([POLICIES])
START = date(2026, 9, 1)
FIRST, LAST = date(2026, 9, 1), date(2026, 12, 31)
ACCOUNTS = ("arrears", "prepaid", "reversing", "monthly")
PROJECTS = ("proj_support_assistant", "proj_eng_x", "proj_shared", "proj_build", "proj_nobody")
ROLE = lambda role: MAPPING.role_target(role, "quickbooks")  # noqa: E731
COUNTER = counter_targets(MAPPING, "quickbooks")

cents = st.integers(min_value=-500, max_value=50_000).map(lambda c: Decimal(c).scaleb(-2))
days = st.integers(min_value=0, max_value=100).map(lambda d: START + timedelta(days=d))
usage = st.lists(
    st.tuples(days, st.sampled_from(ACCOUNTS), st.sampled_from(PROJECTS), st.booleans(), cents),
    max_size=12,
)
lots = st.lists(
    st.tuples(days, st.integers(min_value=1, max_value=400), st.one_of(st.none(), st.integers(1, 90))),
    max_size=3,
)
grants = st.lists(
    st.tuples(
        days,
        st.integers(min_value=100, max_value=100_000),
        st.lists(st.tuples(days, st.integers(1, 60)), max_size=3),
    ),
    max_size=2,
)
invoices = st.lists(
    st.tuples(st.sampled_from(("arrears", "reversing")), st.sampled_from((9, 10, 11)), cents), max_size=3
)
books = st.fixed_dictionaries({"usage": usage, "lots": lots, "grants": grants, "invoices": invoices})


def books_input(state: dict, as_of: date, first: date = FIRST, history=None) -> BooksInput:
    facts = [
        fact(amount, day, account=account, project=project, line_item="ft-job" if tuned else f"l{i}")
        for i, (day, account, project, tuned, amount) in enumerate(state["usage"])
        if first <= day <= LAST
    ]
    credit_lots = [
        CreditLot(
            "acme-us",
            "openai",
            "prepaid",
            f"lot-{i}",
            day,
            Decimal(amount),
            "USD",
            day + timedelta(days=life) if life else None,
        )
        for i, (day, amount, life) in enumerate(state["lots"])
    ]
    events = []
    for g, (sold, amount, redemptions) in enumerate(state["grants"]):
        events.append(
            CustomerCreditEvent(
                "acme-us",
                f"s{g}",
                "c",
                f"g{g}",
                CustomerCreditKind.PURCHASE,
                sold,
                Decimal(amount),
                "USD",
                "credits",
                sold + timedelta(days=60),
            )
        )
        for r, (day, percent) in enumerate(redemptions):
            events.append(
                CustomerCreditEvent(
                    "acme-us",
                    f"r{g}-{r}",
                    "c",
                    f"g{g}",
                    CustomerCreditKind.REDEMPTION,
                    max(day, sold),
                    Decimal(amount * percent // 200 or 1),
                    "USD",
                    "credits",
                )
            )
    bills = [
        Invoice(
            "acme-us",
            "openai",
            account,
            f"{account}-{month}-{i}",
            f"2026-{month:02d}",
            date(2026, month + 1, 3),
            Decimal(1000) + variance,
            "USD",
        )
        for i, (account, month, variance) in enumerate(state["invoices"])
    ]
    return BooksInput(
        "acme-us",
        as_of,
        first,
        LAST,
        HISTORY,
        ROLE,
        UsageCosts(HISTORY, "acme-us").add(Classifier(MAPPING).classify_all(facts)),
        history or {},
        credit_lots,
        events,
        bills,
    )


def plan_once(desired, posted, calendar, serials):
    return plan(desired, posted, counter_target=COUNTER, calendar=calendar, used_serials=serials)


def serials_of(journals) -> dict[str, int]:
    out: dict[str, int] = {}
    for j in journals:
        prefix, serial = j.key[: j.key.rfind("-") + 1], int(j.key.rsplit("-", 1)[1], 36)
        out[prefix] = max(out.get(prefix, 0), serial)
    return out


as_of_days = st.integers(min_value=30, max_value=150).map(lambda d: START + timedelta(days=d))
locks = st.one_of(st.none(), days)
behaviours = st.sampled_from(list(LockedBehaviour))
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(state=books, as_of=as_of_days, lock=locks, behaviour=behaviours)
def test_every_journal_balances_and_none_lands_in_the_locked_period_unless_held(
    state, as_of, lock, behaviour
):
    desired = desired_books(books_input(state, as_of)).amounts
    planned = plan_once(desired, {}, LedgerCalendar(lock, behaviour), {})
    for p in planned:
        assert p.journal.debit_total == p.journal.credit_total
        if lock is not None and not p.held:
            assert p.journal.txn_date > lock
        if p.journal.original_date is None and p.journal.kind not in COST_KINDS:
            assert p.journal.txn_date <= as_of  # never future-dated
        monthly = p.journal.provider_account in ("reversing", "monthly") and p.journal.kind in ACCRUED_KINDS
        if monthly and p.journal.original_date is None:
            assert p.journal.txn_date < as_of  # a month's accrual only once the month has ended
    assert unconverged(desired, sum_contributions(p.journal for p in planned)) == {}


@SETTINGS
@given(state=books, as_of=as_of_days, lock=locks)
def test_planning_again_after_posting_plans_nothing(state, as_of, lock):
    desired = desired_books(books_input(state, as_of)).amounts
    calendar = LedgerCalendar(lock)
    first = plan_once(desired, {}, calendar, {})
    posted = sum_contributions(p.journal for p in first)
    assert plan_once(desired, posted, calendar, serials_of(p.journal for p in first)) == []


@SETTINGS
@given(states=st.lists(books, min_size=1, max_size=4), as_of=as_of_days, lock=locks, behaviour=behaviours)
def test_any_sequence_of_restatements_converges_to_the_last_desired(states, as_of, lock, behaviour):
    """Usage restated, lots, redemptions and invoices changed between runs: posted ends equal to desired."""
    calendar = LedgerCalendar(lock, behaviour)
    journals: list = []
    for state in states:
        desired = desired_books(books_input(state, as_of)).amounts
        posted = sum_contributions(journals)
        for p in plan_once(desired, posted, calendar, serials_of(journals)):
            assert p.held or lock is None or p.journal.txn_date > lock
            journals.append(p.journal)
    assert unconverged(desired, sum_contributions(journals)) == {}


@SETTINGS
@given(state=books, as_of=as_of_days)
def test_a_later_window_planned_from_what_was_posted_before_it_agrees_with_planning_everything(state, as_of):
    """Prepaid draws, true-ups, reversals and cohorts continue from the posted history: nothing new."""
    whole = desired_books(books_input(state, as_of)).amounts
    journals = [p.journal for p in plan_once(whole, {}, LedgerCalendar(), {})]
    posted = sum_contributions(journals)
    later = date(2026, 11, 1)
    history = {b: a for b, a in posted.items() if b.kind in COST_KINDS and b.period < later}
    window = desired_books(books_input(state, as_of, first=later, history=history)).amounts
    in_scope = {b: a for b, a in posted.items() if b.kind not in COST_KINDS or b.period >= later}
    assert plan_once(window, in_scope, LedgerCalendar(), serials_of(journals)) == []
    assert sum(window.values(), ZERO) == sum(in_scope.values(), ZERO)

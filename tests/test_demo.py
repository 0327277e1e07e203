"""`tokenbooks demo`: a month booked night by night into the QuickBooks sandbox; a second run posts nothing."""

from decimal import Decimal

from connector.domain.reconcile import ReconStatus
from connector.sandbox.demo import run_demo
from connector.sandbox.demo_data import month_of_costs


def test_the_demo_books_the_month_reconciles_it_and_a_second_run_posts_nothing(tmp_path):
    first = run_demo(tmp_path)
    assert [n.status for n in first.nights] == ["succeeded"] * 31
    assert first.posted_now == 32  # 31 nights + the delta for the day the provider restated
    restatements = [n for n in first.nights if any(p.replaced.restated for p in n.pulls)]
    assert len(restatements) == 1
    balances = {number: amount for number, _, amount in first.balances}
    assert sum(balances.values()) == 0  # the ledger balances
    expense = sum(balances[a] for a in ("5010", "6110", "6120", "6130", "6190"))
    assert expense == -balances["2150"]
    assert balances["6190"] > 0  # the hackathon project nobody mapped sits in suspense
    [recon] = first.reconciliation
    assert recon.status is ReconStatus.MATCHED
    exact = sum(
        (line.amount_as_of(line.day.replace(day=28).replace(month=12)) for line in month_of_costs()),
        Decimal(0),
    )
    assert abs(expense - exact) < Decimal("0.50")  # per-bucket rounding only
    assert [role for _, role, _ in first.users] == ["auditor", "accountant", "controller", "approver"]

    second = run_demo(tmp_path)
    assert second.posted_now == 0
    assert [n.status for n in second.nights] == ["succeeded"] * 31
    assert all(not n.plan.planned for n in second.nights)
    assert second.journals_in_ledger == first.journals_in_ledger == 32
    assert second.balances == first.balances

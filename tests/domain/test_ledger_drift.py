"""Line-by-line drift: what a person changed in a posted journal, in words; a new line order is no change."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from connector.domain.ledger_drift import HeldLine, Labels, line_changes

NAMES = {"10": "5010 AI COGS", "11": "6110 AI R&D", "13": "6130 AI G&A", "6": "2150 Accrued AI costs"}
LABELS = Labels(lambda a: NAMES.get(a, a), lambda t: t.replace("=", ": "))
POSTED = [
    HeldLine("10", Decimal("10.00"), ("class=Support",)),
    HeldLine("11", Decimal("5.00")),
    HeldLine("6", Decimal("-15.00")),
]


@given(st.permutations(POSTED))
def test_the_same_lines_in_any_order_are_no_change(held):
    assert line_changes(POSTED, held, LABELS) == []


def test_a_line_moved_to_another_account_and_one_to_another_class_are_named_by_line():
    held = [
        HeldLine("6", Decimal("-15.00")),
        HeldLine("13", Decimal("10.00")),
        HeldLine("11", Decimal("5.00"), ("class=Eng",)),
    ]
    assert line_changes(POSTED, held, LABELS) == [
        "line 1 (debit 10.00) moved from 5010 AI COGS (class: Support) to 6130 AI G&A",
        "line 2 (debit 5.00 on 6110 AI R&D) moved from no class or tracking to class: Eng",
    ]


def test_a_changed_amount_a_removed_line_and_an_added_line():
    held = [
        HeldLine("10", Decimal("12.00"), ("class=Support",)),
        HeldLine("6", Decimal("-15.00")),
        HeldLine("13", Decimal("3.00")),
    ]
    assert line_changes(POSTED, held, LABELS) == [
        "line 1 on 5010 AI COGS (class: Support) changed from debit 10.00 to debit 12.00",
        "line 2 changed from debit 5.00 on 6110 AI R&D to debit 3.00 on 6130 AI G&A",
    ]
    assert line_changes(POSTED, POSTED[:1] + POSTED[2:], LABELS) == [
        "line 2 (debit 5.00 on 6110 AI R&D) was removed"
    ]
    assert line_changes(POSTED[:2], POSTED, LABELS) == [
        "a line was added: credit 15.00 on 2150 Accrued AI costs"
    ]

"""The console's spend by month says what the ledger holds each month beside the spend, and why they
differ (the journal moved out of locked November, December's reversal of November's month-end accrual)."""

import re
from html import unescape

from tests.service.test_spend_ledger_tie import locked_november
from tests.web.conftest import controller_page


def test_the_overview_ties_each_months_spend_to_the_ledger_and_names_the_differences(tmp_path):
    world = locked_november(tmp_path)
    page = controller_page(world)
    table = page[
        page.index('<table class="spend">') : page.index("</table>", page.index('<table class="spend">'))
    ]
    [november] = re.findall(r'<th scope="row">2026-11</th>(.*?)</tr>', table, re.S)
    cells = [
        " ".join(unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in re.findall(r"<td.*?</td>", november)
    ]
    assert cells[-2:] == ["2,253.30", "2,250.54"]  # the spend of November, and what the ledger holds
    ties = unescape(re.sub(r"<[^>]+>", "", page[page.index("Why the ledger differs") :]))
    ties = " ".join(ties.split())
    assert "2026-11: spend 2,253.30, in the ledger 2,250.54" in ties
    assert (
        "TB-AC-261201-001 (usage accrual, 2026-12-01) belongs to 2026-11 but was moved to 2026-12-01: 2026-11 "
        "was locked in the ledger: (2.76)"
    ) in ties
    assert (
        "TB-RV-261201-001 (month-end reversal, 2026-12-01) reverses the month-end accrual of 2026-11" in ties
    )

"""The overview's spend by month names what it holds beyond the P&L categories: credits that expired
unused are "Expired credits" (a controller cannot tell what an "Other" column is), and a series shows
only when some month has it."""

from __future__ import annotations

import re
from datetime import date
from html import unescape

from tests.service.books_world import books_world, policies
from tests.web.conftest import controller_page


def test_credits_that_expired_are_named_in_the_spend_by_month(tmp_path):
    world = books_world(tmp_path, policies("billing: prepaid"))
    world.buy_credits("LOT-SHORT", "100.00", date(2026, 9, 20), date(2026, 10, 2))
    world.source.set("30.00", date(2026, 10, 1))
    world.night(date(2026, 10, 1))
    world.night(date(2026, 10, 3))  # the lot expired on the 2nd with 70.00 unused: written off
    page = controller_page(world)
    table = page[page.index('<table class="spend">') :]
    table = table[: table.index("</table>")]
    headings = [unescape(h) for h in re.findall(r'<th scope="col" class="r">([^<]+)</th>', table)]
    assert headings == [
        "AI COGS",
        "R&D",
        "Sales & Marketing",
        "G&A",
        "Suspense (unallocated)",
        "Expired credits",
        "Total (USD)",
        "In the ledger, by posting date",
    ]
    [october] = re.findall(r'<th scope="row">2026-10</th>(.*?)</tr>', table, re.S)
    cells = [
        " ".join(unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in re.findall(r"<td.*?</td>", october)
    ]
    assert cells == ["30.00", "0.00", "0.00", "0.00", "0.00", "70.00", "100.00", "100.00"]
    assert '"Expired credits"' in page  # the chart's series too

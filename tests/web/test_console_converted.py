"""The console's reconciliation page of books kept in pounds for a provider billing dollars: every figure
says its currency — the provider's cost, the invoice and what was posted in dollars, what was posted and
what the ledger holds in pounds — and so does a check that does not hold."""

import re
from html import unescape

from starlette.testclient import TestClient

from connector.domain.periods import Period
from connector.domain.users import Role
from connector.service.reconcile import reconcile_run
from connector.service.users import add_user
from connector.web.asgi import create_console
from tests.service.books_world import ENTITY, invoice_november, pound_november, pound_world
from tests.web.conftest import PASSWORD, sign_in


def test_the_reconciliation_page_of_converted_books_names_the_currency_of_each_figure(tmp_path):
    world = pound_world(tmp_path)
    pound_november(world)
    invoice_november(world, "4000.04")
    del world.ledger.journals["TB-AC-261115-001"]  # deleted in the ledger by hand
    reconcile_run(world.app, entity=ENTITY, period=Period(2026, 11))
    add_user(world.app.store, world.clock, username="ann", role=Role.ACCOUNTANT, by="test", password=PASSWORD)
    console = create_console(world.app, secret="test-secret")
    with TestClient(console, base_url="http://console.test") as client:
        sign_in(client, "ann")
        page = client.get("/reconciliation?period=2026-11").text
    [row] = re.findall(r'<tr><th scope="row">openai org-1.*?</tr>', page, re.S)
    cells = [
        " ".join(unescape(re.sub(r"<[^>]+>", " ", c)).split())
        for c in re.findall(r"<t[hd].*?</t[hd]>", row, re.S)
    ]
    assert cells == [
        "openai org-1 USD, books in GBP",
        "4,000.04 USD",  # provider cost
        "4,000.04 USD",  # invoice
        "4,000.04 USD 3,060.04 GBP in the books",  # posted: as computed, and as booked
        "2,290.03 GBP",  # in the ledger
        "0.00 USD tolerance 1.00 USD",  # variance
        "drift",
    ]
    said = " ".join(unescape(re.sub(r"<[^>]+>", " ", page)).split())
    assert (
        "✗ ledger = posted, in GBP (off by -770.01 GBP) — changed or missing in the ledger: TB-AC-261115-001"
        in said
    )
    assert "✓ invoice = provider cost, in USD" in said
    assert (
        "✓ posted in GBP = posted in USD at the rates of its days — converted from USD at 0.7600 GBP per USD"
        in said
    )
    assert "reconciliation of openai org-1 for 2026-11: drift — changed or missing in the ledger" in said

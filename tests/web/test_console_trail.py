"""The auditor's trail in the console: from a journal entry found in the ledger (its ledger id) to the
tokenbooks journal, the run that planned it and the run that posted it, and back from a run to the journals
it planned with their ledger ids; and the credit lots voided as recorded in error, beside the lots in force
on the reconciliation page (who voided each, when and why)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from html import unescape

from pydantic import SecretStr
from starlette.testclient import TestClient

from connector.domain.journals import JournalKind
from connector.domain.users import Role
from connector.service.after_run import after_run
from connector.service.audit import trace as audit_trace
from connector.service.lot_voids import void_credit_lot
from connector.service.policies import policy_history
from connector.service.sync import sync
from connector.service.users import add_user
from connector.web.asgi import create_console
from connector.web.format import console_step
from tests.service.books_world import ENTITY, books_world, policies, pound_world
from tests.service.conftest import World
from tests.web.conftest import PASSWORD, controller_page, sign_in


def said(html: str) -> str:
    """The page's text as a person reads it: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def stored_journals(world: World) -> list:
    with world.app.store.unit_of_work() as uow:
        return uow.outbox.list("acme-us")


def test_a_ledger_id_leads_to_its_journal_and_the_runs_that_planned_and_posted_it(
    console_world: World, client: TestClient
):
    sign_in(client, "ada")
    journal = stored_journals(console_world)[-1]  # the sync of Oct 1-3 posted an accrual a day
    key, ledger_id = journal.journal.key, journal.ledger_id
    assert ledger_id

    assert len({s.ledger_id for s in stored_journals(console_world)}) > 1
    found = client.get(f"/journals?ledger_id={ledger_id}").text
    assert re.findall(r'href="/journals/([^"/]+)"', found) == [key]
    assert "Ledger id" in found
    assert f'<td class="num">{ledger_id}</td>' in found
    assert "No journal matches." in client.get("/journals?ledger_id=999999").text

    page = client.get(f"/journals/{key}").text
    [run_id] = set(re.findall(r'href="/runs/([0-9a-f-]+)"', page))  # the nightly run planned and posted it
    assert f"Planned by run {run_id[:8]}" in said(page)
    assert f"posted as ledger id {ledger_id} by run {run_id[:8]} on" in said(page)
    attempts = page[page.index("Posting attempts") :]
    assert re.search(rf"1 .*{run_id[:8]} created {ledger_id}", said(attempts))

    run = client.get(f"/runs/{run_id}").text
    planned = said(run[run.index("Journals it planned") : run.index("Events")])
    assert f"{key} Usage accrual 2026-10-03 posted {ledger_id} 35.00 USD" in planned


def test_a_journal_not_yet_sent_says_so_instead_of_attempts(console_world: World):
    console_world.app.settings = console_world.app.settings.model_copy(update={"ledger_mode": "approve"})
    console_world.source.set("7.00", date(2026, 10, 4))
    console_world.clock.night_after(date(2026, 10, 4))
    sync(console_world.app, entity="acme-us", until=date(2026, 10, 4))
    [held] = [s for s in stored_journals(console_world) if s.status == "held"]
    console = create_console(console_world.app, secret="test-secret")
    with TestClient(console, base_url="http://console.test") as client:
        sign_in(client, "ada")
        page = said(client.get(f"/journals/{held.journal.key}").text)
    assert "Posting attempts Not sent to the ledger yet: it waits for approval." in page


def test_the_reconciliation_page_lists_the_voided_lots_with_who_voided_them_and_why(tmp_path):
    world = books_world(tmp_path, policies("billing: prepaid"))
    world.buy_credits("LOT-MAIN", "1000.00", date(2026, 10, 1), date(2027, 9, 30))
    world.buy_credits("LOT-TYPO", "1000.00", date(2026, 10, 1), None)
    world.source.set("25.00", date(2026, 10, 1))
    world.night(date(2026, 10, 1))
    void_credit_lot(world.app, entity="acme-us", lot_id="LOT-TYPO", reason="entered twice: receipt RCPT-7")
    add_user(world.app.store, world.clock, username="ada", role=Role.AUDITOR, by="test", password=PASSWORD)
    console = create_console(world.app, secret="test-secret")
    with TestClient(console, base_url="http://console.test") as client:
        sign_in(client, "ada")
        page = said(client.get("/reconciliation?period=2026-10").text)
        earlier = said(client.get("/reconciliation?period=2026-09").text)
    lots = page[page.index("Prepaid credit lots") :]
    assert "LOT-MAIN openai org-1 1,000.00 USD 25.00" in lots
    assert "Voided lots" in lots
    assert "LOT-TYPO openai org-1 1,000.00 USD 2026-10-01" in lots
    assert "by tokenbooks: entered twice: receipt RCPT-7" in lots
    assert "LOT-TYPO" not in lots[: lots.index("Voided lots")]  # not among the lots in force
    assert "Voided lots" not in earlier  # bought after September


def test_the_journals_a_run_planned_are_asked_of_the_store_not_picked_from_the_newest(console_world: World):
    """A run's page lists its journals however many were planned since (it read the 500 newest before)."""
    first = stored_journals(console_world)[0]
    with console_world.app.store.unit_of_work() as uow:
        summary = uow.console.journal("acme-us", first.journal.key)
        assert summary is not None
        assert summary.planned_run_id
        mine, count = uow.console.journals("acme-us", planned_run_id=summary.planned_run_id)
        others, none = uow.console.journals("acme-us", planned_run_id="no-such-run")
    assert first.journal.key in [j.key for j in mine]
    assert count == len(mine)
    assert (others, none) == ([], 0)


def test_the_overview_s_alerts_say_the_currency_and_link_the_failed_run(tmp_path):
    """Books in pounds, OpenAI billing dollars: the suspense alert says its amount is in dollars, and the
    failed run's alert links to that run's log."""
    world = pound_world(tmp_path)
    world.source.set("1.25", date(2026, 11, 13), project="proj_nobody_mapped")
    world.night(date(2026, 11, 13))
    after_run(world.app, ENTITY)
    world.source.broken = "HTTP 503 from the provider"
    world.clock.night_after(date(2026, 11, 14))
    failed = sync(world.app, entity=ENTITY, until=date(2026, 11, 14))
    assert failed.status == "failed"
    after_run(world.app, ENTITY)
    add_user(world.app.store, world.clock, username="ada", role=Role.AUDITOR, by="test", password=PASSWORD)
    console = create_console(world.app, secret="test-secret")
    with TestClient(console, base_url="http://console.test") as client:
        sign_in(client, "ada")
        page = client.get("/").text
    alerts = page[page.index("Open alerts") :]
    assert "1.25 USD of openai spend in 2026-11 (up to 2026-11-13) matched no mapping rule" in said(alerts)
    assert f'<a href="/runs/{failed.run_id}">the run\'s log</a>' in alerts


def test_a_month_end_accrual_traces_to_every_day_of_its_month(tmp_path):
    """A reversing accrual books October in one journal dated the 31st: its lineage (the console's and
    `audit trace`'s) holds the allocations of every day of October it sums, not the 31st's alone."""
    world = books_world(tmp_path, policies("accrual: month_end_reversing"))
    world.source.set("120.004", date(2026, 10, 2))
    world.source.set("30.00", date(2026, 10, 17))
    world.source.set("5.00", date(2026, 10, 31))
    for day in (2, 17, 31):
        world.night(date(2026, 10, day))
    world.night(date(2026, 11, 1))
    [accrual] = world.journals(JournalKind.USAGE_ACCRUAL)
    assert accrual.key == "TB-AC-261031-001"
    assert [str(line.amount) for line in accrual.lines] == ["155.00", "-155.00"]

    trace = audit_trace(
        world.app.store, entity=ENTITY, key=accrual.key, line=1, policies=policy_history(world.app)
    )
    [bucket] = trace.lines[0].buckets
    assert (bucket.contribution, bucket.allocated) == (Decimal("155.00"), Decimal("155.004"))
    assert len(bucket.allocations) == 3

    add_user(world.app.store, world.clock, username="ada", role=Role.AUDITOR, by="test", password=PASSWORD)
    console = create_console(world.app, secret="test-secret")
    with TestClient(console, base_url="http://console.test") as client:
        sign_in(client, "ada")
        page = said(client.get(f"/journals/{accrual.key}/lines/1").text)
    assert (
        "This journal adds 155.00 USD; the bucket holds 3 allocation(s) of 31 usage days, 2026-10-01 to "
        "2026-10-31 totalling 155.00 USD (exact, rounded once when booked)" in page
    )
    assert all(day in page for day in ("2026-10-02", "2026-10-17", "2026-10-31"))


def test_the_policies_page_says_how_the_books_are_converted_and_the_tolerance_in_money(tmp_path):
    world = pound_world(tmp_path)
    page = said(controller_page(world, "/policies"))
    assert "Invoice tolerance — openai org-1 25.00 in the invoice's currency An invoice" in page
    assert "Currency conversion rates file rates.csv Usage in another currency than the books'" in page


def test_a_close_blocker_links_to_the_console_page_that_fixes_it(tmp_path):
    """Spend in suspense blocks the close: beside the command the fix names, the Mappings page that adds
    the rule; a missing invoice: the Import files page."""
    world = pound_world(tmp_path)
    world.source.set("1.25", date(2026, 11, 13), project="proj_nobody_mapped")
    world.night(date(2026, 11, 13))
    world.clock.night_after(date(2026, 12, 1))
    add_user(world.app.store, world.clock, username="ann", role=Role.ACCOUNTANT, by="test", password=PASSWORD)
    console = create_console(world.app, secret="test-secret")
    with TestClient(console, base_url="http://console.test") as client:
        sign_in(client, "ann")
        overview = client.get("/").text
        closing = client.get("/reconciliation?period=2026-11").text
    for page in (overview, closing):
        assert 'In the console: <a href="/mappings">Mappings: add a rule for the spend</a>' in page
    assert "sits in suspense" in said(overview)
    invoice = console_step("tokenbooks import invoices FILE  (the openai invoice for 2026-11)")
    assert '<a href="/imports">Import files: the provider&#39;s invoice</a>' in invoice
    assert console_step("reopen 2026-10 in the ledger") == "reopen 2026-10 in the ledger"  # no console step


def test_the_auditor_downloads_the_sync_log_from_the_console_without_secrets(console_world: World, client):
    """The period's export from the Audit page holds the runs, their reasons and events — a failed run's
    reason that quotes a secret setting shows it redacted."""
    secret = "https://hooks.slack.test/services/T000/B000/very-secret-token"
    console_world.app.settings.alerts.webhook_url = SecretStr(secret)
    console_world.source.broken = f"HTTP 500 calling {secret}"
    console_world.clock.night_after(date(2026, 10, 4))
    failed = sync(console_world.app, entity="acme-us", until=date(2026, 10, 4))
    assert failed.status == "failed"
    sign_in(client, "ada")
    answer = client.get("/audit/export?period=2026-10&format=json")
    assert answer.status_code == 200
    assert "very-secret-token" not in answer.text
    export = answer.json()
    [run] = [r for r in export["runs"] if r["id"] == failed.run_id]
    assert run["status"] == "failed"
    assert "[redacted]" in run["reason"]
    assert any(e["run_id"] == failed.run_id for e in export["events"])

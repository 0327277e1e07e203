"""The acceptance month against the QuickBooks sandbox, through the real adapter (python-quickbooks over
HTTP), on SQLite and on PostgreSQL: October run nightly reconciles as matched; a journal deleted by hand
in QuickBooks is drift, named by its key, on the next reconcile; the next sync posts exactly that journal
again (same key), and the month is matched again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from connector.bootstrap import App, build_app
from connector.domain.invoices import Invoice
from connector.domain.periods import Period
from connector.domain.reconcile import ReconStatus
from connector.ledgers.quickbooks.settings import QuickBooksSettings
from connector.ledgers.tokens import MemoryVault
from connector.sandbox.quickbooks import QuickBooksSandbox
from connector.service.invoices import store_invoices
from connector.service.reconcile import reconcile_run
from connector.service.sync import sync
from connector.settings import Settings
from tests.ledgers.conftest import connect
from tests.service.conftest import Clock, ScriptedSource
from tests.support import MINIMAL_MAPPING

OCT = Period(2026, 10)


@pytest.fixture
def month_app(
    tmp_path: Path, database_url: str
) -> Iterator[tuple[App, QuickBooksSandbox, ScriptedSource, Clock]]:
    sandbox = QuickBooksSandbox(tmp_path / "qbo.json")
    url = sandbox.start()
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MINIMAL_MAPPING)
    settings = Settings(
        database_url=database_url,
        mapping_file=mapping,
        data_dir=tmp_path,
        quickbooks=QuickBooksSettings(
            client_id=sandbox.client_id,
            client_secret=SecretStr(sandbox.client_secret),
            base_url=url,
            discovery_url=f"{url}/.well-known/openid_configuration",
            timeout_seconds=10.0,
            max_retries=2,
        ),
        _env_file=None,
    )
    vault, source, clock = MemoryVault(), ScriptedSource(), Clock()
    connect(sandbox, vault)
    app = build_app(settings, clock=clock, vault=vault, sources=[source], sleep=lambda _: None)
    yield app, sandbox, source, clock
    app.engine.dispose()
    sandbox.stop()


def test_a_month_run_nightly_reconciles_and_a_journal_deleted_by_hand_is_posted_again(month_app):
    app, sandbox, source, clock = month_app
    total = Decimal(0)
    for day in OCT.days():
        amount = Decimal(f"{day.day * 3}.{day.day:02d}7")  # three decimals: rounding per bucket shows
        source.set(str(amount), day)
        total += amount
        clock.now = datetime.combine(day + timedelta(days=1), time(2, 30), tzinfo=UTC)
        assert sync(app, entity="acme-us", until=day).status == "succeeded"
    store_invoices(
        app.store,
        [
            Invoice(
                "acme-us",
                "openai",
                "org-1",
                "INV-10",
                "2026-10",
                date(2026, 11, 3),
                total.quantize(Decimal("0.01")),
                "USD",
            )
        ],
        source="test",
        clock=clock,
    )
    [first] = reconcile_run(app, entity="acme-us", period=OCT)
    assert first.status is ReconStatus.MATCHED
    assert first.input.ledger_total == first.input.posted_total

    sandbox.delete_journal_by_hand("TB-AC-261015-001")  # someone deletes a journal in QuickBooks
    [drift] = reconcile_run(app, entity="acme-us", period=OCT)
    assert drift.status is ReconStatus.DRIFT
    assert drift.input.drifted_keys == ("TB-AC-261015-001 (missing)",)

    writes = app.ledger("acme-us").stats.write_calls
    again = sync(app, entity="acme-us", until=date(2026, 10, 31))
    assert again.post.posted == ["TB-AC-261015-001"]  # exactly that journal, under the same key
    assert app.ledger("acme-us").stats.write_calls == writes + 1
    keys = sorted(j["DocNumber"] for j in sandbox.journal_entries())
    assert keys == sorted(f"TB-AC-2610{d:02d}-001" for d in range(1, 32))
    [after] = reconcile_run(app, entity="acme-us", period=OCT)
    assert after.status is ReconStatus.MATCHED


def test_a_line_moved_by_hand_in_quickbooks_to_another_account_and_class_is_drift_saying_so(month_app):
    """An accountant opens a posted journal in QuickBooks and moves its expense line to 6130 AI G&A and to
    the Back Office class, amounts untouched: what the books hold changed, and reconcile says how."""
    app, sandbox, source, clock = month_app
    for day in (date(2026, 10, 1), date(2026, 10, 2)):
        source.set("10.00", day)
        source.set("5.00", day, project="proj_eng_search")
        clock.now = datetime.combine(day + timedelta(days=1), time(2, 30), tzinfo=UTC)
        assert sync(app, entity="acme-us", until=day).status == "succeeded"
    [before] = reconcile_run(app, entity="acme-us", period=OCT)
    assert before.input.drifted_keys == ()

    [entry] = [j for j in sandbox.journal_entries() if j["DocNumber"] == "TB-AC-261002-001"]
    lines = [
        dict(line, JournalEntryLineDetail=dict(line["JournalEntryLineDetail"])) for line in entry["Line"]
    ]
    [cogs] = [ln for ln in lines if ln["JournalEntryLineDetail"]["AccountRef"]["value"] == "10"]
    cogs["JournalEntryLineDetail"]["AccountRef"] = {"value": "13"}  # 6130 AI G&A
    cogs["JournalEntryLineDetail"]["ClassRef"] = {"value": "104"}  # Back Office
    [rnd] = [ln for ln in lines if ln["JournalEntryLineDetail"]["AccountRef"]["value"] == "11"]
    rnd["JournalEntryLineDetail"]["ClassRef"] = {"value": "102"}  # Engineering, same account
    sandbox.edit_journal_by_hand("TB-AC-261002-001", lines=lines)

    [drift] = reconcile_run(app, entity="acme-us", period=OCT)
    assert drift.status is ReconStatus.DRIFT
    assert [ln["JournalEntryLineDetail"]["AccountRef"]["value"] for ln in entry["Line"]] == ["10", "11", "6"]
    assert drift.input.drifted_keys == (
        "TB-AC-261002-001 (changed: line 1 (debit 10.00) moved from 5010 AI COGS (class: Support Assistant) "
        "to 6130 AI G&A (class: Back Office); line 2 (debit 5.00 on 6110 AI R&D) moved from no class or "
        "tracking to class: Engineering)",
    )
    assert drift.input.ledger_total == drift.input.posted_total  # the amounts are all there
    assert sync(app, entity="acme-us", until=date(2026, 10, 2)).post.posted == []  # a person's change stays

"""Pulling and importing into the store: resumable pulls, FOCUS imports, the invoice inbox, credits, bills."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import responses
from sqlalchemy import event, select
from sqlmodel import Session

from connector.bootstrap import build_app
from connector.domain.credits import CreditLot
from connector.domain.errors import ConfigError, InputError
from connector.domain.facts import ChargeCategory
from connector.domain.periods import Period
from connector.ledgers.memory import MemoryLedger
from connector.ledgers.port import LedgerBill
from connector.service.imports import (
    import_credit_lots,
    import_customer_credits,
    import_focus,
    record_credit_lot,
)
from connector.service.invoices import import_ledger_bills
from connector.service.pull import entity_sources_status, pull_sources, sources_status
from connector.settings import Settings
from connector.sources.focus import FocusOptions, read_focus
from connector.sources.openai import OpenAICostsSource
from connector.store.tables import ImportRow, InvoiceRow, QuarantineRow
from connector.store.unit_of_work import UnitOfWork
from tests.service.conftest import Clock, builds_counted
from tests.sources.builders import (
    OPENAI,
    client,
    focus_csv,
    focus_row,
    openai_bucket,
    openai_cost,
    openai_page,
)
from tests.support import MINIMAL_MAPPING

COSTS = f"{OPENAI}/organization/costs"
DAYS = [date(2026, 10, d) for d in range(1, 7)]


def make_app(tmp_path: Path, name: str, sources=None, **settings):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MINIMAL_MAPPING)
    config = Settings(
        database_url=f"sqlite:///{tmp_path / name}",
        mapping_file=mapping,
        data_dir=tmp_path,
        _env_file=None,
        **settings,
    )
    return build_app(config, clock=Clock(), sources=sources, sleep=lambda _: None)


def costs_source() -> OpenAICostsSource:
    return OpenAICostsSource(
        client(OPENAI, "OpenAI"),
        organization="org-1",
        entity="acme-us",
        timezone="America/New_York",
        lag_days=0,
    )


def three_pages() -> list[dict]:
    return [
        openai_page(
            *(
                openai_bucket(day, openai_cost(1.5 + i, project=f"proj_{i}"))
                for i, day in enumerate(DAYS[k : k + 2])
            ),
            next_page=f"p{k + 2}" if k < 4 else None,
        )
        for k in (0, 2, 4)
    ]


def stored_facts(app) -> list[tuple]:
    with UnitOfWork(app.engine) as uow:
        return sorted(
            (s.fact.natural_key, s.fact.amount, s.fact.version, s.fact.posting_date, s.fact.dimensions)
            for s in uow.facts.current("acme-us")
        )


def killed(_request):
    raise KeyboardInterrupt  # the process is stopped while page 2 is on its way


@pytest.mark.parametrize("interruption", ["connection lost", "process killed"])
def test_an_interrupted_paginated_pull_resumed_yields_exactly_the_uninterrupted_facts(
    tmp_path: Path, interruption: str
):
    pages = three_pages()
    straight = make_app(tmp_path, "straight.db", sources=[costs_source()])
    with responses.RequestsMock() as mock:
        for page in pages:
            mock.get(COSTS, json=page)
        assert pull_sources(straight, entity="acme-us", since=DAYS[0], until=DAYS[-1]).status == "succeeded"
    expected = stored_facts(straight)
    assert len(expected) == 6

    resumed = make_app(tmp_path, "resumed.db", sources=[costs_source()])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(COSTS, json=pages[0])
        if interruption == "connection lost":
            mock.get(COSTS, body=requests.ConnectionError("reset"))
        else:
            mock.add_callback(responses.GET, COSTS, callback=killed)
        if interruption == "connection lost":
            run = pull_sources(resumed, entity="acme-us", since=DAYS[0], until=DAYS[-1])
            assert run.status == "failed"
            assert "cannot reach" in run.reason
        else:
            with pytest.raises(KeyboardInterrupt):
                pull_sources(resumed, entity="acme-us", since=DAYS[0], until=DAYS[-1])
    assert stored_facts(resumed) == []  # page 1 parsed, but nothing of the window was stored
    [status] = sources_status(resumed.store, resumed.sources("acme-us"))
    assert status.bookmark is None
    with responses.RequestsMock() as mock:
        for page in pages:
            mock.get(COSTS, json=page)
        assert pull_sources(resumed, entity="acme-us", since=DAYS[0], until=DAYS[-1]).status == "succeeded"
    assert stored_facts(resumed) == expected
    [status] = sources_status(resumed.store, resumed.sources("acme-us"))
    assert status.bookmark == "2026-10-06"
    assert status.last_error is None


def test_a_failed_source_is_reported_by_sources_status_and_others_still_pull(tmp_path: Path):
    app = make_app(tmp_path, "tb.db", sources=[costs_source()])
    with responses.RequestsMock() as mock:
        mock.get(COSTS, json={"object": "page", "has_more": False, "next_page": None})
        run = pull_sources(app, entity="acme-us", since=DAYS[0], until=DAYS[0])
    assert run.status == "failed"
    assert run.failures[0][0] == "openai.costs"
    [status] = sources_status(app.store, app.sources("acme-us"))
    assert status.configured
    assert "data: missing" in status.last_error


def focus_file(tmp_path: Path, name: str, second: str = "2.00") -> Path:
    rows = [
        focus_row("1.00", invoice="INV-1"),
        focus_row(second, hour=1, invoice="INV-1"),
        focus_row("500.00", category="Purchase", CommitmentDiscountId="prepay-1", end_hours=24 * 90),
        focus_row("5/1/25", hour=2),  # a bad amount: quarantined
        focus_row("9.00", service_category="Compute", service="EC2"),  # not AI: skipped
    ]
    return focus_csv(tmp_path / name, rows)


def test_an_entitys_sources_list_its_own_imports_only_and_read_no_facts(tmp_path: Path):
    """Listing sources is on every console page that shows them: it reads the bookmarks, which name the
    entities their imports stored for, and not the facts (a DISTINCT over every fact, per entity, before)."""
    app = make_app(tmp_path, "tb.db")
    us_entity = "  acme-us: {ledger: quickbooks, currency: USD, timezone: America/New_York}\n"
    app.settings.mapping_file.write_text(
        MINIMAL_MAPPING.replace(us_entity, us_entity + us_entity.replace("us", "eu"))
    )
    us = focus_csv(tmp_path / "us.csv", [focus_row("1.00", account="111111111111")])
    eu = focus_csv(tmp_path / "eu.csv", [focus_row("2.00", account="222222222222")])
    import_focus(app, [us], FocusOptions(entity="acme-us", timezone="UTC"))
    import_focus(app, [eu], FocusOptions(entity="acme-eu", timezone="UTC"))
    statements: list[str] = []
    engine = app.store.engine
    listen = lambda *args: statements.append(args[2])  # noqa: E731 (conn, cursor, statement, …)
    event.listen(engine, "before_cursor_execute", listen)
    try:
        listed = {e: [s.source for s in entity_sources_status(app, e)] for e in ("acme-us", "acme-eu")}
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert listed == {"acme-us": ["focus:111111111111"], "acme-eu": ["focus:222222222222"]}
    assert statements  # the bookmarks were read
    assert not [s for s in statements if " facts" in s]


def test_a_focus_import_stores_facts_lots_invoices_and_quarantine_in_one_go(tmp_path: Path):
    app = make_app(tmp_path, "tb.db")
    options = FocusOptions(entity="acme-us", timezone="America/New_York")
    report = import_focus(app, [focus_file(tmp_path, "export.csv")], options)
    assert report.status == "partial"
    assert report.balanced
    assert report.tally.as_dict()["rows"] == {"input": 5, "accepted": 3, "quarantined": 1, "skipped": 1}
    assert report.tally.amounts["accepted"] == {"USD": Decimal("503.00")}
    assert report.stored["facts_inserted"] == 1
    assert (report.stored["lots_new"], report.stored["lots_replaced"]) == (1, 0)
    with UnitOfWork(app.engine) as uow:
        [fact] = [s.fact for s in uow.facts.current("acme-us")]
        [lot] = uow.credit_lots.for_account("acme-us", "aws", "123456789012")
        [invoice] = uow.invoices.for_period("acme-us", "2026-10")
        [quarantined] = uow.imports.quarantined(report.import_id)
    assert (fact.amount, fact.charge_category) == (Decimal("3.00"), ChargeCategory.USAGE)
    assert lot.amount == Decimal("500.00")
    assert lot.expires_on == date(2026, 12, 30)
    assert invoice.total == Decimal("3.00")
    assert invoice.number == "INV-1"
    assert (quarantined.location, quarantined.column) == (
        "row 5",
        "BilledCost",
    )
    assert "5/1/25" in quarantined.raw

    again = import_focus(app, [focus_file(tmp_path, "export.csv")], options)
    assert again.stored["facts_inserted"] == 0
    assert again.stored["facts_unchanged"] == 1
    assert (again.stored["lots_new"], again.stored["lots_unchanged"]) == (0, 1)
    restated = import_focus(app, [focus_file(tmp_path, "export-v2.csv", second="2.50")], options)
    assert restated.stored["facts_restated"] == 1
    with UnitOfWork(app.engine) as uow:
        assert [s.fact.amount for s in uow.facts.current("acme-us")] == [Decimal("3.50")]
        assert len(uow.credit_lots.for_entity("acme-us")) == 1


def test_the_invoice_inbox_is_imported_by_pull_once_with_bad_invoices_quarantined(tmp_path: Path):
    inbox = tmp_path / "invoices"
    inbox.mkdir()
    (inbox / "openai-2026-10.csv").write_text(
        "provider,account,number,period,issue_date,total,currency\n"
        "openai,org-1,INV-1,2026-10,2026-11-03,123.45,USD\n"
        "openai,org-1,INV-2,2026-10,3 Nov 2026,10.00,USD\n"
    )
    app = make_app(tmp_path, "tb.db", sources=[])
    run = pull_sources(app, entity="acme-us", invoices_dir=inbox)
    [report] = run.inbox.imported
    assert run.status == "partial"
    assert report.tally.as_dict()["rows"]["accepted"] == 1
    assert report.quarantined[0].problem.location == "row 3"
    again = pull_sources(app, entity="acme-us", invoices_dir=inbox)
    assert again.inbox.imported == []
    assert len(again.inbox.unchanged) == 1
    with Session(app.engine) as session:
        assert session.exec(select(InvoiceRow.number)).scalars().all() == ["INV-1"]
        assert len(session.exec(select(QuarantineRow)).scalars().all()) == 1
        assert [r.status for r in session.exec(select(ImportRow)).scalars()] == ["partial"]


def test_credit_lots_import_with_the_openai_default_expiry_and_fifo_by_expiry(tmp_path: Path):
    path = tmp_path / "lots.csv"
    path.write_text(
        "lot_id,provider,account,purchase_date,amount,currency,expires_on\n"
        "R-1,openai,org-1,2026-03-01,1000.00,USD,\n"
        "R-2,openai,org-1,2026-01-15,250.00,USD,2026-06-30\n"
        "R-3,openai,org-1,2026-02-01,-5,USD,\n"
    )
    app = make_app(tmp_path, "tb.db")
    report = import_credit_lots(app, path, entity="acme-us")
    assert report.status == "partial"
    assert report.balanced
    with UnitOfWork(app.engine) as uow:
        lots = uow.credit_lots.for_account("acme-us", "openai", "org-1")
    assert [(lot.lot_id, lot.expires_on) for lot in lots] == [
        ("R-2", date(2026, 6, 30)),
        ("R-1", date(2027, 3, 1)),
    ]


def test_customer_credits_are_checked_against_grants_already_stored(tmp_path: Path):
    app = make_app(tmp_path, "tb.db")
    first = tmp_path / "sold-1.json"
    first.write_text(
        json.dumps(
            {
                "events": [
                    {
                        "event_id": "P1",
                        "customer": "globex",
                        "grant": "G1",
                        "kind": "purchase",
                        "date": "2026-01-01",
                        "amount": "100000",
                        "currency": "USD",
                        "product": "API credits",
                        "expires_on": "2027-01-01",
                    },
                    {
                        "event_id": "R1",
                        "customer": "globex",
                        "grant": "G1",
                        "kind": "redemption",
                        "date": "2026-02-01",
                        "amount": "60000",
                        "currency": "USD",
                    },
                ]
            }
        )
    )
    assert import_customer_credits(app, first, entity="acme-us").status == "succeeded"
    second = tmp_path / "sold-2.csv"
    second.write_text(
        "event_id,customer,grant,kind,date,amount,currency\n"
        "R2,globex,G1,redemption,2026-03-01,30000,USD\n"
        "R3,globex,G1,redemption,2026-04-01,20000,USD\n"
    )
    report = import_customer_credits(app, second, entity="acme-us")
    assert report.status == "partial"
    assert report.balanced
    [refused] = report.quarantined
    assert (refused.problem.location, refused.problem.field) == ("row 3", "amount")
    assert refused.raw == "R3,globex,G1,redemption,2026-04-01,20000,USD"
    with UnitOfWork(app.engine) as uow:
        balance = uow.customer_credits.balances("acme-us")["G1"]
    assert (balance.purchased, balance.redeemed, balance.remaining) == (100000, 90000, 10000)


def test_vendor_bills_entered_in_the_ledger_become_invoices(tmp_path: Path):
    app = make_app(tmp_path, "tb.db")
    ledger = MemoryLedger()
    ledger.bill_list = [
        LedgerBill("b1", "OpenAI, LLC", "OAI-2026-10", date(2026, 11, 4), Decimal("1234.56"), "USD"),
        LedgerBill("b2", "OpenAI, LLC", "OAI-2026-09", date(2026, 10, 3), Decimal("99.00"), "USD"),
    ]
    invoices = import_ledger_bills(
        app.store,
        ledger,
        vendors={("openai", "org-1"): "OpenAI, LLC"},
        period=Period.parse("2026-10"),
        entity="acme-us",
        clock=app.clock,
    )
    assert [(i.number, i.total, i.period) for i in invoices] == [
        ("memory:OAI-2026-10", Decimal("1234.56"), "2026-10")
    ]
    with UnitOfWork(app.engine) as uow:
        assert [r.total for r in uow.invoices.for_period("acme-us", "2026-10")] == [Decimal("1234.56")]


def test_the_composition_root_wires_anthropic_and_openai_usage_from_settings(tmp_path: Path):
    app = make_app(
        tmp_path,
        "tb.db",
        openai={"admin_key": "sk-admin-x", "organization": "org-1"},
        anthropic={"admin_key": "sk-ant-admin-x", "organization": "ant-1"},
    )
    sources = {s.name: s for s in app.sources("acme-us")}
    assert set(sources) == {"openai.costs", "openai.usage", "anthropic"}
    headers = sources["anthropic"].client.session.headers
    assert headers["x-api-key"] == "sk-ant-admin-x"
    assert headers["anthropic-version"] == "2023-06-01"
    assert sources["anthropic"].catalog.entries


def test_a_lot_is_never_silently_replaced_by_another_purchase(tmp_path: Path):
    app = make_app(tmp_path, "tb.db")
    header = "lot_id,provider,account,purchase_date,amount,currency,expires_on\n"
    first = tmp_path / "lots.csv"
    first.write_text(header + "RCPT-1,anthropic,default,2026-03-01,1000.00,USD,2027-03-01\n")
    assert import_credit_lots(app, first, entity="acme-us").warnings == []
    assert import_credit_lots(app, first, entity="acme-us").warnings == []  # the same purchase again
    corrected = tmp_path / "lots-v2.csv"
    corrected.write_text(header + "RCPT-1,anthropic,default,2026-03-01,1200.00,USD,2027-03-01\n")
    [warning] = import_credit_lots(app, corrected, entity="acme-us").warnings
    assert warning == (
        "lot RCPT-1 of anthropic default replaced: was 1000.00 USD bought 2026-03-01, expiring 2027-03-01, "
        "now 1200.00 USD bought 2026-03-01, expiring 2027-03-01"
    )


def test_a_lot_file_imported_twice_counts_its_lots_unchanged_not_replaced(tmp_path: Path):
    app = make_app(tmp_path, "tb.db")
    lots = tmp_path / "lots.csv"
    lots.write_text(
        "lot_id,provider,account,purchase_date,amount,currency,expires_on\n"
        "RCPT-1,anthropic,default,2026-03-01,1000.00,USD,2027-03-01\n"
    )
    assert import_credit_lots(app, lots, entity="acme-us").stored["lots_new"] == 1
    again = import_credit_lots(app, lots, entity="acme-us").stored
    assert again == {"lots_new": 0, "lots_unchanged": 1, "lots_replaced": 0}


EVENTS = "event_id,customer,grant,kind,date,amount,currency,product,expires_on\n"
SALE = "P-1,globex,G-1,purchase,2026-09-15,100000.00,USD,api-credits,2026-12-01\n"


def test_a_customer_credit_file_imported_twice_changes_nothing_and_says_so(tmp_path: Path):
    app = make_app(tmp_path, "tb.db")
    path = tmp_path / "sales.csv"
    path.write_text(EVENTS + SALE + "R-1,globex,G-1,redemption,2026-09-30,30000.00,USD,,\n")
    assert import_customer_credits(app, path, entity="acme-us").stored["events_new"] == 2
    again = import_customer_credits(app, path, entity="acme-us")
    assert again.stored == {"events_new": 0, "events_unchanged": 2, "events_replaced": 0}
    assert again.warnings == []


def test_a_restated_customer_credit_event_is_replaced_and_the_import_says_what_changed(tmp_path: Path):
    app = make_app(tmp_path, "tb.db")
    path = tmp_path / "sales.csv"
    path.write_text(EVENTS + SALE + "R-2,globex,G-1,redemption,2026-10-31,30000.00,USD,,\n")
    import_customer_credits(app, path, entity="acme-us")
    restated = tmp_path / "sales-restated.csv"
    restated.write_text(EVENTS + "R-2,globex,G-1,redemption,2026-10-31,28000.00,USD,,\n")
    report = import_customer_credits(app, restated, entity="acme-us")
    assert report.stored == {"events_new": 0, "events_unchanged": 0, "events_replaced": 1}
    assert report.warnings == [
        "event R-2 of customer globex, grant G-1 replaced: was redemption of 30000.00 USD on 2026-10-31, "
        "now redemption of 28000.00 USD on 2026-10-31"
    ]


def test_a_focus_lot_and_a_lot_a_person_recorded_never_replace_each_other(tmp_path: Path):
    app = make_app(tmp_path, "tb.db")
    options = FocusOptions(entity="acme-us", timezone="America/New_York")
    export = focus_csv(
        tmp_path / "export.csv",
        [focus_row("700.00", category="Purchase", CommitmentDiscountId="cd-1", end_hours=24 * 30)],
    )
    [focus_lot] = read_focus([export], options).lots
    hand = replace(focus_lot, amount=Decimal("50.00"), source="tokenbooks credits add", pool="")
    record_credit_lot(app, hand)
    with pytest.raises(InputError) as caught:
        import_focus(app, [export], options)
    assert "already recorded from tokenbooks credits add (50.00 USD" in str(caught.value.problems[0])
    with UnitOfWork(app.engine) as uow:
        [kept] = uow.credit_lots.for_entity("acme-us")
        [run] = uow.runs.latest(5, kind="import.focus")
    assert (kept.amount, run.status) == (Decimal("50.00"), "failed")  # nothing stored, the run recorded


def test_a_restated_focus_purchase_replaces_its_lot_and_says_so(tmp_path: Path):
    app = make_app(tmp_path, "tb.db")
    options = FocusOptions(entity="acme-us", timezone="America/New_York")

    def export(name: str, cost: str) -> Path:
        row = focus_row(cost, category="Purchase", CommitmentDiscountId="cd-7", end_hours=24 * 30)
        return focus_csv(tmp_path / name, [row])

    first = import_focus(app, [export("v1.csv", "1000.00")], options)
    assert (first.stored["lots_new"], first.warnings) == (1, [])
    restated = import_focus(app, [export("v2.csv", "1200.00")], options)
    assert restated.stored["lots_replaced"] == 1
    [warning] = restated.warnings
    assert "replaced: was 1000.00 USD bought 2026-10-01" in warning
    assert "now 1200.00 USD" in warning


def test_a_focus_lot_stored_under_its_former_name_is_renamed_not_doubled(tmp_path: Path):
    """Before purchases were told apart, a FOCUS lot was named `<id>@<charge period>`: importing the export
    again renames that lot instead of adding a second one beside it (the prepaid money counted twice)."""
    app = make_app(tmp_path, "tb.db")
    options = FocusOptions(entity="acme-us", timezone="America/New_York")
    export = focus_csv(
        tmp_path / "export.csv",
        [focus_row("700.00", category="Purchase", CommitmentDiscountId="cd-1", end_hours=24 * 30)],
    )
    [lot] = read_focus([export], options).lots
    former = replace(lot, lot_id=lot.lot_id.partition("#")[0], pool="", source="focus")
    with UnitOfWork(app.engine) as uow:
        uow.credit_lots.upsert(former, import_id=None, now=app.clock())
        uow.commit()
    report = import_focus(app, [export], options)
    assert "is now" in report.warnings[0]
    with UnitOfWork(app.engine) as uow:
        assert [(s.lot_id, s.amount, s.pool) for s in uow.credit_lots.for_entity("acme-us")] == [
            (lot.lot_id, Decimal("700.00"), "commitment:cd-1")
        ]


def hand_lot(lot_id: str, account: str = "") -> CreditLot:
    return CreditLot(
        entity="acme-us",
        provider="openai",
        provider_account=account,
        lot_id=lot_id,
        purchase_date=date(2026, 9, 15),
        amount=Decimal("500.00"),
        currency="USD",
        source="tokenbooks credits add",
    )


def test_a_lot_entered_without_an_account_is_for_the_one_the_provider_is_known_by_and_sources_built_once(
    tmp_path: Path,
):
    app = make_app(tmp_path, "tb.db")
    record_credit_lot(app, hand_lot("RCPT-1", "org-1"))
    built = builds_counted(app)
    assert record_credit_lot(app, hand_lot("RCPT-2")) is True
    with UnitOfWork(app.engine) as uow:
        accounts = {lot.lot_id: lot.provider_account for lot in uow.credit_lots.for_entity("acme-us")}
    assert accounts == {"RCPT-1": "org-1", "RCPT-2": "org-1"}
    assert built == ["acme-us"]  # the account and the check of it read one build of the settings


def test_a_lot_entered_without_an_account_when_the_provider_has_several_asks_which(tmp_path: Path):
    app = make_app(tmp_path, "tb.db")
    with UnitOfWork(app.engine) as uow:  # two accounts tokenbooks knows (lots from before the check)
        for lot_id, account in (("RCPT-1", "org-1"), ("RCPT-2", "org-2")):
            uow.credit_lots.upsert(hand_lot(lot_id, account), import_id=None, now=app.clock())
        uow.commit()
    with pytest.raises(ConfigError) as caught:
        record_credit_lot(app, hand_lot("RCPT-3"))
    assert "several openai accounts (org-1, org-2)" in caught.value.message
    assert caught.value.fix == "give --account org-1 (or another of them)"
    with UnitOfWork(app.engine) as uow:
        assert {lot.lot_id for lot in uow.credit_lots.for_entity("acme-us")} == {"RCPT-1", "RCPT-2"}

"""The Xero adapter, with xero-python for real over HTTP against the stateful Xero sandbox."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from xero_python.accounting import ManualJournal, ManualJournalLine, ManualJournals
from xero_python.api_client.serializer import serialize

from connector.ledgers.port import PostOutcome, PostRequest
from connector.ledgers.xero.adapter import chunk_idempotency_key, wire_exact
from connector.sandbox.common import loads_exact
from tests.xero_support import journal, running_xero


@pytest.fixture
def rig():
    with running_xero(check_requests=True) as running:
        running.connect()
        yield running


@pytest.fixture
def ledger(rig):
    return rig.ledger()


def post(ledger, *journals, draft=False):
    requests = [PostRequest(j, f"00000000-0000-5000-8000-{n:012d}", draft) for n, j in enumerate(journals, 1)]
    return ledger.post(requests)


def test_a_journal_posts_with_exact_amounts_and_every_field_the_issue_asks_for(rig, ledger):
    [result] = post(ledger, journal(amount="120.37"))
    assert result.outcome is PostOutcome.CREATED
    [write] = rig.writes()
    assert write["method"] == "PUT"
    assert write["params"] == {"summarizeErrors": "false"}
    assert write["headers"]["Idempotency-Key"] == "00000000-0000-5000-8000-000000000001"
    assert write["headers"]["xero-tenant-id"] == rig.box.tenant_id
    assert '"LineAmount": 120.37' in write["body"]
    assert '"LineAmount": -120.37' in write["body"]
    [sent] = loads_exact(write["body"])["ManualJournals"]
    assert sent["Narration"] == "TB-AC-261003-001 · tokenbooks usage accrual"
    assert sent["Status"] == "POSTED"
    assert sent["LineAmountTypes"] == "NoTax"
    assert sent["ShowOnCashBasisReports"] is True
    assert "HasAttachments" not in sent  # read-only in the spec; the SDK's default is dropped
    assert sent["JournalLines"][0]["Tracking"] == [
        {"Name": "Product", "Option": "Support Assistant"},
        {"Name": "Region", "Option": "US"},
    ]
    [stored] = rig.box.manual_journals()
    assert stored["ManualJournalID"] == result.ledger_id
    assert [line["LineAmount"] for line in stored["JournalLines"]] == [Decimal("120.37"), Decimal("-120.37")]
    found = ledger.find("TB-AC-261003-001")
    assert found is not None
    assert found.ledger_id == result.ledger_id
    assert [line.amount for line in found.lines] == [Decimal("120.37"), Decimal("-120.37")]
    assert found.lines[0].tracking == ("Product=Support Assistant", "Region=US")


def test_draft_posting_mode_sends_draft(rig, ledger):
    [result] = post(ledger, journal(), draft=True)
    assert result.outcome is PostOutcome.CREATED
    assert rig.box.manual_journals()[0]["Status"] == "DRAFT"
    assert ledger.find("TB-AC-261003-001").status == "draft"


@settings(max_examples=300, deadline=None)
@given(cents=st.integers(min_value=-(10**14) + 1, max_value=10**14 - 1))
def test_what_xero_python_writes_is_the_amount_to_the_cent(cents):
    """Every cent amount below a trillion dollars survives the SDK's Decimal → float → JSON path exactly."""
    amount = Decimal(cents).scaleb(-2)
    assert wire_exact(amount)
    value = amount if amount else Decimal("0.01")
    body = serialize(ManualJournals(manual_journals=[journal_sdk(value)]))
    sent = json.loads(json.dumps(body), parse_float=Decimal)
    assert Decimal(sent["ManualJournals"][0]["JournalLines"][0]["LineAmount"]) == value


def journal_sdk(amount: Decimal) -> ManualJournal:
    return ManualJournal(
        narration="x",
        journal_lines=[ManualJournalLine(line_amount=amount, account_code="510")],
        has_attachments=None,
    )


def test_an_amount_that_would_not_survive_the_sdk_is_refused_before_sending(rig, ledger):
    assert not wire_exact(Decimal("12345678901234567.89"))
    [result] = post(ledger, journal(amount="12345678901234567.89"))
    assert result.outcome is PostOutcome.REJECTED
    assert "cannot travel exactly through xero-python" in result.message
    assert rig.writes() == []


def test_many_journals_go_in_chunks_with_one_result_each(rig):
    ledger = rig.ledger(chunk_size=50)
    journals = [journal(f"TB-AC-261003-{n:03d}", amount=f"{n}.01") for n in range(1, 121)]
    results = post(ledger, *journals)
    assert [r.key for r in results] == [j.key for j in journals]
    assert {r.outcome for r in results} == {PostOutcome.CREATED}
    writes = rig.writes()
    assert [len(loads_exact(w["body"])["ManualJournals"]) for w in writes] == [50, 50, 20]
    keys = [w["headers"]["Idempotency-Key"] for w in writes]
    assert len(set(keys)) == 3
    assert all(len(k) <= 128 for k in keys)
    ids = [f"00000000-0000-5000-8000-{n:012d}" for n in range(1, 51)]
    assert keys[0] == chunk_idempotency_key(ids)
    assert len({r.ledger_id for r in results}) == 120


def test_valid_and_refused_journals_in_one_request_get_their_own_results(rig, ledger):
    ledger.chart_of_accounts()  # read now: the archive below happens after, so only Xero can refuse it
    rig.box.set_account_status("613", "ARCHIVED")
    good, refused = post(
        ledger, journal("TB-AC-261003-001"), journal("TB-AC-261003-002", account="613", tracking=())
    )
    assert good.outcome is PostOutcome.CREATED
    assert refused.outcome is PostOutcome.REJECTED
    assert refused.message.startswith("Xero refused journal TB-AC-261003-002: line 1 (613):")
    assert "Account code '613' has been archived, or deleted." in refused.message
    assert len(rig.writes()) == 1
    assert [j["Narration"][:16] for j in rig.box.manual_journals()] == ["TB-AC-261003-001"]


def test_a_lost_response_is_resolved_by_looking_the_keys_up_before_anything_is_sent_again(rig, ledger):
    ledger.organisation()
    ledger.chart_of_accounts()
    ledger.tracking()
    rig.box.faults.queue("lost_response")
    results = post(ledger, journal("TB-AC-261003-001"), journal("TB-AC-261003-002", amount="2.00"))
    assert [r.outcome for r in results] == [PostOutcome.FOUND, PostOutcome.FOUND]
    assert len(rig.box.manual_journals()) == 2
    lookup = rig.box.requests[-1]
    assert lookup["method"] == "GET"
    assert lookup["params"]["where"] == (
        'Narration.StartsWith("TB-AC-261003-001") OR Narration.StartsWith("TB-AC-261003-002")'
    )


def test_a_server_error_on_a_write_looks_up_then_creates_exactly_once(rig, ledger):
    ledger.organisation()
    ledger.chart_of_accounts()
    ledger.tracking()
    rig.box.faults.queue("server_error", status=503)
    [result] = post(ledger, journal())
    assert result.outcome is PostOutcome.CREATED
    assert [r["method"] for r in rig.box.requests[-3:]] == ["PUT", "GET", "PUT"]
    assert len(rig.box.manual_journals()) == 1
    assert ledger.stats.retries == 1


def test_a_real_read_timeout_on_a_write_is_uncertain_and_never_duplicates():
    with running_xero(check_requests=True) as rig:
        rig.connect()
        ledger = rig.ledger(timeout=0.2)
        ledger.organisation()
        ledger.chart_of_accounts()
        ledger.tracking()
        rig.box.faults.queue("lost_response", delay_seconds=0.4)
        [result] = post(ledger, journal())
        assert result.outcome is PostOutcome.FOUND
        assert len(rig.box.manual_journals()) == 1


def test_retries_that_stay_uncertain_end_uncertain_for_the_next_run_to_look_up(rig):
    ledger = rig.ledger(attempts=2)
    ledger.organisation()
    ledger.chart_of_accounts()
    ledger.tracking()
    rig.box.faults.queue("server_error", times=3, status=500)
    [result] = post(ledger, journal())
    assert result.outcome is PostOutcome.UNCERTAIN
    assert "HTTP 500" in result.message


def test_read_back_bills_lock_date_chart_and_tracking(rig, ledger):
    post(ledger, journal("TB-AC-261003-001"), journal("TB-AC-261004-001", day=date(2026, 10, 4)))
    rig.box.delete_journal_by_hand("TB-AC-261004-001")
    back = ledger.read_back(date(2026, 10, 1), date(2026, 10, 31))
    assert [j.key for j in back] == ["TB-AC-261003-001"]
    assert back[0].debit_total == Decimal("120.37")
    assert ledger.find("TB-AC-261004-001") is None  # voided by hand: drift, for reconciliation to report
    rig.box.add_bill(
        "OpenAI",
        [("510", "100.00", "usage"), ("611", "20.37", "codex")],
        bill_date="2026-10-31",
        number="INV-7",
    )
    rig.box.add_bill("OpenAI", [("510", "1.00", "usage")], bill_date="2026-11-30")
    rig.box.add_bill("Anthropic", [("510", "3.00", "usage")], bill_date="2026-10-15")
    [bill] = ledger.bills("OpenAI", date(2026, 10, 1), date(2026, 10, 31))
    assert (bill.number, bill.total, bill.currency) == ("INV-7", Decimal("120.37"), "USD")
    assert [(line.account, line.amount) for line in bill.lines] == [
        ("510", Decimal("100.00")),
        ("611", Decimal("20.37")),
    ]
    assert ledger.lock_date() is None
    rig.box.set_lock_dates(period="2026-09-30", end_of_year="2025-12-31")
    assert ledger.lock_date() == date(2026, 9, 30)
    rig.box.set_lock_dates(period="2025-11-30", end_of_year="2025-12-31")
    assert ledger.lock_date() == date(2025, 12, 31)
    accounts = {a.number: a for a in ledger.chart_of_accounts()}
    assert accounts["510"].name == "AI COGS"
    assert accounts["510"].active
    assert not accounts["618"].active
    options = {(o.kind, o.name): o.active for o in ledger.tracking()}
    assert options[("Product", "Support Assistant")] is True
    assert options[("Product", "Legacy Bot")] is False

"""Contract: what the Xero adapter sends and what the Xero sandbox answers follow Xero's official OpenAPI specs
(../shared/specs/xero_accounting.yaml and xero_identity.yaml), captured from the sandbox's request log."""

from __future__ import annotations

from datetime import date

import pytest
from xero_python.accounting import ManualJournals
from xero_python.exceptions import ApiException

from connector.ledgers.port import PostRequest
from tests.contracts import xero_exchange_check
from tests.xero_support import journal, running_xero


def _checked_log(rig) -> tuple[list[str], list[dict]]:
    errors: list[str] = []
    checked: list[dict] = []
    for entry in rig.box.requests:
        check = xero_exchange_check(entry)
        errors += check.errors
        if check.response_checked:
            checked.append(entry)
    return errors, checked


def test_every_request_the_adapter_sends_and_every_answer_the_sandbox_gives_follow_the_spec():
    with running_xero(check_requests=True) as rig:
        tokens = rig.connect()
        ledger = rig.ledger()
        assert ledger.lock_date() is None
        ledger.chart_of_accounts()
        ledger.tracking()
        rig.box.set_tracking_status("Region", "EU", "ARCHIVED")
        requests = [
            PostRequest(journal("TB-AC-261003-001"), "11111111-2222-5333-8444-000000000001"),
            PostRequest(
                journal("TB-AC-261003-002", tracking=(("Region", "EU"),)),
                "11111111-2222-5333-8444-000000000002",
            ),
            PostRequest(
                journal("TB-AC-261004-001", day=date(2026, 10, 4)),
                "11111111-2222-5333-8444-000000000003",
                draft=True,
            ),
        ]
        ledger.post(requests)
        rig.box.write_faults.queue("lost_response")
        ledger.post(
            [
                PostRequest(
                    journal("TB-AC-261005-001", day=date(2026, 10, 5)), "11111111-2222-5333-8444-000000000004"
                )
            ]
        )
        rig.box.set_lock_dates(period="2026-09-30", end_of_year="2025-12-31")
        assert ledger.lock_date() == date(2026, 9, 30)
        assert ledger.find("TB-AC-261003-001") is not None
        assert len(ledger.read_back(date(2026, 10, 1), date(2026, 10, 31))) == 3
        rig.box.add_bill(
            "OpenAI", [("510", "100.00", "October usage")], bill_date="2026-10-31", number="INV-1"
        )
        assert len(ledger.bills("OpenAI", date(2026, 10, 1), date(2026, 10, 31))) == 1
        assert len(rig.oauth().connections(tokens)) == 1
        rig.box.expire_access_tokens()
        ledger.lock_date()  # a 401, a refresh, and the call again
        # The summarised error answer (the trap the adapter avoids) and a single journal by id, through the SDK.
        summarised = ManualJournals(manual_journals=[_raw_refused(ledger)])
        with pytest.raises(ApiException) as refused:
            ledger.api.create_manual_journals(ledger.tenant_id, summarised)
        assert refused.value.status == 400
        [first] = rig.live_journals()[:1]
        ledger.api.get_manual_journal(ledger.tenant_id, first["ManualJournalID"])

        errors, checked = _checked_log(rig)
        assert errors == []
        kinds = {(e["method"], e["path"].rsplit("/", 1)[-1], e["status"]) for e in checked}
        assert ("PUT", "ManualJournals", 200) in kinds
        assert ("PUT", "ManualJournals", 400) in kinds
        assert {("GET", "Organisation", 200), ("GET", "Accounts", 200), ("GET", "Invoices", 200)} <= kinds
        assert ("GET", "Connections", 200) in kinds or ("GET", "connections", 200) in kinds
        assert len(checked) >= 12


def _raw_refused(ledger):
    """A journal the adapter itself would never build: an account Xero does not know."""
    mj = ledger.to_manual_journal(journal("TB-AC-261006-001", day=date(2026, 10, 6)))
    mj.journal_lines[0].account_code = "999"
    return mj


def test_the_contract_check_catches_what_breaks_the_spec():
    entry = {
        "method": "PUT",
        "path": "/api.xro/2.0/ManualJournals",
        "params": {"summarizeErrors": "false"},
        "headers": {"Authorization": "Bearer x", "xero-tenant-id": "t", "Content-Type": "application/json"},
        "body": '{"ManualJournals": [{"Date": "/Date(1790985600000)/", "HasAttachments": false, "JournalLines": [{"LineAmount": "120.37"}]}]}',
        "status": 200,
        "response": '{"ManualJournals": [{"Narration": "x", "Status": "SENT", "JournalLines": [{"LineAmount": "1.00"}]}]}',
    }
    check = xero_exchange_check(entry)
    text = " ".join(check.errors)
    assert check.response_checked
    assert "'Narration' is a required property" in text
    assert "'120.37' is not of type 'number'" in text
    assert "read-only" in text  # HasAttachments: what xero-python sends unless the adapter drops it
    assert "'SENT' is not one of" in text
    no_tenant = entry | {
        "headers": {"Authorization": "Bearer x"},
        "body": '{"ManualJournals": []}',
        "response": None,
    }
    assert any("xero-tenant-id" in e for e in xero_exchange_check(no_tenant).request_errors)

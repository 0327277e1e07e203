"""The control surface over HTTP (/_sandbox/…): no auth, and every change shows up through the API."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from quickbooks.exceptions import AuthorizationException, QuickbooksException
from quickbooks.objects.account import Account
from quickbooks.objects.journalentry import JournalEntry

from connector.sandbox.common import loads_exact


@pytest.fixture
def admin(sandbox):
    session = requests.Session()

    def call(method: str, path: str, body: dict | None = None, **params: str):
        response = session.request(method, f"{sandbox.base_url}/_sandbox/{path}", json=body, params=params)
        return response.status_code, loads_exact(response.text)

    return call


def test_health_and_tokens(admin, sandbox, make_qb):
    status, health = admin("GET", "health")
    assert status == 200
    assert (health["realm_id"], health["client_id"]) == ("9341452000000001", "tokenbooks-sandbox-client")
    status, tokens = admin("POST", "tokens")
    assert status == 200
    assert tokens["token_type"] == "bearer"
    assert tokens["realm_id"] == sandbox.realm_id
    qb = make_qb(tokens["access_token"])
    assert len(Account.all(qb=qb)) == 17
    assert admin("POST", "tokens/expire-access")[0] == 200
    with pytest.raises(AuthorizationException):
        Account.all(qb=qb)
    fresh = make_qb(admin("POST", "tokens")[1]["access_token"])
    assert admin("POST", "tokens/revoke-all")[0] == 200
    with pytest.raises(AuthorizationException):
        Account.all(qb=fresh)
    # the API calls above are logged, the admin calls are not
    assert admin("GET", "health")[1]["requests_logged"] == len(sandbox.requests) == 3


def test_book_close_date_and_preferences(admin, qb, make_journal):
    status, prefs = admin("POST", "book-close-date", {"date": "2025-01-31"})
    assert (status, prefs["BookCloseDate"]) == (200, "2025-01-31")
    with pytest.raises(QuickbooksException) as caught:
        make_journal("ADM-1").save(qb=qb)
    assert caught.value.error_code == 6210
    admin("POST", "book-close-date", {"date": None})
    make_journal("ADM-1").save(qb=qb)

    status, prefs = admin("POST", "preferences", {"name": "WarnDuplicateJournalNumber", "value": False})
    assert status == 200
    assert {"Name": "WarnDuplicateJournalNumber", "Value": "false"} in prefs["OtherPrefs"]["NameValue"]
    make_journal("ADM-1").save(qb=qb)
    assert admin("POST", "preferences", {"name": "NoSuchPreference", "value": 1})[0] == 404
    assert admin("POST", "book-close-date", {})[0] == 400


def test_an_exchange_rate_entered_through_the_control_surface_is_the_one_the_api_answers(admin, qb):
    """What a person does in QBO's Currency Center, for a sandbox run on its own
    (`tokenbooks sandbox quickbooks`): a walk that meets a day QuickBooks has no rate for can add it."""
    from quickbooks.objects.exchangerate import ExchangeRate

    admin("POST", "preferences", {"name": "HomeCurrency", "value": "EUR"})
    admin("POST", "preferences", {"name": "MultiCurrencyEnabled", "value": True})
    status, row = admin("POST", "exchange-rates", {"currency": "USD", "date": "2026-10-18", "rate": "0.9333"})
    assert (status, row["TargetCurrencyCode"], row["Rate"]) == (200, "EUR", Decimal("0.9333"))
    where = "WHERE SourceCurrencyCode = 'USD' AND AsOfDate = '2026-10-18'"
    [found] = ExchangeRate.where(where.removeprefix("WHERE "), qb=qb)
    assert Decimal(str(found.Rate)) == Decimal("0.9333")
    assert admin("POST", "exchange-rates", {"currency": "USD", "date": "2026-10-18"})[0] == 400


def test_accounts_and_active_flags(admin, qb, make_journal):
    status, account = admin(
        "POST", "accounts", {"name": "AI Support", "account_type": "Expense", "acct_num": "6150"}
    )
    assert (status, account["Id"], account["Classification"]) == (200, "18", "Expense")
    assert Account.get("18", qb=qb).Name == "AI Support"
    admin("POST", "accounts/18/active", {"active": False})
    with pytest.raises(QuickbooksException) as caught:
        make_journal("ADM-2", (("Debit", "18", "1"), ("Credit", "6", "1"))).save(qb=qb)
    assert caught.value.error_code == 6000
    admin("POST", "classes/104/active", {"active": False})
    with pytest.raises(QuickbooksException):
        make_journal("ADM-3", class_id="104").save(qb=qb)
    assert admin("POST", "accounts", {"name": "X", "account_type": "Spaceship"})[0] == 400
    assert admin("POST", "vendors/999/active", {"active": True})[0] == 404
    assert admin("GET", "accounts/18")[1]["Active"] is False


def test_journal_entries_edited_and_deleted_by_hand(admin, sandbox, qb, make_journal):
    saved = make_journal("HAND-1").save(qb=qb)
    status, entries = admin("GET", "journal-entries")
    assert status == 200
    assert [e["DocNumber"] for e in entries] == ["HAND-1"]
    lines = entries[0]["Line"]
    for line in lines:
        line["Amount"] = "75.25"
    status, edited = admin("POST", "journal-entries/edit-by-hand", {"doc_number": "HAND-1", "lines": lines})
    assert (status, edited["SyncToken"], edited["TotalAmt"]) == (200, "1", Decimal("75.25"))
    assert sandbox.account("11")["CurrentBalance"] == Decimal("75.25")
    with pytest.raises(QuickbooksException) as caught:
        saved.save(qb=qb)
    assert caught.value.error_code == 5010  # the connector's copy is stale now

    status, deleted = admin("POST", "journal-entries/delete-by-hand", {"doc_number": "HAND-1"})
    assert (status, deleted["Id"]) == (200, saved.Id)
    assert JournalEntry.filter(DocNumber="HAND-1", qb=qb) == []
    assert sandbox.account("11")["CurrentBalance"] == Decimal("0.00")
    assert admin("POST", "journal-entries/delete-by-hand", {"doc_number": "HAND-1"})[0] == 404


def test_bills(admin, sandbox):
    body = {
        "vendor_id": "300",
        "lines": [{"account_id": "11", "amount": "19.99"}, ["10", 5]],
        "doc_number": "B-1",
    }
    status, bill = admin("POST", "bills", body)
    assert (status, bill["TotalAmt"], bill["VendorRef"]["name"]) == (200, Decimal("24.99"), "OpenAI")
    assert admin("GET", "bills")[1][0]["DocNumber"] == "B-1"
    status, fault = admin("POST", "bills", {"vendor_id": "300", "lines": [["17", "1"]]})
    assert (status, fault["Fault"]["Error"][0]["code"]) == (400, "6000")


def test_request_log_faults_and_clock(admin, api, sandbox, clock):
    api.get("preferences", requestid="look-1")
    status, log = admin("GET", "requests")
    assert status == 200
    assert [(r["method"], r["status"], r["requestid"]) for r in log] == [("GET", 200, "look-1")]
    assert log[0]["headers"]["Authorization"].startswith("Bearer ")
    admin("DELETE", "requests")
    assert sandbox.requests == []

    status, report = admin("POST", "faults", {"target": "api", "kind": "server_error", "status": 503})
    assert status == 200
    assert report["api"]["pending"] == 1
    assert api.get("preferences").status_code == 503
    admin("POST", "faults", {"target": "api", "kind": "timeout", "times": 2})
    assert admin("DELETE", "faults")[1]["api"]["pending"] == 0
    assert admin("GET", "faults")[1]["api"]["injected"] == {"server_error": 1}

    status, moved = admin("POST", "clock/advance", {"seconds": 90})
    assert status == 200
    assert moved["now"] == "2025-02-03T09:01:30.000+00:00"
    assert admin("GET", "clock")[1] == moved
    assert admin("GET", "no-such-route")[0] == 404

"""The Xero sandbox's rate limits, faults, persistence, queries and control surface."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
import requests
from typer.testing import CliRunner

from connector.cli import app
from connector.sandbox.common import ManualClock, loads_exact
from connector.sandbox.xero import XeroSandbox
from connector.sandbox.xero_where import QueryError, compile_where
from tests.xero_support import START, running_xero


@pytest.fixture
def rig():
    with running_xero(calls_per_minute=5, calls_per_day=8) as running:
        yield running


@pytest.fixture
def token(rig) -> str:
    return rig.box.issue_tokens()["access_token"]


def test_every_answer_carries_the_remaining_calls_and_the_minute_limit_answers_429(rig, token):
    tenant = rig.box.tenant_id
    answers = [rig.api("GET", "/Accounts", token=token, tenant=tenant) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert [a.headers["X-MinLimit-Remaining"] for a in answers[:5]] == ["4", "3", "2", "1", "0"]
    assert answers[0].headers["X-DayLimit-Remaining"] == "7"
    assert answers[0].headers["X-AppMinLimit-Remaining"] == "9999"
    throttled = answers[5]
    assert throttled.headers["X-Rate-Limit-Problem"] == "minute"
    assert throttled.headers["Retry-After"] == "60"
    assert throttled.json()["Status"] == 429
    rig.clock.advance(seconds=60)
    assert rig.api("GET", "/Accounts", token=token, tenant=tenant).status_code == 200


def test_the_day_limit_answers_429_day_with_a_long_retry_after(rig, token):
    tenant = rig.box.tenant_id
    for _ in range(8):
        rig.clock.advance(seconds=20)
        assert rig.api("GET", "/Organisation", token=token, tenant=tenant).status_code == 200
    refused = rig.api("GET", "/Organisation", token=token, tenant=tenant)
    assert refused.status_code == 429
    assert refused.headers["X-Rate-Limit-Problem"] == "day"
    assert int(refused.headers["Retry-After"]) > 80_000
    assert refused.headers["X-DayLimit-Remaining"] == "0"


def test_another_apps_calls_count_against_the_tenant(rig, token):
    rig.box.consume_calls(5)
    refused = rig.api("GET", "/Accounts", token=token, tenant=rig.box.tenant_id)
    assert refused.status_code == 429
    assert rig.box.remaining()["X-MinLimit-Remaining"] == 0


def test_more_than_five_calls_in_flight_are_refused_as_concurrent():
    with running_xero(max_concurrent_calls=1) as rig:
        token = rig.box.issue_tokens()["access_token"]
        rig.box.faults.queue("timeout", delay_seconds=0.3)
        slow = threading.Thread(
            target=lambda: rig.api("GET", "/Accounts", token=token, tenant=rig.box.tenant_id)
        )
        slow.start()
        for _ in range(50):
            if rig.box.in_flight():
                break
            threading.Event().wait(0.01)
        refused = rig.api("GET", "/Accounts", token=token, tenant=rig.box.tenant_id)
        slow.join()
        assert refused.status_code == 429
        assert refused.headers["X-Rate-Limit-Problem"] == "concurrent"


def test_faults_act_out_as_xero_would(rig, token):
    tenant = rig.box.tenant_id
    rig.box.faults.queue("server_error", status=500)
    rig.box.faults.queue("server_error", status=503)
    rig.box.faults.queue("throttle")
    rig.box.faults.queue("timeout")
    statuses = [rig.api("GET", "/Accounts", token=token, tenant=tenant).status_code for _ in range(4)]
    assert statuses == [500, 503, 429, 504]
    assert rig.box.requests[2]["throttled"] == "minute"
    rig.box.reset_rate_limits()
    body = {
        "ManualJournals": [
            {
                "Narration": "TB-AC-261003-001 x",
                "Date": "2026-10-03",
                "JournalLines": [
                    {"LineAmount": 1, "AccountCode": "510"},
                    {"LineAmount": -1, "AccountCode": "2150"},
                ],
            }
        ]
    }
    rig.box.faults.queue("lost_response")
    lost = rig.api("PUT", "/ManualJournals", token=token, tenant=tenant, json=body)
    assert lost.status_code == 504
    assert len(rig.box.manual_journals()) == 1  # applied, though the answer never arrived


def test_state_survives_a_restart(tmp_path):
    clock = ManualClock(START)
    first = XeroSandbox(tmp_path / "x.json", clock=clock)
    issued = first.issue_tokens()
    first.set_lock_dates(period="2026-09-30")
    first.add_bill("OpenAI", [("510", "1234.56", "API usage")], bill_date="2026-10-01", number="INV-1")
    first.set_account_status("613", "ARCHIVED")
    again = XeroSandbox(tmp_path / "x.json", clock=clock)
    assert again.tenant_id == first.tenant_id
    assert again.organisation()["PeriodLockDate"] == first.organisation()["PeriodLockDate"]
    assert again.bills()[0]["Total"] == Decimal("1234.56")
    assert [a["Status"] for a in again.org.data["accounts"] if a["Code"] == "613"] == ["ARCHIVED"]
    assert again.tokens.authenticate(f"Bearer {issued['access_token']}")["connections"]


def test_where_order_paging_and_if_modified_since(rig, token):
    tenant = rig.box.tenant_id
    rig.box.reset_rate_limits()
    for day in (3, 1, 2):
        body = {
            "Narration": f"TB-AC-26100{day}-001 x",
            "Date": f"2026-10-0{day}",
            "JournalLines": [
                {"LineAmount": 2, "AccountCode": "510"},
                {"LineAmount": -2, "AccountCode": "2150"},
            ],
        }
        rig.api("PUT", "/ManualJournals", token=token, tenant=tenant, json=body)
        rig.clock.advance(seconds=30)

    def narrations(**params) -> list[str]:
        rig.box.reset_rate_limits()
        answer = rig.api("GET", "/ManualJournals", token=token, tenant=tenant, params=params)
        assert answer.status_code == 200, answer.text
        return [j["Narration"][:16] for j in loads_exact(answer.content)["ManualJournals"]]

    assert narrations(where='Narration.StartsWith("TB-AC-261002")') == ["TB-AC-261002-001"]
    assert narrations(where='Narration=="TB-AC-261001-001 x"') == ["TB-AC-261001-001"]
    assert narrations(where="Date >= DateTime(2026,10,02)", order="Date DESC") == [
        "TB-AC-261003-001",
        "TB-AC-261002-001",
    ]
    assert narrations(order="Date", page="1", pageSize="2") == ["TB-AC-261001-001", "TB-AC-261002-001"]
    assert narrations(order="Date", page="2", pageSize="2") == ["TB-AC-261003-001"]
    either = 'Narration.StartsWith("TB-AC-261001") OR Narration.StartsWith("TB-AC-261003")'
    assert sorted(narrations(where=either)) == ["TB-AC-261001-001", "TB-AC-261003-001"]
    since = (START + timedelta(seconds=45)).replace(tzinfo=None).isoformat()
    rig.box.reset_rate_limits()
    recent = rig.api(
        "GET", "/ManualJournals", token=token, tenant=tenant, headers={"If-Modified-Since": since}
    )
    assert len(loads_exact(recent.content)["ManualJournals"]) == 1
    rig.box.reset_rate_limits()
    bad = rig.api("GET", "/ManualJournals", token=token, tenant=tenant, params={"where": "Colour == 1"})
    assert bad.status_code == 400
    assert bad.json() == {
        "ErrorNumber": 16,
        "Type": "QueryParseException",
        "Message": "No property or field 'Colour' exists in type 'ManualJournal'",
    }


def test_the_where_language():
    fields = {"Narration", "Date", "Contact", "Total", "Status"}
    row = {
        "Narration": 'He said "hi"',
        "Date": "/Date(1790985600000+0000)/",
        "Contact": {"Name": "OpenAI"},
        "Total": Decimal("10.50"),
        "Status": "AUTHORISED",
    }

    def holds(text: str) -> bool:
        return compile_where(text, "Invoice", fields)(row)

    assert holds('Narration.Contains("\\"hi\\"")')
    assert holds('Contact.Name == "OpenAI" && Total > 10')
    assert holds('NOT (Status == "VOIDED") AND Date <= DateTime(2026,10,03)')
    assert not holds('Status != "AUTHORISED" || Date < DateTime(2026,10,3)')
    assert not holds("Contact.Missing == 1")
    for broken in ("Narration ==", 'Narration.Explode("x")', "Total == 1 extra", "(Total == 1"):
        with pytest.raises(QueryError):
            holds(broken)


def test_bills_are_accpay_invoices_readable_by_contact_and_date(rig, token):
    rig.box.add_bill(
        "OpenAI",
        [("510", "100.00", "October usage"), ("611", "23.45", "Codex")],
        bill_date=date(2026, 10, 31),
        number="INV-10",
    )
    rig.box.add_bill("Anthropic", [("510", "5.00", "usage")], bill_date="2026-10-15")
    where = 'Type=="ACCPAY" AND Contact.Name=="OpenAI" AND Date >= DateTime(2026,10,01) AND Date <= DateTime(2026,10,31)'
    answer = loads_exact(
        rig.api(
            "GET", "/Invoices", token=token, tenant=rig.box.tenant_id, params={"where": where, "page": 1}
        ).content
    )
    [bill] = answer["Invoices"]
    assert bill["Total"] == Decimal("123.45")
    assert bill["InvoiceNumber"] == "INV-10"
    assert bill["Date"] == "/Date(1793404800000+0000)/"
    assert answer["pagination"] == {"page": 1, "pageSize": 100, "pageCount": 1, "itemCount": 1}


def test_the_control_surface_over_http(rig):
    base = rig.box.base_url + "/_sandbox"
    assert requests.get(base + "/health").json()["tenant_id"] == rig.box.tenant_id
    lock = requests.post(base + "/lock-dates", json={"period": "2026-09-30", "end_of_year": None}).json()
    assert lock["PeriodLockDate"] == "/Date(1790726400000+0000)/"
    assert (
        requests.post(base + "/accounts/611/status", json={"status": "ARCHIVED"}).json()["Status"]
        == "ARCHIVED"
    )
    assert (
        requests.post(base + "/tracking/Product/Platform/status", json={"status": "ARCHIVED"}).json()[
            "Status"
        ]
        == "ARCHIVED"
    )
    duplicate = requests.post(base + "/accounts", json={"code": "510", "name": "Again", "type": "EXPENSE"})
    assert duplicate.status_code == 400
    assert duplicate.json()["Type"] == "ValidationException"
    bill = requests.post(
        base + "/bills",
        json={
            "contact": "OpenAI",
            "date": "2026-10-31",
            "lines": [{"account_code": "510", "amount": "9.99"}],
        },
    )
    assert bill.status_code == 200
    assert requests.get(base + "/bills").json()[0]["Total"] == 9.99
    issued = requests.post(base + "/tokens", json={}).json()
    assert issued["tenant_id"] == rig.box.tenant_id
    assert requests.post(base + "/rate-limits/consume", json={"calls": 2}).json()["X-MinLimit-Remaining"] == 3
    assert (
        requests.post(base + "/faults", json={"kind": "throttle", "times": 2}).json()["api"]["pending"] == 2
    )
    assert requests.post(base + "/clock/advance", json={"seconds": 61}).json()["now"].startswith("/Date(")
    assert requests.get(base + "/nothing").status_code == 404


def test_tokenbooks_sandbox_xero_serves_and_says_how_a_client_gets_credentials(tmp_path, monkeypatch):
    served = {}

    def pretend(self, on_ready):
        served["state"] = self._state_file.path
        on_ready("http://127.0.0.1:8720")

    monkeypatch.setattr(XeroSandbox, "serve_forever", pretend)
    state = tmp_path / "nested" / "xero.json"
    result = CliRunner().invoke(app, ["sandbox", "xero", "--port", "8720", "--state", str(state)])
    assert result.exit_code == 0, result.output
    assert served["state"] == state
    assert state.exists()  # the organisation was seeded and saved
    for text in (
        "http://127.0.0.1:8720/api.xro/2.0",
        "tokenbooks-xero-sandbox-secret",
        "/connect/token",
        "/_sandbox/tokens",
    ):
        assert text in result.output

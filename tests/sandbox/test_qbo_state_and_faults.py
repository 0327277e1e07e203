"""State survives a restart from the state file; each injected fault does (or does not) apply the write."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from quickbooks.exceptions import QuickbooksException, SevereException
from quickbooks.objects.journalentry import JournalEntry

from connector.sandbox.common import FaultPlan, ManualClock
from connector.sandbox.quickbooks import QuickBooksSandbox


def test_state_survives_a_restart(state_file, clock, make_journal, qb_for):
    with QuickBooksSandbox(state_file, clock=clock) as first:
        tokens = first.issue_tokens()
        saved = make_journal("PERSIST-1").save(
            qb=qb_for(first, tokens["access_token"]), request_id="persist-req"
        )
        first.set_book_close_date("2024-12-31")
        first.set_account_active("12", False)

    assert '"Amount": 100.00' in state_file.read_text()  # money is stored as exact JSON numbers

    with QuickBooksSandbox(state_file, clock=clock) as second:
        qb = qb_for(second, tokens["access_token"])  # the old access token is still known
        fetched = JournalEntry.get(saved.Id, qb=qb)
        assert fetched.Line[0].Amount == Decimal("100.00")
        assert second.account("11")["CurrentBalance"] == Decimal("100.00")
        assert second.account("12")["Active"] is False
        assert second.preferences()["AccountingInfoPrefs"]["BookCloseDate"] == "2024-12-31"
        again = make_journal("PERSIST-1").save(qb=qb, request_id="persist-req")  # the replay cache survived
        assert again.Id == saved.Id
        assert len(second.journal_entries()) == 1
        assert int(make_journal("PERSIST-2").save(qb=qb).Id) == int(saved.Id) + 1  # so did the id counters


def test_timeout_waits_then_504_and_applies_nothing(sandbox, qb, faults, make_journal):
    faults.queue("timeout")
    with pytest.raises(QuickbooksException) as caught:
        make_journal("T-1").save(qb=qb, request_id="t-1")
    assert caught.value.error_code == 10000
    assert "504" in caught.value.message
    assert sandbox.journal_entries() == []
    assert make_journal("T-1").save(qb=qb, request_id="t-1").DocNumber == "T-1"  # the retry creates it
    assert faults.injected == {"timeout": 1}
    assert [r["fault"] for r in sandbox.requests] == ["timeout", None]


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_apply_nothing(sandbox, qb, faults, make_journal, status):
    faults.queue("server_error", status=status)
    with pytest.raises(QuickbooksException) as caught:
        make_journal("S-1").save(qb=qb)
    if status == 500:
        assert isinstance(caught.value, SevereException)  # a JSON SystemFault, code 10000
    assert sandbox.requests[-1]["status"] == status
    assert sandbox.journal_entries() == []


def test_throttle_fault_gives_the_real_429(sandbox, api, faults, raw_journal):
    faults.queue("throttle")
    response = api.post("journalentry", raw_journal())
    assert response.status_code == 429
    assert '<Error code="3001">' in response.text
    assert sandbox.journal_entries() == []


def test_lost_response_applies_and_persists_the_write(sandbox, state_file, qb, faults, make_journal):
    faults.queue("lost_response")
    with pytest.raises(QuickbooksException) as caught:
        make_journal("L-1").save(qb=qb, request_id="lost-1")
    assert "504" in caught.value.message
    assert [e["DocNumber"] for e in sandbox.journal_entries()] == ["L-1"]
    assert "L-1" in state_file.read_text()
    # Retrying with the same requestid returns the original answer instead of a second entry.
    retried = make_journal("L-1").save(qb=qb, request_id="lost-1")
    assert retried.Id == sandbox.journal_entries()[0]["Id"]
    assert len(sandbox.journal_entries()) == 1


def test_storms_and_seeded_random_faults(tmp_path):
    plan = FaultPlan(delay_seconds=0.0)
    plan.storm("server_error", calls=3, status=500)
    with QuickBooksSandbox(tmp_path / "s.json", clock=ManualClock(), faults=plan) as sandbox:
        token = sandbox.issue_tokens()["access_token"]
        url = f"{sandbox.base_url}/v3/company/{sandbox.realm_id}/preferences"
        headers = {"Authorization": f"Bearer {token}"}
        assert [requests.get(url, headers=headers).status_code for _ in range(4)] == [500, 500, 500, 200]

        def run(seed):
            plan.configure_random(0.5, ("server_error",), seed=seed)
            return [requests.get(url, headers=headers).status_code for _ in range(12)]

        first_run = run(7)
        assert run(7) == first_run  # the same seed replays the same faults
        assert 200 in first_run
        assert set(first_run) - {200} <= {500, 503}
        assert set(first_run) != {200}
        plan.clear()
        assert requests.get(url, headers=headers).status_code == 200
        assert plan.injected["server_error"] == 3 + 2 * first_run.count(500) + 2 * first_run.count(503)


def test_admin_routes_ignore_faults(sandbox, faults):
    faults.storm("server_error", calls=5)
    assert requests.get(sandbox.base_url + "/_sandbox/health").status_code == 200
    assert faults.pending == 5

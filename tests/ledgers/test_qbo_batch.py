"""QuickBooks batch posting against the sandbox: calls grow with journals, ids are derived, retries replay,
lookups come before any re-create, pacing keeps inside the limits, and multicurrency fields are right."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from connector.ledgers.port import PostOutcome
from connector.ledgers.quickbooks.adapter import quickbooks_pacer
from connector.retrying import RetryPolicy
from connector.sandbox.common import FaultPlan, ManualClock, loads_exact
from connector.sandbox.quickbooks import QuickBooksSandbox
from tests.ledgers.conftest import accrual, batch_calls, connect, make_ledger, request, wait_idle


def doc_numbers(box: QuickBooksSandbox) -> list[str]:
    return [entry["DocNumber"] for entry in box.journal_entries()]


@pytest.mark.parametrize(("journals", "batch_size"), [(75, 30), (75, 10), (1, 30), (30, 30)])
def test_write_calls_grow_with_journals_not_facts(ledger, sandbox, journals, batch_size):
    ledger.batch_size = batch_size
    requests_ = [request(accrual(n, amount=f"{n}.25")) for n in range(1, journals + 1)]
    results = ledger.post(requests_)
    assert [r.outcome for r in results] == [PostOutcome.CREATED] * journals
    assert len(batch_calls(sandbox)) == math.ceil(journals / batch_size)
    assert ledger.stats.write_calls == math.ceil(journals / batch_size)
    assert not [r for r in sandbox.requests if r["path"].endswith("/journalentry")]
    assert sorted(doc_numbers(sandbox)) == sorted(r.journal.key for r in requests_)
    # results map back by bId: each journal got the entry holding its own amount
    by_id = {entry["Id"]: entry for entry in sandbox.journal_entries()}
    for result, req in zip(results, requests_, strict=True):
        assert by_id[result.ledger_id]["DocNumber"] == req.journal.key
        assert by_id[result.ledger_id]["TotalAmt"] == req.journal.debit_total


def test_batch_ids_fit_quickbooks_rules_and_are_derived_from_the_journals(ledger, sandbox):
    ledger.post([request(accrual(n)) for n in (1, 2, 3)])
    sandbox.reset_request_log()
    sandbox.set_preference("WarnDuplicateJournalNumber", False)
    again = make_ledger(sandbox, ledger.tokens.vault)
    again.post([request(accrual(n)) for n in (3, 1, 2)])  # same journals, another order, same attempt
    [first_call] = batch_calls(sandbox)
    assert len(first_call["requestid"]) <= 36
    bids = [item["bId"] for item in loads_exact(first_call["body"])["BatchItemRequest"]]
    assert all(len(bid) <= 10 for bid in bids)
    assert len(set(bids)) == 3
    assert first_call["replayed"] is True  # same journals and attempt → same request → QBO's first answer
    assert len(sandbox.journal_entries()) == 3
    sandbox.reset_request_log()
    again.post([request(accrual(n), attempt=2) for n in (1, 2, 3)])  # a later run: a new attempt
    [next_run] = batch_calls(sandbox)
    assert next_run["requestid"] != first_call["requestid"]


def test_a_batch_that_timed_out_before_quickbooks_acted_is_sent_again_byte_for_byte(sandbox, vault):
    # QuickBooks' gateway times out (504, nothing applied); the client's own timeout is long, so a busy
    # machine's slow answer to the resend is not taken for a second timeout (which would end FOUND)
    connect(sandbox, vault)
    ledger = make_ledger(sandbox, vault, timeout=10)
    ledger.lock_date()
    ledger.chart_of_accounts()
    ledger.tracking()
    sandbox.faults.queue("timeout", delay_seconds=0)
    results = ledger.post([request(accrual(n)) for n in (1, 2)])
    assert {r.outcome for r in results} == {PostOutcome.CREATED}
    wait_idle(sandbox)
    first, second = batch_calls(sandbox)
    assert (first["requestid"], first["body"]) == (second["requestid"], second["body"])
    lookups = [r for r in sandbox.requests if "DocNumber IN" in r["body"]]
    assert len(lookups) == 1  # one query for both keys before sending again
    assert sorted(doc_numbers(sandbox)) == sorted(r.key for r in results)


@pytest.mark.parametrize("replay", [True, False])
def test_a_lost_answer_is_settled_by_lookup_never_by_a_second_create(tmp_path, vault, replay):
    # QuickBooks' requestid is said not to dedupe reliably (erps.md §1.5); find-first holds either way.
    with QuickBooksSandbox(tmp_path / "q.json", request_id_replay=replay) as box:
        box.set_preference("WarnDuplicateJournalNumber", False)  # duplicates would not even be refused
        connect(box, vault)
        ledger = make_ledger(box, vault, timeout=2)
        ledger.lock_date()
        ledger.chart_of_accounts()
        ledger.tracking()
        box.faults.queue("lost_response", delay_seconds=0)
        results = ledger.post([request(accrual(n)) for n in (1, 2, 3)])
        assert [r.outcome for r in results] == [PostOutcome.FOUND] * 3
        assert len(batch_calls(box)) == 1
        assert sorted(doc_numbers(box)) == sorted(r.key for r in results)


def test_an_item_fault_that_quickbooks_answered_goes_again_under_a_fresh_requestid(ledger, sandbox):
    ledger.lock_date()
    sandbox.queue_write_fault("5010")  # the first item of the batch: a stale object
    results = ledger.post([request(accrual(n)) for n in (1, 2)])
    assert {r.outcome for r in results} == {PostOutcome.CREATED}
    first, second = batch_calls(sandbox)
    assert first["requestid"] != second["requestid"]  # the same id would replay the 5010
    assert len(loads_exact(second["body"])["BatchItemRequest"]) == 1  # only the refused item
    assert len(sandbox.journal_entries()) == 2


def test_multicurrency_sends_currency_and_rate(ledger, sandbox):
    sandbox.set_preference("MultiCurrencyEnabled", True)
    euro = accrual(1, amount="100.00", currency="EUR", exchange_rate=Decimal("1.0825"))
    dollars = accrual(2, amount="50.00")
    results = ledger.post([request(euro), request(dollars)])
    assert {r.outcome for r in results} == {PostOutcome.CREATED}
    stored = {e["DocNumber"]: e for e in sandbox.journal_entries()}
    assert stored[euro.key]["CurrencyRef"]["value"] == "EUR"
    assert stored[euro.key]["ExchangeRate"] == Decimal("1.0825")
    assert stored[dollars.key]["CurrencyRef"]["value"] == "USD"
    assert stored[dollars.key]["ExchangeRate"] == Decimal(1)


def test_pacing_keeps_inside_the_limits_by_waiting_on_the_clock(tmp_path, vault):
    clock = ManualClock(datetime(2026, 11, 2, 2, 30, tzinfo=UTC))

    def sleep(seconds: float) -> None:
        clock.advance(seconds=seconds)

    box = QuickBooksSandbox(
        tmp_path / "q.json", clock=clock, requests_per_minute=100, batch_requests_per_minute=3
    )
    with box:
        connect(box, vault)
        pacer = quickbooks_pacer(
            requests_per_minute=100,
            batches_per_minute=3,
            clock=lambda: clock.now().timestamp(),
            sleep=sleep,
        )
        # no faults here: a long timeout, so a busy machine's slow answer is not taken for a lost one
        ledger = make_ledger(box, vault, pacer=pacer, retry=RetryPolicy(3, sleep=sleep), timeout=30)
        started = clock.now()
        results = ledger.post([request(accrual(n, day=date(2026, 11, 1))) for n in range(1, 151)])
        assert {r.outcome for r in results} == {PostOutcome.CREATED}
        assert not [r for r in box.requests if r["status"] == 429]  # never ran into QuickBooks' limit
        assert len(batch_calls(box)) == 5
        assert (clock.now() - started).total_seconds() >= 60  # it waited instead


def test_the_xml_429_storm_is_waited_out_within_the_throttle_budget(tmp_path, vault):
    clock = ManualClock(datetime(2026, 11, 2, 2, 30, tzinfo=UTC))
    box = QuickBooksSandbox(tmp_path / "q.json", clock=clock, faults=FaultPlan())
    with box:
        connect(box, vault)
        sleep = lambda seconds: clock.advance(seconds=seconds)  # noqa: E731
        ledger = make_ledger(box, vault, retry=RetryPolicy(3, sleep=sleep, throttle_budget=900))
        ledger.lock_date()
        box.faults.storm("throttle", calls=8)  # more 429s in a row than there are attempts
        started = clock.now()
        [result] = ledger.post([request(accrual(1))])
        assert result.outcome is PostOutcome.CREATED
        assert (clock.now() - started).total_seconds() == 8 * 60  # 60 s per 429, as Intuit asks
        box.faults.storm("throttle", calls=30)  # beyond the budget: left for the next run, not lost
        [later] = ledger.post([request(accrual(2))])
        assert later.outcome is PostOutcome.FAILED
        assert "ThrottleExceeded" in later.message


def test_a_quickbooks_that_takes_only_ten_items_refuses_the_batch_and_says_which_setting_helps(
    ledger, sandbox, monkeypatch
):
    monkeypatch.setattr("connector.sandbox.qbo_api.BATCH_MAX_ITEMS", 10)  # erps.md §9.7: maybe 10
    results = ledger.post([request(accrual(n)) for n in range(1, 13)])
    assert {r.outcome for r in results} == {PostOutcome.REJECTED}
    assert "the maximum is 10" in results[0].message
    assert "TOKENBOOKS_QUICKBOOKS__BATCH_SIZE" in results[0].message
    assert sandbox.journal_entries() == []
    ledger.batch_size = 10  # what the message says to do
    assert {r.outcome for r in ledger.post([request(accrual(n)) for n in range(1, 13)])} == {
        PostOutcome.CREATED
    }
    assert len(batch_calls(sandbox)) == 1 + 2

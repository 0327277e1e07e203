"""Xero's limits from the client side: pacing, Xero's headers, 429 storms, and token rotation under faults."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from connector.domain.errors import BudgetExhausted
from connector.ledgers.port import PostOutcome, PostRequest
from connector.ledgers.xero.adapter import observe_headers, xero_limiter
from connector.sandbox.common import ManualClock
from tests.xero_support import ENTITY, START, journal, running_xero


@pytest.fixture
def rig():
    with running_xero(check_requests=True) as running:
        running.connect()
        yield running


def test_seventy_calls_pace_themselves_under_the_minute_limit_without_a_single_429(rig):
    ledger = rig.ledger()
    for _ in range(70):
        ledger.find("TB-AC-261003-001")
    assert [r for r in rig.box.requests if r["status"] == 429] == []
    assert rig.now() - START >= timedelta(seconds=60)
    assert ledger.limiter.waited > 0


def test_calls_other_apps_made_are_respected_through_xeros_headers(rig):
    ledger = rig.ledger()
    ledger.lock_date()
    rig.box.consume_calls(58)  # someone else's script: one call left this minute
    ledger.lock_date()  # answered with X-MinLimit-Remaining: 0
    before = rig.now()
    ledger.lock_date()  # waits for the minute instead of collecting a 429
    assert [r for r in rig.box.requests if r["status"] == 429] == []
    assert rig.now() - before >= timedelta(seconds=59)


def test_a_429_storm_is_waited_out_with_retry_after(rig):
    ledger = rig.ledger(attempts=6)
    ledger.lock_date()
    ledger.chart_of_accounts()
    ledger.tracking()
    rig.box.faults.storm("throttle", calls=4)
    before = rig.now()
    [result] = ledger.post([PostRequest(journal(), "11111111-2222-5333-8444-555555555555")])
    assert result.outcome is PostOutcome.CREATED
    assert ledger.stats.retries == 4
    assert rig.now() - before >= timedelta(seconds=4 * rig.box.throttle_retry_after)
    assert len(rig.box.manual_journals()) == 1


def test_a_refresh_whose_answer_is_lost_is_retried_with_the_same_refresh_token_within_the_grace(rig):
    ledger = rig.ledger()
    rig.box.expire_access_tokens()
    rig.box.token_faults.queue("lost_response")
    assert ledger.lock_date() is None
    statuses = [r["status"] for r in rig.box.requests if r["path"] == "/connect/token"]
    assert statuses == [504, 200]
    saved = rig.vault.load("xero", ENTITY)
    rig.clock.advance(timedelta(minutes=31))  # beyond the grace: only the saved token can still refresh
    rig.box.expire_access_tokens()
    assert ledger.lock_date() is None
    assert rig.vault.load("xero", ENTITY).refresh_token != saved.refresh_token


def test_the_limiter_holds_five_calls_in_flight_at_most():
    clock = ManualClock(START)
    limiter = xero_limiter(concurrent=5, clock=clock.now, sleep=lambda s: clock.advance(seconds=s))
    inside, most = 0, 0
    lock = threading.Lock()
    release = threading.Event()

    def call() -> None:
        nonlocal inside, most
        with limiter.slot():
            with lock:
                inside += 1
                most = max(most, inside)
            release.wait(1)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for _ in range(100):
        with lock:
            if inside == 5:
                break
        threading.Event().wait(0.005)
    release.set()
    for thread in threads:
        thread.join()
    assert most == 5
    assert limiter.calls == 8


def test_the_day_budget_closes_by_count_or_by_xeros_header_and_reopens_later():
    clock = ManualClock(START)
    limiter = xero_limiter(per_day=3, clock=clock.now, sleep=lambda s: clock.advance(seconds=s))
    for _ in range(3):
        with limiter.slot():
            pass
    with pytest.raises(BudgetExhausted), limiter.slot():
        pass
    clock.advance(days=1)
    with limiter.slot():
        pass
    observe_headers(limiter, {"X-DayLimit-Remaining": "0"})
    with pytest.raises(BudgetExhausted), limiter.slot():
        pass
    clock.advance(hours=1)
    observe_headers(limiter, {"X-DayLimit-Remaining": "120"})
    with limiter.slot():
        pass

"""The one rate limiter both ledgers use: sliding budgets, the ledger's word (pause, used up, closed), on a
manual clock so nothing here waits for real."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.domain.errors import BudgetExhausted
from connector.ledgers.rate_limits import Budget, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0  # float ok: seconds
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:  # float ok: seconds
        self.sleeps.append(seconds)
        self.now += seconds


def limiter(clock: Clock, *budgets: Budget) -> RateLimiter:
    return RateLimiter(budgets, clock=lambda: clock.now, sleep=clock.sleep)


def test_every_named_budget_must_have_room_and_units_count_by_weight():
    clock = Clock()
    paced = limiter(clock, Budget("requests", 100), Budget("batches", 3))
    for _ in range(3):
        paced.acquire(requests=30, batches=1)
    assert clock.sleeps == []
    paced.acquire(requests=10, batches=1)  # requests fit (100), batches do not (3 a minute): wait
    assert clock.sleeps == [pytest.approx(60.001)]
    clock.now += 1
    paced.acquire(requests=30)  # 40 + 30 of the last minute's 100 … the window slid: fits
    assert len(clock.sleeps) == 1
    assert paced.calls == 5


def test_the_window_slides_rather_than_resetting_each_minute():
    clock = Clock()
    paced = limiter(clock, Budget("calls", 2))
    paced.acquire()
    clock.now += 40
    paced.acquire()
    paced.acquire()  # the first call leaves the window 20 s from now, not 60
    assert clock.sleeps == [pytest.approx(20.001)]


def test_the_ledgers_word_wins_a_pause_or_a_used_up_window():
    clock = Clock()
    paced = limiter(clock, Budget("minute", 60))
    paced.pause(30)  # a 429 with Retry-After: 30
    paced.acquire()
    assert clock.sleeps == [30]
    clock.now += 10
    paced.used_up("minute")  # "0 remaining": wait until our oldest call (10 s ago) leaves the minute
    paced.acquire()
    assert clock.sleeps[1] == pytest.approx(50)


def test_a_refusing_budget_refuses_when_used_up_or_closed_and_reopens_on_the_ledgers_word():
    clock = Clock()
    day = Budget("day", 2, 86_400, refusal="the day's calls are used up", fix="wait for tomorrow")
    paced = limiter(clock, day)
    paced.acquire()
    paced.acquire()
    with pytest.raises(BudgetExhausted, match="used up") as refused:
        paced.acquire()
    assert refused.value.fix == "wait for tomorrow"
    clock.now += 86_400
    paced.acquire()
    paced.close("day", 3600)
    with pytest.raises(BudgetExhausted):
        paced.acquire()
    paced.reopen("day")
    paced.acquire()  # the second of this day's two
    with pytest.raises(BudgetExhausted):
        paced.acquire()
    assert clock.sleeps == []  # a refusing budget never sleeps through its window


def test_a_sleep_that_moves_no_time_lets_the_call_go_instead_of_spinning():
    paced = RateLimiter([Budget("calls", 1)], clock=lambda: 5.0, sleep=lambda _s: None)
    paced.acquire()
    paced.acquire()  # would wait 60 s; a dry run's sleep returns at once and the call goes
    assert paced.calls == 2
    assert paced.waited > 0


def test_more_units_than_a_budget_holds_can_never_fit():
    with pytest.raises(ValueError, match="can never fit"):
        limiter(Clock(), Budget("requests", 10)).acquire(requests=11)


def test_a_clock_stepping_back_never_makes_a_wait_longer_than_the_window(caplog):
    clock = Clock()
    paced = limiter(clock, Budget("minute", 2))
    paced.acquire()
    paced.acquire()
    clock.now -= 3 * 3600  # NTP, or a VM restored from a snapshot: the wall clock is three hours back
    with caplog.at_level("INFO", logger="tokenbooks.waits"):
        paced.acquire()
    assert clock.sleeps == [pytest.approx(60.001)]  # a minute, as the limit asks, not three hours more
    assert "waiting 60 s for the ledger's minute limit" in caplog.text


def test_a_pause_is_the_seconds_asked_capped_and_said(caplog):
    clock = Clock()
    paced = limiter(clock, Budget("minute", 60))
    paced.pause(86_400)  # a Retry-After no minute limit means (or a stored time read on another clock)
    clock.now -= 600  # and the clock steps back meanwhile
    with caplog.at_level("INFO", logger="tokenbooks.waits"):
        paced.acquire()
    assert clock.sleeps == [120]  # the retry policy's cap, not a day and ten minutes
    assert "waiting 120 s for the ledger, which asked to wait (Retry-After)" in caplog.text


def test_a_wait_is_said_with_the_limit_it_is_for(caplog):
    from connector.ledgers.xero.limits import xero_limiter

    clock = Clock()
    paced = xero_limiter(
        per_minute=1, clock=lambda: datetime.fromtimestamp(clock.now, UTC), sleep=clock.sleep
    )
    paced.acquire()
    clock.now += 18
    with caplog.at_level("INFO", logger="tokenbooks.waits"):
        paced.acquire()
    assert "waiting 42 s for Xero's per-minute limit" in caplog.text


def test_a_window_the_ledger_says_is_used_up_is_said_as_such(caplog):
    clock = Clock()
    paced = limiter(clock, Budget("minute", 60, label="Xero's per-minute limit"))
    paced.acquire()
    clock.now += 15
    paced.used_up("minute")  # "X-MinLimit-Remaining: 0": our oldest call leaves the minute in 45 s
    with caplog.at_level("INFO", logger="tokenbooks.waits"):
        paced.acquire()
    assert "waiting 45 s for Xero's per-minute limit, which the ledger says is used up" in caplog.text

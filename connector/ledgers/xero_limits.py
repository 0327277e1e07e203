"""Xero's per-tenant call limits, kept on our side so a run paces itself instead of collecting 429s.

Xero allows per organisation 5 calls in flight, 60 a rolling minute and 5,000 a day (erps.md §6.1), and
tells every answer how much is left (``X-MinLimit-Remaining``, ``X-DayLimit-Remaining``,
``X-AppMinLimit-Remaining``). ``TenantLimiter.slot()`` wraps one call: it waits for a free slot and for room
in the minute window, and refuses with ``BudgetExhausted`` once the day's budget is gone (by our own count or
by Xero's header). ``observe`` reads the headers, so calls made by other apps on the same organisation are
respected too: when Xero says no call is left this minute, the next one waits. A 429 that still happens is
``RateLimited`` and waited out by ``RetryPolicy`` (``pause`` makes every caller wait with it).

Share one limiter per tenant in a process (the composition root does). Clock and sleep are injected, so tests
move a manual clock instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from connector.domain.errors import BudgetExhausted

__all__ = ["TenantLimiter"]

MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
DAY_RECHECK = timedelta(hours=1)  # after Xero said "0 left today" without saying when it resets


def _system_clock() -> datetime:
    return datetime.now(UTC)


class TenantLimiter:
    """Calls to one Xero organisation: at most ``concurrent`` at once, ``per_minute`` a minute, ``per_day`` a day."""

    def __init__(
        self,
        *,
        per_minute: int = 60,
        per_day: int = 5000,
        concurrent: int = 5,
        clock: Callable[[], datetime] = _system_clock,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_minute = per_minute
        self.per_day = per_day
        self.clock = clock
        self.sleep = sleep
        self._gate = threading.BoundedSemaphore(concurrent)
        self._lock = threading.Lock()
        self._minute: deque[datetime] = deque()
        self._day: deque[datetime] = deque()
        self._paused_until: datetime | None = None
        self._day_closed_until: datetime | None = None  # Xero said the day's budget is gone
        self.waited = timedelta()  # how long calls waited for the minute window (a run's report may show it)
        self.calls = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the concurrent slots for a call, once the minute and day budgets allow it."""
        with self._gate:
            self._wait_for_room()
            yield

    def observe(self, headers: Mapping[str, str] | None) -> None:
        """Read Xero's remaining-calls headers from an answer (a 429 included)."""
        if not headers:
            return
        minute_left = _int(headers.get("X-MinLimit-Remaining"))
        app_left = _int(headers.get("X-AppMinLimit-Remaining"))
        day_left = _int(headers.get("X-DayLimit-Remaining"))
        with self._lock:
            now = self.clock()
            if day_left == 0:
                self._close_day(now + DAY_RECHECK)
            elif day_left is not None:
                self._day_closed_until = None
            if minute_left == 0 or app_left == 0:
                # Someone (maybe another app) used this minute up: wait until our oldest call leaves the
                # window, or a whole minute when we made none of them.
                self._pause_until((self._minute[0] + MINUTE) if self._minute else now + MINUTE)

    def pause(self, seconds: float) -> None:  # float ok: seconds
        """Xero said wait (429 Retry-After): nobody calls this tenant before then."""
        with self._lock:
            self._pause_until(self.clock() + timedelta(seconds=seconds))

    def close_day(self, seconds: float | None) -> None:  # float ok: seconds
        """Xero answered 429 for the day: no call before ``seconds`` from now (an hour when it did not say)."""
        with self._lock:
            now = self.clock()
            self._close_day(now + (timedelta(seconds=seconds) if seconds else DAY_RECHECK))

    def _close_day(self, moment: datetime) -> None:
        if self._day_closed_until is None or moment > self._day_closed_until:
            self._day_closed_until = moment

    def _pause_until(self, moment: datetime) -> None:
        if self._paused_until is None or moment > self._paused_until:
            self._paused_until = moment

    def _wait_for_room(self) -> None:
        while True:
            with self._lock:
                wait = self._wait_needed(self.clock())
                if wait <= timedelta():
                    now = self.clock()
                    self._minute.append(now)
                    self._day.append(now)
                    self.calls += 1
                    return
            self.waited += wait
            self.sleep(wait.total_seconds())

    def _wait_needed(self, now: datetime) -> timedelta:
        while self._minute and self._minute[0] <= now - MINUTE:
            self._minute.popleft()
        while self._day and self._day[0] <= now - DAY:
            self._day.popleft()
        closed = self._day_closed_until is not None and now < self._day_closed_until
        if len(self._day) >= self.per_day or closed:
            raise BudgetExhausted(
                f"Xero's daily limit of {self.per_day:,} calls for this organisation is used up",
                fix="nothing to do: journals not posted stay in the outbox and go out on the next run",
            )
        wait = timedelta()
        if len(self._minute) >= self.per_minute:
            wait = self._minute[0] + MINUTE - now
        if self._paused_until is not None:
            wait = max(wait, self._paused_until - now)
        return wait


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None

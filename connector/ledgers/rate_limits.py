"""One client-side rate limiter for every ledger: stay inside its limits instead of running into its 429s.

A `RateLimiter` holds named `Budget`s — sliding windows of at most `limit` units per `seconds` (QuickBooks:
500 requests a minute counting each batch item, and 40 batch requests a minute; Xero: 60 calls a minute and
5,000 a day) — and optionally a cap on calls in flight (Xero: 5). `acquire(requests=30, batches=1)` waits,
with the injected `sleep`, until the call fits every budget, then counts it; `slot(...)` does the same while
holding one of the in-flight places for the call's duration. A budget marked `refusal` is not waited for
when it is used up (a day is too long to sleep through): `BudgetExhausted` says so, and the journals wait
for the next run.

What the ledger says overrides our own count: `pause(seconds)` (a 429's Retry-After) makes every caller
wait; `used_up(name)` (a "0 remaining" header: someone else, maybe another app, used the window) waits
until our oldest call leaves that window, or a whole window when we made none of them; `close(name,
seconds)` and `reopen(name)` shut and open a refusing budget on the ledger's word.

Time comes from an injected clock (seconds), so tests move a manual clock and never wait for real.
No wait is longer than what asked for it: a budget's wait is at most its window, a pause at most what
the ledger asked (itself capped at `MAX_PAUSE_SECONDS`), whatever the clock does. A clock that steps
back (NTP, a VM restored, a wall clock the app reads) moves every stored time back by as much, so the
calls already counted never look as if they were made in the future; a clock that steps forward only
ends the waits sooner. A wait of a second or more is said on the log (stderr), e.g. "waiting 42 s for
Xero's per-minute limit", so nobody watches a run sit in silence.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from connector.domain.errors import BudgetExhausted
from connector.retrying import MAX_WAIT_SECONDS

__all__ = ["Budget", "RateLimiter"]

MINUTE = 60.0  # float ok: seconds
DAY = 86_400.0  # float ok: seconds
MAX_PAUSE_SECONDS = MAX_WAIT_SECONDS  # a Retry-After is obeyed up to the retry policy's own cap
NOTICE_SECONDS = 1.0  # float ok: seconds; a shorter wait is pacing as usual, not worth a line

log = logging.getLogger("tokenbooks.waits")


@dataclass
class Budget:
    """At most `limit` units per `seconds`; with a `refusal`, a used-up budget refuses instead of waiting."""

    name: str
    limit: int
    seconds: float = MINUTE  # float ok: seconds
    refusal: str = ""  # the message of `BudgetExhausted` (empty: wait for room instead)
    fix: str = ""
    events: deque[tuple[float, int]] = field(default_factory=deque)  # (clock seconds, units)
    closed_until: float | None = None  # float ok: the ledger said this budget is gone until then
    label: str = ""  # what a wait for it is said as: "Xero's per-minute limit"

    def said(self, ledger: str) -> str:
        """The budget as a wait for it is said: its label, else "Xero's minute limit"."""
        return self.label or f"{ledger}'s {self.name} limit"

    def shift(self, seconds: float) -> None:  # float ok: seconds
        """Move every stored time by `seconds` (the clock stepped by as much)."""
        self.events = deque((at + seconds, units) for at, units in self.events)
        if self.closed_until is not None:
            self.closed_until += seconds

    def used(self, now: float) -> int:  # float ok: seconds
        while self.events and self.events[0][0] <= now - self.seconds:
            self.events.popleft()
        return sum(units for _, units in self.events)

    def wait_needed(self, now: float, units: int) -> float:  # float ok: seconds
        """Seconds until `units` more fit (0 when they fit now); raises when a refusing budget is used up."""
        if units > self.limit:
            raise ValueError(f"{units} units can never fit the {self.name} limit of {self.limit}")
        closed = self.closed_until is not None and now < self.closed_until
        excess = self.used(now) + units - self.limit
        if self.refusal and (closed or excess > 0):
            raise BudgetExhausted(self.refusal, fix=self.fix)
        if excess <= 0:
            return 0.0
        released = 0
        for at, count in self.events:
            released += count
            if released >= excess:
                return min(max(at + self.seconds - now, 0.0), self.seconds) + 0.001
        return self.seconds

    def oldest_leaves(self, now: float) -> float:  # float ok: seconds
        """When our oldest call in the window leaves it (a whole window from now when we made none)."""
        self.used(now)
        return self.events[0][0] + self.seconds if self.events else now + self.seconds


class RateLimiter:
    """Waits until a call fits every budget (and a place in flight, with `slot`), then counts it."""

    def __init__(
        self,
        budgets: Sequence[Budget],
        *,
        concurrent: int = 0,  # calls in flight at most (0: no cap)
        clock: Callable[[], float] = time.monotonic,  # float ok: seconds
        sleep: Callable[[float], None] = time.sleep,
        ledger: str = "the ledger",  # who asks for a pause, as a wait is said: "Xero"
    ) -> None:
        self.budgets = {budget.name: budget for budget in budgets}
        self.clock = clock
        self.sleep = sleep
        self.ledger = ledger
        self._seen: float | None = None  # float ok: seconds; the latest time read, to see the clock step back
        self._gate = threading.BoundedSemaphore(concurrent) if concurrent else None
        self._lock = threading.Lock()
        self._paused_until: float | None = None  # float ok: seconds
        self._paused_for = ""  # why, as a wait for the pause is said
        self.waited = 0.0  # float ok: seconds spent waiting for room, for a run's report and tests
        self.calls = 0

    def acquire(self, **units: int) -> None:
        """E.g. `acquire(requests=30, batches=1)`: wait until every budget named has room, then count it.
        With no units named, the call counts one against every budget."""
        units = units or dict.fromkeys(self.budgets, 1)
        while True:
            with self._lock:
                before = self._now()
                wait, why = self._wait_needed(before, units)
                if wait <= 0:
                    self._record(before, units)
                    return
            if wait >= NOTICE_SECONDS:
                log.info("waiting %.0f s for %s", wait, why)
            self.waited += wait
            self.sleep(wait)
            if self.clock() <= before:  # a sleep that moves no time (a dry run or a test): go, do not spin
                with self._lock:
                    self._record(self._now(), units)
                return

    @contextmanager
    def slot(self, **units: int) -> Iterator[None]:
        """Hold a place in flight for one call (when capped), once every budget has room for it."""
        if self._gate is None:
            self.acquire(**units)
            yield
            return
        with self._gate:
            self.acquire(**units)
            yield

    def pause(self, seconds: float) -> None:  # float ok: seconds
        """The ledger said wait (a 429's Retry-After): nobody calls before then."""
        with self._lock:
            self._pause_until(
                self._now() + min(max(seconds, 0.0), MAX_PAUSE_SECONDS),
                f"{self.ledger}, which asked to wait (Retry-After)",
            )

    def used_up(self, name: str) -> None:
        """The ledger says no call is left in budget `name`'s window: wait until our oldest call leaves it."""
        with self._lock:
            budget = self.budgets[name]
            self._pause_until(
                budget.oldest_leaves(self._now()),
                f"{budget.said(self.ledger)}, which {self.ledger} says is used up",
            )

    def close(self, name: str, seconds: float) -> None:  # float ok: seconds
        """The ledger says refusing budget `name` is gone for `seconds`: calls are refused until then."""
        with self._lock:
            budget = self.budgets[name]
            until = self._now() + seconds
            if budget.closed_until is None or until > budget.closed_until:
                budget.closed_until = until

    def reopen(self, name: str) -> None:
        """The ledger says budget `name` has room again."""
        with self._lock:
            self.budgets[name].closed_until = None

    def _now(self) -> float:  # float ok: seconds
        """The clock, read under the lock; when it stepped back since last read, every stored time steps
        back by as much, so no wait grows by the step (a call counted "in the future" would block for it)."""
        now = self.clock()
        if self._seen is not None and now < self._seen:
            step = now - self._seen
            for budget in self.budgets.values():
                budget.shift(step)
            if self._paused_until is not None:
                self._paused_until += step
        self._seen = now
        return now

    def _pause_until(self, moment: float, why: str) -> None:  # float ok: seconds
        if self._paused_until is None or moment > self._paused_until:
            self._paused_until, self._paused_for = moment, why

    def _wait_needed(self, now: float, units: dict[str, int]) -> tuple[float, str]:  # float ok: seconds
        """The longest wait any budget named (or a pause) needs, and what it is for."""
        wait, why = 0.0, ""
        for name, n in units.items():
            budget = self.budgets[name]
            needed = budget.wait_needed(now, n)
            if needed > wait:
                wait, why = needed, budget.said(self.ledger)
        if self._paused_until is not None and self._paused_until - now > wait:
            wait, why = self._paused_until - now, self._paused_for
        return wait, why

    def _record(self, now: float, units: dict[str, int]) -> None:  # float ok: seconds
        for name, n in units.items():
            self.budgets[name].events.append((now, n))
        self.calls += 1

"""Retries, in one place: only `Retriable` errors are retried, honouring `Retry-After` when given.

Sources and ledger adapters call `retrying(...)` around a single call; everything else fails fast.
`sleep` is injectable so tests never wait.

Throttling is not failure: with a `throttle_budget`, `RateLimited` answers are waited out (each for its
`retry_after`) until that many seconds of waiting are spent, without using up the attempts that other
retriable errors get. A 429 storm therefore makes a run slower, not failed.

A wait of a second or more is said on the log (stderr): how long and why ("waiting 13 s before trying
again: Xero is throttling calls (minute limit) while reading the accounts"), so a run never sits silent.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from connector.domain.errors import RateLimited, Retriable
from connector.metrics import RETRIES

T = TypeVar("T")

MAX_WAIT_SECONDS = 120.0  # never wait longer than this for one retry, whatever Retry-After says
NOTICE_SECONDS = 1.0  # float ok: seconds; a shorter back-off is not worth a line on stderr
_DELAY_SECONDS = re.compile(r"[0-9]+")

log = logging.getLogger("tokenbooks.waits")


def parse_retry_after(
    value: str | None, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> float | None:  # float ok: seconds
    """Seconds to wait from a `Retry-After` header (RFC 9110 §10.2.3), for every HTTP client in tokenbooks.

    Either delay-seconds (a non-negative whole number: `120`) or an HTTP-date (`Fri, 31 Dec 1999 23:59:59
    GMT`, a date already past meaning 0). Anything else — negative, fractional, garbage, a date without
    a zone — is ignored (None): the caller's own back-off applies instead."""
    text = (value or "").strip()
    if _DELAY_SECONDS.fullmatch(text):
        return float(int(text))  # float ok: seconds
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 5322 "-0000": no zone given, so no way to know when that is
        return None
    return max((moment - now()).total_seconds(), 0.0)


class RetryPolicy:
    """How many times and how long to retry a retriable failure."""

    def __init__(
        self,
        attempts: int = 5,
        *,
        initial_wait: float = 1.0,  # float ok: seconds
        max_wait: float = MAX_WAIT_SECONDS,  # float ok: seconds
        sleep: Callable[[float], None] = time.sleep,
        throttle_budget: float = 0.0,  # float ok: seconds of waiting on RateLimited, beyond `attempts`
    ) -> None:
        self.attempts = max(1, attempts)
        self.sleep = sleep
        self.max_wait = max_wait
        self.throttle_budget = throttle_budget
        self._backoff = wait_exponential_jitter(multiplier=initial_wait, max=max_wait)

    def wait_for(self, state: RetryCallState) -> float:  # float ok: seconds
        """Retry-After if the failure carried one (capped), else exponential backoff with jitter."""
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, Retriable) and error.retry_after is not None:
            return min(max(error.retry_after, 0.0), self.max_wait)
        return self._backoff(state)

    def call(self, fn: Callable[[], T], *, on_retry: Callable[[Retriable, int], None] | None = None) -> T:
        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, Retriable):
                RETRIES.labels(type(error).__name__).inc()
                if on_retry:
                    on_retry(error, state.attempt_number)
            wait = state.next_action.sleep if state.next_action else 0.0
            if error is not None and wait >= NOTICE_SECONDS:
                log.info("waiting %.0f s before trying again: %s", wait, getattr(error, "message", error))

        retrying = Retrying(
            stop=self._stop() if self.throttle_budget > 0 else stop_after_attempt(self.attempts),
            wait=self.wait_for,
            retry=retry_if_exception_type(Retriable),
            sleep=self.sleep,
            reraise=True,
            before_sleep=before_sleep,
        )
        return retrying(fn)

    def _stop(self) -> Callable[[RetryCallState], bool]:
        """Stop after `attempts` failures that were not throttling, or once the throttle budget is spent."""
        failures = 0
        throttled_for = 0.0  # float ok: seconds

        def stop(state: RetryCallState) -> bool:
            nonlocal failures, throttled_for
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, RateLimited):
                throttled_for += self.wait_for(state)
                return throttled_for > self.throttle_budget
            failures += 1
            return failures >= self.attempts

        return stop


def no_sleep(_seconds: float) -> None:  # float ok: seconds
    """For tests and dry runs: retry at once."""

"""Retries, in one place: only `Retriable` errors are retried, honouring `Retry-After` when given.

Sources and ledger adapters call `retrying(...)` around a single call; everything else fails fast.
`sleep` is injectable so tests never wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from connector.domain.errors import Retriable

T = TypeVar("T")

MAX_WAIT_SECONDS = 120.0  # never wait longer than this for one retry, whatever Retry-After says


class RetryPolicy:
    """How many times and how long to retry a retriable failure."""

    def __init__(
        self,
        attempts: int = 5,
        *,
        initial_wait: float = 1.0,  # float ok: seconds
        max_wait: float = MAX_WAIT_SECONDS,  # float ok: seconds
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.attempts = max(1, attempts)
        self.sleep = sleep
        self.max_wait = max_wait
        self._backoff = wait_exponential_jitter(initial=initial_wait, max=max_wait)

    def wait_for(self, state: RetryCallState) -> float:  # float ok: seconds
        """Retry-After if the failure carried one (capped), else exponential backoff with jitter."""
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, Retriable) and error.retry_after is not None:
            return min(max(error.retry_after, 0.0), self.max_wait)
        return self._backoff(state)

    def call(self, fn: Callable[[], T], *, on_retry: Callable[[Retriable, int], None] | None = None) -> T:
        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            if on_retry and isinstance(error, Retriable):
                on_retry(error, state.attempt_number)

        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self.wait_for,
            retry=retry_if_exception_type(Retriable),
            sleep=self.sleep,
            reraise=True,
            before_sleep=before_sleep,
        )
        return retrying(fn)


def no_sleep(_seconds: float) -> None:  # float ok: seconds
    """For tests and dry runs: retry at once."""

"""Shutdown on SIGTERM or SIGINT, as the deployment files promise: never in the middle of a batch.

The signal only sets the application's `stopping` event. The run in flight sees it at its next safe
point (between stages, between posting batches) and stops there, recorded `abandoned` with the reason;
a wait in progress — ledger pacing, a retry's back-off, a throttled 429 — is cut short at once
(`interruptible_sleep`), so a stop takes seconds, not the minutes of a throttle budget. Nothing is sent
after the signal; what was sent is looked up by the next run before anything is created again.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from connector.domain.errors import Interrupted

log = logging.getLogger("tokenbooks.shutdown")


# How often a wait looks for a shutdown request: a stop takes at most this long to be seen
STOP_CHECK_SECONDS = 0.2  # float ok: seconds


def interruptible_sleep(stopping: threading.Event) -> Callable[[float], None]:
    """A `time.sleep` that a shutdown request ends at once, by raising `Interrupted`.

    It sleeps in short slices and counts what it slept, looking at `stopping` between them. It never
    waits on the event with a timeout: that timeout is a deadline on the monotonic clock, which a faked
    clock (libfaketime, as accountants replay past nights) moves decades ahead of the kernel's, so a
    13-second wait never ended. Counting slept slices ends the wait after `seconds`, whatever any clock says.
    """

    def sleep(seconds: float) -> None:  # float ok: seconds
        left = max(0.0, seconds)
        while True:
            if stopping.is_set():
                raise Interrupted(
                    "stopped by a shutdown request while waiting (ledger pacing or a retry); nothing more "
                    "was sent",
                    fix="nothing to do: the next run looks up what was sent and goes on",
                )
            if left <= 0:
                return
            step = min(left, STOP_CHECK_SECONDS)
            time.sleep(step)
            left -= step

    return sleep


def stop_on_signals(stopping: threading.Event, then: Callable[[], None] | None = None) -> None:
    """On SIGTERM or SIGINT: set `stopping` (and call `then`), instead of dying mid-batch."""

    def request_stop(signum: int, _frame: Any) -> None:
        log.info("%s received: stopping at the next safe point", signal.Signals(signum).name)
        stopping.set()
        if then is not None:
            then()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

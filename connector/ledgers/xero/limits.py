"""What Xero refuses and allows that tokenbooks knows without its SDK: the account types a manual journal
may not touch, and the call budgets per organisation. The registry entry (the chart rule) and the connection
(the rate limiter) read them here, so the command line starts without loading xero-python; the adapter
imports them from here too."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from connector.ledgers.rate_limits import DAY, Budget, RateLimiter

NOT_JOURNALABLE = {"BANK": "a bank account", "INVENTORY": "an inventory account"}


def xero_limiter(
    *,
    per_minute: int = 60,
    per_day: int = 5000,
    concurrent: int = 5,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> RateLimiter:
    """Xero's limits per organisation (erps.md §6.1): ``concurrent`` calls in flight, ``per_minute`` a rolling
    minute, ``per_day`` a rolling day — the day's budget refuses (``BudgetExhausted``) rather than waits.
    Share one per tenant in a process (the composition root does)."""
    day = Budget(
        "day",
        per_day,
        DAY,
        refusal=f"Xero's daily limit of {per_day:,} calls for this organisation is used up",
        fix="nothing to do: journals not posted stay in the outbox and go out on the next run",
    )
    return RateLimiter(
        [Budget("minute", per_minute, label="Xero's per-minute limit"), day],
        concurrent=concurrent,
        clock=lambda: clock().timestamp(),
        sleep=sleep,
        ledger="Xero",
    )

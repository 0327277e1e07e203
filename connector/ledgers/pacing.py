"""Client-side pacing: stay inside a ledger's per-minute limits instead of running into its 429s.

A `Pacer` holds one sliding window per limit (e.g. QuickBooks: 500 requests/min counting each batch item,
and 40 batch requests/min). `acquire` waits, with the injected `sleep`, until the call fits every window,
then records it. Time comes from an injected monotonic clock, so tests pace against a manual clock and
never wait for real.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

WINDOW_SECONDS = 60.0  # float ok: seconds


@dataclass
class Window:
    """At most `limit` units per `seconds`."""

    name: str
    limit: int
    seconds: float = WINDOW_SECONDS  # float ok: seconds
    events: deque[tuple[float, int]] = field(default_factory=deque)  # (monotonic time, units)

    def used(self, now: float) -> int:  # float ok: seconds
        while self.events and self.events[0][0] <= now - self.seconds:
            self.events.popleft()
        return sum(units for _, units in self.events)

    def wait_needed(self, now: float, units: int) -> float:  # float ok: seconds
        """Seconds until `units` more fit (0 when they fit now)."""
        if units > self.limit:
            raise ValueError(f"{units} units can never fit the {self.name} limit of {self.limit}")
        excess = self.used(now) + units - self.limit
        if excess <= 0:
            return 0.0
        released = 0
        for at, count in self.events:
            released += count
            if released >= excess:
                return max(at + self.seconds - now, 0.0) + 0.001
        return self.seconds

    def record(self, now: float, units: int) -> None:  # float ok: seconds
        self.events.append((now, units))


class Pacer:
    """Waits until a call fits each of its windows, then counts it."""

    def __init__(
        self,
        windows: dict[str, Window],
        *,
        clock: Callable[[], float] = time.monotonic,  # float ok: seconds
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.windows = windows
        self.clock = clock
        self.sleep = sleep
        self.waited = 0.0  # float ok: seconds spent waiting, for stats and tests

    def acquire(self, **units: int) -> None:
        """E.g. `acquire(requests=30, batches=1)`: wait until both fit, then record them.

        One wait, then the call goes: calls are made one at a time per ledger connection, so after the
        wait the windows have room (and a test's no-op sleep cannot spin this forever).
        """
        wait = max(self.windows[name].wait_needed(self.clock(), n) for name, n in units.items())
        if wait > 0:
            self.waited += wait
            self.sleep(wait)
        now = self.clock()
        for name, n in units.items():
            self.windows[name].record(now, n)

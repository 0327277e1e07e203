"""Bulk work in one process: a month of facts stored or classified makes millions of short-lived objects.

Used by the store's bulk writers and by the plan's classification alike, so it lives outside both.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a bulk step (storing a window, classifying a month).

    Such a step makes millions of short-lived objects — row tuples, Decimals, facts, allocations — that
    hold no reference cycles, so reference counting frees every one of them. But each allocation also
    counts towards the collector's thresholds, and each collection traverses every live object again:
    with a month in flight that was a fifth of a nightly sync's time (docs/performance.md). Whatever the
    step does make in cycles is collected once the collector runs again. The pause is process-wide, so a
    thread working beside a sync only has its cycles collected a little later.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

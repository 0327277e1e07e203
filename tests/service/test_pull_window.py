"""The window each kind of source gets from the pull service (`window_for`): from the bookmark (or the
first day) less the lag days; a source's own first day replaces its provider's; a source that declares a
restatement start (a cloud's open billing period) reads from there when that is earlier than the lag. And
the port's default for a source that does not stream: its window whole, in one piece."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from connector.service.pull import window_for
from connector.sources.base import Source, Window, bookmark_id
from tests.service.conftest import ScriptedSource
from tests.support import fact

UNTIL = date(2026, 11, 20)
PROVIDER_START = date(2026, 11, 1)


@dataclass
class Restating(ScriptedSource):
    """A source whose cloud restates from `restated_on` (the first day of its open billing period)."""

    restated_on: date | None = None

    def restated_from(self, until: date) -> date | None:
        return self.restated_on


def window(source: Source, store: Any, since: date | None = None) -> Window:
    return window_for(source, store, since=since, until=UNTIL, default_start=PROVIDER_START)


def bookmarks(marks: dict[str, str]) -> Any:
    """A store that holds bookmarks only (what `window_for` reads)."""
    uow = SimpleNamespace(bookmarks=SimpleNamespace(get=marks.get))
    return SimpleNamespace(unit_of_work=lambda: nullcontext(uow))


def with_bookmark(source: Source, day: date) -> Any:
    return bookmarks({bookmark_id(source.name, source.provider_account): day.isoformat()})


def test_an_api_source_declares_no_first_day_and_no_restatement() -> None:
    source = ScriptedSource(lag_days=3)
    assert source.start_date is None
    assert source.restated_from(UNTIL) is None
    assert window(source, bookmarks({})) == Window(date(2026, 10, 29), UNTIL)  # provider start less 3 days
    assert window(source, with_bookmark(source, date(2026, 11, 18))) == Window(date(2026, 11, 16), UNTIL)


def test_a_sources_own_first_day_replaces_its_providers() -> None:
    source = ScriptedSource(lag_days=1)
    source.start_date = date(2026, 11, 10)
    assert window(source, bookmarks({})) == Window(date(2026, 11, 9), UNTIL)
    # a bookmark wins over the first day: the source goes on where it stopped
    assert window(source, with_bookmark(source, date(2026, 11, 18))) == Window(date(2026, 11, 18), UNTIL)


@pytest.mark.parametrize(
    ("restated_on", "first_day"),
    [
        (date(2026, 11, 1), date(2026, 11, 1)),  # the open billing month: earlier than the lag, read again
        (date(2026, 10, 1), date(2026, 10, 1)),  # October too, until its bill is final
        (date(2026, 11, 19), date(2026, 11, 17)),  # later than the lag window: the lag window stands
        (None, date(2026, 11, 17)),  # no restatement today: the lag days only
    ],
)
def test_a_source_that_declares_a_restatement_start_reads_from_it(
    restated_on: date | None, first_day: date
) -> None:
    source = Restating(lag_days=2, restated_on=restated_on)
    store = with_bookmark(source, date(2026, 11, 18))
    assert window(source, store) == Window(first_day, UNTIL)
    assert window(source, store, since=date(2026, 11, 10)) == Window(min(first_day, date(2026, 11, 8)), UNTIL)


def test_a_source_that_does_not_stream_hands_its_window_over_whole_once() -> None:
    source = ScriptedSource(facts=[fact("1.00", UNTIL), fact("2.00", date(2026, 11, 1))])
    window = Window(date(2026, 11, 19), UNTIL)
    [chunk] = list(source.stream(window))  # the port's default: the pull's result, as one piece
    assert source.pulls == [window]
    assert [f.amount for f in chunk.facts] == [Decimal("1.00")]

"""The window each kind of source gets from the pull service (`window_for`): from the bookmark less the
lag days, never before a configured first day; a first pull from the first day itself (nothing before
it: a month before may be closed or booked by hand); `--since` as asked; a source's own first day
replaces its provider's; a source that declares a restatement start (a cloud's open billing period)
reads from there when that is earlier than the lag. And the port's default for a source that does not
stream: its window whole, in one piece."""

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


def window(source: Source, store: Any, since: date | None = None, start_date: date | None = None) -> Window:
    return window_for(
        source,
        store,
        since=since,
        until=UNTIL,
        default_start=start_date or PROVIDER_START,
        start_date=start_date,
    )


def bookmarks(marks: dict[str, str], history: dict[str, date] | None = None) -> Any:
    """A store that holds bookmarks only (what `window_for` reads): how far each source read, and the
    first day of its history."""
    uow = SimpleNamespace(bookmarks=SimpleNamespace(get=marks.get, first_day=(history or {}).get))
    return SimpleNamespace(unit_of_work=lambda: nullcontext(uow))


def with_bookmark(source: Source, day: date, history: date | None = None) -> Any:
    source_id = bookmark_id(source.name, source.provider_account)
    return bookmarks({source_id: day.isoformat()}, {source_id: history} if history else {})


def test_an_api_source_declares_no_first_day_and_no_restatement() -> None:
    source = ScriptedSource(lag_days=3)
    assert source.start_date is None
    assert source.restated_from(UNTIL) is None
    assert window(source, bookmarks({})) == Window(PROVIDER_START, UNTIL)  # the first day, not 3 days before
    assert window(source, with_bookmark(source, date(2026, 11, 18))) == Window(date(2026, 11, 16), UNTIL)


def test_the_lag_never_reads_before_a_configured_first_day() -> None:
    """A provider whose START_DATE is November 10th, pulled up to the 10th: the next night reads the lag
    days again from the 10th, not the 8th and 9th, which its bookkeeping does not hold."""
    source = ScriptedSource(lag_days=3)
    first_day = date(2026, 11, 10)
    assert window(source, with_bookmark(source, first_day), start_date=first_day) == Window(first_day, UNTIL)
    later = date(2026, 11, 18)
    assert window(source, with_bookmark(source, later), start_date=first_day) == Window(
        date(2026, 11, 16), UNTIL
    )
    # without a configured first day, the first day of the source's history bounds it: a first night
    # that read from the month being booked (its default) did not book the last days of the month before
    assert window(source, with_bookmark(source, first_day, history=first_day)) == Window(first_day, UNTIL)
    # a bookmark stored before the history was kept (NULL): the lag reaches back as it always did
    assert window(source, with_bookmark(source, first_day)) == Window(date(2026, 11, 8), UNTIL)
    # a bookmark behind a first day moved later: the days after the bookmark are still read
    assert window(source, with_bookmark(source, date(2026, 11, 5)), start_date=first_day) == Window(
        date(2026, 11, 6), UNTIL
    )


def test_since_is_the_first_day_pulled_as_asked() -> None:
    source = ScriptedSource(lag_days=3)
    since = date(2026, 11, 12)
    assert window(source, bookmarks({}), since=since) == Window(since, UNTIL)
    assert window(source, with_bookmark(source, date(2026, 11, 18)), since=since) == Window(since, UNTIL)


def test_a_sources_own_first_day_replaces_its_providers() -> None:
    source = ScriptedSource(lag_days=1)
    source.start_date = date(2026, 11, 10)
    assert window(source, bookmarks({})) == Window(date(2026, 11, 10), UNTIL)
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
    assert window(source, store, since=date(2026, 11, 10)) == Window(
        min(first_day, date(2026, 11, 10)), UNTIL
    )


def test_a_restatement_never_reads_before_the_sources_first_day() -> None:
    """A cloud restates its open month, from November 1st: a first pull that starts on the 10th (its
    START_DATE, or the first day of its history) reads from the 10th, not the 1st, and so do later nights."""
    source = Restating(lag_days=2, restated_on=date(2026, 11, 1))
    first_day = date(2026, 11, 10)
    assert window(source, bookmarks({}), start_date=first_day) == Window(first_day, UNTIL)
    later = with_bookmark(source, date(2026, 11, 18), history=first_day)
    assert window(source, later) == Window(first_day, UNTIL)
    source.start_date = first_day
    assert window(source, bookmarks({})) == Window(first_day, UNTIL)


def test_a_source_that_does_not_stream_hands_its_window_over_whole_once() -> None:
    source = ScriptedSource(facts=[fact("1.00", UNTIL), fact("2.00", date(2026, 11, 1))])
    window = Window(date(2026, 11, 19), UNTIL)
    [chunk] = list(source.stream(window))  # the port's default: the pull's result, as one piece
    assert source.pulls == [window]
    assert [f.amount for f in chunk.facts] == [Decimal("1.00")]

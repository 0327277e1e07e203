"""Refused days (a pull whose errors each name the days they spoil): the invariants, over random windows.

Whatever days are refused, the stored facts of every other day are the provider's new answer, a refused
day holds exactly what it held before, the bookmark stands on the day before the first refused day, and
a pull that refuses nothing stores the whole window. The source gives the refused days' facts too: the
pull service, not the source, keeps them out."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.domain.errors import Problem, refused_days
from connector.service.pull import pull_sources, sources_status
from connector.sources.base import Window
from tests.service.conftest import ScriptedSource
from tests.service.test_ingestion import make_app
from tests.support import fact

FIRST = date(2026, 10, 1)
DAYS = [FIRST + timedelta(days=n) for n in range(8)]
cents = st.integers(min_value=-500, max_value=100_000).map(lambda n: Decimal(n).scaleb(-2))
answers = st.dictionaries(st.sampled_from(DAYS), cents, max_size=len(DAYS))  # a day's amount, if any


@given(
    first=st.sampled_from(DAYS),
    length=st.integers(min_value=0, max_value=7),
    taken=st.sets(st.sampled_from(DAYS)),
)
def test_the_runs_left_of_a_window_are_its_days_less_the_taken_ones_in_order(
    first: date, length: int, taken: set[date]
) -> None:
    window = Window(first, first + timedelta(days=length))
    runs = window.without(frozenset(taken))
    kept = [day for run in runs for day in (run.first_day + timedelta(n) for n in range(run.days))]
    every = [window.first_day + timedelta(n) for n in range(window.days)]
    assert kept == [day for day in every if day not in taken]  # in order, none twice
    for earlier, later in pairwise(runs):
        assert later.first_day - earlier.last_day > timedelta(days=1)  # runs never touch: maximal


def test_an_error_that_names_no_day_refuses_the_window_whole() -> None:
    dated = Problem("t", "row 1", "BilledCost", "bad", days=frozenset({FIRST}))
    undated = Problem("t", "row 2", "ChargePeriodEnd", "unreadable")
    assert refused_days([]) == frozenset()
    assert refused_days([dated]) == {FIRST}
    assert refused_days([dated, undated]) is None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=answers, after=answers, refused=st.sets(st.sampled_from(DAYS)))
def test_a_pull_stores_the_new_answer_on_every_day_but_the_refused_ones(
    before: dict[date, Decimal], after: dict[date, Decimal], refused: set[date]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = ScriptedSource(lag_days=0)
        app = make_app(Path(tmp), "store.db", sources=[source])
        try:
            source.facts = [fact(amount, day) for day, amount in before.items()]
            assert pull_sources(app, entity="acme-us", since=DAYS[0], until=DAYS[-1]).status == "succeeded"

            source.facts = [fact(amount, day) for day, amount in after.items()]
            source.refused = dict.fromkeys(refused, "a row fails a check")
            run = pull_sources(app, entity="acme-us", since=DAYS[0], until=DAYS[-1])

            expected = {day: (before if day in refused else after).get(day) for day in DAYS}
            assert stored_by_day(app) == {
                day: amount for day, amount in expected.items() if amount is not None
            }
            [status] = sources_status(app.store, app.sources("acme-us"))
            if refused:
                assert run.status == "partial"
                assert status.bookmark == str(min(refused) - timedelta(days=1))
                assert status.refused_days == tuple(sorted(refused))
            else:
                assert run.status == "succeeded"
                assert (status.bookmark, status.refused_days, status.last_error) == (str(DAYS[-1]), (), None)
        finally:
            app.engine.dispose()


def stored_by_day(app) -> dict[date, Decimal]:
    with app.store.unit_of_work() as uow:
        current = [stored.fact for stored in uow.facts.current("acme-us")]
    assert len({f.natural_key for f in current}) == len(current)  # never two current versions of a bucket
    return {f.charge_date: f.amount for f in current}

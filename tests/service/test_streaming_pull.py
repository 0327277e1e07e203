"""Streaming pulls (issue 17): a window's pages are stored as they arrive, staged, and become facts only
when the whole window has been read — so memory holds a page whatever the window, and the refusal rule
holds: a window with an error on any page keeps nothing, a crash mid-window leaves no partial facts, and
the next run reads the window again and ends with exactly the facts of an uninterrupted pull."""

from __future__ import annotations

import os
import subprocess
import sys
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import responses
from sqlalchemy import func, select

from connector.domain.facts import Dimensions, Fact, natural_key
from connector.service.pull import pull_sources, sources_status
from connector.sources.base import PullResult, RawPage, StreamingSource, Window, gathered
from connector.store.tables import PullStageRow, RawPayloadRow, StagedFactRow, StagedUsageRow
from tests.service.test_ingestion import COSTS, costs_source, make_app, stored_facts
from tests.sources.builders import openai_bucket, openai_cost, openai_page

DAYS = [date(2026, 10, d) for d in range(1, 11)]


def five_pages(bad_page: int | None = None) -> list[dict]:
    """Ten days in five pages of two days; `bad_page` (1-based) carries an amount that is not a number."""
    pages = []
    for n in range(5):
        days = DAYS[2 * n : 2 * n + 2]
        value = "twelve dollars" if bad_page == n + 1 else None
        buckets = [
            openai_bucket(day, openai_cost(value or 1.25 + i, project=f"proj_{i}"))
            for i, day in enumerate(days)
        ]
        pages.append(openai_page(*buckets, next_page=f"p{n + 2}" if n < 4 else None))
    return pages


def count(app, table) -> int:
    with app.store.unit_of_work() as uow:
        return uow.session.execute(select(func.count()).select_from(table)).scalar_one()


def nothing_kept(app) -> None:
    assert stored_facts(app) == []
    for table in (StagedFactRow, StagedUsageRow, PullStageRow, RawPayloadRow):
        assert count(app, table) == 0, table.__tablename__
    [status] = sources_status(app.store, app.sources("acme-us"))
    assert status.bookmark is None


def pull_all(app, pages: list[dict]):
    with responses.RequestsMock() as mock:
        for page in pages:
            mock.get(COSTS, json=page)
        return pull_sources(app, entity="acme-us", since=DAYS[0], until=DAYS[-1])


def test_a_window_with_an_error_on_page_four_keeps_nothing_and_the_next_run_stores_it_whole(tmp_path: Path):
    straight = make_app(tmp_path, "straight.db", sources=[costs_source()])
    assert pull_all(straight, five_pages()).status == "succeeded"
    expected = stored_facts(straight)
    assert len(expected) == 10

    app = make_app(tmp_path, "refused.db", sources=[costs_source()])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for page in five_pages(bad_page=4):
            mock.get(COSTS, json=page)
        run = pull_sources(app, entity="acme-us", since=DAYS[0], until=DAYS[-1])
        assert len(mock.calls) == 4  # pages 1-3 were staged as they came; page 5 was never asked for
    assert run.status == "failed"
    assert "refused" in run.reason
    assert "page 4" in run.reason
    assert "amount" in run.reason
    nothing_kept(app)  # pages 1-3 were stored as they arrived: their stage was discarded with the window

    assert pull_all(app, five_pages()).status == "succeeded"
    assert stored_facts(app) == expected
    assert count(app, RawPayloadRow) == 5
    assert count(app, StagedFactRow) == count(app, PullStageRow) == 0


CRASH = """
import os, signal, sys
from datetime import date
from pathlib import Path
import responses
from connector.service.pull import pull_sources
from tests.service.test_ingestion import COSTS, costs_source, make_app
from tests.service.test_streaming_pull import DAYS, five_pages

pages = five_pages()
calls = []

def page(request):
    calls.append(request)
    if len(calls) == 4:
        os.kill(os.getpid(), signal.SIGKILL)  # the process dies while page 4 is on its way
    return 200, {}, __import__("json").dumps(pages[len(calls) - 1])

app = make_app(Path(sys.argv[1]), "crashed.db", sources=[costs_source()])
with responses.RequestsMock() as mock:
    mock.add_callback(responses.GET, COSTS, callback=page)
    pull_sources(app, entity="acme-us", since=DAYS[0], until=DAYS[-1])
"""


def test_a_pull_killed_mid_window_leaves_no_visible_facts_and_the_next_pull_resumes_it(tmp_path: Path):
    killed = subprocess.run(
        [sys.executable, "-c", CRASH, str(tmp_path)],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert killed.returncode == -9, killed.stderr
    app = make_app(tmp_path, "crashed.db", sources=[costs_source()])
    assert stored_facts(app) == []  # three pages were stored as they came, none of them is a fact
    assert count(app, StagedFactRow) == 6
    assert count(app, RawPayloadRow) == 3
    assert sources_status(app.store, app.sources("acme-us"))[0].bookmark is None

    run = pull_all(app, five_pages())
    assert run.status == "succeeded"
    straight = make_app(tmp_path, "straight.db", sources=[costs_source()])
    pull_all(straight, five_pages())
    assert stored_facts(app) == stored_facts(straight)
    assert count(app, StagedFactRow) == count(app, PullStageRow) == 0
    assert count(app, RawPayloadRow) == 5  # the dead pull's pages went with its stage
    with app.store.unit_of_work() as uow:
        assert [e.kind for e in uow.events.for_run(run.run_id) if e.kind == "pull.resumed"] == [
            "pull.resumed"
        ]


class TrackedFact(Fact):
    """A Fact that can be watched (weakly) to see whether anything still holds it."""

    __slots__ = ("__weakref__",)


@dataclass
class ManyPages(StreamingSource):
    """A streaming source of `pages` pages that notes, as it makes each page, how many facts of the pages
    before the previous one are still alive — what the pull holds beyond the page it is storing."""

    pages: int
    per_page: int = 50
    name: str = "openai.costs"
    provider: str = "openai"
    provider_account: str = "org-1"
    entity: str = "acme-us"
    lag_days: int = 0

    def __post_init__(self) -> None:
        self.made: list[list[weakref.ref]] = []
        self.held_beyond_one_page: list[int] = []

    def stream(self, window: Window, progress=None) -> Iterator[PullResult]:
        for n in range(self.pages):
            self.held_beyond_one_page.append(
                sum(ref() is not None for refs in self.made[: max(0, n - 1)] for ref in refs)
            )
            day = window.first_day + timedelta(days=n % window.days)
            facts = [self._fact(day, n * self.per_page + i) for i in range(self.per_page)]
            self.made.append([weakref.ref(f) for f in facts])
            chunk = PullResult(self.name, self.provider, self.provider_account, window)
            chunk.facts = facts
            chunk.pages = [RawPage("synthetic://costs", {"page": n}, "{}").producing(facts)]
            chunk.received = len(facts)
            del facts
            yield chunk

    def pull(self, window: Window, progress=None) -> PullResult:
        return gathered(self, window, self.stream(window, progress))

    def _fact(self, day: date, i: int) -> TrackedFact:
        return TrackedFact(
            entity=self.entity,
            provider=self.provider,
            provider_account=self.provider_account,
            charge_date=day,
            posting_date=day,
            amount=Decimal(i % 97 + 1).scaleb(-2),
            currency="USD",
            natural_key=natural_key(self.provider, self.provider_account, "costs", day, i),
            dimensions=Dimensions.of(project=f"proj_{i % 7}"),
            source=self.name,
        )


def test_a_pull_of_many_pages_never_holds_more_than_the_page_it_is_storing(tmp_path: Path):
    source = ManyPages(pages=60)
    app = make_app(tmp_path, "pages.db", sources=[source])
    run = pull_sources(app, entity="acme-us", since=DAYS[0], until=DAYS[-1])
    assert run.status == "succeeded"
    assert len(source.held_beyond_one_page) == 60
    assert max(source.held_beyond_one_page) == 0  # every earlier page was stored and let go
    assert len(stored_facts(app)) == 60 * 50
    assert count(app, RawPayloadRow) == 60

    held = ManyPages(pages=60)  # the instrument can fail: a pull that gathers the window is caught
    held.pull(Window(DAYS[0], DAYS[-1]))
    assert max(held.held_beyond_one_page) == 58 * 50

"""Anthropic streams like OpenAI (issue 17): its cost and usage reports are staged a page at a time as
they arrive, each cost page split across API keys as soon as the usage report has been read past its
days — so a pull holds a page of each report, never the window — and a window with a bad page anywhere
keeps nothing, while a good one stores exactly what a whole-window pull produces."""

from __future__ import annotations

import itertools
import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import responses

from connector.domain.facts import CostBasis
from connector.domain.usage import SPLIT_BASIS
from connector.service.pull import pull_sources
from connector.sources import anthropic as anthropic_module
from connector.sources.anthropic import COST_PATH, USAGE_PATH, AnthropicSource
from connector.sources.base import Window
from connector.sources.prices import load_catalog
from connector.store.tables import PullStageRow, RawPayloadRow, StagedFactRow, StagedUsageRow
from tests.service.test_ingestion import make_app, stored_facts
from tests.service.test_streaming_pull import count, nothing_kept
from tests.sources.builders import (
    ANTHROPIC,
    anthropic_bucket,
    anthropic_cost,
    anthropic_page,
    anthropic_usage,
    client,
)

DAYS = [date(2026, 10, d) for d in range(1, 11)]
COST_URL, USAGE_URL = ANTHROPIC + COST_PATH, ANTHROPIC + USAGE_PATH
PAGES = 5  # each report: five pages of two days


def anthropic() -> AnthropicSource:
    return AnthropicSource(
        client(ANTHROPIC, "Anthropic"),
        organization="ant-1",
        entity="acme-us",
        timezone="UTC",
        catalog=load_catalog(),
        lag_days=0,
    )


def cost_pages(bad_page: int | None = None) -> list[dict]:
    """Ten days in five pages of two days: each day a bucket of $3.00 of input in two workspaces, one
    of them also with a web-search bucket; `bad_page` (1-based) carries an amount that is not a number."""
    pages = []
    for n in range(PAGES):
        amount = "three hundred" if bad_page == n + 1 else "300"
        buckets = [
            anthropic_bucket(
                day,
                anthropic_cost(amount),
                anthropic_cost(str(100 + i), workspace="wrkspc_02"),
                anthropic_cost("45", cost_type="web_search", description="Web Search"),
            )
            for i, day in enumerate(DAYS[2 * n : 2 * n + 2])
        ]
        pages.append(anthropic_page(*buckets, next_page=f"c{n + 2}" if n < PAGES - 1 else None))
    return pages


def usage_pages() -> list[dict]:
    """The same ten days of usage in five pages: two keys share wrkspc_01 one to two, one key uses
    wrkspc_02, and a priority-tier key (estimated, not billed) appears every day."""
    pages = []
    for n in range(PAGES):
        buckets = [
            anthropic_bucket(
                day,
                anthropic_usage("key_a", uncached=1000, searches=1),
                anthropic_usage("key_b", uncached=2000, searches=2),
                anthropic_usage("key_c", uncached=500, workspace="wrkspc_02"),
                anthropic_usage(
                    "key_p", tier="priority", uncached=10_000, output=0, cache_read=0, cache_1h=0, cache_5m=0
                ),
            )
            for day in DAYS[2 * n : 2 * n + 2]
        ]
        pages.append(anthropic_page(*buckets, next_page=f"u{n + 2}" if n < PAGES - 1 else None))
    return pages


class Provider:
    """The two reports served by their cursors (`page=c3`), noting for every request what was already
    staged or stored when it arrived."""

    def __init__(self, app, costs: list[dict], usage: list[dict]) -> None:
        self.app, self.costs, self.usage = app, costs, usage
        self.requests: list[tuple[str, int, int, int]] = []  # (report, page no, staged facts, raw pages)

    def serve(self, mock: responses.RequestsMock) -> None:
        mock.add_callback(responses.GET, COST_URL, callback=lambda r: self._page(r, "cost", self.costs))
        mock.add_callback(responses.GET, USAGE_URL, callback=lambda r: self._page(r, "usage", self.usage))

    def _page(self, request, report: str, pages: list[dict]):
        cursor = parse_qs(urlsplit(request.url).query).get("page", ["x1"])[0]
        number = int(cursor[1:])
        staged = count(self.app, StagedFactRow) if self.app else 0
        raw = count(self.app, RawPayloadRow) if self.app else 0
        self.requests.append((report, number, staged, raw))
        return 200, {}, json.dumps(pages[number - 1])


def pull(app, costs: list[dict], usage: list[dict]):
    provider = Provider(app, costs, usage)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        provider.serve(mock)
        run = pull_sources(app, entity="acme-us", since=DAYS[0], until=DAYS[-1])
    return run, provider


def test_each_page_is_staged_as_it_arrives_and_the_window_stores_what_a_whole_pull_produces(tmp_path: Path):
    app = make_app(tmp_path, "streamed.db", sources=[anthropic()])
    run, provider = pull(app, cost_pages(), usage_pages())
    assert run.status == "succeeded", run.reason

    # the reports are read in step: a cost page, then the usage past its days, then the next cost page
    costs = [r for r in provider.requests if r[0] == "cost"]
    assert [r[1] for r in costs] == [1, 2, 3, 4, 5]
    staged_when_asked = [r[2] for r in costs]
    assert staged_when_asked[0] == 0
    assert all(b > a for a, b in itertools.pairwise(staged_when_asked))
    raw_when_asked = [r[3] for r in provider.requests]
    assert raw_when_asked == sorted(raw_when_asked)
    assert raw_when_asked[-1] >= 2 * PAGES - 2  # the earlier pages were stored before the last ones came
    usage_before_cost = [
        max(r[1] for r in provider.requests[:i] if r[0] == "usage")
        for i, r in enumerate(provider.requests)
        if r[0] == "cost" and r[1] > 1
    ]
    # the usage report is read one page past a cost page's last day (that day may go on on the next
    # page), never the whole report first
    assert usage_before_cost == [2, 3, 4, 5]

    # what was stored is what the whole window pulled in one go produces
    whole = anthropic()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        Provider(None, cost_pages(), usage_pages()).serve(mock)
        gathered = whole.pull(Window(DAYS[0], DAYS[-1]))
    assert gathered.errors == []
    stored = stored_facts(app)
    assert sorted(key for key, *_ in stored) == sorted(f.natural_key for f in gathered.facts)
    assert sum(amount for _, amount, *_ in stored) == sum(f.amount for f in gathered.facts)
    assert count(app, RawPayloadRow) == 2 * PAGES
    assert count(app, StagedFactRow) == count(app, StagedUsageRow) == count(app, PullStageRow) == 0

    # every billed bucket split by the usage of its own day and workspace, its total kept
    billed = [f for f in gathered.facts if f.cost_basis is CostBasis.BILLED]
    day = [f for f in billed if f.charge_date == DAYS[4] and f.dimensions.get("workspace") == "wrkspc_01"]
    shares = {(f.dimensions.get("cost_type"), f.dimensions.get("api_key")): f.amount for f in day}
    assert shares == {
        ("tokens", "key_a"): Decimal(1),
        ("tokens", "key_b"): Decimal(2),
        ("web_search", "key_a"): Decimal("0.15"),
        ("web_search", "key_b"): Decimal("0.30"),
    }
    assert {f.dimensions.get(SPLIT_BASIS) for f in day} == {"api_key by usage (priced from catalog)"}
    other = [f for f in billed if f.dimensions.get("workspace") == "wrkspc_02"]
    assert {f.dimensions.get("api_key") for f in other} == {"key_c"}
    assert len([f for f in gathered.facts if f.cost_basis is CostBasis.ESTIMATED]) == len(DAYS)


def test_a_bad_cost_page_mid_window_keeps_nothing_and_the_next_run_stores_the_window_whole(tmp_path: Path):
    straight = make_app(tmp_path, "straight.db", sources=[anthropic()])
    assert pull(straight, cost_pages(), usage_pages())[0].status == "succeeded"
    expected = stored_facts(straight)

    app = make_app(tmp_path, "refused.db", sources=[anthropic()])
    run, provider = pull(app, cost_pages(bad_page=4), usage_pages())
    assert run.status == "failed"
    assert "refused" in run.reason
    assert "page 4" in run.reason
    assert "amount" in run.reason
    costs = [r for r in provider.requests if r[0] == "cost"]
    assert [r[1] for r in costs] == [1, 2, 3, 4]  # page 5 was never asked for
    assert costs[-1][2] > 0  # pages 1-3 had been staged when page 4 came
    nothing_kept(app)  # … and went with the refused window's stage

    assert pull(app, cost_pages(), usage_pages())[0].status == "succeeded"
    assert stored_facts(app) == expected


def test_a_bad_usage_page_mid_window_keeps_nothing(tmp_path: Path):
    usage = usage_pages()
    usage[2]["data"][0]["results"][0]["uncached_input_tokens"] = "lots"
    app = make_app(tmp_path, "refused.db", sources=[anthropic()])
    run, provider = pull(app, cost_pages(), usage)
    assert run.status == "failed"
    assert "page 3" in run.reason
    assert max(r[1] for r in provider.requests if r[0] == "usage") == 3
    assert max(r[1] for r in provider.requests if r[0] == "cost") < PAGES
    nothing_kept(app)


def test_the_usage_held_to_split_costs_is_a_few_days_never_the_window(monkeypatch):
    """What the stream keeps of the usage report to split the cost pages still to come: the days from
    the last split cost page on, a page or two of usage, whatever the window's length."""
    held: list[set[date]] = []
    forget = anthropic_module._UsageAhead.forget_before

    def noting(self, day: date) -> None:
        forget(self, day)
        held.append({d for d, _ in self.by_day_and_workspace})

    monkeypatch.setattr(anthropic_module._UsageAhead, "forget_before", noting)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        Provider(None, cost_pages(), usage_pages()).serve(mock)
        pulled = anthropic().pull(Window(DAYS[0], DAYS[-1]))
    assert pulled.errors == []
    assert len(held) == PAGES  # once per cost page
    assert max(len(days) for days in held) <= 3  # the split page's last day and the usage page read past it
    assert held[-1] <= {DAYS[-1]}
    assert all(min(days) >= DAYS[2 * n + 1] for n, days in enumerate(held) if days)

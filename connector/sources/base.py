"""What every source is: it pulls a window of days and returns normalised facts, raw pages and problems.

A source does no storage: the pull service stores the raw pages, replaces the window's facts (and usage)
and moves the bookmark in one transaction, only after the whole window parsed. Paginators refuse a cursor they
have already seen, so a provider bug cannot loop a run forever.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from connector.domain.errors import ConfigError, InputError, Problem, refused_days
from connector.domain.facts import Fact, utc_day_bounds
from connector.domain.usage import Usage

if TYPE_CHECKING:  # annotations only: FOCUS imports, which use this module, need no HTTP stack
    from connector.sources.http import HttpClient, JsonResponse


@dataclass(frozen=True, slots=True)
class Window:
    """Days to pull, both included (UTC days for API sources)."""

    first_day: date
    last_day: date

    def __post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise ValueError(f"window ends ({self.last_day}) before it starts ({self.first_day})")

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def with_lag(self, lag_days: int, floor: date | None = None) -> Window:
        first = self.first_day - timedelta(days=lag_days)
        return Window(max(first, floor) if floor else first, self.last_day)

    def stored_through(self, refused: Collection[date] = ()) -> date:
        """The day a pull of this window leaves its bookmark on: its last day, or the day before the first
        day it refused, so that the next run reads that day again."""
        return min(refused) - timedelta(days=1) if refused else self.last_day

    def without(self, days: frozenset[date]) -> list[Window]:
        """The window's runs of consecutive days left when `days` are taken out, in order."""
        runs: list[Window] = []
        first = None
        day = self.first_day
        while day <= self.last_day + timedelta(days=1):
            kept = day <= self.last_day and day not in days
            if kept and first is None:
                first = day
            elif not kept and first is not None:
                runs.append(Window(first, day - timedelta(days=1)))
                first = None
            day += timedelta(days=1)
        return runs

    def utc_bounds(self) -> tuple[datetime, datetime]:
        """From the first day's UTC midnight to the UTC midnight that ends the last day."""
        return utc_day_bounds(self.first_day)[0], utc_day_bounds(self.last_day)[1]


@dataclass(frozen=True, slots=True)
class RawPage:
    """One response exactly as received, and the facts it produced (for lineage)."""

    endpoint: str
    request: dict
    body: str
    natural_keys: tuple[str, ...] = ()

    def producing(self, items: Iterable[Fact | Usage]) -> RawPage:
        """This page, naming the facts or usage it produced."""
        return replace(self, natural_keys=tuple(item.natural_key for item in items))


@dataclass
class PullResult:
    source: str
    provider: str
    provider_account: str
    window: Window
    facts: list[Fact] = field(default_factory=list)
    usage: list[Usage] = field(default_factory=list)  # token counts beside the cost: stored, never booked
    pages: list[RawPage] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    quarantined: int = 0  # input records refused (and reported in problems)
    received: int = 0  # input records seen
    stats: list[dict[str, Any]] = field(default_factory=list)  # per query: bytes scanned … (run events)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def refused_days(self) -> frozenset[date] | None:
        """The days its errors refuse (`errors.refused_days`): None when the window is refused whole."""
        return refused_days(self.errors)

    def refused_if_bad(self) -> PullResult:
        """This result without what its errors refuse: the facts and usage of the days they name, or all
        of them when an error concerns the whole window; its errors are what was quarantined."""
        errors, days = self.errors, self.refused_days
        if days is None:
            self.facts, self.usage = [], []
        elif days:
            self.facts = [fact for fact in self.facts if fact.charge_date not in days]
            self.usage = [usage for usage in self.usage if usage.usage_date not in days]
        self.quarantined = len(errors)
        return self


Progress = Callable[[int, str], None]  # (pages so far, what is being fetched)


class Source(Protocol):
    """A provider source: OpenAI costs, Anthropic cost report, a FOCUS export …

    A source subclasses this protocol (or `StreamingSource`) to take the defaults below: no first day of
    its own, no restatement beyond its lag days, and its window handed over whole. The pull service asks
    every source for all three."""

    name: str  # e.g. "openai.costs"
    provider: str  # e.g. "openai"
    provider_account: str  # the provider organization / billing account
    entity: str
    lag_days: int
    # where a first pull starts (a warehouse section's START_DATE); None: its provider's configured start
    start_date: date | None = None

    def pull(self, window: Window, progress: Progress | None = None) -> PullResult: ...

    def stream(self, window: Window, progress: Progress | None = None) -> Iterator[PullResult]:
        """The window in the pieces it arrives in: here the whole result at once; a `StreamingSource` (every
        provider source is one) a page at a time."""
        yield self.pull(window, progress)

    def restated_from(self, until: date) -> date | None:
        """The first day a night ending on `until` reads again besides its lag days (the open billing
        period a cloud restates until the bill is final); None: the lag days only."""
        return None


class StreamingSource(Source, Protocol):
    """A source that hands its window over a page at a time, as the pages arrive."""

    def stream(self, window: Window, progress: Progress | None = None) -> Iterator[PullResult]:
        """The window's pages, each as a PullResult of its own (its page, facts, usage, problems and
        records received); stops after the first page with an error."""
        ...


def gathered(source: Source, window: Window, chunks: Iterable[PullResult]) -> PullResult:
    """A streamed window held whole (`Source.pull` of a source that streams), refused if it has an error."""
    result = PullResult(source.name, source.provider, source.provider_account, window)
    for chunk in chunks:
        result.facts += chunk.facts
        result.usage += chunk.usage
        result.pages += chunk.pages
        result.problems += chunk.problems
        result.received += chunk.received
        result.stats += chunk.stats
    return result.refused_if_bad()


class Chunker:
    """Cuts what `iter_report` adds to one running PullResult into a PullResult per page."""

    def __init__(self, tally: PullResult) -> None:
        self.tally = tally
        self.problems = 0
        self.received = 0

    def chunk(self, pages: list[RawPage], facts: list | None = None, usage: list | None = None) -> PullResult:
        tally = self.tally
        piece = PullResult(tally.source, tally.provider, tally.provider_account, tally.window)
        piece.facts, piece.usage, piece.pages = facts or [], usage or [], pages
        piece.problems = tally.problems[self.problems :]
        piece.received = tally.received - self.received
        self.problems, self.received = len(tally.problems), tally.received
        return piece


class CursorPages:
    """Iterate a cursor-paginated endpoint, refusing a cursor that comes back twice."""

    def __init__(self, source: str, endpoint: str) -> None:
        self.source = source
        self.endpoint = endpoint
        self.seen: set[str] = set()
        self.count = 0

    def iterate(self, fetch: Callable[[str | None], tuple[object, str | None]]) -> Iterator[object]:
        """`fetch(cursor)` returns (page, next cursor or None); pages are yielded in order."""
        cursor: str | None = None
        while True:
            page, next_cursor = fetch(cursor)
            self.count += 1
            yield page
            if not next_cursor:
                return
            if next_cursor in self.seen:
                raise InputError(
                    f"{self.source}: {self.endpoint} returned the page cursor {next_cursor!r} twice "
                    f"(page {self.count}); stopping instead of looping",
                    fix="this is a provider-side bug; retry later, and report it if it persists",
                )
            self.seen.add(next_cursor)
            cursor = next_cursor


def dimension_text(value: object) -> str | None:
    """A JSON value (a group-by field, a tag) as a dimension's text: null stays None, booleans are written
    as JSON writes them."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


PageParser = Callable[[Any, str, int], tuple[list, list[Problem], int]]  # (data, url, page no) → parsed


def read_report(
    client: HttpClient,
    path: str,
    params: dict[str, Any],
    parse: PageParser,
    result: PullResult,
    *,
    label: str,
    progress: Progress | None,
    accept: Callable[[int], tuple[int, ...]] = lambda page_no: (),
) -> tuple[list[tuple[RawPage, list]], JsonResponse | None]:
    """Every page of one report, held (see `iter_report`), and the answer that ended it early if any."""
    answered: list[JsonResponse] = []
    read = list(
        iter_report(
            client,
            path,
            params,
            parse,
            result,
            label=label,
            progress=progress,
            accept=accept,
            answered=answered,
        )
    )
    return read, (answered[0] if answered else None)


def iter_report(
    client: HttpClient,
    path: str,
    params: dict[str, Any],
    parse: PageParser,
    result: PullResult,
    *,
    label: str,
    progress: Progress | None,
    accept: Callable[[int], tuple[int, ...]] = lambda page_no: (),
    answered: list | None = None,
) -> Iterator[tuple[RawPage, list]]:
    """Every page of one cursor-paged report (OpenAI and Anthropic page alike: `page` in, `has_more` and
    `next_page` out), yielded as it arrives, parsed by `parse(data, url, page no)`: the page as received,
    with what it produced. Problems and the count of records received go to `result`; reading stops
    after the first page with an error. A status that `accept(page no)` lists (an endpoint or a group-by
    an older API lacks) ends the reading: that answer goes to `answered`."""
    pages = CursorPages(result.source, path)
    arrived: list[tuple[RawPage, list]] = []

    def fetch(cursor: str | None) -> tuple[object, str | None]:
        request = {**params, "page": cursor} if cursor else dict(params)
        page_no = pages.count + 1
        if progress:
            progress(pages.count, f"{label} page {page_no}")
        accepted = accept(page_no)
        response = client.get_json(path, request, accept=accepted)
        if response.status in accepted:
            if answered is not None:
                answered.append(response)
            return {}, None
        items, problems, received = parse(response.data, response.url, page_no)
        result.problems.extend(problems)
        result.received += received
        arrived.append((RawPage(response.url, request, response.text), items))
        data = response.data if isinstance(response.data, dict) else {}
        if data.get("has_more") is not True:
            return data, None
        cursor = data.get("next_page")
        if not isinstance(cursor, str) or not cursor:  # more pages and no way to them: never a silent end
            result.problems.append(_no_cursor(label, response.url, page_no, cursor))
            return data, None
        return data, cursor

    for _ in pages.iterate(fetch):
        if arrived:
            yield arrived.pop()
        if result.errors:
            break  # the window is refused as a whole; no point fetching more


def _no_cursor(label: str, url: str, page_no: int, cursor: object) -> Problem:
    given = "null or missing" if cursor is None else repr(cursor)
    return Problem(
        f"{label} ({url})",
        f"page {page_no}",
        "next_page",
        f"has_more is true but next_page is {given}: the pages after this one cannot be asked for, so "
        "the window would be read only in part",
        PROVIDER_FIX,
    )


PLAUSIBLE_YEARS = (2000, 2199)  # a bucket outside is a provider bug (and beyond datetime's range, a crash)
PROVIDER_FIX = (
    "the provider sent data tokenbooks cannot book; nothing from this window was stored. Retry later; if it "
    "persists, report the page to the provider"
)


def check_envelope(data: object, source: str, where: str) -> list[Problem]:
    """The paging envelope OpenAI and Anthropic reports share: `data` (a list) and `has_more` (a bool)."""
    if not isinstance(data, dict):
        return [Problem(source, where, "", "the page is not a JSON object", PROVIDER_FIX)]
    if "data" not in data:
        return [Problem(source, where, "data", "missing: the page has no data array", PROVIDER_FIX)]
    if not isinstance(data["data"], list):
        return [Problem(source, where, "data", "is not a list", PROVIDER_FIX)]
    if not isinstance(data.get("has_more"), bool):
        return [Problem(source, where, "has_more", "missing or not true/false", PROVIDER_FIX)]
    return []


Bounds = Callable[[Any, str, str, list[Problem]], Any]  # (bucket, source, where, problems) → bounds or None
Build = Callable[
    [dict, Any, str, str, list[Problem]], Any
]  # (result, bounds, source, where, problems) → item


def parse_report_page(
    data: Any, source: str, page_no: int, bounds: Bounds, build: Build
) -> tuple[list, list[Problem], int]:
    """One report page (OpenAI and Anthropic share the shape: data[] of buckets, each with its time bounds
    and results[]) as (items built from its result objects, problems, result objects received). Envelope,
    bucket and result problems are reported; what they concern is left out."""
    items: list = []
    problems: list[Problem] = []
    received = 0
    for where, bucket_bounds, result in _page_results(data, source, f"page {page_no}", problems, bounds):
        received += 1
        item = build(result, bucket_bounds, source, where, problems)
        if item is not None:
            items.append(item)
    return items, problems, received


def _page_results(
    data: Any, source: str, where: str, problems: list[Problem], bounds: Bounds
) -> Iterator[tuple]:
    """(location, bucket bounds, result) for every result object of a report page."""
    problems.extend(check_envelope(data, source, where))
    if problems:
        return
    for b_index, bucket in enumerate(data["data"]):
        bucket_where = f"{where}, data[{b_index}]"
        bucket_bounds = bounds(bucket, source, bucket_where, problems)
        if bucket_bounds is None:
            continue
        if not all(PLAUSIBLE_YEARS[0] <= moment.year <= PLAUSIBLE_YEARS[1] for moment in bucket_bounds):
            problems.append(
                Problem(
                    source, bucket_where, "", "the bucket's time bounds are not plausible dates", PROVIDER_FIX
                )
            )
            continue
        results = bucket.get("results")
        if not isinstance(results, list):
            problems.append(Problem(source, bucket_where, "results", "missing or not a list", PROVIDER_FIX))
            continue
        for r_index, item in enumerate(results):
            item_where = f"{bucket_where}.results[{r_index}]"
            if not isinstance(item, dict):
                problems.append(Problem(source, item_where, "", "a result is not an object", PROVIDER_FIX))
                continue
            yield item_where, bucket_bounds, item


def bookmark_id(source: str, provider_account: str) -> str:
    """Where a source's progress for one provider account is kept."""
    return f"{source}:{provider_account}"


@dataclass(frozen=True, slots=True)
class RefusedSource:
    """A settings section whose sources could not be built: its settings are wrong (a ConfigError raised
    while building them). A listing shows it with the reason; a pull fails it and reads the others; a
    sync stops on it (`App.sources`)."""

    variables: str  # the section's variables: `TOKENBOOKS_WAREHOUSE__GCP__`
    source_ids: tuple[str, ...]  # the bookmarks its sources read on (`bookmark_id`)
    error: ConfigError

    def sources_of(self, provider_account: str) -> list[str]:
        """Its sources that read `provider_account` (the account in their bookmark ids)."""
        return [source for source in self.source_ids if source.partition(":")[2] == provider_account]


@dataclass
class ConfiguredSources:
    """The sources the settings configure for an entity: those built, and the sections refused."""

    sources: list[Source] = field(default_factory=list)
    refused: list[RefusedSource] = field(default_factory=list)

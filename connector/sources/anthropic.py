"""Anthropic: the cost report (billed dollars) and the usage report (tokens), pulled together per window.

The two reports are read in one pull because each needs the other:

- The cost report has no API key. Each billed bucket (day × workspace × description) is split across the
  API keys that used it, in proportion to their usage priced from the catalog (token counts alone when a
  price is missing), so the bucket total stays exact and its shares say `split_basis` in their
  dimensions. A bucket no usage explains (code execution, say) stays whole.
- Priority Tier usage (`priority`, `priority_on_demand`) is missing from the cost report. It is priced from
  the catalog and stored as facts with `cost_basis = estimated`, never presented as billed; usage of a model the catalog does not
  price is reported as a warning and not booked. Volume tiers accumulate over the month: a window that
  starts mid-month first reads the month's earlier usage to know where the tiers stand. Usage of a tier
  the cost report does not name (flex, flex_discount, or one newer than this module) is neither billed
  nor estimated: a pull says so once per tier, so that it is checked against the invoice, never lost
  in silence.

Usage itself is stored beside the facts, for enrichment. Array parameters use Anthropic's `group_by[]=`
form. The two reports are read in step, a page at a time, and each page is handed over as it arrives
(`stream`: the pull stages it), so a pull holds a page of each report, never the window. A structurally
bad page in either report refuses the whole window (nothing stored).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from connector.domain.errors import Problem, Severity
from connector.domain.facts import CostBasis, Dimensions, Fact, natural_key
from connector.domain.pricing import PriceCatalog, TierMeter, price_usage
from connector.domain.usage import Usage, split_fact
from connector.sources.anthropic_reports import ReportContext, parse_cost_page, parse_usage_page
from connector.sources.base import (
    PROVIDER_FIX,
    Chunker,
    Progress,
    PullResult,
    RawPage,
    StreamingSource,
    Window,
    gathered,
    iter_report,
)
from connector.sources.http import HttpClient

COST_PATH = "/v1/organizations/cost_report"
USAGE_PATH = "/v1/organizations/usage_report/messages"
MAX_DAYS_PER_PAGE = 31
COST_GROUP_BY = ("workspace_id", "description")
USAGE_GROUP_BY = ("api_key_id", "workspace_id", "model", "service_tier", "context_window")
# usage metric → the catalog's unit kind
PRICE_KINDS = {
    "uncached_input_tokens": "input",
    "output_tokens": "output",
    "cache_read_input_tokens": "cache_read",
    "cache_creation.ephemeral_5m_input_tokens": "cache_write_5m",
    "cache_creation.ephemeral_1h_input_tokens": "cache_write_1h",
    "server_tool_use.web_search_requests": "web_search",
}
# The usage report's service tiers are standard, batch, priority, priority_on_demand, flex and flex_discount;
# the cost report's are standard and batch, and it leaves Priority Tier out (Admin API reference, "Get
# Messages Usage Report" and "Get Cost Report"; the Usage and Cost API guide)
BILLED_TIERS = ("standard", "batch")
ESTIMATED_TIERS = ("priority", "priority_on_demand")  # Priority Tier: priced from the catalog


class AnthropicSource(StreamingSource):
    """Pulls one Anthropic organization's cost and usage reports."""

    provider = "anthropic"

    def __init__(
        self,
        client: HttpClient,
        *,
        organization: str,
        entity: str,
        timezone: str,
        catalog: PriceCatalog,
        lag_days: int = 3,
    ) -> None:
        ZoneInfo(timezone)  # fail early on a bad zone
        self.client = client
        self.provider_account = organization
        self.entity = entity
        self.lag_days = lag_days
        self.catalog = catalog
        self.name = "anthropic"
        self.ctx = ReportContext(source=self.name, account=organization, entity=entity, timezone=timezone)

    def pull(self, window: Window, progress: Progress | None = None) -> PullResult:
        return gathered(self, window, self.stream(window, progress))

    def stream(self, window: Window, progress: Progress | None = None) -> Iterator[PullResult]:
        """The window a page at a time, as the pages arrive (the pull stages each one: memory holds a
        page of each report and the usage of the days the current cost page covers, never the window).

        Both reports come in day order. A cost page is split once the usage report has been read past its
        last day (or to its end); each usage page is handed over as it arrives, with the priority-tier
        estimates it produces (priced in day order, so volume tiers accumulate as in a whole-window pull).
        The month's usage before the window, when tiers need it, is read first. The first page with an
        error ends the stream (the pull keeps nothing of the window)."""
        tally = PullResult(self.name, self.provider, self.provider_account, window)
        pieces = Chunker(tally)
        unbooked_tiers: set[str] = set()  # tiers already said to be neither billed nor estimated
        meter = self._meter(window, tally, progress)
        if tally.errors:  # the month's earlier usage could not be read: its tiers are unknown
            yield pieces.chunk([])
            return
        costs = self._pages(COST_PATH, COST_GROUP_BY, window, parse_cost_page, tally, progress)
        usage = _UsageAhead(
            self._pages(USAGE_PATH, USAGE_GROUP_BY, window, parse_usage_page, tally, progress),
        )
        for page, facts in costs:
            if tally.errors:
                yield pieces.chunk([])
                return
            last = max((fact.charge_date for fact in facts), default=None)
            if last is not None and usage.forgotten_before is not None and last < usage.forgotten_before:
                tally.problems.append(_out_of_order(page.endpoint, last))
                yield pieces.chunk([])
                return
            while last is not None and usage.needs_more(last):
                piece = self._usage_piece(usage, pieces, tally, meter, unbooked_tiers)
                yield piece
                if piece.errors:
                    return
            shares = [
                share for fact in facts for share in self.split_by_api_key(fact, usage.explaining(fact))
            ]
            yield pieces.chunk([page.producing(shares)], facts=shares)
            if last is not None:
                usage.forget_before(last)  # later cost pages start on this day or after it
        while not usage.ended:
            piece = self._usage_piece(usage, pieces, tally, meter, unbooked_tiers)
            if piece.pages or piece.problems:
                yield piece
            if piece.errors:
                return

    def _usage_piece(
        self,
        usage: _UsageAhead,
        pieces: Chunker,
        tally: PullResult,
        meter: TierMeter,
        unbooked_tiers: set[str],
    ) -> PullResult:
        """The usage report's next page with the estimates it produces (no page when it has ended), and a
        warning the first time a tier neither billed nor estimated is used."""
        arrived = usage.next()
        if arrived is None or tally.errors:
            return pieces.chunk([])
        page, records = arrived
        for record in records:
            tier = record.dimensions.get("service_tier")
            if tier and tier not in (*BILLED_TIERS, *ESTIMATED_TIERS) and tier not in unbooked_tiers:
                unbooked_tiers.add(tier)
                tally.problems.append(_tier_not_billed(page.endpoint, record, tier))
        estimates = [
            estimate
            for record in sorted(records, key=lambda r: r.usage_date)
            for estimate in self.priority_estimates(record, tally.problems, meter)
        ]
        return pieces.chunk([page.producing([*records, *estimates])], facts=estimates, usage=records)

    # ------------------------------------------------------------------------------------------ fetching

    def _pages(
        self,
        path: str,
        group_by: tuple[str, ...],
        window: Window,
        parse: Any,
        result: PullResult,
        progress: Progress | None,
    ) -> Iterator[tuple[RawPage, list]]:
        """One report's pages for the window, parsed, as they arrive; stops after the first page with an
        error."""
        start, end = window.utc_bounds()
        params: dict[str, Any] = {
            "starting_at": _rfc3339(start),
            "ending_at": _rfc3339(end),
            "bucket_width": "1d",
            "limit": min(MAX_DAYS_PER_PAGE, window.days),
            "group_by[]": list(group_by),
        }
        label = "Anthropic cost report" if path == COST_PATH else "Anthropic usage report"
        return iter_report(
            self.client, path, params, partial(parse, ctx=self.ctx), result, label=label, progress=progress
        )

    # ------------------------------------------------------------------------------- split and estimate

    def split_by_api_key(self, fact: Fact, usage: list[Usage]) -> list[Fact]:
        """Split a billed bucket across API keys by the priced usage that explains it (see module doc).

        `usage` may be any superset of the usage that explains the bucket (the pull passes the bucket's
        day and workspace); what does not match its model, tier and context window is left out."""
        metric = _metric_for(fact)
        if metric is None:
            return [fact]
        matching = [u for u in usage if _explains(u, fact)]
        weights: list[tuple[str | None, Decimal]] = []
        priced = True
        for record in matching:
            weight, known = self._weight(record, metric)
            priced = priced and known
            weights.append((record.dimensions.get("api_key"), weight))
        if not priced:  # weigh every key alike: by raw counts, never half priced and half not
            weights = [(u.dimensions.get("api_key"), _count(u, metric)) for u in matching]
        basis = "api_key by usage (priced from catalog)" if priced else "api_key by usage (token counts)"
        return split_fact(fact, weights, dimension="api_key", basis=basis)

    def _weight(self, record: Usage, metrics: tuple[str, ...]) -> tuple[Decimal, bool]:
        entry = self._price_entry(record)
        quantities = {PRICE_KINDS[m]: record.metric(m) for m in metrics}
        priced = price_usage(entry, quantities, service_tier=record.dimensions.get("service_tier"))
        return priced.amount, priced.complete or not any(quantities.values())

    def _price_entry(self, record: Usage):
        model, window = record.dimensions.get("model"), record.dimensions.get("context_window")
        for name in ([f"{model}@{window}"] if model and window else []) + [model]:
            entry = self.catalog.price_for(self.provider, name, record.usage_date)
            if entry is not None and ("@" in entry.model) == ("@" in (name or "")):
                return entry
        return None

    def _meter(self, window: Window, result: PullResult, progress: Progress | None) -> TierMeter:
        """A tier meter that has seen the month's usage before the window, when volume tiers apply: read
        from the usage report (the provider is the truth of volume), priced and forgotten, so the
        window's first records continue the tiers where the month left them."""
        meter = TierMeter()
        start = window.first_day.replace(day=1)
        if not self.catalog.tiered(self.provider) or start == window.first_day:
            return meter
        earlier = PullResult(self.name, self.provider, self.provider_account, window)
        lead_in = Window(start, window.first_day - timedelta(days=1))
        # a page at a time too: each record is priced into the meter and forgotten
        for _, records in self._pages(
            USAGE_PATH, USAGE_GROUP_BY, lead_in, parse_usage_page, earlier, progress
        ):
            for record in sorted(records, key=lambda r: r.usage_date):
                self.priority_estimates(record, [], meter)
        result.problems += earlier.problems
        return meter

    def priority_estimates(
        self, record: Usage, problems: list[Problem], meter: TierMeter | None = None
    ) -> list[Fact]:
        """Facts for token-only usage the cost report leaves out, priced from the catalog, flagged estimated.
        Volume tiers continue from what `meter` priced before in the same tier period."""
        tier = record.dimensions.get("service_tier")
        if tier not in ESTIMATED_TIERS:
            return []
        entry = self._price_entry(record)
        meter = meter or TierMeter()
        facts = []
        for metric, kind in PRICE_KINDS.items():
            quantity = record.metric(metric)
            if not quantity:
                continue
            priced = meter.price(entry, {kind: quantity}, record.usage_date, service_tier=tier)
            if not priced.complete:
                problems.append(_unpriced(record, metric, quantity))
                continue
            facts.append(self._estimate(record, metric, quantity, priced.amount, priced.currency, entry))
        return facts

    def _estimate(
        self, record: Usage, metric: str, quantity: Decimal, amount: Decimal, currency: str, entry
    ) -> Fact:
        dims = {
            **record.dimensions.as_dict(),
            "token_type": metric,
            "price_basis": f"catalog {entry.model} from {entry.effective_from}",
        }
        return Fact(
            entity=record.entity,
            provider=self.provider,
            provider_account=self.provider_account,
            charge_date=record.usage_date,
            posting_date=record.posting_date,
            amount=amount,
            currency=currency,
            natural_key=natural_key(
                self.provider, self.provider_account, "estimate", record.natural_key, metric
            ),
            dimensions=Dimensions.of(dims),
            cost_basis=CostBasis.ESTIMATED,
            quantity=quantity,
            unit="requests" if metric.endswith("requests") else "tokens",
            source=self.name,
        )


class _UsageAhead:
    """The usage report read just far enough ahead of the cost report: the usage of the days a cost page
    covers is known once the report has moved past its last day (a day may continue on the next page)."""

    def __init__(self, pages: Iterator[tuple[RawPage, list[Usage]]]) -> None:
        self.pages = pages
        self.ended = False
        self.through: date | None = None  # the latest day the report has reached
        self.forgotten_before: date | None = None
        self.by_day_and_workspace: dict[tuple, list[Usage]] = defaultdict(list)

    def needs_more(self, day: date) -> bool:
        """Whether the usage of `day` may still be on pages not yet read."""
        return not self.ended and (self.through is None or self.through <= day)

    def next(self) -> tuple[RawPage, list[Usage]] | None:
        arrived = next(self.pages, None)
        if arrived is None:
            self.ended = True
            return None
        for record in arrived[1]:
            self.by_day_and_workspace[(record.usage_date, record.dimensions.get("workspace"))].append(record)
            self.through = max(self.through or record.usage_date, record.usage_date)
        return arrived

    def explaining(self, fact: Fact) -> list[Usage]:
        """The usage of the bucket's day and workspace (a superset of what explains it)."""
        return self.by_day_and_workspace.get((fact.charge_date, fact.dimensions.get("workspace")), [])

    def forget_before(self, day: date) -> None:
        """Let go of the usage of the days before `day`: no cost page to come covers them."""
        self.forgotten_before = max(self.forgotten_before or day, day)
        for key in [key for key in self.by_day_and_workspace if key[0] < day]:
            del self.by_day_and_workspace[key]


def _out_of_order(endpoint: str, day: date) -> Problem:
    return Problem(
        f"Anthropic cost report ({endpoint})",
        f"a bucket of {day}",
        "starting_at",
        "the report's pages are not in day order: this day came after later days' pages",
        PROVIDER_FIX,
    )


def _metric_for(fact: Fact) -> tuple[str, ...] | None:
    """The usage metrics that explain a billed bucket, or None when usage cannot explain it."""
    cost_type, token_type = fact.dimensions.get("cost_type"), fact.dimensions.get("token_type")
    if cost_type == "web_search":
        return ("server_tool_use.web_search_requests",)
    if cost_type == "tokens" and token_type in PRICE_KINDS:
        return (token_type,)
    if cost_type is None and fact.dimensions.get("line_item") is None:  # not grouped by description
        return tuple(PRICE_KINDS)
    return None


def _explains(record: Usage, fact: Fact) -> bool:
    """Usage of the same day and workspace, and of the bucket's model, tier and context window if it has them."""
    if record.usage_date != fact.charge_date or record.dimensions.get("workspace") != fact.dimensions.get(
        "workspace"
    ):
        return False
    if record.dimensions.get("service_tier") in ESTIMATED_TIERS:
        return False
    for name in ("model", "service_tier", "context_window"):
        wanted = fact.dimensions.get(name)
        if wanted is not None and record.dimensions.get(name) != wanted:
            return False
    return True


def _count(record: Usage, metrics: tuple[str, ...]) -> Decimal:
    return sum((record.metric(m) for m in metrics), Decimal(0))


def _tier_not_billed(endpoint: str, record: Usage, tier: str) -> Problem:
    return Problem(
        f"Anthropic usage report ({endpoint})",
        f"{record.usage_date}, model {record.dimensions.get('model')!r}",
        "service_tier",
        f"usage of the {tier!r} service tier: the cost report names only the tiers "
        f"{', '.join(BILLED_TIERS)}, so if Anthropic bills {tier!r} outside it, that cost is not in the "
        "books (it is not estimated either)",
        "compare the month with Anthropic's invoice; an invoice true-up books what is missing, and report "
        "the tier so that it is read",
        Severity.WARNING,
    )


def _unpriced(record: Usage, metric: str, quantity: Decimal) -> Problem:
    return Problem(
        f"Anthropic usage report ({record.source})",
        f"{record.usage_date}, workspace {record.dimensions.get('workspace') or 'default'}, "
        f"key {record.dimensions.get('api_key') or 'Console'}",
        metric,
        f"{quantity} {record.dimensions.get('service_tier')} tier units of model "
        f"{record.dimensions.get('model')!r} have no price in the catalog; they are not booked",
        "add the model to the price catalog (TOKENBOOKS_PRICES_FILE) and pull these days again",
        Severity.WARNING,
    )


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

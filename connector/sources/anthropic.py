"""Anthropic: the cost report (billed dollars) and the usage report (tokens), pulled together per window.

The two reports are read in one pull because each needs the other:

- The cost report has no API key. Each billed bucket (day × workspace × description) is split across the
  API keys that used it, in proportion to their usage priced from the catalog (token counts alone when a
  price is missing), so the bucket total stays exact and its shares say `split_basis` in their
  dimensions. A bucket no usage explains (code execution, say) stays whole.
- Priority Tier usage is missing from the cost report. It is priced from the catalog and stored as
  facts with `cost_basis = estimated`, never presented as billed; usage of a model the catalog does not
  price is reported as a warning and not booked. Volume tiers accumulate over the month: a window that
  starts mid-month first reads the month's earlier usage to know where the tiers stand.

Usage itself is stored beside the facts, for enrichment. Array parameters use Anthropic's `group_by[]=`
form. A structurally bad page in either report refuses the whole window (nothing stored).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from connector.domain.errors import Problem, Severity
from connector.domain.facts import CostBasis, Dimensions, Fact, natural_key
from connector.domain.pricing import PriceCatalog, TierMeter, price_usage
from connector.domain.usage import Usage, split_fact
from connector.sources.anthropic_reports import ReportContext, parse_cost_page, parse_usage_page
from connector.sources.base import Progress, PullResult, RawPage, Window, read_report
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
ESTIMATED_TIERS = ("priority",)  # service tiers the cost report leaves out


class AnthropicSource:
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
        result = PullResult(self.name, self.provider, self.provider_account, window)
        cost_pages = self._read(COST_PATH, COST_GROUP_BY, window, parse_cost_page, result, progress)
        if result.errors:
            return result.refused_if_bad()
        usage_pages = self._read(USAGE_PATH, USAGE_GROUP_BY, window, parse_usage_page, result, progress)
        if result.errors:
            return result.refused_if_bad()
        usage = [u for _, records in usage_pages for u in records]
        by_day_and_workspace: dict[tuple, list[Usage]] = defaultdict(list)
        for record in usage:
            by_day_and_workspace[(record.usage_date, record.dimensions.get("workspace"))].append(record)
        lineage: dict[str, RawPage] = {}
        for page, facts in cost_pages:
            for fact in facts:
                same_day = by_day_and_workspace.get((fact.charge_date, fact.dimensions.get("workspace")), [])
                for share in self.split_by_api_key(fact, same_day):
                    result.facts.append(share)
                    lineage[share.natural_key] = page
        meter = self._meter(window, result, progress)
        if result.errors:  # the month's earlier usage could not be read: its tiers are unknown
            return result.refused_if_bad()
        for page, record in sorted(
            ((page, record) for page, records in usage_pages for record in records),
            key=lambda pair: pair[1].usage_date,
        ):
            lineage[record.natural_key] = page
            for estimate in self.priority_estimates(record, result.problems, meter):
                result.facts.append(estimate)
                lineage[estimate.natural_key] = page
        result.usage = usage
        result.pages = [
            RawPage(p.endpoint, p.request, p.body, tuple(k for k, q in lineage.items() if q is p))
            for p, _ in [*cost_pages, *usage_pages]
        ]
        return result

    # ------------------------------------------------------------------------------------------ fetching

    def _read(
        self,
        path: str,
        group_by: tuple[str, ...],
        window: Window,
        parse: Any,
        result: PullResult,
        progress: Progress | None,
    ) -> list[tuple[RawPage, list]]:
        """Every page of one report for the window, parsed; stops at the first page with an error."""
        start, end = window.utc_bounds()
        params: dict[str, Any] = {
            "starting_at": _rfc3339(start),
            "ending_at": _rfc3339(end),
            "bucket_width": "1d",
            "limit": min(MAX_DAYS_PER_PAGE, window.days),
            "group_by[]": list(group_by),
        }
        label = "Anthropic cost report" if path == COST_PATH else "Anthropic usage report"
        pages, _ = read_report(
            self.client, path, params, partial(parse, ctx=self.ctx), result, label=label, progress=progress
        )
        return pages

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
        pages = self._read(USAGE_PATH, USAGE_GROUP_BY, lead_in, parse_usage_page, earlier, progress)
        result.problems += earlier.problems
        for record in sorted((r for _, records in pages for r in records), key=lambda r: r.usage_date):
            self.priority_estimates(record, [], meter)
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

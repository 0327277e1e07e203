"""OpenAI Usage API: tokens, requests, images, seconds … per UTC day × project × key × model × tier.

Usage enriches the Costs API's dollars (which stay the truth); it is stored beside the facts, never
booked. Every usage endpoint is read with every group-by it offers, so each bucket is as fine as OpenAI
allows. Fields differ across API versions (`input_uncached_tokens` and `input_cache_write_tokens` came in
2026; older responses lack them): every metric but a completions result's required ones is optional, and
a field newer than this module is read if it is a count and otherwise left out (null silently: it is a
group-by not asked for), never a reason to refuse the window. The file-search and web-search endpoints are
newer than some organizations' API: a 404 there is a warning, not a failure. Facts, schema: ../shared/reference/providers.md §1.2–1.5.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from connector.domain.errors import Problem, Severity
from connector.domain.facts import Dimensions, natural_key, posting_date_for_bucket
from connector.domain.usage import Usage
from connector.sources.base import (
    PROVIDER_FIX,
    Chunker,
    Progress,
    PullResult,
    StreamingSource,
    Window,
    dimension_text,
    gathered,
    iter_report,
    parse_report_page,
)
from connector.sources.http import HttpClient
from connector.sources.openai import bucket_bounds, daily_buckets

IDS = ("project_id", "user_id", "api_key_id")
# endpoint → the group-by fields it offers (spec, 2026-08)
ENDPOINTS: dict[str, tuple[str, ...]] = {
    "completions": (*IDS, "model", "batch", "service_tier"),
    "embeddings": (*IDS, "model"),
    "moderations": (*IDS, "model"),
    "images": (*IDS, "model", "size", "source"),
    "audio_speeches": (*IDS, "model"),
    "audio_transcriptions": (*IDS, "model"),
    "vector_stores": ("project_id",),
    "code_interpreter_sessions": ("project_id",),
    "file_search_calls": (*IDS, "vector_store_id"),
    "web_search_calls": (*IDS, "model", "context_level"),
}
_COMPLETION_TOKENS = (
    "input_tokens",
    "input_cached_tokens",
    "input_cache_write_tokens",
    "input_uncached_tokens",
    "output_tokens",
    "input_text_tokens",
    "output_text_tokens",
    "input_cached_text_tokens",
    "input_audio_tokens",
    "input_cached_audio_tokens",
    "output_audio_tokens",
    "input_image_tokens",
    "input_cached_image_tokens",
    "output_image_tokens",
)
# endpoint → the counts its result documents (spec, 2026-08): each must be a whole number ≥ 0
COUNTS: dict[str, tuple[str, ...]] = {
    "completions": (*_COMPLETION_TOKENS, "num_model_requests"),
    "embeddings": ("input_tokens", "num_model_requests"),
    "moderations": ("input_tokens", "num_model_requests"),
    "images": ("images", "num_model_requests"),
    "audio_speeches": ("characters", "num_model_requests"),
    "audio_transcriptions": ("seconds", "num_model_requests"),
    "vector_stores": ("usage_bytes",),
    "code_interpreter_sessions": ("num_sessions",),
    "file_search_calls": ("num_requests",),
    "web_search_calls": ("num_model_requests", "num_requests"),
}
REQUIRED_METRICS = {"completions": ("input_tokens", "output_tokens", "num_model_requests")}
NEWER_ENDPOINTS = (
    "file_search_calls",
    "web_search_calls",
)  # a 404 means the organization's API predates them
DIMENSION_NAMES = {
    "project_id": "project",
    "user_id": "user",
    "api_key_id": "api_key",
    "vector_store_id": "vector_store",
    "source": "image_source",
}


class OpenAIUsageSource(StreamingSource):
    """Pulls every Usage API endpoint for one OpenAI organization."""

    provider = "openai"

    def __init__(
        self,
        client: HttpClient,
        *,
        organization: str,
        entity: str,
        timezone: str,
        lag_days: int = 3,
        endpoints: tuple[str, ...] = tuple(ENDPOINTS),
    ) -> None:
        ZoneInfo(timezone)
        self.client = client
        self.provider_account = organization
        self.entity = entity
        self.timezone = timezone
        self.lag_days = lag_days
        self.endpoints = endpoints
        self.name = "openai.usage"

    def pull(self, window: Window, progress: Progress | None = None) -> PullResult:
        return gathered(self, window, self.stream(window, progress))

    def stream(self, window: Window, progress: Progress | None = None) -> Iterator[PullResult]:
        """Every endpoint's pages, a page at a time; stops after the first page with an error."""
        tally = PullResult(self.name, self.provider, self.provider_account, window)
        pieces = Chunker(tally)
        for endpoint in self.endpoints:
            newer = endpoint in NEWER_ENDPOINTS
            missing: list = []
            for page, records in iter_report(
                self.client,
                f"/organization/usage/{endpoint}",
                daily_buckets(window, ENDPOINTS[endpoint]),
                partial(self._parse_page, endpoint),
                tally,
                label=f"OpenAI usage {endpoint}",
                progress=progress,
                accept=lambda page_no, newer=newer: (404,) if newer else (),
                answered=missing,
            ):
                yield pieces.chunk([page.producing(records)], usage=records)
            if missing:
                tally.problems.append(_not_offered(endpoint, missing[0].url))
                yield pieces.chunk([])
            if tally.errors:
                return

    def _parse_page(
        self, endpoint: str, data: Any, url: str, page_no: int
    ) -> tuple[list[Usage], list[Problem], int]:
        source = f"OpenAI Usage API ({url})"
        return parse_report_page(data, source, page_no, bucket_bounds, partial(self._usage, endpoint))

    def _usage(
        self, endpoint: str, item: dict, bounds, source: str, where: str, problems: list[Problem]
    ) -> Usage | None:
        before = len(problems)
        for name in REQUIRED_METRICS.get(endpoint, ()):
            if name not in item:
                problems.append(Problem(source, where, name, "missing (the spec requires it)", PROVIDER_FIX))
        group_fields = set(ENDPOINTS[endpoint]) | {"object"}
        metrics = []
        for name, value in item.items():
            if name in group_fields:
                continue
            count = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            if name not in COUNTS[endpoint] and not count:
                # a field newer than this list: null is a group-by not asked for (the spec's own rule),
                # anything else is not a count; either way not a reason to refuse the window
                if value is not None:
                    problems.append(_unknown_field(source, where, name, value))
                continue
            if not count:
                problems.append(
                    Problem(
                        source, where, name, f"{value!r} is not a count (a whole number ≥ 0)", PROVIDER_FIX
                    )
                )
                continue
            metrics.append((name, Decimal(value)))
        if any(p.is_error for p in problems[before:]):
            return None
        groups = {field: dimension_text(item.get(field)) for field in ENDPOINTS[endpoint]}
        start, end = bounds
        return Usage(
            entity=self.entity,
            provider=self.provider,
            provider_account=self.provider_account,
            usage_date=start.date(),
            posting_date=posting_date_for_bucket(start, end, self.timezone),
            natural_key=natural_key(
                self.provider, self.provider_account, "usage", endpoint, start.date(), *groups.values()
            ),
            dimensions=Dimensions.of(
                {"endpoint": endpoint, **{DIMENSION_NAMES.get(k, k): v for k, v in groups.items()}}
            ),
            metrics=tuple(sorted(metrics)),
            source=self.name,
        )


def _unknown_field(source: str, where: str, name: str, value: object) -> Problem:
    return Problem(
        source,
        where,
        name,
        f"{value!r} is in a field this version of tokenbooks does not know, and is not a count; the usage "
        "is kept without it",
        "nothing to do: costs are unaffected; report it so that the field is read",
        Severity.WARNING,
    )


def _not_offered(endpoint: str, url: str) -> Problem:
    return Problem(
        f"OpenAI Usage API ({url})",
        "",
        "",
        f"the {endpoint} endpoint does not exist for this organization (HTTP 404); its usage was not read",
        "nothing to do unless you use this feature; costs are unaffected (they come from the Costs API)",
        Severity.WARNING,
    )

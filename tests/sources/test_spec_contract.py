"""Contract tests from the owners' specifications: provider pages generated from their schemas, fed to the
real sources over HTTP (`responses`).

- OpenAI Costs and Usage pages come from `../shared/specs/openai_usage_costs.yaml` itself (`UsageResponse`,
  `UsageTimeBucket`, `CostsResult`, `UsageCompletionsResult`), through hypothesis-jsonschema;
- Anthropic cost_report and usage_report pages come from the field types their reference documents
  (`../shared/reference/providers.md` §2.2, §2.3), written down below as JSON Schema.

Generated pages hold integers, floats and decimal strings where numbers go, nulls and missing optional
fields, empty buckets, `has_more` with fewer items than the limit, and unknown extra fields. The property:
every page either imports — Σ accepted + Σ quarantined = Σ received, the money exactly what the page says —
or is refused whole with problems that name the page and the field; never an exception.
"""

from __future__ import annotations

import copy
import functools
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import responses
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from connector.sources.anthropic import COST_PATH, USAGE_PATH, AnthropicSource
from connector.sources.base import Window
from connector.sources.openai import COSTS_PATH, OpenAICostsSource
from connector.sources.openai_usage import OpenAIUsageSource
from connector.sources.prices import load_catalog
from tests.sources.builders import ANTHROPIC, OPENAI, client
from tests.support import SHARED

WINDOW = Window(date(2026, 10, 1), date(2026, 10, 3))
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
LAST_PAGE = {"object": "page", "data": [], "has_more": False, "next_page": None}


@functools.cache
def catalog():
    return load_catalog(None)


@functools.cache
def openai_components() -> dict[str, Any]:
    spec = yaml.safe_load((SHARED / "specs" / "openai_usage_costs.yaml").read_text())
    return spec["components"]["schemas"]


def openai_page_schema(result: str) -> dict[str, Any]:
    """The spec's `UsageResponse`, its buckets' results narrowed to one result schema of the spec."""
    schemas = openai_components()
    bucket = copy.deepcopy(schemas["UsageTimeBucket"])
    bucket["properties"]["results"]["items"] = {"$ref": f"#/$defs/{result}"}
    page = copy.deepcopy(schemas["UsageResponse"])
    page["properties"]["data"]["items"] = bucket
    return page | {"$defs": {result: schemas[result]}}


def widen_numbers(schema: Any) -> Any:
    """Every `number` of a schema also as a decimal string: the ways amounts travel in the wild."""
    if isinstance(schema, dict):
        widened = {k: widen_numbers(v) for k, v in schema.items()}
        if widened.get("type") == "number":
            return {"anyOf": [widened, {"type": "string", "pattern": r"^-?\d{1,9}(\.\d{1,9})?$"}]}
        return widened
    if isinstance(schema, list):
        return [widen_numbers(v) for v in schema]
    return schema


def realistic_days(page: Any, start: str, end: str, as_text: bool) -> Any:
    """Half the pages get buckets on real UTC days, so the accepting side is exercised as much as the
    refusing one (raw integers and strings are mostly not days)."""
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        return page
    page = copy.deepcopy(page)  # never change what hypothesis generated
    for number, bucket in enumerate(page["data"]):
        if isinstance(bucket, dict):
            day = datetime(2026, 10, 1 + number % 3, tzinfo=UTC)
            bucket[start], bucket[end] = (
                (day.isoformat(), (day + timedelta(days=1)).isoformat())
                if as_text
                else (int(day.timestamp()), int((day + timedelta(days=1)).timestamp()))
            )
    return page


def pages(schema: dict[str, Any], start: str, end: str, as_text: bool) -> st.SearchStrategy:
    generated = from_schema(schema)
    return st.one_of(generated, generated.map(lambda p: realistic_days(p, start, end, as_text)))


def serve(mock: responses.RequestsMock, url: str, page: Any) -> None:
    """The generated page first, then (if it says there is more) an empty last page."""
    answers = [json.dumps(page)]

    def answer(_request):
        return 200, {"Content-Type": "application/json"}, answers.pop(0) if answers else json.dumps(LAST_PAGE)

    mock.add_callback(responses.GET, url, callback=answer)


def results_in(page: Any) -> int:
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        return 0
    return sum(
        len(b["results"]) for b in page["data"] if isinstance(b, dict) and isinstance(b.get("results"), list)
    )


def assert_imported_or_refused_by_name(result, received: int) -> None:
    errors = result.errors
    if errors:
        assert result.facts == []
        assert result.usage == []
        for problem in errors:
            assert problem.location.startswith("page "), problem
            assert problem.field or problem.message, problem
            assert "(http" in problem.source, problem  # the page's URL
    else:
        assert result.received == received


# ------------------------------------------------------------------------------------------------ OpenAI


@EXAMPLES
@given(page=pages(widen_numbers(openai_page_schema("CostsResult")), "start_time", "end_time", False))
def test_openai_costs_pages_from_the_spec_import_or_are_refused_by_name(page):
    source = OpenAICostsSource(client(OPENAI), organization="o", entity="e", timezone="UTC", lag_days=0)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        serve(mock, f"{OPENAI}{COSTS_PATH}", page)
        result = source.pull(WINDOW)
    assert_imported_or_refused_by_name(result, results_in(page))
    if not result.errors:
        values = [r["amount"]["value"] for b in page["data"] for r in b["results"]]
        assert sum(f.amount for f in result.facts) == sum(Decimal(str(v)) for v in values)
        assert all(isinstance(f.amount, Decimal) for f in result.facts)
        assert all(f.quantity is None or isinstance(f.quantity, Decimal) for f in result.facts)


@EXAMPLES
@given(page=pages(openai_page_schema("UsageCompletionsResult"), "start_time", "end_time", False))
def test_openai_usage_pages_from_the_spec_import_or_are_refused_by_name(page):
    source = OpenAIUsageSource(
        client(OPENAI), organization="o", entity="e", timezone="UTC", lag_days=0, endpoints=("completions",)
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        serve(mock, f"{OPENAI}/organization/usage/completions", page)
        result = source.pull(WINDOW)
    assert_imported_or_refused_by_name(result, results_in(page))


# --------------------------------------------------------------------------------------------- Anthropic

NULLABLE_TEXT = {"anyOf": [{"type": "string"}, {"type": "null"}]}
TOKENS = {"type": "integer", "minimum": 0}


def anthropic_page(result: dict[str, Any]) -> dict[str, Any]:
    """A report page as providers.md §2.2/§2.3 documents it: data[] of buckets (RFC 3339 bounds), results[],
    has_more, next_page; no `object` field."""
    return {
        "type": "object",
        "required": ["data", "has_more", "next_page"],
        "properties": {
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["starting_at", "ending_at", "results"],
                    "properties": {
                        "starting_at": {"type": "string", "format": "date-time"},
                        "ending_at": {"type": "string", "format": "date-time"},
                        "results": {"type": "array", "items": result},
                    },
                },
            },
            "has_more": {"type": "boolean"},
            "next_page": NULLABLE_TEXT,
        },
    }


# CostReportItem: amount a decimal string in cents (documented), here also as integers and floats
COST_ITEM = {
    "type": "object",
    "required": ["currency", "amount"],
    "properties": {
        "currency": {"anyOf": [{"const": "USD"}, {"type": "string"}]},
        "amount": {
            "anyOf": [
                {"type": "string", "pattern": r"^\d{1,9}(\.\d{1,7})?$"},
                {"type": "integer"},
                {"type": "number"},
            ]
        },
        **dict.fromkeys(
            ("workspace_id", "description", "context_window", "model", "service_tier"), NULLABLE_TEXT
        ),
        "cost_type": {"anyOf": [{"enum": ["tokens", "web_search", "code_execution"]}, {"type": "null"}]},
        "token_type": {"anyOf": [{"enum": ["uncached_input_tokens", "output_tokens"]}, {"type": "null"}]},
    },
}
# MessagesUsageReportItem: every field required in the schema, counts are integers
USAGE_ITEM = {
    "type": "object",
    "required": ["uncached_input_tokens", "cache_creation", "cache_read_input_tokens", "output_tokens"],
    "properties": {
        "uncached_input_tokens": TOKENS,
        "cache_creation": {
            "type": "object",
            "required": ["ephemeral_1h_input_tokens", "ephemeral_5m_input_tokens"],
            "properties": {"ephemeral_1h_input_tokens": TOKENS, "ephemeral_5m_input_tokens": TOKENS},
        },
        "cache_read_input_tokens": TOKENS,
        "output_tokens": TOKENS,
        "server_tool_use": {"type": "object", "properties": {"web_search_requests": TOKENS}},
        **dict.fromkeys(("api_key_id", "workspace_id", "model", "context_window"), NULLABLE_TEXT),
        "service_tier": {"anyOf": [{"enum": ["standard", "batch", "priority"]}, {"type": "null"}]},
    },
}


@settings(EXAMPLES, max_examples=12)  # two generated reports an example
@given(
    costs=pages(anthropic_page(COST_ITEM), "starting_at", "ending_at", True),
    usage=pages(anthropic_page(USAGE_ITEM), "starting_at", "ending_at", True),
)
def test_anthropic_report_pages_as_documented_import_or_are_refused_by_name(costs, usage):
    source = AnthropicSource(
        client(ANTHROPIC), organization="o", entity="e", timezone="UTC", catalog=catalog()
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        serve(mock, f"{ANTHROPIC}{COST_PATH}", costs)
        serve(mock, f"{ANTHROPIC}{USAGE_PATH}", usage)
        result = source.pull(WINDOW)
    received = results_in(costs) + (0 if result.errors else results_in(usage))
    assert_imported_or_refused_by_name(result, received)
    if not result.errors:
        billed = sum(f.amount for f in result.facts if f.cost_basis.value == "billed")
        cents = [r["amount"] for b in costs["data"] for r in b["results"]]
        assert billed == sum(Decimal(c) for c in cents) / 100  # every cent, split by key or not

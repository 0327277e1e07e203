"""The providers' own documented examples, verbatim, through the real sources over HTTP (`responses`).

Each example is the owner's text, cited where it is used: the OpenAI ones are read from the spec file itself
(`../shared/specs/openai_usage_costs.yaml`, openai/openai-openapi at f85dbe2: each path's
`x-oaiMeta.examples.response` and the `CostsResult` object example); the Anthropic ones are the examples of
the Admin API reference ("Get Cost Report", "Get Usage Report for the Messages API",
https://platform.claude.com/docs/en/api/admin/cost_report), as quoted in `../shared/reference/providers.md`
§2.2 and §2.3. The tests assert the facts and usage booked from them, and that the pagination they document
(`has_more` + `next_page`) is followed, never cut short in silence.
"""

from __future__ import annotations

import functools
import json
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
import yaml

from connector.sources.anthropic import COST_PATH, USAGE_PATH
from connector.sources.base import Window
from connector.sources.openai import COSTS_PATH, OpenAICostsSource
from connector.sources.openai_usage import ENDPOINTS, OpenAIUsageSource
from tests.sources.builders import ANTHROPIC, OPENAI, anthropic_source, client
from tests.support import SHARED

# the spec examples' bucket: start_time 1730419200 .. end_time 1730505600
SPEC_DAY = Window(date(2024, 11, 1), date(2024, 11, 1))
OPENAI_LAST = {"object": "page", "data": [], "has_more": False, "next_page": None}


@functools.cache
def openai_spec() -> dict[str, Any]:
    return yaml.safe_load((SHARED / "specs" / "openai_usage_costs.yaml").read_text())


def spec_response(path: str) -> str:
    """A path's documented response, as the spec writes it (text: numbers reach the parser as sent)."""
    return openai_spec()["paths"][path]["get"]["x-oaiMeta"]["examples"]["response"]


def costs_source() -> OpenAICostsSource:
    return OpenAICostsSource(client(OPENAI, "OpenAI"), organization="org-1", entity="acme", timezone="UTC")


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


# -------------------------------------------------------------------------------------------- OpenAI


@responses.activate
def test_the_costs_endpoint_example_books_six_cents_with_its_null_group_fields():
    responses.get(OPENAI + COSTS_PATH, body=spec_response("/organization/costs"))
    result = costs_source().pull(SPEC_DAY)
    assert not result.problems
    [fact] = result.facts
    assert (fact.charge_date, fact.amount, fact.currency) == (date(2024, 11, 1), Decimal("0.06"), "USD")
    assert fact.dimensions.get("project") is None
    assert fact.dimensions.get("line_item") is None
    assert (fact.quantity, fact.unit) == (None, None)  # "quantity": null, "quantity_unit": null


@responses.activate
def test_the_costs_object_example_keeps_its_line_item_and_integer_quantity_of_tokens():
    """`CostsResult` x-oaiMeta example: "quantity": 10000 (an integer) and "quantity_unit": "tokens"."""
    example = json.loads(openai_spec()["components"]["schemas"]["CostsResult"]["x-oaiMeta"]["example"])
    page = json.loads(spec_response("/organization/costs"))
    page["data"][0]["results"] = [example]
    responses.get(OPENAI + COSTS_PATH, json=page)
    [fact] = costs_source().pull(SPEC_DAY).facts
    assert (fact.amount, fact.quantity, fact.unit) == (Decimal("0.06"), Decimal(10000), "tokens")
    assert (fact.dimensions.get("project"), fact.dimensions.get("line_item")) == ("proj_abc", "input_tokens")


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@responses.activate
def test_every_usage_endpoint_example_is_read_whole_and_its_next_page_followed(endpoint):
    example = spec_response(f"/organization/usage/{endpoint}")
    url = f"{OPENAI}/organization/usage/{endpoint}"
    responses.get(url, body=example)
    documented = json.loads(example)
    if documented[
        "has_more"
    ]:  # completions: "has_more": true, "next_page": "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA="
        responses.get(url, json=OPENAI_LAST)
    source = OpenAIUsageSource(
        client(OPENAI, "OpenAI"), organization="org-1", entity="acme", timezone="UTC", endpoints=(endpoint,)
    )
    result = source.pull(SPEC_DAY)
    assert not result.problems
    [record] = result.usage
    [sent] = documented["data"][0]["results"]
    counts = {k: Decimal(v) for k, v in sent.items() if isinstance(v, int) and not isinstance(v, bool)}
    assert dict(record.metrics) == counts
    assert result.facts == []  # usage enriches; it is never booked as cost
    if documented["has_more"]:
        assert query(responses.calls[1])["page"] == [documented["next_page"]]


@responses.activate
def test_more_pages_without_a_cursor_refuse_the_window_instead_of_ending_it_early():
    """`has_more` true with `next_page` null: the pages after it cannot be asked for. Booking the first
    page alone would understate the window's cost and say nothing."""
    page = json.loads(spec_response("/organization/costs"))
    page["has_more"] = True
    responses.get(OPENAI + COSTS_PATH, json=page)
    result = costs_source().pull(SPEC_DAY)
    assert result.facts == []
    [error] = result.errors
    assert error.field == "next_page"
    assert "page 1" in error.location
    assert "has_more" in error.message


# ------------------------------------------------------------------------------------------ Anthropic

ANTHROPIC_DAY = Window(date(2025, 8, 1), date(2025, 8, 1))
# "Get Cost Report" example (providers.md §2.3): $1.2378912, since "amount" is in cents
COST_REPORT = """{
  "data": [
    {
      "starting_at": "2025-08-01T00:00:00Z",
      "ending_at": "2025-08-02T00:00:00Z",
      "results": [
        {
          "currency": "USD",
          "amount": "123.78912",
          "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
          "description": "Claude Sonnet 4 Usage - Input Tokens",
          "cost_type": "tokens",
          "context_window": "0-200k",
          "model": "claude-sonnet-4-20250514",
          "service_tier": "standard",
          "token_type": "uncached_input_tokens"
        }
      ]
    }
  ],
  "has_more": true,
  "next_page": "page_MjAyNS0wNS0xNFQwMDowMDowMFo="
}"""
# "Get Usage Report for the Messages API" example (providers.md §2.2): cache writes nested in cache_creation
USAGE_REPORT = """{
  "data": [
    {
      "starting_at": "2025-08-01T00:00:00Z",
      "ending_at": "2025-08-02T00:00:00Z",
      "results": [
        {
          "uncached_input_tokens": 1500,
          "cache_creation": { "ephemeral_1h_input_tokens": 1000, "ephemeral_5m_input_tokens": 500 },
          "cache_read_input_tokens": 200,
          "output_tokens": 500,
          "server_tool_use": { "web_search_requests": 10 },
          "api_key_id": "apikey_01Rj2N8SVvo6BePZj99NhmiT",
          "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
          "model": "claude-sonnet-4-20250514",
          "service_tier": "standard",
          "context_window": "0-200k"
        }
      ]
    }
  ],
  "has_more": true,
  "next_page": "page_MjAyNS0wNS0xNFQwMDowMDowMFo="
}"""
ANTHROPIC_LAST = {"data": [], "has_more": False, "next_page": None}


@responses.activate
def test_the_cost_and_usage_report_examples_book_cents_as_dollars_on_the_key_that_used_them():
    for path, example in ((COST_PATH, COST_REPORT), (USAGE_PATH, USAGE_REPORT)):
        responses.get(ANTHROPIC + path, body=example)
        responses.get(ANTHROPIC + path, json=ANTHROPIC_LAST)
    result = anthropic_source().pull(ANTHROPIC_DAY)
    assert not result.problems
    [fact] = result.facts
    assert (fact.amount, fact.currency) == (Decimal("1.2378912"), "USD")  # "123.78912" cents
    assert fact.dimensions.get("api_key") == "apikey_01Rj2N8SVvo6BePZj99NhmiT"
    assert fact.dimensions.get("line_item") == "Claude Sonnet 4 Usage - Input Tokens"
    [usage] = result.usage
    assert dict(usage.metrics) == {
        "uncached_input_tokens": Decimal(1500),
        "cache_creation.ephemeral_1h_input_tokens": Decimal(1000),
        "cache_creation.ephemeral_5m_input_tokens": Decimal(500),
        "cache_read_input_tokens": Decimal(200),
        "output_tokens": Decimal(500),
        "server_tool_use.web_search_requests": Decimal(10),
    }
    pages = {(urlsplit(c.request.url).path, tuple(query(c).get("page", []))) for c in responses.calls}
    assert pages == {
        (path, cursor)
        for path in (COST_PATH, USAGE_PATH)
        for cursor in ((), ("page_MjAyNS0wNS0xNFQwMDowMDowMFo=",))
    }


@responses.activate
def test_a_cost_report_saying_more_without_a_cursor_refuses_the_window():
    cut = json.loads(COST_REPORT) | {"next_page": None}
    responses.get(ANTHROPIC + COST_PATH, json=cut)
    responses.get(ANTHROPIC + USAGE_PATH, json=ANTHROPIC_LAST)
    result = anthropic_source().pull(ANTHROPIC_DAY)
    assert result.facts == []
    assert [e.field for e in result.errors] == ["next_page"]

"""OpenAI Usage API: every endpoint, with its group-bys, fixtures checked against the spec, version drift."""

from datetime import date
from decimal import Decimal

import pytest
import responses
import yaml

from connector.sources.base import Window
from connector.sources.openai_usage import COUNTS, ENDPOINTS, OpenAIUsageSource
from tests.contracts import openai_schema_errors
from tests.sources.builders import OPENAI, client, openai_bucket, openai_completions, openai_page
from tests.support import SHARED

DAY = date(2026, 10, 1)


def url(endpoint: str) -> str:
    return f"{OPENAI}/organization/usage/{endpoint}"


def source(endpoints=("completions",)) -> OpenAIUsageSource:
    return OpenAIUsageSource(
        client(OPENAI, "OpenAI"), organization="org-1", entity="acme-us", timezone="UTC", endpoints=endpoints
    )


@responses.activate
def test_completions_usage_is_read_with_every_group_by_and_kept_as_usage_not_cost():
    document = openai_page(
        openai_bucket(
            DAY, openai_completions(1000, 500, input_cached_tokens=400, input_cache_write_tokens=100)
        )
    )
    assert openai_schema_errors(document) == []
    responses.get(url("completions"), json=document)
    pulled = source().pull(Window(DAY, DAY))
    assert pulled.facts == []  # usage only enriches: never a cost fact
    [usage] = pulled.usage
    assert usage.metric("input_tokens") == 1000
    assert usage.metric("input_cache_write_tokens") == 100
    assert usage.dimensions.get("api_key") == "key_a"
    assert usage.dimensions.get("model") == "gpt-4.1"
    assert usage.dimensions.get("batch") == "false"
    assert usage.dimensions.get("endpoint") == "completions"
    query = responses.calls[0].request.url.split("?", 1)[1]
    for field in ENDPOINTS["completions"]:
        assert f"group_by={field}" in query


@responses.activate
def test_a_response_from_before_the_2026_fields_is_read_as_it_is():
    old = openai_completions(10, 5)  # the April 2025 shape: no uncached or cache-write counts
    document = openai_page(openai_bucket(DAY, old))
    assert openai_schema_errors(document) == []
    responses.get(url("completions"), json=document)
    [usage] = source().pull(Window(DAY, DAY)).usage
    assert usage.metric("input_uncached_tokens") == 0
    assert "input_uncached_tokens" not in usage.metrics_dict()


@responses.activate
def test_every_endpoint_is_read_and_a_newer_one_missing_is_only_a_warning():
    for endpoint in ENDPOINTS:
        if endpoint == "web_search_calls":
            responses.get(url(endpoint), status=404, json={"error": {"message": "not found"}})
        else:
            responses.get(url(endpoint), json=openai_page(openai_bucket(DAY)))
    pulled = source(tuple(ENDPOINTS)).pull(Window(DAY, DAY))
    assert pulled.errors == []
    [warning] = pulled.problems
    assert "web_search_calls" in warning.message
    assert len(responses.calls) == len(ENDPOINTS)


@responses.activate
def test_images_and_vector_store_results_keep_their_own_group_bys():
    images = {
        "object": "organization.usage.images.result",
        "images": 3,
        "num_model_requests": 3,
        "source": "image.generation",
        "size": "1024x1024",
        "project_id": "proj_a",
        "user_id": None,
        "api_key_id": None,
        "model": "gpt-image-1",
    }
    document = openai_page(openai_bucket(DAY, images))
    assert openai_schema_errors(document) == []
    responses.get(url("images"), json=document)
    [usage] = source(("images",)).pull(Window(DAY, DAY)).usage
    assert usage.dimensions.get("image_source") == "image.generation"
    assert usage.metric("images") == 3


@pytest.mark.parametrize("missing", ["input_tokens", "output_tokens", "num_model_requests"])
@responses.activate
def test_a_completions_result_without_a_required_count_refuses_the_window(missing):
    result = openai_completions()
    del result[missing]
    responses.get(url("completions"), json=openai_page(openai_bucket(DAY, result)))
    pulled = source().pull(Window(DAY, DAY))
    assert pulled.usage == []
    [problem] = pulled.errors
    assert problem.field == missing
    assert "page 1" in problem.location


def test_the_counts_and_group_bys_read_are_those_each_result_schema_of_the_spec_documents():
    """`../shared/specs/openai_usage_costs.yaml`: each `Usage*Result`'s integer properties are its counts,
    its nullable string/boolean properties its group-bys."""
    schemas = yaml.safe_load((SHARED / "specs" / "openai_usage_costs.yaml").read_text())["components"][
        "schemas"
    ]
    paths = {f"Usage{''.join(w.title() for w in e.split('_'))}Result": e for e in ENDPOINTS}
    for schema_name, endpoint in paths.items():
        properties = schemas[schema_name]["properties"]
        counts = {name for name, field in properties.items() if field.get("type") == "integer"}
        groups = {name for name, field in properties.items() if "anyOf" in field}
        assert set(COUNTS[endpoint]) == counts, endpoint
        assert set(ENDPOINTS[endpoint]) == groups, endpoint


@responses.activate
def test_a_field_newer_than_the_spec_never_refuses_the_window():
    """OpenAI adds fields (a group-by comes back null when not asked for, as the spec says of every
    group-by; a count is a whole number): the newer count is read, the null left out, text kept out with a
    warning, and the usage is stored."""
    newer = openai_completions(10, 5, speed=None, input_reasoning_tokens=7, region="us")
    responses.get(url("completions"), json=openai_page(openai_bucket(DAY, newer)))
    pulled = source().pull(Window(DAY, DAY))
    [usage] = pulled.usage
    assert usage.metric("input_reasoning_tokens") == Decimal(7)
    assert usage.metric("input_tokens") == Decimal(10)
    assert pulled.errors == []
    [warning] = pulled.problems
    assert warning.field == "region"
    assert "'us'" in warning.message


@responses.activate
def test_a_documented_count_that_is_not_a_whole_number_still_refuses_the_window():
    bad = openai_completions(10, 5, input_cached_tokens=None)
    responses.get(url("completions"), json=openai_page(openai_bucket(DAY, bad)))
    pulled = source().pull(Window(DAY, DAY))
    assert pulled.usage == []
    assert [e.field for e in pulled.errors] == ["input_cached_tokens"]

"""OpenAI Costs API source: paging, nulls, dollars as exact Decimals, and clear errors for bad pages."""

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import responses

from connector.domain.errors import InputError, ReconnectNeeded
from connector.retrying import RetryPolicy, no_sleep
from connector.sources.base import Window
from connector.sources.http import HttpClient
from connector.sources.openai import OpenAICostsSource
from tests.contracts import openai_schema_errors

BASE = "https://openai.test/v1"
URL = f"{BASE}/organization/costs"


def unix(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def result(value, project="proj_support_assistant", line_item="gpt-4.1, output", currency="usd", **extra):
    return {
        "object": "organization.costs.result",
        "amount": {"value": value, "currency": currency},
        "line_item": line_item,
        "project_id": project,
        "api_key_id": None,
        **extra,
    }


def bucket(day: date, *results):
    return {
        "object": "bucket",
        "start_time": unix(day),
        "end_time": unix(day + timedelta(days=1)),
        "results": list(results),
    }


def page(*buckets, next_page=None):
    return {
        "object": "page",
        "data": list(buckets),
        "has_more": next_page is not None,
        "next_page": next_page,
    }


def body(document) -> str:
    return json.dumps(document)


def source(retries: int = 1, timezone: str = "America/New_York") -> OpenAICostsSource:
    client = HttpClient(
        name="OpenAI",
        base_url=BASE,
        headers={"Authorization": "Bearer sk-admin-test"},
        timeout=5,
        retry=RetryPolicy(retries, sleep=no_sleep),
        credential_hint="TOKENBOOKS_OPENAI__ADMIN_KEY",
    )
    return OpenAICostsSource(client, organization="org-1", entity="acme-us", timezone=timezone)


OCT = Window(date(2026, 10, 1), date(2026, 10, 3))


@responses.activate
def test_pages_are_followed_and_amounts_stay_exact_dollars():
    first = page(
        bucket(date(2026, 10, 1), result(0.06), result(12.345678, project=None, line_item=None)),
        next_page="page_2",
    )
    second = page(bucket(date(2026, 10, 2)), bucket(date(2026, 10, 3), result(1500, currency="usd")))
    for document in (first, second):
        assert openai_schema_errors(document) == []
    responses.get(
        URL, body=body(first), match=[responses.matchers.query_param_matcher({}, strict_match=False)]
    )
    responses.get(URL, body=body(second))
    pulled = source().pull(OCT)
    assert pulled.errors == []
    assert [f.amount for f in pulled.facts] == [Decimal("0.06"), Decimal("12.345678"), Decimal("1500")]
    assert {f.currency for f in pulled.facts} == {"USD"}
    assert pulled.facts[1].dimensions.get("project") is None  # null means "not grouped", kept as a value
    assert len(pulled.pages) == 2
    assert "page=page_2" in responses.calls[1].request.url
    assert responses.calls[0].request.headers["Authorization"] == "Bearer sk-admin-test"


@responses.activate
def test_requests_align_to_utc_midnight_and_repeat_group_by():
    responses.get(URL, body=body(page(bucket(date(2026, 10, 1)))))
    source().pull(Window(date(2026, 10, 1), date(2026, 10, 1)))
    query = responses.calls[0].request.url.split("?", 1)[1]
    assert f"start_time={unix(date(2026, 10, 1))}" in query
    assert f"end_time={unix(date(2026, 10, 2))}" in query
    assert "group_by=project_id&group_by=line_item" in query


@responses.activate
def test_a_daily_utc_bucket_is_booked_on_the_entitys_local_day():
    responses.get(URL, body=body(page(bucket(date(2026, 10, 1), result(1)))))
    for timezone in ("America/Los_Angeles", "Asia/Tokyo", "UTC"):
        [fact] = source(timezone=timezone).pull(Window(date(2026, 10, 1), date(2026, 10, 1))).facts
        assert fact.posting_date == date(2026, 10, 1), timezone


@responses.activate
def test_the_same_bucket_always_gets_the_same_natural_key():
    document = body(page(bucket(date(2026, 10, 1), result(1), result(2, line_item="gpt-4.1, input"))))
    responses.get(URL, body=document)
    responses.get(URL, body=document)
    first = [f.natural_key for f in source().pull(OCT).facts]
    second = [f.natural_key for f in source().pull(OCT).facts]
    assert first == second
    assert len(set(first)) == 2


@pytest.mark.parametrize(
    ("document", "field", "words"),
    [
        ({"object": "page", "has_more": False, "next_page": None}, "data", "missing"),
        (page(bucket(date(2026, 10, 1), result("twelve"))), "amount.value", "not a number"),
        (page(bucket(date(2026, 10, 1), result("NaN"))), "amount.value", "finite"),
        (page(bucket(date(2026, 10, 1), result(1, currency="zzz"))), "amount.currency", "unknown currency"),
        (page(bucket(date(2026, 10, 1), {"object": "organization.costs.result"})), "amount", "missing"),
        (
            page({"object": "bucket", "start_time": "yesterday", "end_time": 1, "results": []}),
            "start_time",
            "Unix",
        ),
    ],
)
@responses.activate
def test_a_malformed_page_is_refused_naming_endpoint_page_and_field(document, field, words):
    responses.get(URL, body=body(document))
    pulled = source().pull(OCT)
    assert pulled.facts == [] or pulled.errors
    [problem] = pulled.errors
    text = str(problem)
    assert "OpenAI Costs API" in text
    assert "/organization/costs" in text
    assert "page 1" in text
    assert problem.field == field
    assert words in problem.message


@responses.activate
def test_a_cursor_that_comes_back_twice_stops_the_pull():
    responses.get(URL, body=body(page(bucket(date(2026, 10, 1)), next_page="same")))
    responses.get(URL, body=body(page(bucket(date(2026, 10, 2)), next_page="same")))
    with pytest.raises(InputError, match="twice"):
        source().pull(OCT)


@responses.activate
def test_throttling_is_retried_honouring_retry_after_then_succeeds():
    waits: list[float] = []
    responses.get(URL, status=429, headers={"Retry-After": "7"}, json={"error": {"message": "slow down"}})
    responses.get(URL, body=body(page(bucket(date(2026, 10, 1), result(1)))))
    client = HttpClient(
        name="OpenAI",
        base_url=BASE,
        headers={},
        timeout=5,
        retry=RetryPolicy(3, sleep=waits.append),
        credential_hint="X",
    )
    pulled = OpenAICostsSource(client, organization="o", entity="acme-us", timezone="UTC").pull(OCT)
    assert len(pulled.facts) == 1
    assert waits == [7.0]


@responses.activate
def test_a_rejected_key_says_which_setting_to_fix_and_is_not_retried():
    responses.get(URL, status=401, json={"error": {"message": "Incorrect API key provided"}})
    with pytest.raises(ReconnectNeeded, match="TOKENBOOKS_OPENAI__ADMIN_KEY"):
        source(retries=5).pull(OCT)
    assert len(responses.calls) == 1


def test_the_demo_replay_answers_in_the_documented_shape():
    from connector.sandbox.openai_replay import OpenAIReplay

    replay = OpenAIReplay()
    replay.as_of = date(2026, 10, 5)
    url = replay.start()
    try:
        import requests

        answer = requests.get(
            f"{url}/organization/costs",
            headers={"Authorization": f"Bearer {replay.admin_key}"},
            params={"start_time": unix(date(2026, 10, 1)), "end_time": unix(date(2026, 10, 5)), "limit": 2},
            timeout=5,
        )
        document = json.loads(answer.text, parse_float=Decimal)
        assert openai_schema_errors(document) == []
        assert document["has_more"] is True
        assert len(document["data"]) == 2
    finally:
        replay.stop()


@responses.activate
def test_costs_are_grouped_by_api_key_where_the_api_offers_it_and_pulled_without_where_not():
    responses.get(URL, status=400, json={"error": {"message": "Invalid group_by: api_key_id"}})
    responses.get(URL, body=body(page(bucket(date(2026, 10, 1), result(1)))))
    pulled = source().pull(OCT)
    assert [f.amount for f in pulled.facts] == [Decimal(1)]
    assert "group_by=api_key_id" in responses.calls[0].request.url
    assert "api_key_id" not in responses.calls[1].request.url
    [warning] = pulled.problems
    assert not warning.is_error
    assert warning.field == "group_by"

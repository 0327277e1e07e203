"""One Retry-After parser for every HTTP client (RFC 9110 §10.2.3): delay-seconds or an HTTP-date; the rest ignored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import responses
import urllib3
from xero_python.exceptions import ApiException
from xero_python.rest import RESTResponse

from connector.ledgers.xero.errors import retry_after as xero_retry_after
from connector.retrying import RetryPolicy, parse_retry_after
from connector.sources.http import HttpClient

NOW = datetime(2026, 12, 6, 5, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("Sun, 06 Dec 2026 05:00:30 GMT", 30.0),  # IMF-fixdate
        ("Sunday, 06-Dec-26 05:01:00 GMT", 60.0),  # obsolete RFC 850 form, which recipients must accept
        ("Sun Dec  6 05:02:00 2026", None),  # asctime has no zone: when that is cannot be known
        ("Sat, 05 Dec 2026 05:00:00 GMT", 0.0),  # a date already past: go now
        ("-5", None),  # negative: not delay-seconds
        ("1.5", None),  # delay-seconds is a whole number
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_delay_seconds_or_an_http_date_and_nothing_else(value, seconds):
    assert parse_retry_after(value, now=lambda: NOW) == seconds


OPENAI_COSTS = "https://api.openai.com/v1/organization/costs"


@responses.activate
@pytest.mark.parametrize(
    ("header", "waits_backoff"),
    [("3", False), ("-5", True), ("soon", True)],
    ids=["seconds", "negative", "garbage"],
)
def test_a_provider_429_waits_what_it_asks_and_ignores_a_negative_or_garbage_value(header, waits_backoff):
    slept: list[float] = []
    responses.get(
        OPENAI_COSTS, status=429, headers={"Retry-After": header}, json={"error": {"message": "slow"}}
    )
    responses.get(OPENAI_COSTS, json={"ok": True})
    client = HttpClient(
        name="OpenAI",
        base_url="https://api.openai.com/v1",
        headers={},
        timeout=5,
        retry=RetryPolicy(3, initial_wait=2.0, sleep=slept.append),
        credential_hint="TOKENBOOKS_OPENAI__ADMIN_KEY",
    )
    assert client.get_json("/organization/costs", {}).data == {"ok": True}
    assert slept[0] >= 2.0 if waits_backoff else slept == [3.0]


def test_xero_reads_the_header_of_its_sdk_error_through_the_same_parser():
    for value, seconds in (("30", 30.0), ("-1", None), ("later", None)):
        answer = urllib3.HTTPResponse(body=b"", headers={"Retry-After": value}, status=429)
        error = ApiException(http_resp=RESTResponse(answer))  # as xero-python raises it from a 429
        assert xero_retry_after(error) == seconds

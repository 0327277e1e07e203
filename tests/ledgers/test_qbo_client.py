"""QuickBooks answers as the project's error classes: every code the adapter must know, and the XML 429 under
any status or inside the SDK's "Error reading json response"."""

from __future__ import annotations

import pytest
import requests
from quickbooks.exceptions import AuthorizationException, QuickbooksException, ValidationException

from connector.domain.errors import (
    ConfigError,
    DuplicateKey,
    LockedPeriod,
    RateLimited,
    ReconnectNeeded,
    Rejected,
    Retriable,
)
from connector.ledgers.qbo_client import body_note, classify_error, classify_fault, is_throttled, line_of

THROTTLE_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><IntuitResponse><Fault type="SERVICE">'
    '<Error code="3001"><Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>'
    "<Detail>The request limit was reached.  Try again later</Detail></Error></Fault></IntuitResponse>"
)


def response(status: int, body: str, content_type: str) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = body.encode()
    answer.headers["Content-Type"] = content_type
    return answer


@pytest.mark.parametrize(
    ("code", "detail", "expected"),
    [
        (3200, "Token expired", ReconnectNeeded),
        (3100, "not authorized for company 1", ReconnectNeeded),
        (120, "the user is no longer an admin", ReconnectNeeded),
        (6190, "Invalid Company Status", ConfigError),
        (6210, "The account period has closed", LockedPeriod),
        (6210, "Duplicate Document Number Error", DuplicateKey),  # the 2017 blog's numbering
        (6140, "Duplicate Document Number Error", DuplicateKey),
        (5010, "Stale Object Error", Retriable),
        (3001, "ThrottleExceeded", RateLimited),
        (10000, "System Failure Error", Retriable),
        (6000, "Business Validation Error", Rejected),
        (2500, "Invalid Reference Id", Rejected),
        (610, "Object Not Found", Rejected),
    ],
)
def test_each_quickbooks_code_has_its_recovery(code, detail, expected):
    error = classify_error(code, "message", detail, "journal TB-AC-261003-001", element="Line[1].AccountRef")
    assert type(error) is expected
    assert "journal TB-AC-261003-001 line 2" in str(error)
    assert f"code {code}" in str(error)
    assert error.fix


def test_the_xml_429_is_throttling_whatever_the_status():
    assert is_throttled(response(429, THROTTLE_XML, "application/xml"))
    assert is_throttled(response(403, THROTTLE_XML, "application/xml"))  # older reports: statusCode=403
    assert not is_throttled(response(403, '{"Fault": {}}', "application/json"))


def test_the_sdks_json_error_on_the_xml_body_is_still_throttling():
    exc = QuickbooksException(f"Error reading json response: {THROTTLE_XML}", 10000)
    error = classify_fault(exc, "reading preferences")
    assert isinstance(error, RateLimited)
    assert error.retry_after == 60


def test_a_401_from_the_sdk_asks_for_a_reconnect_and_a_validation_code_keeps_its_words():
    assert isinstance(classify_fault(AuthorizationException("failed", 401), "x"), ReconnectNeeded)
    refused = classify_fault(ValidationException("Invalid Reference Id", 2500, "Account 99 not found"), "j")
    assert isinstance(refused, Rejected)
    assert "Account 99 not found" in str(refused)


def test_a_gateway_page_is_named_not_dumped():
    page = "<html><head><title>503 Service Unavailable</title></head><body>…</body></html>"
    assert body_note(response(503, page, "text/html")) == " (not JSON: text/html, '503 Service Unavailable')"
    assert body_note(response(500, '{"Fault": {}}', "application/json")) == ""
    assert line_of("Line[0].JournalEntryLineDetail.ClassRef") == " line 1"

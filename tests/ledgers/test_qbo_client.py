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
from connector.ledgers.quickbooks.client import (
    FaultEntry,
    QboRefusal,
    body_note,
    classify_error,
    classify_fault,
    is_throttled,
    line_of,
    read_fault,
    refusal_of,
)

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


# A 403 as real QuickBooks sends it: the gateway's response object, lower case (frappe/erpnext#29161).
GATEWAY_403 = (
    '{"warnings":null,"intuitObject":null,"fault":{"error":[{"message":"message=ApplicationAuthorizationFailed; '
    'errorCode=003100; statusCode=403","detail":null,"code":"3100","element":null}],"type":"SERVICE"},'
    '"report":null,"queryResponse":null,"batchItemResponse":[],"attachableResponse":[],'
    '"syncErrorResponse":null,"requestId":null,"time":1640612353707,"status":null,"cdcresponse":[]}'
)
# The same refusal as XML (IntuitDeveloper/QBOConceptsTutorial-PHP#13).
XML_403 = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<IntuitResponse time="2019-09-11T21:34:30.237-07:00" '
    'xmlns="http://schema.intuit.com/finance/v3">\n    <Fault type="SERVICE">\n        <Error code="3100">\n'
    "            <Message>message=AuthorizationFailed; errorCode=003100; statusCode=403</Message>\n"
    "            <Detail>The access token does not have sufficient scope</Detail>\n        </Error>\n"
    "    </Fault>\n</IntuitResponse>"
)
# The API's own envelope (Intuit, "Handling common errors").
API_6000 = (
    '{"Fault":{"Error":[{"Message":"A business validation error has occurred while processing your request",'
    '"Detail":"Business Validation Error: An unexpected error occurred","code":"6000","element":""}],'
    '"type":"ValidationFault"},"time":"2017-09-29T09:17:31.892-07:00"}'
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            GATEWAY_403,
            FaultEntry(3100, "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403", ""),
        ),
        (
            XML_403,
            FaultEntry(
                3100,
                "message=AuthorizationFailed; errorCode=003100; statusCode=403",
                "The access token does not have sufficient scope",
            ),
        ),
        (
            API_6000,
            FaultEntry(
                6000,
                "A business validation error has occurred while processing your request",
                "Business Validation Error: An unexpected error occurred",
            ),
        ),
        # no `code`: it is read from errorCode=003100 in the message
        (
            GATEWAY_403.replace('"code":"3100",', ""),
            FaultEntry(3100, "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403", ""),
        ),
        ('{"QueryResponse":{}}', None),
        ("<html><title>Bad Gateway</title></html>", None),
    ],
)
def test_every_fault_shape_quickbooks_sends_is_read(body: str, expected):
    assert read_fault(body) == expected


@pytest.mark.parametrize("body", [GATEWAY_403, XML_403, "", '{"message": "Forbidden"}'])
def test_a_403_in_any_shape_is_reconnect_needed_never_retried(body: str):
    refusal = refusal_of(response(403, body, "application/json"))
    assert isinstance(refusal, QboRefusal)
    error = classify_fault(refusal, "reading preferences", realm="9341452000000001")
    assert isinstance(error, ReconnectNeeded)
    assert not isinstance(error, Retriable)
    assert "9341452000000001" in error.fix
    assert "TOKENBOOKS_QUICKBOOKS__BASE_URL" in error.fix


def test_refusals_are_classified_by_their_code_then_by_status():
    refused = classify_fault(refusal_of(response(400, API_6000, "application/json")), "journal TB-1")
    assert isinstance(refused, Rejected)
    assert "code 6000" in refused.message
    missing = classify_fault(refusal_of(response(404, "<html>Not Found</html>", "text/html")), "preferences")
    assert isinstance(missing, ConfigError)
    assert "BASE_URL" in missing.fix
    lower_in_200 = refusal_of(response(200, GATEWAY_403, "application/json"))  # a fault under any status
    assert isinstance(classify_fault(lower_in_200, "x"), ReconnectNeeded)
    assert refusal_of(response(200, '{"QueryResponse": {"Account": []}}', "application/json")) is None

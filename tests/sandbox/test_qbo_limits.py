"""Throttling: 500 requests/min and 40 batches/min per realm, 10 in flight, QBO's XML 429."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.account import Account

from connector.sandbox.common import FaultPlan, ManualClock
from connector.sandbox.quickbooks import QuickBooksSandbox

THROTTLE_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="2025-02-03T09:00:00.000+00:00">'
    '<Fault type="SERVICE"><Error code="3001">'
    "<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>"
    "<Detail>The request limit was reached.  Try again later</Detail>"
    "</Error></Fault></IntuitResponse>"
)


def _use_up_the_minute(api, calls=500):
    statuses = {api.get("preferences").status_code for _ in range(calls)}
    assert statuses == {200}


def test_the_501st_request_in_a_minute_gets_the_xml_429(sandbox, api, qb):
    _use_up_the_minute(api)
    response = api.get("preferences")
    assert response.status_code == 429
    assert response.headers["Content-Type"].startswith("application/xml")
    assert response.text == THROTTLE_XML
    assert "Retry-After" not in response.headers
    # python-quickbooks cannot parse the XML and loses the status (erps.md §3.5).
    with pytest.raises(QuickbooksException) as caught:
        Account.all(qb=qb)
    assert caught.value.error_code == 10000
    assert caught.value.message.startswith("Error reading json response: <?xml")


def test_the_window_slides_with_the_clock(sandbox, api, clock):
    _use_up_the_minute(api, 300)
    clock.advance(seconds=30)
    _use_up_the_minute(api, 200)
    assert api.get("preferences").status_code == 429
    clock.advance(seconds=30)  # the first 300 leave the window
    _use_up_the_minute(api, 300)
    assert api.get("preferences").status_code == 429


def test_batch_items_count_against_the_per_minute_limit(api, raw_journal):
    items = [{"bId": f"q{n}", "Query": "SELECT COUNT(*) FROM Class"} for n in range(30)]
    for _ in range(16):  # 480 calls
        assert api.post("batch", {"BatchItemRequest": items}).status_code == 200
    assert api.post("batch", {"BatchItemRequest": items}).status_code == 429  # 510 > 500
    _use_up_the_minute(api, 20)
    assert api.get("preferences").status_code == 429


def test_41st_batch_in_a_minute_is_throttled(api, clock):
    body = {"BatchItemRequest": [{"bId": "q", "Query": "SELECT COUNT(*) FROM Class"}]}
    assert {api.post("batch", body).status_code for _ in range(40)} == {200}
    assert api.post("batch", body).status_code == 429
    assert api.get("preferences").status_code == 200  # plain requests still have room
    clock.advance(seconds=60)
    assert api.post("batch", body).status_code == 200


def test_the_11th_concurrent_request_is_throttled(sandbox, api, faults):
    # Ten requests are held in flight by injected timeouts; the eleventh arrives while they wait.
    faults.queue("timeout", times=10, delay_seconds=0.5)
    statuses: list[int] = []

    def slow_call():
        statuses.append(requests.get(api.url("preferences"), headers=api.headers()).status_code)

    threads = [threading.Thread(target=slow_call) for _ in range(10)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while sandbox.in_flight() < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sandbox.in_flight() == 10
    eleventh = api.get("preferences")
    for thread in threads:
        thread.join()
    assert eleventh.status_code == 429
    assert "ThrottleExceeded" in eleventh.text
    assert statuses == [504] * 10
    assert api.get("preferences").status_code == 200


def test_retry_after_is_optional_and_other_realms_are_refused(tmp_path):
    clock = ManualClock()
    with QuickBooksSandbox(
        tmp_path / "s.json", clock=clock, faults=FaultPlan(), retry_after_seconds=60, requests_per_minute=3
    ) as small:
        token = small.issue_tokens()["access_token"]
        url = f"{small.base_url}/v3/company/{small.realm_id}/preferences"
        headers = {"Authorization": f"Bearer {token}"}
        assert [requests.get(url, headers=headers).status_code for _ in range(4)] == [200, 200, 200, 429]
        throttled = requests.get(url, headers=headers)
        assert throttled.headers["Retry-After"] == "60"
        # A token of another realm is refused before it counts against anything.
        other = small.issue_tokens("123")["access_token"]
        other_url = f"{small.base_url}/v3/company/123/preferences"
        assert requests.get(other_url, headers={"Authorization": f"Bearer {other}"}).status_code == 403

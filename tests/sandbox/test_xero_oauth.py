"""The Xero sandbox's identity service: consent, code exchange, single-use refresh tokens, connections."""

from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from connector.sandbox.xero_auth import ACCESS_TOKEN_SECONDS
from tests.xero_support import REDIRECT_URI, SCOPES, running_xero


@pytest.fixture
def rig():
    with running_xero() as running:
        yield running


def _token(rig, form: dict[str, str], basic: bool = False) -> requests.Response:
    headers = {}
    if basic:
        secret = f"{rig.box.client_id}:{rig.box.client_secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(secret).decode()
    else:
        form = form | {"client_id": rig.box.client_id, "client_secret": rig.box.client_secret}
    return requests.post(rig.box.token_url, data=form, headers=headers, timeout=5)


def _consent(rig, state: str = "csrf-42") -> dict[str, str]:
    query = {
        "response_type": "code",
        "client_id": rig.box.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPES,
        "state": state,
    }
    answer = requests.get(
        rig.box.base_url + "/identity/connect/authorize", params=query, allow_redirects=False
    )
    assert answer.status_code == 302
    location = urlparse(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    return {key: values[0] for key, values in parse_qs(location.query).items()}


def test_consent_code_exchange_and_connections_in_the_identity_spec_shape(rig):
    redirect = _consent(rig)
    assert redirect["state"] == "csrf-42"
    answer = _token(
        rig, {"grant_type": "authorization_code", "code": redirect["code"], "redirect_uri": REDIRECT_URI}
    )
    assert answer.status_code == 200
    tokens = answer.json()
    assert tokens["expires_in"] == ACCESS_TOKEN_SECONDS == 1800
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == SCOPES
    connections = requests.get(
        rig.box.base_url + "/connections", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    ).json()
    [connection] = connections
    assert connection["tenantId"] == rig.box.tenant_id
    assert connection["tenantType"] == "ORGANISATION"
    assert set(connection) == {
        "id",
        "authEventId",
        "tenantId",
        "tenantType",
        "tenantName",
        "createdDateUtc",
        "updatedDateUtc",
    }
    filtered = requests.get(
        rig.box.base_url + "/connections",
        params={"authEventId": "00000000-0000-0000-0000-000000000000"},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    ).json()
    assert filtered == []
    # The code is single-use and bound to its redirect URI.
    again = _token(
        rig, {"grant_type": "authorization_code", "code": redirect["code"], "redirect_uri": REDIRECT_URI}
    )
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant"}


def test_client_authenticates_by_basic_or_by_form_and_a_wrong_secret_is_invalid_client(rig):
    issued = rig.box.issue_tokens()
    by_basic = _token(
        rig, {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]}, basic=True
    )
    assert by_basic.status_code == 200
    wrong = requests.post(
        rig.box.token_url,
        data={"grant_type": "refresh_token", "refresh_token": by_basic.json()["refresh_token"]}
        | {"client_id": rig.box.client_id, "client_secret": "nope"},
        timeout=5,
    )
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "invalid_client"}


def test_a_refresh_token_is_single_use_with_a_30_minute_grace(rig):
    issued = rig.box.issue_tokens()
    first = _token(rig, {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})
    assert first.status_code == 200
    assert first.json()["refresh_token"] != issued["refresh_token"]
    rig.clock.advance(timedelta(minutes=29))
    # The answer to the first refresh was "lost": the old token still works within 30 minutes of its first use.
    retry = _token(rig, {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})
    assert retry.status_code == 200
    rig.clock.advance(timedelta(minutes=2))
    late = _token(rig, {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})
    assert late.status_code == 400
    assert late.json() == {"error": "invalid_grant"}
    # The rotated tokens still refresh.
    assert (
        _token(
            rig, {"grant_type": "refresh_token", "refresh_token": retry.json()["refresh_token"]}
        ).status_code
        == 200
    )


def test_an_unused_refresh_token_dies_after_60_days_and_access_tokens_after_30_minutes(rig):
    issued = rig.box.issue_tokens()
    rig.clock.advance(timedelta(seconds=ACCESS_TOKEN_SECONDS))
    expired = rig.api("GET", "/Organisation", token=issued["access_token"], tenant=rig.box.tenant_id)
    assert expired.status_code == 401
    assert expired.json()["Detail"].startswith("TokenExpired")
    assert "invalid_token" in expired.headers["WWW-Authenticate"]
    rig.clock.advance(timedelta(days=60))
    dead = _token(rig, {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})
    assert dead.status_code == 400
    assert dead.json() == {"error": "invalid_grant"}


def test_revocation_kills_the_whole_grant(rig):
    issued = rig.box.issue_tokens()
    revoked = requests.post(
        rig.box.base_url + "/connect/revocation",
        data={
            "token": issued["refresh_token"],
            "client_id": rig.box.client_id,
            "client_secret": rig.box.client_secret,
        },
        timeout=5,
    )
    assert revoked.status_code == 200
    assert (
        rig.api("GET", "/Organisation", token=issued["access_token"], tenant=rig.box.tenant_id).status_code
        == 401
    )
    refused = _token(rig, {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})
    assert refused.json() == {"error": "invalid_grant"}


def test_a_token_only_reaches_the_tenants_it_is_connected_to(rig):
    issued = rig.box.issue_tokens()
    for tenant in (None, "", "0d9c2a3e-7f51-4c0e-9d4f-1b2a3c4d5e6f"):
        refused = rig.api("GET", "/Organisation", token=issued["access_token"], tenant=tenant)
        assert refused.status_code == 403
        body = refused.json()
        assert body["Title"] == "Forbidden"
        assert body["Detail"] == "AuthenticationUnsuccessful"
    assert (
        rig.api("GET", "/Organisation", token=issued["access_token"], tenant=rig.box.tenant_id).status_code
        == 200
    )
    # The organisation removes the app: the token lives on, the tenant is gone.
    rig.box.disconnect_tenant()
    assert (
        rig.api("GET", "/Organisation", token=issued["access_token"], tenant=rig.box.tenant_id).status_code
        == 403
    )
    assert (
        requests.get(
            rig.box.base_url + "/connections", headers={"Authorization": f"Bearer {issued['access_token']}"}
        ).json()
        == []
    )


def test_delete_connection_disconnects_one_tenant(rig):
    issued = rig.box.issue_tokens()
    auth = {"Authorization": f"Bearer {issued['access_token']}"}
    [connection] = requests.get(rig.box.base_url + "/connections", headers=auth).json()
    assert (
        requests.delete(f"{rig.box.base_url}/connections/{connection['id']}", headers=auth).status_code == 204
    )
    assert (
        requests.delete(f"{rig.box.base_url}/connections/{connection['id']}", headers=auth).status_code == 404
    )
    assert (
        rig.api("GET", "/Organisation", token=issued["access_token"], tenant=rig.box.tenant_id).status_code
        == 403
    )


def test_a_refresh_whose_answer_is_lost_still_rotated_the_token(rig):
    issued = rig.box.issue_tokens()
    rig.box.token_faults.queue("lost_response")
    lost = _token(rig, {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})
    assert lost.status_code == 504
    assert rig.box.requests[-1]["fault"] == "lost_response"
    # Within the grace the client tries again with the same (already used) token and gets a pair.
    assert (
        _token(rig, {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]}).status_code
        == 200
    )

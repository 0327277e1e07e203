"""Intuit OAuth against the sandbox with the real intuitlib AuthClient, and bearer checks on /v3."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks.exceptions import AuthorizationException
from quickbooks.objects.account import Account

from connector.sandbox.common import loads_exact

REDIRECT_URI = "http://localhost:8765/callback"
INVALID_GRANT = {"error": "invalid_grant", "error_description": "Incorrect or invalid refresh token"}


@pytest.fixture
def auth_client(sandbox) -> AuthClient:
    # intuitlib GETs the discovery document in its constructor (erps.md §2.3).
    return AuthClient(
        sandbox.client_id, sandbox.client_secret, REDIRECT_URI, environment=sandbox.discovery_url
    )


def _authorize(auth_client: AuthClient, state: str = "csrf-123") -> dict[str, str]:
    url = auth_client.get_authorization_url([Scopes.ACCOUNTING], state_token=state)
    response = requests.get(url, allow_redirects=False)
    assert response.status_code == 302
    location = urlparse(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    return {key: values[0] for key, values in parse_qs(location.query).items()}


def test_discovery_document_points_every_endpoint_at_the_sandbox(sandbox, auth_client):
    base = sandbox.base_url
    assert auth_client.auth_endpoint == base + "/connect/oauth2"
    assert auth_client.token_endpoint == base + "/oauth2/v1/tokens/bearer"
    assert auth_client.revoke_endpoint == base + "/oauth2/v1/tokens/revoke"
    assert auth_client.issuer_uri == base
    assert requests.get(auth_client.jwks_uri).json() == {"keys": []}
    assert requests.get(base + "/.well-known/openid_sandbox_configuration/").status_code == 200


def test_authorization_code_flow(sandbox, auth_client, make_qb):
    redirect = _authorize(auth_client)
    assert redirect["state"] == "csrf-123"
    assert redirect["realmId"] == sandbox.realm_id
    auth_client.get_bearer_token(redirect["code"], realm_id=redirect["realmId"])
    assert auth_client.expires_in == 3600
    assert auth_client.x_refresh_token_expires_in == 8726400
    assert len(Account.all(qb=make_qb(auth_client.access_token))) == 17
    # The code is single-use.
    with pytest.raises(AuthClientError) as caught:
        auth_client.get_bearer_token(redirect["code"])
    assert caught.value.status_code == 400


def test_code_exchange_needs_the_same_redirect_uri(sandbox, auth_client):
    code = _authorize(auth_client)["code"]
    other = AuthClient(sandbox.client_id, sandbox.client_secret, "http://elsewhere/cb", sandbox.discovery_url)
    with pytest.raises(AuthClientError) as caught:
        other.get_bearer_token(code)
    assert loads_exact(caught.value.content)["error"] == "invalid_grant"


def test_authorize_refuses_unknown_clients_and_missing_scope(sandbox):
    url = sandbox.base_url + "/connect/oauth2"
    base = {"response_type": "code", "redirect_uri": REDIRECT_URI, "state": "s"}
    scope = "com.intuit.quickbooks.accounting"
    wrong_client = requests.get(
        url, params=base | {"client_id": "nope", "scope": scope}, allow_redirects=False
    )
    assert wrong_client.status_code == 400
    no_scope = requests.get(url, params=base | {"client_id": sandbox.client_id, "scope": "openid"})
    assert no_scope.json()["error"] == "invalid_scope"


def test_bad_client_credentials_are_invalid_client(sandbox, tokens):
    wrong = AuthClient(sandbox.client_id, "wrong-secret", REDIRECT_URI, environment=sandbox.discovery_url)
    with pytest.raises(AuthClientError) as caught:
        wrong.refresh(refresh_token=tokens["refresh_token"])
    assert caught.value.status_code == 401
    assert loads_exact(caught.value.content) == {"error": "invalid_client"}


def test_refresh_rotates_and_the_old_token_lives_24_hours(sandbox, auth_client, tokens, clock, make_qb):
    original = tokens["refresh_token"]
    auth_client.refresh(refresh_token=original)
    rotated = auth_client.refresh_token
    assert rotated != original
    assert len(Account.all(qb=make_qb(auth_client.access_token))) == 17

    auth_client.refresh(refresh_token=rotated)  # the newest one works
    clock.advance(hours=23.9)
    auth_client.refresh(refresh_token=original)  # still inside the 24 h grace
    clock.advance(hours=0.2)
    with pytest.raises(AuthClientError) as caught:
        auth_client.refresh(refresh_token=original)
    assert caught.value.status_code == 400
    assert loads_exact(caught.value.content) == INVALID_GRANT
    auth_client.refresh()  # the latest token the client holds keeps working


def test_revoked_and_unknown_refresh_tokens_are_invalid_grant(sandbox, auth_client, tokens, make_qb):
    qb = make_qb(tokens["access_token"])
    assert auth_client.revoke(token=tokens["refresh_token"]) is True
    for token in (tokens["refresh_token"], "AB11-never-issued"):
        with pytest.raises(AuthClientError) as caught:
            auth_client.refresh(refresh_token=token)
        assert loads_exact(caught.value.content) == INVALID_GRANT
    with pytest.raises(AuthorizationException):  # revoking the grant kills its access tokens too
        Account.all(qb=qb)


def test_expired_access_token_is_401(sandbox, tokens, make_qb, clock, api):
    qb = make_qb(tokens["access_token"])
    clock.advance(seconds=3599)
    assert len(Account.all(qb=qb)) == 17
    clock.advance(seconds=1)
    with pytest.raises(AuthorizationException) as caught:
        Account.all(qb=qb)
    assert caught.value.error_code == 401
    response = api.get("preferences")
    assert response.status_code == 401
    # Intuit's gateway answers 401 in lower case (routablehq/python-quickbooks#118, #250)
    error = loads_exact(response.text)["fault"]
    assert error["type"] == "AUTHENTICATION"
    assert error["error"][0]["code"] == "3200"
    assert error["error"][0]["message"] == "message=AuthenticationFailed; errorCode=003200; statusCode=401"


def test_expire_and_revoke_everything_from_the_control_surface(sandbox, tokens, make_qb, auth_client):
    qb = make_qb(tokens["access_token"])
    sandbox.expire_access_tokens()
    with pytest.raises(AuthorizationException):
        Account.all(qb=qb)
    auth_client.refresh(refresh_token=tokens["refresh_token"])
    assert len(Account.all(qb=make_qb(auth_client.access_token))) == 17
    sandbox.revoke_all_tokens()
    with pytest.raises(AuthClientError):
        auth_client.refresh()


def test_missing_header_is_401_and_other_realms_are_403(sandbox, tokens):
    url = f"{sandbox.base_url}/v3/company/{sandbox.realm_id}/preferences"
    assert requests.get(url).status_code == 401
    foreign = sandbox.issue_tokens("4620816365000000000")["access_token"]
    for realm, token in ((sandbox.realm_id, foreign), ("4620816365000000000", tokens["access_token"])):
        response = requests.get(
            f"{sandbox.base_url}/v3/company/{realm}/preferences", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 403
        fault = response.json()["fault"]  # lower case, as real 403s are (frappe/erpnext#29161)
        assert (fault["type"], fault["error"][0]["code"]) == ("SERVICE", "3100")
        assert fault["error"][0]["message"] == (
            "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403"
        )


def test_token_endpoint_faults_are_separate_from_api_faults(sandbox, auth_client, tokens, token_faults, api):
    token_faults.queue("server_error", status=503)
    assert api.get("preferences").status_code == 200  # /v3 is unaffected
    with pytest.raises(AuthClientError) as caught:
        auth_client.refresh(refresh_token=tokens["refresh_token"])
    assert caught.value.status_code == 503
    auth_client.refresh(refresh_token=tokens["refresh_token"])  # the failed call rotated nothing
    assert token_faults.injected == {"server_error": 1}


def test_lost_token_response_still_rotates(sandbox, auth_client, tokens, token_faults, clock):
    token_faults.queue("lost_response")
    with pytest.raises(AuthClientError) as caught:
        auth_client.refresh(refresh_token=tokens["refresh_token"])
    assert caught.value.status_code == 504
    # The client never saw the new token; its old one is now stale but inside the grace period.
    auth_client.refresh(refresh_token=tokens["refresh_token"])
    clock.advance(hours=25)
    with pytest.raises(AuthClientError):
        auth_client.refresh(refresh_token=tokens["refresh_token"])

"""End to end, as ``tokenbooks demo`` uses the sandbox: OAuth with intuitlib, then python-quickbooks built
with ``auth_client`` + ``refresh_token`` (its constructor refreshes silently), then a post and a lookup."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from quickbooks import QuickBooks
from quickbooks.objects.journalentry import JournalEntry

from connector.sandbox import quickbooks as sandbox_module
from connector.sandbox.quickbooks import QuickBooksSandbox, serve


def test_oauth_then_python_quickbooks_with_silent_refresh(sandbox, make_journal, monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    auth = AuthClient(sandbox.client_id, sandbox.client_secret, "http://localhost/cb", sandbox.discovery_url)
    location = requests.get(auth.get_authorization_url([Scopes.ACCOUNTING]), allow_redirects=False).headers[
        "Location"
    ]
    redirect = {key: values[0] for key, values in parse_qs(urlparse(location).query).items()}
    auth.get_bearer_token(redirect["code"], realm_id=redirect["realmId"])
    first_refresh_token = auth.refresh_token

    auth.access_token = None  # as when only the refresh token was stored
    client = QuickBooks(
        auth_client=auth,
        refresh_token=first_refresh_token,
        company_id=redirect["realmId"],
        minorversion=75,
        use_decimal=True,
    )
    assert client.refresh_token != first_refresh_token  # rotated in the constructor (erps.md §3.1)
    client.api_url_v3 = sandbox.api_url_v3

    saved = make_journal("E2E-1", (("Debit", "10", "0.01"), ("Credit", "6", "0.01"))).save(
        qb=client, request_id="e2e-1"
    )
    assert JournalEntry.filter(DocNumber="E2E-1", qb=client)[0].Id == saved.Id
    assert sandbox.account("10")["CurrentBalance"] == Decimal("0.01")
    token_calls = [r for r in sandbox.requests if r["path"] == "/oauth2/v1/tokens/bearer"]
    assert [parse_qs(r["body"])["grant_type"] for r in token_calls] == [
        ["authorization_code"],
        ["refresh_token"],
    ]


def test_serve_announces_how_to_connect(tmp_path, capsys, monkeypatch):
    def serve_once(self, on_ready=None):
        on_ready("http://127.0.0.1:8765")

    monkeypatch.setattr(sandbox_module.QuickBooksSandbox, "serve_forever", serve_once)
    serve(8765, tmp_path / "qbo.json")
    printed = capsys.readouterr().out
    for expected in (
        "http://127.0.0.1:8765/.well-known/openid_configuration",
        "tokenbooks-sandbox-client",
        "tokenbooks-sandbox-secret",
        "9341452000000001",
    ):
        assert expected in printed
    assert (tmp_path / "qbo.json").exists()


def test_a_sandbox_without_a_state_file_keeps_state_in_memory():
    with QuickBooksSandbox() as sandbox:
        sandbox.add_bill("301", [("13", "3.50")])
        assert sandbox.account("13")["CurrentBalance"] == Decimal("3.50")
        assert requests.get(sandbox.discovery_url).json()["issuer"] == sandbox.base_url

"""`tokenbooks connect` and `tokenbooks connections`, end to end: the OAuth flow with the local callback
against the QuickBooks sandbox (its consent page approves by itself; the browser is an HTTP GET here) and
and against the Xero sandbox (identity, consent, /connections), tokens encrypted at rest, and each
connection's health."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from cryptography.fernet import Fernet
from sqlmodel import Session, select
from typer.testing import CliRunner

from connector.cli import app as cli
from connector.cli.base import ExitCode
from connector.sandbox.quickbooks import QuickBooksSandbox
from connector.sandbox.xero import XeroSandbox
from connector.sandbox.xero_seed import DEFAULT_TENANT_NAME
from connector.service.connections import connect_ledger
from connector.store.db import make_engine
from connector.store.tables import ConnectionRow
from tests.support import MINIMAL_MAPPING, Browser, free_port

runner = CliRunner()
XERO_MAPPING = """\
mapping_version: 1
effective_from: 2026-01-01
change_note: a Xero company
entities:
  acme-uk: {ledger: xero, currency: GBP, timezone: Europe/London}
roles:
  ai_cogs: {xero: "500"}
  rnd: {xero: "610"}
  sales_marketing: {xero: "620"}
  g_and_a: {xero: "630"}
  accrued_ai_costs: {xero: "815"}
  suspense: {xero: "690"}
rules:
  - id: support
    when: {project: proj_support_assistant}
    category: cogs
"""


@pytest.fixture
def browser(monkeypatch) -> Browser:
    fake = Browser()
    monkeypatch.setattr("webbrowser.open", fake.open)
    return fake


@pytest.fixture
def qbo(tmp_path):
    with QuickBooksSandbox(tmp_path / "qbo.json") as box:
        yield box


def environment(tmp_path, monkeypatch, mapping=MINIMAL_MAPPING, **extra: str) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    (tmp_path / "mapping.yaml").write_text(mapping)
    variables = {
        "TOKENBOOKS_DATABASE_URL": f"sqlite:///{tmp_path / 'tb.db'}",
        "TOKENBOOKS_MAPPING_FILE": str(tmp_path / "mapping.yaml"),
        "TOKENBOOKS_DATA_DIR": str(tmp_path),
        "TOKENBOOKS_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    } | extra
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return variables


def qbo_env(tmp_path, monkeypatch, box: QuickBooksSandbox) -> dict[str, str]:
    return environment(
        tmp_path,
        monkeypatch,
        TOKENBOOKS_QUICKBOOKS__CLIENT_ID=box.client_id,
        TOKENBOOKS_QUICKBOOKS__CLIENT_SECRET=box.client_secret,
        TOKENBOOKS_QUICKBOOKS__BASE_URL=box.base_url,
        TOKENBOOKS_QUICKBOOKS__DISCOVERY_URL=box.discovery_url,
        TOKENBOOKS_QUICKBOOKS__REDIRECT_URI=f"http://127.0.0.1:{free_port()}/callback",
        TOKENBOOKS_QUICKBOOKS__TIMEOUT_SECONDS="5",
    )


def stored_rows(variables) -> list[ConnectionRow]:
    with Session(make_engine(variables["TOKENBOOKS_DATABASE_URL"])) as session:
        return list(session.exec(select(ConnectionRow)))


def test_connect_quickbooks_runs_the_oauth_flow_and_stores_the_connection_encrypted(
    tmp_path, monkeypatch, qbo, browser
):
    variables = qbo_env(tmp_path, monkeypatch, qbo)
    result = runner.invoke(cli, ["connect", "quickbooks", "--json"])
    assert result.exit_code == 0, result.output
    connected = json.loads(result.stdout)
    assert connected == {
        "ledger": "quickbooks",
        "entity": "acme-us",
        "company_id": qbo.realm_id,
        "company_name": "Tokenbooks Sandbox Company",
    }
    [consent] = browser.visited
    assert parse_qs(urlparse(consent).query)["redirect_uri"] == [
        variables["TOKENBOOKS_QUICKBOOKS__REDIRECT_URI"]
    ]
    [row] = stored_rows(variables)
    issued_access = [r for r in qbo.requests if r["path"].endswith("/tokens/bearer")]
    assert len(issued_access) == 1  # one code exchange
    assert "eyJsandbox" not in row.token_ciphertext  # encrypted at rest
    assert row.company_id == qbo.realm_id
    assert row.connected_at is not None

    listed = runner.invoke(cli, ["connections", "--json"])
    assert listed.exit_code == 0, listed.output
    [health] = json.loads(listed.stdout)
    assert health["health"] == "ok"
    assert health["company_name"] == "Tokenbooks Sandbox Company"
    assert health["access_expires_at"] is not None
    assert health["refresh_expires_at"] is not None  # Intuit says: x_refresh_token_expires_in
    table = runner.invoke(cli, ["connections"])
    assert "Tokenbooks" in table.output  # (the name wraps in an 80-column table)
    assert "ok" in table.output


def test_a_connection_that_needs_a_person_says_so_until_connect_is_run_again(
    tmp_path, monkeypatch, qbo, browser
):
    from connector.bootstrap import build_app
    from connector.settings import load_settings

    variables = qbo_env(tmp_path, monkeypatch, qbo)
    assert runner.invoke(cli, ["connect", "quickbooks"]).exit_code == 0
    application = build_app(load_settings())
    application.token_vault().mark_reconnect_needed("quickbooks", "acme-us", "QuickBooks refused the refresh")
    listed = _connections("--json")  # as a monitor runs it: its own process, read by exit status
    assert listed.returncode == ExitCode.RECONNECT == 4, listed.stderr
    [health] = json.loads(listed.stdout)
    assert health["health"] == "reconnect needed"
    assert "refused the refresh" in health["reason"]
    table = _connections()
    assert table.returncode == ExitCode.RECONNECT, table.stderr
    assert "reconnect needed" in table.stdout
    assert "Traceback" not in table.stderr
    assert runner.invoke(cli, ["connect", "quickbooks"]).exit_code == 0
    listed = _connections("--json")
    assert listed.returncode == 0, listed.stderr
    [health] = json.loads(listed.stdout)
    assert (health["health"], health["last_error"]) == ("ok", None)
    assert len(stored_rows(variables)) == 1


def _connections(*args: str) -> subprocess.CompletedProcess:
    """`tokenbooks connections` in a process of its own, with this test's settings (its environment)."""
    return subprocess.run(
        [sys.executable, "-c", "from connector.cli import main; main()", "connections", *args],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_entity_is_connected_only_to_the_ledger_it_books_into(tmp_path, monkeypatch, qbo):
    qbo_env(tmp_path, monkeypatch, qbo)
    result = runner.invoke(cli, ["connect", "xero", "--entity", "acme-us"])
    assert result.exit_code == 2
    assert "books into quickbooks" in result.output
    assert "tokenbooks connect quickbooks --entity acme-us" in result.output


# --------------------------------------------------------------------------------------------- Xero

SECOND_TENANT = ("fe79f7dd-0002", "Acme Holdings")


@pytest.fixture
def xero_box(tmp_path):
    """The Xero sandbox: its consent page approves by itself; identity and /connections as documented."""
    with XeroSandbox(tmp_path / "xero.json") as box:
        yield box


def xero_env(tmp_path, monkeypatch, box: XeroSandbox) -> dict[str, str]:
    return environment(
        tmp_path,
        monkeypatch,
        XERO_MAPPING,
        TOKENBOOKS_XERO__CLIENT_ID=box.client_id,
        TOKENBOOKS_XERO__CLIENT_SECRET=box.client_secret,
        TOKENBOOKS_XERO__LOGIN_URL=box.base_url,
        TOKENBOOKS_XERO__IDENTITY_URL=box.base_url,
        TOKENBOOKS_XERO__CONNECTIONS_URL=box.base_url,
        TOKENBOOKS_XERO__BASE_URL=box.api_url,
        TOKENBOOKS_XERO__REDIRECT_URI=f"http://127.0.0.1:{free_port()}/callback",
        TOKENBOOKS_XERO__TIMEOUT_SECONDS="5",
    )


def stored_tokens(variables):
    from connector.ledgers.tokens import TokenCipher

    [row] = stored_rows(variables)
    return row, TokenCipher(variables["TOKENBOOKS_ENCRYPTION_KEY"]).decrypt(row.token_ciphertext)


def test_connect_xero_books_into_the_organisation_named_by_tenant(tmp_path, monkeypatch, xero_box, browser):
    variables = xero_env(tmp_path, monkeypatch, xero_box)
    xero_box.also_connect(*SECOND_TENANT)
    result = runner.invoke(cli, ["connect", "xero", "--tenant", DEFAULT_TENANT_NAME, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["company_id"] == xero_box.tenant_id
    row, tokens = stored_tokens(variables)
    assert (row.ledger, row.entity, row.company_name) == ("xero", "acme-uk", DEFAULT_TENANT_NAME)
    assert tokens.company_id == xero_box.tenant_id
    assert tokens.refresh_token
    assert "/identity/connect/authorize" in browser.visited[0]
    [health] = json.loads(runner.invoke(cli, ["connections", "--json"]).stdout)
    assert health["health"] == "ok"
    # Xero does not say when a refresh token dies: 60 days after it was last used
    expires = datetime.fromisoformat(health["refresh_expires_at"])
    assert abs(expires - (row.refreshed_at + timedelta(days=60))) < timedelta(seconds=1)


def test_connect_xero_asks_which_organisation_when_the_grant_reaches_several(
    tmp_path, monkeypatch, xero_box, browser
):
    variables = xero_env(tmp_path, monkeypatch, xero_box)
    xero_box.also_connect(*SECOND_TENANT)
    result = runner.invoke(cli, ["connect", "xero"], input="2\n")
    assert result.exit_code == 0, result.output
    assert f"1. {DEFAULT_TENANT_NAME} ({xero_box.tenant_id})" in result.output
    _, tokens = stored_tokens(variables)
    assert tokens.company_id == SECOND_TENANT[0]


def test_connect_xero_for_a_script_names_the_organisations_instead_of_guessing(
    tmp_path, monkeypatch, xero_box, browser
):
    variables = xero_env(tmp_path, monkeypatch, xero_box)
    xero_box.also_connect(*SECOND_TENANT)
    result = runner.invoke(cli, ["connect", "xero", "--json"])
    assert result.exit_code == 2
    payload = json.loads(result.stdout)
    assert f"{SECOND_TENANT[1]} ({SECOND_TENANT[0]})" in payload["error"]
    assert "--tenant" in payload["fix"]
    assert stored_rows(variables) == []


def test_connect_xero_takes_the_only_organisation(tmp_path, monkeypatch, xero_box, browser):
    variables = xero_env(tmp_path, monkeypatch, xero_box)
    assert runner.invoke(cli, ["connect", "xero"]).exit_code == 0
    _, tokens = stored_tokens(variables)
    assert tokens.company_id == xero_box.tenant_id


# --- Xero scopes: apps created on or after 2 March 2026 have only the granular ones ---------------------------

GRANULAR = "offline_access accounting.manualjournals accounting.settings.read accounting.invoices.read"


def test_a_xero_app_created_after_2_march_2026_connects_with_the_granular_scopes_by_default(
    tmp_path, monkeypatch, xero_box, browser
):
    variables = xero_env(tmp_path, monkeypatch, xero_box)  # the sandbox plays a new app: no broad scopes
    result = runner.invoke(cli, ["connect", "xero"])
    assert result.exit_code == 0, result.output
    [consent] = browser.visited
    assert parse_qs(urlparse(consent).query)["scope"] == [GRANULAR]
    _, tokens = stored_tokens(variables)
    assert tokens.scope == GRANULAR


def test_an_older_xero_app_keeps_the_broad_scope_by_setting(tmp_path, monkeypatch, browser):
    with XeroSandbox(tmp_path / "xero.json", legacy_app=True) as box:
        variables = xero_env(tmp_path, monkeypatch, box)
        monkeypatch.setenv("TOKENBOOKS_XERO__SCOPE_SET", "broad")
        result = runner.invoke(cli, ["connect", "xero"])
        assert result.exit_code == 0, result.output
        scope = parse_qs(urlparse(browser.visited[0]).query)["scope"][0]
        assert scope == "offline_access accounting.transactions accounting.settings.read"
        assert stored_tokens(variables)[1].scope == scope


@pytest.mark.parametrize(
    "scope", ["accounting.transactions", "accounting.transactions.read", "paymentservices"]
)
def test_the_xero_sandbox_refuses_a_scope_a_new_app_may_not_request(xero_box, scope):
    answer = requests.get(
        f"{xero_box.base_url}/identity/connect/authorize",
        params={
            "response_type": "code",
            "client_id": xero_box.client_id,
            "redirect_uri": "https://books.example.com/tokenbooks/callback",
            "scope": f"offline_access {scope} accounting.settings.read",
            "state": "s",
        },
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 400  # shown on Xero's page; nothing comes back to the redirect URI
    assert answer.json() == {"error": "unauthorized_client", "error_description": "Invalid scope for client"}


# --- a production QuickBooks company: an https redirect URI the company controls, pasted back ----------------

HTTPS_REDIRECT = "https://books.example.com/tokenbooks/callback"


def consent_redirect(said: list[str]) -> str:
    """What the person's browser does with the printed consent page: approve, and land on the redirect URI."""
    consent = next(text for text in said if "Open this page" in text).rsplit(" ", 1)[-1]
    answer = requests.get(consent, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    return answer.headers["Location"]


def test_a_quickbooks_company_connects_through_an_https_redirect_pasted_back(tmp_path, monkeypatch, qbo):
    from connector.bootstrap import build_app
    from connector.settings import load_settings

    variables = qbo_env(tmp_path, monkeypatch, qbo)
    monkeypatch.setenv("TOKENBOOKS_QUICKBOOKS__REDIRECT_URI", HTTPS_REDIRECT)
    said: list[str] = []
    pasted: list[str] = []

    def ask(prompt: str) -> str:
        pasted.append(consent_redirect(said))
        return pasted[-1]

    connected = connect_ledger(build_app(load_settings()), "quickbooks", "acme-us", say=said.append, ask=ask)
    assert (connected.company_id, connected.company_name) == (qbo.realm_id, "Tokenbooks Sandbox Company")
    [address] = pasted
    assert address.startswith(f"{HTTPS_REDIRECT}?code=")
    code = parse_qs(urlparse(address).query)["code"][0]
    assert all(code not in text for text in said)  # the code is read, never printed
    [row] = stored_rows(variables)
    assert row.company_id == qbo.realm_id


def test_production_quickbooks_with_an_http_or_ip_redirect_is_refused_before_any_consent(
    tmp_path, monkeypatch
):
    environment(
        tmp_path,
        monkeypatch,
        TOKENBOOKS_QUICKBOOKS__CLIENT_ID="prod-client",
        TOKENBOOKS_QUICKBOOKS__CLIENT_SECRET="prod-secret",
        TOKENBOOKS_QUICKBOOKS__BASE_URL="https://quickbooks.api.intuit.com",
        TOKENBOOKS_QUICKBOOKS__REDIRECT_URI="http://127.0.0.1:8765/callback",
    )
    result = runner.invoke(cli, ["connect", "quickbooks", "--json"])
    assert result.exit_code == 2
    payload = json.loads(result.stdout)
    assert "only https redirect URIs" in payload["error"]
    assert "Production settings" in payload["fix"]


def test_existing_quickbooks_tokens_are_imported_and_rotated_at_once(tmp_path, monkeypatch, qbo):
    variables = qbo_env(tmp_path, monkeypatch, qbo)
    issued = qbo.issue_tokens()  # e.g. from Intuit's OAuth playground, for this app
    tokens_file = tmp_path / "tokens.json"
    tokens_file.write_text(json.dumps({"refresh_token": issued["refresh_token"], "realm_id": qbo.realm_id}))
    result = runner.invoke(cli, ["connect", "quickbooks", "--import-tokens", str(tokens_file), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["company_name"] == "Tokenbooks Sandbox Company"
    row, stored = stored_tokens(variables)
    assert stored.refresh_token != issued["refresh_token"]  # spent on a refresh; the rotated one is kept
    assert stored.company_id == row.company_id == qbo.realm_id
    [health] = json.loads(runner.invoke(cli, ["connections", "--json"]).stdout)
    assert health["health"] == "ok"


def test_imported_tokens_that_name_no_company_are_refused_in_plain_words(tmp_path, monkeypatch, qbo):
    qbo_env(tmp_path, monkeypatch, qbo)
    result = runner.invoke(
        cli, ["connect", "quickbooks", "--import-tokens", "-", "--json"], input='{"refresh_token": "x"}'
    )
    assert result.exit_code == 1
    assert "name no company" in json.loads(result.stdout)["error"]
    broken = runner.invoke(cli, ["connect", "quickbooks", "--import-tokens", "-"], input="{not json")
    assert broken.exit_code == 1
    assert "standard input line 1: not JSON" in broken.output


def test_existing_xero_tokens_are_imported_into_the_organisation_they_reach(tmp_path, monkeypatch, xero_box):
    variables = xero_env(tmp_path, monkeypatch, xero_box)
    issued = xero_box.issue_tokens()
    result = runner.invoke(
        cli,
        ["connect", "xero", "--import-tokens", "-", "--json"],
        input=json.dumps({"refresh_token": issued["refresh_token"]}),
    )
    assert result.exit_code == 0, result.output
    _, stored = stored_tokens(variables)
    assert stored.company_id == xero_box.tenant_id
    assert stored.refresh_token != issued["refresh_token"]

"""Xero's identity service (OAuth 2.0) for `tokenbooks connect xero`: consent URL, code exchange, refresh, and
the tenants (organisations) a grant may use.

Endpoints (erps.md §6.2; `../shared/specs/xero_identity.yaml`): authorize `<login>/identity/connect/authorize`,
token `<identity>/connect/token` (HTTP Basic client auth, form body), tenants `GET <api>/connections` with the
new access token. Xero's refresh tokens are single-use (a 30-minute grace for a lost answer): the caller
saves each new pair at once (`TokenManager`). A refused grant (`invalid_grant`) means a person must
reconnect; a refused client (`invalid_client`) is a settings problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import requests

from connector.domain.errors import ConfigError, ReconnectNeeded, Retriable
from connector.ledgers.tokens import TokenSet

ACCESS_SECONDS_DEFAULT = 1800  # Xero access tokens live 30 minutes
RECONNECT_FIX = "a person must reconnect: run `tokenbooks connect xero`"


@dataclass(frozen=True, slots=True)
class XeroTenant:
    tenant_id: str
    name: str
    kind: str  # ORGANISATION | PRACTICE


class XeroIdentity:
    """The OAuth side of a Xero connection, over `requests`."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        scopes: str,
        login_url: str = "https://login.xero.com",
        identity_url: str = "https://identity.xero.com",
        connections_url: str = "https://api.xero.com",
        timeout: float = 60.0,  # float ok: seconds
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        session: requests.Session | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.scopes = scopes
        self.login_url = login_url.rstrip("/")
        self.identity_url = identity_url.rstrip("/")
        self.connections_url = connections_url.rstrip("/")
        self.timeout = timeout
        self.clock = clock
        self.http = session or requests.Session()

    def authorization_url(self, state: str) -> str:
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scopes,
            "state": state,
        }
        return f"{self.login_url}/identity/connect/authorize?{urlencode(query)}"

    def exchange_code(self, code: str, company_id: str = "") -> TokenSet:
        """The first token pair; `company_id` (the tenant) is chosen afterwards from `tenants`."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        return self._tokens(self._token_call(form, "exchange the authorization code"), company_id)

    def refresh(self, tokens: TokenSet) -> TokenSet:
        form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
        return self._tokens(self._token_call(form, "refresh the access token"), tokens.company_id)

    def tenants(self, tokens: TokenSet) -> list[XeroTenant]:
        """The organisations this grant may use (`GET /connections`)."""
        response = self._send(
            "GET",
            f"{self.connections_url}/connections",
            "list the organisations",
            headers={"Authorization": f"Bearer {tokens.access_token}", "Accept": "application/json"},
        )
        if response.status_code == 401:
            raise ReconnectNeeded(
                "Xero refused the new access token when listing organisations", fix=RECONNECT_FIX
            )
        if response.status_code != 200:
            raise Retriable(f"Xero answered HTTP {response.status_code} when listing organisations")
        return [
            XeroTenant(str(t["tenantId"]), str(t.get("tenantName") or ""), str(t.get("tenantType") or ""))
            for t in response.json(parse_float=Decimal)
        ]

    # ------------------------------------------------------------------------------------------ internals

    def _token_call(self, form: dict[str, str], what: str) -> dict[str, Any]:
        response = self._send(
            "POST",
            f"{self.identity_url}/connect/token",
            what,
            data=form,
            auth=(self.client_id, self.client_secret),
            headers={"Accept": "application/json"},
        )
        if response.status_code == 200:
            return response.json(parse_float=Decimal)
        error = _error_name(response)
        if error == "invalid_client" or response.status_code == 401:
            raise ConfigError(
                f"Xero refused to {what}: the app's client id or secret is wrong ({error or response.status_code})",
                fix="check TOKENBOOKS_XERO__CLIENT_ID and TOKENBOOKS_XERO__CLIENT_SECRET (developer.xero.com)",
            )
        if response.status_code == 400:
            raise ReconnectNeeded(
                f"Xero refused to {what} ({error or 'HTTP 400'}: the code or refresh token is invalid, used "
                "or expired)",
                fix=RECONNECT_FIX,
            )
        raise Retriable(f"Xero failed to {what} (HTTP {response.status_code})")

    def _send(self, method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        try:
            return self.http.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise Retriable(
                f"Xero's identity service is unreachable to {what} ({type(exc).__name__})",
                fix="check the network and TOKENBOOKS_XERO__IDENTITY_URL / __CONNECTIONS_URL",
            ) from None

    def _tokens(self, body: dict[str, Any], tenant_id: str) -> TokenSet:
        now = self.clock()
        return TokenSet(
            access_token=str(body["access_token"]),
            refresh_token=str(body.get("refresh_token") or ""),
            access_expires_at=now + timedelta(seconds=int(body.get("expires_in") or ACCESS_SECONDS_DEFAULT)),
            refresh_expires_at=None,  # Xero does not say; an unused refresh token dies after 60 days
            company_id=tenant_id,
            scope=str(body.get("scope") or self.scopes),
        )


def _error_name(response: requests.Response) -> str:
    try:
        return str(response.json().get("error") or "")
    except ValueError:
        return ""

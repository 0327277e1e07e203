"""xero-python's plumbing for tokenbooks: our HTTP transport under the SDK, tokens bound to the vault, OAuth.

- ``sdk_client``: an ``ApiClient`` whose urllib3 pool has a timeout on every call (the SDK sends none unless
  given an *integer*, and drops float timeouts) and no urllib3 retries (urllib3 would silently resend a PUT
  after a read timeout: retries belong to ``RetryPolicy``, after a lookup by key).
- Tokens: the SDK's ``oauth2_token_getter`` reads the connection from the ``TokenManager`` (refreshing through
  it, serialized per connection, the rotated refresh token saved at once) and always hands over ``expires_at``
  — without it the SDK treats a token as never expiring and never refreshes. A refresh the SDK decides on
  itself also goes through the ``TokenManager`` (``VaultToken``); the saver writes what the SDK got to the vault.
  ``expires_at`` is translated from tokenbooks' clock to the SDK's ``time.time()``, so both agree on when the
  token is due.
- ``XeroOAuth``: the authorization URL, the code exchange, refresh (through the SDK's ``TokenApi``, pointed
  per instance at the configured identity URL — the class attribute is never touched) and ``/connections``.

Note: xero-python's ``Configuration`` returns a copy of the *first* instance ever built and ignores its
arguments after that, so attributes are set on the copy, never passed to the constructor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import certifi
import urllib3
from xero_python.api_client import ApiClient
from xero_python.api_client.configuration import Configuration
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi
from xero_python.exceptions import ApiException, OAuth2Error
from xero_python.identity import IdentityApi

from connector.domain.errors import ConfigError, ReconnectNeeded
from connector.ledgers.tokens import TokenManager, TokenSet
from connector.ledgers.xero.errors import RECONNECT, classify

__all__ = [
    "REFRESH_TOKEN_LIFE",
    "SCOPE_SETS",
    "VaultToken",
    "XeroConnection",
    "XeroOAuth",
    "sdk_client",
    "sdk_token",
]

REFRESH_TOKEN_LIFE = timedelta(days=60)  # a refresh token nobody uses dies after 60 days

# The scopes tokenbooks asks for at consent: exactly the endpoints it calls (Xero's scopes page,
# developer.xero.com/documentation/guides/oauth2/scopes, and its Granular Scopes FAQ): ManualJournals
# read and written (`accounting.manualjournals`); Organisation, Accounts and TrackingCategories read
# (`accounting.settings.read`); Invoices read for the bills the AP team entered (`accounting.invoices.read`);
# `offline_access` for a refresh token. Apps created on or after 2 March 2026 have only the granular scopes;
# older apps may keep the broad `accounting.transactions` (ManualJournals and Invoices alike) until
# September 2027 (TOKENBOOKS_XERO__SCOPE_SET=broad).
SCOPE_SETS = {
    "granular": "offline_access accounting.manualjournals accounting.settings.read accounting.invoices.read",
    "broad": "offline_access accounting.transactions accounting.settings.read",
}


class _TimedPoolManager(urllib3.PoolManager):
    """urllib3's pool with a default timeout on every request (the SDK passes ``timeout=None``) and no retries."""

    def __init__(self, timeout: float) -> None:  # float ok: seconds
        super().__init__(
            num_pools=4, maxsize=5, retries=False, cert_reqs="CERT_REQUIRED", ca_certs=certifi.where()
        )
        self.default_timeout = urllib3.Timeout(connect=timeout, read=timeout)

    def urlopen(self, method: str, url: str, redirect: bool = True, **kw: Any) -> Any:
        if kw.get("timeout") is None:
            kw["timeout"] = self.default_timeout
        return super().urlopen(method, url, redirect=redirect, **kw)


def sdk_token(tokens: TokenSet, now: datetime) -> dict[str, Any]:
    """A connection's tokens as the dict xero-python wants, ``expires_at`` on the SDK's clock."""
    remaining = (tokens.access_expires_at - now).total_seconds()
    return {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "token_type": tokens.token_type or "Bearer",
        "scope": tokens.scope.split(),
        "expires_in": max(0, int(remaining)),
        "expires_at": time.time() + remaining,
    }


def token_set(token: dict[str, Any], now: datetime, company_id: str) -> TokenSet:
    """What the identity service answered, as a TokenSet dated by tokenbooks' clock."""
    scope = token.get("scope") or ""
    return TokenSet(
        access_token=str(token["access_token"]),
        refresh_token=str(token.get("refresh_token") or ""),
        access_expires_at=now + timedelta(seconds=int(token.get("expires_in") or 1800)),
        refresh_expires_at=now + REFRESH_TOKEN_LIFE,
        company_id=company_id,
        scope=" ".join(scope) if isinstance(scope, list | tuple) else str(scope),
        token_type=str(token.get("token_type") or "Bearer"),
    )


class VaultToken(OAuth2Token):
    """xero-python's token holder; when the SDK decides to refresh, the ``TokenManager`` does it."""

    def __init__(self, manager: TokenManager, client_id: str, client_secret: str) -> None:
        super().__init__(client_id=client_id, client_secret=client_secret)
        self.manager = manager

    def refresh_access_token(self, api_client: ApiClient) -> bool:
        fresh = self.manager.refresh(stale=self.manager.current())
        token = sdk_token(fresh, self.manager.clock())
        self.update_token(**token)
        api_client.set_oauth2_token(token)
        return True


class _NoRefreshToken(OAuth2Token):
    """For one-off identity calls right after consent: an expired token is an error, never a refresh."""

    def refresh_access_token(self, api_client: ApiClient) -> bool:
        return False


def sdk_client(
    timeout: float,  # float ok: seconds
    *,
    manager: TokenManager | None = None,
    tokens: TokenSet | None = None,
    now: datetime | None = None,
    client_id: str = "",
    client_secret: str = "",
) -> ApiClient:
    """An ApiClient on our transport; with ``manager`` its tokens live in the vault, with ``tokens`` they are fixed."""
    configuration = Configuration()
    getter: Callable[[], dict[str, Any]] | None = None
    saver: Callable[[dict[str, Any]], None] | None = None
    if manager is not None:
        configuration.oauth2_token = VaultToken(manager, client_id, client_secret)
        getter, saver = _vault_getter(manager), _vault_saver(manager)
    elif tokens is not None:
        configuration.oauth2_token = _NoRefreshToken(client_id=client_id, client_secret=client_secret)
        fixed = sdk_token(tokens, now or datetime.now(UTC))
        getter, saver = (lambda: fixed), (lambda _token: None)
    client = ApiClient(configuration, pool_threads=1, oauth2_token_getter=getter, oauth2_token_saver=saver)
    client.rest_client.pool_manager = _TimedPoolManager(timeout)
    return client


def _vault_getter(manager: TokenManager) -> Callable[[], dict[str, Any]]:
    def getter() -> dict[str, Any]:
        manager.access_token()  # refreshes (serialized, saved at once) when tokenbooks' clock says it is due
        return sdk_token(manager.current(), manager.clock())

    return getter


def _vault_saver(manager: TokenManager) -> Callable[[dict[str, Any]], None]:
    def saver(token: dict[str, Any]) -> None:
        current = manager.current()
        if token.get("access_token") and token["access_token"] != current.access_token:
            manager.vault.save(
                manager.ledger, manager.entity, token_set(token, manager.clock(), current.company_id)
            )

    return saver


class _TokenApi(TokenApi):
    """The SDK's token endpoint client with this installation's URLs, set per instance."""

    def __init__(self, api_client: ApiClient, client_id: str, client_secret: str, identity_url: str) -> None:
        super().__init__(api_client, client_id, client_secret)
        self.refresh_token_url = f"{identity_url}/connect/token"
        self.revoke_token_url = f"{identity_url}/connect/revocation"

    def exchange_code(self, code: str, redirect_uri: str) -> dict[str, Any]:
        """The authorization-code grant, posted the way the SDK posts its refresh (it has no method for it)."""
        response, _status, _headers = self.api_client.call_api(
            self.refresh_token_url,
            "POST",
            header_params={"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
            post_params={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            },
            auth_settings=None,
            _preload_content=False,
        )
        return self.parse_token_response(response)


@dataclass(frozen=True, slots=True)
class XeroConnection:
    """One organisation the user connected (GET /connections)."""

    connection_id: str
    tenant_id: str
    tenant_name: str
    tenant_type: str


class XeroOAuth:
    """Xero's OAuth 2.0 endpoints, through xero-python, at the configured URLs."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        identity_url: str,
        login_url: str,
        connections_url: str,
        scopes: str,
        timeout: float = 60.0,  # float ok: seconds
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.identity_url = identity_url.rstrip("/")
        self.login_url = login_url.rstrip("/")
        self.connections_url = connections_url.rstrip("/")
        self.scopes = scopes
        self.timeout = timeout
        self.clock = clock

    def authorization_url(self, state: str) -> str:
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": self.scopes,
                "state": state,
            }
        )
        return f"{self.login_url}/identity/connect/authorize?{query}"

    def exchange_code(self, code: str) -> TokenSet:
        """Tokens for a consent's code; the tenant is chosen afterwards from ``connections``."""
        api = self._token_api()
        token = self._call(
            lambda: api.exchange_code(code, self.redirect_uri),
            "exchanging the authorization code",
            grant="code",
        )
        return token_set(token, self.clock(), "")

    def refresh(self, tokens: TokenSet) -> TokenSet:
        """A new pair for a refresh token (which is single-use: the caller must save the result at once)."""
        if not tokens.refresh_token:
            raise ReconnectNeeded("the Xero connection has no refresh token", fix=RECONNECT)
        api = self._token_api()
        token = self._call(
            lambda: api.refresh_token(tokens.refresh_token, tokens.scope.split()),
            "refreshing the access token",
        )
        fresh = token_set(token, self.clock(), tokens.company_id)
        return fresh if fresh.refresh_token else replace(fresh, refresh_token=tokens.refresh_token)

    def connections(self, tokens: TokenSet) -> list[XeroConnection]:
        client = sdk_client(
            self.timeout,
            tokens=tokens,
            now=self.clock(),
            client_id=self.client_id,
            client_secret=self.client_secret,
        )
        api = IdentityApi(client, base_url=self.connections_url)
        found = self._call(api.get_connections, "listing the connected organisations")
        return [
            XeroConnection(str(c.id), str(c.tenant_id), c.tenant_name or "", c.tenant_type or "")
            for c in found or []
        ]

    def _token_api(self) -> _TokenApi:
        return _TokenApi(sdk_client(self.timeout), self.client_id, self.client_secret, self.identity_url)

    @staticmethod
    def _call(fn: Callable[[], Any], what: str, grant: str = "refresh") -> Any:
        try:
            return fn()
        except (ApiException, OAuth2Error, urllib3.exceptions.HTTPError) as error:
            raise classify(error, what, grant=grant) from None


def choose_tenant(
    connections: Sequence[XeroConnection],
    wanted: str | None,
    ask: Callable[[Sequence[XeroConnection]], XeroConnection] | None = None,
) -> XeroConnection:
    """The organisation to book into: the one named (tenant id or name), the only one, or a person's choice.

    Practices and other non-organisation tenants a consent may list are never candidates.
    """
    organisations = [c for c in connections if c.tenant_type in ("ORGANISATION", "")]
    listed = "; ".join(f"{c.tenant_name} ({c.tenant_id})" for c in organisations) or "none"
    if not organisations:
        raise ReconnectNeeded("the Xero consent connected no organisation", fix=RECONNECT)
    if wanted:
        for connection in organisations:
            if wanted in (connection.tenant_id, connection.tenant_name):
                return connection
        raise ConfigError(
            f"the Xero consent did not connect organisation {wanted!r}; it connected: {listed}",
            fix="pass --tenant with one of those (or correct TOKENBOOKS_XERO__TENANT_ID), or tick that "
            "organisation when connecting again",
        )
    if len(organisations) == 1:
        return organisations[0]
    if ask is None:
        raise ConfigError(
            f"the Xero consent connected {len(organisations)} organisations: {listed}",
            fix="run again with --tenant <id or name>, or set TOKENBOOKS_XERO__TENANT_ID",
        )
    return ask(organisations)

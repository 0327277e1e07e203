"""Ledger connections: connect a company through OAuth, and say how each connection is doing.

`connect_ledger` runs the authorization-code flow (`ledgers/oauth_flow.authorize`: a local callback for a
loopback redirect URI, the redirected address pasted back for any other, such as the https URI a
production QuickBooks app must use), exchanges the code, settles which company the grant books into —
QuickBooks names it in the redirect (`realmId`); Xero's grant may reach several organisations, listed by
`GET /connections`, so the person picks one (or passes `--tenant`) — and stores the connection (tokens
encrypted by the vault). `import_connection` takes over tokens another tool obtained (a refresh token and the
company), proving them with a refresh whose rotated token is stored at once. A new connection clears a
"reconnect needed" alert.

`connection_health` is what `tokenbooks connections` shows: ok / expiring / reconnect needed, token
expiries and age, the last error and the last successful call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlparse

from connector.domain.errors import ConfigError, InputError, ReconnectNeeded
from connector.ledgers.oauth_flow import Ask, authorize, is_ip_address
from connector.ledgers.quickbooks.client import company_name
from connector.ledgers.quickbooks.settings import QuickBooksSettings
from connector.ledgers.registry import LEDGERS
from connector.ledgers.tokens import UNREADABLE, UNREADABLE_FIX, TokenSet
from connector.ledgers.xero.oauth import XeroConnection, choose_tenant
from connector.ledgers.xero.settings import XeroSettings
from connector.store.port import Store
from connector.store.records import ConnectionRecord

# Xero does not say when a refresh token dies: 60 days after its last use (erps.md §6.2).
REFRESH_LIFETIME = {"xero": timedelta(days=60)}
EXPIRING_WITHIN = timedelta(days=14)


class ConnectApp(Protocol):
    """What connecting needs from the composition root (`bootstrap.App`)."""

    settings: Any
    clock: Callable[[], datetime]

    def mapping(self) -> tuple[Any, str]: ...

    def quickbooks_oauth(self) -> Any: ...

    def xero_oauth(self) -> Any: ...

    def token_vault(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class Connected:
    ledger: str
    entity: str
    company_id: str
    company_name: str | None


Chooser = Callable[[Sequence[XeroConnection]], XeroConnection]


def connect_ledger(
    app: ConnectApp,
    ledger: str,
    entity: str,
    *,
    open_browser: bool = True,
    say: Callable[[str], None] = print,
    tenant: str | None = None,
    choose: Chooser | None = None,
    timeout_seconds: float = 300.0,  # float ok: seconds
    ask: Ask | None = None,
    paste: bool = False,
) -> Connected:
    """Send a person through consent for `ledger`, and store the connection for `entity`. `ask` prompts
    for the redirected address when it must be pasted back (`paste`, or a redirect URI that is not local)."""
    _check_entity(app, ledger, entity)
    consent = _Consent(open_browser, say, ask, paste, timeout_seconds)
    if ledger == "quickbooks":
        tokens, name = _connect_quickbooks(app, consent)
    else:
        tokens, name = _connect_xero(app, consent, tenant, choose)
    app.token_vault().connected(ledger, entity, tokens, name)
    return Connected(ledger, entity, tokens.company_id, name)


@dataclass(frozen=True, slots=True)
class _Consent:
    """How the person goes through consent (see `oauth_flow.authorize`)."""

    open_browser: bool
    say: Callable[[str], None]
    ask: Ask | None
    paste: bool
    timeout_seconds: float  # float ok: seconds

    def grant(self, oauth: Any, redirect_uri: str) -> Any:
        return authorize(
            oauth.authorization_url,
            redirect_uri,
            open_browser=self.open_browser,
            say=self.say,
            ask=self.ask,
            paste=self.paste,
            timeout_seconds=self.timeout_seconds,
        )


def import_connection(
    app: ConnectApp,
    ledger: str,
    entity: str,
    document: Mapping[str, Any],
    *,
    tenant: str | None = None,
    choose: Chooser | None = None,
) -> Connected:
    """Take over a connection another tool made: `document` holds its `refresh_token` and, for QuickBooks,
    the company (`realm_id`). The refresh token is spent at once on a refresh (proving it, and rotating it),
    and the new pair is stored encrypted before anything else; the old token is then dead for the other tool.
    The app credentials (client id and secret) must be those the tokens were issued to."""
    _check_entity(app, ledger, entity)
    refresh_token = _text_field(document, "refresh_token")
    if not refresh_token:
        raise InputError(
            "the tokens to import have no refresh_token",
            fix='give a JSON object such as {"refresh_token": "…", "realm_id": "…"}',
        )
    now = app.clock()
    if ledger == "quickbooks":
        realm = _text_field(document, "realm_id", "realmId", "company_id")
        if not realm:
            raise InputError(
                "the QuickBooks tokens to import name no company",
                fix='add "realm_id" (the company id, shown in QuickBooks under Settings → Account and settings '
                "→ Billing & subscription, or in the OAuth playground)",
            )
        settings = app.settings.ledger("quickbooks", QuickBooksSettings)
        _check_pinned_realm(settings, realm)
        tokens = app.quickbooks_oauth().refresh(_imported(refresh_token, realm, now))
        name = company_name(
            settings.base_url, tokens, minorversion=settings.minorversion, timeout=settings.timeout_seconds
        )
    else:
        oauth = app.xero_oauth()
        fresh = oauth.refresh(_imported(refresh_token, "", now, scope=oauth.scopes))
        wanted = (
            tenant
            or _text_field(document, "tenant_id")
            or app.settings.ledger("xero", XeroSettings).tenant_id
        )
        chosen = choose_tenant(oauth.connections(fresh), wanted, choose)
        tokens, name = replace(fresh, company_id=chosen.tenant_id), chosen.tenant_name
    app.token_vault().connected(ledger, entity, tokens, name)
    return Connected(ledger, entity, tokens.company_id, name)


def _imported(refresh_token: str, company_id: str, now: datetime, scope: str = "") -> TokenSet:
    """An imported refresh token, as a connection whose access token is already due."""
    return TokenSet(
        access_token="",
        refresh_token=refresh_token,
        access_expires_at=now,
        company_id=company_id,
        scope=scope,
    )


def _text_field(document: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = document.get(name)
        if isinstance(value, str | int) and str(value).strip():
            return str(value).strip()
    return ""


def _check_entity(app: ConnectApp, ledger: str, entity: str) -> None:
    if ledger not in LEDGERS.connectable():
        raise ConfigError(f"cannot connect {ledger!r}", fix=f"use one of: {', '.join(LEDGERS.connectable())}")
    mapping, _ = app.mapping()
    try:
        books_into = mapping.entity(entity).ledger
    except KeyError:
        known = ", ".join(e.id for e in mapping.entities)
        raise ConfigError(f"entity {entity!r} is not in the mapping", fix=f"use one of: {known}") from None
    if books_into != ledger:
        raise ConfigError(
            f"entity {entity!r} books into {books_into} (mapping {mapping.source}), not {ledger}",
            fix=f"run `tokenbooks connect {books_into} --entity {entity}`, or change the entity's ledger",
        )


def _connect_quickbooks(app: ConnectApp, consent: _Consent) -> tuple[TokenSet, str | None]:
    settings = app.settings.ledger("quickbooks", QuickBooksSettings)
    _check_production_redirect(settings)
    oauth = app.quickbooks_oauth()
    grant = consent.grant(oauth, settings.redirect_uri)
    if not grant.company_id:
        raise ReconnectNeeded(
            "QuickBooks did not say which company was approved (no realmId in the redirect)",
            fix="run `tokenbooks connect quickbooks` again and pick a company on the consent page",
        )
    _check_pinned_realm(settings, grant.company_id)
    tokens = oauth.exchange_code(grant.code, grant.company_id)
    name = company_name(
        settings.base_url, tokens, minorversion=settings.minorversion, timeout=settings.timeout_seconds
    )
    return tokens, name


PRODUCTION_QUICKBOOKS = "quickbooks.api.intuit.com"


def _check_production_redirect(settings: Any) -> None:
    """Intuit refuses, for production keys, a redirect URI that is not https or is an IP address (or
    localhost): say so before the person meets Intuit's own error page."""
    if urlparse(settings.base_url).hostname != PRODUCTION_QUICKBOOKS:
        return  # an Intuit sandbox company (development keys), or a local sandbox
    target = urlparse(settings.redirect_uri)
    if target.scheme != "https" or is_ip_address(target.hostname) or target.hostname == "localhost":
        raise ConfigError(
            f"TOKENBOOKS_QUICKBOOKS__REDIRECT_URI is {settings.redirect_uri}, but Intuit accepts only https "
            "redirect URIs that are not IP addresses or localhost for production companies",
            fix="add an https address your company controls (e.g. https://books.example.com/tokenbooks/callback; "
            "it needs to serve nothing) as a redirect URI under your app's Production settings at "
            "developer.intuit.com, set TOKENBOOKS_QUICKBOOKS__REDIRECT_URI to it, and run connect again: "
            "tokenbooks prints the consent page and asks you to paste the address the browser ends on",
        )


def _check_pinned_realm(settings: Any, realm: str) -> None:
    if settings.realm_id and realm != settings.realm_id:
        raise ConfigError(
            f"QuickBooks company {realm} was approved, but TOKENBOOKS_QUICKBOOKS__REALM_ID pins "
            f"{settings.realm_id}",
            fix="approve the pinned company, or clear TOKENBOOKS_QUICKBOOKS__REALM_ID",
        )


def _connect_xero(
    app: ConnectApp, consent: _Consent, tenant: str | None, choose: Chooser | None
) -> tuple[TokenSet, str | None]:
    oauth = app.xero_oauth()
    grant = consent.grant(oauth, app.settings.ledger("xero", XeroSettings).redirect_uri)
    tokens = oauth.exchange_code(grant.code)
    chosen = choose_tenant(
        oauth.connections(tokens), tenant or app.settings.ledger("xero", XeroSettings).tenant_id, choose
    )
    return replace(tokens, company_id=chosen.tenant_id), chosen.tenant_name


@dataclass(frozen=True, slots=True)
class ConnectionHealth:
    ledger: str
    entity: str
    company_id: str
    company_name: str | None
    health: str  # ok | expiring | reconnect needed
    reason: str | None  # why it is not ok
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    refresh_age: timedelta | None  # how long ago the refresh token arrived
    connected_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ledger": self.ledger,
            "entity": self.entity,
            "company_id": self.company_id,
            "company_name": self.company_name,
            "health": self.health,
            "reason": self.reason,
            "access_expires_at": self.access_expires_at,
            "refresh_expires_at": self.refresh_expires_at,
            "refresh_age_seconds": None
            if self.refresh_age is None
            else int(self.refresh_age.total_seconds()),
            "connected_at": self.connected_at,
            "last_success_at": self.last_success_at,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }


def connection_health(
    store: Store, now: datetime, readable: Callable[[str], bool] | None = None
) -> list[ConnectionHealth]:
    """Health of each stored connection as of `now`. `readable` says whether the configured encryption
    key decrypts a token set; without one (no key set) no connection is `ok`."""
    with store.unit_of_work() as uow:
        return [_health(row, now) for row in uow.connections.all(readable)]


def _health(row: ConnectionRecord, now: datetime) -> ConnectionHealth:
    refresh_expires = row.refresh_expires_at
    if refresh_expires is None and row.refreshed_at and row.ledger in REFRESH_LIFETIME:
        refresh_expires = row.refreshed_at + REFRESH_LIFETIME[row.ledger]
    health, reason = "ok", None
    if row.tokens_readable is None:
        health, reason = "not checked", "TOKENBOOKS_ENCRYPTION_KEY is not set, so the tokens cannot be read"
    elif not row.tokens_readable:
        health, reason = "wrong key", f"{UNREADABLE}: {UNREADABLE_FIX}"
    elif row.status == "reconnect_needed":
        health, reason = "reconnect needed", row.last_error or "the ledger refused the connection"
    elif refresh_expires is not None and refresh_expires <= now:
        health, reason = "reconnect needed", f"the refresh token expired on {refresh_expires:%Y-%m-%d}"
    elif refresh_expires is not None and refresh_expires - now <= EXPIRING_WITHIN:
        health = "expiring"
        reason = f"the refresh token expires on {refresh_expires:%Y-%m-%d} unless tokenbooks runs before then"
    return ConnectionHealth(
        ledger=row.ledger,
        entity=row.entity,
        company_id=row.company_id,
        company_name=row.company_name,
        health=health,
        reason=reason,
        access_expires_at=row.access_expires_at,
        refresh_expires_at=refresh_expires,
        refresh_age=(now - row.refreshed_at) if row.refreshed_at else None,
        connected_at=row.connected_at,
        last_success_at=row.last_success_at,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
    )

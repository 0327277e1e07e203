"""Ledger connections: connect a company through OAuth, and say how each connection is doing.

`connect_ledger` runs the authorization-code flow with the local callback (`ledgers/oauth_flow.authorize`),
exchanges the code, settles which company the grant books into — QuickBooks names it in the redirect
(`realmId`); Xero's grant may reach several organisations, listed by `GET /connections`, so the person
picks one (or passes `--tenant`) — and stores the connection (tokens encrypted by the vault). A new connect
clears a "reconnect needed" alert.

`connection_health` is what `tokenbooks connections` shows: ok / expiring / reconnect needed, token
expiries and age, the last error and the last successful call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from connector.domain.errors import ConfigError, ReconnectNeeded
from connector.ledgers.oauth_flow import authorize
from connector.ledgers.qbo_client import company_name
from connector.ledgers.tokens import UNREADABLE, UNREADABLE_FIX, TokenSet
from connector.ledgers.xero_oauth import XeroConnection, choose_tenant

CONNECTABLE = ("quickbooks", "xero")
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
) -> Connected:
    """Send a person through consent for `ledger`, and store the connection for `entity`."""
    _check_entity(app, ledger, entity)
    if ledger == "quickbooks":
        tokens, name = _connect_quickbooks(app, open_browser, say, timeout_seconds)
    else:
        tokens, name = _connect_xero(app, open_browser, say, tenant, choose, timeout_seconds)
    app.token_vault().connected(ledger, entity, tokens, name)
    return Connected(ledger, entity, tokens.company_id, name)


def _check_entity(app: ConnectApp, ledger: str, entity: str) -> None:
    if ledger not in CONNECTABLE:
        raise ConfigError(f"cannot connect {ledger!r}", fix=f"use one of: {', '.join(CONNECTABLE)}")
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


def _connect_quickbooks(
    app: ConnectApp,
    open_browser: bool,
    say: Callable[[str], None],
    timeout_seconds: float,  # float ok: seconds
) -> tuple[TokenSet, str | None]:
    settings = app.settings.quickbooks
    oauth = app.quickbooks_oauth()
    grant = authorize(
        oauth.authorization_url,
        settings.redirect_uri,
        open_browser=open_browser,
        say=say,
        timeout_seconds=timeout_seconds,
    )
    if not grant.company_id:
        raise ReconnectNeeded(
            "QuickBooks did not say which company was approved (no realmId in the redirect)",
            fix="run `tokenbooks connect quickbooks` again and pick a company on the consent page",
        )
    if settings.realm_id and grant.company_id != settings.realm_id:
        raise ConfigError(
            f"QuickBooks company {grant.company_id} was approved, but TOKENBOOKS_QUICKBOOKS__REALM_ID pins "
            f"{settings.realm_id}",
            fix="approve the pinned company, or clear TOKENBOOKS_QUICKBOOKS__REALM_ID",
        )
    tokens = oauth.exchange_code(grant.code, grant.company_id)
    name = company_name(
        settings.base_url, tokens, minorversion=settings.minorversion, timeout=settings.timeout_seconds
    )
    return tokens, name


def _connect_xero(
    app: ConnectApp,
    open_browser: bool,
    say: Callable[[str], None],
    tenant: str | None,
    choose: Chooser | None,
    timeout_seconds: float,  # float ok: seconds
) -> tuple[TokenSet, str | None]:
    oauth = app.xero_oauth()
    grant = authorize(
        oauth.authorization_url,
        app.settings.xero.redirect_uri,
        open_browser=open_browser,
        say=say,
        timeout_seconds=timeout_seconds,
    )
    tokens = oauth.exchange_code(grant.code)
    chosen = choose_tenant(oauth.connections(tokens), tenant or app.settings.xero.tenant_id, choose)
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
    rows: Sequence[Any], now: datetime, readable: Callable[[str], bool] | None = None
) -> list[ConnectionHealth]:
    """Health of each stored connection (`ConnectionRow`s) as of `now`. `readable` says whether the
    configured encryption key decrypts a token set; without one (no key set) no connection is `ok`."""
    return [_health(row, now, readable) for row in rows]


def _health(row: Any, now: datetime, readable: Callable[[str], bool] | None) -> ConnectionHealth:
    refresh_expires = row.refresh_expires_at
    if refresh_expires is None and row.refreshed_at and row.ledger in REFRESH_LIFETIME:
        refresh_expires = row.refreshed_at + REFRESH_LIFETIME[row.ledger]
    health, reason = "ok", None
    if readable is None:
        health, reason = "not checked", "TOKENBOOKS_ENCRYPTION_KEY is not set, so the tokens cannot be read"
    elif not readable(row.token_ciphertext):
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

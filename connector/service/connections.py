"""Ledger connections: connect a company through OAuth, and say how each connection is doing.

`connect_ledger` runs the authorization-code flow (`ledgers/oauth_flow.authorize`: a local callback for a
loopback redirect URI, the redirected address pasted back for any other, such as the https URI a
production QuickBooks app must use); the ledger's registered connection (`ledgers/<name>/connection.py`)
exchanges the code and settles which company the grant books into — QuickBooks names it in the redirect
(`realmId`); Xero's grant may reach several organisations, so the person picks one (or passes `--tenant`)
— and this module stores the connection (tokens encrypted by the vault). `import_connection` takes over tokens another tool obtained (a refresh token and the
company), proving them with a refresh whose rotated token is stored at once. A new connection clears a
"reconnect needed" alert.

`connection_health` is what `tokenbooks connections` shows: ok / expiring / reconnect needed, token
expiries and age, the last error and the last successful call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from connector.domain.errors import ConfigError, InputError
from connector.ledgers.connection import Choose, LedgerConnection, text_field
from connector.ledgers.oauth_flow import Ask, authorize
from connector.ledgers.registry import LEDGERS
from connector.ledgers.tokens import UNREADABLE, UNREADABLE_FIX
from connector.store.port import Store
from connector.store.records import ConnectionRecord

EXPIRING_WITHIN = timedelta(days=14)


class ConnectApp(Protocol):
    """What connecting needs from the composition root (`bootstrap.App`)."""

    settings: Any
    clock: Callable[[], datetime]

    def mapping(self) -> tuple[Any, str]: ...

    def oauth(self, ledger: str) -> Any: ...

    def token_vault(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class Connected:
    ledger: str
    entity: str
    company_id: str
    company_name: str | None


Chooser = Choose  # a person's pick among the companies a grant reaches (Xero's organisations)


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
    connection = _check_entity(app, ledger, entity)
    consent = _Consent(open_browser, say, ask, paste, timeout_seconds)
    tokens, name = connection.connect(app, consent.grant, company=tenant, choose=choose)
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
    connection = _check_entity(app, ledger, entity)
    refresh_token = text_field(document, "refresh_token")
    if not refresh_token:
        raise InputError(
            "the tokens to import have no refresh_token",
            fix='give a JSON object such as {"refresh_token": "…", "realm_id": "…"}',
        )
    tokens, name = connection.import_tokens(
        app, document, refresh_token, app.clock(), company=tenant, choose=choose
    )
    app.token_vault().connected(ledger, entity, tokens, name)
    return Connected(ledger, entity, tokens.company_id, name)


def _check_entity(app: ConnectApp, ledger: str, entity: str) -> LedgerConnection:
    """The connection of `ledger`, once `entity` is known to book into it."""
    connection = LEDGERS.connection(ledger)
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
    return connection


# a connection's health, as `tokenbooks connections` says it (besides "ok" and "expiring")
RECONNECT_NEEDED, WRONG_KEY, NOT_CHECKED = "reconnect needed", "wrong key", "not checked"


@dataclass(frozen=True, slots=True)
class ConnectionHealth:
    ledger: str
    entity: str
    company_id: str
    company_name: str | None
    health: str  # ok | expiring | reconnect needed | wrong key | not checked (no key set)
    reason: str | None  # why it is not ok
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    refresh_age: timedelta | None  # how long ago the refresh token arrived
    connected_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None

    @property
    def needs_reconnect(self) -> bool:
        """Only a person can bring it back (`tokenbooks connect`): nothing is posted to it until then."""
        return self.health == RECONNECT_NEEDED

    @property
    def unread(self) -> bool:
        """Its tokens were not read: the encryption key is not set, or is not the one they were saved with."""
        return self.health in (WRONG_KEY, NOT_CHECKED)

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


def refresh_lifetime(ledger: str) -> timedelta | None:
    """How long a refresh token of `ledger` lives after its last use, when the ledger does not say (its
    connection declares it; a ledger no longer registered says nothing)."""
    return LEDGERS.connection(ledger).refresh_lifetime if ledger in LEDGERS.connectable() else None


def refresh_expires_at(row: ConnectionRecord) -> datetime | None:
    """When the connection's refresh token stops working: as the ledger said, else its last rotation plus
    the ledger's refresh lifetime; None when neither is known."""
    lifetime = refresh_lifetime(row.ledger)
    if row.refresh_expires_at is None and row.refreshed_at and lifetime is not None:
        return row.refreshed_at + lifetime
    return row.refresh_expires_at


def reconnect_reason(row: ConnectionRecord, now: datetime) -> str | None:
    """Why only a person can bring the connection back (`tokenbooks connect`) as of `now`, or None when
    it needs none: the ledger refused it (revoked, rights lost), or its refresh token expired unused.

    The one decision of "a reconnect is needed": `tokenbooks connections`, /healthz, the
    `tokenbooks_reconnect_needed` metric and the alert all read it, so they never disagree.
    """
    if row.status == "reconnect_needed":
        return row.last_error or "the ledger refused the connection"
    expires = refresh_expires_at(row)
    if expires is not None and expires <= now:
        return f"the refresh token expired on {expires:%Y-%m-%d}"
    return None


def _health(row: ConnectionRecord, now: datetime) -> ConnectionHealth:
    refresh_expires = refresh_expires_at(row)
    reconnect = reconnect_reason(row, now)
    health, reason = "ok", None
    if row.tokens_readable is None:
        health, reason = NOT_CHECKED, "TOKENBOOKS_ENCRYPTION_KEY is not set, so the tokens cannot be read"
    elif not row.tokens_readable:
        health, reason = WRONG_KEY, f"{UNREADABLE}: {UNREADABLE_FIX}"
    elif reconnect is not None:
        health, reason = RECONNECT_NEEDED, reconnect
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

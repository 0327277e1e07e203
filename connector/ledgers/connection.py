"""What an OAuth ledger declares about its connection, so that `tokenbooks connect`, the token vault and the
composition root reach it through the registry and name no ledger.

A ledger package implements `LedgerConnection` (`ledgers/<name>/connection.py`) and hands it to its
`LedgerEntry(connection=…)`: how its OAuth client is built from its settings section, how a consent's grant
becomes tokens for one company, how tokens another tool obtained are taken over, how long a refresh token
lives when the ledger does not say, and the rate limiter shared by everything posting to one company.
`service/connections.py` runs the generic part (the entity check, the consent, storing the tokens) and
`bootstrap.App` builds and caches clients and limiters by ledger name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from connector.domain.errors import ConfigError
from connector.ledgers.rate_limits import RateLimiter
from connector.ledgers.tokens import TokenSet

if TYPE_CHECKING:  # annotations only: the registry holds every connection from start-up, the flow's local
    from connector.ledgers.oauth_flow import Grant  # server (werkzeug) loads when a person connects

# (the ledger's OAuth client, the redirect URI) → what the person approved (`oauth_flow.authorize`)
Consent = Callable[[Any, str], "Grant"]
# a person's pick among the companies a grant reaches (the CLI prompts; a script passes none)
Choose = Callable[[Sequence[Any]], Any]


class LedgerConnection(Protocol):
    """One OAuth ledger's connection. `app` is the composition root (`bootstrap.App`): its settings, clock,
    sleep and `oauth(ledger)`."""

    # how long a refresh token lives after its last use when the ledger does not say (None: it says)
    refresh_lifetime: timedelta | None

    def oauth(self, app: Any) -> Any:
        """The OAuth client (authorization URL, code exchange, refresh) from the ledger's settings section,
        or a ConfigError naming the variables to set."""
        ...

    def connect(
        self, app: Any, consent: Consent, *, company: str | None, choose: Choose | None
    ) -> tuple[TokenSet, str | None]:
        """Run the consent and settle the company the grant books into: (tokens, company name).
        `company` names it where a grant may reach several; `choose` asks a person."""
        ...

    def import_tokens(
        self,
        app: Any,
        document: Mapping[str, Any],
        refresh_token: str,
        now: datetime,
        *,
        company: str | None,
        choose: Choose | None,
    ) -> tuple[TokenSet, str | None]:
        """Take over `refresh_token` (from `document`, another tool's): refresh it at once and settle the
        company, as `connect` does."""
        ...

    def rate_limiter(self, app: Any) -> RateLimiter | None:
        """A new limiter for one company (the composition root keeps one per company), or None when the
        adapter paces itself."""
        ...


Section = TypeVar("Section")


def oauth_arguments(
    app: Any, ledger: str, model: type[Section], label: str, where: str
) -> tuple[Section, dict[str, Any]]:
    """A ledger's settings section (`TOKENBOOKS_<LEDGER>__…`, read as `model`) and the arguments every OAuth
    client takes from it: the app's client id and secret, the redirect URI, the timeout and the app's clock.
    Without the app credentials, a ConfigError naming the variables to set (`where` says where to find them)."""
    settings: Any = app.settings.ledger(ledger, model)
    if not settings.client_id or not settings.client_secret:
        section = ledger.upper()
        raise ConfigError(
            f"{label} app credentials are not set",
            fix=f"set TOKENBOOKS_{section}__CLIENT_ID and TOKENBOOKS_{section}__CLIENT_SECRET (from {where})",
        )
    arguments = {
        "client_id": settings.client_id,
        "client_secret": settings.client_secret.get_secret_value(),
        "redirect_uri": settings.redirect_uri,
        "timeout": settings.timeout_seconds,
        "clock": app.clock,
    }
    return settings, arguments


def imported(refresh_token: str, company_id: str, now: datetime, scope: str = "") -> TokenSet:
    """An imported refresh token, as a connection whose access token is already due."""
    return TokenSet(
        access_token="",
        refresh_token=refresh_token,
        access_expires_at=now,
        company_id=company_id,
        scope=scope,
    )


def text_field(document: Mapping[str, Any], *names: str) -> str:
    """The first of `names` in `document` holding text (or a number), stripped; "" if none does."""
    for name in names:
        value = document.get(name)
        if isinstance(value, str | int) and str(value).strip():
            return str(value).strip()
    return ""

"""Toybooks' connection (`connector/ledgers/connection.LedgerConnection`): a toy OAuth client that rotates
the refresh token on each refresh, a company named by the imported document (or the only one, "toy-1"), a
refresh token that lives 30 days, and one rate limiter per company — so `tokenbooks connect toybooks
--import-tokens`, `tokenbooks connections` and the composition root's per-company limiter reach a fifth
ledger with no line written in the service, the composition root or the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from connector.domain.errors import ConfigError
from connector.ledgers.connection import Choose, Consent, imported, text_field
from connector.ledgers.rate_limits import RateLimiter
from connector.ledgers.tokens import TokenSet
from tests.ledgers.toybooks.settings import ToybooksSettings

COMPANIES = {"toy-1": "Toy Co books", "toy-2": "Toy Co (UK) books"}


@dataclass
class ToyOAuth:
    clock: Any
    refreshed: list[str] = field(default_factory=list)  # the refresh tokens spent, in order

    def refresh(self, tokens: TokenSet) -> TokenSet:
        self.refreshed.append(tokens.refresh_token)
        return replace(
            tokens,
            access_token=f"access-{len(self.refreshed)}",
            refresh_token=f"rotated-{len(self.refreshed)}",
            access_expires_at=self.clock() + timedelta(hours=1),
        )


class ToybooksConnection:
    refresh_lifetime: timedelta | None = timedelta(days=30)

    def __init__(self) -> None:
        self.clients: list[ToyOAuth] = []

    def oauth(self, app: Any) -> ToyOAuth:
        if not app.settings.ledger("toybooks", ToybooksSettings).api_key:
            raise ConfigError("Toybooks app credentials are not set", fix="set TOKENBOOKS_TOYBOOKS__API_KEY")
        self.clients.append(ToyOAuth(app.clock))
        return self.clients[-1]

    def connect(
        self, app: Any, consent: Consent, *, company: str | None, choose: Choose | None
    ) -> tuple[TokenSet, str | None]:
        raise NotImplementedError("toybooks is connected by importing tokens in the tests")

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
        chosen = company or text_field(document, "company") or "toy-1"
        if chosen not in COMPANIES:
            raise ConfigError(
                f"Toybooks has no company {chosen!r}", fix=f"use one of: {', '.join(COMPANIES)}"
            )
        tokens = app.oauth("toybooks").refresh(imported(refresh_token, chosen, now))
        return tokens, COMPANIES[chosen]

    def rate_limiter(self, app: Any) -> RateLimiter:
        return RateLimiter([], clock=app.monotonic, sleep=app.sleep)


CONNECTION = ToybooksConnection()

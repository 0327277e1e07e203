"""Xero's connection (`ledgers/connection.LedgerConnection`): Xero's OAuth client from `TOKENBOOKS_XERO__*`;
a grant may reach several organisations, listed by `GET /connections`, so the one to book into is named
(`--tenant`, the imported document's `tenant_id`, `TOKENBOOKS_XERO__TENANT_ID`), the only one, or picked by
a person; one rate limiter per organisation (Xero's budgets are per app and organisation). The registry
holds it from start-up, so xero-python (`oauth`) is imported only when a client is built or a grant read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from connector.ledgers.connection import Choose, Consent, imported, oauth_arguments, text_field
from connector.ledgers.rate_limits import RateLimiter
from connector.ledgers.tokens import TokenSet
from connector.ledgers.xero.limits import xero_limiter
from connector.ledgers.xero.settings import XeroSettings

if TYPE_CHECKING:
    from connector.ledgers.xero.oauth import XeroOAuth


class XeroLedgerConnection:
    # Xero does not say when a refresh token dies: 60 days after its last use (erps.md §6.2).
    refresh_lifetime: timedelta | None = timedelta(days=60)

    def oauth(self, app: Any) -> XeroOAuth:
        from connector.ledgers.xero.oauth import SCOPE_SETS, XeroOAuth

        xero, arguments = oauth_arguments(
            app, "xero", XeroSettings, "Xero", "developer.xero.com → My Apps → your app → Configuration"
        )
        return XeroOAuth(
            **arguments,
            identity_url=xero.identity_url,
            login_url=xero.login_url,
            connections_url=xero.connections_url,
            scopes=xero.scopes or SCOPE_SETS[xero.scope_set],
        )

    def connect(
        self, app: Any, consent: Consent, *, company: str | None, choose: Choose | None
    ) -> tuple[TokenSet, str | None]:
        from connector.ledgers.xero.oauth import choose_tenant

        oauth = app.oauth("xero")
        grant = consent(oauth, app.settings.ledger("xero", XeroSettings).redirect_uri)
        tokens = oauth.exchange_code(grant.code)
        chosen = choose_tenant(
            oauth.connections(tokens), company or app.settings.ledger("xero", XeroSettings).tenant_id, choose
        )
        return replace(tokens, company_id=chosen.tenant_id), chosen.tenant_name

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
        from connector.ledgers.xero.oauth import choose_tenant

        oauth = app.oauth("xero")
        fresh = oauth.refresh(imported(refresh_token, "", now, scope=oauth.scopes))
        wanted = (
            company
            or text_field(document, "tenant_id")
            or app.settings.ledger("xero", XeroSettings).tenant_id
        )
        chosen = choose_tenant(oauth.connections(fresh), wanted, choose)
        return replace(fresh, company_id=chosen.tenant_id), chosen.tenant_name

    def rate_limiter(self, app: Any) -> RateLimiter:
        xero = app.settings.ledger("xero", XeroSettings)
        return xero_limiter(
            per_minute=xero.calls_per_minute,
            per_day=xero.calls_per_day,
            clock=app.clock,
            sleep=app.sleep,
        )


CONNECTION = XeroLedgerConnection()

"""QuickBooks' connection (`ledgers/connection.LedgerConnection`): Intuit's OAuth client from
`TOKENBOOKS_QUICKBOOKS__*`, the company named by the redirect (`realmId`), and the checks Intuit would
otherwise make the person discover on its own error pages (a production app's redirect URI; the pinned
company). The registry holds it from start-up, so intuit-oauth and python-quickbooks (`client`) are
imported only when a client is built or the company's name read."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from ipaddress import ip_address
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from connector.domain.errors import ConfigError, InputError, ReconnectNeeded
from connector.ledgers.connection import Choose, Consent, imported, oauth_arguments, text_field
from connector.ledgers.quickbooks.settings import QuickBooksSettings
from connector.ledgers.rate_limits import RateLimiter
from connector.ledgers.tokens import TokenSet

if TYPE_CHECKING:
    from connector.ledgers.quickbooks.client import QuickBooksOAuth

PRODUCTION_QUICKBOOKS = "quickbooks.api.intuit.com"


class QuickBooksLedgerConnection:
    refresh_lifetime: timedelta | None = None  # Intuit says when the refresh token expires

    def oauth(self, app: Any) -> QuickBooksOAuth:
        from connector.ledgers.quickbooks.client import QuickBooksOAuth

        qbo, arguments = oauth_arguments(
            app, "quickbooks", QuickBooksSettings, "QuickBooks", "developer.intuit.com → your app → Keys"
        )
        return QuickBooksOAuth(**arguments, discovery_url=qbo.discovery_url)

    def connect(
        self, app: Any, consent: Consent, *, company: str | None, choose: Choose | None
    ) -> tuple[TokenSet, str | None]:
        # `company` and `choose` are for ledgers whose grant reaches several companies: the person picked
        # one QuickBooks company on the consent page
        settings = app.settings.ledger("quickbooks", QuickBooksSettings)
        check_production_redirect(settings)
        oauth = app.oauth("quickbooks")
        grant = consent(oauth, settings.redirect_uri)
        if not grant.company_id:
            raise ReconnectNeeded(
                "QuickBooks did not say which company was approved (no realmId in the redirect)",
                fix="run `tokenbooks connect quickbooks` again and pick a company on the consent page",
            )
        check_pinned_realm(settings, grant.company_id)
        tokens = oauth.exchange_code(grant.code, grant.company_id)
        return tokens, _company_name(settings, tokens)

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
        realm = text_field(document, "realm_id", "realmId", "company_id")
        if not realm:
            raise InputError(
                "the QuickBooks tokens to import name no company",
                fix='add "realm_id" (the company id, shown in QuickBooks under Settings → Account and settings '
                "→ Billing & subscription, or in the OAuth playground)",
            )
        settings = app.settings.ledger("quickbooks", QuickBooksSettings)
        check_pinned_realm(settings, realm)
        tokens = app.oauth("quickbooks").refresh(imported(refresh_token, realm, now))
        return tokens, _company_name(settings, tokens)

    def rate_limiter(self, app: Any) -> RateLimiter | None:
        return None  # the adapter paces itself (`quickbooks_pacer`, built with it)


def _company_name(settings: QuickBooksSettings, tokens: TokenSet) -> str | None:
    from connector.ledgers.quickbooks.client import company_name

    return company_name(
        settings.base_url, tokens, minorversion=settings.minorversion, timeout=settings.timeout_seconds
    )


def check_production_redirect(settings: Any) -> None:
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


def is_ip_address(host: str | None) -> bool:
    try:
        ip_address(host or "")
    except ValueError:
        return False
    return True


def check_pinned_realm(settings: Any, realm: str) -> None:
    if settings.realm_id and realm != settings.realm_id:
        raise ConfigError(
            f"QuickBooks company {realm} was approved, but TOKENBOOKS_QUICKBOOKS__REALM_ID pins "
            f"{settings.realm_id}",
            fix="approve the pinned company, or clear TOKENBOOKS_QUICKBOOKS__REALM_ID",
        )


CONNECTION = QuickBooksLedgerConnection()

"""What Xero (through xero-python and urllib3) says when it refuses, as the project's error classes: one place.

``classify`` is the only code that knows Xero's failure shapes (erps.md §5.3, §6, §7.4):

- 400 with Xero's ``Error`` envelope (``ValidationException``: ``Elements[].ValidationErrors[].Message``) →
  ``Rejected`` carrying Xero's messages; a lock-date message → ``LockedPeriod``;
- 400/401 from the identity service with ``invalid_grant`` → ``ReconnectNeeded``; ``invalid_client`` →
  ``ConfigError`` (the app's id or secret is wrong);
- 401 ``AuthorizationUnsuccessful`` (the granted scopes do not cover the endpoint) → ``ReconnectNeeded`` naming
  the scope settings, without a refresh first;
- 401 from the API (after the caller already refreshed once) and 403 (the token does not reach the tenant:
  disconnected, or the configured tenant id is another organisation's) → ``ReconnectNeeded``;
- 429 → ``RateLimited`` with ``Retry-After``; a ``day`` problem → ``BudgetExhausted`` (the run stops, the next
  one goes on);
- 5xx, a read timeout or a broken connection → ``Retriable``, or ``UncertainOutcome`` for a write (the journals
  may exist: look them up by key before creating again); a refused connection → ``Retriable``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import urllib3.exceptions
from xero_python.exceptions import AccessTokenExpiredError, ApiException, OAuth2Error

from connector.domain.errors import (
    BudgetExhausted,
    ConfigError,
    LockedPeriod,
    RateLimited,
    ReconnectNeeded,
    Rejected,
    Retriable,
    TokenbooksError,
    UncertainOutcome,
)
from connector.retrying import parse_retry_after

__all__ = ["RECONNECT", "classify", "is_lock_message", "is_scope_refusal", "retry_after", "xero_messages"]

RECONNECT = "a person must reconnect Xero: run `tokenbooks connect xero`"
SCOPES_FIX = (
    "connect again (`tokenbooks connect xero`) asking for the scopes tokenbooks needs: leave "
    "TOKENBOOKS_XERO__SCOPES empty, and set TOKENBOOKS_XERO__SCOPE_SET=granular for an app created on or after "
    "2 March 2026 (the default), broad for an older app still on accounting.transactions"
)
LOCK_MARKER = "lock date"
MINUTE_WAIT_SECONDS = 60.0  # when a 429 carries no Retry-After


_INVALID_GRANT = {
    "refresh": "the refresh token was used more than 30 minutes ago, lay unused for 60 days, or the connection "
    "was revoked",
    "code": "the authorization code was used already, is older than 5 minutes, or came back to another "
    "redirect URI",
}


def classify(error: Exception, what: str, *, write: bool = False, grant: str = "refresh") -> TokenbooksError:
    """A failure while doing ``what`` as one of the project's error classes, in Xero's own words.

    ``write``: the call may have changed something (a timeout is then uncertain). ``grant``: which OAuth grant
    an ``invalid_grant`` is about (``refresh`` or ``code``)."""
    if isinstance(error, TokenbooksError):
        return error
    if isinstance(error, urllib3.exceptions.HTTPError):
        return _transport(error, what, write)
    if isinstance(error, AccessTokenExpiredError):
        return ReconnectNeeded(f"Xero's access token expired and cannot be refreshed ({what})", fix=RECONNECT)
    if isinstance(error, OAuth2Error):
        return ConfigError(f"xero-python's token plumbing failed ({type(error).__name__})", fix=RECONNECT)
    if isinstance(error, ApiException):
        return _http(error, what, write, grant)
    raise error


def _transport(error: urllib3.exceptions.HTTPError, what: str, write: bool) -> TokenbooksError:
    refused = isinstance(
        error, urllib3.exceptions.NewConnectionError | urllib3.exceptions.NameResolutionError
    )
    if refused or isinstance(error, urllib3.exceptions.ConnectTimeoutError):
        return Retriable(
            f"Xero is unreachable while {what} ({type(error).__name__})",
            fix="check TOKENBOOKS_XERO__BASE_URL / __IDENTITY_URL and the network; journals stay in the outbox "
            "and are posted on the next run",
        )
    message = f"Xero gave no answer while {what} ({type(error).__name__})"
    return UncertainOutcome(message) if write else Retriable(message)


def _http(error: ApiException, what: str, write: bool, grant: str) -> TokenbooksError:
    status = int(error.status or 0)
    body = _body(error)
    oauth_error = body.get("error") if isinstance(body, dict) else None
    if oauth_error == "invalid_grant":
        return ReconnectNeeded(
            f"Xero refused the grant while {what} (invalid_grant: {_INVALID_GRANT[grant]})", fix=RECONNECT
        )
    if oauth_error == "invalid_client":
        return ConfigError(
            f"Xero does not know this app's credentials (invalid_client) while {what}",
            fix="check TOKENBOOKS_XERO__CLIENT_ID and TOKENBOOKS_XERO__CLIENT_SECRET (developer.xero.com → My Apps)",
        )
    if status == 429:
        return _throttled(error, what)
    if is_scope_refusal(error):
        return ReconnectNeeded(
            f"Xero refused {what} (401 AuthorizationUnsuccessful): the scopes this connection was granted do "
            "not cover it",
            fix=SCOPES_FIX,
        )
    if status == 401:
        detail = body.get("Detail", "") if isinstance(body, dict) else ""
        return ReconnectNeeded(
            f"Xero refused the access token while {what} (401 {detail})".strip(), fix=RECONNECT
        )
    if status == 403:
        return ReconnectNeeded(
            f"Xero refused access to the organisation while {what} (403 AuthenticationUnsuccessful): the "
            "connection no longer reaches this tenant — the app was disconnected in Xero, or "
            "TOKENBOOKS_XERO__TENANT_ID names another organisation",
            fix=f"{RECONNECT} and pick the right organisation (check TOKENBOOKS_XERO__TENANT_ID)",
        )
    if status == 400:
        messages = xero_messages(body) or [str(error.reason or "Bad Request")]
        text = f"Xero refused {what}: " + "; ".join(messages)
        if any(is_lock_message(m) for m in messages):
            return LockedPeriod(
                text,
                code="ValidationException",
                fix="post in an open period, or ask the adviser to move the lock date",
            )
        return Rejected(text, code=str(body.get("Type", "400")) if isinstance(body, dict) else "400")
    if status == 404:
        return Rejected(f"Xero has no such object while {what} (404)", code="404")
    message = f"Xero failed with HTTP {status} while {what}" if status else f"Xero failed while {what}"
    if write:
        return UncertainOutcome(message)
    return Retriable(message, retry_after=retry_after(error))


def _throttled(error: ApiException, what: str) -> TokenbooksError:
    headers = error.headers or {}
    problem = str(headers.get("X-Rate-Limit-Problem") or headers.get("x-rate-limit-problem") or "minute")
    wait = retry_after(error)
    if problem.lower() in ("day", "daylimit"):
        hours = f" (about {wait / 3600:.1f} h)" if wait else ""
        return BudgetExhausted(
            f"Xero's daily call limit for this organisation is used up while {what}; it resets later{hours}",
            retry_after=wait,
            fix="nothing to do: journals not posted stay in the outbox and go out on the next run",
        )
    return RateLimited(
        f"Xero is throttling calls ({problem} limit) while {what}", retry_after=wait or MINUTE_WAIT_SECONDS
    )


def is_scope_refusal(error: ApiException) -> bool:
    """Xero's 401 for an endpoint the granted scopes do not cover ("AuthorizationUnsuccessful", unlike the
    "AuthenticationUnsuccessful" / "TokenExpired" of a bad token): a refreshed token would not help."""
    body = _body(error)
    return (
        int(error.status or 0) == 401
        and isinstance(body, dict)
        and body.get("Detail") == "AuthorizationUnsuccessful"
    )


def retry_after(error: ApiException) -> float | None:  # float ok: seconds
    """The wait Xero's answer asks for (`connector.retrying.parse_retry_after`), None when it asks none."""
    return parse_retry_after((error.headers or {}).get("Retry-After"))


def xero_messages(body: Any) -> list[str]:
    """Every ValidationErrors message in Xero's 400 envelope, else its Message."""
    if not isinstance(body, dict):
        return []
    found = [
        str(error.get("Message"))
        for element in body.get("Elements") or []
        if isinstance(element, dict)
        for error in element.get("ValidationErrors") or []
        if isinstance(error, dict) and error.get("Message")
    ]
    if found:
        return list(dict.fromkeys(found))
    return [str(body["Message"])] if body.get("Message") else []


def is_lock_message(message: str) -> bool:
    """Xero's "The document date cannot be before the period lock date / end of year lock date …"."""
    return LOCK_MARKER in message.lower()


def _body(error: ApiException) -> Any:
    raw = error.body
    if not raw:
        return None
    try:
        return json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        return None

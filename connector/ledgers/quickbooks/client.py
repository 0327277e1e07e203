"""QuickBooks Online over HTTP: Intuit OAuth, python-quickbooks' client with our own session, and the one
place that turns QuickBooks' answers into the project's error classes.

- `QuickBooksOAuth`: intuit-oauth against a discovery document (Intuit's, or the sandbox's); a refused
  refresh (`invalid_grant`) means a person must reconnect; `invalid_client` means the app's own
  credentials are wrong (a `ConfigError`): the connection stays, and works again once they are fixed.
- `QboClient`: python-quickbooks (`use_decimal=True`, explicit `minorversion`) whose HTTP goes through our
  `requests` session: a timeout on every call, pacing before it, and the HTTP status read *before* the SDK
  parses the body. So QuickBooks' XML 429 is throttling (never "Error reading json response"), a 5xx
  or a timeout after a write is an *uncertain* outcome, and a non-JSON 5xx page is named as such. Every
  other refusal is read here too, whatever shape it came in (`read_fault`): the API's JSON `Fault`, the
  gateway's lower-case JSON `fault` (python-quickbooks recognises only the first, and took a 403
  `ApplicationAuthorizationFailed` for a retriable "status code 403" error), or the XML `IntuitResponse`.
- `classify_error` / `classify_fault`: QuickBooks codes (from a batch item or an SDK exception) as
  `Retriable`, `RateLimited`, `ReconnectNeeded`, `ConfigError`, `LockedPeriod`, `DuplicateKey` or
  `Rejected`, each with QuickBooks' own words and what to do.
Facts about the API: ../shared/reference/erps.md, Part A.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.exceptions import AuthorizationException, QuickbooksException

from connector.domain.errors import (
    ConfigError,
    DuplicateKey,
    LockedPeriod,
    RateLimited,
    ReconnectNeeded,
    Rejected,
    Retriable,
    TokenbooksError,
    UncertainOutcome,
)
from connector.ledgers.tokens import TokenSet
from connector.retrying import parse_retry_after

THROTTLE_WAIT_SECONDS = 60.0  # Intuit: a 429 means wait 60 s; QBO sends no Retry-After
RECONNECT_FIX = "a person must reconnect: run `tokenbooks connect quickbooks`"
THROTTLED_FIX = (
    "nothing to do: tokenbooks waits 60 s per 429 (up to TOKENBOOKS_QUICKBOOKS__THROTTLE_BUDGET_SECONDS), "
    "then leaves the rest for the next run; if it happens every night, another app shares this company's limit"
)
TRANSIENT_FIX = (
    "nothing to do: tokenbooks retries, and what is not posted now waits in the outbox for the next run"
)
UNCERTAIN_FIX = (
    "nothing to do: tokenbooks looks the journals up by number before it ever sends them again, so none is "
    "created twice"
)

# Intuit's sign-in service failing is not the connection failing: the page at 3 a.m. must say no one has to
# reconnect (a reconnect would not help), and what happens to the night's journals.
SIGN_IN_OUTAGE_FIX = (
    "nothing to do: the connection is intact (no reconnect); the journals wait in the outbox and the next run "
    "retries. If it lasts, see status.developer.intuit.com and check that this host reaches "
    "oauth.platform.intuit.com"
)


# ----------------------------------------------------------------------------------------------- OAuth


class _AuthClient(AuthClient):
    """intuit-oauth's client with a timeout on every call (it has none of its own)."""

    timeout_seconds: float = 60.0  # float ok: seconds

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout_seconds)
        return super().request(method, url, *args, **kwargs)


class QuickBooksOAuth:
    """The Intuit OAuth 2.0 endpoints, through intuit-oauth, pointed at the configured discovery document."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        discovery_url: str,
        timeout: float = 60.0,  # float ok: seconds
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.discovery_url = discovery_url
        self.timeout = timeout
        self.clock = clock

    def _client(self, **tokens: Any) -> _AuthClient:
        _AuthClient.timeout_seconds = self.timeout
        try:
            return _AuthClient(
                self.client_id, self.client_secret, self.redirect_uri, self.discovery_url, **tokens
            )
        except requests.RequestException as exc:
            raise Retriable(
                f"QuickBooks OAuth discovery document at {self.discovery_url} is unreachable ({type(exc).__name__})",
                fix="check TOKENBOOKS_QUICKBOOKS__DISCOVERY_URL and the network",
            ) from None

    def authorization_url(self, state: str) -> str:
        return self._client().get_authorization_url([Scopes.ACCOUNTING], state_token=state)

    def exchange_code(self, code: str, realm_id: str) -> TokenSet:
        client = self._client()
        self._call(
            lambda: client.get_bearer_token(code, realm_id=realm_id), "exchange the authorization code"
        )
        return self._tokens(client, realm_id)

    def refresh(self, tokens: TokenSet) -> TokenSet:
        client = self._client(refresh_token=tokens.refresh_token)
        self._call(lambda: client.refresh(refresh_token=tokens.refresh_token), "refresh the access token")
        return self._tokens(client, tokens.company_id)

    def _call(self, fn: Callable[[], None], what: str) -> None:
        try:
            fn()
        except AuthClientError as exc:
            if _oauth_error(exc) == "invalid_client":  # the app's own credentials, not the connection
                raise ConfigError(
                    f"QuickBooks does not accept this app's credentials (invalid_client) to {what}: the "
                    "connection itself is intact and recovers by itself once the credentials are right",
                    fix="check TOKENBOOKS_QUICKBOOKS__CLIENT_ID and TOKENBOOKS_QUICKBOOKS__CLIENT_SECRET "
                    "(developer.intuit.com → your app → Keys & credentials); no reconnect is needed",
                ) from None
            if exc.status_code in (400, 401):
                raise ReconnectNeeded(
                    f"QuickBooks refused to {what} (HTTP {exc.status_code}: the refresh token is invalid, "
                    "expired or revoked)",
                    fix=RECONNECT_FIX,
                ) from None
            raise Retriable(
                f"QuickBooks OAuth failed to {what} (HTTP {exc.status_code})", fix=SIGN_IN_OUTAGE_FIX
            ) from None
        except requests.RequestException as exc:
            raise Retriable(
                f"QuickBooks OAuth is unreachable ({type(exc).__name__})", fix=SIGN_IN_OUTAGE_FIX
            ) from None

    def _tokens(self, client: AuthClient, realm_id: str) -> TokenSet:
        now = self.clock()
        refresh_life = getattr(client, "x_refresh_token_expires_in", None)
        return TokenSet(
            access_token=client.access_token,
            refresh_token=client.refresh_token,
            access_expires_at=now + timedelta(seconds=int(client.expires_in or 3600)),
            refresh_expires_at=now + timedelta(seconds=int(refresh_life)) if refresh_life else None,
            company_id=realm_id,
        )


# ---------------------------------------------------------------------------------------------- client


class QboClient(QuickBooks):
    """python-quickbooks with our HTTP session: timeouts, pacing, and status codes read before the SDK parses.

    The ledger sets the four attributes below after construction (python-quickbooks builds instances in
    `__new__` and takes no such arguments).
    """

    http: requests.Session
    timeout_seconds: float  # float ok: seconds
    bearer: Callable[[], str]
    before_call: Callable[[str, str, Any], None]  # (method, url, body): count and pace the call

    def process_request(self, request_type, url, headers="", params="", data=""):
        headers = dict(headers or {})
        headers["Authorization"] = f"Bearer {self.bearer()}"
        write = is_write(request_type, url)
        self.before_call(request_type, url, data)
        where = endpoint_of(url)
        try:
            response = self.http.request(
                request_type, url, headers=headers, params=params, data=data, timeout=self.timeout_seconds
            )
        except requests.ConnectTimeout:
            raise Retriable(
                f"QuickBooks did not accept the connection for {where} in time", fix=TRANSIENT_FIX
            ) from None
        except requests.Timeout:
            message = f"QuickBooks did not answer {where} within {self.timeout_seconds:g}s"
            if write:
                raise UncertainOutcome(message, fix=UNCERTAIN_FIX) from None
            raise Retriable(message, fix=TRANSIENT_FIX) from None
        except requests.ConnectionError as exc:
            if write and not _refused(exc):
                raise UncertainOutcome(
                    f"the connection to QuickBooks broke during {where}", fix=UNCERTAIN_FIX
                ) from None
            raise Retriable(
                f"QuickBooks at {url} is unreachable ({_reason(exc)})",
                fix="check TOKENBOOKS_QUICKBOOKS__BASE_URL and that QuickBooks is up; journals stay in the "
                "outbox and are posted on the next run",
            ) from None
        if is_throttled(response):
            raise RateLimited(
                f"QuickBooks is throttling requests (HTTP {response.status_code} ThrottleExceeded on {where})",
                retry_after=_wait_asked(response, THROTTLE_WAIT_SECONDS),
                fix=THROTTLED_FIX,
            )
        if response.status_code >= 500:
            message = f"QuickBooks failed with HTTP {response.status_code} on {where}{body_note(response)}"
            if write:
                raise UncertainOutcome(message, fix=UNCERTAIN_FIX)
            raise Retriable(
                message, retry_after=parse_retry_after(response.headers.get("Retry-After")), fix=TRANSIENT_FIX
            )
        if response.status_code != 401:  # a 401 is the SDK's AuthorizationException: refresh, then retry
            refusal = refusal_of(response)
            if refusal is not None:
                raise refusal
        return response


@dataclass(frozen=True, slots=True)
class FaultEntry:
    """The first error of a QuickBooks fault, whatever shape it came in."""

    code: int  # 0 when QuickBooks named none
    message: str
    detail: str
    element: str = ""


class QboRefusal(QuickbooksException):
    """A refusal read from the HTTP status and the body before python-quickbooks parses it."""

    def __init__(self, status: int, fault: FaultEntry | None) -> None:
        entry = fault or FaultEntry(0, f"HTTP {status}", "")
        super().__init__(entry.message, entry.code, entry.detail)
        self.status = status
        self.fault = fault


_ERROR_CODE = re.compile(r"errorCode=0*(\d+)")
_XML_ERROR = re.compile(r"<Error\b[^>]*?\bcode=\"(\d+)\"", re.IGNORECASE)


def refusal_of(response: requests.Response) -> QboRefusal | None:
    """The refusal in an answer: any status of 400 or more, or a gateway fault under another status."""
    text = response.text
    head = text[:300]
    if response.status_code < 400 and '"fault"' not in head and "<Fault" not in head:
        return None  # the common case: a normal answer, or the API's own `Fault` that the SDK reads
    fault = read_fault(text)
    if fault is None and response.status_code < 400:
        return None
    return QboRefusal(response.status_code, fault)


def read_fault(text: str) -> FaultEntry | None:
    """The first error of a QuickBooks fault body, or None when the body holds none. Three shapes:

    - the API's JSON: `{"Fault": {"Error": [{"Message", "Detail", "code", "element"}], "type": …}}` (Intuit,
      "Handling common errors"; erps.md §1.9);
    - the gateway's JSON, all lower case, for authentication and authorization refusals:
      `{"warnings": null, "fault": {"error": [{"message": "message=ApplicationAuthorizationFailed;
      errorCode=003100; statusCode=403", "detail": null, "code": "3100", …}], "type": "SERVICE"}, …}`
      (public captures: frappe/erpnext#29161, intuit/oauth-jsclient#2, routablehq/python-quickbooks#250);
    - XML: `<IntuitResponse><Fault type=…><Error code="3100"><Message>…</Message><Detail>…</Detail>`
      (IntuitDeveloper/QBOConceptsTutorial-PHP#13, routablehq/python-quickbooks#120; throttling, erps.md §2.1).
    A missing code is read from `errorCode=003100` in the message."""
    body = text.lstrip()
    if body.startswith("<"):
        return _xml_fault(body)
    try:
        data = json.loads(body, parse_float=Decimal)
    except ValueError:
        return None
    return fault_entry(data)


def fault_entry(data: Any) -> FaultEntry | None:
    """The first error of the `Fault` (or `fault`) object in a parsed answer or batch item."""
    if not isinstance(data, dict):
        return None
    fault = data.get("Fault") or data.get("fault")
    if not isinstance(fault, dict):
        return None
    errors = fault.get("Error") or fault.get("error")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    message, detail = _field(first, "Message"), _field(first, "Detail")
    return FaultEntry(_fault_code(first.get("code"), message), message, detail, _field(first, "element"))


def _field(error: dict[str, Any], name: str) -> str:
    value = error.get(name, error.get(name.lower()))
    return "" if value is None else str(value)


def _fault_code(code: Any, message: str) -> int:
    text = str(code or "").strip()
    if text.isdigit():
        return int(text)
    found = _ERROR_CODE.search(message)
    return int(found.group(1)) if found else 0


def _xml_fault(body: str) -> FaultEntry | None:
    if "<Fault" not in body:
        return None
    code = _XML_ERROR.search(body)
    message = _xml_text(body, "Message")
    return FaultEntry(
        _fault_code(code.group(1) if code else None, message), message, _xml_text(body, "Detail")
    )


def _xml_text(body: str, tag: str) -> str:
    found = re.search(rf"<{tag}>(.*?)</{tag}>", body, re.DOTALL)
    return html.unescape(found.group(1)).strip() if found else ""


def _wait_asked(response: requests.Response, default: float) -> float:  # float ok: seconds
    """The Retry-After QuickBooks sent (0 included), else `default`."""
    asked = parse_retry_after(response.headers.get("Retry-After"))
    return default if asked is None else asked


def is_write(method: str, url: str) -> bool:
    return method == "POST" and not url.split("?")[0].endswith("/query")


def endpoint_of(url: str) -> str:
    """`…/v3/company/123/journalentry?x` → `journalentry` (what a person recognises in a message)."""
    return url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]


def is_throttled(response: requests.Response) -> bool:
    """A 429, or QuickBooks' XML throttle body under another status (older reports show 403)."""
    if response.status_code == 429:
        return True
    text = response.text[:2000] if response.status_code >= 400 else ""
    return text.lstrip().startswith("<") and "ThrottleExceeded" in text


def body_note(response: requests.Response) -> str:
    """A short, safe description of an error body that is not QuickBooks JSON (e.g. a gateway's HTML)."""
    kind = response.headers.get("Content-Type", "").split(";")[0].strip()
    if kind == "application/json":
        return ""
    title = re.search(r"<title>(.*?)</title>", response.text[:4000], re.IGNORECASE | re.DOTALL)
    shown = title.group(1).strip() if title else response.text[:120].strip()
    return f" (not JSON: {kind or 'no content type'}{f', {shown!r}' if shown else ''})"


def _refused(exc: requests.ConnectionError) -> bool:
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text or "NameResolutionError" in text


def _reason(exc: requests.ConnectionError) -> str:
    return "connection refused" if _refused(exc) else type(exc).__name__


# ------------------------------------------------------------------------------------- classification

_LINE_ELEMENT = re.compile(r"Line\[(\d+)\]")
STALE_OBJECT = 5010


def line_of(element: str) -> str:
    """QuickBooks names a line by its 0-based index (`Line[2].JournalEntryLineDetail.AccountRef`): line 3."""
    found = _LINE_ELEMENT.search(element or "")
    return f" line {int(found.group(1)) + 1}" if found else ""


def ledger_words(message: str, detail: str) -> str:
    """QuickBooks' Message and Detail, once each (the Detail often repeats the Message)."""
    message, detail = (message or "").strip(), (detail or "").strip()
    if not detail or detail == message:
        return message
    if detail.startswith(message.split(":")[0]):
        return detail
    return f"{message}: {detail}"


def classify_error(
    code: int, message: str, detail: str, what: str, *, element: str = "", realm: str = ""
) -> TokenbooksError:
    """One QuickBooks error (a Fault entry) as a project error class, in QuickBooks' words, with the fix."""
    said = f"QuickBooks refused {what}{line_of(element)} (code {code}): {ledger_words(message, detail)}"
    if code == 3100:
        return ReconnectNeeded(said, fix=_authorization_fix(realm))
    if code in (100, 120, 3200):
        return ReconnectNeeded(said, fix=RECONNECT_FIX)
    if code == 6190:
        return ConfigError(
            said,
            fix="the QuickBooks subscription has ended or has a billing problem: restore it in QuickBooks "
            "(Settings → Billing & subscription); journals wait in the outbox until then",
        )
    if code == 6210 and "Duplicate" not in detail:
        return LockedPeriod(
            said, code="6210", fix="post in an open period, or move the closing date in QuickBooks"
        )
    if code in (6140, 6210):
        return DuplicateKey(said, code=str(code), fix="see which document holds this number in QuickBooks")
    if code == STALE_OBJECT:
        return Retriable(
            said, fix="someone changed the same record at the same moment; tokenbooks tries again"
        )
    if code == 3001 or "ThrottleExceeded" in f"{message} {detail}":
        return RateLimited(said, retry_after=THROTTLE_WAIT_SECONDS, fix=THROTTLED_FIX)
    if code >= 10000:
        return Retriable(
            said, fix="a QuickBooks system error; tokenbooks tries again (next run at the latest)"
        )
    return Rejected(said, code=str(code), fix=_rejection_fix(code))


def _authorization_fix(realm: str) -> str:
    """What to do about 3100 ApplicationAuthorizationFailed (HTTP 403)."""
    return (
        f"the connection may no longer use QuickBooks company {realm or '(none)'}: the app was disconnected "
        "or lost its rights there, the connecting user is no longer an admin, the realm id is another "
        "company's, or TOKENBOOKS_QUICKBOOKS__BASE_URL is production for a sandbox company (or the reverse). "
        "Check the base URL, then run `tokenbooks connect quickbooks` and pick the company this entity books "
        "into"
    )


def _rejection_fix(code: int) -> str:
    if code in (610, 2500):
        return (
            "an account, class, department or name the journal uses is missing or inactive in QuickBooks: "
            "reactivate it, or correct the mapping (`tokenbooks mappings check`)"
        )
    if code == 6000:
        return "QuickBooks' business rule above says what to change; fix the mapping or the company settings"
    if code in (2010, 2020, 2170):
        return (
            "tokenbooks sent something this QuickBooks company does not accept; report it with this message"
        )
    return "correct what QuickBooks names above; the journal is planned again on the next run"


def classify_fault(exc: QuickbooksException, what: str, *, realm: str = "") -> TokenbooksError:
    """A python-quickbooks exception, or a refusal read before the SDK (`QboRefusal`), as a project error
    class (see `classify_error`)."""
    if isinstance(exc, QboRefusal):
        return _classify_refusal(exc, what, realm)
    code = int(exc.error_code or 0)
    if isinstance(exc, AuthorizationException) and code not in (100, 120, 3100, 3200):
        code = 3200  # the SDK raises it for any HTTP 401, with the status as its code
    if code == 10000 and str(exc.message).startswith("Error reading json response"):
        body = str(exc.message).split(":", 1)[-1].strip()
        if "ThrottleExceeded" in body:
            return RateLimited(
                f"QuickBooks is throttling {what}", retry_after=THROTTLE_WAIT_SECONDS, fix=THROTTLED_FIX
            )
        return Retriable(f"QuickBooks answered {what} with something that is not JSON: {body[:160]!r}")
    return classify_error(code, str(exc.message or ""), str(exc.detail or ""), what, realm=realm)


def _classify_refusal(refusal: QboRefusal, what: str, realm: str) -> TokenbooksError:
    """Classified by QuickBooks' code when the body names one, else by the HTTP status alone."""
    fault = refusal.fault
    if fault is not None and fault.code:
        return classify_error(
            fault.code, fault.message, fault.detail, what, element=fault.element, realm=realm
        )
    said = f"QuickBooks refused {what} (HTTP {refusal.status}" + (
        f": {ledger_words(fault.message, fault.detail)})" if fault else ")"
    )
    if refusal.status == 403:
        return ReconnectNeeded(said, fix=_authorization_fix(realm))
    if refusal.status == 404:
        return ConfigError(
            said, fix="check TOKENBOOKS_QUICKBOOKS__BASE_URL (production or sandbox) and the company id"
        )
    return Rejected(said, code=str(refusal.status), fix=_rejection_fix(0))


def company_name(
    base_url: str,
    tokens: TokenSet,
    *,
    minorversion: int,
    timeout: float,  # float ok: seconds
) -> str | None:
    """The company's name (CompanyInfo), to show which company a connection books into; None if unknown."""
    realm = tokens.company_id
    url = f"{base_url.rstrip('/')}/v3/company/{realm}/companyinfo/{realm}"
    try:
        response = requests.get(
            url,
            params={"minorversion": minorversion},
            headers={"Authorization": f"Bearer {tokens.access_token}", "Accept": "application/json"},
            timeout=timeout,
        )
        return str(response.json()["CompanyInfo"]["CompanyName"]) if response.status_code == 200 else None
    except (requests.RequestException, ValueError, KeyError):
        return None  # only a label: connecting does not depend on it


def _oauth_error(exc: AuthClientError) -> str | None:
    """The OAuth `error` code of a token endpoint's answer (RFC 6749 §5.2), if it gave one."""
    try:
        body = json.loads(exc.content or b"{}")
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None

"""A stateful local Xero: the identity service, ``/connections`` and the Accounting API, over plain HTTP.

It lets the real ``xero-python`` SDK run against loopback in tests and in demos. Behaviour follows
``shared/reference/erps.md`` Part B and the official ``xero_accounting.yaml`` / ``xero_identity.yaml``:
validation errors in Xero's envelope, ``summarizeErrors``, lock dates, Idempotency-Key replay, per-tenant
rate limits with Xero's headers and 429s, single-use refresh tokens with a 30-minute grace.

Credentials (fixed unless the constructor is told otherwise)::

    client id      tokenbooks-xero-sandbox-client
    client secret  tokenbooks-xero-sandbox-secret
    tenant id      6a1f0e37-2b8d-4c52-9a3e-7d41c0b5e8f2  (the organisation's OrganisationID)

How a client gets tokens. Either the authorization-code flow: open
``<base>/identity/connect/authorize?response_type=code&client_id=…&redirect_uri=…&scope=…&state=…`` with any
HTTP client *without following redirects*; the sandbox approves at once (no login page) and answers 302 to
``redirect_uri?code=…&state=…``; then ``POST <base>/connect/token`` (``grant_type=authorization_code``,
``code``, ``redirect_uri``; client by HTTP Basic or form fields) and ``GET <base>/connections`` for the
tenant id. Or, in tests, ``XeroSandbox.issue_tokens()`` (``POST /_sandbox/tokens``) for a ready pair.

Point xero-python at it with ``AccountingApi(api_client, base_url=<base>/api.xro/2.0)``, ``IdentityApi(…,
base_url=<base>)`` and a token URL of ``<base>/connect/token``.

Endpoints:

- ``GET /identity/connect/authorize``; ``POST /connect/token``; ``POST /connect/revocation`` (``token``);
- ``GET /connections[?authEventId=]``, ``DELETE /connections/{id}`` (Bearer), as ``xero_identity.yaml``;
- ``/api.xro/2.0/…`` (see ``xero_api``) with ``Authorization: Bearer`` and ``xero-tenant-id``: no or a dead
  token → 401, a tenant the token is not connected to (or none) → 403, both in Xero's problem shape.
  Writes with ``Idempotency-Key`` (≤ 128 characters) replay the stored answer for 6 minutes by the sandbox
  clock (errors too); the same key with another request → 400. Per tenant at most 60 calls a rolling minute,
  5,000 a rolling day and 5 in flight (and 10,000 a minute app-wide): beyond, 429 with ``Retry-After`` and
  ``X-Rate-Limit-Problem`` (``minute``, ``day``, ``concurrent``, ``appminute``). Every API answer carries
  ``X-MinLimit-Remaining``, ``X-DayLimit-Remaining`` and ``X-AppMinLimit-Remaining``.
- ``/_sandbox/…``: the control surface over HTTP, without auth, faults or limits (see ``xero_admin``).

Faults from a ``FaultPlan`` apply to API calls (``faults``), to writes only (``write_faults``, drawn first for
a PUT or POST: "the answer to the create was lost") and, separately, to the token endpoint
(``token_faults``). State is saved to ``state_file`` after every change and read back when a sandbox is
built on the same file. Nothing starts until ``start()`` or ``serve_forever()``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request

from connector.sandbox.base import LedgerSandbox
from connector.sandbox.common import (
    Clock,
    ConcurrencyGauge,
    FaultPlan,
    InjectedFault,
    Reply,
    SlidingWindowLimiter,
    html_page,
    json_reply,
)
from connector.sandbox.xero_admin import handle_admin
from connector.sandbox.xero_api import ApiResult, XeroApi, validation_error
from connector.sandbox.xero_auth import IdentityRefusal, XeroTokenStore, problem
from connector.sandbox.xero_org import XeroOrganisation, ms_datetime
from connector.sandbox.xero_seed import DEFAULT_TENANT_ID, DEFAULT_TENANT_NAME

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_TENANT_ID",
    "XeroSandbox",
    "serve",
]

DEFAULT_CLIENT_ID = "tokenbooks-xero-sandbox-client"
DEFAULT_CLIENT_SECRET = "tokenbooks-xero-sandbox-secret"
API_PREFIX = "/api.xro/2.0"
# Xero's gateway answers 404 "The resource you're looking for cannot be found" to a URL past about 2 KB:
# a GET whose whole URL exceeded 2,091 characters failed (XeroAPI/Xero-NetStandard#471), 53 ids in a
# query failed (XeroAPI/xero-node#404), IIS's "query string is too long" 404.15 (XeroAPI/Xero-Net#280). The
# sandbox is stricter than the observed figure: 2,048 characters, counted as the real host would see them.
XERO_ORIGIN = "https://api.xero.com"
URL_LIMIT = 2048
_URL_TOO_LONG = "The resource you're looking for cannot be found"
# Scopes (developer.xero.com/documentation/guides/oauth2/scopes and its Granular Scopes FAQ): the broad
# scopes are deprecated, and an app created on or after 2 March 2026 cannot request them; asking anyway
# gets "unauthorized_client : Invalid scope for client" on Xero's page (XeroAPI/xero-postman-oauth2#9,
# 2026, for accounting.transactions; the same words for a restricted scope: XeroAPI/xero-python-oauth2-app#14,
# XeroAPI/xero-ruby#222). Scopes the sandbox does not know are refused the same way (strict). An endpoint the
# granted scopes do not cover answers 401 "AuthorizationUnsuccessful" (XeroAPI/xero-ruby-oauth2-app#82;
# XeroAPI/Xero-NetStandard#178: Accounts without accounting.settings).
BROAD_SCOPES = frozenset(
    {"accounting.transactions", "accounting.transactions.read", "accounting.reports.read"}
)
GRANTABLE_SCOPES = frozenset(
    {"openid", "profile", "email", "offline_access"}
    | {
        f"accounting.{name}{suffix}"
        for name in ("invoices", "payments", "banktransactions", "manualjournals", "settings", "contacts")
        for suffix in ("", ".read")
    }
    | {"accounting.attachments", "accounting.attachments.read", "accounting.budgets.read"}
    | {"accounting.journals.read"}
)
ENDPOINT_SCOPES = {  # the endpoints the sandbox serves → the scopes that reach them
    "organisation": ("accounting.settings",),
    "accounts": ("accounting.settings",),
    "trackingcategories": ("accounting.settings",),
    "manualjournals": ("accounting.manualjournals", "accounting.transactions"),
    "invoices": ("accounting.invoices", "accounting.transactions"),
}
INVALID_SCOPE = "Invalid scope for client"
IDEMPOTENCY_WINDOW = timedelta(minutes=6)
IDEMPOTENCY_KEY_MAX = 128
DAY = timedelta(days=1)

_ROUTES = Map(
    [
        Rule("/identity/connect/authorize", endpoint="authorize", methods=["GET"]),
        Rule("/connect/token", endpoint="token", methods=["POST"]),
        Rule("/connect/revocation", endpoint="revoke", methods=["POST"]),
        Rule("/connections", endpoint="connections", methods=["GET"]),
        Rule("/Connections", endpoint="connections", methods=["GET"]),
        Rule("/connections/<connection_id>", endpoint="disconnect", methods=["DELETE"]),
        Rule("/Connections/<connection_id>", endpoint="disconnect", methods=["DELETE"]),
        Rule(f"{API_PREFIX}/<path:resource>", endpoint="api", methods=["GET", "PUT", "POST"]),
        Rule("/_sandbox/<path:action>", endpoint="admin", methods=["GET", "POST", "DELETE"]),
    ],
    strict_slashes=False,
)


class XeroSandbox(LedgerSandbox):
    """A Xero organisation, its identity service and its limits, served over HTTP by ``start()``."""

    routes = _ROUTES
    logged_headers = (*LedgerSandbox.logged_headers, "xero-tenant-id", "Idempotency-Key", "If-Modified-Since")
    tokens: XeroTokenStore  # Xero's identity service (tenants, connections) on top of the shared grants

    def __init__(
        self,
        state_file: Path | None = None,
        *,
        clock: Clock | None = None,
        faults: FaultPlan | None = None,
        token_faults: FaultPlan | None = None,
        write_faults: FaultPlan | None = None,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        tenant_id: str = DEFAULT_TENANT_ID,
        tenant_name: str = DEFAULT_TENANT_NAME,
        host: str = "127.0.0.1",
        port: int = 0,
        calls_per_minute: int = 60,
        calls_per_day: int = 5000,
        max_concurrent_calls: int = 5,
        app_calls_per_minute: int = 10_000,
        throttle_retry_after: int = 30,
        drafts_ignore_lock_dates: bool = True,
        legacy_app: bool = False,
    ) -> None:
        super().__init__(
            state_file, clock=clock, faults=faults, token_faults=token_faults, host=host, port=port
        )
        self.write_faults = write_faults or FaultPlan()
        self.client_id = client_id
        self.client_secret = client_secret
        self.throttle_retry_after = throttle_retry_after  # what an injected 429 tells the client to wait
        # an app created before 2 March 2026, which may still ask for the broad scopes (until September 2027)
        self.legacy_app = legacy_app
        self._load_or_seed(tenant_id, tenant_name, drafts_ignore_lock_dates)
        self._api = XeroApi(self.org, self.clock.now)
        self._limits = {
            "minute": SlidingWindowLimiter(calls_per_minute, self.clock),
            "day": SlidingWindowLimiter(calls_per_day, self.clock, window=DAY),
            "appminute": SlidingWindowLimiter(app_calls_per_minute, self.clock),
        }
        self._limit_lock = threading.Lock()
        self._in_flight = ConcurrencyGauge(max_concurrent_calls)

    # --- Where it listens --------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """What to give ``AccountingApi(api_client, base_url=…)``."""
        return self.base_url + API_PREFIX

    @property
    def token_url(self) -> str:
        return self.base_url + "/connect/token"

    @property
    def tenant_id(self) -> str:
        return self.org.tenant_id

    # --- Persistence ------------------------------------------------------------------------------------

    def _load_or_seed(self, tenant_id: str, tenant_name: str, drafts_ignore_lock_dates: bool) -> None:
        saved = self.saved_state()
        if saved is None:
            self.org = XeroOrganisation.seeded(tenant_id, tenant_name, self.clock.now)
            self._idempotency: dict[str, dict[str, Any]] = {}
        else:
            self.org = XeroOrganisation(saved["organisation"], self.clock.now)
            self._idempotency = saved["idempotency"]
        self.org.drafts_ignore_lock_dates = drafts_ignore_lock_dates
        names = {self.org.tenant_id: self.org.data["organisation"]["Name"]}
        tokens = saved["tokens"] if saved is not None else None
        self.tokens = XeroTokenStore(self.clock, self.client_id, self.client_secret, names, tokens)
        if saved is None:
            self._save()

    def snapshot(self) -> dict[str, Any]:
        return {
            "organisation": self.org.to_dict(),
            "tokens": self.tokens.to_dict(),
            "idempotency": self._idempotency,
        }

    # --- Control surface: what a person in the Xero UI, or a test, does ----------------------------------

    def set_lock_dates(
        self, period: date | str | None = None, end_of_year: date | str | None = None
    ) -> dict[str, Any]:
        """Set (or with None clear) the period lock date and the end-of-year lock date."""
        with self._changing():
            self.org.set_lock_dates(period, end_of_year)
            return self.org.organisation_view()

    def organisation(self) -> dict[str, Any]:
        with self._lock:
            return self.org.organisation_view()

    def add_account(
        self, code: str, name: str, account_type: str, *, status: str = "ACTIVE", system_account: str = ""
    ) -> dict[str, Any]:
        with self._changing():
            return self.org.add_account(
                code, name, account_type, status=status, system_account=system_account
            )

    def set_account_status(self, code: str, status: str) -> dict[str, Any]:
        """E.g. ``("613", "ARCHIVED")``: the account stays in the chart but cannot be journaled to."""
        with self._changing():
            return self.org.set_account_status(code, status)

    def set_tracking_status(self, category: str, option: str | None, status: str) -> dict[str, Any]:
        with self._changing():
            return self.org.set_tracking_status(category, option, status)

    def manual_journals(self) -> list[dict[str, Any]]:
        """Every stored manual journal, as the API returns it (deleted and voided ones included)."""
        with self._lock:
            return self.org.journals_view()

    def delete_journal_by_hand(self, key: str) -> dict[str, Any]:
        """A person deletes (draft) or voids (posted) the journal narrated with ``key``."""
        with self._changing():
            return self.org.delete_journal_by_hand(key)

    def edit_journal_by_hand(self, key: str, **changes: Any) -> dict[str, Any]:
        """A person edits the journal narrated with ``key`` (``JournalLines``, ``Date``, ``Narration`` …)."""
        with self._changing():
            return self.org.edit_journal_by_hand(key, changes)

    def add_bill(
        self,
        contact: str,
        lines: list[tuple[str, Decimal | str, str]],
        *,
        bill_date: date | str,
        number: str = "",
        status: str = "AUTHORISED",
        currency: str | None = None,
    ) -> dict[str, Any]:
        """Enter a supplier bill (an ACCPAY invoice); ``lines`` are (account code, amount, description)."""
        day = date.fromisoformat(bill_date) if isinstance(bill_date, str) else bill_date
        parsed = [(code, Decimal(str(amount)), text) for code, amount, text in lines]
        with self._changing():
            return self.org.add_bill(
                contact, parsed, bill_date=day, number=number, status=status, currency=currency
            )

    def bills(self) -> list[dict[str, Any]]:
        with self._lock:
            return [i for i in self.org.invoices_view() if i["Type"] == "ACCPAY"]

    def issue_tokens(self, tenant_id: str | None = None, scope: str = "") -> dict[str, Any]:
        """A fresh token pair connected to ``tenant_id`` (default: this organisation), skipping consent."""
        with self._changing():
            return self.tokens.issue(tenant_id or self.tenant_id, scope or _DEFAULT_SCOPE)

    def disconnect_tenant(self) -> None:
        """The organisation's adviser removes the app: tokens live on, but calls for the tenant get 403."""
        with self._changing():
            self.tokens.disconnect_tenant(self.tenant_id)

    def also_connect(self, tenant_id: str, name: str) -> None:
        """Consents from now on also connect another organisation (no Accounting data of its own): the
        case where the person approving ticks several organisations and tokenbooks must ask which one."""
        with self._changing():
            self.tokens.tenants[tenant_id] = name

    def in_flight(self) -> int:
        return self._in_flight.in_flight(self.tenant_id)

    def reset_rate_limits(self) -> None:
        for limiter in self._limits.values():
            limiter.reset()

    def consume_calls(self, calls: int) -> None:
        """Another app (or a person's script) spends ``calls`` of this tenant's minute and day budgets."""
        with self._limit_lock:
            for name in ("minute", "day"):
                self._limits[name].record(self.tenant_id, calls)

    def remaining(self) -> dict[str, int]:
        """What the rate-limit headers would say now."""
        with self._limit_lock:
            return {
                "X-MinLimit-Remaining": self._left("minute", self.tenant_id),
                "X-DayLimit-Remaining": self._left("day", self.tenant_id),
                "X-AppMinLimit-Remaining": self._left("appminute", _APP),
            }

    def _left(self, name: str, key: str) -> int:
        limiter = self._limits[name]
        return max(0, limiter.limit - limiter.count(key))

    # --- WSGI ---------------------------------------------------------------------------------------------

    def serve_endpoint(
        self, endpoint: str, args: dict[str, str], request: Request, note: dict[str, Any]
    ) -> Reply:
        if endpoint == "authorize":
            return self._authorize(request)
        if endpoint == "token":
            return self._token(request, note)
        if endpoint == "revoke":
            return self._revoke(request)
        if endpoint == "connections":
            return self._connections(request)
        if endpoint == "disconnect":
            return self._disconnect(request, args["connection_id"])
        return self._api_call(request, args["resource"], note)

    def admin(self, method: str, action: str, raw_body: bytes, args: Mapping[str, str]) -> tuple[int, Any]:
        return handle_admin(self, method, action, raw_body, args)

    def internal_error(self, note: dict[str, Any]) -> Reply:
        return _server_error(500)

    def time_text(self, moment: datetime) -> str:
        return ms_datetime(moment)

    # --- Identity -----------------------------------------------------------------------------------------

    def _authorize(self, request: Request) -> Reply:
        """Approve at once (the sandbox has no login or consent page) and redirect with a code."""
        args = request.args
        if args.get("client_id") != self.client_id:
            return json_reply(400, {"error": "unauthorized_client"})
        if args.get("response_type") != "code":
            return json_reply(400, {"error": "unsupported_response_type"})
        redirect_uri = args.get("redirect_uri", "")
        if not redirect_uri:
            return json_reply(
                400, {"error": "invalid_request", "error_description": "redirect_uri is required"}
            )
        scope = args.get("scope", "")
        refused = [s for s in scope.split() if not self._may_request(s)]
        if refused:
            # Xero shows this on its own page and does not redirect back (the captures cited above SCOPES)
            return json_reply(400, {"error": "unauthorized_client", "error_description": INVALID_SCOPE})
        with self._changing():
            code = self.tokens.issue_code(redirect_uri, scope)
        query = urlencode({"code": code, "scope": scope, "state": args.get("state", "")})
        separator = "&" if "?" in redirect_uri else "?"
        return Reply(302, "", "text/plain", {"Location": f"{redirect_uri}{separator}{query}"})

    def _may_request(self, scope: str) -> bool:
        if scope in BROAD_SCOPES:
            return self.legacy_app
        return scope in GRANTABLE_SCOPES

    def _revoke(self, request: Request) -> Reply:
        try:
            with self._changing():
                self.tokens.check_client(request.headers.get("Authorization"), request.form)
                self.tokens.revoke(request.form.get("token"))
        except IdentityRefusal as refusal:
            return json_reply(refusal.status, refusal.body)
        return Reply(200, "", "text/plain")

    def _connections(self, request: Request) -> Reply:
        try:
            with self._lock:
                grant = self.tokens.authenticate(request.headers.get("Authorization"))
                return json_reply(200, self.tokens.connections(grant, request.args.get("authEventId")))
        except IdentityRefusal as refusal:
            return json_reply(refusal.status, refusal.body, refusal.headers)

    def _disconnect(self, request: Request, connection_id: str) -> Reply:
        try:
            with self._changing():
                grant = self.tokens.authenticate(request.headers.get("Authorization"))
                found = self.tokens.disconnect(grant, connection_id)
        except IdentityRefusal as refusal:
            return json_reply(refusal.status, refusal.body, refusal.headers)
        return (
            Reply(204, "", "text/plain") if found else json_reply(404, {"Title": "NotFound", "Status": 404})
        )

    # --- The Accounting API: authentication, limits, faults, idempotency ---------------------------------

    def _api_call(self, request: Request, resource: str, note: dict[str, Any]) -> Reply:
        if len(XERO_ORIGIN) + len(request.full_path.rstrip("?")) > URL_LIMIT:
            note["refused"] = "url too long"
            return Reply(404, html_page(404, _URL_TOO_LONG), "text/html")
        tenant = request.headers.get("xero-tenant-id", "")
        note["tenant"] = tenant
        try:
            with self._lock:
                grant = self.tokens.authenticate(request.headers.get("Authorization"))
                self.tokens.authorize_tenant(grant, tenant)
                _check_scope(grant["scope"], request.method, resource)
        except IdentityRefusal as refusal:
            return json_reply(refusal.status, refusal.body, refusal.headers)
        with self._in_flight.slot(tenant) as admitted:
            if not admitted:
                return self._with_limits(self._throttled("concurrent", 1, note), tenant)
            refused = self._admit(tenant)
            if refused is not None:
                return self._with_limits(self._throttled(*refused, note), tenant)
            fault = (
                self.write_faults.draw() if request.method in ("PUT", "POST") else None
            ) or self.faults.draw()
            return self._under_fault(
                fault,
                note,
                lambda injected: self._with_limits(self.act_out(injected, note), tenant),
                lambda: self._with_limits(self._apply(request, resource, tenant, note), tenant),
                late=lambda: self._apply(request, resource, tenant, {}, late=True),
            )

    def _admit(self, tenant: str) -> tuple[str, int] | None:
        """Count the call against the minute, day and app limits, all or nothing; else (problem, wait)."""
        with self._limit_lock:
            keys = {"minute": tenant, "day": tenant, "appminute": _APP}
            for name, key in keys.items():
                wait = self._limits[name].free_in(key)
                if wait > timedelta():
                    return name, max(1, int(wait.total_seconds() + 0.999))
            for name, key in keys.items():
                self._limits[name].record(key)
            return None

    def _apply(
        self, request: Request, resource: str, tenant: str, note: dict[str, Any], *, late: bool = False
    ) -> Reply:
        """Run the call, or replay the stored answer to the same Idempotency-Key (errors included). A
        ``late`` call was admitted when its key was unknown, so it runs whatever was stored since (what
        Xero does with a key whose first request is still in flight is unknown: the sandbox is strict)."""
        method, raw_body = request.method, request.get_data()
        key = request.headers.get("Idempotency-Key") if method in ("PUT", "POST") else None
        headers = {name: request.headers[name] for name in ("If-Modified-Since",) if name in request.headers}
        with self._lock:
            if key is not None:
                if not 0 < len(key) <= IDEMPOTENCY_KEY_MAX:
                    message = f"The Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} characters long"
                    return json_reply(400, validation_error(message))
                fingerprint = _fingerprint(method, request.full_path, raw_body)
                remembered = None if late else self._remembered(f"{tenant}:{key}")
                if remembered is not None:
                    if remembered["fingerprint"] != fingerprint:
                        message = f"The Idempotency-Key '{key}' is used with a different request"
                        return json_reply(400, validation_error(message))
                    note["replayed"] = True
                    return Reply(**remembered["reply"])
            result: ApiResult = self._api.handle(method, resource, request.args.to_dict(), raw_body, headers)
            reply = json_reply(result.status, result.body)
            if key is not None and not (late and f"{tenant}:{key}" in self._idempotency):
                self._idempotency[f"{tenant}:{key}"] = {
                    "fingerprint": fingerprint,
                    "stored_at": self.clock.now().isoformat(),
                    "reply": reply.to_dict(),
                }
            if result.mutated or key is not None:
                self._save()
            return reply

    def _remembered(self, scoped_key: str) -> dict[str, Any] | None:
        """The stored answer for a key still inside its 6-minute window; older ones are forgotten."""
        oldest_kept = self.clock.now() - IDEMPOTENCY_WINDOW
        for stale in [
            k for k, v in self._idempotency.items() if datetime.fromisoformat(v["stored_at"]) <= oldest_kept
        ]:
            del self._idempotency[stale]
        return self._idempotency.get(scoped_key)

    # --- Answers ------------------------------------------------------------------------------------------

    def _with_limits(self, reply: Reply, tenant: str) -> Reply:
        with self._limit_lock:
            reply.headers |= {
                "X-MinLimit-Remaining": str(self._left("minute", tenant)),
                "X-DayLimit-Remaining": str(self._left("day", tenant)),
                "X-AppMinLimit-Remaining": str(self._left("appminute", _APP)),
            }
        return reply

    @staticmethod
    def _throttled(limit: str, retry_after: int, note: dict[str, Any] | None = None) -> Reply:
        if note is not None:
            note["throttled"] = limit
        refusal = problem(429, f"Rate limit exceeded: {limit}")
        headers = {"Retry-After": str(retry_after), "X-Rate-Limit-Problem": limit}
        return json_reply(429, refusal.body, headers)

    def act_out(self, fault: InjectedFault, note: dict[str, Any] | None = None) -> Reply:
        if fault.kind == "throttle":
            return self._throttled("minute", self.throttle_retry_after, note)
        if fault.kind == "timeout":
            return self._lost(fault)
        return _server_error(fault.status)


_APP = "__app__"  # the key of the app-wide minute limit
_DEFAULT_SCOPE = "offline_access accounting.manualjournals accounting.settings.read accounting.invoices.read"


def _check_scope(granted: str, method: str, resource: str) -> None:
    """401 AuthorizationUnsuccessful unless the grant's scopes cover the endpoint: a GET is covered by a
    scope or its ``.read`` form, a write by the scope itself (Xero's scopes page). An endpoint the sandbox
    has no scope for is covered by none (strict)."""
    scopes = set(granted.split())
    endpoint = resource.strip("/").split("/")[0].lower()
    needed = ENDPOINT_SCOPES.get(endpoint, ())
    covering = {*needed, *(f"{s}.read" for s in needed)} if method == "GET" else set(needed)
    if not scopes & covering:
        raise problem(401, "AuthorizationUnsuccessful")


def _server_error(status: int) -> Reply:
    if status == 500:
        detail = "An error occurred in Xero. Check the API Status page http://status.developer.xero.com"
        return json_reply(500, {"Title": "An error occurred", "Status": 500, "Detail": detail})
    return Reply(status, html_page(status, "Service Unavailable"), "text/html")


def _fingerprint(method: str, full_path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + full_path.encode() + b"\n" + body).hexdigest()


def serve(port: int, state_file: Path) -> None:
    """Run the sandbox in the foreground (``tokenbooks sandbox xero --port N --state FILE``)."""
    sandbox = XeroSandbox(state_file, port=port)

    def announce(base_url: str) -> None:
        print(f"Xero sandbox listening on {base_url}")
        print(f"  Accounting API (AccountingApi base_url):  {base_url}{API_PREFIX}")
        print(f"  token URL (refresh, code exchange):       {base_url}/connect/token")
        print(f"  authorize URL:                            {base_url}/identity/connect/authorize")
        print(f"  connections (IdentityApi base_url):       {base_url}")
        print(f"  client id:      {sandbox.client_id}")
        print(f"  client secret:  {sandbox.client_secret}")
        print(f"  tenant id:      {sandbox.tenant_id}")
        print(f"  state file:     {state_file}")
        print(f"  quick tokens:   POST {base_url}/_sandbox/tokens")
        print("  for tokenbooks: TOKENBOOKS_XERO__BASE_URL, __IDENTITY_URL, __CONNECTIONS_URL, __LOGIN_URL")
        print("Press Ctrl-C to stop.", flush=True)

    sandbox.serve_forever(announce)

"""A stateful local QuickBooks Online: the Accounting API (v3) and Intuit OAuth 2.0, over plain HTTP.

It lets the real ``python-quickbooks`` and ``intuit-oauth`` (intuitlib) clients run against loopback in tests
and in ``tokenbooks demo``. Behaviour follows ``shared/reference/erps.md`` Part A: fault envelopes and
codes, DocNumber rules, closed periods, ``requestid`` replay, batch limits, throttling, token rotation.

Credentials (fixed unless the constructor is told otherwise)::

    client id      tokenbooks-sandbox-client
    client secret  tokenbooks-sandbox-secret
    realm id       9341452000000001
    discovery URL  <base>/.well-known/openid_configuration

How a client gets tokens. Either run the authorization-code flow: build ``AuthClient(client_id,
client_secret, redirect_uri, environment="<base>/.well-known/openid_configuration")`` (intuitlib treats an
environment that is not production/sandbox as the discovery URL), open ``get_authorization_url(...)`` with
any HTTP client *without following redirects*: the sandbox approves at once (there is no login page) and
answers 302 to ``redirect_uri?code=…&state=…&realmId=…``; then ``get_bearer_token(code, realm_id=…)``.
Or, in tests, call ``QuickBooksSandbox.issue_tokens()`` (or ``POST /_sandbox/tokens``) for a ready pair.

Endpoints (``/v3`` answers are JSON with a ``"time"`` field unless noted):

- ``GET /.well-known/openid_configuration`` (also ``…_sandbox_configuration``, with or without a trailing
  slash): the discovery document.
- ``GET /connect/oauth2?client_id&response_type=code&scope&redirect_uri&state``: approves, 302 with a code.
- ``POST /oauth2/v1/tokens/bearer`` (HTTP Basic client auth, form body): ``grant_type=authorization_code``
  (``code``, ``redirect_uri``) or ``grant_type=refresh_token`` (``refresh_token``). Errors:
  ``401 {"error":"invalid_client"}``, ``400 {"error":"invalid_grant",…}``.
- ``POST /oauth2/v1/tokens/revoke`` (Basic auth, JSON ``{"token": …}``): revokes that token's grant.
- ``GET /v1/openid_connect/userinfo`` (Bearer) and ``GET /oauth2/v1/keys`` (an empty JWKS).
- ``/v3/company/<realm>/…`` with ``Authorization: Bearer <access token>``: ``POST journalentry`` (create,
  update with Id+SyncToken, ``?operation=delete``), ``GET journalentry/<id>``, ``POST bill``,
  ``GET bill/<id>``, ``GET account|class|department|vendor/<id>``, ``GET companyinfo/<realm>``,
  ``GET preferences``, ``POST query`` (SQL body, ``application/text``) or ``GET query?query=…``,
  ``POST batch`` (≤ 30 items). ``?requestid=`` (≤ 50 chars; ≤ 36 on a batch, then bIds ≤ 10) makes a POST
  replay its first answer. Missing/expired/revoked token: 401 AuthenticationFault 3200; another realm's
  token or an unknown realm: 403 AuthorizationFault 3100. Over 500 requests/min (batch items count one
  each), 40 batches/min or 10 concurrent requests per realm: 429 with QBO's XML body.
- ``/_sandbox/…``: the control surface over HTTP, without auth, faults or limits (see ``qbo_admin``).

Faults from a ``FaultPlan`` apply to ``/v3`` calls (``faults``) and, separately, to the token endpoint
(``token_faults``). ``queue_write_fault(code)`` makes the next JournalEntry create answer a QuickBooks error
(5010, 6000, 6190, 6210, 10000) in its real envelope; ``end_subscription()`` makes every ``/v3`` call answer
6190 until ``restore_subscription()``; ``request_id_replay=False`` plays a QuickBooks that does not honour
``requestid`` (reports say it does not always dedupe, erps.md §1.5). These three are not persisted. State is saved to ``state_file`` after every change and read back when a sandbox is
built on the same file. Nothing starts until ``start()`` or ``serve_forever()``.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

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
from connector.sandbox.oauth import IdentityRefusal
from connector.sandbox.qbo_admin import handle_admin
from connector.sandbox.qbo_api import QboApi, batch_weight
from connector.sandbox.qbo_auth import TokenStore
from connector.sandbox.qbo_errors import (
    QboFault,
    authorization_failed,
    business_validation,
    invalid_company_status,
    invalid_property,
    period_closed,
    qbo_time,
    stale_object,
    system_error,
    throttle_xml,
)
from connector.sandbox.qbo_state import CompanyState

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_REALM_ID",
    "QuickBooksSandbox",
    "serve",
]

DEFAULT_REALM_ID = "9341452000000001"
DEFAULT_CLIENT_ID = "tokenbooks-sandbox-client"
DEFAULT_CLIENT_SECRET = "tokenbooks-sandbox-secret"
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
REQUEST_ID_MAX = 50

_ROUTES = Map(
    [
        Rule("/.well-known/openid_configuration", endpoint="discovery"),
        Rule("/.well-known/openid_configuration/", endpoint="discovery"),
        Rule("/.well-known/openid_sandbox_configuration", endpoint="discovery"),
        Rule("/.well-known/openid_sandbox_configuration/", endpoint="discovery"),
        Rule("/connect/oauth2", endpoint="authorize", methods=["GET"]),
        Rule("/oauth2/v1/tokens/bearer", endpoint="token", methods=["POST"]),
        Rule("/oauth2/v1/tokens/revoke", endpoint="revoke", methods=["POST"]),
        Rule("/v1/openid_connect/userinfo", endpoint="userinfo", methods=["GET"]),
        Rule("/oauth2/v1/keys", endpoint="jwks", methods=["GET"]),
        Rule("/v3/company/<realm>/<path:resource>", endpoint="v3", methods=["GET", "POST"]),
        Rule("/_sandbox/<path:action>", endpoint="admin", methods=["GET", "POST", "DELETE"]),
    ],
    strict_slashes=False,
)


class QuickBooksSandbox(LedgerSandbox):
    """A QBO company, its OAuth server and its limits, served over HTTP by ``start()``."""

    routes = _ROUTES
    tokens: TokenStore  # Intuit's OAuth server on top of the shared grants

    def __init__(
        self,
        state_file: Path | None = None,
        *,
        clock: Clock | None = None,
        faults: FaultPlan | None = None,
        token_faults: FaultPlan | None = None,
        realm_id: str = DEFAULT_REALM_ID,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        host: str = "127.0.0.1",
        port: int = 0,
        retry_after_seconds: int | None = None,
        requests_per_minute: int = 500,
        batch_requests_per_minute: int = 40,
        max_concurrent_requests: int = 10,
        request_id_replay: bool = True,
        gateway_faults: str = "json",
    ) -> None:
        super().__init__(
            state_file, clock=clock, faults=faults, token_faults=token_faults, host=host, port=port
        )
        self.client_id = client_id
        self.client_secret = client_secret
        # Whether QBO sends Retry-After on a 429 is unconfirmed (erps.md §2.1), so by default it does not.
        self.retry_after_seconds = retry_after_seconds
        self.request_id_replay = request_id_replay
        # 401/403 come from Intuit's gateway as lower-case JSON or as XML (both captured: qbo_errors).
        self.gateway_faults = gateway_faults
        self.subscription_active = True
        self.app_authorized = True
        self._load_or_seed(realm_id)
        self._api = QboApi(self.company)
        self._per_minute = SlidingWindowLimiter(requests_per_minute, self.clock)
        self._batches_per_minute = SlidingWindowLimiter(batch_requests_per_minute, self.clock)
        self._limit_lock = threading.Lock()
        self._in_flight = ConcurrencyGauge(max_concurrent_requests)

    # --- Where it listens --------------------------------------------------------------------------------

    @property
    def discovery_url(self) -> str:
        return self.base_url + "/.well-known/openid_configuration"

    @property
    def api_url_v3(self) -> str:
        """What to assign to python-quickbooks' ``QuickBooks.api_url_v3``."""
        return self.base_url + "/v3"

    @property
    def realm_id(self) -> str:
        return self.company.realm_id

    # --- Persistence ------------------------------------------------------------------------------------

    def _load_or_seed(self, realm_id: str) -> None:
        saved = self.saved_state()
        if saved is None:
            self.company = CompanyState.seeded(realm_id, self.clock.now)
            self.tokens = TokenStore(self.clock, self.client_id, self.client_secret)
            self._replay: dict[str, dict[str, Any]] = {}
            self._save()
            return
        # A saved company keeps its own realm id, whatever the constructor was given.
        self.company = CompanyState(saved["company"], self.clock.now)
        self.tokens = TokenStore(self.clock, self.client_id, self.client_secret, saved["tokens"])
        self._replay = saved["replay"]

    def snapshot(self) -> dict[str, Any]:
        return {"company": self.company.to_dict(), "tokens": self.tokens.to_dict(), "replay": self._replay}

    # --- Control surface: what a person in the QBO UI, or a test, does ------------------------------------

    def set_book_close_date(self, close_date: date | str | None) -> None:
        """Close the books up to and including ``close_date``; None reopens them."""
        with self._changing():
            self.company.set_book_close_date(close_date)

    def set_preference(self, name: str, value: Any) -> None:
        """E.g. ``("MultiCurrencyEnabled", True)``, ``("WarnDuplicateJournalNumber", False)``."""
        with self._changing():
            self.company.set_preference(name, value)

    def preferences(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.company.preferences())

    def set_exchange_rate(self, source: str, as_of: date | str, rate: Decimal | str) -> dict[str, Any]:
        """Multicurrency: the rate of `source` in home currency for a day (`SELECT * FROM ExchangeRate`)."""
        with self._changing():
            return self.company.set_exchange_rate(source, as_of, rate)

    def queue_write_fault(self, code: str | int, times: int = 1, *, detail: str = "") -> None:
        """The next ``times`` JournalEntry creates (alone or as batch items) fail with QuickBooks ``code``:
        5010 stale object, 6000 business validation (``detail`` says which rule), 6190 invalid company
        status, 6210 period closed, 10000 system failure."""
        builders = {
            "5010": stale_object,
            "6000": lambda: business_validation(detail or "An unexpected error occurred"),
            "6190": invalid_company_status,
            "6210": period_closed,
            "10000": system_error,
        }
        with self._lock:
            for _ in range(times):
                self._api.write_faults.append(builders[str(code)]())

    def end_subscription(self) -> None:
        """The company's subscription ends: every /v3 call answers 6190 Invalid Company Status."""
        self.subscription_active = False

    def restore_subscription(self) -> None:
        self.subscription_active = True

    def deauthorize_app(self) -> None:
        """The app loses its rights on the company (the connecting user is no longer an admin, access was
        removed): every /v3 call answers 403 ApplicationAuthorizationFailed (3100), tokens still valid."""
        self.app_authorized = False

    def authorize_app(self) -> None:
        self.app_authorized = True

    def add_account(
        self,
        name: str,
        account_type: str,
        *,
        acct_num: str | None = None,
        account_sub_type: str | None = None,
        active: bool = True,
    ) -> dict[str, Any]:
        with self._changing():
            return self.company.add_account(
                name, account_type, acct_num=acct_num, account_sub_type=account_sub_type, active=active
            )

    def account(self, account_id: str) -> dict[str, Any]:
        with self._lock:
            row = self.company.account(account_id)
            if row is None:
                raise KeyError(f"no account with Id {account_id}")
            return copy.deepcopy(row)

    def set_account_active(self, account_id: str, active: bool) -> dict[str, Any]:
        with self._changing():
            return self.company.set_active("Account", account_id, active)

    def set_class_active(self, class_id: str, active: bool) -> dict[str, Any]:
        with self._changing():
            return self.company.set_active("Class", class_id, active)

    def set_department_active(self, department_id: str, active: bool) -> dict[str, Any]:
        with self._changing():
            return self.company.set_active("Department", department_id, active)

    def set_vendor_active(self, vendor_id: str, active: bool) -> dict[str, Any]:
        with self._changing():
            return self.company.set_active("Vendor", vendor_id, active)

    def journal_entries(self) -> list[dict[str, Any]]:
        """Every stored journal entry, as the API would return it, in Id order."""
        with self._lock:
            return self.company.journal_entries()

    def bills(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self.company.rows("Bill"))

    def delete_journal_by_hand(self, doc_number: str) -> dict[str, Any]:
        """A person deletes the entry in the QBO UI (no SyncToken, closing date not enforced)."""
        with self._changing():
            return self.company.delete_journal_by_hand(doc_number)

    def edit_journal_by_hand(
        self,
        doc_number: str,
        *,
        lines: list[dict[str, Any]] | None = None,
        txn_date: date | str | None = None,
        private_note: str | None = None,
        new_doc_number: str | None = None,
    ) -> dict[str, Any]:
        """A person edits the entry in the QBO UI; its SyncToken and LastUpdatedTime move on."""
        with self._changing():
            return self.company.edit_journal_by_hand(
                doc_number,
                lines=lines,
                txn_date=txn_date,
                private_note=private_note,
                new_doc_number=new_doc_number,
            )

    def add_bill(
        self,
        vendor_id: str,
        lines: list[tuple[str, Decimal | str]],
        *,
        txn_date: date | str | None = None,
        doc_number: str | None = None,
        private_note: str | None = None,
    ) -> dict[str, Any]:
        """Enter a vendor bill; ``lines`` are (expense account id, amount) pairs."""
        with self._changing():
            return self.company.add_bill(
                vendor_id, lines, txn_date=txn_date, doc_number=doc_number, private_note=private_note
            )

    def issue_tokens(self, realm_id: str | None = None) -> dict[str, Any]:
        """A fresh access/refresh token pair (plus ``realm_id``), skipping the OAuth dance."""
        with self._changing():
            return self.tokens.issue(realm_id or self.realm_id)

    def in_flight(self) -> int:
        """/v3 requests of this company being served right now."""
        return self._in_flight.in_flight(self.realm_id)

    def reset_rate_limits(self) -> None:
        self._per_minute.reset()
        self._batches_per_minute.reset()

    # --- WSGI ---------------------------------------------------------------------------------------------

    def serve_endpoint(
        self, endpoint: str, args: dict[str, str], request: Request, note: dict[str, Any]
    ) -> Reply:
        if endpoint == "discovery":
            return json_reply(200, self._discovery_document(request.host_url.rstrip("/")))
        if endpoint == "authorize":
            return self._authorize(request)
        if endpoint == "token":
            return self._token(request, note)
        if endpoint == "revoke":
            return self._revoke(request)
        if endpoint == "userinfo":
            return self._userinfo(request)
        if endpoint == "jwks":
            return json_reply(200, {"keys": []})
        return self._v3(request, args["realm"], args["resource"], note)

    def log_entry(self, request: Request, reply: Reply) -> dict[str, Any]:
        return super().log_entry(request, reply) | {
            "minorversion": request.args.get("minorversion"),
            "requestid": request.args.get("requestid"),
        }

    def admin(self, method: str, action: str, raw_body: bytes, args: Mapping[str, str]) -> tuple[int, Any]:
        return handle_admin(self, method, action, raw_body, args)

    def internal_error(self, note: dict[str, Any]) -> Reply:
        return self._fault_reply(system_error(), note)

    def time_text(self, moment: datetime) -> str:
        return qbo_time(moment)

    # --- OAuth --------------------------------------------------------------------------------------------

    @staticmethod
    def _discovery_document(base: str) -> dict[str, Any]:
        return {
            "issuer": base,
            "authorization_endpoint": base + "/connect/oauth2",
            "token_endpoint": base + "/oauth2/v1/tokens/bearer",
            "userinfo_endpoint": base + "/v1/openid_connect/userinfo",
            "revocation_endpoint": base + "/oauth2/v1/tokens/revoke",
            "jwks_uri": base + "/oauth2/v1/keys",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile", "address", "phone", ACCOUNTING_SCOPE],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        }

    def _authorize(self, request: Request) -> Reply:
        """Approve at once (the sandbox has no login or consent page) and redirect with a code."""
        args = request.args
        if args.get("client_id") != self.client_id:
            return json_reply(400, {"error": "invalid_client", "error_description": "Unknown client_id"})
        if args.get("response_type") != "code":
            return json_reply(400, {"error": "unsupported_response_type"})
        if ACCOUNTING_SCOPE not in args.get("scope", "").split():
            return json_reply(
                400, {"error": "invalid_scope", "error_description": f"scope needs {ACCOUNTING_SCOPE}"}
            )
        redirect_uri = args.get("redirect_uri", "")
        if not redirect_uri:
            return json_reply(
                400, {"error": "invalid_request", "error_description": "redirect_uri is required"}
            )
        with self._changing():
            code = self.tokens.issue_code(self.realm_id, redirect_uri)
        query = {"code": code, "state": args.get("state", ""), "realmId": self.realm_id}
        separator = "&" if "?" in redirect_uri else "?"
        location = redirect_uri + separator + "&".join(f"{k}={_quote(v)}" for k, v in query.items())
        return Reply(302, "", "text/plain", {"Location": location})

    def _revoke(self, request: Request) -> Reply:
        try:
            with self._changing():
                self.tokens.check_client(request.headers.get("Authorization"), request.form)
                payload = request.get_json(silent=True) or {}
                token = payload.get("token") if isinstance(payload, dict) else None
                self.tokens.revoke(token or request.form.get("token"))
        except IdentityRefusal as refusal:
            return json_reply(refusal.status, refusal.body)
        return Reply(200, "", "text/plain")

    def _userinfo(self, request: Request) -> Reply:
        try:
            with self._lock:
                self.tokens.authenticate(request.headers.get("Authorization"), self.realm_id)
        except QboFault:
            return json_reply(401, {"error": "invalid_token"})
        return json_reply(
            200,
            {"sub": "sandbox-user", "email": "sandbox@tokenbooks.invalid", "emailVerified": True}
            | {"givenName": "Sandbox", "familyName": "User"},
        )

    # --- /v3: authentication, limits, faults, replay ------------------------------------------------------

    def _v3(self, request: Request, realm: str, resource: str, note: dict[str, Any]) -> Reply:
        try:
            with self._lock:
                self.tokens.authenticate(request.headers.get("Authorization"), realm)
            if realm != self.realm_id:
                raise authorization_failed(f"Company {realm} is not known to this sandbox")
            if not self.app_authorized:
                raise authorization_failed("")
            if not self.subscription_active:
                raise invalid_company_status()
        except QboFault as fault:
            return self._fault_reply(fault, note)
        with self._in_flight.slot(realm) as admitted:
            if not admitted:
                note["throttled"] = "concurrency"
                return self._throttled()
            raw_body = request.get_data()
            is_batch = request.method == "POST" and resource.strip("/").lower() == "batch"
            if not self._admit(realm, batch_weight(raw_body) if is_batch else 1, is_batch, note):
                return self._throttled()
            params = request.args.to_dict()
            return self._under_fault(
                self.faults.draw(),
                note,
                self.act_out,
                lambda: self._apply(request.method, resource, params, raw_body, note),
                late=lambda: self._apply(request.method, resource, params, raw_body, {}, late=True),
            )

    def _admit(self, realm: str, weight: int, is_batch: bool, note: dict[str, Any]) -> bool:
        """Count the call against the per-minute limits, all or nothing; False means 429."""
        with self._limit_lock:
            if not self._per_minute.has_room(realm, weight):
                note["throttled"] = "requests_per_minute"
                return False
            if is_batch and not self._batches_per_minute.has_room(realm):
                note["throttled"] = "batches_per_minute"
                return False
            self._per_minute.record(realm, weight)
            if is_batch:
                self._batches_per_minute.record(realm)
            return True

    def _apply(
        self,
        method: str,
        resource: str,
        params: dict[str, str],
        raw_body: bytes,
        note: dict[str, Any],
        *,
        late: bool = False,
    ) -> Reply:
        """Run the call, or replay the first answer to the same ``requestid`` (errors included). A ``late``
        call was admitted when nothing was remembered under its requestid, so it runs whatever was since."""
        request_id = params.get("requestid")
        if request_id is not None and len(request_id) > REQUEST_ID_MAX:
            fault = invalid_property(f"requestid may be at most {REQUEST_ID_MAX} characters", "requestid")
            return self._fault_reply(fault, note)
        remembered = method == "POST" and request_id is not None and self.request_id_replay
        with self._lock:
            if remembered and request_id in self._replay and not late:
                note["replayed"] = True
                return Reply(**self._replay[request_id])
            result = self._api.handle(method, resource, params, raw_body)
            reply = self._json_v3(result.status, result.body)
            if remembered:
                self._replay.setdefault(request_id, reply.to_dict())
            if result.mutated or remembered:
                self._save()
            return reply

    # --- Answers ------------------------------------------------------------------------------------------

    def _json_v3(self, status: int, body: dict[str, Any]) -> Reply:
        return json_reply(status, body | {"time": qbo_time(self.clock.now())})

    def _fault_reply(self, fault: QboFault, note: dict[str, Any] | None = None) -> Reply:
        if note is not None:
            note["error_code"] = fault.code
        if fault.gateway and self.gateway_faults == "xml":
            return Reply(fault.status, fault.gateway_xml(self.clock.now()), "application/xml")
        if fault.gateway:
            return json_reply(fault.status, fault.gateway_json(self.clock.now()))
        return self._json_v3(fault.status, fault.envelope())

    def _throttled(self) -> Reply:
        headers = {} if self.retry_after_seconds is None else {"Retry-After": str(self.retry_after_seconds)}
        return Reply(429, throttle_xml(self.clock.now()), "application/xml", headers)

    def act_out(self, fault: InjectedFault) -> Reply:
        if fault.kind == "throttle":
            return self._throttled()
        if fault.kind == "timeout":
            return self._lost(fault)
        if fault.status == 500:
            return self._fault_reply(system_error(500))
        return Reply(fault.status, html_page(fault.status, "Service Unavailable"), "text/html")


def _quote(value: str) -> str:
    return quote(value, safe="")


def serve(port: int, state_file: Path) -> None:
    """Run the sandbox in the foreground (``tokenbooks sandbox quickbooks --port N --state FILE``)."""
    sandbox = QuickBooksSandbox(state_file, port=port)

    def announce(base_url: str) -> None:
        print(f"QuickBooks Online sandbox listening on {base_url}")
        print(f"  API base (python-quickbooks api_url_v3): {base_url}/v3")
        print(f"  discovery URL (intuitlib environment):   {base_url}/.well-known/openid_configuration")
        print(f"  client id:      {sandbox.client_id}")
        print(f"  client secret:  {sandbox.client_secret}")
        print(f"  realm id:       {sandbox.realm_id}")
        print(f"  state file:     {state_file}")
        print(f"  quick tokens:   POST {base_url}/_sandbox/tokens")
        print("Press Ctrl-C to stop.", flush=True)

    sandbox.serve_forever(announce)

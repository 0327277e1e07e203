"""QuickBooks Online through python-quickbooks (and intuit-oauth), for real, over HTTP.

- An explicit client per connection, `use_decimal=True`, `minorversion` set; never the global client.
- Our own `requests` session under the SDK (`_Client.process_request`): a timeout on every call, and the
  HTTP status read before the SDK parses the body, so a 429 (whose body is XML) is throttling, not a
  "json error", and a timeout after a create is an *uncertain* outcome, not a failure.
- Every create carries `requestid` (stable across retries); after an uncertain outcome the journal is
  looked up by DocNumber (= the tokenbooks key) before it is ever created again.
- SDK exceptions become the project's error classes in `classify_fault`, the one place that knows
  QuickBooks error codes.
Facts about the API: ../shared/reference/erps.md, Part A.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.exceptions import AuthorizationException, QuickbooksException
from quickbooks.objects.account import Account
from quickbooks.objects.base import Ref
from quickbooks.objects.bill import Bill
from quickbooks.objects.department import Department
from quickbooks.objects.journalentry import JournalEntry, JournalEntryLine, JournalEntryLineDetail
from quickbooks.objects.trackingclass import Class
from quickbooks.objects.vendor import Vendor

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
from connector.domain.journals import Journal, LedgerTarget
from connector.ledgers.port import (
    LedgerAccount,
    LedgerBill,
    LedgerJournal,
    LedgerLine,
    LedgerStats,
    PostOutcome,
    PostRequest,
    PostResult,
    TrackingOption,
)
from connector.ledgers.tokens import TokenManager, TokenSet
from connector.retrying import RetryPolicy

LEDGER = "quickbooks"
THROTTLE_WAIT_SECONDS = 60.0  # Intuit: a 429 means wait 60 s; QBO sends no Retry-After
PAGE_SIZE = 1000
# QuickBooks lists only active names unless asked; inactive ones must be seen to say "inactive", not "missing".
ALL_ACTIVE_STATES = " WHERE Active IN (true, false)"


# ----------------------------------------------------------------------------------------------- OAuth


class _AuthClient(AuthClient):
    """intuit-oauth's client with a timeout on every call (it has none of its own)."""

    timeout_seconds: float = 60.0  # float ok: seconds

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
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
            if exc.status_code in (400, 401):
                raise ReconnectNeeded(
                    f"QuickBooks refused to {what} (HTTP {exc.status_code}: the refresh token is invalid, "
                    "expired or revoked)",
                    fix="a person must reconnect: run `tokenbooks connect quickbooks`",
                ) from None
            raise Retriable(f"QuickBooks OAuth failed to {what} (HTTP {exc.status_code})") from None
        except requests.RequestException as exc:
            raise Retriable(f"QuickBooks OAuth is unreachable ({type(exc).__name__})") from None

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


class _Client(QuickBooks):
    """python-quickbooks with our HTTP session: timeouts, and status codes read before the SDK parses."""

    http: requests.Session
    timeout_seconds: float  # float ok: seconds
    bearer: Callable[[], str]
    on_call: Callable[[str, str], None]

    def process_request(self, request_type, url, headers="", params="", data=""):
        headers = dict(headers or {})
        headers["Authorization"] = f"Bearer {self.bearer()}"
        is_write = request_type == "POST" and not url.endswith("/query")
        self.on_call(request_type, url)
        try:
            response = self.http.request(
                request_type, url, headers=headers, params=params, data=data, timeout=self.timeout_seconds
            )
        except requests.ConnectTimeout:
            raise Retriable(f"QuickBooks at {url} did not accept the connection in time") from None
        except requests.Timeout:
            if is_write:
                raise UncertainOutcome(
                    f"QuickBooks did not answer {url} within {self.timeout_seconds:g}s"
                ) from None
            raise Retriable(f"QuickBooks did not answer {url} within {self.timeout_seconds:g}s") from None
        except requests.ConnectionError as exc:
            if is_write and not _refused(exc):
                raise UncertainOutcome(f"the connection to QuickBooks broke during {url}") from None
            raise Retriable(
                f"QuickBooks at {url} is unreachable ({_reason(exc)})",
                fix="check TOKENBOOKS_QUICKBOOKS__BASE_URL and that QuickBooks is up; journals stay in the "
                "outbox and are posted on the next run",
            ) from None
        if response.status_code == 429:
            raise RateLimited(
                "QuickBooks is throttling requests (429 ThrottleExceeded)",
                retry_after=_retry_after(response) or THROTTLE_WAIT_SECONDS,
            )
        if response.status_code >= 500:
            message = f"QuickBooks failed with HTTP {response.status_code} on {url}"
            if is_write:
                raise UncertainOutcome(message)
            raise Retriable(message, retry_after=_retry_after(response))
        return response


def _refused(exc: requests.ConnectionError) -> bool:
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text or "NameResolutionError" in text


def _reason(exc: requests.ConnectionError) -> str:
    return "connection refused" if _refused(exc) else type(exc).__name__


def _retry_after(response: requests.Response) -> float | None:  # float ok: seconds
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value else None  # float ok: seconds
    except ValueError:
        return None


def classify_fault(exc: QuickbooksException, what: str) -> TokenbooksError:
    """A python-quickbooks exception as one of the project's error classes, with the ledger's words."""
    code = int(exc.error_code or 0)
    detail = f"{exc.message}" + (f": {exc.detail}" if exc.detail else "")
    said = f"QuickBooks refused {what} (code {code}): {detail}"
    if isinstance(exc, AuthorizationException) or code in (100, 120, 3100, 3200):
        return ReconnectNeeded(said, fix="run `tokenbooks connect quickbooks` to reconnect")
    if code == 6210:
        if "Duplicate" in detail:
            return DuplicateKey(said, code="6210")
        return LockedPeriod(
            said, code="6210", fix="post in an open period, or reopen the books in QuickBooks"
        )
    if code == 6140:
        return DuplicateKey(said, code="6140")
    if code == 6190:
        return ConfigError(
            said, fix="the QuickBooks subscription ended or has a billing problem; fix it in QBO"
        )
    if code in (5010, 3001):
        return Retriable(said)
    if code == 10000 and "ThrottleExceeded" in detail:
        return RateLimited(said, retry_after=THROTTLE_WAIT_SECONDS)
    if code >= 10000:
        return Retriable(said)
    return Rejected(said, code=str(code), fix="check the accounts, classes and departments the mapping names")


# ---------------------------------------------------------------------------------------------- ledger


class QuickBooksLedger:
    """The ledger port, on QuickBooks Online."""

    name = LEDGER

    def __init__(
        self,
        *,
        base_url: str,
        tokens: TokenManager,
        minorversion: int = 75,
        timeout: float = 60.0,  # float ok: seconds
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.retry = retry or RetryPolicy(6)
        self.stats = LedgerStats()
        self._accounts: list[LedgerAccount] | None = None
        self._options: list[TrackingOption] | None = None
        self.client = self._build_client(minorversion, timeout, session or requests.Session())

    def _build_client(
        self, minorversion: int, timeout: float, session: requests.Session
    ) -> _Client:  # float ok
        realm = self.tokens.current().company_id
        if not realm:
            raise ConfigError(
                "the QuickBooks connection has no realm (company) id", fix="reconnect QuickBooks"
            )
        client = _Client(company_id=realm, minorversion=minorversion, use_decimal=True)
        client.api_url_v3 = f"{self.base_url}/v3"
        client.sandbox_api_url_v3 = client.api_url_v3
        client.session = session  # the SDK only checks it is set; _Client.process_request uses `http`
        client.http = session
        client.timeout_seconds = timeout
        client.bearer = self.tokens.access_token
        client.on_call = self._count
        return client

    def _count(self, method: str, url: str) -> None:
        is_write = method == "POST" and not url.endswith("/query")
        if is_write:
            self.stats.write_calls += 1
        else:
            self.stats.read_calls += 1
        endpoint = url.rsplit("/", 1)[-1].split("?")[0]
        self.stats.by_endpoint[endpoint] = self.stats.by_endpoint.get(endpoint, 0) + 1

    # ------------------------------------------------------------------------------------------ calling

    def _call(self, fn: Callable[[], Any], what: str) -> Any:
        """One SDK call with retries for retriable errors (each attempt as in `_call_once`)."""
        return self.retry.call(lambda: self._call_once(fn, what), on_retry=lambda _e, _n: self._count_retry())

    def _call_once(self, fn: Callable[[], Any], what: str) -> Any:
        """One SDK call: on 401 refresh the access token once and try again; faults classified."""
        for attempt in range(2):
            try:
                return fn()
            except AuthorizationException as exc:
                if attempt:
                    raise classify_fault(exc, what) from None
                self.tokens.refresh(stale=self.tokens.current())
            except QuickbooksException as exc:
                raise classify_fault(exc, what) from None
        raise AssertionError("unreachable")

    def _count_retry(self) -> None:
        self.stats.retries += 1

    def _query(self, entity_cls: type, where: str, what: str) -> list[Any]:
        found: list[Any] = []
        start = 1
        while True:
            sql = f"SELECT * FROM {entity_cls.qbo_object_name}{where} STARTPOSITION {start} MAXRESULTS {PAGE_SIZE}"
            page = self._call(lambda sql=sql: entity_cls.query(sql, qb=self.client), what)
            found.extend(page)
            if len(page) < PAGE_SIZE:
                return found
            start += PAGE_SIZE

    # -------------------------------------------------------------------------------------------- reads

    def lock_date(self) -> date | None:
        data = self._call(
            lambda: self.client.get(f"{self._company_url()}/preferences"), "reading preferences"
        )
        text = data.get("Preferences", {}).get("AccountingInfoPrefs", {}).get("BookCloseDate")
        return date.fromisoformat(text[:10]) if text else None

    def preferences(self) -> dict[str, Any]:
        data = self._call(
            lambda: self.client.get(f"{self._company_url()}/preferences"), "reading preferences"
        )
        return data.get("Preferences", {})

    def chart_of_accounts(self) -> list[LedgerAccount]:
        if self._accounts is None:
            accounts = self._query(Account, ALL_ACTIVE_STATES, "listing accounts")
            self._accounts = [
                LedgerAccount(
                    id=str(a.Id),
                    name=a.FullyQualifiedName or a.Name,
                    number=a.AcctNum or None,
                    type=a.AccountType or "",
                    active=bool(a.Active),
                )
                for a in accounts
            ]
        return list(self._accounts)

    def tracking(self) -> list[TrackingOption]:
        if self._options is None:
            classes = self._query(Class, ALL_ACTIVE_STATES, "listing classes")
            departments = self._query(Department, ALL_ACTIVE_STATES, "listing departments")
            self._options = [
                TrackingOption("class", str(c.Id), c.FullyQualifiedName or c.Name, bool(c.Active))
                for c in classes
            ]
            self._options += [
                TrackingOption("department", str(d.Id), d.FullyQualifiedName or d.Name, bool(d.Active))
                for d in departments
            ]
        return list(self._options)

    def find(self, key: str) -> LedgerJournal | None:
        found = self._call(
            lambda: JournalEntry.filter(DocNumber=key, qb=self.client), f"looking up journal {key}"
        )
        return _ledger_journal(found[0]) if found else None

    def read_back(self, first_day: date, last_day: date) -> list[LedgerJournal]:
        where = f" WHERE TxnDate >= '{first_day.isoformat()}' AND TxnDate <= '{last_day.isoformat()}'"
        entries = self._query(JournalEntry, where, f"reading journals {first_day}..{last_day}")
        return [_ledger_journal(e) for e in entries if (e.DocNumber or "").startswith("TB-")]

    def bills(self, vendor: str, first_day: date, last_day: date) -> list[LedgerBill]:
        vendors = self._call(
            lambda: Vendor.filter(DisplayName=vendor, qb=self.client), f"finding vendor {vendor}"
        )
        if not vendors:
            return []
        vendor_id = str(vendors[0].Id)
        where = f" WHERE TxnDate >= '{first_day.isoformat()}' AND TxnDate <= '{last_day.isoformat()}'"
        bills = self._query(Bill, where, f"reading bills of {vendor}")
        return [_ledger_bill(b, vendor) for b in bills if b.VendorRef and str(b.VendorRef.value) == vendor_id]

    # ------------------------------------------------------------------------------------------- writes

    def post(self, requests_: Sequence[PostRequest]) -> list[PostResult]:
        return [self._post_one(r) for r in requests_]

    def _post_one(self, request: PostRequest) -> PostResult:
        journal = request.journal
        try:
            entry = self.to_entry(journal)
        except Rejected as exc:
            return PostResult(
                journal.key, PostOutcome.REJECTED, message=str(exc), error_class=type(exc).__name__
            )
        calls_before = self.stats.write_calls + self.stats.read_calls
        try:
            saved = self._create_once(entry, journal, request.request_id)
        except Rejected as exc:
            outcome = PostOutcome.REJECTED
            return PostResult(journal.key, outcome, message=str(exc), error_class=type(exc).__name__)
        except UncertainOutcome as exc:
            return PostResult(
                journal.key, PostOutcome.UNCERTAIN, message=str(exc), error_class="UncertainOutcome"
            )
        except Retriable as exc:
            return PostResult(
                journal.key, PostOutcome.FAILED, message=str(exc), error_class=type(exc).__name__
            )
        calls = self.stats.write_calls + self.stats.read_calls - calls_before
        return PostResult(journal.key, saved[0], ledger_id=saved[1], calls=calls)

    def _create_once(self, entry: JournalEntry, journal: Journal, request_id: str) -> tuple[PostOutcome, str]:
        """Create, and after an uncertain answer look the key up before creating again."""
        uncertain = False

        def attempt() -> tuple[PostOutcome, str]:
            nonlocal uncertain
            if uncertain:
                existing = self.find(journal.key)
                if existing:
                    return PostOutcome.FOUND, existing.ledger_id
            try:
                saved = self._call_once(
                    lambda: entry.save(qb=self.client, request_id=request_id), f"journal {journal.key}"
                )
            except UncertainOutcome:
                uncertain = True
                raise
            except DuplicateKey:
                existing = self.find(journal.key)  # our key is already there: an earlier attempt landed
                if existing is None:
                    raise
                return PostOutcome.FOUND, existing.ledger_id
            return PostOutcome.CREATED, str(saved.Id)

        return self.retry.call(attempt, on_retry=lambda _e, _n: self._count_retry())

    # ------------------------------------------------------------------------------------ translation

    def to_entry(self, journal: Journal) -> JournalEntry:
        """The SDK object for a journal; accounts, classes and departments resolved to QuickBooks ids."""
        entry = JournalEntry()
        entry.DocNumber = journal.key
        entry.TxnDate = journal.txn_date.isoformat()
        entry.PrivateNote = journal.memo[:4000]
        if journal.exchange_rate is not None:
            entry.CurrencyRef = Ref()
            entry.CurrencyRef.value = journal.currency
            entry.ExchangeRate = journal.exchange_rate
        for number, line in enumerate(journal.lines, start=1):
            detail = JournalEntryLineDetail()
            detail.PostingType = "Debit" if line.amount > 0 else "Credit"
            detail.AccountRef = self._ref(self._account_id(line.target, journal.key, number))
            detail.TaxApplicableOn = None  # not a taxable line; the SDK's "Sales" default is for GB/AU
            detail.TaxAmount = None
            if line.target.class_name:
                detail.ClassRef = self._ref(
                    self._option_id("class", line.target.class_name, journal.key, number)
                )
            if line.target.department:
                detail.DepartmentRef = self._ref(
                    self._option_id("department", line.target.department, journal.key, number)
                )
            qbo_line = JournalEntryLine()
            qbo_line.Amount = line.magnitude
            qbo_line.Description = line.description[:4000]
            qbo_line.JournalEntryLineDetail = detail
            entry.Line.append(qbo_line)
        return entry

    def _account_id(self, target: LedgerTarget, key: str, line_no: int) -> str:
        for account in self.chart_of_accounts():
            if target.account in account.references():
                if not account.active:
                    raise Rejected(
                        f"journal {key} line {line_no}: QuickBooks account {target.account!r} ({account.name}) "
                        "is inactive",
                        fix="reactivate it in QuickBooks or point the mapping at an active account",
                    )
                return account.id
        raise Rejected(
            f"journal {key} line {line_no}: QuickBooks has no account {target.account!r}",
            fix="create the account in QuickBooks, or correct the mapping (run `tokenbooks mappings check`)",
        )

    def _option_id(self, kind: str, name: str, key: str, line_no: int) -> str:
        for option in self.tracking():
            if option.kind == kind and name in (option.name, option.id):
                if not option.active:
                    raise Rejected(
                        f"journal {key} line {line_no}: QuickBooks {kind} {name!r} is inactive",
                        fix=f"reactivate the {kind} or change the mapping",
                    )
                return option.id
        raise Rejected(
            f"journal {key} line {line_no}: QuickBooks has no {kind} {name!r}",
            fix=f"create the {kind} in QuickBooks or correct the mapping",
        )

    @staticmethod
    def _ref(value: str) -> Ref:
        ref = Ref()
        ref.value = value
        ref.name = None
        ref.type = None
        return ref

    def _company_url(self) -> str:
        return f"{self.client.api_url}/company/{self.client.company_id}"


def _ledger_journal(entry: JournalEntry) -> LedgerJournal:
    lines = []
    for line in entry.Line or []:
        detail = getattr(line, "JournalEntryLineDetail", None)
        if detail is None:
            continue
        amount = Decimal(str(line.Amount))
        sign = 1 if detail.PostingType == "Debit" else -1
        account = str(detail.AccountRef.value) if detail.AccountRef else ""
        lines.append(LedgerLine(account, sign * amount, line.Description or ""))
    return LedgerJournal(
        key=entry.DocNumber or "",
        ledger_id=str(entry.Id),
        txn_date=date.fromisoformat(str(entry.TxnDate)[:10]),
        lines=tuple(lines),
        memo=entry.PrivateNote or "",
    )


def _ledger_bill(bill: Bill, vendor: str) -> LedgerBill:
    currency = bill.CurrencyRef.value if getattr(bill, "CurrencyRef", None) else "USD"
    return LedgerBill(
        ledger_id=str(bill.Id),
        vendor=vendor,
        number=bill.DocNumber or "",
        txn_date=date.fromisoformat(str(bill.TxnDate)[:10]),
        total=Decimal(str(bill.TotalAmt)),
        currency=currency,
    )

"""QuickBooks Online as a tokenbooks ledger, through python-quickbooks for real, over HTTP.

Posting (see docs/ledgers.md for the whole story):
- every journal is checked locally first: balanced (a bug otherwise), at most `max_lines` lines, not on or
  before `BookCloseDate`, in the home currency unless multicurrency is on, accounts / classes /
  departments present and active. What fails is refused without calling QuickBooks, naming the journal
  and line;
- the rest go in batches (`batch_size` ≤ 30 items, paced within 500 requests and 40 batches a minute),
  each with a derived `requestid` and 10-character bIds (`batch`); results are matched by bId;
- after an uncertain answer (timeout, 5xx, lost response) the journals are looked up by DocNumber
  (`DocNumber IN (…)`, one query per batch) before anything is created again, so exactly-once holds even
  where QuickBooks' requestid replay does not;
- a duplicate DocNumber (6140) is looked up too: our own earlier create is FOUND; another document
  under our key is refused with what QuickBooks holds.
HTTP, OAuth and the error codes: `client`. Facts about the API: ../shared/reference/erps.md, Part A.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import requests
from quickbooks.exceptions import AuthorizationException, QuickbooksException
from quickbooks.objects.account import Account
from quickbooks.objects.base import Ref
from quickbooks.objects.bill import Bill
from quickbooks.objects.department import Department
from quickbooks.objects.exchangerate import ExchangeRate
from quickbooks.objects.journalentry import JournalEntry, JournalEntryLine, JournalEntryLineDetail
from quickbooks.objects.trackingclass import Class
from quickbooks.objects.vendor import Vendor

from connector.domain.errors import (
    ConfigError,
    DuplicateKey,
    InvariantViolation,
    LockedPeriod,
    RateLimited,
    ReconnectNeeded,
    Rejected,
    Retriable,
    TokenbooksError,
    UncertainOutcome,
)
from connector.domain.fx import Rate
from connector.domain.journals import Journal, LedgerTarget, check_journal
from connector.ledgers.port import (
    CurrencySetup,
    Held,
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
from connector.ledgers.quickbooks.batch import (
    BATCH_MAX_ITEMS,
    BatchItem,
    answers_by_bid,
    batch_size_within_limits,
    build_call,
    entry_json,
)
from connector.ledgers.quickbooks.client import (
    FaultEntry,
    QboClient,
    QuickBooksOAuth,
    classify_error,
    classify_fault,
    endpoint_of,
    fault_entry,
    is_write,
)
from connector.ledgers.rate_limits import Budget, RateLimiter
from connector.ledgers.settle import Action, Sent, decide, send_missing
from connector.ledgers.tokens import TokenManager
from connector.retrying import RetryPolicy

__all__ = ["LEDGER", "MAX_LINES_PER_JOURNAL", "QuickBooksLedger", "QuickBooksOAuth", "classify_fault"]

LEDGER = "quickbooks"
PAGE_SIZE = 1000
# QuickBooks documents no maximum (erps.md §9.1). tokenbooks journals have one line per account target and
# a few hundred at most; larger ones are refused (not split: each part would need a balancing line the
# adapter cannot invent) and point at the mapping. Configurable: TOKENBOOKS_QUICKBOOKS__MAX_LINES_PER_JOURNAL.
MAX_LINES_PER_JOURNAL = 500
REQUESTS_PER_MINUTE = 500  # per realm, each batch item counting one (erps.md §2.1)
# Intuit: "requests time out after 120 s" (limits page, erps.md §2.1). A write QuickBooks did not answer may
# commit until then: the client waits longer than that for an answer (TOKENBOOKS_QUICKBOOKS__TIMEOUT_SECONDS,
# 130 by default), and after an uncertain write looks the journals up only once this has passed.
SERVER_TIMEOUT_SECONDS = 120.0
SETTLE_SECONDS = SERVER_TIMEOUT_SECONDS + 10.0
BATCHES_PER_MINUTE = 40
# QuickBooks lists only active names unless asked; inactive ones must be seen to say "inactive", not "missing".
ALL_ACTIVE_STATES = " WHERE Active IN (true, false)"


def quickbooks_pacer(
    *,
    requests_per_minute: int = REQUESTS_PER_MINUTE,
    batches_per_minute: int = BATCHES_PER_MINUTE,
    clock: Callable[[], float] = time.monotonic,  # float ok: seconds
    sleep: Callable[[float], None] = time.sleep,
) -> RateLimiter:
    """QuickBooks' limits per realm (erps.md §2.1) on the shared rate limiter: each batch item counts one
    request, and batch requests have their own budget."""
    budgets = [
        Budget("requests", requests_per_minute, label="QuickBooks' per-minute limit of requests"),
        Budget("batches", batches_per_minute, label="QuickBooks' per-minute limit of batch requests"),
    ]
    return RateLimiter(budgets, clock=clock, sleep=sleep, ledger="QuickBooks")


@dataclass
class _Rounds:
    """One batch's sends: the round (a fresh requestid once QuickBooks answered and an item must go again)."""

    round: int = 0


class QuickBooksLedger:
    """The ledger port, on QuickBooks Online."""

    name = LEDGER
    opens_accounts = False
    supports_drafts = False  # QuickBooks has no draft journal entries

    def __init__(
        self,
        *,
        base_url: str,
        tokens: TokenManager,
        minorversion: int = 75,
        timeout: float = 60.0,  # float ok: seconds
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        batch_size: int = BATCH_MAX_ITEMS,
        max_lines: int = MAX_LINES_PER_JOURNAL,
        pacer: RateLimiter | None = None,
        settle_seconds: float = SETTLE_SECONDS,  # float ok: seconds
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.settle_seconds = settle_seconds
        self.tokens = tokens
        self.retry = retry or RetryPolicy(6)
        self.batch_size = batch_size_within_limits(batch_size)
        self.journals_per_request = self.batch_size
        self.max_lines = max_lines
        self.pacer = pacer or quickbooks_pacer(sleep=self.retry.sleep)
        self.stats = LedgerStats()
        self._accounts: list[LedgerAccount] | None = None
        self._options: list[TrackingOption] | None = None
        self._preferences: dict[str, Any] | None = None
        self.client = self._build_client(minorversion, timeout, session or requests.Session())

    def _build_client(
        self,
        minorversion: int,
        timeout: float,  # float ok: seconds
        session: requests.Session,
    ) -> QboClient:
        realm = self.tokens.current().company_id
        if not realm:
            raise ConfigError(
                "the QuickBooks connection has no realm (company) id", fix="reconnect QuickBooks"
            )
        client = QboClient(company_id=realm, minorversion=minorversion, use_decimal=True)
        client.api_url_v3 = f"{self.base_url}/v3"
        client.sandbox_api_url_v3 = client.api_url_v3
        client.session = session  # the SDK only checks it is set; QboClient.process_request uses `http`
        client.http = session
        client.timeout_seconds = timeout
        client.bearer = self.tokens.access_token
        client.before_call = self._before_call
        return client

    @property
    def realm(self) -> str:
        return str(self.client.company_id)

    def _before_call(self, method: str, url: str, body: Any) -> None:
        """Count the call, and wait until it fits QuickBooks' per-minute limits."""
        endpoint = endpoint_of(url)
        if endpoint == "batch":
            self.pacer.acquire(requests=_batch_items(body), batches=1)
        else:
            self.pacer.acquire(requests=1)
        self.stats.count_call(endpoint, write=is_write(method, url))

    # ------------------------------------------------------------------------------------------ calling

    def _call(self, fn: Callable[[], Any], what: str) -> Any:
        """One SDK call with retries for retriable errors (each attempt as in `_call_once`)."""
        try:
            return self.retry.call(lambda: self._call_once(fn, what), on_retry=self.stats.count_retry)
        except Retriable as exc:
            self.tokens.record_call(error=str(exc))
            raise

    def _call_once(self, fn: Callable[[], Any], what: str) -> Any:
        """One SDK call: on 401 refresh the access token once and try again; faults classified."""
        for attempt in range(2):
            try:
                result = fn()
            except AuthorizationException as exc:
                if attempt == 0:
                    self.tokens.refresh(stale=self.tokens.current())
                    continue
                raise self._classified(exc, what) from None
            except QuickbooksException as exc:
                raise self._classified(exc, what) from None
            self.tokens.record_call()
            return result
        raise AssertionError("unreachable")

    def _classified(self, exc: QuickbooksException, what: str) -> TokenbooksError:
        error = classify_fault(exc, what, realm=self.realm)
        self._note_connection_error(error)
        return error

    def _note_connection_error(self, error: TokenbooksError) -> None:
        """A refusal that only a person can fix is remembered on the connection, so later runs fail fast."""
        if isinstance(error, ReconnectNeeded):
            self.tokens.mark_reconnect_needed(error.message)
        elif isinstance(error, ConfigError):
            self.tokens.record_call(error=str(error))

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

    def _company_url(self) -> str:
        return f"{self.client.api_url}/company/{self.client.company_id}"

    # -------------------------------------------------------------------------------------------- reads

    def preferences(self) -> dict[str, Any]:
        """The company's Preferences, read now (and kept for the local checks of the next `post`)."""
        data = self._call(
            lambda: self.client.get(f"{self._company_url()}/preferences"), "reading preferences"
        )
        self._preferences = data.get("Preferences", {})
        return self._preferences

    def lock_date(self) -> date | None:
        return _book_close_date(self.preferences())

    def exchange_rate(self, base: str, quote: str, day: date) -> Rate | None:
        """The company's own rate of `base` in its home currency for `day` (multicurrency companies keep
        one per currency and day), or None when QuickBooks has none for that day."""
        where = f" WHERE SourceCurrencyCode = {_quoted(base)} AND AsOfDate = {_quoted(day.isoformat())}"
        for row in self._query(ExchangeRate, where, f"reading the {base} exchange rate of {day}"):
            if row.TargetCurrencyCode == quote and row.Rate:
                return Rate(day, base, quote, Decimal(str(row.Rate)), f"QuickBooks rate of {row.AsOfDate}")
        return None

    def currency_setup(self) -> CurrencySetup:
        """The home currency, and whether multicurrency is on (journals with CurrencyRef/ExchangeRate)."""
        return _currency_setup(self.preferences(), default_home="USD")

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
        return self.find_many([key]).get(key)

    def find_many(self, keys: Sequence[str]) -> dict[str, LedgerJournal]:
        """Journals under these keys (DocNumbers), one query per 30 keys (QBO has `IN`, no `OR`)."""
        found: dict[str, LedgerJournal] = {}
        unique = sorted(set(keys))
        for start in range(0, len(unique), BATCH_MAX_ITEMS):
            chunk = unique[start : start + BATCH_MAX_ITEMS]
            listed = ", ".join(_quoted(key) for key in chunk)
            what = f"looking up journal{'s' if len(chunk) > 1 else ''} {', '.join(chunk)}"
            for entry in self._query(JournalEntry, f" WHERE DocNumber IN ({listed})", what):
                journal = _ledger_journal(entry)
                found.setdefault(journal.key, journal)
        return found

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
        """Post journals in batches; one result per request, in the same order."""
        results: dict[str, PostResult] = {}
        ready: list[BatchItem] = []
        for request in requests_:
            try:
                ready.append(self._prepare(request))
            except Rejected as exc:
                results[request.journal.key] = PostResult.from_error(
                    request.journal.key, PostOutcome.REJECTED, exc
                )
        for start in range(0, len(ready), self.batch_size):
            results |= self._post_chunk(ready[start : start + self.batch_size])
        return [results[r.journal.key] for r in requests_]

    def _prepare(self, request: PostRequest) -> BatchItem:
        """Every check QuickBooks would make that can be made here, then the entry's JSON body."""
        journal = request.journal
        try:
            check_journal(journal)
        except InvariantViolation as exc:  # a bug in tokenbooks: stop loudly, send nothing
            raise InvariantViolation(
                f"{exc}; refused before anything was sent to QuickBooks (a bug in tokenbooks: please report it)"
            ) from None
        if len(journal.lines) > self.max_lines:
            raise Rejected(
                f"journal {journal.key} has {len(journal.lines)} lines; tokenbooks sends at most "
                f"{self.max_lines} lines in one QuickBooks journal entry",
                code="size",
                fix="post this kind of journal monthly or merge mapping targets (fewer classes/departments), "
                "or raise TOKENBOOKS_QUICKBOOKS__MAX_LINES_PER_JOURNAL if your company accepts more",
            )
        preferences = self._preferences if self._preferences is not None else self.preferences()
        close = _book_close_date(preferences)
        if close is not None and journal.txn_date <= close:
            raise LockedPeriod(
                f"journal {journal.key} is dated {journal.txn_date}, on or before QuickBooks' closing date "
                f"{close}; it was not sent",
                code="BookCloseDate",
                fix="let tokenbooks plan it again (it moves to the first open day), or move the closing "
                "date in QuickBooks",
            )
        entry = self.to_entry(journal, preferences)
        body = entry_json(entry.to_json())
        return BatchItem(request, body, _postings(body))

    def _post_chunk(self, items: Sequence[BatchItem]) -> dict[str, PostResult]:
        """One batch, exactly once: the shared `send_missing` shell looks the keys up after an unclear answer."""
        rounds = _Rounds()
        results = send_missing(
            {item.key: item for item in items},
            held=_held,
            lookup=self.find_many,
            send=lambda open_, sent: self._send_batch(open_, sent, rounds),
            retry=self.retry,
            settle_seconds=self.settle_seconds,
            clock=self.pacer.clock,
            ledger="QuickBooks",
            names=self._account_names,
            on_retry=self.stats.count_retry,
        )
        unsettled = [r for r in results.values() if r.outcome in (PostOutcome.FAILED, PostOutcome.UNCERTAIN)]
        if unsettled:  # the retries ran out: the connection's health says why
            self.tokens.record_call(error=unsettled[0].message)
        return results

    def _send_batch(self, items: list[BatchItem], sent: Sent, rounds: _Rounds) -> None:
        """One batch request: settle each journal by its bId (created, refused) or say to send it again."""
        call = build_call(items, rounds.round)
        try:
            data = self._call_once(
                lambda: self.client.make_request(
                    "POST", f"{self._company_url()}/batch", request_body=call.body, request_id=call.request_id
                ),
                f"a batch of {len(call.items)} journal(s)",
            )
        except Rejected as exc:  # QuickBooks refused the batch request as a whole: each journal says why
            raise Rejected(
                f"{exc.message} (the whole batch of {len(items)} journal(s) was refused)",
                code=exc.code,
                fix="if QuickBooks names the number of items, lower TOKENBOOKS_QUICKBOOKS__BATCH_SIZE "
                "(Intuit's pages disagree: 30 or 10); otherwise " + (exc.fix or "report this message"),
            ) from None
        answers = answers_by_bid(data)
        for bid, item in call.items:  # the creates first: nothing below may lose them
            created = (answers.get(bid) or {}).get("JournalEntry")
            if created:
                sent.results[item.key] = PostResult(
                    item.key, PostOutcome.CREATED, ledger_id=str(created.get("Id"))
                )
        again: list[TokenbooksError] = []
        for bid, item in call.items:
            if item.key in sent.results:
                continue
            if bid not in answers:
                again.append(
                    UncertainOutcome(f"QuickBooks' batch answer has no result for journal {item.key}")
                )
                continue
            retry = self._take_fault(sent, item, fault_entry(answers[bid]) or FaultEntry(0, "", ""))
            if retry is not None:
                again.append(retry)
        if again:
            if any(not isinstance(e, UncertainOutcome) for e in again):
                rounds.round += 1  # QuickBooks answered these: the same requestid would replay that answer
            sent.again = next((e for e in again if isinstance(e, RateLimited)), again[0])
            sent.uncertain = any(isinstance(e, UncertainOutcome) for e in again)

    def _take_fault(self, sent: Sent, item: BatchItem, error: FaultEntry) -> TokenbooksError | None:
        """Settle one item's fault; returns the error when the item should be sent again."""
        exc = classify_error(
            error.code,
            error.message,
            error.detail,
            f"journal {item.key}",
            element=error.element,
            realm=self.realm,
        )
        if isinstance(exc, ReconnectNeeded | ConfigError):
            self._note_connection_error(exc)
            raise exc
        if isinstance(exc, DuplicateKey):
            sent.results[item.key] = self._settle_duplicate(item, exc)
        elif isinstance(exc, Rejected):
            sent.results[item.key] = PostResult.from_error(item.key, PostOutcome.REJECTED, exc)
        else:
            return exc
        return None

    def _settle_duplicate(self, item: BatchItem, duplicate: DuplicateKey) -> PostResult:
        """QuickBooks says the number is taken (6140): the shared settle step decides what is there."""
        found = self.find_many([item.key])
        decision = decide([_held(item)], found, ledger="QuickBooks", names=self._account_names())[0]
        if decision.action is not Action.SEND:
            return decision.result()
        error = Rejected(
            f"{duplicate.message} (another kind of document holds the number {item.key})",
            code=duplicate.code,
            fix="renumber that document in QuickBooks, or turn off 'Warn if duplicate journal number' in "
            "Settings → Advanced → Other preferences",
        )
        return PostResult.from_error(item.key, PostOutcome.REJECTED, error)

    def _account_names(self) -> dict[str, str]:
        """QuickBooks account ids as people read them (`5010 AI COGS`), for conflict messages."""
        return {a.id: f"{a.number} {a.name}" if a.number else a.name for a in self.chart_of_accounts()}

    def held(self, journal: Journal) -> Held:
        """The journal as QuickBooks would hold it (account, class and department ids resolved): what a
        lookup or a read-back is compared with.

        Active or not: an account (or class) switched off after the journal was posted still names the same
        entry. One the company does not have stays as the mapping names it, so it differs from what is there."""
        ids = {ref: account.id for account in self.chart_of_accounts() for ref in account.references()}
        lines = [
            LedgerLine(
                ids.get(line.target.account, line.target.account),
                line.amount,
                line.description,
                self._tracking_ids(line.target),
            )
            for line in journal.lines
        ]
        return Held.of_lines(journal.key, journal.txn_date, lines)

    def _tracking_ids(self, target: LedgerTarget) -> tuple[str, ...]:
        """A target's class and department as a read-back names them ("class=<id>"), ids resolved."""
        named = [("class", target.class_name), ("department", target.department)]
        if not any(name for _, name in named):
            return ()  # no query for the company's classes when the line has none
        ids = {(o.kind, ref): o.id for o in self.tracking() for ref in (o.name, o.id)}
        return tuple(f"{kind}={ids.get((kind, name), name)}" for kind, name in named if name)

    # ------------------------------------------------------------------------------------ translation

    def to_entry(self, journal: Journal, preferences: dict[str, Any] | None = None) -> JournalEntry:
        """The SDK object for a journal; accounts, classes and departments resolved to QuickBooks ids."""
        entry = JournalEntry()
        entry.DocNumber = journal.key
        entry.TxnDate = journal.txn_date.isoformat()
        entry.PrivateNote = journal.memo[:4000]
        self._set_currency(entry, journal, preferences or {})
        for number, line in enumerate(journal.lines, start=1):
            detail = JournalEntryLineDetail()
            detail.PostingType = "Debit" if line.amount > 0 else "Credit"
            detail.AccountRef = _ref(self._account_id(line.target, journal.key, number))
            detail.TaxApplicableOn = None  # not a taxable line; the SDK's "Sales" default is for GB/AU
            detail.TaxAmount = None
            if line.target.class_name:
                detail.ClassRef = _ref(self._option_id("class", line.target.class_name, journal.key, number))
            if line.target.department:
                detail.DepartmentRef = _ref(
                    self._option_id("department", line.target.department, journal.key, number)
                )
            qbo_line = JournalEntryLine()
            qbo_line.Amount = line.magnitude
            qbo_line.Description = line.description[:4000]
            qbo_line.JournalEntryLineDetail = detail
            entry.Line.append(qbo_line)
        return entry

    @staticmethod
    def _set_currency(entry: JournalEntry, journal: Journal, preferences: dict[str, Any]) -> None:
        """CurrencyRef (+ ExchangeRate) when multicurrency is on; home currency only when it is off."""
        setup = _currency_setup(preferences, default_home=journal.currency)
        home = setup.home
        if not setup.foreign_journals:
            if journal.currency != home:
                raise Rejected(
                    f"journal {journal.key} is in {journal.currency}, but multicurrency is off in this "
                    f"QuickBooks company (home currency {home}); it was not sent",
                    code="currency",
                    fix=f"turn on multicurrency in QuickBooks (Settings → Advanced → Currency), or book this "
                    f"entity's spend in {home}",
                )
            entry.ExchangeRate = None  # the SDK's default 1 means nothing without multicurrency
            return
        entry.CurrencyRef = _ref(journal.currency)
        if journal.currency == home:
            entry.ExchangeRate = Decimal(1)
        elif journal.exchange_rate is not None:
            entry.ExchangeRate = journal.exchange_rate
        else:
            raise Rejected(
                f"journal {journal.key} is in {journal.currency} and carries no exchange rate to {home}; "
                "it was not sent",
                code="currency",
                fix="give the journal an exchange rate (home-currency units per unit) before posting",
            )

    def _account_id(self, target: LedgerTarget, key: str, line_no: int) -> str:
        for account in self.chart_of_accounts():
            if target.account in account.references():
                if not account.active:
                    raise Rejected(
                        f"journal {key} line {line_no}: QuickBooks account {target.account!r} ({account.name}) "
                        "is inactive",
                        code="inactive",
                        fix="reactivate it in QuickBooks or point the mapping at an active account",
                    )
                return account.id
        raise Rejected(
            f"journal {key} line {line_no}: QuickBooks has no account {target.account!r}",
            code="missing",
            fix="create the account in QuickBooks, or correct the mapping (run `tokenbooks mappings check`)",
        )

    def _option_id(self, kind: str, name: str, key: str, line_no: int) -> str:
        for option in self.tracking():
            if option.kind == kind and name in (option.name, option.id):
                if not option.active:
                    raise Rejected(
                        f"journal {key} line {line_no}: QuickBooks {kind} {name!r} is inactive",
                        code="inactive",
                        fix=f"reactivate the {kind} in QuickBooks or change the mapping",
                    )
                return option.id
        raise Rejected(
            f"journal {key} line {line_no}: QuickBooks has no {kind} {name!r}",
            code="missing",
            fix=f"create the {kind} in QuickBooks or correct the mapping (run `tokenbooks mappings check`)",
        )


# ------------------------------------------------------------------------------------------- helpers


def _ref(value: str) -> Ref:
    ref = Ref()
    ref.value = value
    ref.name = None
    ref.type = None
    return ref


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _batch_items(body: Any) -> int:
    try:
        return max(1, len(json.loads(body)["BatchItemRequest"]))
    except (TypeError, ValueError, KeyError):
        return 1


def _currency_setup(preferences: dict[str, Any], *, default_home: str) -> CurrencySetup:
    """The company's CurrencyPrefs: home currency (`default_home` when QuickBooks names none), multicurrency."""
    prefs = preferences.get("CurrencyPrefs") or {}
    home = (prefs.get("HomeCurrency") or {}).get("value") or default_home
    return CurrencySetup(str(home), bool(prefs.get("MultiCurrencyEnabled")))


def _book_close_date(preferences: dict[str, Any]) -> date | None:
    text = (preferences.get("AccountingInfoPrefs") or {}).get("BookCloseDate")
    return date.fromisoformat(str(text)[:10]) if text else None


def _postings(entry: dict[str, Any]) -> tuple[tuple[str, Decimal], ...]:
    postings = []
    for line in entry.get("Line", []):
        detail = line.get("JournalEntryLineDetail") or {}
        sign = 1 if detail.get("PostingType") == "Debit" else -1
        postings.append((str((detail.get("AccountRef") or {}).get("value")), sign * Decimal(line["Amount"])))
    return tuple(sorted(postings))


def _held(item: BatchItem) -> Held:
    return Held.of(item.key, item.request.journal.txn_date, item.postings)


def _ledger_journal(entry: JournalEntry) -> LedgerJournal:
    lines = []
    for line in entry.Line or []:
        detail = getattr(line, "JournalEntryLineDetail", None)
        if detail is None:
            continue
        amount = Decimal(str(line.Amount))
        sign = 1 if detail.PostingType == "Debit" else -1
        account = str(detail.AccountRef.value) if detail.AccountRef else ""
        refs = [("class", detail.ClassRef), ("department", detail.DepartmentRef)]
        tracking = tuple(f"{kind}={ref.value}" for kind, ref in refs if ref and ref.value)
        lines.append(LedgerLine(account, sign * amount, line.Description or "", tracking))
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

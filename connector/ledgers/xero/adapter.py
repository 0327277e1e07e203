"""Xero through xero-python, for real, over HTTP: manual journals in, journals and bills read back.

- One ``ApiClient`` per connection on our transport (timeouts, no hidden urllib3 retries) with its tokens in
  the vault (``oauth``); ``AccountingApi(api_client, base_url=XeroSettings.base_url)``.
- A journal is a ManualJournal: ``Narration`` starts with the tokenbooks key; ``LineAmount`` + debit /
  − credit; up to two tracking options per line, resolved against ``TrackingCategories``; ``Status`` POSTED,
  or DRAFT in draft posting mode; ``LineAmountTypes`` NoTax and ``ShowOnCashBasisReports`` always sent.
- Many journals per PUT (``CHUNK_SIZE``) with ``summarizeErrors="false"`` (the string: the SDK would send a
  Python ``False`` as ``False``), so Xero answers 200 with a result per journal; each write carries an
  ``Idempotency-Key`` (the journal's request id for one journal, a digest of the request ids for several).
  After an uncertain answer (timeout, 5xx, lost response) the keys are looked up (``Narration`` starts
  with the key) before anything is created again, and only the journals not found are sent.
- Amounts: xero-python turns every Decimal into a float before it writes JSON. A float's ``repr`` is the
  shortest text that reads back as the same float, so a cent amount of up to 15 significant digits reaches
  the wire exactly ("120.37", never "120.36999…"); ``wire_exact`` checks every amount before sending and
  refuses one that would not survive (over ten trillion), rather than let it change on the way.
- Lock dates from ``Organisation`` (the later of PeriodLockDate and EndOfYearLockDate); a journal dated on or
  before it is refused here as ``LockedPeriod`` without a call. Manual journals are base-currency only.
- Calls are paced by the shared ``RateLimiter`` (``xero_limiter``: 5 in flight, 60 a minute, the day's
  budget) that also follows Xero's remaining-calls headers (``observe_headers``); a 429 is waited out through ``RetryPolicy``; errors are classified in one place
  (``errors.classify``).
- Local checks refuse what Xero would refuse, naming the journal and the line: an unknown, archived, bank,
  system or inventory account; an unknown or archived tracking option; more than ``MAX_JOURNAL_LINES`` lines
  (tokenbooks' limit: Xero publishes none; 500 lines keep one journal far below Xero's 10 MB request cap).
  What Xero refuses anyway (the chart changed since it was read) is mapped back to the line it names.
Facts about the API: ../shared/reference/erps.md, Part B.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import urllib3.exceptions
from xero_python.accounting import (
    AccountingApi,
    LineAmountTypes,
    ManualJournal,
    ManualJournalLine,
    ManualJournals,
    TrackingCategory,
)
from xero_python.exceptions import ApiException

from connector.domain.errors import (
    ConfigError,
    LockedPeriod,
    RateLimited,
    ReconnectNeeded,
    Rejected,
    TokenbooksError,
)
from connector.domain.fx import Rate
from connector.domain.journals import Journal, JournalLine, check_journal
from connector.domain.money import quantize
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
    target_tracking,
)
from connector.ledgers.rate_limits import RateLimiter
from connector.ledgers.settle import Sent, send_missing
from connector.ledgers.tokens import TokenManager
from connector.ledgers.xero.errors import classify, is_lock_message, is_scope_refusal, retry_after
from connector.ledgers.xero.limits import NOT_JOURNALABLE, xero_limiter
from connector.ledgers.xero.oauth import sdk_client
from connector.retrying import RetryPolicy

__all__ = [
    "CHUNK_SIZE",
    "MAX_JOURNAL_LINES",
    "XeroLedger",
    "chunk_idempotency_key",
    "lookup_chunks",
    "observe_headers",
    "wire_exact",
    "xero_limiter",
]

LEDGER = "xero"
CHUNK_SIZE = 50  # journals per PUT: Xero recommends about 50 elements a request
# Xero's SDK maintainers set a 5.5-minute client timeout "so that there is enough of a buffer to have the
# API layer timeout with no possibility of a race condition" (XeroAPI/Xero-Net#209, #210): a write Xero did
# not answer may commit for about 5 minutes. The client waits longer than that (TOKENBOOKS_XERO__TIMEOUT_SECONDS,
# 330 by default), and after an uncertain write looks the journals up only once this has passed.
SETTLE_SECONDS = 330.0
DAY_RECHECK_SECONDS = 3600.0  # after Xero said "0 left today" without saying when it resets
URL_BUDGET = 2000  # characters of a lookup URL: under the ~2 KB Xero's gateway takes (``lookup_chunks``)
MAX_JOURNAL_LINES = 500
PAGE_SIZE = 100  # Xero's page of manual journals / invoices
TEXT_LIMIT = 4000
GONE = ("DELETED", "VOIDED")
IDEMPOTENCY_NAMESPACE = uuid.UUID("0b7d6c9e-5a1f-4e0a-9d7c-2f6b1e8a4c35")
_QUOTED = re.compile(r"'([^']+)'")


def observe_headers(limiter: RateLimiter, headers: Mapping[str, str] | None) -> None:
    """Follow what Xero says is left (``X-MinLimit-Remaining``, ``X-AppMinLimit-Remaining``,
    ``X-DayLimit-Remaining``) on every answer, a 429 included, so calls other apps make on the same
    organisation are respected too. "0 left this minute" makes the limiter wait until our oldest call
    leaves the window, a guess; a 429's ``Retry-After`` says exactly when, and only it is followed."""
    if not headers:
        return
    day_left = _int(headers.get("X-DayLimit-Remaining"))
    if day_left == 0:
        limiter.close("day", DAY_RECHECK_SECONDS)
    elif day_left is not None:
        limiter.reopen("day")
    if headers.get("Retry-After") is not None:
        return  # a 429 that says when to come back: that exact wait (`_classified`), not our guess below
    if 0 in (_int(headers.get("X-MinLimit-Remaining")), _int(headers.get("X-AppMinLimit-Remaining"))):
        limiter.used_up("minute")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def wire_exact(amount: Decimal) -> bool:
    """Whether xero-python's float serialisation writes ``amount`` to the wire digit for digit."""
    return Decimal(repr(float(amount))) == amount  # float ok: proves the SDK's float write is exact


def chunk_idempotency_key(request_ids: Sequence[str]) -> str:
    """One journal: its request id. Several: a digest of theirs, so the same set always sends the same key and
    a smaller set (after some were found) never reuses the key of a different body."""
    if len(request_ids) == 1:
        return request_ids[0]
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, "|".join(request_ids)))


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def key_of(narration: str | None) -> str:
    """The tokenbooks key a Narration starts with ("TB-AC-261003-001 · …" → "TB-AC-261003-001")."""
    return (narration or "").split(" ", 1)[0]


def narration_filter(keys: Sequence[str]) -> str:
    return " OR ".join(f'Narration.StartsWith("{_where_text(key)}")' for key in keys)


def lookup_chunks(url: str, keys: Sequence[str], limit: int = URL_BUDGET) -> list[list[str]]:
    """The keys in groups whose lookup URL — ``url?where=…&page=…`` encoded as xero-python sends it
    (``urlencode``: about 52 characters a key) — stays within ``limit`` characters. Xero's gateway answers
    404 "The resource you're looking for cannot be found" to a longer URL (about 2 KB: a total over 2,091
    characters failed in XeroAPI/Xero-NetStandard#471; 53 ids failed in XeroAPI/xero-node#404), which
    would read as "not found" and let a journal be created twice."""
    chunks: list[list[str]] = []
    for key in dict.fromkeys(keys):
        candidate = [*chunks[-1], key] if chunks else [key]
        query = urlencode([("where", narration_filter(candidate)), ("page", "99999")])
        if chunks and len(f"{url}?{query}") <= limit:
            chunks[-1] = candidate
        else:
            chunks.append([key])
    return chunks


def _where_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _where_day(day: date) -> str:
    return f"DateTime({day.year},{day.month:02d},{day.day:02d})"


class XeroLedger:
    """The ledger port, on one Xero organisation (tenant)."""

    name = LEDGER
    opens_accounts = False
    supports_drafts = True  # manual journals can be saved as DRAFT

    def __init__(
        self,
        *,
        base_url: str,
        tokens: TokenManager,
        client_id: str,
        client_secret: str,
        tenant_id: str | None = None,
        timeout: float = 60.0,  # float ok: seconds
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        chunk_size: int = CHUNK_SIZE,
        settle_seconds: float = SETTLE_SECONDS,  # float ok: seconds
    ) -> None:
        self.settle_seconds = settle_seconds
        self.tokens = tokens
        self.tenant_id = tenant_id or tokens.current().company_id
        if not self.tenant_id:
            raise ConfigError(
                "the Xero connection names no organisation (tenant id)",
                fix="run `tokenbooks connect xero`, or set TOKENBOOKS_XERO__TENANT_ID",
            )
        self.retry = retry or RetryPolicy(6)
        self.limiter = limiter or xero_limiter()
        self.chunk_size = max(1, chunk_size)
        self.journals_per_request = self.chunk_size
        self.base_url = base_url.rstrip("/")
        self.stats = LedgerStats()
        self.api_client = sdk_client(
            timeout, manager=tokens, client_id=client_id, client_secret=client_secret
        )
        self.api = AccountingApi(self.api_client, base_url=self.base_url)
        self._organisation: Any = None
        self._accounts: list[Any] | None = None
        self._categories: list[Any] | None = None

    # ------------------------------------------------------------------------------------------ calling

    def _call(self, fn: Callable[[], Any], what: str, endpoint: str) -> Any:
        """A read with retries for retriable failures (each attempt as in `_call_once`)."""
        return self.retry.call(lambda: self._call_once(fn, what, endpoint), on_retry=self.stats.count_retry)

    def _call_once(self, fn: Callable[[], Any], what: str, endpoint: str, *, write: bool = False) -> Any:
        """One SDK call (which returns data, status, headers) inside the limiter; on 401 refresh once and
        try again; failures classified."""
        for attempt in range(2):
            try:
                with self.limiter.slot():
                    self.stats.count_call(endpoint, write=write)
                    data, _status, headers = fn()
                observe_headers(self.limiter, headers)
                return data
            except ApiException as error:
                observe_headers(self.limiter, error.headers)
                if error.status == 401 and not attempt and not is_scope_refusal(error):
                    self.tokens.refresh(stale=self.tokens.current())
                    continue
                raise self._classified(error, what, write) from None
            except urllib3.exceptions.HTTPError as error:
                raise classify(error, what, write=write) from None
        raise AssertionError("unreachable")

    def _classified(self, error: ApiException, what: str, write: bool) -> TokenbooksError:
        classified = classify(error, what, write=write)
        if isinstance(classified, RateLimited) and classified.retry_after:
            self.limiter.pause(classified.retry_after)
        elif error.status == 429:  # the day's budget: stop calling until Xero says it is back
            self.limiter.close("day", retry_after(error) or DAY_RECHECK_SECONDS)
        if isinstance(classified, ReconnectNeeded):
            self.tokens.mark_reconnect_needed(str(classified))
        return classified

    def _pages(
        self, fetch: Callable[[int], Any], attribute: str, what: str, endpoint: str, *, retry: bool = True
    ) -> list[Any]:
        """Every page of a list; ``retry=False`` inside a caller that retries as a whole."""
        call = self._call if retry else self._call_once
        found: list[Any] = []
        page = 1
        while True:
            answer = call(lambda page=page: fetch(page), f"{what} (page {page})", endpoint)
            rows = getattr(answer, attribute) or []
            found.extend(rows)
            if len(rows) < PAGE_SIZE:
                return found
            page += 1

    # -------------------------------------------------------------------------------------------- reads

    def organisation(self) -> Any:
        """The Organisation, read now (lock dates change while a company closes its month)."""
        answer = self._call(
            lambda: self.api.get_organisations(self.tenant_id, _return_http_data_only=False),
            "reading the organisation",
            "Organisation",
        )
        self._organisation = answer.organisations[0]
        return self._organisation

    def lock_date(self) -> date | None:
        """The later of the period lock date and the end-of-year lock date (None when neither is set)."""
        return _lock_date(self.organisation())

    def base_currency(self) -> str:
        organisation = self._organisation or self.organisation()
        return str(getattr(organisation.base_currency, "value", organisation.base_currency))

    def currency_setup(self) -> CurrencySetup:
        """Manual journals are in the base currency only: amounts in another are converted first."""
        return CurrencySetup(self.base_currency(), foreign_journals=False)

    def exchange_rate(self, base: str, quote: str, day: date) -> Rate | None:
        return None  # journals are converted before they reach Xero, with the policy's rates file

    def chart_of_accounts(self) -> list[LedgerAccount]:
        return [
            LedgerAccount(
                id=str(a.account_id),
                name=a.name or "",
                number=a.code or None,
                type=_text(a.type),
                active=a.status == "ACTIVE",
                system=_text(a.system_account),
            )
            for a in self._xero_accounts()
        ]

    def _xero_accounts(self) -> list[Any]:
        if self._accounts is None:
            answer = self._call(
                lambda: self.api.get_accounts(self.tenant_id, _return_http_data_only=False),
                "listing accounts",
                "Accounts",
            )
            self._accounts = list(answer.accounts or [])
        return self._accounts

    def tracking(self) -> list[TrackingOption]:
        return [
            TrackingOption(
                kind=category.name,
                id=str(option.tracking_option_id),
                name=option.name,
                active=category.status == "ACTIVE" and option.status == "ACTIVE",
            )
            for category in self._tracking_categories()
            for option in category.options or []
        ]

    def _tracking_categories(self) -> list[Any]:
        if self._categories is None:
            answer = self._call(
                lambda: self.api.get_tracking_categories(
                    self.tenant_id, include_archived=True, _return_http_data_only=False
                ),
                "listing tracking categories",
                "TrackingCategories",
            )
            self._categories = list(answer.tracking_categories or [])
        return self._categories

    def find(self, key: str) -> LedgerJournal | None:
        return self.find_many([key]).get(key)

    def find_many(self, keys: Sequence[str], *, retry: bool = True) -> dict[str, LedgerJournal]:
        """The live journals narrated with these keys: ``Narration.StartsWith(…) OR …``, as few calls as the
        URL allows (``lookup_chunks``)."""
        found: dict[str, LedgerJournal] = {}
        for chunk in lookup_chunks(f"{self.base_url}/ManualJournals", keys):
            found |= self._find_chunk(chunk, retry)
        return found

    def _find_chunk(self, keys: Sequence[str], retry: bool) -> dict[str, LedgerJournal]:
        where = narration_filter(keys)
        wanted = set(keys)
        journals = self._pages(
            lambda page: self.api.get_manual_journals(
                self.tenant_id, where=where, page=page, _return_http_data_only=False
            ),
            "manual_journals",
            f"looking up journal {keys[0]}" + (f" and {len(keys) - 1} more" if len(keys) > 1 else ""),
            "ManualJournals",
            retry=retry,
        )
        return {
            key_of(mj.narration): _ledger_journal(mj, self.base_currency())
            for mj in journals
            if key_of(mj.narration) in wanted and _status(mj) not in GONE
        }

    def read_back(self, first_day: date, last_day: date) -> list[LedgerJournal]:
        where = (
            f"Date >= {_where_day(first_day)} AND Date <= {_where_day(last_day)} "
            'AND Narration.StartsWith("TB-")'
        )
        journals = self._pages(
            lambda page: self.api.get_manual_journals(
                self.tenant_id, where=where, order="Date", page=page, _return_http_data_only=False
            ),
            "manual_journals",
            f"reading journals {first_day}..{last_day}",
            "ManualJournals",
        )
        currency = self.base_currency()
        return [_ledger_journal(mj, currency) for mj in journals if _status(mj) not in GONE]

    def bills(self, vendor: str, first_day: date, last_day: date) -> list[LedgerBill]:
        where = (
            f'Type=="ACCPAY" AND Contact.Name=="{_where_text(vendor)}" '
            f"AND Date >= {_where_day(first_day)} AND Date <= {_where_day(last_day)}"
        )
        invoices = self._pages(
            lambda page: self.api.get_invoices(
                self.tenant_id, where=where, page=page, _return_http_data_only=False
            ),
            "invoices",
            f"reading bills of {vendor}",
            "Invoices",
        )
        return [_ledger_bill(invoice, vendor) for invoice in invoices if _status(invoice) not in GONE]

    # ------------------------------------------------------------------------------------------- writes

    def post(self, requests: Sequence[PostRequest]) -> list[PostResult]:
        """Post journals, many per request; a result per journal, in the order given."""
        results: dict[str, PostResult] = {}
        ready: list[tuple[PostRequest, ManualJournal]] = []
        for request in requests:  # an unbalanced journal is a bug: stop loudly before anything is sent
            check_journal(request.journal)
        for request in requests:
            try:
                ready.append((request, self.to_manual_journal(request.journal, draft=request.draft)))
            except Rejected as refusal:
                results[request.journal.key] = PostResult.from_error(
                    request.journal.key, PostOutcome.REJECTED, refusal
                )
        for chunk in _chunks(ready, self.chunk_size):
            for result in self._post_chunk(chunk):
                results[result.key] = result
        return [results[r.journal.key] for r in requests]

    def _post_chunk(self, chunk: Sequence[tuple[PostRequest, ManualJournal]]) -> list[PostResult]:
        """Create a chunk exactly once: the shared `send_missing` shell looks the keys up after an unclear
        answer and sends only what is missing."""
        calls_before = self.stats.read_calls + self.stats.write_calls
        done = send_missing(
            {request.journal.key: (request, mj) for request, mj in chunk},
            held=lambda item: _held(item[0].journal.key, item[0].journal.txn_date, item[1]),
            lookup=lambda keys: self.find_many(keys, retry=False),
            send=self._send,
            retry=self.retry,
            settle_seconds=self.settle_seconds,
            clock=self._seconds,
            ledger="Xero",
            on_retry=self.stats.count_retry,
        )
        calls = self.stats.read_calls + self.stats.write_calls - calls_before
        return [_with_calls(result, calls) for result in done.values()]

    def _send(self, items: list[tuple[PostRequest, ManualJournal]], sent: Sent) -> None:
        """One PUT of these journals; each journal settled by Xero's element for it."""
        answer = self._create(items)
        for (request, _mj), element in _matched(items, answer.manual_journals or []):
            sent.results[request.journal.key] = self._element_result(request.journal, element)

    def held(self, journal: Journal) -> Held:
        """The journal as Xero would hold it (account codes resolved; tracking options, which Xero's lines
        carry by name): what a lookup or a read-back is compared with.

        Archived or not: an account archived after the journal was posted still names the same journal. An
        account the chart does not have stays as the mapping names it, so it differs from what is there."""
        codes = {
            ref: account.code
            for account in self._xero_accounts()
            for ref in (account.code, account.name, str(account.account_id))
            if ref
        }
        lines = [
            LedgerLine(
                codes.get(line.target.account, line.target.account),
                line.amount,
                line.description,
                target_tracking(line.target),
            )
            for line in journal.lines
        ]
        return Held.of_lines(journal.key, journal.txn_date, lines)

    def _seconds(self) -> float:  # float ok: seconds on the limiter's clock (tokenbooks' clock)
        return self.limiter.clock()

    def _create(self, items: Sequence[tuple[PostRequest, ManualJournal]]) -> Any:
        journals = ManualJournals(manual_journals=[mj for _request, mj in items])
        key = chunk_idempotency_key([request.request_id for request, _mj in items])
        first = items[0][0].journal.key
        what = f"creating journal {first}" + (f" and {len(items) - 1} more" if len(items) > 1 else "")
        return self._call_once(
            lambda: self.api.create_manual_journals(
                self.tenant_id,
                journals,
                summarize_errors="false",
                idempotency_key=key,
                _return_http_data_only=False,
            ),
            what,
            "ManualJournals",
            write=True,
        )

    def _element_result(self, journal: Journal, element: ManualJournal) -> PostResult:
        messages = [str(v.message) for v in element.validation_errors or [] if v.message]
        if messages or element.status_attribute_string == "ERROR":
            refusal = self.refusal(journal, messages or ["Xero marked the journal ERROR without a message"])
            return PostResult.from_error(journal.key, PostOutcome.REJECTED, refusal)
        if not element.manual_journal_id:
            message = f"Xero answered for journal {journal.key} without a ManualJournalID"
            return PostResult(
                journal.key, PostOutcome.UNCERTAIN, message=message, error_class="UncertainOutcome"
            )
        return PostResult(journal.key, PostOutcome.CREATED, ledger_id=str(element.manual_journal_id))

    def refusal(self, journal: Journal, messages: Sequence[str]) -> Rejected:
        """Xero's messages for a journal, each tied to the line it is about, with what to do."""
        parts = [f"{_where_in(journal, message)}: {message}" for message in messages]
        text = f"Xero refused journal {journal.key}: " + "; ".join(parts)
        if any(is_lock_message(m) for m in messages):
            return LockedPeriod(text, code="ValidationException", fix=_LOCK_FIX)
        return Rejected(text, code="ValidationException", fix=_fix_for(messages))

    # ------------------------------------------------------------------------------------ translation

    def to_manual_journal(self, journal: Journal, *, draft: bool = False) -> ManualJournal:
        """The SDK object for a journal, after the checks Xero would make (each refusal names journal and line)."""
        self._check_journal(journal)
        lines = [self._line(journal, number, line) for number, line in enumerate(journal.lines, start=1)]
        return ManualJournal(
            narration=(journal.memo if journal.memo.startswith(journal.key) else journal.key)[:TEXT_LIMIT],
            journal_lines=lines,
            date=journal.txn_date,
            line_amount_types=LineAmountTypes.NOTAX,
            status="DRAFT" if draft else "POSTED",
            show_on_cash_basis_reports=True,
            has_attachments=None,  # read-only in the spec; the SDK would send False by default
        )

    def _check_journal(self, journal: Journal) -> None:
        organisation = self._organisation or self.organisation()
        base = self.base_currency()
        if journal.currency != base:
            raise Rejected(
                f"journal {journal.key} is in {journal.currency}, but this Xero organisation keeps its books in "
                f"{base} and manual journals are base-currency only",
                fix=f"convert it to {base} before posting (tokenbooks' currency conversion), or post it to a "
                f"{journal.currency} organisation",
            )
        lock = _lock_date(organisation)
        if lock is not None and journal.txn_date <= lock:
            raise LockedPeriod(
                f"journal {journal.key} is dated {journal.txn_date}, on or before Xero's lock date {lock}; "
                "tokenbooks never writes into a locked period",
                fix=_LOCK_FIX,
            )
        if len(journal.lines) > MAX_JOURNAL_LINES:
            raise Rejected(
                f"journal {journal.key} has {len(journal.lines)} lines; tokenbooks sends at most "
                f"{MAX_JOURNAL_LINES} lines in one Xero manual journal",
                fix="post monthly instead of daily for this entity, or split the provider account",
            )

    def _line(self, journal: Journal, number: int, line: JournalLine) -> ManualJournalLine:
        where = f"journal {journal.key} line {number}"
        if not wire_exact(line.amount):
            raise Rejected(
                f"{where}: {line.amount} cannot travel exactly through xero-python (it sends floats)",
                fix="split the amount over several journals",
            )
        account = self._account(line.target.account, where)
        if len(line.target.tracking) > 2:
            raise Rejected(
                f"{where}: Xero allows two tracking options per line", fix="keep two in the mapping"
            )
        return ManualJournalLine(
            line_amount=line.amount,
            account_code=account.code,
            description=line.description[:TEXT_LIMIT],
            tracking=[self._tracking(category, option, where) for category, option in line.target.tracking]
            or None,
        )

    def _account(self, reference: str, where: str) -> Any:
        for account in self._xero_accounts():
            if reference in (account.code, account.name, str(account.account_id)):
                problem = _unjournalable(account)
                if problem:
                    raise Rejected(
                        f"{where}: Xero account {reference!r} ({account.name}) {problem}",
                        fix="point the mapping at an ordinary, active account (`tokenbooks mappings check`), "
                        "or restore the account in Xero",
                    )
                return account
        raise Rejected(
            f"{where}: Xero has no account {reference!r}",
            fix="create the account in Xero, or correct the mapping (run `tokenbooks mappings check`)",
        )

    def _tracking(self, category_name: str, option_name: str, where: str) -> TrackingCategory:
        category = next((c for c in self._tracking_categories() if c.name == category_name), None)
        if category is None:
            raise Rejected(
                f"{where}: Xero has no tracking category {category_name!r}",
                fix="create it in Xero (Settings → Tracking categories) or correct the mapping",
            )
        option = next((o for o in category.options or [] if o.name == option_name), None)
        if option is None:
            raise Rejected(
                f"{where}: Xero tracking category {category_name!r} has no option {option_name!r}",
                fix="add the option in Xero or correct the mapping",
            )
        if category.status != "ACTIVE" or option.status != "ACTIVE":
            raise Rejected(
                f"{where}: Xero tracking option {category_name} = {option_name} is archived",
                fix="restore the option in Xero, or point the mapping at an active option",
            )
        return TrackingCategory(name=category_name, option=option_name)


# what a person does when a journal meets the lock date (one queued before the lock was set, or sent
# again after it was deleted in Xero): nothing, the next plan dates it after the lock, as QuickBooks' says
_LOCK_FIX = (
    "let tokenbooks plan it again (the next sync moves it to the first open day, its memo naming the month "
    "it belongs to), or move the lock date in Xero (Settings ▸ Advanced ▸ Financial settings)"
)


def _unjournalable(account: Any) -> str:
    """Why Xero would refuse this account in a manual journal ("" when it would not)."""
    if account.status != "ACTIVE":
        return "is archived"
    if account.system_account:
        return f"is a system account ({_text(account.system_account)}) and cannot take manual journals"
    account_type = _text(account.type)
    if account_type in NOT_JOURNALABLE:
        return f"is {NOT_JOURNALABLE[account_type]} and cannot take manual journals"
    return ""


def _where_in(journal: Journal, message: str) -> str:
    """The line a Xero message is about, from the account code or tracking category/option it quotes."""
    quoted = set(_QUOTED.findall(message))
    for number, line in enumerate(journal.lines, start=1):
        names = {line.target.account} | {name for pair in line.target.tracking for name in pair}
        if quoted & names:
            return f"line {number} ({line.target.describe()})"
    return "the whole journal"


def _fix_for(messages: Sequence[str]) -> str:
    text = " ".join(messages).lower()
    if "total debits" in text:
        return "tokenbooks sent an unbalanced journal: this is a bug, report it with the journal key"
    if "tracking" in text:
        return "restore the tracking option in Xero or correct the mapping, then run again"
    if "account" in text:
        return (
            "correct the mapping (`tokenbooks mappings check`) or restore the account in Xero, then run again"
        )
    return "correct what Xero names, then run again"


def _with_calls(result: PostResult, calls: int) -> PostResult:
    return PostResult(result.key, result.outcome, result.ledger_id, result.message, result.error_class, calls)


def _matched(
    items: Sequence[tuple[PostRequest, ManualJournal]], elements: Sequence[ManualJournal]
) -> list[tuple[tuple[PostRequest, ManualJournal], ManualJournal]]:
    """Pair each sent journal with Xero's element for it: by the key its Narration starts with, else by order."""
    by_key = {key_of(element.narration): element for element in elements}
    pairs = []
    for position, item in enumerate(items):
        element = by_key.get(item[0].journal.key) or (
            elements[position] if position < len(elements) else None
        )
        if element is not None:
            pairs.append((item, element))
    return pairs


def _held(key: str, txn_date: date, mj: ManualJournal) -> Held:
    return Held.of(key, txn_date, [(line.account_code, line.line_amount) for line in mj.journal_lines])


def _lock_date(organisation: Any) -> date | None:
    dates = [d for d in (organisation.period_lock_date, organisation.end_of_year_lock_date) if d]
    return max(dates) if dates else None


def _text(value: Any) -> str:
    """What Xero sent for an enum field: the SDK's enum member or a plain string ("" when absent)."""
    return str(getattr(value, "value", value) or "")


def _status(thing: Any) -> str:
    return _text(thing.status)


def _ledger_journal(mj: ManualJournal, currency: str) -> LedgerJournal:
    """A manual journal as the port reads it; amounts in the base currency's minor units again (the SDK
    parsed them as floats: 999.00 came back 999.0)."""
    lines = tuple(
        LedgerLine(
            account=line.account_code or str(line.account_id or ""),
            amount=quantize(Decimal(str(line.line_amount)), currency),
            description=line.description or "",
            tracking=tuple(f"{t.name}={t.option}" for t in line.tracking or []),
        )
        for line in mj.journal_lines or []
    )
    return LedgerJournal(
        key=key_of(mj.narration),
        ledger_id=str(mj.manual_journal_id),
        txn_date=mj.date,
        lines=lines,
        status="draft" if _status(mj) == "DRAFT" else "posted",
        memo=mj.narration or "",
    )


def _ledger_bill(invoice: Any, vendor: str) -> LedgerBill:
    return LedgerBill(
        ledger_id=str(invoice.invoice_id),
        vendor=vendor,
        number=invoice.invoice_number or "",
        txn_date=invoice.date,
        total=Decimal(str(invoice.total)),
        currency=_text(invoice.currency_code),
        lines=tuple(
            LedgerLine(item.account_code or "", Decimal(str(item.line_amount)), item.description or "")
            for item in invoice.line_items or []
        ),
    )

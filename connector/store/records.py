"""Read models: what the store hands to services and pages instead of table rows.

Frozen dataclasses with the columns a reader needs (named as the columns are, so a page that read a row
reads the record unchanged), and nothing a reader must not see (a connection's token ciphertext stays in
the store). Built from rows by `record_of`; this module imports no SQL so services and the fake unit of
work can use it freely.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

from connector.domain.facts import Fact
from connector.domain.journals import Journal

Record = TypeVar("Record")


def record_of(row: Any, kind: type[Record], **computed: Any) -> Record:
    """The read model `kind` of a table row (or of any object with the same attributes); `computed` gives
    the fields the row has no column for."""
    values = {f.name: getattr(row, f.name) for f in fields(kind) if f.name not in computed}  # type: ignore[arg-type]
    return kind(**values, **computed)


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: str
    kind: str
    entity: str | None
    actor: str
    started_at: datetime
    finished_at: datetime | None
    status: str  # running | succeeded | failed | partial | abandoned
    reason: str | None
    params: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    code_version: str = ""
    owner: str | None = None  # the process that runs it, host:pid:thread:nonce (None: recorded before 0026)


@dataclass(frozen=True, slots=True)
class JournalRecord:
    """A journal's row in the outbox as an auditor's export lists it (its lines are in `StoredJournal`)."""

    id: int
    entity: str
    ledger: str
    key: str
    kind: str
    txn_date: date
    original_date: date | None
    currency: str
    memo: str
    status: str
    ledger_id: str | None
    generation: int
    attempts: int
    planned_run_id: str | None
    posted_at: datetime | None
    approved_by: str | None


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One try at putting one journal into the ledger, whatever came of it."""

    id: int
    journal_id: int
    run_id: str | None
    attempt_no: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str  # started | created | found | rejected | uncertain | failed
    error_class: str | None
    error_message: str | None
    ledger_id: str | None
    request_id: str | None


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One audit log event as stored, hash and link included (`domain/audit_chain.py` recomputes them)."""

    id: int
    run_id: str | None
    at: datetime
    actor: str
    kind: str
    level: str
    message: str
    data: dict
    prev_hash: str
    hash: str
    hash_scheme: int


@dataclass(frozen=True, slots=True)
class ReconciliationRecord:
    id: int
    run_id: str | None
    entity: str
    provider: str
    provider_account: str
    period: str
    currency: str
    provider_cost: Decimal
    invoice_total: Decimal | None
    posted_total: Decimal  # in `currency` (the provider's), as computed
    ledger_total: Decimal | None  # in `books_currency`
    status: str
    findings: list
    created_at: datetime
    coverage: Decimal | None
    variance: Decimal | None
    tolerance: Decimal | None
    books_currency: str | None = None  # None: stored before reconciliations said it (as `currency`)
    posted_in_books: Decimal | None = None


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """A stored version of the mapping or the policies file: its number, reach, note and whole content."""

    id: int
    version: int
    effective_from: date
    change_note: str
    content_hash: str
    content: str
    source: str
    first_seen_at: datetime
    run_id: str | None
    applied_at: datetime | None = None  # policies only: when a plan first applied it


@dataclass(frozen=True, slots=True)
class FactRecord:
    """One stored version of a fact, as an auditor traces it (`tokenbooks audit trace`)."""

    id: int
    natural_key: str
    version: int
    is_current: bool
    source: str
    charge_date: date
    posting_date: date
    amount: Decimal
    currency: str
    cost_basis: str
    dimensions: dict
    pulled_at: datetime
    raw_payload_id: int | None


@dataclass(frozen=True, slots=True)
class RawPayloadRecord:
    """A provider's answer as received, kept for lineage."""

    id: int
    source: str
    endpoint: str
    request: dict
    sha256: str
    fetched_at: datetime
    body: str


@dataclass(frozen=True, slots=True)
class PlacementRecord:
    """One share of a fact as classified: the rule and mapping version that placed it (lineage)."""

    id: int
    fact_id: int
    posting_date: date
    target_key: str
    category: str
    rule_id: str
    mapping_version: int
    percent: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class BookmarkRecord:
    """How far a source has read (moved only after its facts are committed), and its last error."""

    source_id: str
    value: str
    updated_at: datetime
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    refused_days: tuple[date, ...] = ()  # the days its last pull refused (their rows are to be corrected)
    first_day: date | None = None  # the first day of its history (None: unknown, stored before 0014)
    # the last day its pulls have read: past `value` when its last pull refused days (None: never read)
    read_through: date | None = None
    entities: tuple[str, ...] = ()  # whose facts its source stored (empty: not known, stored before 0020)


@dataclass(frozen=True, slots=True)
class InvoiceRecord:
    """A provider invoice as stored (its lines as dicts: description, amount as text, kind)."""

    entity: str
    provider: str
    provider_account: str
    number: str
    period: str  # YYYY-MM
    issue_date: date
    total: Decimal
    currency: str
    lines: list
    source: str
    imported_at: datetime


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """One file import with its tally (the quarantined rows are stored beside it)."""

    id: str
    kind: str  # focus | invoices | credits | customer-credits
    entity: str | None
    file: str
    sha256: str
    size_bytes: int
    status: str  # succeeded | partial | failed
    rows_input: int
    rows_accepted: int
    rows_quarantined: int
    rows_skipped: int
    tally: dict
    reason: str | None
    run_id: str | None
    raw_payload_id: int | None
    imported_at: datetime


@dataclass(frozen=True, slots=True)
class QuarantineRecord:
    """An input row an import refused: where it was, why, the fix, and its amount when it had one."""

    id: int
    import_id: str
    file: str
    location: str  # "row 12", "invoices[3]"
    column: str
    reason: str
    fix: str
    raw: str
    amount: Decimal | None
    currency: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StuckClaim:
    """A scheduled job's latest occurrence, claimed and never finished by a holder that stopped: its
    process is gone, or it let its lease run out without renewing it (`store/job_claims.py: stuck`)."""

    job: str  # nightly:<entity> | month-end:<entity>
    occurrence: str
    owner: str  # host:pid:thread:nonce of the process that claimed it
    claimed_at: datetime
    expires_at: datetime  # when its lease ran out (the holder's last renewal plus a lease)
    holder_gone: bool  # the holder ran on this machine and its process no longer exists


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """A ledger connection's health (its tokens stay in the store, encrypted)."""

    id: int
    ledger: str
    entity: str
    company_id: str
    company_name: str | None
    status: str  # ok | reconnect_needed
    last_error: str | None
    updated_at: datetime
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    connected_at: datetime | None
    refreshed_at: datetime | None
    last_success_at: datetime | None
    last_error_at: datetime | None
    tokens_readable: bool | None = None  # whether the configured key opens its tokens (None: not checked)


@dataclass(frozen=True, slots=True)
class AlertRecord:
    id: int
    dedup_key: str
    kind: str  # run_failed | reconnect_needed | suspense | reconciliation_variance | spend_spike | budget
    entity: str | None
    subject: str
    period: str
    severity: str
    message: str
    action: str
    data: dict
    raised_at: datetime
    sent_at: datetime | None
    channels: list
    last_error: str | None
    run_id: str | None


@dataclass(frozen=True, slots=True)
class AllocationRecord:
    """One stored allocation, as the alerts' totals need it (suspense per provider, spend per cost center)."""

    provider: str
    posting_date: date
    category: str
    target_key: str
    amount: Decimal
    currency: str  # the fact's (the provider's), which need not be the books'


# ------------------------------------------------------------------------------ facts, outbox, imports


class StoredFact(NamedTuple):  # a NamedTuple: a month of them is built per plan
    id: int
    fact: Fact
    payload_id: int | None = None  # the raw payload it was read from (its digest names it: `audit_chain`)


@dataclass(frozen=True, slots=True)
class ReplaceResult:
    """What a re-pull of a window did to the stored facts."""

    inserted: int = 0
    restated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    changed_days: frozenset[date] = frozenset()  # posting days whose facts changed
    # provider day → the digests of the facts current on it after the write, packed (facts only:
    # `audit_chain.pack_digests`)
    digests: Mapping[date, str] | None = None

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.restated or self.withdrawn)


@dataclass(frozen=True, slots=True)
class FactMark:
    """The earliest posting day imports, pulls and credit lots changed since the last plan, and the newest
    mark it covers (a mark an import leaves while a plan runs is newer: that plan may not have read its
    facts, so it stays); `by`: what changed that day (`FactMarkRow.changed_by`)."""

    plan_from: date
    through: int
    by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredJournal:
    id: int
    journal: Journal
    status: str
    ledger: str
    ledger_id: str | None
    generation: int
    attempts: int
    hold_reason: str | None
    last_error: str | None


ACTIVE_STATUSES = ("planned", "held", "posting", "posted", "failed")  # all but "rejected"
PENDING_STATUSES = ("planned", "posting", "failed")


class Lineage(NamedTuple):
    """One allocation traced down: its bucket coordinates, rule and version, fact, and payload hash."""

    posting_date: date
    provider: str
    provider_account: str
    currency: str
    target_key: str
    category: str
    rule_id: str
    mapping_version: int
    amount: Decimal
    fact_id: int
    natural_key: str
    fact_version: int
    fact_amount: Decimal
    source: str
    payload_sha256: str | None


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The audit chain's head: the newest event, its hash and how many events the chain holds."""

    last_event_id: int
    last_hash: str
    events: int


@dataclass(frozen=True)
class JournalDigest:
    """The digests of a journal's header, of each of its lines and of its contributions (`store/commitments.py`)."""

    header: str
    lines: tuple[str, ...]
    contributions: str | None = None  # None: committed before contributions were digested

    def as_data(self) -> dict:
        data: dict = {"journal": self.header, "lines": list(self.lines)}
        if self.contributions is not None:
            data["contributions"] = self.contributions
        return data

    @classmethod
    def from_data(cls, data: dict) -> JournalDigest:
        return cls(data["journal"], tuple(data["lines"]), data.get("contributions"))


@dataclass(frozen=True)
class StoreTotals:
    """Counts across the store for the metrics (`store/totals.py`)."""

    runs: dict[tuple[str, str, str], int]  # (kind, entity, status) → runs
    journals: dict[tuple[str, str, str], int]  # (entity, ledger, status) → journals in the outbox
    attempts: dict[tuple[str, str, str, str], int]  # (entity, ledger, outcome, error class) → attempts
    facts_pulled: dict[str, int]  # entity → facts read by sync runs
    quarantined: dict[tuple[str, str], int]  # (import kind, entity) → rows quarantined
    # (entity, provider, currency) → unallocated spend in the entity's open months (`totals.py`)
    suspense: dict[tuple[str, str, str], Decimal]

"""The store's port: the abstract unit of work services take, and every repository it promises.

Why here and not in `connector/service`: the port is the store's contract, written in the store's own
vocabulary (the read models in `records.py`, `StoredJournal`, `StoredFact`, and domain objects), so it
sits beside its two implementations — the SQL unit of work (`unit_of_work.py`, which mypy checks against
this port through `bootstrap.App.store`) and the tests' in-memory one (`tests/fake_store.py`) — and services
import one SQL-free module. Neither this module nor `records.py` imports SQLAlchemy (a test holds them to
it); everything else in `connector/store/` is the SQL adapter, which only `bootstrap.py` builds.

A service takes a `Store` and opens one unit of work per transaction (`with store.unit_of_work() as uow:
… uow.commit()`); what is not committed is discarded when the block ends. Every repository is declared
here as a protocol, named by what it holds; each says which SQL class implements it. No method returns a
table row. Repositories are read-only attributes of the unit of work (properties), so an implementation may
offer a narrower type.
"""

from __future__ import annotations

import builtins  # `Outbox.list` shadows the builtin in the class's own annotations
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from connector.domain.accounting_policy import PolicySet
from connector.domain.alerts import Alert
from connector.domain.chart import LedgerChart
from connector.domain.console import (
    AlertSummary,
    AuditEvent,
    FileVersion,
    JournalSummary,
    LineageSlice,
    Page,
    PayloadDetail,
    RunSummary,
)
from connector.domain.credits import CreditLot, CustomerCreditEvent, GrantBalance, LotVoid
from connector.domain.day_sums import DaySums
from connector.domain.facts import Fact
from connector.domain.finance_figures import PostedLine
from connector.domain.imports import QuarantinedRow
from connector.domain.invoices import Invoice
from connector.domain.journals import Bucket, Journal, JournalKind
from connector.domain.mapping import Allocation, MappingSet
from connector.domain.mapping_history import VersionSpan
from connector.domain.reconcile import FactVersion, ReconResult
from connector.domain.usage import Usage
from connector.domain.users import User
from connector.store.records import (
    AlertRecord,
    AllocationRecord,
    AttemptRecord,
    BookmarkRecord,
    ChainHead,
    ConnectionRecord,
    EventRecord,
    FactMark,
    FactRecord,
    ImportRecord,
    InvoiceRecord,
    JournalDigest,
    JournalRecord,
    Lineage,
    PlacementRecord,
    QuarantineRecord,
    RawPayloadRecord,
    ReconciliationRecord,
    ReplaceResult,
    RunRecord,
    StoredFact,
    StoredJournal,
    StoreTotals,
    StuckClaim,
    VersionRecord,
)

if TYPE_CHECKING:  # the sources' page and window types, for annotations only (the store sits below them)
    from connector.sources.base import RawPage, Window

# ------------------------------------------------------------------------------------ the aggregates


class Facts(Protocol):
    """`facts.py: FactRepository`"""

    def replace_window(
        self,
        *,
        source: str,
        provider_account: str,
        first_day: date,
        last_day: date,
        facts: Sequence[Fact],
        raw_payload_ids: Mapping[str, int],
        run_id: str | None,
        now: datetime,
    ) -> ReplaceResult: ...

    def current(
        self, entity: str, first_day: date | None = ..., last_day: date | None = ...
    ) -> list[StoredFact]: ...

    def current_chunks(
        self,
        entity: str,
        first_day: date | None = ...,
        last_day: date | None = ...,
        size: int = ...,
        newer_than: int = ...,
    ) -> Iterator[list[StoredFact]]: ...

    def superseded_ids(self, entity: str, day: date, first_id: int, last_id: int) -> list[int]: ...

    def with_ids(self, ids: Sequence[int], size: int = ...) -> Iterator[list[StoredFact]]: ...

    def summary(self, entity: str, first_day: date, last_day: date) -> list: ...

    def earliest_day(self, entity: str) -> date | None: ...

    def cost_days(
        self, entity: str, first_day: date, last_day: date
    ) -> dict[tuple[str, str, str], set[date]]: ...

    def accounts(self, entity: str) -> set[tuple[str, str]]: ...

    def all_versions(
        self, entity: str, provider: str, provider_account: str, first_day: date, last_day: date
    ) -> list[FactVersion]: ...

    def history(self, natural_key: str) -> list[FactRecord]: ...

    def get(self, fact_id: int) -> FactRecord | None: ...


class RawPayloads(Protocol):
    """`facts.py: RawPayloadRepository`"""

    def add(
        self, *, source: str, endpoint: str, request: dict, body: str, run_id: str | None, now: datetime
    ) -> int: ...

    def detail(self, payload_id: int) -> PayloadDetail | None: ...

    def get(self, payload_id: int) -> RawPayloadRecord | None: ...


class Bookmarks(Protocol):
    """`facts.py: BookmarkRepository`"""

    def get(self, source_id: str) -> str | None:
        """The last day read (ISO); None when nothing was ever read, even if a failed pull was recorded."""
        ...

    def first_day(self, source_id: str) -> date | None: ...

    def advance(
        self, source_id: str, value: str, now: datetime, first_day: date | None = None, entity: str = ""
    ) -> None: ...

    def hold(
        self,
        source_id: str,
        value: str,
        refused: Collection[date],
        error: str,
        now: datetime,
        first_day: date | None = None,
        read_through: date | None = None,
        entity: str = "",
    ) -> None: ...

    def record_error(self, source_id: str, error: str, now: datetime) -> None: ...

    def all(self) -> list[BookmarkRecord]: ...


class UsageRecords(Protocol):
    """`facts.py: UsageRepository`"""

    def replace_window(
        self,
        *,
        source: str,
        provider_account: str,
        first_day: date,
        last_day: date,
        usage: Sequence[Usage],
        raw_payload_ids: Mapping[str, int],
        run_id: str | None,
        now: datetime,
    ) -> ReplaceResult: ...

    def current(
        self, entity: str, first_day: date | None = ..., last_day: date | None = ...
    ) -> list[Usage]: ...


class MappingVersions(Protocol):
    """`classification.py: MappingVersionRepository`"""

    def record(self, mapping: MappingSet, content: str, *, run_id: str | None, now: datetime) -> bool: ...

    def all(self) -> list[VersionRecord]: ...


class Allocations(Protocol):
    """`classification.py: AllocationRepository`"""

    def replace_for_facts(
        self,
        owners: Sequence[int],
        allocations: Sequence[Allocation],
        facts: Sequence[StoredFact],
        *,
        run_id: str | None,
        now: datetime | None = None,
    ) -> int: ...

    def between(self, entity: str, first_day: date, last_day: date) -> list[AllocationRecord]: ...

    def for_bucket(self, bucket: Bucket, days: Sequence[date] | None = ...) -> list[PlacementRecord]: ...

    def for_fact(self, fact_id: int) -> list[PlacementRecord]: ...

    def lineage(self, entity: str, first_day: date, last_day: date) -> list[Lineage]: ...

    def versions_by_day(self, entity: str, first_day: date, last_day: date) -> dict[date, set[int]]: ...

    def earliest_stale_day(self, entity: str, spans: Sequence[VersionSpan]) -> date | None: ...


class Charts(Protocol):
    """`classification.py: LedgerChartRepository`"""

    def get(self, entity: str) -> LedgerChart | None: ...

    def save(self, entity: str, chart: LedgerChart, *, run_id: str | None = ...) -> None: ...


class PolicyVersions(Protocol):
    """`classification.py: PolicyVersionRepository`"""

    def record(self, policies: PolicySet, content: str, *, run_id: str | None, now: datetime) -> bool: ...

    def all(self) -> list[VersionRecord]: ...

    def earliest_unapplied(self) -> date | None: ...

    def mark_applied(self, now: datetime) -> None: ...


class Invoices(Protocol):
    """`inputs.py: InvoiceRepository`"""

    def upsert(self, invoice: Invoice, *, imported_at: datetime) -> bool: ...

    def for_period(self, entity: str, period: str) -> list[InvoiceRecord]: ...

    def summary(self, entity: str) -> list: ...

    def for_entity(self, entity: str) -> list[InvoiceRecord]: ...


class Reconciliations(Protocol):
    """`inputs.py: ReconciliationRepository`"""

    def add(self, result: ReconResult, *, run_id: str | None, created_at: datetime) -> None: ...

    def latest_period(self, entity: str) -> str | None: ...

    def latest(self, entity: str, period: str) -> list[ReconciliationRecord]: ...


class Imports(Protocol):
    """`inputs.py: ImportRepository`"""

    def add(self, record: ImportRecord, quarantined: Iterable[QuarantinedRow], now: datetime) -> None: ...

    def get(self, import_id: str) -> ImportRecord | None: ...

    def already_imported(self, kind: str, sha256: str) -> ImportRecord | None: ...

    def latest(self, limit: int = ...) -> list[ImportRecord]: ...

    def quarantined_between(
        self, entity: str, first: datetime, last: datetime
    ) -> list[tuple[ImportRecord, QuarantineRecord]]: ...

    def quarantined(self, import_id: str) -> list[QuarantineRecord]: ...


class FactMarks(Protocol):
    """`inputs.py: FactMarkRepository`"""

    def add(self, entity: str, plan_from: date, *, changed_by: str, now: datetime) -> None: ...

    def plan_from(self, entity: str) -> FactMark | None: ...

    def planned(self, entity: str, mark: FactMark) -> None: ...


class CreditLots(Protocol):
    """`inputs.py: CreditLotRepository`"""

    def upsert(self, lot: CreditLot, *, import_id: str | None, now: datetime) -> bool: ...

    def find(self, provider: str, provider_account: str, lot_id: str) -> CreditLot | None: ...

    def rename(self, provider: str, provider_account: str, lot_id: str, new_id: str) -> None: ...

    def void(self, lot: CreditLot, void: LotVoid) -> None: ...

    def for_entity(self, entity: str, *, voided: bool = ...) -> list[CreditLot]: ...

    def named(self, entity: str, lot_id: str) -> list[CreditLot]: ...

    def summary(self, entity: str) -> list: ...

    def accounts(self, entity: str) -> set[tuple[str, str]]: ...

    def for_account(self, entity: str, provider: str, provider_account: str) -> list[CreditLot]: ...


class CustomerCredits(Protocol):
    """`inputs.py: CustomerCreditRepository`"""

    def upsert(self, event: CustomerCreditEvent, *, import_id: str | None, now: datetime) -> bool: ...

    def for_entity(self, entity: str, until: date | None = ...) -> list[CustomerCreditEvent]: ...

    def summary(self, entity: str) -> list: ...

    def balances(self, entity: str, until: date | None = ...) -> dict[str, GrantBalance]: ...

    def products(self) -> dict[tuple[str, str], list[str]]: ...


class Commitments(Protocol):
    """`commitments.py: CommitmentRepository`"""

    def digests(
        self, journal_ids: Iterable[int] | None = ...
    ) -> dict[tuple[str, str], tuple[JournalRecord, JournalDigest]]: ...

    def committed(self) -> dict[tuple[str, str], tuple[int, JournalDigest]]: ...

    def posted(self) -> dict[tuple[str, str], tuple[int, str]]: ...

    def approved(self) -> dict[tuple[str, str], tuple[int, str]]: ...

    def first_committed_id(self) -> int | None: ...

    def commit_journals(
        self, entity: str, journal_ids: Sequence[int], *, run_id: str | None, now: datetime
    ) -> None: ...

    def journal_commitments(
        self, journals: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[int, JournalDigest | None]]: ...

    def day_commitments(
        self, days: Iterable[tuple[str, str, date]]
    ) -> dict[tuple[str, str, date], tuple[int, dict[str, str] | None]]: ...

    def day_committers(self) -> dict[tuple[str, str, date], int]: ...

    def committed_by(self, event_id: int, fact_day: tuple[str, str, date]) -> dict[str, str] | None: ...

    def index_rows(self) -> dict[tuple[str, str, str, str], int]: ...

    def provider_days(self, entity: str, posting_day: date) -> set[tuple[str, str, date]]: ...

    def current_keys(
        self, days: Iterable[tuple[str, str, date]]
    ) -> dict[tuple[str, str, date], set[str]]: ...

    def runs(self) -> list[tuple[str, RunRecord | None, list[EventRecord]]]: ...

    def commit_facts(
        self,
        source: str,
        provider_account: str,
        result: ReplaceResult,
        payloads: Iterable[int],
        *,
        run_id: str | None,
        now: datetime,
    ) -> None: ...

    def payloads_committed(self) -> dict[int, tuple[int, str]]: ...

    def payload_hashes(self, payload_ids: Iterable[int]) -> dict[int, tuple[str, str, str]]: ...

    def facts_first_top(self) -> int | None: ...

    def fact_days(
        self,
    ) -> Iterator[
        tuple[
            tuple[str, str, date],
            tuple[int, dict[str, str]] | None,
            tuple[dict[str, str], dict[str, int]] | None,
        ]
    ]: ...

    def allocations_first_top(self) -> int | None: ...

    def allocation_windows(
        self, size: int
    ) -> Iterator[tuple[dict[int, tuple[int, str]], dict[int, tuple[str, tuple[str, ...]]]]]: ...

    def fact_labels(self, fact_ids: Iterable[int]) -> dict[int, str]: ...


class Connections(Protocol):
    """`connections.py: ConnectionRepository`"""

    def all(self, readable: Callable[[str], bool] | None = ...) -> list[ConnectionRecord]: ...

    def for_entity(self, entity: str) -> list[ConnectionRecord]: ...


class Users(Protocol):
    """`users.py: UserRepository`"""

    def get(self, username: str) -> User | None: ...

    def by_email(self, email: str) -> User | None: ...

    def by_subject(self, subject: str) -> User | None: ...

    def all(self) -> list[User]: ...

    def add(self, user: User) -> None: ...

    def update(self, username: str, now: datetime, **values: object) -> User: ...


class Console(Protocol):
    """`console_reads.py: ConsoleReads`"""

    def runs(
        self,
        *,
        entity: str | None = ...,
        kind: str | None = ...,
        status: str | None = ...,
        actor: str | None = ...,
        page: Page = ...,
    ) -> tuple[list[RunSummary], int]: ...

    def run(self, run_id: str) -> RunSummary | None: ...

    def last_run(self, entity: str, kind: str) -> RunSummary | None: ...

    def run_kinds(self) -> list[str]: ...

    def events_of_run(self, run_id: str) -> list[AuditEvent]: ...

    def events(
        self, *, kind_prefix: str | None = ..., actor: str | None = ..., page: Page = ...
    ) -> tuple[list[AuditEvent], int]: ...

    def events_of_kind(self, kinds: Sequence[str], limit: int = ...) -> list[AuditEvent]: ...

    def journals(
        self,
        entity: str,
        *,
        first_day: date | None = ...,
        last_day: date | None = ...,
        kind: str | None = ...,
        status: str | None = ...,
        account: str | None = ...,
        ledger_id: str | None = ...,
        planned_run_id: str | None = ...,
        page: Page = ...,
    ) -> tuple[list[JournalSummary], int]: ...

    def journal(self, entity: str, key: str) -> JournalSummary | None: ...

    def accounts_used(self, entity: str) -> list[str]: ...

    def lineage(
        self, bucket: Bucket, page: Page = ..., days: Sequence[date] | None = ...
    ) -> LineageSlice: ...

    def payload(self, payload_id: int) -> PayloadDetail | None: ...

    def alerts(self, entity: str, since: datetime | None = ..., limit: int = ...) -> list[AlertSummary]: ...

    def holds_facts(self, entity: str, source: str, provider_account: str) -> bool: ...

    def file_versions(self, which: str) -> list[FileVersion]: ...


class ConsoleSummaryCache(Protocol):
    """`console_summaries.py: ConsoleSummaries`"""

    def stamp(self, entity: str, *, versions: list[str], summaries: list) -> str: ...

    def get(self, entity: str, name: str, stamp: str) -> tuple[Any, datetime] | None: ...

    def save(self, entity: str, name: str, data: Any, stamp: str, now: datetime) -> None: ...


class KeptDaySums(Protocol):
    """`plan_inputs.py: DaySumsRepository`"""

    def facts_by_day(self, entity: str, first_day: date, last_day: date) -> dict[date, tuple[int, int]]: ...

    def kept(self, entity: str, first_day: date, last_day: date) -> dict[date, str]: ...

    def kept_sums(self, entity: str, day: date) -> dict: ...

    def keep(self, entity: str, day: date, inputs: str, sums: DaySums, now: datetime) -> None: ...


class Claims(Protocol):
    """`job_claims.py: JobClaims`"""

    def claim(self, job: str, occurrence: str, owner: str, lease: timedelta = ...) -> str | None: ...

    def renew(self, job: str, occurrence: str, owner: str, lease: timedelta = ...) -> bool: ...

    def finish(self, job: str, occurrence: str, owner: str, *, ok: bool) -> None: ...

    def stuck(self) -> list[StuckClaim]: ...


class PullStages(Protocol):
    """`staging.py: PullStage`"""

    id: int
    facts: int  # facts staged so far
    usage: int  # usage buckets staged so far
    discarded_before: int  # stages of earlier pulls (a crash) discarded when this one opened

    def add(
        self,
        pages: Sequence[RawPage],
        facts: Sequence[Fact],
        usage: Sequence[Usage],
        *,
        run_id: str | None,
        now: datetime,
    ) -> None: ...

    def promote(
        self,
        window: Window,
        bookmark: str,
        *,
        run_id: str | None,
        now: datetime,
        refused: Collection[date] = (),
        error: str = "",
        entity: str = "",
    ) -> tuple: ...

    def discard(self) -> None: ...


class Outbox(Protocol):
    """`outbox.py: OutboxRepository`"""

    def add(
        self, journal: Journal, *, ledger: str, run_id: str | None, now: datetime, hold_reason: str = ...
    ) -> int: ...

    def posted_by_bucket(
        self,
        entity: str,
        *,
        first_day: date | None = ...,
        last_day: date | None = ...,
        kinds: Sequence[JournalKind] | None = ...,
        as_computed: bool = ...,
    ) -> dict[Bucket, Decimal]: ...

    def posted_lines(self, entity: str, first_day: date, last_day: date) -> builtins.list[PostedLine]: ...

    def posted_converted(
        self, entity: str, first_day: date
    ) -> dict[Bucket, dict[str, tuple[Decimal, Decimal]]]: ...

    def keys_by_bucket(
        self, entity: str, kinds: Sequence[JournalKind], first_day: date, last_day: date
    ) -> dict[Bucket, builtins.list[tuple[int, str]]]: ...

    def summary(self, entity: str) -> list: ...

    def used_serials(self, entity: str) -> dict[str, int]: ...

    def pending(self, entity: str) -> builtins.list[StoredJournal]: ...

    def by_key(self, entity: str, key: str) -> StoredJournal | None: ...

    def list(
        self,
        entity: str,
        *,
        statuses: Sequence[str] | None = ...,
        first_day: date | None = ...,
        last_day: date | None = ...,
    ) -> builtins.list[StoredJournal]: ...

    def held_by_run(self, entity: str, run_id: str) -> builtins.list[StoredJournal]: ...

    def earliest_rejected_period(self, entity: str) -> date | None: ...

    def for_bucket_periods(
        self, entity: str, first_day: date, last_day: date
    ) -> builtins.list[StoredJournal]: ...

    def set_status(
        self,
        journal_id: int,
        status: str,
        *,
        now: datetime,
        ledger_id: str | None = ...,
        error: str | None = ...,
    ) -> None: ...

    def approve(self, journal_id: int, approver: str) -> None: ...

    def approvers(self, journal_ids: Sequence[int]) -> dict[int, str]: ...

    def planned_by(self, journal_id: int) -> str | None: ...

    def replan(self, journal_id: int, *, run_id: str | None) -> None: ...

    def last_attempt_started(self, journal_ids: Sequence[int]) -> dict[int, datetime]: ...

    def start_attempt(
        self, journal_id: int, *, run_id: str | None, request_id: str, now: datetime
    ) -> int: ...

    def finish_attempt(
        self,
        attempt_id: int,
        outcome: str,
        *,
        now: datetime,
        ledger_id: str | None = ...,
        error_class: str | None = ...,
        error_message: str | None = ...,
    ) -> None: ...

    def attempts(self, journal_ids: Sequence[int]) -> builtins.list[AttemptRecord]: ...

    def records_for_period(
        self, entity: str, first_day: date, last_day: date
    ) -> builtins.list[JournalRecord]: ...


class Runs(Protocol):
    """`audit_log.py: RunRepository`"""

    def start(
        self,
        run_id: str,
        kind: str,
        *,
        entity: str | None,
        params: dict,
        actor: str,
        code_version: str,
        owner: str | None,
        now: datetime,
    ) -> None: ...

    def finish(self, run_id: str, status: str, *, reason: str | None, stats: dict, now: datetime) -> None: ...

    def get(self, run_id: str) -> RunRecord | None: ...

    def starting_with(self, prefix: str, limit: int = ...) -> list[RunRecord]: ...

    def abandon_running(self, entity: str, *, now: datetime, reason: str) -> list[RunRecord]: ...

    def last_per_entity(
        self, kind: str | None = ..., statuses: Sequence[str] | None = ...
    ) -> list[RunRecord]: ...

    def of_entity(self, entity: str) -> list[RunRecord]: ...

    def status_counts(self) -> dict[tuple[str, str | None, str], int]: ...

    def latest(self, limit: int = ..., kind: str | None = ...) -> list[RunRecord]: ...


class Events(Protocol):
    """`audit_log.py: EventLog`"""

    def append(
        self,
        kind: str,
        message: str,
        *,
        run_id: str | None = ...,
        actor: str = ...,
        level: str = ...,
        data: dict | None = ...,
        now: datetime | None = ...,
    ) -> EventRecord: ...

    def head(self) -> ChainHead | None: ...

    def last_data(self, kind: str, **match: object) -> dict | None: ...

    def in_order(self, batch: int = ...) -> Iterator[EventRecord]: ...

    def for_run(self, run_id: str) -> list[EventRecord]: ...

    def all(self) -> list[EventRecord]: ...

    def of_kind(self, kind: str, since: datetime | None = ...) -> list[EventRecord]: ...

    def for_runs(self, run_ids: Sequence[str]) -> list[EventRecord]: ...


class Alerts(Protocol):
    """`audit_log.py: AlertRepository`"""

    def for_period(self, entity: str, period: str) -> list[AlertRecord]: ...

    def newest(self, limit: int) -> list[AlertRecord]: ...

    def unsent(self) -> list[AlertRecord]: ...

    def dedup_keys(self) -> set[str]: ...

    def add(self, alert: Alert, *, now: datetime, run_id: str | None) -> None: ...

    def delivered(
        self, alert_id: int, channels: list[str], error: str | None, sent_at: datetime | None
    ) -> None: ...


# ----------------------------------------------------------------------------- the unit of work, the store


class UnitOfWork(Protocol):
    """One transaction over the store: work through the repositories, then `commit` once."""

    # facts (store/facts.py)
    @property
    def facts(self) -> Facts: ...

    @property
    def usage(self) -> UsageRecords: ...

    @property
    def raw(self) -> RawPayloads: ...

    @property
    def bookmarks(self) -> Bookmarks: ...

    @property
    def day_sums(self) -> KeptDaySums: ...

    # outbox (store/outbox.py, store/commitments.py)
    @property
    def outbox(self) -> Outbox: ...

    @property
    def commitments(self) -> Commitments: ...

    # classification (store/classification.py)
    @property
    def mappings(self) -> MappingVersions: ...

    @property
    def policies(self) -> PolicyVersions: ...

    @property
    def allocations(self) -> Allocations: ...

    @property
    def charts(self) -> Charts: ...

    # audit log (store/audit_log.py)
    @property
    def runs(self) -> Runs: ...

    @property
    def events(self) -> Events: ...

    @property
    def alerts(self) -> Alerts: ...

    # inputs (store/inputs.py)
    @property
    def invoices(self) -> Invoices: ...

    @property
    def reconciliations(self) -> Reconciliations: ...

    @property
    def imports(self) -> Imports: ...

    @property
    def credit_lots(self) -> CreditLots: ...

    @property
    def fact_marks(self) -> FactMarks: ...

    @property
    def customer_credits(self) -> CustomerCredits: ...

    # beside them: connections' health, the console's users and read models
    @property
    def connections(self) -> Connections: ...

    @property
    def users(self) -> Users: ...

    @property
    def console(self) -> Console: ...

    @property
    def console_summaries(self) -> ConsoleSummaryCache: ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, *exc: Any) -> None: ...

    def totals(self, ok_statuses: tuple[str, ...]) -> StoreTotals: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class Store(Protocol):
    """Where a service gets its units of work and the entity lock (one process per entity at a time)."""

    def unit_of_work(self) -> UnitOfWork: ...

    def entity_lock(self, entity: str) -> AbstractContextManager[bool]: ...

    def job_claims(self) -> Claims: ...

    def open_pull_stage(
        self, *, source: str, provider_account: str, run_id: str | None, now: datetime
    ) -> PullStages:
        """A new stage for one pull's pages (store/staging.py): added as they arrive, then promoted in one
        transaction or discarded; stages an interrupted pull left behind are discarded first."""
        ...

"""SQLModel tables: facts, raw payloads, bookmarks, runs and their events, the journal outbox.

These rows stay in the store; the domain sees frozen dataclasses built from them by the repositories.
Amounts are stored exactly: NUMERIC on PostgreSQL and decimal text on SQLite (which has no decimal
type and would otherwise round through float). Timestamps are timezone-aware UTC on both (SQLModel's
`datetime` columns are TIMESTAMP WITH TIME ZONE on PostgreSQL and refuse naive values).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Index, Numeric, String, Table, Text, UniqueConstraint, false
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def table_of(model: type[SQLModel]) -> Table:
    """A table model's Core table, for queries below the ORM (SQLModel sets `__table__` when the class is
    made; its type does not say so)."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


class ExactDecimal(TypeDecorator):
    """A Decimal column that never passes through float, on any database."""

    impl = String(64)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            # NUMERIC with no precision keeps every digit and the scale it was given (10.004 stays
            # 10.004, not 10.004000000000), so both databases give back exactly what was stored.
            return dialect.type_descriptor(Numeric(asdecimal=True))
        return dialect.type_descriptor(String(64))

    # The processors are written out (rather than process_bind_param / process_result_value) because a
    # month of facts and allocations passes millions of amounts through them: one lean call per value.
    def bind_processor(self, dialect: Any) -> Any:
        as_text = dialect.name != "postgresql"

        def process(value: Any) -> Any:
            if value is None:
                return None
            if not isinstance(value, Decimal):
                raise TypeError(f"amount columns take Decimal, got {type(value).__name__}")
            return format(value, "f") if as_text else value

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        def process(value: Any) -> Decimal | None:
            return value if value is None or isinstance(value, Decimal) else Decimal(value)

        return process


def _money(nullable: bool = False) -> Any:
    return Field(
        default=None if nullable else Decimal(0), sa_column=Column(ExactDecimal(), nullable=nullable)
    )


def _json(default: Any) -> Any:
    return Field(default_factory=lambda: type(default)(), sa_column=Column(JSON, nullable=False))


class RawPayloadRow(SQLModel, table=True):
    """A provider response (or file) exactly as received, for lineage."""

    __tablename__ = "raw_payloads"
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(index=True)
    endpoint: str
    request: dict = _json({})
    body: str = Field(sa_column=Column(Text, nullable=False))
    sha256: str = Field(index=True)
    fetched_at: datetime
    run_id: str | None = Field(default=None, index=True)


class FactRow(SQLModel, table=True):
    __tablename__ = "facts"
    __table_args__ = (
        Index("ix_facts_key_current", "entity", "provider", "natural_key", "is_current"),
        Index("ix_facts_entity_day", "entity", "is_current", "posting_date"),
        Index("ix_facts_source_window", "source", "provider_account", "charge_date"),
    )
    id: int | None = Field(default=None, primary_key=True)
    entity: str
    source: str
    provider: str
    provider_account: str
    natural_key: str
    version: int = 1
    is_current: bool = True
    charge_date: date
    posting_date: date
    amount: Decimal = _money()
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    cost_basis: str = "billed"
    charge_category: str = "usage"
    quantity: Decimal | None = _money(nullable=True)
    unit: str | None = None
    dimensions: dict = _json({})
    raw_payload_id: int | None = Field(default=None, foreign_key="raw_payloads.id")
    run_id: str | None = None
    pulled_at: datetime
    superseded_at: datetime | None = None


class BookmarkRow(SQLModel, table=True):
    """How far a source has read, moved only after its facts are committed."""

    __tablename__ = "bookmarks"
    source_id: str = Field(primary_key=True)
    value: str
    updated_at: datetime
    last_success_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_error_at: datetime | None = None
    # the days (ISO) the last pull refused: they keep what an earlier pull stored (`PullStage.promote`)
    refused_days: list = _json([])
    # the first day (ISO) of the source's history: the earliest first day of a window it stored; the lag
    # read again every night never reaches before it (`pull.window_for`). NULL: stored before 0014
    first_day: str | None = None
    # the last day (ISO) its pulls have read: past the bookmark when a pull refused days (the bookmark
    # stands before them, the later days were stored), the freshness counts from it. NULL: stored before
    # 0015, read as the bookmark
    read_through: str | None = None
    # the entities whose facts its source's pulls and imports stored: a bookmark no configured source of an
    # entity reads (a FOCUS import) is listed for these only (`pull.entity_sources_status`); [] before 0020
    # when its source held no facts then
    entities: list = _json([])


class RunRow(SQLModel, table=True):
    __tablename__ = "runs"
    id: str = Field(primary_key=True)
    kind: str
    entity: str | None = None
    actor: str = "tokenbooks"
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"  # running | succeeded | failed | partial | abandoned
    reason: str | None = Field(default=None, sa_column=Column(Text))
    params: dict = _json({})
    stats: dict = _json({})
    code_version: str = ""
    # the process that runs it, host:pid:thread:nonce as on a lease (`connector/leases.py`): a run whose
    # process is gone is stuck, whoever started it (a scheduled job, cron, a person); None before 0026
    owner: str | None = None


class EventRow(SQLModel, table=True):
    """The append-only run log. Each event's hash covers its content and the previous event's hash."""

    __tablename__ = "events"
    # an event of a kind found first or by id without reading the log (the first commitment: 0023)
    __table_args__ = (Index("ix_events_kind_id", "kind", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: str | None = Field(default=None, index=True)
    at: datetime
    actor: str
    kind: str  # run.started, stage.finished, posting.attempt, …
    level: str = "info"
    message: str = Field(sa_column=Column(Text, nullable=False))
    data: dict = _json({})
    prev_hash: str
    hash: str = Field(index=True)
    hash_scheme: int = 2  # which fields the hash covers (store/audit_log.py: event_hash)


class MappingVersionRow(SQLModel, table=True):
    __tablename__ = "mapping_versions"
    __table_args__ = (UniqueConstraint("content_hash"),)
    id: int | None = Field(default=None, primary_key=True)
    version: int
    effective_from: date
    change_note: str = Field(sa_column=Column(Text, nullable=False))
    content_hash: str
    content: str = Field(sa_column=Column(Text, nullable=False))
    source: str
    first_seen_at: datetime
    run_id: str | None = None


class AllocationRow(SQLModel, table=True):
    """A share of a fact, with the rule and mapping version that placed it (lineage)."""

    __tablename__ = "allocations"
    __table_args__ = (
        Index("ix_alloc_bucket", "entity", "posting_date", "provider", "provider_account"),
        # which days another mapping version placed (a version reaching into the past), found by range
        Index("ix_alloc_version", "entity", "mapping_version", "posting_date"),
    )
    id: int | None = Field(default=None, primary_key=True)
    fact_id: int = Field(foreign_key="facts.id", index=True)
    entity: str
    posting_date: date
    provider: str
    provider_account: str
    currency: str
    category: str
    target_key: str
    rule_id: str
    mapping_version: int
    percent: Decimal = _money()
    amount: Decimal = _money()
    run_id: str | None = None


class JournalRow(SQLModel, table=True):
    """The outbox: a journal is stored here, with its key, before any ledger call."""

    __tablename__ = "journals"
    __table_args__ = (
        UniqueConstraint("entity", "key"),
        Index("ix_journals_status", "entity", "status"),
        Index("ix_journals_txn_date", "entity", "txn_date"),  # the books' journals dated in a range
    )
    id: int | None = Field(default=None, primary_key=True)
    entity: str
    ledger: str
    key: str
    kind: str
    txn_date: date
    original_date: date | None = None
    currency: str
    exchange_rate: Decimal | None = _money(nullable=True)
    converted_from: str | None = None  # the provider's currency, when amounts were converted (policies)
    memo: str = Field(sa_column=Column(Text, nullable=False))
    provider: str = ""
    provider_account: str = ""
    status: str = "planned"  # planned | held | posting | posted | failed | rejected
    hold_reason: str | None = Field(default=None, sa_column=Column(Text))
    ledger_id: str | None = None
    generation: int = 1  # bumped when a journal deleted from the ledger must be posted again
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    planned_run_id: str | None = None
    created_at: datetime
    posted_at: datetime | None = None
    approved_by: str | None = None


class JournalLineRow(SQLModel, table=True):
    __tablename__ = "journal_lines"
    id: int | None = Field(default=None, primary_key=True)
    journal_id: int = Field(foreign_key="journals.id", index=True)
    line_no: int
    target_key: str
    amount: Decimal = _money()
    description: str = Field(sa_column=Column(Text, nullable=False))


class ContributionRow(SQLModel, table=True):
    """How much a journal adds to one posting bucket; Σ per bucket is what is already posted."""

    __tablename__ = "contributions"
    __table_args__ = (
        Index("ix_contrib_bucket", "entity", "kind", "period"),
        Index("ix_contrib_period", "entity", "period"),  # every kind's buckets of a range of months
    )
    id: int | None = Field(default=None, primary_key=True)
    journal_id: int = Field(foreign_key="journals.id", index=True)
    entity: str
    kind: str
    period: date
    provider: str
    provider_account: str
    currency: str
    target_key: str
    amount: Decimal = _money()
    pool: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # converted into the books' currency: the currency the bucket was computed in, and the amount in it
    converted_from: str | None = None
    source_amount: Decimal | None = _money(nullable=True)


class PostingAttemptRow(SQLModel, table=True):
    """One try at putting one journal into the ledger, whatever came of it."""

    __tablename__ = "posting_attempts"
    id: int | None = Field(default=None, primary_key=True)
    journal_id: int = Field(foreign_key="journals.id", index=True)
    run_id: str | None = Field(default=None, index=True)
    attempt_no: int
    started_at: datetime
    finished_at: datetime | None = None
    outcome: str = "started"  # started | created | found | rejected | uncertain | failed
    error_class: str | None = None
    error_message: str | None = Field(default=None, sa_column=Column(Text))
    ledger_id: str | None = None
    request_id: str | None = None


class InvoiceRow(SQLModel, table=True):
    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("provider", "provider_account", "number"),)
    id: int | None = Field(default=None, primary_key=True)
    entity: str
    provider: str
    provider_account: str
    number: str
    period: str  # YYYY-MM
    issue_date: date
    total: Decimal = _money()
    currency: str
    lines: list = _json([])
    source: str
    imported_at: datetime


class ReconciliationRow(SQLModel, table=True):
    __tablename__ = "reconciliations"
    id: int | None = Field(default=None, primary_key=True)
    run_id: str | None = Field(default=None, index=True)
    entity: str
    provider: str
    provider_account: str
    period: str
    currency: str
    provider_cost: Decimal = _money()
    invoice_total: Decimal | None = _money(nullable=True)
    posted_total: Decimal = _money()  # in `currency` (the provider's), as computed
    # what tokenbooks posted in the books' currency, and the ledger holds (NULL: stored before 0017)
    books_currency: str | None = None
    posted_in_books: Decimal | None = _money(nullable=True)
    ledger_total: Decimal | None = _money(nullable=True)  # in the books' currency
    status: str
    findings: list = _json([])
    created_at: datetime
    coverage: Decimal | None = _money(nullable=True)  # share of the invoice explained by metered cost
    variance: Decimal | None = _money(nullable=True)  # invoice − provider cost, when there is an invoice
    tolerance: Decimal | None = _money(nullable=True)


class ConnectionRow(SQLModel, table=True):
    """A ledger connection. Tokens are encrypted at rest; the key comes from the environment."""

    __tablename__ = "connections"
    __table_args__ = (UniqueConstraint("ledger", "entity"),)
    id: int | None = Field(default=None, primary_key=True)
    ledger: str
    entity: str
    company_id: str  # QuickBooks realm id / Xero tenant id
    token_ciphertext: str = Field(sa_column=Column(Text, nullable=False))
    access_expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    status: str = "ok"  # ok | reconnect_needed
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    updated_at: datetime
    token_version: int = 1
    company_name: str | None = None  # as the ledger names the company (Xero tenantName, QBO CompanyName)
    connected_at: datetime | None = None  # when a person last ran `tokenbooks connect`
    refreshed_at: datetime | None = None  # when the current refresh token arrived (its age)
    last_success_at: datetime | None = None  # the last ledger call that worked
    last_error_at: datetime | None = None
    # A lease, so two processes never refresh the same connection at once (`DatabaseVault.refresh_lock`).
    refresh_lock_owner: str | None = None
    refresh_lock_until: datetime | None = None


class LedgerChartRow(SQLModel, table=True):
    """An entity's chart of accounts and tracking options as last fetched from its ledger.

    `tokenbooks mappings check` validates the mapping against it (offline if need be) and says how old
    it is; a sync refreshes it.
    """

    __tablename__ = "ledger_charts"
    entity: str = Field(primary_key=True)
    ledger: str
    fetched_at: datetime
    accounts: list = _json([])  # [{id, name, number, type, active}]
    options: list = _json([])  # [{kind, id, name, active}]
    run_id: str | None = None


# ------------------------------------------------------------------------------ ingestion (issue 3)
# Usage beside cost, file imports with their quarantined rows, prepaid credit lots, customer credits.


class UsageRow(SQLModel, table=True):
    """A provider usage bucket (tokens, requests): enrichment, never booked. Versioned like facts."""

    __tablename__ = "usage"
    __table_args__ = (
        Index("ix_usage_source_window", "source", "provider_account", "usage_date"),
        Index("ix_usage_key_current", "entity", "provider", "natural_key", "is_current"),
    )
    id: int | None = Field(default=None, primary_key=True)
    entity: str
    source: str
    provider: str
    provider_account: str
    natural_key: str
    version: int = 1
    is_current: bool = True
    usage_date: date
    posting_date: date
    dimensions: dict = _json({})
    metrics: dict = _json({})  # name → decimal text, e.g. {"input_tokens": "1000"}
    raw_payload_id: int | None = Field(default=None, foreign_key="raw_payloads.id")
    run_id: str | None = None
    pulled_at: datetime
    superseded_at: datetime | None = None


class ImportRow(SQLModel, table=True):
    """One file import (FOCUS, invoices, credit lots, customer credits) and its tally."""

    __tablename__ = "imports"
    id: str = Field(primary_key=True)
    kind: str  # focus | invoices | credits | customer-credits
    entity: str | None = None
    file: str = Field(sa_column=Column(Text, nullable=False))
    sha256: str = Field(index=True)
    size_bytes: int = 0
    status: str  # succeeded | partial | failed
    rows_input: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    rows_skipped: int = 0
    tally: dict = _json({})
    reason: str | None = Field(default=None, sa_column=Column(Text))
    run_id: str | None = Field(default=None, index=True)
    raw_payload_id: int | None = Field(default=None, foreign_key="raw_payloads.id")
    imported_at: datetime


class QuarantineRow(SQLModel, table=True):
    """An input row an import refused: where it was, what is wrong, and the row as read."""

    __tablename__ = "quarantine"
    id: int | None = Field(default=None, primary_key=True)
    import_id: str = Field(foreign_key="imports.id", index=True)
    file: str = Field(sa_column=Column(Text, nullable=False))
    location: str  # "row 12", "invoices[3]"
    column: str
    reason: str = Field(sa_column=Column(Text, nullable=False))
    fix: str = Field(default="", sa_column=Column(Text, nullable=False))
    raw: str = Field(sa_column=Column(Text, nullable=False))
    amount: Decimal | None = _money(nullable=True)
    currency: str | None = None
    created_at: datetime


class CreditLotRow(SQLModel, table=True):
    """Prepaid provider credits bought in one purchase (file, CLI or a FOCUS Purchase row)."""

    __tablename__ = "credit_lots"
    __table_args__ = (UniqueConstraint("provider", "provider_account", "lot_id"),)
    id: int | None = Field(default=None, primary_key=True)
    entity: str = Field(index=True)
    provider: str
    provider_account: str
    lot_id: str
    purchase_date: date
    amount: Decimal = _money()
    currency: str
    expires_on: date | None = None
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    source: str = Field(sa_column=Column(Text, nullable=False))
    import_id: str | None = None
    # granted free by the provider (a promotion, a trial): no asset was bought, usage it pays for is no
    # expense (booked explicitly against the promotional_credits role)
    promotional: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    recorded_at: datetime
    pool: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    refund_of: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # a lot recorded in error is voided, never deleted: kept for the audit trail, drawn no more
    voided_at: datetime | None = None
    voided_by: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    void_reason: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))


class FactMarkRow(SQLModel, table=True):
    """A change to what an entity's books are planned from — its facts (an import, a pull) or a credit lot
    (recorded, changed, voided) — and the earliest posting day it changed, which the next plan reaches back
    to (a month the nightly window no longer covers); deleted once planned."""

    __tablename__ = "fact_change_marks"
    id: int | None = Field(default=None, primary_key=True)
    entity: str = Field(index=True)
    plan_from: date
    changed_by: str  # the import's id, the pull's run id, or "lot <provider>/<account>/<lot id>"
    recorded_at: datetime


class CustomerCreditEventRow(SQLModel, table=True):
    """A movement of a credit grant you sold: purchase, redemption, refund or expiry."""

    __tablename__ = "customer_credit_events"
    __table_args__ = (
        UniqueConstraint("entity", "event_id"),
        Index("ix_customer_credit_grant", "entity", "grant_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    entity: str
    event_id: str
    customer: str
    grant_id: str
    kind: str  # purchase | redemption | refund | expiry
    event_date: date
    amount: Decimal = _money()
    currency: str
    product: str = ""
    expires_on: date | None = None
    source: str = Field(sa_column=Column(Text, nullable=False))
    import_id: str | None = None
    recorded_at: datetime


# ------------------------------------------------------------------------------ service: audit, alerts


class AuditChainRow(SQLModel, table=True):
    """The head of the event chain: one row, locked by every append so two writers cannot fork the chain.

    It also remembers the last event, so deleting the newest events is as evident as deleting old ones.
    """

    __tablename__ = "audit_chain"
    id: int = Field(default=1, primary_key=True)
    last_event_id: int = 0
    last_hash: str
    events: int = 0
    updated_at: datetime


class CommitmentIndexRow(SQLModel, table=True):
    """Which event last committed a thing to the audit chain, found by key instead of by reading the log:
    a journal (kind `journal`: its entity and key) or a provider day of facts (kind `facts`: its source,
    provider account and ISO day). Written in the transaction, and beside, each `journals.committed` and
    `facts.committed` event (`store/commitments.py`); the poster and the sync read it on every run.

    It is a finding aid, not evidence: the events stay the truth (`audit verify` reads them). A row edited
    by hand can only send a reader to an event, whose hash the chain holds: a row naming an event that
    does not commit its key, or naming none, is refused by its readers, never taken as a pass."""

    __tablename__ = "commitment_index"
    __table_args__ = (Index("ix_commitment_index_kind_event", "kind", "event_id"),)
    kind: str = Field(primary_key=True, max_length=32)  # journal | facts
    subject: str = Field(primary_key=True)  # the journal's entity, or the facts' source
    account: str = Field(primary_key=True)  # the facts' provider account ("" for a journal)
    key: str = Field(primary_key=True)  # the journal's key, or the facts' provider day (ISO)
    event_id: int


class AlertRow(SQLModel, table=True):
    """An alert raised once per subject and period (the dedup key), and where it was sent."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("dedup_key"),)
    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str
    kind: str  # run_failed | reconnect_needed | suspense | reconciliation_variance | spend_spike | budget
    entity: str | None = None
    subject: str
    period: str
    severity: str = "warning"
    message: str = Field(sa_column=Column(Text, nullable=False))
    action: str = Field(sa_column=Column(Text, nullable=False))
    data: dict = _json({})
    raised_at: datetime
    sent_at: datetime | None = None
    channels: list = _json([])
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    run_id: str | None = None


# ------------------------------------------------------------------------------ policies (issue 5)


class PolicyVersionRow(SQLModel, table=True):
    """A version of the accounting policies file, stored the first time a run uses it (like mappings).

    `applied_at` is set by the first plan made under it: until then a version whose effective date
    reaches into the past makes the sync plan again from that date.
    """

    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("content_hash"),)
    id: int | None = Field(default=None, primary_key=True)
    version: int
    effective_from: date
    change_note: str = Field(sa_column=Column(Text, nullable=False))
    content_hash: str
    content: str = Field(sa_column=Column(Text, nullable=False))
    source: str
    first_seen_at: datetime
    applied_at: datetime | None = None
    run_id: str | None = None


# ------------------------------------------------------------------------------ the service (issue 18)


class JobClaimRow(SQLModel, table=True):
    """One occurrence of a scheduled job (`nightly:acme-us` for 2026-11-01), claimed by the `serve` that
    runs it: two services on one database run each occurrence once. A claim not finished by its
    `expires_at` (its holder died) may be taken over."""

    __tablename__ = "job_claims"
    job: str = Field(primary_key=True)
    occurrence: str = Field(primary_key=True)  # the entity-local date of a nightly, the period of a month-end
    owner: str  # host:pid:thread:nonce of the process that holds it
    claimed_at: datetime
    expires_at: datetime
    finished_at: datetime | None = None
    outcome: str | None = None  # ok | failed


# -------------------------------------------------------------------------------- the console (issue 14)


class UserRow(SQLModel, table=True):
    """A person who signs in to the web console (`tokenbooks users …`); read as `domain.users.User`."""

    __tablename__ = "console_users"
    __table_args__ = (UniqueConstraint("username"),)
    id: int | None = Field(default=None, primary_key=True)
    username: str
    display_name: str = ""
    email: str | None = Field(default=None, index=True)
    role: str  # auditor | accountant | controller | approver
    password_hash: str | None = Field(default=None, sa_column=Column(Text))  # argon2id; None: SSO only
    oidc_subject: str | None = Field(default=None, index=True)
    active: bool = True
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None = None
    disabled_at: datetime | None = None
    sessions_ended_at: datetime | None = None  # sessions signed in before are over (sign-out, disable …)


class ConsoleSummaryRow(SQLModel, table=True):
    """What a console page needs (a period's close checklist, the spend by month), as computed after the
    last change to the books (`store/console_summaries.py`): pages read it instead of recomputing it."""

    __tablename__ = "console_summaries"
    entity: str = Field(primary_key=True)
    name: str = Field(primary_key=True)  # close:YYYY-MM, spend:YYYY-MM..YYYY-MM
    stamp: str  # what the books looked like when computed: another stamp means it is stale
    computed_at: datetime
    data: dict = _json({})


# ------------------------------------------------------------------------- streaming pulls (issue 17)


class PullStageRow(SQLModel, table=True):
    """A pull in progress: its pages are stored as they arrive (raw payloads, staged facts and usage) and
    become the source's facts only when the whole window has been read (`store/staging.py`). A stage left
    behind by a crash is discarded by the next pull of the same source and account."""

    __tablename__ = "pull_stages"
    __table_args__ = (Index("ix_pull_stages_source", "source", "provider_account"),)
    id: int | None = Field(default=None, primary_key=True)
    source: str
    provider_account: str
    run_id: str | None = None
    started_at: datetime
    raw_payload_ids: list = _json([])  # the pages stored so far: deleted with a stage that is discarded
    facts: int = 0  # rows staged so far, checked when the stage is promoted
    usage: int = 0


class StagedFactRow(SQLModel, table=True):
    """A fact read by a pull still in progress: the columns of `facts` it is written with, and its stage.
    Never read as a fact until promoted (then copied into `facts` and deleted here)."""

    __tablename__ = "staged_facts"
    __table_args__ = (Index("ix_staged_facts_stage_day", "stage_id", "charge_date"),)
    id: int | None = Field(default=None, primary_key=True)
    stage_id: int
    entity: str
    source: str
    provider: str
    provider_account: str
    natural_key: str
    version: int = 1
    charge_date: date
    posting_date: date
    amount: Decimal = _money()
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    cost_basis: str = "billed"
    charge_category: str = "usage"
    quantity: Decimal | None = _money(nullable=True)
    unit: str | None = None
    dimensions: dict = _json({})
    raw_payload_id: int | None = None


class StagedUsageRow(SQLModel, table=True):
    """A usage bucket read by a pull still in progress (see `StagedFactRow`)."""

    __tablename__ = "staged_usage"
    __table_args__ = (Index("ix_staged_usage_stage_day", "stage_id", "usage_date"),)
    id: int | None = Field(default=None, primary_key=True)
    stage_id: int
    entity: str
    source: str
    provider: str
    provider_account: str
    natural_key: str
    version: int = 1
    usage_date: date
    posting_date: date
    dimensions: dict = _json({})
    metrics: dict = _json({})
    raw_payload_id: int | None = None


class PlanDaySumsRow(SQLModel, table=True):
    """What classifying one posting day's facts summed, and the identity of its inputs: a later plan whose
    inputs for the day are the same adds these sums instead of reading the day (`domain/day_sums.py`)."""

    __tablename__ = "plan_day_sums"
    entity: str = Field(primary_key=True)
    day: date = Field(primary_key=True)
    inputs: str  # `day_inputs` digest: the day's facts, mapping version, policies, code
    data: dict = _json({})  # `DaySums.to_data()`
    planned_at: datetime

"""What the web console's pages show, as frozen values: runs, events, journals, lineage, alerts.

The store builds these (`store/console_reads.py`) and the read models (`service/console.py`) put them
together; the web layer only renders them. Amounts stay `Decimal`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Page:
    """Which slice of a long list a page shows."""

    number: int = 1
    size: int = 50

    @property
    def offset(self) -> int:
        return (max(self.number, 1) - 1) * self.size


@dataclass(frozen=True, slots=True)
class RunSummary:
    id: str
    kind: str
    entity: str | None
    actor: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    reason: str | None
    params: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    at: datetime
    actor: str
    kind: str
    level: str
    message: str
    run_id: str | None
    data: dict
    hash: str


@dataclass(frozen=True, slots=True)
class JournalSummary:
    key: str
    entity: str
    kind: str
    txn_date: date
    status: str
    currency: str
    debits: Decimal  # Σ of the debit lines: the journal's size, as an accountant reads it
    memo: str
    hold_reason: str | None
    approved_by: str | None
    ledger_id: str | None
    planned_run_id: str | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class PayloadDetail:
    """A provider's raw payload as received: the end of every lineage (console and `audit trace`)."""

    id: int
    source: str
    endpoint: str
    request: dict
    sha256: str
    fetched_at: datetime
    body: str


@dataclass(frozen=True, slots=True)
class LineageRow:
    """One allocation in a posting bucket: the rule and mapping version that placed a share of a fact."""

    allocation_id: int
    rule_id: str
    mapping_version: int
    category: str
    percent: Decimal
    amount: Decimal
    fact_id: int
    fact_version: int
    fact_current: bool
    natural_key: str
    charge_date: date
    fact_amount: Decimal
    currency: str
    cost_basis: str
    dimensions: dict
    payload_id: int | None


@dataclass(frozen=True, slots=True)
class LineageSlice:
    """A page of a bucket's allocations, with the whole bucket's count and total."""

    rows: tuple[LineageRow, ...]
    count: int
    total: Decimal


@dataclass(frozen=True, slots=True)
class AlertSummary:
    id: int
    kind: str
    entity: str | None
    subject: str
    period: str
    severity: str
    message: str
    action: str
    raised_at: datetime
    run_id: str | None = None  # the run the alert is about (a failed or partial run), for a link to it


@dataclass(frozen=True, slots=True)
class ConnectionSummary:
    ledger: str
    entity: str
    status: str
    last_error: str | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class FileVersion:
    """A stored version of a controller's file (the mapping or the policies)."""

    version: int
    effective_from: date
    change_note: str
    content_hash: str
    content: str
    first_seen_at: datetime
    author: str | None = (
        None  # who saved it in the console (None: it came from the file, first used by a run)
    )

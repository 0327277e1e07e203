"""Repositories: the store's vocabulary, translating rows to domain objects and back.

One `UnitOfWork` is one transaction: the service opens it, works through the repositories, and commits
once, so facts and their bookmark, or a journal and its contributions, land together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Text, cast, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from connector.domain.accounting_policy import PolicySet
from connector.domain.chart import LedgerAccount, LedgerChart, TrackingOption
from connector.domain.credits import (
    CreditLot,
    CustomerCreditEvent,
    CustomerCreditKind,
    GrantBalance,
    grant_balances,
)
from connector.domain.facts import ChargeCategory, CostBasis, Dimensions, Fact
from connector.domain.imports import QuarantinedRow
from connector.domain.journals import (
    Bucket,
    Contribution,
    Journal,
    JournalKind,
    JournalLine,
    LedgerTarget,
    serial_of,
)
from connector.domain.mapping import Allocation, MappingSet
from connector.domain.mapping_history import VersionSpan
from connector.domain.money import ZERO
from connector.domain.prepaid import lot_order
from connector.domain.usage import Usage
from connector.redaction import redact, redact_data
from connector.store.bulk import BulkInsert, driver_value, paused_gc, result_converter
from connector.store.console_reads import ConsoleReads
from connector.store.console_summaries import ConsoleSummaries
from connector.store.tables import (
    AlertRow,
    AllocationRow,
    AuditChainRow,
    BookmarkRow,
    ContributionRow,
    CreditLotRow,
    CustomerCreditEventRow,
    EventRow,
    FactRow,
    ImportRow,
    InvoiceRow,
    JournalLineRow,
    JournalRow,
    LedgerChartRow,
    MappingVersionRow,
    PolicyVersionRow,
    PostingAttemptRow,
    QuarantineRow,
    RawPayloadRow,
    ReconciliationRow,
    RunRow,
    UsageRow,
)
from connector.store.users import UserRepository

GENESIS_HASH = "0" * 64


def utcnow() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------------------------------------ facts


class StoredFact(NamedTuple):  # a NamedTuple: a month of them is built per plan
    id: int
    fact: Fact


@dataclass(frozen=True, slots=True)
class ReplaceResult:
    """What a re-pull of a window did to the stored facts."""

    inserted: int = 0
    restated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    changed_days: frozenset[date] = frozenset()  # posting days whose facts changed

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.restated or self.withdrawn)


# Bulk reads and writes of facts and allocations go through the tables, below the ORM: rows as tuples
# (SQLAlchemy Core to read, `store/bulk.py` to write), which is what makes a month of a million facts fit
# in the nightly window.
FACTS = FactRow.__table__
ALLOCATIONS = AllocationRow.__table__

# What a fact row is written with, in this order; `is_current`, `run_id` and `pulled_at` are the same
# for every row of a write (BulkInsert constants).
# Both versioned tables (facts, usage) begin with who reported the bucket and which version it is.
SOURCED_COLUMNS = ("entity", "source", "provider", "provider_account", "natural_key", "version")


def sourced_values(item: Fact | Usage, version: int) -> tuple:
    """The values of SOURCED_COLUMNS for a fact or a usage bucket."""
    return (item.entity, item.source, item.provider, item.provider_account, item.natural_key, version)


FACT_COLUMNS = (
    *SOURCED_COLUMNS,
    "charge_date",
    "posting_date",
    "amount",
    "currency",
    "cost_basis",
    "charge_category",
    "quantity",
    "unit",
    "dimensions",
    "raw_payload_id",
)


def fact_row_values(fact: Fact, version: int, raw_payload_id: int | None) -> tuple:
    """A fact as the values of FACT_COLUMNS (its dimensions as the `Dimensions` value: see `versioned_writer`)."""
    return (
        *sourced_values(fact, version),
        fact.charge_date,
        fact.posting_date,
        fact.amount,
        fact.currency,
        fact.cost_basis.value,
        fact.charge_category.value,
        fact.quantity,
        fact.unit,
        fact.dimensions,
        raw_payload_id,
    )


def versioned_writer(
    table: Any, columns: Sequence[str], days: Sequence[str]
) -> Callable[[Connection, str | None, datetime], BulkInsert]:
    """How new current rows of a versioned table (facts, usage) are written in bulk: `columns` given per
    row, days and dimension sets converted once per distinct value (a `Dimensions` stands for its JSON),
    and the same `is_current`, run and time on every row of a write."""

    def writer(connection: Connection, run_id: str | None, now: datetime) -> BulkInsert:
        return BulkInsert(
            connection,
            table,
            columns,
            repeating=(*days, "dimensions"),
            adapt={"dimensions": Dimensions.as_dict},
            constants={"is_current": True, "run_id": run_id, "pulled_at": now},
        )

    return writer


_COST_BASES = {basis.value: basis for basis in CostBasis}
_CHARGE_CATEGORIES = {category.value: category for category in ChargeCategory}
_FACT_COLUMNS_READ = (  # what a Fact is built from, in this order (then the dimensions as JSON text)
    "id",
    "entity",
    "provider",
    "provider_account",
    "natural_key",
    "version",
    "charge_date",
    "posting_date",
    "amount",
    "currency",
    "cost_basis",
    "charge_category",
    "quantity",
    "unit",
    "source",
)


class FactReader:
    """Facts read in bulk: the driver's values (`store/bulk.py: driver_value`), converted by the columns'
    own result processors — each distinct day once — and the dimensions parsed once per distinct JSON
    text, so a month of a million facts reads at the speed of the driver."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._day = result_converter(connection, FACTS.c.posting_date, repeating=True)
        self._money = result_converter(connection, FACTS.c.amount)

    @staticmethod
    def query(*where: Any, table: Any = FACTS, extra: Sequence[Any] = ()) -> Any:
        """The columns a Fact is built from (of `facts`, or of a table with the same columns), then `extra`."""
        columns = [driver_value(table.c[name]) for name in _FACT_COLUMNS_READ]
        return select(*columns, cast(table.c.dimensions, Text).label("dimensions_json"), *extra).where(*where)

    def stored_facts(self, query: Any) -> list[StoredFact]:
        fact = self.fact
        return [StoredFact(row[0], fact(row)) for row in self.connection.execute(query)]

    def fact(self, row: Any) -> Fact:
        """A row selected as `query` selects it (columns beyond them are ignored) as a Fact."""
        day, money = self._day, self._money
        return Fact(
            entity=row[1],
            provider=row[2],
            provider_account=row[3],
            charge_date=day(row[6]),
            posting_date=day(row[7]),
            amount=money(row[8]),
            currency=row[9],
            natural_key=row[4],
            dimensions=dimensions_from_json(row[15]),
            cost_basis=_COST_BASES[row[10]],
            charge_category=_CHARGE_CATEGORIES[row[11]],
            quantity=money(row[12]),
            unit=row[13],
            version=row[5],
            source=row[14],
        )

    def versions(self, *where: Any) -> list[StoredVersion]:
        """The stored rows `where` says, as `replace_window` compares them with a re-read window."""
        c = FACTS.c
        columns = ("id", "natural_key", "version", "posting_date", "amount", "currency", "quantity")
        query = select(
            *(driver_value(c[name]) for name in columns),
            c.cost_basis,
            c.charge_category,
            cast(c.dimensions, Text),
        ).where(*where)
        day, money = self._day, self._money
        return [
            StoredVersion(
                row[0],
                row[1],
                row[2],
                day(row[3]),
                (money(row[4]), row[5], money(row[6]), row[7], row[8], dimensions_from_json(row[9])),
            )
            for row in self.connection.execute(query)
        ]


def fact_content(fact: Fact) -> tuple:
    """What a restatement changes (beside the posting day): amount, currency, quantity, cost basis, charge
    category and dimensions — in the order of `StoredVersion.content` for facts."""
    return (
        fact.amount,
        fact.currency,
        fact.quantity,
        fact.cost_basis.value,
        fact.charge_category.value,
        fact.dimensions,
    )


@lru_cache(maxsize=250_000)
def dimensions_from_json(text: str) -> Dimensions:
    """The same dimension sets recur day after day: parse each distinct JSON text once (immutable result)."""
    return Dimensions.of(json.loads(text))


class StoredVersion(NamedTuple):
    """A stored current row of a versioned table, as a re-read window is compared with it."""

    id: int
    natural_key: str
    version: int
    posting_date: date
    content: Any  # what `Versioned.same` compares


@dataclass(frozen=True)
class Versioned:
    """How `replace_window` reads, compares and writes one versioned table (facts, usage)."""

    table: Any
    day: str  # the column a source window is cut on (the provider's day)
    read: Callable[[Connection, tuple], Iterable[StoredVersion]]  # the current rows the clauses select
    same: Callable[[StoredVersion, Any], bool]  # (stored row, incoming item) → nothing changed
    writer: Callable[[Connection, str | None, datetime], BulkInsert]
    values: Callable[[Any, int, int | None], tuple]  # (item, version, raw payload id) → the writer's row
    day_of: Callable[[Any], date]  # an incoming item's provider day


class Incoming(Protocol):
    """A re-read window as `replace_window` takes it, a provider day at a time: held in memory
    (`InMemoryWindow`) or staged in the store as its pages arrived (`store/staging.py`)."""

    def days(self) -> Iterable[date]:
        """The provider days that have items."""
        ...

    def on(self, day: date) -> Iterable[tuple[Any, int | None]]:
        """The items of a provider day, each with the raw payload it came from."""
        ...

    def reported(self, keys: Collection[str]) -> set[str]:
        """Which of these natural keys the window reports (on any day)."""
        ...

    def copy_day(self, connection: Connection, day: date, run_id: str | None, now: datetime) -> Copied | None:
        """Write a day's items as new current rows (version 1) when the day has none stored, if this
        window can do it without reading them (None: it cannot; they are compared as usual)."""
        ...


class Copied(NamedTuple):
    rows: int
    posting_days: frozenset[date]


class InMemoryWindow:
    """A re-read window held as a list of items (a FOCUS file's buckets, a source's whole result)."""

    def __init__(self, items: Sequence[Any], raw_payload_ids: Mapping[str, int], day_of: Callable) -> None:
        self.by_day: dict[date, list] = defaultdict(list)
        for item in items:
            self.by_day[day_of(item)].append(item)
        self.keys = {item.natural_key for item in items}
        self.raw_payload_ids = raw_payload_ids

    def days(self) -> Iterable[date]:
        return self.by_day.keys()

    def on(self, day: date) -> Iterable[tuple[Any, int | None]]:
        return ((item, self.raw_payload_ids.get(item.natural_key)) for item in self.by_day.pop(day, ()))

    def reported(self, keys: Collection[str]) -> set[str]:
        return self.keys & set(keys)

    def copy_day(self, connection: Connection, day: date, run_id: str | None, now: datetime) -> None:
        return None


@paused_gc()  # a window is a month of short-lived rows and facts: see paused_gc
def replace_window(
    connection: Connection,
    spec: Versioned,
    *,
    source: str,
    provider_account: str,
    first_day: date,
    last_day: date,
    incoming: Incoming,
    run_id: str | None,
    now: datetime,
) -> ReplaceResult:
    """Make a source window's current rows of a versioned table (facts, usage) equal to `incoming`.

    A bucket whose content is unchanged keeps its row; a changed one gets a new version and the old row
    is kept, no longer current (history); a bucket the provider no longer reports is withdrawn. The
    window is compared and written one provider day at a time, so memory holds a day of stored rows
    (and, from a staged window, a day of its items), never the window's, and only new and restated
    buckets are written (in bulk).
    """
    writer = spec.writer(connection, run_id, now)
    c = spec.table.c
    in_window = (c.source == source, c.provider_account == provider_account, c.is_current.is_(True))
    changed_days: set[date] = set()
    superseded: list[int] = []
    withdrawn: dict[str, Any] = {}
    written = restated = unchanged = 0
    for day in sorted(set(_days(first_day, last_day)) | set(incoming.days())):
        stored = {row.natural_key: row for row in spec.read(connection, (*in_window, c[spec.day] == day))}
        copied = None if stored else incoming.copy_day(connection, day, run_id, now)
        if copied is not None:
            written += copied.rows
            changed_days |= copied.posting_days
            continue
        rows = []
        for item, raw_payload_id in incoming.on(day):
            old = stored.pop(item.natural_key, None)
            if old is not None and spec.same(old, item):
                unchanged += 1
                continue
            version = 1
            if old is not None:
                restated += 1
                superseded.append(old.id)
                changed_days.add(old.posting_date)
                version = old.version + 1
            changed_days.add(item.posting_date)
            rows.append(spec.values(item, version, raw_payload_id))
        written += writer.write(rows) if rows else 0
        for gone in stored.values():
            withdrawn[gone.natural_key] = gone
            superseded.append(gone.id)
            changed_days.add(gone.posting_date)
    for chunk in _chunks(superseded):
        connection.execute(
            update(spec.table).where(c.id.in_(chunk)).values(is_current=False, superseded_at=now)
        )
    moved = _moved(connection, spec, in_window, withdrawn, incoming)
    return ReplaceResult(
        inserted=written - restated - moved,
        restated=restated + moved,
        unchanged=unchanged,
        withdrawn=len(withdrawn) - moved,
        changed_days=frozenset(changed_days),
    )


def _moved(
    connection: Connection, spec: Versioned, in_window: tuple, withdrawn: dict[str, Any], incoming: Incoming
) -> int:
    """Buckets the provider now reports on another day of the window: a restatement, not a withdrawal
    and a new bucket, so the new row takes the next version of the old one. Returns how many."""
    if not withdrawn:
        return 0
    keys = incoming.reported(withdrawn.keys())
    for key in keys:
        connection.execute(
            update(spec.table)
            .where(*in_window, spec.table.c.natural_key == key)
            .values(version=withdrawn[key].version + 1)
        )
    return len(keys)


def _days(first_day: date, last_day: date) -> Iterator[date]:
    day = first_day
    while day <= last_day:
        yield day
        day += timedelta(days=1)


FACT_TABLE = Versioned(
    FACTS,
    day="charge_date",
    read=lambda connection, where: FactReader(connection).versions(*where),
    same=lambda old, fact: old.posting_date == fact.posting_date and old.content == fact_content(fact),
    writer=versioned_writer(FACTS, FACT_COLUMNS, days=("charge_date", "posting_date")),
    values=fact_row_values,
    day_of=lambda fact: fact.charge_date,
)


class FactRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

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
    ) -> ReplaceResult:
        """Make the stored current facts of a source window equal to `facts` (see `replace_window`)."""
        return replace_window(
            self.session.connection(),
            FACT_TABLE,
            source=source,
            provider_account=provider_account,
            first_day=first_day,
            last_day=last_day,
            incoming=InMemoryWindow(facts, raw_payload_ids, FACT_TABLE.day_of),
            run_id=run_id,
            now=now,
        )

    def current(
        self, entity: str, first_day: date | None = None, last_day: date | None = None
    ) -> list[StoredFact]:
        return [stored for chunk in self.current_chunks(entity, first_day, last_day) for stored in chunk]

    def current_chunks(
        self, entity: str, first_day: date | None = None, last_day: date | None = None, size: int = 50_000
    ) -> Iterator[list[StoredFact]]:
        """The entity's current facts posted in [first_day, last_day], day by day in id order, at most
        `size` at a time: a month of a large organisation is planned without holding it whole."""
        c = FACTS.c
        current = (c.entity == entity, c.is_current.is_(True))
        connection = self.session.connection()
        reader = FactReader(connection)
        in_range = [*current]
        if first_day:
            in_range.append(c.posting_date >= first_day)
        if last_day:
            in_range.append(c.posting_date <= last_day)
        days = select(c.posting_date).where(*in_range).distinct().order_by(c.posting_date)
        for day in connection.execute(days).scalars().all():  # the days that have facts, not the calendar
            after = 0
            while True:
                query = reader.query(*current, c.posting_date == day, c.id > after).order_by(c.id).limit(size)
                chunk = reader.stored_facts(query)
                if not chunk:
                    break
                yield chunk
                if len(chunk) < size:
                    break
                after = chunk[-1].id

    def summary(self, entity: str, first_day: date, last_day: date) -> list:
        """How many current facts the entity has in the range, and the newest one's id (any change moves one)."""
        c = FACTS.c
        row = (
            self.session.connection()
            .execute(
                select(func.count(), func.max(c.id)).where(
                    c.entity == entity,
                    c.is_current.is_(True),
                    c.posting_date >= first_day,
                    c.posting_date <= last_day,
                )
            )
            .one()
        )
        return [row[0], row[1]]

    def earliest_day(self, entity: str) -> date | None:
        return self.session.exec(
            select(func.min(FactRow.posting_date)).where(
                FactRow.entity == entity, FactRow.is_current.is_(True)
            )
        ).scalar()

    def accounts(self, entity: str) -> set[tuple[str, str]]:
        """Every (provider, provider account) the entity has facts for, current or not."""
        rows = self.session.execute(
            select(FactRow.provider, FactRow.provider_account).where(FactRow.entity == entity).distinct()
        )
        return {(provider, account) for provider, account in rows}

    def all_versions(
        self, entity: str, provider: str, provider_account: str, first_day: date, last_day: date
    ) -> list[FactRow]:
        """Every stored version (current and superseded) of an account's facts posted in a range of days."""
        return list(
            self.session.exec(
                select(FactRow).where(
                    FactRow.entity == entity,
                    FactRow.provider == provider,
                    FactRow.provider_account == provider_account,
                    FactRow.posting_date >= first_day,
                    FactRow.posting_date <= last_day,
                )
            ).scalars()
        )

    def history(self, natural_key: str) -> list[FactRow]:
        return list(
            self.session.exec(
                select(FactRow).where(FactRow.natural_key == natural_key).order_by(FactRow.version)
            ).scalars()
        )

    def get(self, fact_id: int) -> FactRow | None:
        return self.session.get(FactRow, fact_id)


class RawPayloadRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self, *, source: str, endpoint: str, request: dict, body: str, run_id: str | None, now: datetime
    ) -> int:
        row = RawPayloadRow(
            source=source,
            endpoint=endpoint,
            request=request,
            body=body,
            sha256=hashlib.sha256(body.encode()).hexdigest(),
            fetched_at=now,
            run_id=run_id,
        )
        self.session.add(row)
        self.session.flush()
        return row.id  # type: ignore[return-value]

    def get(self, payload_id: int) -> RawPayloadRow | None:
        return self.session.get(RawPayloadRow, payload_id)


class BookmarkRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, source_id: str) -> str | None:
        row = self.session.get(BookmarkRow, source_id)
        return row.value if row else None

    def advance(self, source_id: str, value: str, now: datetime) -> None:
        """Move a bookmark forward to `value` (ISO dates compare as text); never backward."""
        row = self.session.get(BookmarkRow, source_id) or BookmarkRow(
            source_id=source_id, value=value, updated_at=now
        )
        row.value = max(row.value, value)
        row.updated_at, row.last_success_at, row.last_error = now, now, None
        self.session.add(row)

    def record_error(self, source_id: str, error: str, now: datetime) -> None:
        row = self.session.get(BookmarkRow, source_id) or BookmarkRow(
            source_id=source_id, value="", updated_at=now
        )
        row.last_error, row.last_error_at = error, now
        self.session.add(row)

    def all(self) -> list[BookmarkRow]:
        return list(self.session.exec(select(BookmarkRow).order_by(BookmarkRow.source_id)).scalars())


# ------------------------------------------------------------------------------------------- runs, log


class RunRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def start(
        self,
        run_id: str,
        kind: str,
        *,
        entity: str | None,
        params: dict,
        actor: str,
        code_version: str,
        now: datetime,
    ) -> RunRow:
        row = RunRow(
            id=run_id,
            kind=kind,
            entity=entity,
            actor=actor,
            started_at=now,
            params=params,
            code_version=code_version,
        )
        self.session.add(row)
        return row

    def finish(self, run_id: str, status: str, *, reason: str | None, stats: dict, now: datetime) -> None:
        row = self.session.get(RunRow, run_id)
        if row is None:
            raise KeyError(run_id)
        row.status, row.reason, row.stats, row.finished_at = status, reason, stats, now
        self.session.add(row)

    def get(self, run_id: str) -> RunRow | None:
        return self.session.get(RunRow, run_id)

    def starting_with(self, prefix: str, limit: int = 5) -> list[RunRow]:
        """Runs whose id starts with `prefix` (a person types the first characters of an id)."""
        query = (
            select(RunRow).where(RunRow.id.startswith(prefix, autoescape=True)).order_by(RunRow.started_at)
        )
        return list(self.session.exec(query.limit(limit)).scalars())

    def abandon_running(self, entity: str, *, now: datetime, reason: str) -> list[RunRow]:
        """Mark the entity's runs still `running` as abandoned (call it holding the entity's lock)."""
        rows = list(
            self.session.exec(
                select(RunRow).where(RunRow.entity == entity, RunRow.status == "running")
            ).scalars()
        )
        for row in rows:
            row.status, row.reason, row.finished_at = "abandoned", reason, now
            self.session.add(row)
        return rows

    def last_per_entity(self, kind: str | None = None, statuses: Sequence[str] | None = None) -> list[RunRow]:
        """The newest run of each entity (of one kind, with one of the statuses, when given)."""
        newest = select(RunRow.entity, func.max(RunRow.started_at).label("started_at")).group_by(
            RunRow.entity
        )
        if kind:
            newest = newest.where(RunRow.kind == kind)
        if statuses:
            newest = newest.where(RunRow.status.in_(statuses))
        newest_sub = newest.subquery()
        query = select(RunRow).join(
            newest_sub,
            (RunRow.entity == newest_sub.c.entity) & (RunRow.started_at == newest_sub.c.started_at),
        )
        if kind:
            query = query.where(RunRow.kind == kind)
        if statuses:
            query = query.where(RunRow.status.in_(statuses))
        return list(self.session.exec(query.order_by(RunRow.entity)).scalars())

    def between(self, first: datetime, last: datetime) -> list[RunRow]:
        return list(
            self.session.exec(
                select(RunRow)
                .where(RunRow.started_at >= first, RunRow.started_at <= last)
                .order_by(RunRow.started_at)
            ).scalars()
        )

    def status_counts(self) -> dict[tuple[str, str | None, str], int]:
        """(kind, entity, status) → number of runs."""
        rows = self.session.execute(
            select(RunRow.kind, RunRow.entity, RunRow.status, func.count()).group_by(
                RunRow.kind, RunRow.entity, RunRow.status
            )
        )
        return {(kind, entity, status): count for kind, entity, status, count in rows}

    def latest(self, limit: int = 20, kind: str | None = None) -> list[RunRow]:
        query = select(RunRow)
        if kind:
            query = query.where(RunRow.kind == kind)
        return list(self.session.exec(query.order_by(RunRow.started_at.desc()).limit(limit)).scalars())


def event_hash(
    prev_hash: str,
    *,
    at: datetime,
    actor: str,
    kind: str,
    message: str,
    data: dict,
    run_id: str | None,
    level: str = "info",
    scheme: int = 2,
) -> str:
    """The hash of an event: sha256 over its canonical JSON and the previous event's hash.

    Scheme 1 (events written before revision 0002) covers everything but the level; scheme 2 covers it too.
    """
    content = {
        "prev": prev_hash,
        "at": as_utc(at).isoformat(),
        "actor": actor,
        "kind": kind,
        "message": message,
        "data": data,
        "run_id": run_id,
    }
    if scheme >= 2:
        content["level"] = level
    canonical = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def as_utc(moment: datetime) -> datetime:
    """The same instant in UTC (a naive value is taken to be UTC already)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def row_hash(row: EventRow) -> str:
    return event_hash(
        row.prev_hash,
        at=row.at,
        actor=row.actor,
        kind=row.kind,
        message=row.message,
        data=row.data,
        run_id=row.run_id,
        level=row.level,
        scheme=row.hash_scheme,
    )


@dataclass(frozen=True, slots=True)
class ChainHead:
    last_event_id: int
    last_hash: str
    events: int


class EventLog:
    """The append-only, hash-chained run log.

    Every append first updates the chain's head row: that takes SQLite's write lock or PostgreSQL's row
    lock until the transaction ends, so concurrent writers append one after the other and the chain can
    never fork (two events claiming the same predecessor).
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def append(
        self,
        kind: str,
        message: str,
        *,
        run_id: str | None = None,
        actor: str = "tokenbooks",
        level: str = "info",
        data: dict | None = None,
        now: datetime | None = None,
    ) -> EventRow:
        at = as_utc(now or utcnow())
        message = redact(message) or ""
        data = redact_data(json.loads(json.dumps(data or {}, default=str)))
        prev = self._lock_head()
        digest = event_hash(
            prev, at=at, actor=actor, kind=kind, message=message, data=data, run_id=run_id, level=level
        )
        row = EventRow(
            run_id=run_id,
            at=at,
            actor=actor,
            kind=kind,
            level=level,
            message=message,
            data=data,
            prev_hash=prev,
            hash=digest,
            hash_scheme=2,
        )
        self.session.add(row)
        self.session.flush()
        self.session.execute(
            update(AuditChainRow)
            .where(AuditChainRow.id == 1)
            .values(last_event_id=row.id, last_hash=digest, updated_at=at)
        )
        return row

    def _lock_head(self) -> str:
        """Lock the chain's head for this transaction and return the hash the next event links to."""
        bumped = self.session.execute(
            update(AuditChainRow).where(AuditChainRow.id == 1).values(events=AuditChainRow.events + 1)
        ).rowcount
        if not bumped:  # a database created before the head existed: start it at its last event
            last = self.session.execute(
                select(EventRow.id, EventRow.hash).order_by(EventRow.id.desc())
            ).first()
            count = self.session.execute(select(func.count(EventRow.id))).scalar() or 0
            self.session.execute(
                insert(AuditChainRow).values(
                    id=1,
                    last_event_id=last[0] if last else 0,
                    last_hash=last[1] if last else GENESIS_HASH,
                    events=count + 1,
                    updated_at=utcnow(),
                )
            )
        return self.session.execute(select(AuditChainRow.last_hash).where(AuditChainRow.id == 1)).scalar_one()

    def head(self) -> ChainHead | None:
        row = self.session.execute(
            select(AuditChainRow.last_event_id, AuditChainRow.last_hash, AuditChainRow.events)
        ).first()
        return ChainHead(*row) if row else None

    def last_data(self, kind: str, **match: object) -> dict | None:
        """The data of the newest event of `kind` whose data holds `match` (a few recent events are read)."""
        rows = self.session.exec(
            select(EventRow).where(EventRow.kind == kind).order_by(EventRow.id.desc()).limit(50)
        )
        for row in rows.scalars():
            if all(row.data.get(k) == v for k, v in match.items()):
                return row.data
        return None

    def for_run(self, run_id: str) -> list[EventRow]:
        return list(
            self.session.exec(
                select(EventRow).where(EventRow.run_id == run_id).order_by(EventRow.id)
            ).scalars()
        )

    def all(self) -> list[EventRow]:
        return list(self.session.exec(select(EventRow).order_by(EventRow.id)).scalars())

    def of_kind(self, kind: str, since: datetime | None = None) -> list[EventRow]:
        """Every event of `kind` (from `since` on), oldest first."""
        query = select(EventRow).where(EventRow.kind == kind)
        if since is not None:
            query = query.where(EventRow.at >= since)
        return list(self.session.exec(query.order_by(EventRow.id)).scalars())

    def for_runs(self, run_ids: Sequence[str]) -> list[EventRow]:
        if not run_ids:
            return []
        query = select(EventRow).where(EventRow.run_id.in_(run_ids)).order_by(EventRow.id)
        return list(self.session.exec(query).scalars())


# ----------------------------------------------------------------------------------------- mapping, alloc


def record_version(
    session: Session, table: Any, version: Any, content: str, *, run_id: str | None, now: datetime
) -> bool:
    """Store a version of a controller's file (a mapping, the policies) the first time its content is
    seen; True when it is new. `version` has version, effective_from, change_note, content_hash, source."""
    if session.exec(select(table.id).where(table.content_hash == version.content_hash)).first():
        return False
    session.add(
        table(
            version=version.version,
            effective_from=version.effective_from,
            change_note=version.change_note,
            content_hash=version.content_hash,
            content=content,
            source=version.source,
            first_seen_at=now,
            run_id=run_id,
        )
    )
    return True


class MappingVersionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, mapping: MappingSet, content: str, *, run_id: str | None, now: datetime) -> bool:
        """Store a mapping version the first time it is seen; True when it is new."""
        return record_version(self.session, MappingVersionRow, mapping, content, run_id=run_id, now=now)

    def all(self) -> list[MappingVersionRow]:
        return list(self.session.exec(select(MappingVersionRow).order_by(MappingVersionRow.id)).scalars())


ALLOCATION_COLUMNS = (  # what an allocation row is written with; run_id is a BulkInsert constant
    "fact_id",
    "entity",
    "posting_date",
    "provider",
    "provider_account",
    "currency",
    "category",
    "target_key",
    "rule_id",
    "mapping_version",
    "percent",
    "amount",
)


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


class AlertRepository:
    """Alerts raised (once per subject and period) and where they were sent."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def for_period(self, entity: str, period: str) -> list[AlertRow]:
        query = select(AlertRow).where(AlertRow.entity == entity, AlertRow.period == period)
        return list(self.session.exec(query.order_by(AlertRow.raised_at)).scalars())


class AllocationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def replace_for_facts(
        self,
        owners: Sequence[int],
        allocations: Sequence[Allocation],
        facts: Sequence[StoredFact],
        *,
        run_id: str | None,
    ) -> int:
        """Make the stored allocations of `facts` equal to `allocations` (`owners[i]` is the id of the
        fact `allocations[i]` divides). Called chunk by chunk: a plan streams its facts.

        Only facts whose allocations differ are rewritten, so a night with no new data and no mapping
        change writes nothing, and an unchanged allocation keeps the run that placed it. Returns how
        many facts were rewritten.
        """
        keys = _TargetKeys()
        fact_ids = [stored_fact.id for stored_fact in facts]
        stored = self._placements(facts)
        changed: set[int] | None = None  # None: no fact has stored allocations, all are written
        if stored:
            wanted: dict[int, set[tuple]] = defaultdict(set)
            for fact_id, a in zip(owners, allocations, strict=True):
                wanted[fact_id].add(
                    (a.rule_id, a.mapping_version, a.category.value, keys(a.target), a.percent, a.amount)
                )
            changed = {i for i in fact_ids if stored.get(i) != wanted.get(i, set())}
            for chunk in _chunks(sorted(changed)):
                self.session.connection().execute(delete(ALLOCATIONS).where(ALLOCATIONS.c.fact_id.in_(chunk)))
        rows = (
            (
                fact_id,
                a.fact.entity,
                a.fact.posting_date,
                a.fact.provider,
                a.fact.provider_account,
                a.fact.currency,
                a.category.value,
                keys(a.target),
                a.rule_id,
                a.mapping_version,
                a.percent,
                a.amount,
            )
            for fact_id, a in zip(owners, allocations, strict=True)
            if changed is None or fact_id in changed
        )
        self._writer(run_id).write(rows)
        return len(fact_ids) if changed is None else len(changed)

    def _writer(self, run_id: str | None) -> BulkInsert:
        return BulkInsert(
            self.session.connection(),
            ALLOCATIONS,
            ALLOCATION_COLUMNS,
            repeating=("posting_date", "percent"),
            constants={"run_id": run_id},
        )

    def _placements(self, facts: Sequence[StoredFact]) -> dict[int, set[tuple]]:
        """What the stored allocations of these facts say (rule, version, category, target, percent,
        amount), without who wrote them when: equal placements need no rewrite.

        Read per entity and posting day (an allocation has its fact's day), within the facts' id range:
        an indexed range instead of a list of ten thousand ids to bind, which PostgreSQL's driver
        spent more time preparing than the server did answering."""
        c = ALLOCATIONS.c
        ids_by_day: dict[tuple[str, date], set[int]] = defaultdict(set)
        for stored_fact in facts:
            ids_by_day[(stored_fact.fact.entity, stored_fact.fact.posting_date)].add(stored_fact.id)
        stored: dict[int, set[tuple]] = defaultdict(set)
        for (entity, day), ids in ids_by_day.items():
            query = select(
                c.fact_id, c.rule_id, c.mapping_version, c.category, c.target_key, c.percent, c.amount
            ).where(
                c.entity == entity,
                c.posting_date == day,
                c.fact_id >= min(ids),
                c.fact_id <= max(ids),
            )
            for row in self.session.connection().execute(query):
                if row[0] in ids:
                    stored[row[0]].add(tuple(row[1:]))
        return stored

    def for_bucket(self, bucket: Bucket) -> list[AllocationRow]:
        return list(
            self.session.exec(
                select(AllocationRow).where(
                    AllocationRow.entity == bucket.entity,
                    AllocationRow.posting_date == bucket.period,
                    AllocationRow.provider == bucket.provider,
                    AllocationRow.provider_account == bucket.provider_account,
                    AllocationRow.target_key == bucket.target.key(),
                )
            ).scalars()
        )

    def for_fact(self, fact_id: int) -> list[AllocationRow]:
        """How one fact was placed: its shares, each with the rule and mapping version (lineage)."""
        return list(
            self.session.exec(
                select(AllocationRow).where(AllocationRow.fact_id == fact_id).order_by(AllocationRow.id)
            ).scalars()
        )

    def lineage(self, entity: str, first_day: date, last_day: date) -> list[Lineage]:
        """Every allocation of the entity's current facts posted in the range, with its fact and the hash
        of the raw payload the fact was read from (the auditor's lineage sheet)."""
        raw = RawPayloadRow.__table__
        a, f, r = ALLOCATIONS.c, FACTS.c, raw.c
        query = (
            select(
                a.posting_date,
                a.provider,
                a.provider_account,
                a.currency,
                a.target_key,
                a.category,
                a.rule_id,
                a.mapping_version,
                a.amount,
                f.id,
                f.natural_key,
                f.version,
                f.amount,
                f.source,
                r.sha256,
            )
            .join(FACTS, f.id == a.fact_id)
            .outerjoin(raw, r.id == f.raw_payload_id)
            .where(
                a.entity == entity,
                a.posting_date >= first_day,
                a.posting_date <= last_day,
                f.is_current.is_(True),
            )
            .order_by(a.posting_date, a.provider, a.provider_account, a.target_key, f.id)
        )
        return [Lineage(*row) for row in self.session.connection().execute(query)]

    def versions_by_day(self, entity: str, first_day: date, last_day: date) -> dict[date, set[int]]:
        """The mapping versions whose allocations are stored for each posting day of the range."""
        c = ALLOCATIONS.c
        query = (
            select(c.posting_date, c.mapping_version)
            .where(c.entity == entity, c.posting_date >= first_day, c.posting_date <= last_day)
            .distinct()
        )
        found: dict[date, set[int]] = defaultdict(set)
        for day, version in self.session.connection().execute(query):
            found[day].add(version)
        return dict(found)

    def earliest_stale_day(self, entity: str, spans: Sequence[VersionSpan]) -> date | None:
        """The first posting day of a current fact whose stored allocations were made by another mapping
        version than the one now in force on that day (a version that reaches into the past)."""
        days = []
        for span in spans:
            query = (
                select(func.min(AllocationRow.posting_date))
                .join(FactRow, FactRow.id == AllocationRow.fact_id)
                .where(
                    AllocationRow.entity == entity,
                    FactRow.is_current.is_(True),
                    AllocationRow.mapping_version != span.mapping.version,
                )
            )
            if span.first_day is not None:
                query = query.where(AllocationRow.posting_date >= span.first_day)
            if span.last_day is not None:
                query = query.where(AllocationRow.posting_date <= span.last_day)
            days.append(self.session.exec(query).scalar())
        return min((d for d in days if d is not None), default=None)


class LedgerChartRepository:
    """The cached chart of accounts and tracking options of each entity's ledger."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, entity: str) -> LedgerChart | None:
        row = self.session.get(LedgerChartRow, entity)
        if row is None:
            return None
        return LedgerChart(
            ledger=row.ledger,
            accounts=tuple(LedgerAccount(**a) for a in row.accounts),
            options=tuple(TrackingOption(**o) for o in row.options),
            fetched_at=row.fetched_at.replace(tzinfo=row.fetched_at.tzinfo or UTC),
        )

    def save(self, entity: str, chart: LedgerChart, *, run_id: str | None = None) -> None:
        row = self.session.get(LedgerChartRow, entity) or LedgerChartRow(
            entity=entity, ledger=chart.ledger, fetched_at=chart.fetched_at or utcnow()
        )
        row.ledger = chart.ledger
        row.fetched_at = chart.fetched_at or utcnow()
        row.accounts = [asdict(a) for a in chart.accounts]
        row.options = [asdict(o) for o in chart.options]
        row.run_id = run_id
        self.session.add(row)


class _TargetKeys:
    """A ledger target's key, made once per target (a million allocations share a few hundred)."""

    def __init__(self) -> None:
        self._keys: dict[LedgerTarget, str] = {}

    def __call__(self, target: LedgerTarget) -> str:
        key = self._keys.get(target)
        if key is None:
            key = self._keys[target] = target.key()
        return key


def _chunks(ids: list[int], size: int = 10_000) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# ------------------------------------------------------------------------------------------------ outbox


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


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self, journal: Journal, *, ledger: str, run_id: str | None, now: datetime, hold_reason: str = ""
    ) -> int:
        row = JournalRow(
            entity=journal.entity,
            ledger=ledger,
            key=journal.key,
            kind=journal.kind.value,
            txn_date=journal.txn_date,
            original_date=journal.original_date,
            currency=journal.currency,
            exchange_rate=journal.exchange_rate,
            converted_from=journal.converted_from,
            memo=journal.memo,
            provider=journal.provider,
            provider_account=journal.provider_account,
            status="held" if hold_reason else "planned",
            hold_reason=hold_reason or None,
            planned_run_id=run_id,
            created_at=now,
        )
        self.session.add(row)
        self.session.flush()
        for number, line in enumerate(journal.lines, start=1):
            self.session.add(
                JournalLineRow(
                    journal_id=row.id,
                    line_no=number,
                    target_key=line.target.key(),
                    amount=line.amount,
                    description=line.description,
                )
            )
        for c in journal.contributions:
            b = c.bucket
            self.session.add(
                ContributionRow(
                    journal_id=row.id,
                    entity=b.entity,
                    kind=b.kind.value,
                    period=b.period,
                    provider=b.provider,
                    provider_account=b.provider_account,
                    currency=b.currency,
                    target_key=b.target.key(),
                    amount=c.amount,
                    pool=b.pool,
                )
            )
        return row.id  # type: ignore[return-value]

    def posted_by_bucket(
        self,
        entity: str,
        *,
        first_day: date | None = None,
        last_day: date | None = None,
        kinds: Sequence[JournalKind] | None = None,
    ) -> dict[Bucket, Decimal]:
        """Σ contributions per bucket of every journal that is not rejected: posted or on its way."""
        query = (
            select(ContributionRow)
            .join(JournalRow, JournalRow.id == ContributionRow.journal_id)
            .where(ContributionRow.entity == entity, JournalRow.status.in_(ACTIVE_STATUSES))
        )
        if first_day:
            query = query.where(ContributionRow.period >= first_day)
        if last_day:
            query = query.where(ContributionRow.period <= last_day)
        if kinds:
            query = query.where(ContributionRow.kind.in_([k.value for k in kinds]))
        totals: dict[Bucket, Decimal] = {}
        for row in self.session.exec(query).scalars():
            bucket = _bucket_of(row)
            totals[bucket] = totals.get(bucket, ZERO) + row.amount
        return totals

    def keys_by_bucket(
        self, entity: str, kinds: Sequence[JournalKind], first_day: date, last_day: date
    ) -> dict[Bucket, list[str]]:
        """The keys of the active journals contributing to each bucket of `kinds` in the range."""
        query = (
            select(ContributionRow, JournalRow.key)
            .join(JournalRow, JournalRow.id == ContributionRow.journal_id)
            .where(
                ContributionRow.entity == entity,
                JournalRow.status.in_(ACTIVE_STATUSES),
                ContributionRow.kind.in_([k.value for k in kinds]),
                ContributionRow.period >= first_day,
                ContributionRow.period <= last_day,
            )
            .order_by(JournalRow.id)
        )
        found: dict[Bucket, list[str]] = defaultdict(list)
        for row, key in self.session.exec(query).all():
            found[_bucket_of(row)].append(key)
        return dict(found)

    def summary(self, entity: str) -> list:
        """How many active (not rejected) journals the entity has, and the newest journal's id."""
        active = self.session.execute(
            select(func.count()).where(JournalRow.entity == entity, JournalRow.status.in_(ACTIVE_STATUSES))
        ).scalar()
        newest = self.session.execute(
            select(func.max(JournalRow.id)).where(JournalRow.entity == entity)
        ).scalar()
        return [active, newest]

    def used_serials(self, entity: str) -> dict[str, int]:
        """The highest serial per key prefix already in the outbox (rejected journals included)."""
        serials: dict[str, int] = {}
        for key in self.session.exec(select(JournalRow.key).where(JournalRow.entity == entity)).scalars():
            prefix = key[: key.rfind("-") + 1]
            serials[prefix] = max(serials.get(prefix, 0), serial_of(key))
        return serials

    def pending(self, entity: str) -> list[StoredJournal]:
        rows = self.session.exec(
            select(JournalRow)
            .where(JournalRow.entity == entity, JournalRow.status.in_(PENDING_STATUSES))
            .order_by(JournalRow.txn_date, JournalRow.id)
        ).scalars()
        return [self._load(row) for row in rows]

    def by_key(self, entity: str, key: str) -> StoredJournal | None:
        row = self.session.exec(
            select(JournalRow).where(JournalRow.entity == entity, JournalRow.key == key)
        ).scalar()
        return self._load(row) if row else None

    def list(
        self,
        entity: str,
        *,
        statuses: Sequence[str] | None = None,
        first_day: date | None = None,
        last_day: date | None = None,
    ) -> list[StoredJournal]:
        query = select(JournalRow).where(JournalRow.entity == entity)
        if statuses:
            query = query.where(JournalRow.status.in_(statuses))
        if first_day:
            query = query.where(JournalRow.txn_date >= first_day)
        if last_day:
            query = query.where(JournalRow.txn_date <= last_day)
        rows = self.session.exec(query.order_by(JournalRow.txn_date, JournalRow.id)).scalars()
        return [self._load(row) for row in rows]

    def held_by_run(self, entity: str, run_id: str) -> list[StoredJournal]:
        """The journals a run planned that still wait for approval."""
        rows = self.session.exec(
            select(JournalRow)
            .where(
                JournalRow.entity == entity, JournalRow.planned_run_id == run_id, JournalRow.status == "held"
            )
            .order_by(JournalRow.txn_date, JournalRow.id)
        ).scalars()
        return [self._load(row) for row in rows]

    def earliest_rejected_period(self, entity: str) -> date | None:
        """The first bucket period of a rejected journal: the plan must reach back to re-plan it."""
        return self.session.exec(
            select(func.min(ContributionRow.period))
            .join(JournalRow, JournalRow.id == ContributionRow.journal_id)
            .where(ContributionRow.entity == entity, JournalRow.status == "rejected")
        ).scalar()

    def for_bucket_periods(self, entity: str, first_day: date, last_day: date) -> list[StoredJournal]:
        """Journals that contribute to buckets of [first_day, last_day], whatever their own date."""
        ids = select(ContributionRow.journal_id).where(
            ContributionRow.entity == entity,
            ContributionRow.period >= first_day,
            ContributionRow.period <= last_day,
        )
        rows = self.session.exec(
            select(JournalRow).where(JournalRow.id.in_(ids)).order_by(JournalRow.txn_date, JournalRow.id)
        ).scalars()
        return [self._load(row) for row in rows]

    def set_status(
        self,
        journal_id: int,
        status: str,
        *,
        now: datetime,
        ledger_id: str | None = None,
        error: str | None = None,
    ) -> None:
        row = self.session.get(JournalRow, journal_id)
        if row is None:
            raise KeyError(journal_id)
        row.status = status
        if ledger_id is not None:
            row.ledger_id = ledger_id
        if status == "posted":
            row.posted_at, row.last_error = now, None
        if error is not None:
            row.last_error = error
        self.session.add(row)

    def replan(self, journal_id: int, *, run_id: str | None) -> None:
        """Put a journal back in line under a new posting generation (so a new idempotency key).

        For a rejected journal planned again with the same content, and for a posted journal that has
        disappeared from the ledger: the key stays, the request id changes, so the ledger's idempotency
        cache cannot replay the old answer.
        """
        row = self.session.get(JournalRow, journal_id)
        if row is None:
            raise KeyError(journal_id)
        row.generation += 1
        row.status = "planned"
        row.ledger_id = None
        row.planned_run_id = run_id
        self.session.add(row)

    def last_attempt_started(self, journal_ids: Sequence[int]) -> dict[int, datetime]:
        """When the latest posting attempt of each of these journals started (journals never tried: absent)."""
        if not journal_ids:
            return {}
        rows = self.session.exec(
            select(PostingAttemptRow.journal_id, func.max(PostingAttemptRow.started_at))
            .where(PostingAttemptRow.journal_id.in_(list(journal_ids)))
            .group_by(PostingAttemptRow.journal_id)
        ).all()
        return {journal_id: started for journal_id, started in rows if started is not None}

    def start_attempt(self, journal_id: int, *, run_id: str | None, request_id: str, now: datetime) -> int:
        row = self.session.get(JournalRow, journal_id)
        if row is None:
            raise KeyError(journal_id)
        row.attempts += 1
        row.status = "posting"
        self.session.add(row)
        attempt = PostingAttemptRow(
            journal_id=journal_id,
            run_id=run_id,
            attempt_no=row.attempts,
            started_at=now,
            request_id=request_id,
        )
        self.session.add(attempt)
        self.session.flush()
        return attempt.id  # type: ignore[return-value]

    def finish_attempt(
        self,
        attempt_id: int,
        outcome: str,
        *,
        now: datetime,
        ledger_id: str | None = None,
        error_class: str | None = None,
        error_message: str | None = None,
    ) -> None:
        attempt = self.session.get(PostingAttemptRow, attempt_id)
        if attempt is None:
            raise KeyError(attempt_id)
        attempt.outcome, attempt.finished_at = outcome, now
        attempt.ledger_id, attempt.error_class, attempt.error_message = ledger_id, error_class, error_message
        self.session.add(attempt)

    def attempts(self, journal_id: int) -> list[PostingAttemptRow]:
        return list(
            self.session.exec(
                select(PostingAttemptRow)
                .where(PostingAttemptRow.journal_id == journal_id)
                .order_by(PostingAttemptRow.id)
            ).scalars()
        )

    def _load(self, row: JournalRow) -> StoredJournal:
        lines = self.session.exec(
            select(JournalLineRow).where(JournalLineRow.journal_id == row.id).order_by(JournalLineRow.line_no)
        ).scalars()
        contributions = self.session.exec(
            select(ContributionRow).where(ContributionRow.journal_id == row.id).order_by(ContributionRow.id)
        ).scalars()
        journal = Journal(
            key=row.key,
            entity=row.entity,
            kind=JournalKind(row.kind),
            txn_date=row.txn_date,
            currency=row.currency,
            lines=tuple(
                JournalLine(LedgerTarget.from_key(ln.target_key), ln.amount, ln.description) for ln in lines
            ),
            memo=row.memo,
            contributions=tuple(Contribution(_bucket_of(c), c.amount) for c in contributions),
            original_date=row.original_date,
            exchange_rate=row.exchange_rate,
            provider=row.provider,
            provider_account=row.provider_account,
            converted_from=row.converted_from,
        )
        return StoredJournal(
            id=row.id,  # type: ignore[arg-type]
            journal=journal,
            status=row.status,
            ledger=row.ledger,
            ledger_id=row.ledger_id,
            generation=row.generation,
            attempts=row.attempts,
            hold_reason=row.hold_reason,
            last_error=row.last_error,
        )


def _bucket_of(row: ContributionRow) -> Bucket:
    return Bucket(
        entity=row.entity,
        kind=JournalKind(row.kind),
        period=row.period,
        provider=row.provider,
        provider_account=row.provider_account,
        target=LedgerTarget.from_key(row.target_key),
        currency=row.currency,
        pool=row.pool,
    )


# --------------------------------------------------------------------------------------- invoices, recon


class InvoiceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def upsert(self, row: InvoiceRow) -> bool:
        """Store an invoice; an invoice already stored under the same number is replaced. True if new."""
        existing = self.session.exec(
            select(InvoiceRow).where(
                InvoiceRow.provider == row.provider,
                InvoiceRow.provider_account == row.provider_account,
                InvoiceRow.number == row.number,
            )
        ).scalar()
        if existing:
            for name in (
                "entity",
                "period",
                "issue_date",
                "total",
                "currency",
                "lines",
                "source",
                "imported_at",
            ):
                setattr(existing, name, getattr(row, name))
            self.session.add(existing)
            return False
        self.session.add(row)
        return True

    def for_period(self, entity: str, period: str) -> list[InvoiceRow]:
        return list(
            self.session.exec(
                select(InvoiceRow).where(InvoiceRow.entity == entity, InvoiceRow.period == period)
            ).scalars()
        )

    def summary(self, entity: str) -> list:
        return stamp_summary(self.session, InvoiceRow, entity, InvoiceRow.imported_at)

    def for_entity(self, entity: str) -> list[InvoiceRow]:
        return list(
            self.session.exec(
                select(InvoiceRow)
                .where(InvoiceRow.entity == entity)
                .order_by(InvoiceRow.period, InvoiceRow.id)
            ).scalars()
        )


class ReconciliationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: ReconciliationRow) -> None:
        self.session.add(row)

    def latest(self, entity: str, period: str) -> list[ReconciliationRow]:
        rows = list(
            self.session.exec(
                select(ReconciliationRow)
                .where(ReconciliationRow.entity == entity, ReconciliationRow.period == period)
                .order_by(ReconciliationRow.id.desc())
            ).scalars()
        )
        seen, latest = set(), []
        for row in rows:
            key = (row.provider, row.provider_account)
            if key not in seen:
                seen.add(key)
                latest.append(row)
        return latest


# ------------------------------------------------------------------------------------ ingestion (issue 3)


USAGE = UsageRow.__table__
USAGE_COLUMNS = (
    *SOURCED_COLUMNS,
    "usage_date",
    "posting_date",
    "dimensions",
    "metrics",
    "raw_payload_id",
)


def usage_row_values(usage: Usage, version: int, raw_payload_id: int | None) -> tuple:
    """A usage bucket as the values of USAGE_COLUMNS (metrics as decimal text, dimensions as `Dimensions`)."""
    return (
        *sourced_values(usage, version),
        usage.usage_date,
        usage.posting_date,
        usage.dimensions,
        {name: str(value) for name, value in usage.metrics},
        raw_payload_id,
    )


def row_to_usage(row: UsageRow) -> Usage:
    return Usage(
        entity=row.entity,
        provider=row.provider,
        provider_account=row.provider_account,
        usage_date=row.usage_date,
        posting_date=row.posting_date,
        natural_key=row.natural_key,
        dimensions=Dimensions.of(row.dimensions),
        metrics=tuple(sorted((k, Decimal(v)) for k, v in row.metrics.items())),
        version=row.version,
        source=row.source,
    )


def usage_content(usage: Usage) -> tuple:
    return (usage.dimensions.as_dict(), {name: str(value) for name, value in usage.metrics})


def _usage_versions(connection: Connection, where: tuple) -> list[StoredVersion]:
    c = USAGE.c
    query = select(c.id, c.natural_key, c.version, c.posting_date, c.dimensions, c.metrics).where(*where)
    return [StoredVersion(*row[:4], (row[4], row[5])) for row in connection.execute(query)]


USAGE_TABLE = Versioned(
    USAGE,
    day="usage_date",
    read=_usage_versions,
    same=lambda old, usage: old.posting_date == usage.posting_date and old.content == usage_content(usage),
    writer=versioned_writer(USAGE, USAGE_COLUMNS, days=("usage_date", "posting_date")),
    values=usage_row_values,
    day_of=lambda usage: usage.usage_date,
)


class UsageRepository:
    """Usage buckets (tokens, requests), versioned per natural key like facts, never booked."""

    def __init__(self, session: Session) -> None:
        self.session = session

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
    ) -> ReplaceResult:
        return replace_window(
            self.session.connection(),
            USAGE_TABLE,
            source=source,
            provider_account=provider_account,
            first_day=first_day,
            last_day=last_day,
            incoming=InMemoryWindow(usage, raw_payload_ids, USAGE_TABLE.day_of),
            run_id=run_id,
            now=now,
        )

    def current(
        self, entity: str, first_day: date | None = None, last_day: date | None = None
    ) -> list[Usage]:
        query = select(UsageRow).where(UsageRow.entity == entity, UsageRow.is_current.is_(True))
        if first_day:
            query = query.where(UsageRow.usage_date >= first_day)
        if last_day:
            query = query.where(UsageRow.usage_date <= last_day)
        rows = self.session.exec(query.order_by(UsageRow.usage_date, UsageRow.id)).scalars()
        return [row_to_usage(row) for row in rows]


class ImportRepository:
    """File imports, each with its tally and its quarantined rows."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: ImportRow, quarantined: Iterable[QuarantinedRow], now: datetime) -> None:
        self.session.add(row)
        self.session.flush()
        values = [
            {
                "import_id": row.id,
                "file": q.problem.source,
                "location": q.problem.location,
                "column": q.problem.field,
                "reason": q.problem.message,
                "fix": q.problem.fix,
                "raw": q.raw,
                "amount": q.amount,
                "currency": q.currency,
                "created_at": now,
            }
            for q in quarantined
        ]
        if values:
            self.session.execute(insert(QuarantineRow), values)

    def get(self, import_id: str) -> ImportRow | None:
        return self.session.get(ImportRow, import_id)

    def already_imported(self, kind: str, sha256: str) -> ImportRow | None:
        """The last successful or partial import of a file with this content, if any."""
        return self.session.exec(
            select(ImportRow)
            .where(ImportRow.kind == kind, ImportRow.sha256 == sha256, ImportRow.status != "failed")
            .order_by(ImportRow.imported_at.desc())
            .limit(1)
        ).scalar()

    def latest(self, limit: int = 20) -> list[ImportRow]:
        return list(
            self.session.exec(select(ImportRow).order_by(ImportRow.imported_at.desc()).limit(limit)).scalars()
        )

    def quarantined_between(
        self, entity: str, first: datetime, last: datetime
    ) -> list[tuple[ImportRow, QuarantineRow]]:
        """The rows the entity's imports made in [first, last) refused, with their import."""
        query = (
            select(ImportRow, QuarantineRow)
            .join(QuarantineRow, QuarantineRow.import_id == ImportRow.id)
            .where(ImportRow.entity == entity, ImportRow.imported_at >= first, ImportRow.imported_at < last)
            .order_by(ImportRow.imported_at, QuarantineRow.id)
        )
        return [(row, quarantined) for row, quarantined in self.session.exec(query).all()]

    def quarantined(self, import_id: str) -> list[QuarantineRow]:
        return list(
            self.session.exec(
                select(QuarantineRow).where(QuarantineRow.import_id == import_id).order_by(QuarantineRow.id)
            ).scalars()
        )


def stamp_summary(session: Session, table: Any, entity: str, stamp: Any) -> list:
    """How many rows an entity has in `table`, and the newest `stamp` (any import or change moves one)."""
    row = session.execute(select(func.count(), func.max(stamp)).where(table.entity == entity)).one()
    return [row[0], row[1]]


def upsert_row(session: Session, table: Any, key: dict[str, Any], values: dict[str, Any]) -> bool:
    """Insert a row, or update the one with the same natural `key` columns. True when it is new."""
    row = session.exec(select(table).filter_by(**key)).scalar()
    new = row is None
    row = row or table(**key, **values)
    for name, value in values.items():
        setattr(row, name, value)
    session.add(row)
    return new


def row_to_lot(row: CreditLotRow) -> CreditLot:
    return CreditLot(
        entity=row.entity,
        provider=row.provider,
        provider_account=row.provider_account,
        lot_id=row.lot_id,
        purchase_date=row.purchase_date,
        amount=row.amount,
        currency=row.currency,
        expires_on=row.expires_on,
        description=row.description,
        source=row.source,
        pool=row.pool,
        refund_of=row.refund_of,
        promotional=bool(row.promotional),
    )


class CreditLotRepository:
    """Prepaid credit lots. `for_account` lists them in the order consumption draws them: FIFO by expiry."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def upsert(self, lot: CreditLot, *, import_id: str | None, now: datetime) -> bool:
        """Store a lot; a lot already stored under the same provider, account and id is replaced. True if new."""
        key = {"provider": lot.provider, "provider_account": lot.provider_account, "lot_id": lot.lot_id}
        names = (
            "entity",
            "purchase_date",
            "amount",
            "currency",
            "expires_on",
            "description",
            "source",
            "pool",
            "refund_of",
            "promotional",
        )
        values = {name: getattr(lot, name) for name in names}
        return upsert_row(
            self.session, CreditLotRow, key, {**values, "import_id": import_id, "recorded_at": now}
        )

    def find(self, provider: str, provider_account: str, lot_id: str) -> CreditLot | None:
        """The lot stored under this provider, account and id, if any."""
        row = self.session.exec(
            select(CreditLotRow).filter_by(
                provider=provider, provider_account=provider_account, lot_id=lot_id
            )
        ).scalar()
        return row_to_lot(row) if row is not None else None

    def rename(self, provider: str, provider_account: str, lot_id: str, new_id: str) -> None:
        """Give a stored lot another id (its row, import and history stay)."""
        row = self.session.exec(
            select(CreditLotRow).filter_by(
                provider=provider, provider_account=provider_account, lot_id=lot_id
            )
        ).scalar_one()
        row.lot_id = new_id
        self.session.add(row)

    def for_entity(self, entity: str) -> list[CreditLot]:
        rows = self.session.exec(
            select(CreditLotRow)
            .where(CreditLotRow.entity == entity)
            .order_by(CreditLotRow.purchase_date, CreditLotRow.id)
        ).scalars()
        return [row_to_lot(row) for row in rows]

    def summary(self, entity: str) -> list:
        return stamp_summary(self.session, CreditLotRow, entity, CreditLotRow.recorded_at)

    def accounts(self, entity: str) -> set[tuple[str, str]]:
        """Every (provider, provider account) the entity holds credit lots for."""
        rows = self.session.execute(
            select(CreditLotRow.provider, CreditLotRow.provider_account)
            .where(CreditLotRow.entity == entity)
            .distinct()
        )
        return {(provider, account) for provider, account in rows}

    def for_account(self, entity: str, provider: str, provider_account: str) -> list[CreditLot]:
        """The account's lots, soonest expiry first (never-expiring last), then oldest purchase first."""
        lots = [
            lot
            for lot in self.for_entity(entity)
            if lot.provider == provider and lot.provider_account == provider_account
        ]
        return sorted(lots, key=lambda lot: lot_order(lot.as_prepaid()))


def row_to_customer_event(row: CustomerCreditEventRow) -> CustomerCreditEvent:
    return CustomerCreditEvent(
        entity=row.entity,
        event_id=row.event_id,
        customer=row.customer,
        grant_id=row.grant_id,
        kind=CustomerCreditKind(row.kind),
        event_date=row.event_date,
        amount=row.amount,
        currency=row.currency,
        product=row.product,
        expires_on=row.expires_on,
        source=row.source,
    )


class CustomerCreditRepository:
    """The credits you sell: purchases, redemptions, refunds and expiries per customer and grant."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def upsert(self, event: CustomerCreditEvent, *, import_id: str | None, now: datetime) -> bool:
        """Store an event; one already stored under the same entity and event id is replaced. True if new."""
        key = {"entity": event.entity, "event_id": event.event_id}
        names = (
            "customer",
            "grant_id",
            "event_date",
            "amount",
            "currency",
            "product",
            "expires_on",
            "source",
        )
        values = {name: getattr(event, name) for name in names}
        values |= {"kind": event.kind.value, "import_id": import_id, "recorded_at": now}
        return upsert_row(self.session, CustomerCreditEventRow, key, values)

    def for_entity(self, entity: str, until: date | None = None) -> list[CustomerCreditEvent]:
        query = select(CustomerCreditEventRow).where(CustomerCreditEventRow.entity == entity)
        if until:
            query = query.where(CustomerCreditEventRow.event_date <= until)
        rows = self.session.exec(
            query.order_by(CustomerCreditEventRow.event_date, CustomerCreditEventRow.id)
        ).scalars()
        return [row_to_customer_event(row) for row in rows]

    def summary(self, entity: str) -> list:
        return stamp_summary(self.session, CustomerCreditEventRow, entity, CustomerCreditEventRow.recorded_at)

    def balances(self, entity: str, until: date | None = None) -> dict[str, GrantBalance]:
        return grant_balances(self.for_entity(entity, until))

    def products(self) -> dict[tuple[str, str], list[str]]:
        """(entity, product) → the grants sold as that product (purchases), for checking the policies."""
        rows = self.session.execute(
            select(
                CustomerCreditEventRow.entity, CustomerCreditEventRow.product, CustomerCreditEventRow.grant_id
            )
            .where(CustomerCreditEventRow.kind == "purchase")
            .order_by(CustomerCreditEventRow.grant_id)
        )
        found: dict[tuple[str, str], list[str]] = defaultdict(list)
        for entity, product, grant in rows:
            found[(entity, product or "")].append(grant)
        return dict(found)


# ------------------------------------------------------------------------------------ policies (issue 5)


class PolicyVersionRepository:
    """Every version of the accounting policies file used, stored the first time it is seen."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, policies: PolicySet, content: str, *, run_id: str | None, now: datetime) -> bool:
        """Store a policy version the first time it is seen; True when it is new."""
        return record_version(self.session, PolicyVersionRow, policies, content, run_id=run_id, now=now)

    def all(self) -> list[PolicyVersionRow]:
        return list(self.session.exec(select(PolicyVersionRow).order_by(PolicyVersionRow.id)).scalars())

    def earliest_unapplied(self) -> date | None:
        """The earliest effective date of a version no plan has applied yet (the sync plans from it)."""
        return self.session.exec(
            select(func.min(PolicyVersionRow.effective_from)).where(PolicyVersionRow.applied_at.is_(None))
        ).scalar()

    def mark_applied(self, now: datetime) -> None:
        self.session.exec(
            update(PolicyVersionRow).where(PolicyVersionRow.applied_at.is_(None)).values(applied_at=now)
        )


# -------------------------------------------------------------------------------------------- unit of work


class UnitOfWork:
    """One transaction over the store, with every repository bound to it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __enter__(self) -> UnitOfWork:
        self.session = Session(self.engine, expire_on_commit=False)
        self.facts = FactRepository(self.session)
        self.raw = RawPayloadRepository(self.session)
        self.bookmarks = BookmarkRepository(self.session)
        self.runs = RunRepository(self.session)
        self.events = EventLog(self.session)
        self.mappings = MappingVersionRepository(self.session)
        self.alerts = AlertRepository(self.session)
        self.allocations = AllocationRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.invoices = InvoiceRepository(self.session)
        self.reconciliations = ReconciliationRepository(self.session)
        self.charts = LedgerChartRepository(self.session)
        # ingestion (issue 3)
        self.usage = UsageRepository(self.session)
        self.imports = ImportRepository(self.session)
        self.credit_lots = CreditLotRepository(self.session)
        self.customer_credits = CustomerCreditRepository(self.session)
        # policies (issue 5)
        self.policies = PolicyVersionRepository(self.session)

        self.users = UserRepository(self.session)
        self.console = ConsoleReads(self.session)
        self.console_summaries = ConsoleSummaries(self.session)
        return self

    def __exit__(self, *exc: Any) -> None:
        # close() discards an uncommitted transaction and, unlike rollback(), leaves the objects read in
        # this unit of work readable afterwards
        self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()

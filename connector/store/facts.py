"""The facts aggregate: versioned facts and usage, their raw payloads, bookmarks, and window replacement.

A re-pull of a window replaces the facts of the buckets it covers and keeps every replaced version;
the versioning algorithm (`replace_window`) is shared by facts and usage.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Text, cast, func, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col

from connector.bulk_work import paused_gc
from connector.domain.audit_chain import as_utc, digest_of_fact, fact_digest, pack_digests
from connector.domain.console import PayloadDetail
from connector.domain.facts import ChargeCategory, CostBasis, Dimensions, Fact
from connector.domain.reconcile import FactVersion
from connector.domain.usage import Usage
from connector.store.bulk import BulkInsert, driver_value, result_converter
from connector.store.common import chunks
from connector.store.console_reads import payload_detail
from connector.store.records import (
    BookmarkRecord,
    FactRecord,
    RawPayloadRecord,
    ReplaceResult,
    StoredFact,
    record_of,
)
from connector.store.tables import (
    AllocationRow,
    BookmarkRow,
    FactRow,
    RawPayloadRow,
    UsageRow,
    table_of,
)

# ------------------------------------------------------------------------------------------------ facts


# Bulk reads and writes of facts and allocations go through the tables, below the ORM: rows as tuples
# (SQLAlchemy Core to read, `store/bulk.py` to write), which is what makes a month of a million facts fit
# in the nightly window.
FACTS = table_of(FactRow)
ALLOCATIONS = table_of(AllocationRow)
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
    "raw_payload_id",
)
# Each column's position in a row `FactReader.query` selects: named once, from the tuple above, so a column
# added there cannot shift what `fact` reads (rows are read by position: the speed of a million facts).
_AT = {name: position for position, name in enumerate((*_FACT_COLUMNS_READ, "dimensions_json"))}
(_ENTITY, _PROVIDER, _ACCOUNT, _NATURAL_KEY, _VERSION, _CHARGE_DATE, _POSTING_DATE, _AMOUNT, _CURRENCY) = (
    _AT[name]
    for name in (
        "entity",
        "provider",
        "provider_account",
        "natural_key",
        "version",
        "charge_date",
        "posting_date",
        "amount",
        "currency",
    )
)
(_COST_BASIS, _CHARGE_CATEGORY, _QUANTITY, _UNIT, _SOURCE, _PAYLOAD, _DIMENSIONS) = (
    _AT[name]
    for name in (
        "cost_basis",
        "charge_category",
        "quantity",
        "unit",
        "source",
        "raw_payload_id",
        "dimensions_json",
    )
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
    def query(*where: Any, table: Any = FACTS) -> Any:
        """The columns a Fact is built from, and its raw payload's id (of `facts`, or of a table with the same
        columns)."""
        columns = [driver_value(table.c[name]) for name in _FACT_COLUMNS_READ]
        return select(*columns, cast(table.c.dimensions, Text).label("dimensions_json")).where(*where)

    def stored_facts(self, query: Any) -> list[StoredFact]:
        fact = self.fact
        return [
            StoredFact(row[_AT["id"]], fact(row), row[_PAYLOAD]) for row in self.connection.execute(query)
        ]

    def fact(self, row: Any) -> Fact:
        """A row selected as `query` selects it, as a Fact."""
        day, money = self._day, self._money
        return Fact(
            entity=row[_ENTITY],
            provider=row[_PROVIDER],
            provider_account=row[_ACCOUNT],
            charge_date=day(row[_CHARGE_DATE]),
            posting_date=day(row[_POSTING_DATE]),
            amount=money(row[_AMOUNT]),
            currency=row[_CURRENCY],
            natural_key=row[_NATURAL_KEY],
            dimensions=dimensions_from_json(row[_DIMENSIONS]),
            cost_basis=_COST_BASES[row[_COST_BASIS]],
            charge_category=_CHARGE_CATEGORIES[row[_CHARGE_CATEGORY]],
            quantity=money(row[_QUANTITY]),
            unit=row[_UNIT],
            version=row[_VERSION],
            source=row[_SOURCE],
        )

    @staticmethod
    def payload_id(row: Any) -> int | None:
        """The id of the raw payload a row selected as `query` selects it was read from."""
        return row[_PAYLOAD]

    def versions(self, *where: Any) -> list[StoredVersion]:
        """The stored rows `where` says, as `replace_window` compares them with a re-read window."""
        c = FACTS.c
        columns = ("id", "natural_key", "version", "posting_date", "amount", "currency", "quantity")
        query = select(
            *(driver_value(c[name]) for name in columns),
            c.cost_basis,
            c.charge_category,
            cast(c.dimensions, Text),
            c.entity,
            c.provider,
            c.unit,
            c.raw_payload_id,
        ).where(*where)
        day, money = self._day, self._money
        return [
            StoredVersion(
                fact_id,
                natural_key,
                version,
                day(posting_date),
                (
                    money(amount),
                    currency,
                    money(quantity),
                    cost_basis,
                    category,
                    dimensions_from_json(dimensions),
                ),
                (entity, provider, unit, payload_id),
            )
            for (
                fact_id,
                natural_key,
                version,
                posting_date,
                amount,
                currency,
                quantity,
                cost_basis,
                category,
                dimensions,
                entity,
                provider,
                unit,
                payload_id,
            ) in self.connection.execute(query)
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
    extra: tuple = ()  # the rest a fact's digest covers: entity, provider, unit, raw payload (facts only)


def stored_fact_digest(old: StoredVersion, day: date) -> str:
    """The digest of a stored fact row read as `FactReader.versions` reads it (its charge day is `day`)."""
    amount, currency, quantity, cost_basis, charge_category, dimensions = old.content
    entity, provider, unit, raw_payload_id = old.extra
    return fact_digest(
        entity,
        provider,
        old.natural_key,
        old.version,
        day,
        old.posting_date,
        amount,
        currency,
        quantity,
        cost_basis,
        charge_category,
        unit,
        dimensions,
        raw_payload_id,
    )


def day_digests(connection: Connection, *where: Any) -> dict[str, str]:
    """natural key → digest of the current facts `where` selects, read from the store (a day of a source
    account after its rows were copied or moved by SQL; every day, for `audit verify`)."""
    reader = FactReader(connection)
    fact, payload_id = reader.fact, reader.payload_id
    return {
        row[_NATURAL_KEY]: digest_of_fact(fact(row), None, payload_id(row))
        for row in connection.execute(reader.query(*where))
    }


@dataclass(frozen=True)
class Digests:
    """How `replace_window` digests what is current on each day it stores (facts: see `audit_chain`)."""

    stored: Callable[[StoredVersion, date], str]  # a stored row kept as it is, on its day
    # an incoming item written as this version, read from that raw payload
    written: Callable[[Any, int, int | None], str]
    read: Callable[[Connection, tuple], dict[str, str]]  # the current rows the clauses select, read back


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
    digests: Digests | None = None  # how the rows current after a write are digested (None: not committed)


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
    keep: Collection[date] = (),
) -> ReplaceResult:
    """Make a source window's current rows of a versioned table (facts, usage) equal to `incoming`, on
    every day but those to `keep` as stored (days a pull refused: `PullStage.promote`).

    A bucket whose content is unchanged keeps its row; a changed one gets a new version and the old row
    is kept, no longer current (history); a bucket the provider no longer reports is withdrawn. The
    window is compared and written one provider day at a time, so memory holds a day of stored rows
    (and, from a staged window, a day of its items), never the window's, and only new and restated
    buckets are written (in bulk).
    """
    writer = spec.writer(connection, run_id, now)
    c = spec.table.c
    in_window = (c.source == source, c.provider_account == provider_account, c.is_current.is_(True))
    digests, digested = spec.digests, dict[date, str]()
    changed_days: set[date] = set()
    superseded: list[int] = []
    withdrawn: dict[str, Any] = {}
    written = restated = unchanged = 0
    for day in sorted((set(_days(first_day, last_day)) | set(incoming.days())) - set(keep)):
        stored = {row.natural_key: row for row in spec.read(connection, (*in_window, c[spec.day] == day))}
        copied = None if stored else incoming.copy_day(connection, day, run_id, now)
        if copied is not None:
            written += copied.rows
            changed_days |= copied.posting_days
            if digests is not None:  # the database copied them: read the day back (a first pull's)
                digested[day] = pack_digests(digests.read(connection, (*in_window, c[spec.day] == day)))
            continue
        rows = []
        now_current: dict[str, str] = {}
        for item, raw_payload_id in incoming.on(day):
            old = stored.pop(item.natural_key, None)
            if old is not None and spec.same(old, item):
                unchanged += 1
                if digests is not None:
                    now_current[old.natural_key] = digests.stored(old, day)
                continue
            version = 1
            if old is not None:
                restated += 1
                superseded.append(old.id)
                changed_days.add(old.posting_date)
                version = old.version + 1
            changed_days.add(item.posting_date)
            rows.append(spec.values(item, version, raw_payload_id))
            if digests is not None:
                now_current[item.natural_key] = digests.written(item, version, raw_payload_id)
        written += writer.write(rows) if rows else 0
        if digests is not None:
            digested[day] = pack_digests(now_current)
        for gone in stored.values():
            withdrawn[gone.natural_key] = gone
            superseded.append(gone.id)
            changed_days.add(gone.posting_date)
    for chunk in chunks(superseded):
        connection.execute(
            update(spec.table).where(c.id.in_(chunk)).values(is_current=False, superseded_at=now)
        )
    moved = _moved(connection, spec, in_window, withdrawn, incoming)
    if digests is not None and moved:
        for day, current in digested.items():  # a moved row took its next version after it was written
            if any(line.rsplit(" ", 1)[0] in moved for line in current.splitlines()):
                digested[day] = pack_digests(digests.read(connection, (*in_window, c[spec.day] == day)))
    return ReplaceResult(
        inserted=written - restated - len(moved),
        restated=restated + len(moved),
        unchanged=unchanged,
        withdrawn=len(withdrawn) - len(moved),
        changed_days=frozenset(changed_days),
        digests=None if digests is None else digested,
    )


def _moved(
    connection: Connection, spec: Versioned, in_window: tuple, withdrawn: dict[str, Any], incoming: Incoming
) -> set[str]:
    """Buckets the provider now reports on another day of the window: a restatement, not a withdrawal
    and a new bucket, so the new row takes the next version of the old one. Returns their keys."""
    if not withdrawn:
        return set()
    keys = incoming.reported(withdrawn.keys())
    for key in keys:
        connection.execute(
            update(spec.table)
            .where(*in_window, spec.table.c.natural_key == key)
            .values(version=withdrawn[key].version + 1)
        )
    return keys


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
    digests=Digests(
        stored=stored_fact_digest,
        written=digest_of_fact,
        read=lambda connection, where: day_digests(connection, *where),
    ),
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
        self,
        entity: str,
        first_day: date | None = None,
        last_day: date | None = None,
        size: int = 10_000,
        newer_than: int = 0,
    ) -> Iterator[list[StoredFact]]:
        """The entity's current facts posted in [first_day, last_day] (with ids above `newer_than`), day by
        day in id order, at most `size` at a time: a month of a large organisation is planned without
        holding it whole."""
        c = FACTS.c
        current = (c.entity == entity, c.is_current.is_(True))
        connection = self.session.connection()
        reader = FactReader(connection)
        in_range = [*current]
        if first_day:
            in_range.append(c.posting_date >= first_day)
        if last_day:
            in_range.append(c.posting_date <= last_day)
        if newer_than:
            in_range.append(c.id > newer_than)
        days = select(c.posting_date).where(*in_range).distinct().order_by(c.posting_date)
        for day in connection.execute(days).scalars().all():  # the days that have facts, not the calendar
            after = newer_than
            while True:
                query = reader.query(*current, c.posting_date == day, c.id > after).order_by(c.id).limit(size)
                chunk = reader.stored_facts(query)
                if not chunk:
                    break
                yield chunk
                if len(chunk) < size:
                    break
                after = chunk[-1].id

    def superseded_ids(self, entity: str, day: date, first_id: int, last_id: int) -> list[int]:
        """The ids, from `first_id` to `last_id`, of the entity's facts posted on `day` that are no longer
        current (restated, moved or withdrawn): an indexed range of one day's history."""
        c = FACTS.c
        query = select(c.id).where(
            c.entity == entity,
            c.is_current.is_(False),
            c.posting_date == day,
            c.id >= first_id,
            c.id <= last_id,
        )
        return list(self.session.connection().execute(query.order_by(c.id)).scalars())

    def with_ids(self, ids: Sequence[int], size: int = 10_000) -> Iterator[list[StoredFact]]:
        """The facts (current or not) with these ids, at most `size` at a time, in id order."""
        c = FACTS.c
        reader = FactReader(self.session.connection())
        for chunk in chunks(sorted(ids), size):
            yield reader.stored_facts(reader.query(c.id.in_(chunk)).order_by(c.id))

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
        return self.session.execute(
            select(func.min(col(FactRow.posting_date))).where(
                col(FactRow.entity) == entity, col(FactRow.is_current).is_(True)
            )
        ).scalar()

    def cost_days(
        self, entity: str, first_day: date, last_day: date
    ) -> dict[tuple[str, str, str], set[date]]:
        """Per (source, provider, provider account): the charge days in the range it has current facts on
        (a zero amount included: the provider delivered the day)."""
        c = FACTS.c
        rows = self.session.connection().execute(
            select(c.source, c.provider, c.provider_account, c.charge_date)
            .where(
                c.entity == entity,
                c.is_current.is_(True),
                # a posting day is its charge day's in the entity's timezone: one day apart at most (and
                # the range reads through the index on the posting day)
                c.posting_date >= first_day - timedelta(days=1),
                c.posting_date <= last_day + timedelta(days=1),
                c.charge_date >= first_day,
                c.charge_date <= last_day,
            )
            .distinct()
        )
        days: dict[tuple[str, str, str], set[date]] = defaultdict(set)
        for source, provider, account, day in rows:
            days[(source, provider, account)].add(day)
        return dict(days)

    def accounts(self, entity: str) -> set[tuple[str, str]]:
        """Every (provider, provider account) the entity has facts for, current or not."""
        rows = self.session.execute(
            select(col(FactRow.provider), col(FactRow.provider_account))
            .where(col(FactRow.entity) == entity)
            .distinct()
        )
        return {(provider, account) for provider, account in rows}

    def all_versions(
        self, entity: str, provider: str, provider_account: str, first_day: date, last_day: date
    ) -> list[FactVersion]:
        """Every stored version (current and superseded) of an account's facts posted in a range of days."""
        rows = self.session.execute(
            select(FactRow).where(
                col(FactRow.entity) == entity,
                col(FactRow.provider) == provider,
                col(FactRow.provider_account) == provider_account,
                col(FactRow.posting_date) >= first_day,
                col(FactRow.posting_date) <= last_day,
            )
        ).scalars()
        return [
            FactVersion(
                r.source,
                r.provider_account,
                r.charge_date,
                r.amount,
                as_utc(r.pulled_at),
                None if r.superseded_at is None else as_utc(r.superseded_at),
                r.is_current,
            )
            for r in rows
        ]

    def history(self, natural_key: str) -> list[FactRecord]:
        query = select(FactRow).where(col(FactRow.natural_key) == natural_key).order_by(col(FactRow.version))
        return [record_of(row, FactRecord) for row in self.session.execute(query).scalars()]

    def get(self, fact_id: int) -> FactRecord | None:
        row = self.session.get(FactRow, fact_id)
        return record_of(row, FactRecord) if row else None


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

    def detail(self, payload_id: int) -> PayloadDetail | None:
        """A stored payload as the console's lineage and `tokenbooks audit trace` show it."""
        row = self.session.get(RawPayloadRow, payload_id)
        return payload_detail(row) if row else None

    def get(self, payload_id: int) -> RawPayloadRecord | None:
        row = self.session.get(RawPayloadRow, payload_id)
        return record_of(row, RawPayloadRecord) if row else None


class BookmarkRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, source_id: str) -> str | None:
        """The last day read (ISO), or None: no row, or only the row `record_error` left when a source's
        very first pull failed (its value is empty: it has read nothing, so its next pull is a first one)."""
        row = self.session.get(BookmarkRow, source_id)
        return row.value or None if row else None

    def first_day(self, source_id: str) -> date | None:
        """The first day of the source's history (None: nothing stored yet, or stored before 0014)."""
        row = self.session.get(BookmarkRow, source_id)
        return _first_day(row) if row else None

    def advance(
        self, source_id: str, value: str, now: datetime, first_day: date | None = None, entity: str = ""
    ) -> None:
        """Move a bookmark forward to `value` (ISO dates compare as text); never backward. `first_day`:
        the first day of the window stored, which may take the source's history further back; `entity`:
        whose facts it stored."""
        row = self.session.get(BookmarkRow, source_id) or BookmarkRow(
            source_id=source_id, value=value, updated_at=now
        )
        row.value = max(row.value, value)
        row.updated_at, row.last_success_at, row.last_error, row.refused_days = now, now, None, []
        _reach_back(row, first_day)
        _read_on(row, row.value)
        _stored_for(row, entity)
        self.session.add(row)

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
    ) -> None:
        """A pull stored its window but the `refused` days: the bookmark stands at `value`, before the
        first of them (back from where it was, if need be: the next run must read them again), and the
        error and the days are recorded. `first_day` as for `advance`; `read_through`: the window's last
        day, which the pull did read (the source is as fresh as that, though its bookmark stands back)."""
        row = self.session.get(BookmarkRow, source_id) or BookmarkRow(
            source_id=source_id, value=value, updated_at=now
        )
        _reach_back(row, first_day)
        _read_on(row, (read_through or date.fromisoformat(value)).isoformat())
        row.value, row.updated_at, row.last_success_at = value, now, now
        row.last_error, row.last_error_at = error, now
        row.refused_days = sorted(day.isoformat() for day in refused)
        _stored_for(row, entity)
        self.session.add(row)

    def record_error(self, source_id: str, error: str, now: datetime) -> None:
        row = self.session.get(BookmarkRow, source_id) or BookmarkRow(
            source_id=source_id, value="", updated_at=now
        )
        row.last_error, row.last_error_at = error, now
        self.session.add(row)

    def all(self) -> list[BookmarkRecord]:
        rows = self.session.execute(select(BookmarkRow).order_by(col(BookmarkRow.source_id))).scalars()
        return [
            record_of(
                row,
                BookmarkRecord,
                refused_days=tuple(map(date.fromisoformat, row.refused_days or ())),
                first_day=_first_day(row),
                read_through=_read_through(row),
                entities=tuple(row.entities or ()),
            )
            for row in rows
        ]


def _first_day(row: BookmarkRow) -> date | None:
    return date.fromisoformat(row.first_day) if row.first_day else None


def _read_through(row: BookmarkRow) -> date | None:
    """The last day the source has read: its row's, or its bookmark's for a row stored before 0015."""
    day = row.read_through or row.value
    return date.fromisoformat(day) if day else None


def _read_on(row: BookmarkRow, day: str) -> None:
    """The last day read is `day` or a later one read before: a pull of an earlier window (`--since`,
    `--until`) leaves stored what later pulls read (ISO dates compare as text)."""
    row.read_through = max(row.read_through or row.value or "", day)


def _stored_for(row: BookmarkRow, entity: str) -> None:
    """The bookmark's source stored `entity`'s facts (a new list: the JSON column is not mutated in place)."""
    if entity and entity not in (row.entities or ()):
        row.entities = sorted({*(row.entities or ()), entity})


def _reach_back(row: BookmarkRow, first_day: date | None) -> None:
    """Take the source's history back to `first_day` when that is earlier (ISO dates compare as text)."""
    if first_day is not None:
        day = first_day.isoformat()
        row.first_day = min(row.first_day, day) if row.first_day else day


# ------------------------------------------------------------------------------------------------ usage


USAGE = table_of(UsageRow)
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


def row_to_usage(row: UsageRow | Any) -> Usage:  # an ORM row, or a Core row with the same columns
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
        query = select(UsageRow).where(col(UsageRow.entity) == entity, col(UsageRow.is_current).is_(True))
        if first_day:
            query = query.where(col(UsageRow.usage_date) >= first_day)
        if last_day:
            query = query.where(col(UsageRow.usage_date) <= last_day)
        rows = self.session.execute(query.order_by(col(UsageRow.usage_date), col(UsageRow.id))).scalars()
        return [row_to_usage(row) for row in rows]

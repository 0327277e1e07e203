"""Bulk reads and writes below the ORM, for the tables a nightly sync fills by the million (facts,
allocations).

SQLAlchemy's `executemany` runs every parameter of every row through its column type, row after row:
for a month of a million facts that per-row processing cost more than the database's own work. Here
each value is converted by the same column types' own bind processors — so what is stored is exactly
what SQLAlchemy would store: decimal text on SQLite, NUMERIC on PostgreSQL, the same date, timestamp and
JSON forms — but values that repeat (days, dimension sets, the run's constants) are converted once, and
the rows go to the driver's bulk path: `executemany` of tuples on SQLite, `COPY … FROM STDIN` on
PostgreSQL (psycopg). Both run on the unit of work's own connection, inside its transaction, so a bulk
write commits or rolls back with everything else the transaction holds.

Reads are the mirror image: a column selected as `driver_value(column)` comes back as the driver gives
it, and `result_converter` turns it into the Python value with the column type's own result processor
(the exact Decimal of an amount, a date), once per distinct value for columns whose values repeat.

`connector/bulk_work.py: paused_gc()` wraps the bulk steps of a sync (see its docstring).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import Table, insert, type_coerce
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType

from connector.store.db import store_unavailable

Convert = Callable[[Any], Any]
CHUNK = 20_000  # rows handed to the driver at once: bounded memory whatever the total


class BulkInsert:
    """Insert rows given as tuples of Python values, in `columns` order, through the driver's bulk path.

    `repeating` names the columns whose values recur across rows (days, dimension sets): each distinct
    value is converted once. `adapt` turns a given value into the column's Python value first (e.g. a
    `Dimensions` into the dict its JSON column holds), which lets a hashable value stand for an
    unhashable one. `constants` are columns with one value for every row (the run, the time).
    """

    def __init__(
        self,
        connection: Connection,
        table: Table,
        columns: Sequence[str],
        *,
        repeating: Collection[str] = (),
        adapt: Mapping[str, Convert] | None = None,
        constants: Mapping[str, Any] | None = None,
    ) -> None:
        self.connection = connection
        self.table = table
        self.columns = tuple(columns)
        self.constant_names = tuple(constants or {})
        self._constant_values = tuple((constants or {}).values())
        adapt = adapt or {}
        self._steps = [
            (index, step)
            for index, name in enumerate(self.columns)
            if (step := self._step(name, adapt.get(name), name in repeating)) is not None
        ]
        self._adapt = [(self.columns.index(name), fn) for name, fn in adapt.items() if name in self.columns]
        self._constants = tuple(
            (processor(value) if (processor := self._processor(name)) else value)
            for name, value in (constants or {}).items()
        )

    def write(self, rows: Iterable[tuple]) -> int:
        """Insert `rows`; returns how many were inserted."""
        dialect = self.connection.dialect
        try:
            if dialect.name == "sqlite":
                return self._executemany(rows)
            if dialect.name == "postgresql" and dialect.driver == "psycopg":
                return self._copy(rows)
        except dialect.loaded_dbapi.Error as exc:  # the driver's own error: SQLAlchemy did not see it
            unavailable = store_unavailable(self.connection.engine, exc)
            if unavailable is not None:
                raise unavailable from exc
            raise
        return self._core(rows)

    # -------------------------------------------------------------------------------- the three paths

    def _executemany(self, rows: Iterable[tuple]) -> int:
        names = (*self.columns, *self.constant_names)
        table = self.connection.dialect.identifier_preparer.format_table(self.table)
        quoted = ", ".join(self.connection.dialect.identifier_preparer.quote(n) for n in names)
        sql = f"INSERT INTO {table} ({quoted}) VALUES ({', '.join('?' * len(names))})"
        cursor = self.connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        count = 0
        try:
            for chunk in _chunks(self._processed(rows)):
                cursor.executemany(sql, chunk)
                count += len(chunk)
        finally:
            cursor.close()
        return count

    def _copy(self, rows: Iterable[tuple]) -> int:
        names = (*self.columns, *self.constant_names)
        preparer = self.connection.dialect.identifier_preparer
        sql = (
            f"COPY {preparer.format_table(self.table)} ({', '.join(preparer.quote(n) for n in names)}) "
            "FROM STDIN"
        )
        count = 0
        driver = self.connection.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
            for row in self._processed(rows):
                copy.write_row(row)
                count += 1
        return count

    def _core(self, rows: Iterable[tuple]) -> int:
        """Any other database: SQLAlchemy's own executemany, with the values as given."""
        count = 0
        constants = dict(zip(self.constant_names, self._constant_values, strict=True))
        for chunk in _chunks(self._adapted(rows)):
            self.connection.execute(
                insert(self.table),
                [{**dict(zip(self.columns, row, strict=True)), **constants} for row in chunk],
            )
            count += len(chunk)
        return count

    # ------------------------------------------------------------------------------------ conversion

    def _processed(self, rows: Iterable[tuple]) -> Iterator[tuple]:
        steps, constants = self._steps, self._constants
        for row in rows:
            values = list(row)
            for index, step in steps:
                values[index] = step(values[index])
            yield (*values, *constants)

    def _adapted(self, rows: Iterable[tuple]) -> Iterator[tuple]:
        for row in rows:
            values = list(row)
            for index, adapt in self._adapt:
                values[index] = adapt(values[index])
            yield tuple(values)

    def _processor(self, name: str) -> Convert | None:
        dialect = self.connection.dialect
        return self.table.c[name].type.dialect_impl(dialect).bind_processor(dialect)

    def _step(self, name: str, adapt: Convert | None, repeating: bool) -> Convert | None:
        """How one column's given value becomes the driver's value (None: it is passed as given)."""
        processor = self._processor(name)
        if adapt is not None and processor is not None:
            convert: Convert | None = lambda value: processor(adapt(value))  # noqa: E731
        else:
            convert = processor or adapt
        if convert is None or not repeating:
            return convert
        return _memoized(convert)


def driver_value(column: Any) -> ColumnElement:
    """`column`, selected as the driver returns it (no per-row processing): see `result_converter`."""
    return type_coerce(column, NullType()).label(column.name)


def result_converter(connection: Connection, column: Any, *, repeating: bool = False) -> Convert:
    """How a `driver_value` of `column` becomes its Python value: the column type's own result processor
    (memoized when values repeat), or the value as it is when the driver already gives it."""
    dialect = connection.dialect
    processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
    if processor is None:
        return _as_is
    return _memoized(processor) if repeating else processor


def _as_is(value: Any) -> Any:
    return value


def _memoized(convert: Convert) -> Convert:
    seen: dict[Any, Any] = {}

    def once(value: Any) -> Any:
        try:
            return seen[value]
        except KeyError:
            result = seen[value] = convert(value)
            return result

    return once


def _chunks(rows: Iterable[tuple], size: int = CHUNK) -> Iterator[list[tuple]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk

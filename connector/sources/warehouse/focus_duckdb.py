"""FOCUS files imported with DuckDB doing the row work: the same batch `read_focus` gives, faster.

`read_focus` checks and sums every row in Python. Here DuckDB runs the bucket query (`aggregation`)
over each file — after a survey that counts its rows and finds the fingerprints more than one row
shares — and returns its groups, a chunk at a time; Python then does, per group instead of per row, what the importer
does — the checks of the columns that repeat across a bucket and of the charge period, in the order of
the rows, with the importer's own code (`focus.FileReader`) — and adds each accepted group's exact sums
to the importer's buckets. The rows the query cannot vouch for (an amount that is not a plain decimal, a
repeated line, a group a check refused) are fetched, with their row numbers, and read one by one by the
importer's own loop, so a bad row is quarantined with the same row, column and reason. Step 2 (buckets →
facts, lots, invoices, the conservation check) is the importer's.

A file the query cannot read as the importer would (a CSV that DuckDB's strict reader refuses, a value
that spans lines, a line id with Unicode whitespace at an edge, Parquet columns of 32-bit floats, lists
or structs) is read by the importer itself, whole: the result is the same, only slower. AWS's Parquet
(DOUBLE amounts, MAP tags) is DuckDB's: `duckdb_engine` writes those values as the importer reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from functools import cache, cached_property
from itertools import chain
from pathlib import Path

import duckdb

from connector.domain.imports import Disposition
from connector.domain.money import ZERO, exact_sums
from connector.sources.focus import (
    SEPARATOR,
    Columns,
    FileReader,
    FocusBatch,
    FocusOptions,
    Refusal,
    book_batch,
    readable,
)
from connector.sources.focus_aggregate import PURCHASE, FocusAggregate, StaticPart
from connector.sources.focus_files import FileLineage, fingerprint, is_gzip, is_parquet
from connector.sources.warehouse import duckdb_engine
from connector.sources.warehouse.aggregation import (
    COUNTED_COLUMNS,
    PER_GROUP,
    RESULT_COLUMNS,
    BucketSpec,
    bucket_query,
    group_width,
    render,
    review_query,
    survey_query,
    typed_moments,
)
from connector.sources.warehouse.duckdb_engine import DuckDBLimits, Typed

FETCH_ROWS = 10_000
# the most groups of a CSV read unnumbered that are held in memory until all are checked: a million rows
# of an hourly Bedrock export make 53,000, which raised the import's peak from 328 to 421 MB (measured);
# a file with more is read again, numbered, whose groups stream
UNORDERED_GROUPS = 100_000
MARKED = "marked_groups"
SURVEY = "survey"  # the survey query's result: the fingerprints of repeated rows
DEFAULT_LIMITS = DuckDBLimits()
EPOCH = date(1970, 1, 1)
# the sha256 is read in chunks of 16 MiB beside the Python work on the groups: in 1 MiB chunks the hashing
# thread waited for the GIL after each one and was still hashing 0.28 s after step 2 had finished (0.00 s
# now); 32 MiB raised the import's peak by as much, the buffer being held while step 2 peaks
BESIDE_PYTHON_CHUNK = 1 << 24
# the result columns `_accept` reads, in the order it unpacks their positions (`FileGroups._sums_at`)
SUMS_READ = (
    "billed",
    "billed_scale",
    "billed_negative_zero",
    "row_count",
    "billed_negative",
    "negative_scale",
    "effective",
    "effective_scale",
    "effective_negative_zero",
    "quantity",
    "quantity_scale",
    "quantity_rows",
    "effective_missing",
)


@exact_sums()
def read_focus_duckdb(
    paths: Iterable[Path],
    options: FocusOptions,
    limits: DuckDBLimits = DEFAULT_LIMITS,
    progress: Callable[[int, str], None] | None = None,
) -> FocusBatch:
    """`read_focus`, with DuckDB summing the rows (see the module docstring)."""
    batch = FocusBatch()
    aggregate = FocusAggregate()
    accepted = 0
    connection = duckdb_engine.connect(limits)
    # each file's lines and sha256 are read in a thread (`Lineage`), the sha256s beside step 2 at the last
    hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="focus-lineage")
    paths, read = list(paths), []
    try:
        try:
            for number, path in enumerate(paths, start=1):
                lineage = Lineage(hashing, readable(path))
                reader = FileReader(path, options, batch, aggregate, progress)
                groups = FileGroups(connection, reader, path, lineage)
                # where an account's currency was first seen is named in a later file's message only
                groups.may_reorder = number == len(paths)
                rows = groups.run()
                batch.readers[str(path)] = groups.reader_name
                read.append((path, lineage, rows))
                batch.rows_read += rows
                accepted += reader.accepted
        finally:
            connection.close()
        booked = book_batch(batch, aggregate, accepted, options)
        booked.files.extend(FileLineage(str(path), *lineage.result(), rows) for path, lineage, rows in read)
    finally:
        hashing.shutdown(cancel_futures=True)
    return booked


class Lineage:
    """A file's size and sha256 and a plain CSV's physical lines (checked by `FileGroups.run`), each read
    in a thread; a compressed or Parquet file's lines are not counted.

    The lines are counted from the start, beside the bucket query (counting holds the GIL, which DuckDB's
    threads do not need); the sha256 is read from `start` on, which `FileGroups` calls once the query has
    run: hashing releases the GIL, so it runs on the core the Python work on the groups and step 2 leave
    idle, instead of taking one from DuckDB's two threads. Two reads of a file the page cache holds."""

    def __init__(self, pool: ThreadPoolExecutor, path: Path) -> None:
        self.pool, self.path = pool, path
        self.counted: Future[int] | None = None
        if not (is_parquet(path) or is_gzip(path)):
            self.counted = pool.submit(duckdb_engine.physical_lines, path)
        self.hashed: Future[tuple[int, str]] | None = None

    def start(self) -> None:
        """Read the sha256 from now on."""
        if self.hashed is None:
            self.hashed = self.pool.submit(fingerprint, self.path, BESIDE_PYTHON_CHUNK)

    def lines(self) -> int | None:
        """The physical lines of a plain CSV; None for a file whose lines are not counted here."""
        return self.counted.result() if self.counted is not None else None

    def result(self) -> tuple[int, str]:
        """The file's size and sha256."""
        self.start()
        assert self.hashed is not None  # `start` submits it
        return self.hashed.result()


def bucket_spec(
    col: Columns, names: tuple[str, ...], options: FocusOptions, typed: tuple[tuple[int, Typed], ...] = ()
) -> BucketSpec:
    """The bucket query's columns for a source whose header the importer read (`col`), by `names`;
    `typed`: the columns the (embedded) engine reads in their own type."""
    category, start, billed = col.category, col.start, col.cost
    # required columns: `Columns` refused a header without them (`_need` with no default)
    assert category is not None
    assert start is not None
    assert billed is not None
    return BucketSpec(
        columns=names,
        static=col.static_index,
        category=category,
        start=start,
        end=col.end,
        billed=billed,
        effective=col.effective,
        quantity=col.quantity,
        row_id=col.row_id,
        accept_duplicates=options.accept_duplicates,
        unique_line_ids=options.unique_line_ids,
        typed=typed,
    )


class FileGroups:
    """One file: the query's groups, checked and added, and the rows it leaves to Python, read (the
    warehouse sources check an engine's groups with it too: `nightly`)."""

    counted = False  # the groups carry COUNTED_COLUMNS (`run`; not a warehouse's groups)
    joined = False  # the groups carry their static values as one key (`bucket_query(joined=True)`: a CSV)
    # the groups may be checked in any order (CSV: see `run`); not where a later file's message names the
    # row on which an account's currency was first seen
    may_reorder = False

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        reader: FileReader,
        path: Path,
        lineage: Lineage | None = None,
    ) -> None:
        self.connection, self.reader, self.path = connection, reader, path
        self.lineage = lineage  # reads a CSV's physical lines (None: counted here)
        self.reader_name = "duckdb"

    def _by_python(self, why: str) -> int:
        self.reader_name = f"python ({why})"
        return self.reader.run()

    def run(self) -> int:
        stream = self.reader.open()  # the header: missing or repeated columns refused as the importer does
        stream.close()
        col = self.reader.col
        found = duckdb_engine.source(self.connection, self.path, col.width)
        if found is None:
            return self._by_python("a Parquet column DuckDB would not write as text as the importer does")
        self.source = found
        self.spec = bucket_spec(col, found.columns, self.reader.options, found.typed)
        # without line ids (or with unique ones), each group tells: the file is parsed once
        repeated: str | None = PER_GROUP
        if self.spec.row_id is not None and not self.spec.unique_line_ids:
            # a repeated line id may join rows of any groups: first the survey (repeated ids, odd ones),
            # whose answer decides, before any group is added, whether DuckDB reads this file at all.
            # Parquet: the fingerprints sorted, not hashed (`survey_query`), first of the line ids alone,
            # and of every value only when some rows' id is empty
            by_sort = not found.lines_to_check
            ids_only = by_sort and not self.spec.accept_duplicates
            try:
                repeats, odd, unchecked = self._survey(by_sort, ids_only)
                if ids_only and unchecked:
                    repeats, odd, unchecked = self._survey(by_sort, False)
            except duckdb.Error as exc:  # DuckDB reads it otherwise than Python would: let Python say why
                return self._by_python(f"DuckDB: {str(exc).splitlines()[0]}")
            if odd:
                return self._by_python("a line id has unusual whitespace at an edge")
            repeated = SURVEY if repeats else None
        # A CSV's rows are numbered by a window over the whole file, which DuckDB runs on one thread, and
        # with it the parse and the checks before it (5.3 s wall for 1M rows against 3.5 s unnumbered, on
        # two cores). The numbers only order the groups for the one check that depends on order (an
        # account's currency: the first row decides), so the groups are first read unnumbered and checked
        # in any order; a file where any group's check refuses is read again in order (`_in_order`).
        unordered = found.lines_to_check and self.may_reorder
        self.joined = found.lines_to_check  # a CSV's static columns are text: grouped as one key
        try:
            groups = self._groups(repeated, numbered=not unordered)
        except duckdb.Error as exc:
            return self._by_python(f"DuckDB: {str(exc).splitlines()[0]}")
        if self.lineage is not None:
            self.lineage.start()  # the query has run: the sha256 is read beside the Python work
        first = next(groups, None)
        rows = first[self._at("total_rows")] if first is not None else 0
        if first is not None and first[self._at("odd_ids_anywhere")]:
            return self._by_python("a line id has unusual whitespace at an edge")
        if first is not None and first[self._at("separator_in_statics")]:
            return self._by_python("a value holds a NUL character")
        # nothing is added before this check: a file DuckDB read otherwise than Python would is Python's
        if found.lines_to_check and self._lines() != rows + 1:
            return self._by_python("a value spans lines, or a line is empty")
        self.counted, self.repeated = True, None if repeated == PER_GROUP else repeated
        read = chain((first,), groups) if first is not None else iter(())
        if unordered:
            read = self._in_order(read, repeated)
        self._add(read)
        return rows

    def _lines(self) -> int:
        lines = self.lineage.lines() if self.lineage is not None else None
        return duckdb_engine.physical_lines(self.path) if lines is None else lines

    def _groups(self, repeated: str | None, numbered: bool = True) -> Iterator[tuple]:
        """The bucket query's groups, fetched a chunk at a time; unnumbered, every first row is 0."""
        row_number = self.source.row_number if numbered else "0"
        query = bucket_query(
            self.spec, self.source.table, row_number, repeated, counted=True, joined=self.joined
        )
        return _chunks(self.connection.execute(render(query, "duckdb")))

    def _in_order(self, groups: Iterator[tuple], repeated: str | None) -> Iterator[tuple]:
        """`groups` (read unnumbered) when every group's static check passes in any order, which then is
        the outcome in the file's order too: no account is seen in two currencies. Else nothing of them is
        kept (the checks' caches are put back) and the groups are read again, numbered, in file order; so
        too when there are more than UNORDERED_GROUPS of them (held until all are checked: the numbered
        read streams them)."""
        reader, part_of = self.reader, self._part
        parts, currencies = dict(reader.parts), dict(reader.aggregate.account_currency)
        held = []
        for group in groups:
            part = part_of(group)
            held.append(group)
            if type(part) is Refusal or len(held) > UNORDERED_GROUPS:
                reader.parts, reader.aggregate.account_currency = parts, currencies
                return self._groups(repeated)
        return iter(held)

    def _survey(self, by_sort: bool, ids_only: bool) -> tuple[int, int, int]:
        """Run the survey into its table: the repeated fingerprints, whether a line id has odd
        whitespace, and the rows without a fingerprint."""
        query = render(survey_query(self.spec, self.source.table, by_sort, ids_only), "duckdb")
        self.connection.execute(f"CREATE OR REPLACE TEMP TABLE {SURVEY} AS {query}")
        found = self.connection.execute(
            f"SELECT COUNT(CASE WHEN NOT total AND fingerprint IS NOT NULL AND row_count > 1 THEN 1 END), "
            f"COALESCE(MAX(odd), 0), "
            f"COALESCE(MAX(CASE WHEN NOT total AND fingerprint IS NULL THEN row_count END), 0) FROM {SURVEY}"
        ).fetchone()
        assert found is not None  # an aggregate without GROUP BY answers one row
        return found

    def _at(self, name: str) -> int:
        """Where a result column sits in a group (worked out once: the loop over the groups asks often)."""
        at = self.__dict__.get("_positions")
        if at is None:
            width = group_width(self.spec, self.joined)
            at = self._positions = {n: width + i for i, n in enumerate((*RESULT_COLUMNS, *COUNTED_COLUMNS))}
        return at[name]

    @cached_property
    def _sums_at(self) -> tuple[int, ...]:
        """Where `_accept` finds a group's sums, scales and counts (`SUMS_READ`): eleven lookups a group
        by name were a fifth of the Python side's time for 53,000 groups."""
        return tuple(self._at(name) for name in SUMS_READ)

    @cached_property
    def _width(self) -> int:
        """How many of a group's first values are its static ones (`joined`: one, their key)."""
        return 1 if self.joined else len(self.spec.static)

    def _statics(self, group: tuple) -> tuple[str, ...]:
        """A group's static values, in the order of `spec.static`."""
        return tuple(group[0].split(SEPARATOR)) if self.joined else group[: self._width]

    def _part(self, group: tuple) -> StaticPart | Refusal:
        """A group's static values as checked by the importer, once per distinct combination."""
        parts = self.reader.parts
        key = group[0] if self.joined else SEPARATOR.join(group[: self._width])
        part = parts.get(key)
        if part is None:
            part = parts[key] = self.reader._check_static(self._statics(group), group[self._at("first_row")])
        return part

    def _marked(self, group: tuple) -> tuple:
        """What the review query finds a group's rows by (`MARKED`): its static values and the charge
        period's keys and effective_missing."""
        width = self._width
        return (*self._statics(group), *group[width : width + 4])

    @cached_property
    def _currency_at(self) -> int | None:
        """Where a group's BillingCurrency text sits among its static values (None: `--currency`)."""
        names = self.reader.col.static_names
        return names.index("currency") if "currency" in names else None

    def _add(self, groups: Iterable[tuple]) -> None:
        part_of = self._part
        marked: list[tuple] = []
        review = False
        clean = self._at("clean")
        repeats = self._at("repeats") if self.counted else None
        for group in groups:  # in the order of their first rows: the importer checks in row order
            part = part_of(group)
            if not group[clean]:
                review = True
            elif repeats is not None and group[repeats]:
                self._repeats_within(group, marked)
            elif not self._accept(group, part):
                marked.append(self._marked(group))  # its rows are read one by one: the importer says which
        if marked or review:
            self._review(marked, unclean=review)

    def _repeats_within(self, group: tuple, marked: list[tuple]) -> None:
        """A group some of whose rows repeat exactly: its rows are read one by one (the importer
        quarantines the repeats by row number)."""
        marked.append(self._marked(group))

    def _accept(self, group: tuple, part: StaticPart | Refusal) -> bool:
        """Add a clean group to the buckets (or to the skipped rows); False when its rows must be read
        one by one because a check refused the group."""
        reader = self.reader
        if type(part) is Refusal:
            return False
        (b, b_scale, b_zero, count_at, negative, n_scale, e, e_scale, e_zero, q, q_scale, q_rows, missing) = (
            self._sums_at
        )
        billed = _exact(group[b], group[b_scale], group[b_zero])
        count = group[count_at]
        if part.skip:
            currency_at = self._currency_at
            currency = reader.currency_of(
                self._statics(group)[currency_at] if currency_at is not None else ""
            )
            reader.batch.tally.add_rows(Disposition.SKIPPED, count, billed, currency)
            return True
        when = self._when(group, part)
        if when is None:
            return False
        if group[missing] and (part.commitment or part.virtual):
            return False
        sums = [
            billed,
            _exact(group[negative], group[n_scale]),
            _exact(group[e], group[e_scale], group[e_zero]),
            _exact(group[q], group[q_scale]),
            group[q_rows],
            count,
        ]
        bucket = reader.aggregate.sums.get((part, when))
        if bucket is None:
            reader.aggregate.sums[(part, when)] = sums
        else:
            for i, value in enumerate(sums):
                bucket[i] += value
        reader.accepted += count
        return True

    def _when(self, group: tuple, part: StaticPart) -> object | None:
        """The bucket a group's rows are charged to: their UTC day (the query grouped a charge within one
        day by it), or what the importer makes of their charge period; None when a check refuses it."""
        day, start, end = group[self._width : self._width + 3]
        if type(day) is int or day:
            return grouped_day(day)  # None, not a calendar day: the importer's loop says so for each row
        span = self._span(start, end)
        if type(span) is Refusal:
            return None
        return span[3] if part.category is not PURCHASE else span[4]

    def _span(self, start: str, end: str) -> tuple | Refusal:
        """A charge period's checked span (`FileReader._check_span`), checked once per distinct pair."""
        span = self.reader.spans.get((start, end))
        if span is None:
            span = self.reader.spans[(start, end)] = self.reader._check_span(start, end)
        return span

    def _review(self, marked: list[tuple], unclean: bool) -> None:
        """Read the rows the query left to Python with the importer's own loop, in file order: the rows
        of the `marked` groups, and (`unclean`: some group holds them) the rows that are not clean."""
        table = None
        if marked:
            keys = [
                *(f"g{n}" for n in range(len(self.spec.static))),
                *("p_day", "p_start", "p_end", "effective_missing"),
            ]
            self.connection.execute(f"DROP TABLE IF EXISTS {MARKED}")
            kinds = {
                "effective_missing": "BOOLEAN",
                "p_day": "BIGINT" if typed_moments(self.spec) else "VARCHAR",
            }
            types = ", ".join(f"{k} {kinds.get(k, 'VARCHAR')}" for k in keys)
            self.connection.execute(f"CREATE TEMP TABLE {MARKED} ({types})")
            self.connection.executemany(
                f"INSERT INTO {MARKED} VALUES ({', '.join('?' for _ in keys)})", marked
            )
            table = MARKED
        query = render(
            review_query(self.spec, self.source.table, self.source.row_number, table, self.repeated), "duckdb"
        )
        self.reader.take((row_no, values) for row_no, *values in _chunks(self.connection.execute(query)))


def grouped_day(day: int | str) -> date | None:
    """The UTC day a group's rows were grouped by: the typed path's day number (days since 1970) or the
    text path's ISO day; None for text that is not a calendar day."""
    if type(day) is int:
        return EPOCH + timedelta(days=day)
    try:
        return date.fromisoformat(str(day))
    except ValueError:
        return None


def _chunks(cursor: duckdb.DuckDBPyConnection) -> Iterator[tuple]:
    """A result's rows, fetched a chunk at a time: never all of them in Python at once."""
    while chunk := cursor.fetchmany(FETCH_ROWS):
        yield from chunk


def _exact(total: Decimal | str | None, scale: int | None, negative_zero: int = 0) -> Decimal:
    """An engine's DECIMAL(38, 10) sum (or its text) with the exponent Python's Decimal addition of the
    same values gives: that of the value with the most fraction digits; and its sign when every value was
    a negative zero (-0.00 + -0.00 is -0.00 in Python; any other zero sum is +0)."""
    if total is None:
        return ZERO
    exact = Decimal(total).quantize(_quantum(scale or 0))
    return exact.copy_negate() if negative_zero and not exact else exact


@cache
def _quantum(scale: int) -> Decimal:
    """1 at `scale` fraction digits (made once per scale: `_exact` asks four times a group)."""
    return Decimal(1).scaleb(-scale)

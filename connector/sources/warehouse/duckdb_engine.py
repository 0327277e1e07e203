"""DuckDB, embedded: the engine that runs the bucket query over local CSV and Parquet files of any size.

Memory is bounded (`SET memory_limit`; what does not fit spills to `temp_directory`) and so are the
threads it uses. A file is presented to the query as text, column by column, the way the Python importer
reads it: CSV through DuckDB's strict reader (every value as VARCHAR, no type sniffing), Parquet with
each value turned into the text a CSV export would hold (`focus_files._as_text`). A file DuckDB cannot
present that way — a Parquet column of floats, maps or lists, whose text form differs between engines —
is left to the Python importer (`source` returns None).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from connector.sources.focus_files import is_gzip, is_parquet

if TYPE_CHECKING:
    import duckdb

# pyarrow's strftime writes %S with the fraction digits of the timestamp's unit; DuckDB's %g and %f are
# milliseconds and microseconds (a nanosecond timestamp is left to Python)
SECOND_FORMATS = {"s": "%S", "ms": "%S.%g", "us": "%S.%f"}


@dataclass(frozen=True)
class DuckDBLimits:
    memory_limit: str = "1GB"
    threads: int | None = None  # None: DuckDB's default (every core)
    temp_directory: str | None = None  # where a query larger than memory spills; None: DuckDB's default


@dataclass(frozen=True)
class Source:
    """A file as the bucket query reads it: a table expression with columns c0…cN and the row number."""

    table: str
    row_number: str
    columns: tuple[str, ...]
    lines_to_check: bool  # CSV: the physical lines must be the rows and the header (no value spans lines)


def connect(limits: DuckDBLimits) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with bounded memory and threads."""
    import duckdb  # here: only an import that uses DuckDB pays for loading it

    connection = duckdb.connect(":memory:")
    connection.execute(f"SET memory_limit = {_literal(limits.memory_limit)}")
    if limits.threads:
        connection.execute(f"SET threads = {int(limits.threads)}")
    if limits.temp_directory:
        connection.execute(f"SET temp_directory = {_literal(limits.temp_directory)}")
    # row numbers come from the order rows are read in: keep it
    connection.execute("SET preserve_insertion_order = true")
    connection.execute("SET enable_progress_bar = false")  # stdout is the CLI's
    return connection


def source(connection: duckdb.DuckDBPyConnection, path: Path, width: int) -> Source | None:
    """How the query reads `path` (`width` columns, from its header), or None when only Python can."""
    columns = tuple(f"c{i}" for i in range(width))
    if is_parquet(path):
        return _parquet(connection, path, columns)
    types = ", ".join(f"{_literal(name)}: 'VARCHAR'" for name in columns)
    compression = "gzip" if is_gzip(path) else "none"
    table = (
        f"read_csv({_literal(str(path))}, header = false, skip = 1, delim = ',', quote = '\"', "
        f"escape = '\"', strict_mode = true, null_padding = false, auto_detect = false, "
        f"compression = '{compression}', columns = {{{types}}})"
    )
    return Source(table, "ROW_NUMBER() OVER () + 1", columns, lines_to_check=True)


def _parquet(connection: duckdb.DuckDBPyConnection, path: Path, columns: tuple[str, ...]) -> Source | None:
    import pyarrow.parquet as pq  # the schema as the Python importer sees it (`focus_files._as_text`)

    texts = []
    for field, alias in zip(pq.read_schema(path), columns, strict=True):
        text = _parquet_text(field.type, _identifier(field.name))
        if text is None:
            return None
        texts.append(f"{text} AS {alias}")
    table = (
        f"(SELECT file_row_number + 2 AS file_row, {', '.join(texts)} "
        f"FROM read_parquet({_literal(str(path))}, file_row_number = true))"
    )
    return Source(table, "file_row", columns, lines_to_check=False)


def _parquet_text(kind, column: str) -> str | None:
    """DuckDB's expression giving a Parquet column's values as pyarrow's cast to text gives them (a
    timestamp's seconds carry the fraction digits of its unit), or None for a type left to Python."""
    import pyarrow as pa

    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_boolean(kind):
        return column
    if pa.types.is_integer(kind) or (pa.types.is_decimal128(kind) and kind.precision <= 38):
        return column
    if pa.types.is_timestamp(kind) and kind.unit in SECOND_FORMATS:
        utc = f"timezone('UTC', {column})" if kind.tz else column
        return f"strftime({utc}, '%Y-%m-%dT%H:%M:{SECOND_FORMATS[kind.unit]}Z')"
    return None


def physical_lines(path: Path) -> int:
    """The lines of a (possibly gzip-compressed) CSV file as Python's csv module counts them: ends of line
    are \\n, \\r\\n and a lone \\r; a last line without one counts too."""

    opener = gzip.open if is_gzip(path) else open
    lines, last, carriage = 0, b"", False
    with opener(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            if carriage and chunk.startswith(b"\n"):
                lines -= 1  # a \r\n split across two chunks: counted once
            lines += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
            carriage, last = chunk.endswith(b"\r"), chunk[-1:]
    return lines + (1 if last not in (b"", b"\n", b"\r") else 0)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'

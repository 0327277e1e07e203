"""DuckDB, embedded: the engine that runs the bucket query over local CSV and Parquet files of any size.

Memory is bounded (`SET memory_limit`; what does not fit spills to `temp_directory`) and so are the
threads it uses. A file is presented to the query as text, column by column, the way the Python importer
reads it: CSV through DuckDB's strict reader (every value as VARCHAR, no type sniffing), Parquet with
each value turned into the text a CSV export would hold (`focus_files._as_text`): decimals, integers,
timestamps, DOUBLEs (AWS's FOCUS amounts, in their shortest round-trip text) and maps of strings (AWS's
Tags, as JSON) — the macros below write them exactly as the Python importer does. A file with a column
DuckDB cannot present that way — FLOAT (32-bit), lists, structs, maps of other types — is left to the
Python importer (`source` returns None). A typed Parquet column (DECIMAL, integer, DOUBLE, TIMESTAMP) is
also given as itself (`Source.typed`, `Typed`), for the bucket query's typed path (`aggregation`).
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from connector.sources.focus_files import is_gzip, is_parquet

if TYPE_CHECKING:
    import duckdb

# pyarrow's strftime writes %S with the fraction digits of the timestamp's unit; DuckDB's %g and %f are
# milliseconds and microseconds (a nanosecond timestamp is left to Python)
SECOND_FORMATS = {"s": "%S", "ms": "%S.%g", "us": "%S.%f"}
UTC_ZONES = (None, "UTC", "Etc/UTC", "+00:00", "Z")


# SQL macros each connection defines: a Parquet value written as the text pyarrow's cast gives it (what
# the Python importer reads, `focus_files._as_text`), so both readers see the same text.
# - a DOUBLE: DuckDB's own text has the same shortest round-trip digits as pyarrow's — the digits AWS's
#   writer put in the file stand for exactly that double — but writes them otherwise ('1.0' for '1',
#   '1e-05' for '0.00001'); the digits and the decimal point are taken from it and written as pyarrow
#   does (fixed from 1e-6 to below 1e10, else d.ddde±x). No float arithmetic: text to text, so the amount
#   is the shortest decimal that round-trips to the double, and Decimal reads that text exactly.
# - a MAP of strings (AWS's Tags): `json.dumps(dict(map))`, ", " and ": " as separators, every character
#   outside printable ASCII escaped as \uXXXX.
MACROS = (
    # - a DECIMAL: pyarrow writes it as Python's str(Decimal) does: E-notation when the adjusted exponent
    #   is below -6 (0E-10, 5.000E-7 at scale 10), else DuckDB's own plain text
    """CREATE OR REPLACE MACRO tb_decimal_text(x, scale) AS
    CASE WHEN x IS NULL THEN NULL ELSE list_transform([CAST(x AS VARCHAR)], lambda t: list_transform(
      [coalesce(nullif(ltrim(replace(ltrim(t, '-'), '.', ''), '0'), ''), '0')], lambda c:
      CASE WHEN length(c) - 1 - scale >= -6 THEN t
           ELSE (CASE WHEN starts_with(t, '-') THEN '-' ELSE '' END) || substr(c, 1, 1)
                || (CASE WHEN length(c) > 1 THEN '.' || substr(c, 2) ELSE '' END)
                || 'E-' || CAST(scale + 1 - length(c) AS VARCHAR) END)[1])[1] END""",
    """CREATE OR REPLACE MACRO tb_float_parts(t) AS
    list_transform([split_part(ltrim(t, '-'), 'e', 1)], lambda m:
      {'neg': starts_with(t, '-'),
       'digits': trim(replace(m, '.', ''), '0'),
       'point': (CASE WHEN contains(m, '.') THEN strpos(m, '.') - 1 ELSE length(m) END)
                + (CASE WHEN contains(t, 'e') THEN CAST(split_part(t, 'e', 2) AS INTEGER) ELSE 0 END)
                - (length(replace(m, '.', '')) - length(ltrim(replace(m, '.', ''), '0')))})[1]""",
    """CREATE OR REPLACE MACRO tb_float_format(p) AS
    CASE WHEN p.digits = '' THEN (CASE WHEN p.neg THEN '-0' ELSE '0' END)
    ELSE (CASE WHEN p.neg THEN '-' ELSE '' END) ||
      CASE WHEN p.point > -6 AND p.point <= 10 THEN
        CASE WHEN p.point <= 0 THEN '0.' || repeat('0', -p.point) || p.digits
             WHEN p.point >= length(p.digits) THEN p.digits || repeat('0', p.point - length(p.digits))
             ELSE substr(p.digits, 1, p.point) || '.' || substr(p.digits, p.point + 1) END
      ELSE substr(p.digits, 1, 1) || (CASE WHEN length(p.digits) > 1 THEN '.' || substr(p.digits, 2) ELSE '' END)
        || 'e' || (CASE WHEN p.point >= 1 THEN '+' ELSE '-' END) || CAST(abs(p.point - 1) AS VARCHAR)
      END
    END""",
    # on the text alone: with a NaN in the file, DuckDB's statistics may fold isnan(x) to false
    """CREATE OR REPLACE MACRO tb_float_text(x) AS
    list_transform([CAST(x AS VARCHAR)], lambda t:
      CASE WHEN t IN ('nan', '-nan') THEN 'nan' WHEN t IN ('inf', '-inf') THEN t
           ELSE tb_float_format(tb_float_parts(t)) END)[1]""",
    r"""CREATE OR REPLACE MACRO tb_json_char(ch) AS
    CASE WHEN ch = '"' THEN '\"' WHEN ch = '\' THEN '\\'
         WHEN ch = chr(10) THEN '\n' WHEN ch = chr(13) THEN '\r' WHEN ch = chr(9) THEN '\t'
         WHEN ch = chr(8) THEN '\b' WHEN ch = chr(12) THEN '\f'
         WHEN unicode(ch) BETWEEN 32 AND 126 THEN ch
         WHEN unicode(ch) <= 65535 THEN printf('\u%04x', unicode(ch))
         ELSE printf('\u%04x\u%04x', 55296 + ((unicode(ch) - 65536) >> 10), 56320 + ((unicode(ch) - 65536) & 1023))
    END""",
    r"""CREATE OR REPLACE MACRO tb_json_text(s) AS
    '"' || CASE WHEN regexp_matches(s, '[^ -~]')
                THEN array_to_string(list_transform(string_split(s, ''), lambda ch: tb_json_char(ch)), '')
                ELSE replace(replace(s, '\', '\\'), '"', '\"') END || '"'""",
    r"""CREATE OR REPLACE MACRO tb_map_text(m) AS
    CASE WHEN m IS NULL THEN NULL ELSE '{' || array_to_string(list_transform(map_entries(m), lambda e:
      tb_json_text(e.key) || ': ' || CASE WHEN e.value IS NULL THEN 'null' ELSE tb_json_text(e.value) END), ', ') || '}' END""",
)


@dataclass(frozen=True)
class Typed:
    """A source column the embedded engine reads in its own type (over typed Parquet, or a DuckDB
    warehouse's table: amounts DECIMAL, DOUBLE or integers, moments TIMESTAMP), as `r<i>` beside its
    text `s<i>`.

    The typed fast path needs no regular expression for what the type already guarantees (a DECIMAL
    is a plain decimal with `scale` fraction digits; a TIMESTAMP is a moment) and checks the rest per
    row: NULLs, ranges, a DOUBLE's digits (its shortest round-trip text, the importer's). `text` is
    the expression over `r<i>` giving the importer's text of the value (used only where needed:
    a charge period that is not a day's, a group's static value, a row left to Python)."""

    kind: str  # "decimal", "integer", "double" or "timestamp"
    text: str  # a template: `text.format(column)` is the importer's text of `column` ('' for NULL)
    scale: int = 0  # a decimal's fraction digits
    integer_digits: int = 38  # a decimal's precision - scale; above 18 each value's range is checked
    # a DOUBLE's text: pyarrow's (a file's: `1`, `0.00001`) or, `cast_text`, DuckDB's own CAST (a DuckDB
    # warehouse table's text path: `1.0`, `1e-05`). The same digits, but a whole value written `1.0`
    # has one fraction digit (Python's exponent -1), written `1` none (`aggregation._double_text`)
    cast_text: bool = False

    def text_of(self, column: str) -> str:
        return self.text.format(column)


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
    typed: tuple[tuple[int, Typed], ...] = ()  # Parquet: the columns also given as themselves (r<i>)


def connect(limits: DuckDBLimits) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with bounded memory and threads."""
    import duckdb  # here: only an import that uses DuckDB pays for loading it

    connection = duckdb.connect(":memory:")
    bound(connection, limits)
    # row numbers come from the order rows are read in: keep it
    connection.execute("SET preserve_insertion_order = true")
    connection.execute("SET enable_progress_bar = false")  # stdout is the CLI's
    for macro in MACROS:
        connection.execute(macro)
    return connection


def bound(connection: duckdb.DuckDBPyConnection, limits: DuckDBLimits) -> None:
    """Hold a connection to `limits`: without them DuckDB may take 80 % of the machine's memory."""
    connection.execute(f"SET memory_limit = {_literal(limits.memory_limit)}")
    if limits.threads:
        connection.execute(f"SET threads = {int(limits.threads)}")
    if limits.temp_directory:
        connection.execute(f"SET temp_directory = {_literal(limits.temp_directory)}")


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

    texts, typed = [], []
    for i, (field, alias) in enumerate(zip(pq.read_schema(path), columns, strict=True)):
        column = _identifier(field.name)
        text = _parquet_text(field.type, column)
        if text is None:
            return None
        texts.append(f"{text} AS {alias}")
        kind = _parquet_typed(field.type)
        if kind is not None:
            texts.append(f"{column} AS r{i}")
            typed.append((i, kind))
    table = (
        f"(SELECT file_row_number + 2 AS file_row, {', '.join(texts)} "
        f"FROM read_parquet({_literal(str(path))}, file_row_number = true))"
    )
    return Source(table, "file_row", columns, lines_to_check=False, typed=tuple(typed))


def _parquet_text(kind, column: str) -> str | None:
    """DuckDB's expression giving a Parquet column's values as pyarrow's cast to text gives them (a
    timestamp's seconds carry the fraction digits of its unit), or None for a type left to Python."""
    import pyarrow as pa

    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_boolean(kind):
        return column
    if pa.types.is_integer(kind):
        return column
    if pa.types.is_decimal128(kind) and kind.precision <= 38:
        return f"tb_decimal_text({column}, {kind.scale})" if kind.scale > 6 else column
    if pa.types.is_float64(kind):
        return f"tb_float_text({column})"  # a float32's text differs between the two: left to Python
    if pa.types.is_map(kind) and _is_text(kind.key_type) and _is_text(kind.item_type):
        return f"tb_map_text({column})"
    if pa.types.is_timestamp(kind) and kind.unit in SECOND_FORMATS:
        return f"strftime({_utc(kind, column)}, '%Y-%m-%dT%H:%M:{SECOND_FORMATS[kind.unit]}Z')"
    return None


def _parquet_typed(kind) -> Typed | None:
    """How the bucket query's typed path reads a Parquet column (`Typed`); None
    for text (and for what the typed path does not take: a decimal of more than 10 fraction digits, a
    timestamp in a zone other than UTC, which pyarrow writes in local time)."""
    import pyarrow as pa

    text = _parquet_text(kind, "{}")
    if text is None:
        return None
    text = f"COALESCE(CAST({text} AS VARCHAR), '')"  # as the query's s<i>: NULL is ''
    if pa.types.is_decimal128(kind) and 0 <= kind.scale <= 10:
        return Typed("decimal", text, scale=kind.scale, integer_digits=kind.precision - kind.scale)
    if pa.types.is_integer(kind):
        return Typed("integer", text)
    if pa.types.is_float64(kind):
        return Typed("double", text)
    if pa.types.is_timestamp(kind) and kind.unit in SECOND_FORMATS and kind.tz in UTC_ZONES:
        return Typed("timestamp", text)
    return None


def _utc(kind, column: str) -> str:
    """A timestamp column as a UTC TIMESTAMP: one with a zone is converted, one without is UTC already
    (the importer assumes so)."""
    return f"timezone('UTC', {column})" if kind.tz else column


def _is_text(kind) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def physical_lines(path: Path) -> int:
    """The lines of a (possibly gzip-compressed) CSV file as Python's csv module counts them: ends of line
    are \\n, \\r\\n and a lone \\r; a last line without one counts too."""
    opener = gzip.open if is_gzip(path) else open
    lines = LineCount()
    with opener(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            lines.add(chunk)
    return lines.total()


# a \r not followed by \n: found by one search for \r (fast), where counting \r\n (a two-byte needle)
# cost three times as much in a CRLF export — what the csv module and Excel write
LONE_CARRIAGE = re.compile(rb"\r(?!\n)")


class LineCount:
    """Counts ends of line block by block (a \\r\\n split across two blocks counted once)."""

    def __init__(self) -> None:
        self.lines, self.last, self.carriage = 0, b"", False

    def add(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.lines += chunk.count(b"\n")
        if self.carriage and chunk.startswith(b"\n"):
            self.lines -= 1  # the \r ending the previous block was counted: this \n ends the same line
        if b"\r" in chunk:  # a lone \r ends a line too (a \r\n was counted by its \n)
            self.lines += len(LONE_CARRIAGE.findall(chunk))
        self.carriage, self.last = chunk.endswith(b"\r"), chunk[-1:]

    def total(self) -> int:
        return self.lines + (1 if self.last not in (b"", b"\n", b"\r") else 0)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'

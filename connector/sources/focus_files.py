"""Reading FOCUS export files as a stream of rows of text, whatever their format.

CSV (optionally gzip-compressed) is read with the csv module straight from the (decompressing) file, so
a large export never has to fit in memory; a UTF-8 byte-order mark is dropped. Parquet is read in record
batches with pyarrow; every value is turned into the text a CSV export would hold (numbers in their
shortest exact form, timestamps as ISO 8601 UTC, maps and lists as JSON), so one parser serves both.
A file's lineage (path, size, sha256, rows) is what tokenbooks keeps instead of a copy of its rows.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

PARQUET_BATCH_ROWS = 65_536
CSV_FIELD_LIMIT = 10 * 1024 * 1024  # a Tags value can be long; far beyond this the file is broken


@dataclass(frozen=True, slots=True)
class UnreadableRow:
    """A CSV line the csv module could not read (an unterminated quote, a NUL byte); reading goes on."""

    reason: str


@dataclass(frozen=True, slots=True)
class FileLineage:
    path: str
    size: int
    sha256: str
    rows: int = 0  # data rows read (the header not counted)

    def as_dict(self) -> dict:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "rows": self.rows}


def fingerprint(path: Path, chunk: int = 1 << 20) -> tuple[int, str]:
    """Size and sha256 of a file, read in chunks of `chunk` bytes. Reading and hashing release the GIL; a
    thread taking it back waits for the thread holding it (up to the 5 ms switch interval), so a file
    hashed beside busy Python work reads larger chunks (`focus_duckdb.Lineage`: 16 MiB)."""
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as handle:
        while read := handle.readinto(buffer):
            digest.update(view[:read])
            size += read
    return size, digest.hexdigest()


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


@dataclass
class RowStream:
    """A file's header (names stripped of spaces and any BOM), an iterator over its data rows, and — for
    CSV — how many physical lines the reader has consumed so far (None for Parquet, which has no lines)."""

    header: list[str]
    rows: Iterator[list[str] | UnreadableRow]
    physical_lines: Callable[[], int] | None = None
    close: Callable[[], None] = lambda: None  # for a caller that reads only the header


def open_rows(path: Path) -> RowStream:
    """The file's rows. A damaged archive (a truncated gzip) raises EOFError or OSError from the iterator:
    the caller must refuse the file, since what follows the damage is unknown."""
    if is_parquet(path):
        return _parquet_rows(path)
    return _csv_rows(path)


def _csv_rows(path: Path) -> RowStream:
    csv.field_size_limit(CSV_FIELD_LIMIT)
    opener = gzip.open if is_gzip(path) else open
    handle = opener(path, "rt", encoding="utf-8-sig", newline="")
    reader = csv.reader(handle)
    try:
        header = next(reader, [])
    except Exception:
        handle.close()
        raise

    def rows() -> Iterator[list[str] | UnreadableRow]:
        with handle:
            while True:
                try:
                    yield from reader
                    return
                except csv.Error as exc:  # one bad line; the reader goes on after it
                    yield UnreadableRow(str(exc))

    return RowStream(
        [name.strip().lstrip("\ufeff") for name in header], rows(), lambda: reader.line_num, handle.close
    )


def first_multiline_row(path: Path) -> tuple[int, int, int] | None:
    """The first data row that spans several physical lines: (row number, its first line, its last line),
    the header being row 1 and line 1. A stray quote makes the csv module read on, across line ends, to
    the next quote — possibly swallowing the rest of the file into one value."""
    stream = _csv_rows(path)
    before = stream.physical_lines() if stream.physical_lines else 1
    for number, _row in enumerate(stream.rows, start=2):
        after = stream.physical_lines()  # type: ignore[misc]
        if after - before > 1:
            return number, before + 1, after
        before = after
    return None


def _parquet_rows(path: Path) -> RowStream:
    import pyarrow.parquet as pq  # imported here: only Parquet imports pay for pyarrow

    parquet = pq.ParquetFile(path)
    names = [field.name.strip() for field in parquet.schema_arrow]

    def rows() -> Iterator[list[str]]:
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            columns = [_as_text(batch.column(i)) for i in range(batch.num_columns)]
            yield from (list(values) for values in zip(*columns, strict=True))

    return RowStream(names, rows())


def _as_text(column) -> list[str]:
    """A pyarrow column as the strings a CSV export would hold; nulls become empty strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_timestamp(kind):
        utc = column if kind.tz else pc.assume_timezone(column, "UTC")
        text = pc.strftime(utc, format="%Y-%m-%dT%H:%M:%SZ")
    elif pa.types.is_map(kind) or pa.types.is_struct(kind) or pa.types.is_list(kind):
        return [
            "" if v is None else json.dumps(dict(v) if pa.types.is_map(kind) else v)
            for v in column.to_pylist()
        ]
    else:
        text = pc.cast(column, pa.string())  # decimals exactly, floats in their shortest round-trip form
    return ["" if v is None else v for v in text.to_pylist()]

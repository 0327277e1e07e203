"""Small record files (invoices, credit lots, customer credits) as a list of records, CSV or JSON alike.

Each record keeps its location ("row 7" — the header is row 1 — or "invoices[3]") and its raw text, so a
bad record can be quarantined as it was read. A file that cannot be read at all (bad encoding, broken
JSON, a header without a required column) is one file-level problem and nothing of it is imported.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from connector.domain.errors import Problem
from connector.domain.imports import Disposition, QuarantinedRow, Tally
from connector.domain.money import MoneyError, currency_code, parse_amount

T = TypeVar("T")
E = TypeVar("E", bound=Enum)

EXTRA = "__extra__"  # where csv.DictReader puts fields beyond the header


@dataclass(frozen=True, slots=True)
class Record:
    location: str
    values: dict[str, Any]
    raw: str

    def field_count_problem(self, source: str, width: int) -> Problem | None:
        """A CSV row with more or fewer fields than the header (a truncated or misquoted line)."""
        extra = self.values.get(EXTRA)
        short = any(v is None for v in self.values.values())
        if extra or short:
            return Problem(
                source,
                self.location,
                "",
                f"has {'more' if extra else 'fewer'} fields than the header's {width} (a truncated or misquoted line)",
                "fix the line so it has one value per column",
            )
        return None


FIX_UTF8 = "save the file as UTF-8 (Excel: Save As → CSV UTF-8) and import it again"


def read_records(
    path: Path, list_key: str, required: tuple[str, ...]
) -> tuple[list[Record], int, Problem | None]:
    """The file's records and its CSV header width (0 for JSON), or a problem naming why it cannot be read."""
    source = str(path)
    unreadable = _unreadable(path)
    if unreadable:
        return [], 0, unreadable
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        return (
            [],
            0,
            Problem(
                source, f"line {line}", "", f"is not UTF-8 text ({exc.reason} at byte {exc.start})", FIX_UTF8
            ),
        )
    except OSError as exc:
        return (
            [],
            0,
            Problem(
                source,
                "",
                "",
                f"cannot read the file: {exc.strerror or exc}",
                "check the path and its permissions",
            ),
        )
    if not text.strip():
        return (
            [],
            0,
            Problem(
                source,
                "",
                "",
                "the file is empty",
                f'a CSV file needs a header row ({", ".join(required)}) and one row per record; JSON: {{"{list_key}": [...]}}',
            ),
        )
    if path.suffix.lower() == ".json":
        records, problem = _json_records(text, source, list_key)
        return records, 0, problem
    if path.suffix.lower() == ".csv":
        return _csv_records(text, source, required)
    return [], 0, Problem(source, "", "", "unknown file type", "use a .csv or .json file")


def _unreadable(path: Path) -> Problem | None:
    if path.is_dir():
        return Problem(
            str(path), "", "", "is a directory, not a file", "give the path of a .csv or .json file"
        )
    if not path.exists():
        return Problem(str(path), "", "", "no such file", "check the path")
    return None


def _csv_records(
    text: str, source: str, required: tuple[str, ...]
) -> tuple[list[Record], int, Problem | None]:
    lines = text.splitlines()
    reader = csv.DictReader(io.StringIO(text), restkey=EXTRA)
    header = [h.strip() for h in reader.fieldnames or []]
    problem = _header_problem(header, source, required)
    if problem:
        return [], len(header), problem
    reader.fieldnames = header
    records: list[Record] = []
    before = reader.line_num
    for number, row in enumerate(reader, start=2):
        spanned = [line for line in lines[before : reader.line_num] if line.strip()]
        if len(spanned) > 1:
            return [], len(header), _swallowed(source, number, before, reader.line_num, lines, len(records))
        before = reader.line_num
        values = {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items()}
        raw = lines[reader.line_num - 1] if 0 < reader.line_num <= len(lines) else ""
        records.append(Record(f"row {number}", values, raw))
    return records, len(header), None


def _header_problem(header: list[str], source: str, required: tuple[str, ...]) -> Problem | None:
    seen: dict[str, int] = {}
    for number, name in enumerate(header, start=1):
        if name in seen:
            return Problem(
                source,
                "row 1 (header)",
                name,
                f"the header names {name} twice (columns {seen[name]} and {number}); which one holds the value?",
                "remove or rename one of the two columns",
            )
        seen[name] = number
    missing = [c for c in required if c not in header]
    if missing:
        return Problem(
            source,
            "row 1 (header)",
            ", ".join(missing),
            "missing column(s)",
            f"the header must hold: {', '.join(required)}",
        )
    return None


def _swallowed(source: str, row: int, before: int, after: int, lines: list[str], read: int) -> Problem:
    """A record that runs across line ends: a quote opened in a value is closed lines later (or never)."""
    data_lines = sum(1 for line in lines[1:] if line.strip())
    return Problem(
        source,
        f"row {row}",
        "",
        f"a quote opened on line {before + 1} is not closed before line {after} (or never): lines "
        f"{before + 1}–{after} would be read as one row and the records on them lost (the file has "
        f"{data_lines} data lines, {read} read before this one)",
        "remove the stray quote (or the line break inside the quoted value) and import the file again",
    )


def _json_records(text: str, source: str, list_key: str) -> tuple[list[Record], Problem | None]:
    try:
        document = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        return [], Problem(
            source, f"line {exc.lineno}", "", f"not valid JSON: {exc.msg}", "fix the JSON syntax"
        )
    items = document.get(list_key) if isinstance(document, dict) else document
    if not isinstance(items, list):
        return [], Problem(
            source, "", list_key, "expected a list", f'write {{"{list_key}": [...]}} or a bare list'
        )
    return [
        Record(
            f"{list_key}[{i}]", item if isinstance(item, dict) else {"": item}, json.dumps(item, default=str)
        )
        for i, item in enumerate(items)
    ], None


def parse_records(
    records: list[Record],
    source: str,
    width: int,
    parse_one: Callable[[Record, list[Problem]], T | None],
    identity: Callable[[T], str],
    amount_of: Callable[[T], tuple[Decimal, str]],
    amount_field: str,
) -> tuple[list[tuple[Record, T]], list[QuarantinedRow], Tally]:
    """Parse every record; a record with any problem, or repeating an earlier record's identity, is
    quarantined (the first problem names its field; the others are appended to the reason)."""
    accepted: list[tuple[Record, T]] = []
    quarantined: list[QuarantinedRow] = []
    tally = Tally()
    seen: dict[str, str] = {}
    for record in records:
        problems: list[Problem] = []
        shape = _shape_problem(record, source, width)
        item = None if shape else parse_one(record, problems)
        if shape:
            problems.append(shape)
        elif item is not None and identity(item) in seen:
            earlier = seen[identity(item)]
            problems.append(
                Problem(
                    source, record.location, "", f"repeats {earlier} ({identity(item)})", "keep one of them"
                )
            )
        if problems:
            amount, currency = _readable_amount(record, amount_field)
            first = problems[0]
            reason = "; ".join([first.message, *(f"{p.field}: {p.message}" for p in problems[1:])])
            quarantined.append(QuarantinedRow(replace(first, message=reason), record.raw, amount, currency))
            tally.add(Disposition.QUARANTINED, amount, currency)
            continue
        assert item is not None
        seen[identity(item)] = record.location
        accepted.append((record, item))
        tally.add(Disposition.ACCEPTED, *amount_of(item))
    return accepted, quarantined, tally


def _shape_problem(record: Record, source: str, width: int) -> Problem | None:
    if list(record.values) == [""]:
        return Problem(source, record.location, "", "an item must be an object", "write each item as {...}")
    return record.field_count_problem(source, width) if width else None


def _readable_amount(record: Record, amount_field: str) -> tuple[Decimal | None, str | None]:
    try:
        return parse_amount(record.values.get(amount_field)), currency_code(record.values.get("currency"))
    except MoneyError:
        return None, None


def check_field(
    problems: list[Problem], source: str, where: str, field: str, parse: Callable[[], Any], fix: str
) -> Any:
    """`parse()`'s value, or None after adding a problem naming the field when it raises ValueError."""
    try:
        return parse()
    except (ValueError, MoneyError, TypeError) as exc:
        problems.append(Problem(source, where, field, str(exc), fix))
        return None


def day_value(value: object) -> date:
    """A date written YYYY-MM-DD, or a ValueError in a person's words (Python's says "Invalid isoformat
    string"), which `check_field` puts in the row's problem."""
    text = str(value).strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date written YYYY-MM-DD") from None


def choice_value(value: object, choices: type[E], what: str) -> E:
    """One of an enumeration's values (case and spaces ignored), or a ValueError naming `what` it should
    be (the enumeration's own error names the Python class)."""
    text = str(value).strip().lower()
    try:
        return choices(text)
    except ValueError:
        raise ValueError(f"{text!r} is not {what}") from None


def required_text(
    values: dict[str, Any],
    names: tuple[str, ...],
    source: str,
    where: str,
    problems: list[Problem],
    fix: str = "give the {name}",
) -> bool:
    """True when every named field has a value; otherwise one problem per empty field."""
    before = len(problems)
    for name in names:
        if values.get(name) in (None, ""):
            problems.append(Problem(source, where, name, "is empty", fix.format(name=name)))
    return len(problems) == before


@dataclass(frozen=True)
class RecordFormat:
    """What one kind of record file holds: its list key (JSON), required columns, and how its items are
    named (to find repeats) and counted (for the tally)."""

    list_key: str
    required: tuple[str, ...]
    identity: Callable[[Any], str]
    amount_of: Callable[[Any], tuple[Decimal, str]]
    amount_field: str


def read_record_file(
    path: Path, fmt: RecordFormat, parse_one: Callable[[Record, str, list[Problem]], Any]
) -> tuple[list[tuple[Record, Any]], list[QuarantinedRow], Tally, Problem | None]:
    """Read, parse and check a record file: good items with their records, quarantined rows, the tally,
    or a problem that stops the whole file. `parse_one(record, source, problems)` builds one item."""
    records, width, problem = read_records(path, fmt.list_key, fmt.required)
    if problem:
        return [], [], Tally(), problem
    source = str(path)
    accepted, quarantined, tally = parse_records(
        records,
        source,
        width,
        lambda record, problems: parse_one(record, source, problems),
        identity=fmt.identity,
        amount_of=fmt.amount_of,
        amount_field=fmt.amount_field,
    )
    return accepted, quarantined, tally, None

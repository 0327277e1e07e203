"""Invoice files: the documented CSV and JSON formats (docs/invoices.md).

Neither OpenAI nor Anthropic has an invoice API, so invoices arrive as files (an inbox folder or
`tokenbooks import invoices FILE`). Every row is checked; each problem names the file, the row (CSV) or
item (JSON), the field and the fix. A file with any error is refused whole.

CSV columns: provider, account, number, period, issue_date, total, currency[, entity]
JSON: {"invoices": [{...same fields..., "lines": [{"description", "amount", "kind"}]}]} or a bare list.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from connector.domain.errors import Problem
from connector.domain.invoices import Invoice, InvoiceLine
from connector.domain.money import MoneyError, currency_code, parse_amount
from connector.domain.periods import Period

REQUIRED = ("provider", "account", "number", "period", "issue_date", "total", "currency")
LINE_KINDS = ("usage", "tax", "credit", "adjustment")


def read_invoice_file(path: Path, default_entity: str) -> tuple[list[Invoice], list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(str(path), "", "", f"cannot read the file: {exc}", "check the path and encoding")]
    if path.suffix.lower() == ".json":
        return parse_invoice_json(text, str(path), default_entity)
    if path.suffix.lower() == ".csv":
        return parse_invoice_csv(text, str(path), default_entity)
    return [], [Problem(str(path), "", "", "unknown invoice file type", "use a .csv or .json file")]


def parse_invoice_csv(text: str, source: str, default_entity: str) -> tuple[list[Invoice], list[Problem]]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return [], [
            Problem(
                source,
                "line 1",
                ", ".join(missing),
                "missing column(s)",
                f"the header must hold: {', '.join(REQUIRED)}",
            )
        ]
    invoices, problems = [], []
    for row_no, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        invoice = _invoice(row, source, f"row {row_no}", default_entity, problems, lines=())
        if invoice:
            invoices.append(invoice)
    return invoices, problems


def parse_invoice_json(text: str, source: str, default_entity: str) -> tuple[list[Invoice], list[Problem]]:
    try:
        document = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        return [], [
            Problem(source, f"line {exc.lineno}", "", f"not valid JSON: {exc.msg}", "fix the JSON syntax")
        ]
    items = document.get("invoices") if isinstance(document, dict) else document
    if not isinstance(items, list):
        return [], [
            Problem(source, "", "invoices", "expected a list of invoices", 'write {"invoices": [...]}')
        ]
    invoices, problems = [], []
    for index, item in enumerate(items):
        where = f"invoices[{index}]"
        if not isinstance(item, dict):
            problems.append(
                Problem(source, where, "", "an invoice must be an object", "see docs/invoices.md")
            )
            continue
        lines = _lines(item.get("lines", []), source, where, problems)
        invoice = _invoice(
            {k: item.get(k) for k in (*REQUIRED, "entity")}, source, where, default_entity, problems, lines
        )
        if invoice:
            invoices.append(invoice)
    return invoices, problems


def _invoice(
    row: dict[str, Any],
    source: str,
    where: str,
    default_entity: str,
    problems: list[Problem],
    lines: tuple[InvoiceLine, ...],
) -> Invoice | None:
    before = len(problems)
    for name in REQUIRED:
        if row.get(name) in (None, ""):
            problems.append(Problem(source, where, name, "is empty", f"give the invoice's {name}"))
    if len(problems) > before:
        return None
    period = _check(
        problems,
        source,
        where,
        "period",
        lambda: str(Period.parse(str(row["period"]))),
        "write the billed month as YYYY-MM",
    )
    issued = _check(
        problems,
        source,
        where,
        "issue_date",
        lambda: date.fromisoformat(str(row["issue_date"])),
        "write the issue date as YYYY-MM-DD",
    )
    total = _check(
        problems,
        source,
        where,
        "total",
        lambda: parse_amount(row["total"]),
        "write the total as a plain number, e.g. 1234.56",
    )
    currency = _check(
        problems,
        source,
        where,
        "currency",
        lambda: currency_code(row["currency"]),
        "use an ISO 4217 code such as USD",
    )
    if len(problems) > before:
        return None
    if lines and sum(ln.amount for ln in lines) != total:
        problems.append(
            Problem(
                source,
                where,
                "lines",
                f"the lines sum to {sum(ln.amount for ln in lines)}, not the total {total}",
                "correct the lines or the total",
            )
        )
        return None
    return Invoice(
        entity=str(row.get("entity") or default_entity),
        provider=str(row["provider"]).strip().lower(),
        provider_account=str(row["account"]).strip(),
        number=str(row["number"]).strip(),
        period=period,
        issue_date=issued,
        total=total,
        currency=currency,
        lines=lines,
        source=source,
    )


def _lines(items: Any, source: str, where: str, problems: list[Problem]) -> tuple[InvoiceLine, ...]:
    if not isinstance(items, list):
        problems.append(Problem(source, where, "lines", "must be a list", "write lines as a list of objects"))
        return ()
    lines = []
    for index, item in enumerate(items):
        at = f"{where}.lines[{index}]"
        if not isinstance(item, dict):
            problems.append(
                Problem(source, at, "", "a line must be an object", "give description and amount")
            )
            continue
        amount = _check(
            problems,
            source,
            at,
            "amount",
            lambda item=item: parse_amount(item.get("amount")),
            "write the amount as a number",
        )
        kind = str(item.get("kind", "usage"))
        if kind not in LINE_KINDS:
            problems.append(
                Problem(source, at, "kind", f"unknown line kind {kind!r}", f"use {', '.join(LINE_KINDS)}")
            )
            continue
        if amount is not None:
            lines.append(InvoiceLine(str(item.get("description", "")), amount, kind))
    return tuple(lines)


def _check(problems: list[Problem], source: str, where: str, field: str, parse: Any, fix: str) -> Any:
    try:
        return parse()
    except (ValueError, MoneyError) as exc:
        problems.append(Problem(source, where, field, str(exc), fix))
        return None

"""Invoice files: the documented CSV and JSON formats (docs/invoices.md).

Neither OpenAI nor Anthropic has an invoice API, so invoices arrive as files (an inbox folder or
`tokenbooks import invoices FILE`). Every row is checked; each problem names the file, the row (CSV) or
item (JSON), the field and the fix. A bad invoice is quarantined; the good ones are imported.

CSV columns: provider, account, number, period, issue_date, total, currency[, entity]
JSON: {"invoices": [{...same fields..., "lines": [{"description", "amount", "kind"}]}]} or a bare list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connector.domain.errors import Problem
from connector.domain.imports import QuarantinedRow, Tally
from connector.domain.invoices import Invoice, InvoiceLine
from connector.domain.money import currency_code, parse_amount
from connector.domain.periods import Period
from connector.sources.records import (
    Record,
    RecordFormat,
    check_field,
    day_value,
    read_record_file,
    required_text,
)

REQUIRED = ("provider", "account", "number", "period", "issue_date", "total", "currency")
LINE_KINDS = ("usage", "tax", "credit", "adjustment", "purchase")


INVOICES = RecordFormat(
    "invoices",
    REQUIRED,
    identity=lambda inv: f"invoice {inv.provider}/{inv.provider_account}/{inv.number}",
    amount_of=lambda inv: (inv.total, inv.currency),
    amount_field="total",
)


def read_invoice_file(
    path: Path, default_entity: str
) -> tuple[list[tuple[str, Invoice]], list[QuarantinedRow], Tally, Problem | None]:
    """Good invoices (each with its location: "row 3", "invoices[0]"), quarantined ones, the tally, or a
    problem that stops the whole file."""

    def parse_one(record: Record, source: str, problems: list[Problem]) -> Invoice | None:
        values = record.values
        lines = (
            _lines(values.get("lines", []), source, record.location, problems) if "lines" in values else ()
        )
        row = {k: values.get(k) for k in (*REQUIRED, "entity")}
        return _invoice(row, source, record.location, default_entity, problems, lines)

    accepted, quarantined, tally, problem = read_record_file(path, INVOICES, parse_one)
    return [(record.location, item) for record, item in accepted], quarantined, tally, problem


def _invoice(
    row: dict[str, Any],
    source: str,
    where: str,
    default_entity: str,
    problems: list[Problem],
    lines: tuple[InvoiceLine, ...],
) -> Invoice | None:
    if not required_text(row, REQUIRED, source, where, problems, fix="give the invoice's {name}"):
        return None
    before = len(problems)
    period = check_field(
        problems,
        source,
        where,
        "period",
        lambda: str(Period.parse(str(row["period"]))),
        "write the billed month as YYYY-MM",
    )
    issued = check_field(
        problems,
        source,
        where,
        "issue_date",
        lambda: day_value(row["issue_date"]),
        "write the issue date as YYYY-MM-DD",
    )
    total = check_field(
        problems,
        source,
        where,
        "total",
        lambda: parse_amount(row["total"]),
        "write the total as a plain number, e.g. 1234.56",
    )
    currency = check_field(
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
        amount = check_field(
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

"""How the console writes numbers, dates and names: as accountants read them.

Amounts: thousands separators and the currency's own decimals (two for USD), negatives in parentheses
and marked (`.neg`), right-aligned in tabular figures by the stylesheet; the currency code is shown
beside a total and in column headings. Times: UTC, to the minute, said so.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from markupsafe import Markup, escape

from connector.domain.chart import LedgerChart, ledger_title
from connector.domain.journals import JournalKind, LedgerTarget
from connector.domain.money import quantize

KIND_LABELS = {
    JournalKind.USAGE_ACCRUAL.value: "Usage accrual",
    JournalKind.RECLASS.value: "Reclass",
}


def amount_text(value: Decimal | None, currency: str = "USD") -> str:
    """1234.5 → "1,234.50"; −1234.5 → "(1,234.50)"; None → "—"."""
    if value is None:
        return "—"
    rounded = quantize(value, currency)
    text = f"{abs(rounded):,}"
    return f"({text})" if rounded < 0 else text


def money(value: Decimal | None, currency: str = "USD", *, code: bool = False) -> Markup:
    """An amount for a table cell: negatives in parentheses, marked for the stylesheet."""
    text = amount_text(value, currency) + (f" {currency}" if code and value is not None else "")
    negative = value is not None and quantize(value, currency) < 0
    label = f' aria-label="minus {escape(amount_text(abs(value), currency))}"' if negative else ""  # type: ignore[arg-type]
    zero = value is not None and quantize(value, currency) == 0
    marks = " neg" if negative else (" zero" if zero else "")
    return Markup(f'<span class="num{marks}"{label}>{escape(text)}</span>')


def debit_credit(value: Decimal, currency: str) -> tuple[Markup, Markup]:
    """A journal line's amount (+ debit, − credit) as its two columns."""
    empty = Markup("")
    return (money(value, currency), empty) if value > 0 else (empty, money(-value, currency))


def when(value: datetime | date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind.replace("_", " ").capitalize())


def account_text(reference: str, chart: LedgerChart | None = None) -> str:
    """An account as "number · name" from the ledger's chart: "6110 · AI R&D". Without a chart (never read
    from the ledger) the mapping's reference alone — the page says why; an account the chart lacks says so."""
    if chart is None:
        return reference
    found = chart.account(reference)
    if found is None:
        return f"{reference} · not in the {ledger_title(chart.ledger)} chart"
    number = found.number or reference
    text = found.name if found.name == number else f"{number} · {found.name}"
    return text if found.active else f"{text} (inactive)"


def target_text(target: str | LedgerTarget, chart: LedgerChart | None = None) -> str:
    """A ledger target (or its key, "6110|class=Engineering") as a person reads it:
    "6110 · AI R&D (Engineering)"."""
    target = LedgerTarget.from_key(target) if isinstance(target, str) else target
    extras = [x for x in (target.class_name, target.department) if x] + [opt for _, opt in target.tracking]
    head = account_text(target.account, chart)
    return f"{head} ({', '.join(extras)})" if extras else head


def short(value: str | None, length: int = 8) -> str:
    return (value or "")[:length]


JOURNAL_KEY = re.compile(r"\bTB-[A-Z]{2}-\d{6}-\w+")


def journal_links(text: str) -> Markup:
    """Text that names journals (a close blocker) with each journal key a link to its page."""
    escaped = str(escape(text))
    return Markup(JOURNAL_KEY.sub(lambda m: f'<a class="mono" href="/journals/{m[0]}">{m[0]}</a>', escaped))


# Where in the console a person takes the step a close blocker's fix names as a command (the fix is written
# for the command line, which the console's users may not have): the first command it names that the
# console offers, and the page that offers it.
CONSOLE_STEPS = (
    ("tokenbooks mappings", "Mappings: add a rule for the spend", "/mappings"),
    ("tokenbooks import invoices", "Import files: the provider's invoice", "/imports"),
    ("tokenbooks approve", "Journals held for approval", "/journals?status=held"),
    ("tokenbooks sync", "Runs: run a sync now", "/runs"),
)


def console_step(fix: str) -> Markup:
    """A close blocker's fix, followed by a link to the console page where the same step is taken."""
    escaped = escape(fix)
    found = next(((label, href) for command, label, href in CONSOLE_STEPS if command in fix), None)
    if found is None:
        return Markup(escaped)
    label, href = found
    return Markup(
        f'{escaped}<br><span class="step">In the console: <a href="{href}">{escape(label)}</a></span>'
    )


def decimal(text: str | Decimal) -> Decimal:
    """Exact decimal text (a tally's amounts as stored) back as a Decimal, to format as money."""
    return Decimal(text)


FILTERS: dict[str, Any] = {
    "money": money,
    "amount_text": amount_text,
    "when": when,
    "kind_label": kind_label,
    "target": target_text,
    "account": account_text,
    "short": short,
    "decimal": decimal,
    "journal_links": journal_links,
    "console_step": console_step,
}

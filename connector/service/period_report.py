"""The period report for auditors and controllers: one self-contained HTML page.

A summary (spend by category, journals, reconciliation status), a chart of daily spend by category drawn
as inline SVG (no script, no network) with labelled axes in the books' currency, and the tables of the
export: reconciliation, journals with their lines, approvals, exceptions, postings, the mapping and policy
versions, runs, and the first rows of the lineage. Every value is escaped; amounts are shown with
thousands separators and two decimals, ratios as percentages and times in UTC to the second.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from html import escape
from typing import Any

from connector.domain.mapping import CATEGORY_LABELS, Category
from connector.domain.money import ZERO
from connector.service.audit_package import PERCENT_COLUMNS, UNIT_COST_COLUMNS, PeriodExport, Table, cell_text

COLOURS = {
    "cogs": "#2563eb",
    "rnd": "#16a34a",
    "sales_marketing": "#f59e0b",
    "g_and_a": "#7c3aed",
    "capitalize": "#0891b2",
    "suspense": "#dc2626",
}
CHART_WIDTH, CHART_HEIGHT, MARGIN, BOTTOM = 780, 270, 78, 46
LINEAGE_ROWS = 1000  # the HTML shows the first rows; the workbook and CSV hold them all

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#111}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;font-size:12px}th,td{border:1px solid #e5e5e5;padding:3px 6px;
text-align:left;vertical-align:top}th{background:#f6f6f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#15803d}.bad{color:#b91c1c}.muted{color:#666}.legend span{display:inline-block;margin-right:1rem}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
"""


def html_report(export: PeriodExport) -> str:
    totals = _category_totals(export.daily_spend)
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>tokenbooks — {escape(export.entity)} {export.period}</title><style>{STYLE}</style></head><body>",
        f"<h1>AI spend in the books — {escape(export.entity)}, {export.period}</h1>",
        "<p class=muted>Produced by tokenbooks from its store: current provider facts as allocated by the "
        "mapping, the journals it posted, and its reconciliation. Times are UTC.</p>",
        _summary(export, totals),
        "<h2>Daily spend by category</h2>",
        daily_spend_svg(export.daily_spend, export.period.days(), export.currency),
        _legend(totals),
    ]
    for name, title in (
        ("reconciliation", "Reconciliation"),
        ("journals", "Journals"),
        ("trial_balance", "Trial balance of the posted journals (tie to the ledger's for the month)"),
        ("journal_lines", "Journal lines"),
        ("approvals", "Approvals"),
        ("exceptions", "Exceptions: suspense, quarantined input rows, alerts"),
        ("postings", "Posting attempts (with ledger ids)"),
        ("mapping_versions", "Mapping versions"),
        ("policy_versions", "Accounting policy versions"),
        ("runs", "Runs"),
    ):
        parts += [f"<h2>{title}</h2>", _html_table(export.tables[name])]
    lineage = export.tables["lineage"]
    shown = Table(lineage.name, lineage.columns, lineage.rows[:LINEAGE_ROWS])
    more = len(lineage.rows) - len(shown.rows)
    parts += [
        "<h2>Lineage: ledger lines → allocations → facts → raw payloads</h2>",
        _html_table(shown),
        f"<p class=muted>{more:,} more rows in the workbook and CSV export.</p>" if more > 0 else "",
    ]
    parts.append("</body></html>")
    return "\n".join(parts)


def _category_totals(daily: dict[date, dict[str, Decimal]]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for by_category in daily.values():
        for category, amount in by_category.items():
            totals[category] += amount
    return dict(
        sorted(totals.items(), key=lambda item: list(COLOURS).index(item[0]) if item[0] in COLOURS else 99)
    )


def _label(category: str) -> str:
    try:
        return CATEGORY_LABELS[Category(category)]
    except ValueError:
        return category


def _summary(export: PeriodExport, totals: dict[str, Decimal]) -> str:
    rows = "".join(
        f"<tr><td>{escape(_label(c))}</td><td class=n>{a:,.2f}</td></tr>" for c, a in totals.items()
    )
    rows += f"<tr><th>Total</th><th class=n>{sum(totals.values(), ZERO):,.2f}</th></tr>"
    journals = export.tables["journals"].records()
    posted = sum(1 for j in journals if j["status"] == "posted")
    statuses = [
        f"<span class={'ok' if r['status'] in ('matched', 'within_tolerance') else 'bad'}>"
        f"{escape(str(r['provider']))}/{escape(str(r['provider_account']))}: {escape(str(r['status']))}</span>"
        for r in export.tables["reconciliation"].records()
    ]
    return (
        f"<h2>Summary</h2><table style='width:auto'><tr><th>Category</th><th>Spend</th></tr>{rows}</table>"
        f"<p>{len(journals)} journal(s), {posted} in the ledger. Reconciliation: "
        f"{', '.join(statuses) or '<span class=muted>not run for this period</span>'}.</p>"
    )


def daily_spend_svg(daily: dict[date, dict[str, Decimal]], days: list[date], currency: str = "USD") -> str:
    """Stacked bars, one per day, one colour per category; the y axis in the books' currency, with
    gridlines and labels, and the x axis the days of the month."""
    peak = _nice_ceiling(max((sum(v.values(), ZERO) for v in daily.values()), default=ZERO))
    plot_w, plot_h = CHART_WIDTH - MARGIN - 10, CHART_HEIGHT - BOTTOM - 10
    base = Decimal(plot_h + 10)
    step = Decimal(plot_w) / len(days)
    shapes = []
    for quarter in range(5):
        value = peak * quarter / 4
        y = base - Decimal(plot_h) * quarter / 4
        shapes.append(
            f'<line x1="{MARGIN}" y1="{y:.1f}" x2="{CHART_WIDTH - 10}" y2="{y:.1f}" '
            f'stroke="{"#999" if quarter == 0 else "#e5e5e5"}"/>'
            f'<text x="{MARGIN - 6}" y="{y + 3:.1f}" text-anchor="end" font-size="10">{value:,.2f}</text>'
        )
    for index, day in enumerate(days):
        x = MARGIN + step * index + step / 10
        top = base
        for category, amount in sorted(daily.get(day, {}).items(), key=lambda item: item[0]):
            height = Decimal(plot_h) * amount / peak
            top -= height
            shapes.append(
                f'<rect x="{x:.1f}" y="{top:.1f}" width="{step * 8 / 10:.1f}" height="{height:.1f}" '
                f'fill="{COLOURS.get(category, "#888")}"><title>{day} {escape(_label(category))}: '
                f"{amount:,.2f} {escape(currency)}</title></rect>"
            )
        if day.day == 1 or day.day % 5 == 0:
            shapes.append(
                f'<text x="{x + step * 4 / 10:.1f}" y="{base + 14}" text-anchor="middle" font-size="10">{day.day}</text>'
            )
    month = days[0].strftime("%B %Y")
    shapes += [
        f'<text x="{MARGIN + plot_w / 2:.0f}" y="{CHART_HEIGHT - 8}" text-anchor="middle" font-size="11">'
        f"Day of {month}</text>",
        f'<text x="14" y="{10 + plot_h / 2:.0f}" text-anchor="middle" font-size="11" '
        f'transform="rotate(-90 14 {10 + plot_h / 2:.0f})">Spend ({escape(currency)})</text>',
    ]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{CHART_HEIGHT}" role="img" '
        f'aria-label="Daily spend by category, {escape(currency)}, {month}">{"".join(shapes)}</svg>'
    )


def _nice_ceiling(value: Decimal) -> Decimal:
    """The axis maximum: the peak rounded up to 1, 2, 2.5 or 5 times a power of ten (never zero)."""
    if value <= 0:
        return Decimal(1)
    power = Decimal(10) ** (len(str(int(value))) - 1)
    for factor in (1, 2, Decimal("2.5"), 5, 10):
        if value <= power * factor:
            return power * factor
    return power * 10


def _legend(totals: dict[str, Decimal]) -> str:
    items = "".join(
        f'<span><i style="background:{COLOURS.get(c, "#888")}"></i>{escape(_label(c))}</span>' for c in totals
    )
    return f"<p class=legend>{items}</p>"


def _html_table(table: Table) -> str:
    if not table.rows:
        return "<p class=muted>None.</p>"
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(_cell(c, v) for c, v in zip(table.columns, row, strict=True)) + "</tr>"
        for row in table.rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(column: str, value: Any) -> str:
    numeric = isinstance(value, Decimal | int) and not isinstance(value, bool)
    return f"<td{' class=n' if numeric else ''}>{escape(shown(column, value))}</td>"


def shown(column: str, value: Any) -> str:
    """A value as the report shows it: money with separators and two decimals, ratios as percentages."""
    if isinstance(value, Decimal):
        if column in PERCENT_COLUMNS:
            return f"{value:.2%}"
        return str(value) if column in UNIT_COST_COLUMNS else f"{value:,.2f}"
    return cell_text(value)

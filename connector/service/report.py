"""The period report for auditors and controllers: one self-contained HTML page.

A summary (spend by category, journals, reconciliation status), a chart of daily spend by category drawn
as inline SVG (no script, no network), and the tables of the export: journals with their lines, postings,
reconciliation, runs. Every value is escaped; amounts are shown exactly as stored.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from html import escape
from typing import Any

from connector.domain.mapping import CATEGORY_LABELS, Category
from connector.domain.money import ZERO
from connector.service.exports import PeriodExport, Table, cell_text

COLOURS = {
    "cogs": "#2563eb",
    "rnd": "#16a34a",
    "sales_marketing": "#f59e0b",
    "g_and_a": "#7c3aed",
    "capitalize": "#0891b2",
    "suspense": "#dc2626",
}
CHART_WIDTH, CHART_HEIGHT, MARGIN = 760, 240, 48

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
        daily_spend_svg(export.daily_spend, export.period.days()),
        _legend(totals),
    ]
    for name, title in (
        ("reconciliation", "Reconciliation"),
        ("journals", "Journals"),
        ("journal_lines", "Journal lines"),
        ("postings", "Posting attempts (with ledger ids)"),
        ("runs", "Runs"),
    ):
        parts += [f"<h2>{title}</h2>", _html_table(export.tables[name])]
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


def daily_spend_svg(daily: dict[date, dict[str, Decimal]], days: list[date]) -> str:
    """Stacked bars, one per day, one colour per category; the y axis in the ledger's currency."""
    peak = max((sum(v.values(), ZERO) for v in daily.values()), default=ZERO) or Decimal(1)
    plot_w, plot_h = CHART_WIDTH - MARGIN - 10, CHART_HEIGHT - 40
    step = Decimal(plot_w) / len(days)
    shapes = [
        f'<line x1="{MARGIN}" y1="{plot_h + 10}" x2="{CHART_WIDTH - 10}" y2="{plot_h + 10}" stroke="#999"/>',
        f'<text x="{MARGIN - 6}" y="14" text-anchor="end" font-size="10">{peak:,.0f}</text>',
        f'<text x="{MARGIN - 6}" y="{plot_h + 10}" text-anchor="end" font-size="10">0</text>',
    ]
    for index, day in enumerate(days):
        x = MARGIN + step * index + step / 10
        top = Decimal(plot_h + 10)
        for category, amount in sorted(daily.get(day, {}).items(), key=lambda item: item[0]):
            height = Decimal(plot_h) * amount / peak
            top -= height
            shapes.append(
                f'<rect x="{x:.1f}" y="{top:.1f}" width="{step * 8 / 10:.1f}" height="{height:.1f}" '
                f'fill="{COLOURS.get(category, "#888")}"><title>{day} {escape(_label(category))}: '
                f"{amount:,.2f}</title></rect>"
            )
        if day.day == 1 or day.day % 5 == 0:
            shapes.append(
                f'<text x="{x + step * 4 / 10:.1f}" y="{plot_h + 24}" text-anchor="middle" font-size="10">{day.day}</text>'
            )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{CHART_HEIGHT}" role="img" '
        f'aria-label="Daily spend by category">{"".join(shapes)}</svg>'
    )


def _legend(totals: dict[str, Decimal]) -> str:
    items = "".join(
        f'<span><i style="background:{COLOURS.get(c, "#888")}"></i>{escape(_label(c))}</span>' for c in totals
    )
    return f"<p class=legend>{items}</p>"


def _html_table(table: Table) -> str:
    if not table.rows:
        return "<p class=muted>None.</p>"
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in table.rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:
    css = " class=n" if isinstance(value, Decimal | int) and not isinstance(value, bool) else ""
    return f"<td{css}>{escape(cell_text(value))}</td>"

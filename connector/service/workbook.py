"""The auditor's workbook: the period export as an xlsx file a reviewer can filter and sort at once.

One sheet per table, each with a bold frozen header, an autofilter over its rows and columns sized to
their content; amounts with thousands separators and two decimals (a column named as unit cost keeps its
digits), ratios as percentages, dates as dates and times as UTC date-times; nested values flattened into
text, never JSON. Amounts stay numbers holding their exact value — the format only shows them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from connector.service.audit_package import PERCENT_COLUMNS, UNIT_COST_COLUMNS, PeriodExport, Table, flat

MONEY = "#,##0.00;-#,##0.00"
UNIT_COST = "#,##0.00########"
PERCENT = "0.00%"
DAY = "yyyy-mm-dd"
MOMENT = "yyyy-mm-dd hh:mm:ss"
MAX_WIDTH, MIN_WIDTH = 60, 8


def write_workbook(export: PeriodExport, path: Path) -> Path:
    book = Workbook()
    if book.active is not None:  # the empty sheet a new workbook opens with
        book.remove(book.active)
    for table in export.tables.values():
        _sheet(book.create_sheet(table.name[:31]), table)
    book.save(path)
    return path


def _sheet(sheet: Any, table: Table) -> None:
    sheet.append(table.columns)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(vertical="top")
    widths = [len(column) for column in table.columns]
    for row in table.rows:
        values = [_value(v) for v in row]
        sheet.append(values)
        for index, (column, value) in enumerate(zip(table.columns, values, strict=True)):
            cell = sheet.cell(row=sheet.max_row, column=index + 1)
            if isinstance(value, str):
                cell.data_type = "s"  # openpyxl makes a string starting with '=' a formula: text stays text
            cell.number_format = _format(column, value) or cell.number_format
            widths[index] = max(widths[index], _shown_width(value))
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = max(MIN_WIDTH, min(MAX_WIDTH, width + 2))
    sheet.freeze_panes = "A2"
    if table.columns:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(table.columns))}{max(1, len(table.rows) + 1)}"


def _value(value: Any) -> Any:
    """A cell's value: numbers stay numbers (Decimal keeps its digits), times lose their zone (all UTC),
    nested values become text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, dict | list | tuple):
        return flat(value)
    return value


def _format(column: str, value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Decimal):
        if column in PERCENT_COLUMNS:
            return PERCENT
        return UNIT_COST if column in UNIT_COST_COLUMNS else MONEY
    if isinstance(value, datetime):
        return MOMENT
    if isinstance(value, date):
        return DAY
    return None


def _shown_width(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, Decimal):
        return len(f"{value:,.2f}")
    if isinstance(value, datetime):
        return 19
    if isinstance(value, date):
        return 10
    return max((len(line) for line in str(value).splitlines()), default=0)

"""Writing the auditors' export (`service/audit_package.py`) as files: CSV (one per table), one JSON
document, an xlsx workbook (`service/workbook.py`) or an HTML report (`service/period_report.py`)."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from connector.service.audit_package import PeriodExport, Table, cell_text, spreadsheet_text
from connector.service.period_report import html_report

FORMATS = ("csv", "json", "xlsx", "html")


def write_export(export: PeriodExport, fmt: str, out: Path) -> list[Path]:
    """Write the export in `fmt` into the folder `out`; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    stem = f"tokenbooks-audit-{export.entity}-{export.period}"
    if fmt == "csv":
        return [_write_csv(table, out / f"{stem}-{table.name}.csv") for table in export.tables.values()]
    if fmt == "json":
        return [_write_json(export, out / f"{stem}.json")]
    if fmt == "xlsx":
        from connector.service.workbook import write_workbook  # here: openpyxl only for a workbook

        return [write_workbook(export, out / f"{stem}.xlsx")]
    if fmt == "html":
        path = out / f"{stem}.html"
        path.write_text(html_report(export), encoding="utf-8")
        return [path]
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _write_csv(table: Table, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(table.columns)
        writer.writerows([spreadsheet_text(v) for v in row] for row in table.rows)
    return path


def _write_json(export: PeriodExport, path: Path) -> Path:
    document = {
        "entity": export.entity,
        "period": str(export.period),
        "currency": export.currency,
        **{
            name: [{k: _json_value(v) for k, v in r.items()} for r in t.records()]
            for name, t in export.tables.items()
        },
    }
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def _json_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value if isinstance(value, int | bool | str) or value is None else cell_text(value)

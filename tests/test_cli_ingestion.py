"""The ingestion commands, end to end through the CLI: JSON output, tallies, exit codes, status."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from tests.sources.builders import focus_csv, focus_row
from tests.support import MINIMAL_MAPPING

runner = CliRunner()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mapping.yaml").write_text(MINIMAL_MAPPING)
    monkeypatch.setenv("TOKENBOOKS_MAPPING_FILE", str(tmp_path / "mapping.yaml"))
    monkeypatch.setenv("TOKENBOOKS_DATABASE_URL", f"sqlite:///{tmp_path / 'tb.db'}")
    monkeypatch.setenv("TOKENBOOKS_INVOICES_DIR", str(tmp_path / "inbox"))
    return tmp_path


def run(*args: str):
    result = runner.invoke(app, list(args))
    return result, (json.loads(result.stdout) if "--json" in args and result.stdout.strip() else None)


def test_import_focus_reports_the_tally_and_quarantined_rows_as_json(workdir: Path):
    path = focus_csv(workdir / "export.csv", [focus_row("1.00"), focus_row("$2.00", hour=1)])
    result, report = run("import", "focus", str(path), "--json")
    assert result.exit_code == 3, result.output  # partial: a scheduled job notices
    assert (report["status"], report["exit_code"]) == ("partial", 3)
    assert report["balanced"] is True
    assert report["tally"]["rows"] == {"input": 2, "accepted": 1, "quarantined": 1, "skipped": 0}
    [bad] = report["quarantined"]
    assert (bad["location"], bad["field"]) == ("row 3", "BilledCost")
    _status, rows = run("sources", "status", "--json")
    assert [r["source"] for r in rows] == ["focus:123456789012"]
    assert (rows[0]["first_day"], rows[0]["bookmark"]) == ("2026-10-01", "2026-10-01")  # the file's days


def test_a_focus_file_missing_a_column_fails_with_the_fix(workdir: Path):
    path = focus_csv(workdir / "export.csv", [focus_row("1.00")], columns=["BilledCost", "ChargeCategory"])
    result, report = run("import", "focus", str(path), "--json")
    assert result.exit_code == 1
    assert "nothing from it was stored" in report["error"]
    assert "ChargePeriodStart" in report["problems"][0]


def test_credits_add_defaults_openai_expiry_and_lists_lots(workdir: Path):
    result, added = run(
        "credits", "add", "--provider", "openai", "--amount", "1000.00", "--purchased", "2026-01-15", "--json"
    )
    assert result.exit_code == 0, result.output
    assert added["expires_on"] == "2027-01-15"
    _, lots = run("credits", "list", "--json")
    assert [(lot["lot_id"], lot["amount"]) for lot in lots] == [(added["lot_id"], "1000.00")]
    result, _ = run("credits", "add", "--provider", "openai", "--amount", "-5", "--purchased", "2026-01-15")
    assert result.exit_code == 2


def test_pull_without_sources_reads_the_invoice_inbox(workdir: Path):
    inbox = workdir / "inbox"
    inbox.mkdir()
    (inbox / "inv.csv").write_text(
        "provider,account,number,period,issue_date,total,currency\nopenai,o,I-1,2026-10,2026-11-03,5.00,USD\n"
    )
    result, pulled = run("pull", "--json")
    assert result.exit_code == 0, result.output
    assert pulled["status"] == "succeeded"
    assert pulled["pulls"] == []
    assert pulled["invoices"]["imported"][0]["stored"] == {"invoices_new": 1, "invoices_replaced": 0}


def test_sources_status_of_one_entity_leaves_out_the_sources_of_another(workdir: Path):
    """A group: acme-us imports its own AWS account, acme-ca another. Each entity's `sources status` (an
    auditor's view of where that company's books come from) lists its own source, never the other's."""
    two = MINIMAL_MAPPING.replace(
        "  acme-us: {ledger: quickbooks, currency: USD, timezone: America/New_York}\n",
        "  acme-us: {ledger: quickbooks, currency: USD, timezone: America/New_York}\n"
        "  acme-ca: {ledger: quickbooks, currency: USD, timezone: America/Toronto}\n",
    )
    (workdir / "mapping.yaml").write_text(two)
    us = focus_csv(workdir / "us.csv", [focus_row("1.00", account="111111111111")])
    ca = focus_csv(workdir / "ca.csv", [focus_row("2.00", account="222222222222")])
    assert run("import", "focus", str(us), "--entity", "acme-us")[0].exit_code == 0
    assert run("import", "focus", str(ca), "--entity", "acme-ca")[0].exit_code == 0
    _status, rows = run("sources", "status", "--entity", "acme-us", "--json")
    assert [r["source"] for r in rows] == ["focus:111111111111"]
    _status, rows = run("sources", "status", "--entity", "acme-ca", "--json")
    assert [r["source"] for r in rows] == ["focus:222222222222"]

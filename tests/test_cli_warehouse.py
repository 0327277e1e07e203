"""Warehouse sources at the command line, in a child process: a bad section is a plain error naming the
variable (no traceback), a bad key fails the pull with the fix and without the secret, and `sources
status` lists the warehouse source like the API sources."""

from __future__ import annotations

import json
from pathlib import Path

from tests.service.test_beancount import BEANCOUNT_MAPPING
from tests.test_cli_bad_input import Cli

KEY = '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nnot-a-key-s3cret\\n"}'
BIGQUERY = {
    "WAREHOUSE__VERTEX__ENGINE": "bigquery",
    "WAREHOUSE__VERTEX__TABLE": "billing-proj.billing.focus",
    "WAREHOUSE__VERTEX__ACCOUNT": "01-AB",
    "WAREHOUSE__VERTEX__PROJECT": "billing-proj",
}

# a section that cannot be built: Google's standard export is read on BigQuery (or DuckDB), not Athena
GCP_ON_ATHENA = {
    "WAREHOUSE__GCP__ENGINE": "athena",
    "WAREHOUSE__GCP__TABLE": "billing.gcp_export",
    "WAREHOUSE__GCP__ACCOUNT": "01-AB",
    "WAREHOUSE__GCP__REGION": "eu-west-1",
    "WAREHOUSE__GCP__FLAVOUR": "gcp-standard",
}


def duckdb_section(tmp_path: Path, rows: list[dict], **more: str) -> dict[str, str]:
    """A `TOKENBOOKS_WAREHOUSE__BILLING__…` section over a DuckDB file holding `rows`, read by lag days."""
    from tests.sources.warehouse_support import ACCOUNT, TABLE, warehouse_table

    database = tmp_path / "exports.duckdb"
    warehouse_table(rows, tmp_path, str(database)).close()
    return {
        "WAREHOUSE__BILLING__ENGINE": "duckdb",
        "WAREHOUSE__BILLING__TABLE": TABLE,
        "WAREHOUSE__BILLING__ACCOUNT": ACCOUNT,
        "WAREHOUSE__BILLING__DATABASE": str(database),
        "WAREHOUSE__BILLING__RESTATES": "lag_days",
        **{f"WAREHOUSE__BILLING__{k}": v for k, v in more.items()},
    }


def test_a_section_without_its_table_is_a_plain_error(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    out = cli.run("pull", WAREHOUSE__VERTEX__ENGINE="bigquery", WAREHOUSE__VERTEX__ACCOUNT="01-AB")
    assert out.code != 0
    assert "Traceback" not in out.stderr + out.stdout
    assert "TOKENBOOKS_WAREHOUSE__VERTEX__TABLE" in out.stderr


def test_a_bad_key_fails_the_pull_with_the_fix_and_without_the_secret(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    out = cli.run(
        "pull",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-02",
        **BIGQUERY,
        WAREHOUSE__VERTEX__CREDENTIALS_JSON=KEY,
    )
    assert out.code != 0
    assert "Traceback" not in out.stderr + out.stdout
    assert "warehouse" in out.said
    assert "TOKENBOOKS_WAREHOUSE__VERTEX__CREDENTIALS_JSON" in out.said
    assert "s3cret" not in out.stderr + out.stdout
    [(kind, status, reason)] = cli.runs()
    assert (kind, status) == ("pull", "failed")
    assert "not a service account key" in reason
    assert "s3cret" not in reason

    listed = cli.run("sources", "status", **BIGQUERY)
    assert listed.code == 0, listed.stderr
    assert "warehouse.vertex:01-AB" in listed.stdout


def test_a_pull_that_refused_a_day_exits_3_naming_the_row_the_day_and_the_fix(tmp_path: Path) -> None:
    """As a scheduler and a person see it: the pull stored the other day, exits 3 (partial), says on stderr
    which row of which day was refused and what to do, and `sources status` lists the refused day."""
    from datetime import date

    from tests.sources.builders import focus_row

    rows = [
        focus_row("1.25", day=date(2026, 11, 2)),
        focus_row("2.50", day=date(2026, 11, 3)),
        focus_row("1", day=date(2026, 11, 3), hour=6, BillingCurrency="usd?"),
    ]
    section = duckdb_section(tmp_path, rows)
    cli = Cli(tmp_path)
    out = cli.run("pull", "--since", "2026-11-02", "--until", "2026-11-03", **section)
    assert out.code == 3, out
    assert "Traceback" not in out.stderr + out.stdout
    assert "warehouse.billing: 1 day(s) refused" in out.said
    assert "BillingCurrency" in out.said
    assert "charged 2026-11-03" in out.said
    assert "correct the rows in the warehouse table" in out.said
    [(kind, status, reason)] = cli.runs()
    assert (kind, status) == ("pull", "partial")
    assert "2026-11-03" in (reason or "")

    again = cli.run("pull", "--since", "2026-11-02", "--until", "2026-11-03", "--json", **section)
    assert again.code == 3, again
    [pulled] = json.loads(again.stdout)["pulls"]
    assert pulled["refused_days"] == ["2026-11-03"]
    [problem] = pulled["refused"]
    assert (problem["field"], problem["days"]) == ("BillingCurrency", ["2026-11-03"])

    status = cli.run("sources", "status", "--json", **section)
    assert status.code == 0, status.stderr
    [listed] = json.loads(status.stdout)
    assert (listed["bookmark"], listed["refused_days"]) == ("2026-11-02", ["2026-11-03"])
    assert listed["read_through"] == "2026-11-03"  # the pull read the 3rd: the source is that fresh
    shown = cli.run("sources", "status", **section)
    assert "read through" in shown.stdout
    assert "2026-11-03" in shown.stdout


def test_a_first_pull_starts_on_start_date_and_the_lag_never_reads_before_it(tmp_path: Path) -> None:
    """A company books October by hand and sets START_DATE to November 2nd. The export holds October 31st
    and November 1st too. The first night reads from the 2nd (not three lag days earlier, which would book
    spend into a month closed by hand); the next night reads the lag days again, down to the 2nd and no
    further; `--since` is the first day pulled, as its help says."""
    from datetime import date

    from tests.sources.builders import focus_row

    days = [date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)]
    rows = [focus_row("1.25", day=d) for d in days]
    section = duckdb_section(tmp_path, rows, LAG_DAYS="3", START_DATE="2026-11-02")
    cli = Cli(tmp_path)

    def pulled(*args: str) -> dict:
        out = cli.run("pull", *args, "--json", **section)
        assert out.code == 0, out
        [pull] = json.loads(out.stdout)["pulls"]
        return pull

    first = pulled("--until", "2026-11-03")
    assert (first["first_day"], first["last_day"], first["facts"]) == ("2026-11-02", "2026-11-03", 2)
    second = pulled("--until", "2026-11-04")  # the bookmark is on the 3rd: the lag reaches the 2nd only
    assert (second["first_day"], second["facts"], second["inserted"]) == ("2026-11-02", 3, 1)
    asked = pulled("--since", "2026-11-03", "--until", "2026-11-04")
    assert (asked["first_day"], asked["facts"]) == ("2026-11-03", 2)
    status = cli.run("sources", "status", "--json", **section)
    [listed] = json.loads(status.stdout)
    assert (listed["first_day"], listed["bookmark"]) == ("2026-11-02", "2026-11-04")  # its history, kept
    shown = cli.run("sources", "status", **section)
    assert "2026-11-02" in shown.stdout


def test_sources_status_lists_a_section_it_cannot_build_with_why_and_the_fix_and_the_others(
    tmp_path: Path,
) -> None:
    """A GCP standard export set on Athena cannot be built: the listing names that section, what is
    wrong and the fix, still lists the good section and the stored ones, and exits 2 (configuration)."""
    gcp = GCP_ON_ATHENA
    section = duckdb_section(tmp_path, [])
    cli = Cli(tmp_path)
    cli.seed()  # a FOCUS import: a stored bookmark beside the configured sources

    shown = cli.run("sources", "status", **section, **gcp)
    assert shown.code == 2, shown
    assert "Traceback" not in shown.stderr + shown.stdout
    assert "warehouse.billing:" in shown.stdout
    assert "focus:" in shown.stdout
    assert "warehouse.gcp:01-AB" in shown.stdout
    assert (
        "settings TOKENBOOKS_WAREHOUSE__GCP__… refused: warehouse.gcp: the gcp-standard flavour"
        in shown.stderr
    )
    assert "Fix: set TOKENBOOKS_WAREHOUSE__GCP__ENGINE=bigquery" in shown.stderr

    listed = cli.run("sources", "status", "--json", **section, **gcp)
    assert listed.code == 2, listed
    rows = {row["source"]: row for row in json.loads(listed.stdout)}
    assert rows["warehouse.gcp:01-AB"]["configured"] is True
    refused = rows["warehouse.gcp:01-AB"]["settings_error"]
    assert refused["section"] == "TOKENBOOKS_WAREHOUSE__GCP__"
    assert "gcp-standard flavour is read on BigQuery" in refused["error"]
    assert refused["fix"].startswith("set TOKENBOOKS_WAREHOUSE__GCP__ENGINE=bigquery")
    good = [row for source, row in rows.items() if source.startswith("warehouse.billing:")]
    assert [row["settings_error"] for row in good] == [None]
    assert any(source.startswith("focus:") for source in rows)

    # a pull pulls the good section, and fails the refused one as it fails a source that failed: partial (3)
    pulled = cli.run("pull", "--since", "2026-11-01", "--until", "2026-11-02", **section, **gcp)
    assert pulled.code == 3, pulled
    assert "Traceback" not in pulled.stderr + pulled.stdout
    assert "warehouse.billing 2026-11-01..2026-11-02" in pulled.stdout
    assert "warehouse.gcp:01-AB failed" in pulled.said
    assert "TOKENBOOKS_WAREHOUSE__GCP__ENGINE=bigquery" in pulled.said
    kind, status, reason = cli.runs()[-1]
    assert (kind, status) == ("pull", "partial")
    assert "warehouse.gcp:01-AB: warehouse.gcp: the gcp-standard flavour" in reason


def test_a_duckdb_section_whose_memory_limit_duckdb_refuses_names_its_own_variable(tmp_path: Path) -> None:
    """The fix names the variable the user set (TOKENBOOKS_WAREHOUSE__BILLING__MEMORY_LIMIT), not a
    pattern (`…__<NAME>__…`) to translate; the run is recorded failed with the reason."""
    cli = Cli(tmp_path)
    section = duckdb_section(tmp_path, [], MEMORY_LIMIT="lots")
    out = cli.run("pull", "--since", "2026-11-01", "--until", "2026-11-02", **section)
    assert out.code != 0
    assert "Traceback" not in out.stderr + out.stdout
    assert "TOKENBOOKS_WAREHOUSE__BILLING__MEMORY_LIMIT" in out.said
    assert "<NAME>" not in out.said
    [(kind, status, reason)] = cli.runs()
    assert (kind, status) == ("pull", "failed")
    assert "limits" in reason


def test_a_close_with_a_section_it_cannot_build_stops_before_posting_and_names_the_blocker(
    tmp_path: Path,
) -> None:
    """Month-end with the GCP section set on Athena: the close neither syncs the good section nor posts
    anything (the month's books would lack GCP's spend), exits 2, says why and the fix, records the run
    failed with that reason, and its checklist (words and --json) lists the source as blocking sign-off;
    reconciling the month names the source missing instead of reconciling without it."""
    from datetime import date

    from tests.sources.builders import focus_row

    gcp = GCP_ON_ATHENA
    section = duckdb_section(tmp_path, [focus_row("1.25", day=date(2026, 10, 2))])
    cli = Cli(tmp_path)
    cli.seed()  # a FOCUS import and an October invoice: the books as they stand
    before = cli.data()

    closed = cli.run("close", "--period", "2026-10", **section, **gcp)
    assert closed.code == 2, closed  # a configuration error: fix the settings
    assert "Traceback" not in closed.stderr + closed.stdout
    said = closed.said
    assert (
        "Close failed: 2026-10 not closed: the settings of warehouse.gcp:01-AB (TOKENBOOKS_WAREHOUSE__GCP__…) "
        "are refused (warehouse.gcp: the gcp-standard flavour is read on BigQuery" in said
    )
    assert "Nothing was synced, posted or reconciled: the month's books would lack that spend." in said
    assert "Not ready to sign off — 1 item(s):" in said
    assert (
        "1. warehouse.gcp:01-AB is not pulled: its settings TOKENBOOKS_WAREHOUSE__GCP__… are refused, so its "
        "spend of 2026-10 may be missing from the books and from the reconciliation" in said
    )
    assert "Fix: set TOKENBOOKS_WAREHOUSE__GCP__ENGINE=bigquery for the standard export" in said
    assert "failed — not ready (1 item(s))" in said
    assert cli.data() == before  # nothing pulled (not even the good section), booked or posted
    [(kind, status, reason)] = cli.runs()[-1:]
    assert (kind, status) == ("close", "failed")
    assert reason is not None
    assert reason.startswith("2026-10 not closed: the settings of warehouse.gcp:01-AB")
    assert "Fix: set TOKENBOOKS_WAREHOUSE__GCP__ENGINE=bigquery" in reason
    assert [k for k, _, _ in cli.runs()].count("sync") == 0  # stopped before the sync, not inside it

    listed = cli.run("close", "--period", "2026-10", "--json", **section, **gcp)
    assert listed.code == 2, listed
    body = json.loads(listed.stdout)
    assert (body["status"], body["ready"], body["posted"], body["sync_run_id"]) == ("failed", False, [], None)
    [refused] = body["misconfigured_sources"]
    assert (refused["source"], refused["section"]) == ("warehouse.gcp:01-AB", "TOKENBOOKS_WAREHOUSE__GCP__")
    assert "gcp-standard flavour" in refused["error"]
    [blocker] = body["blockers"]
    assert blocker["what"].startswith("warehouse.gcp:01-AB is not pulled")
    assert blocker["fix"].endswith("`tokenbooks close --period 2026-10`")
    [invoiced] = body["accruals"]  # the checklist of what the store holds: the seeded invoice
    assert (invoiced["provider"], invoiced["invoiced"]) == ("openai", "5.00")

    reconciled = cli.run("reconcile", "--period", "2026-10", "--offline", **section, **gcp)
    assert reconciled.code == 2, reconciled
    assert "Traceback" not in reconciled.stderr
    assert "2026-10 is not reconciled: the spend of warehouse.gcp:01-AB is missing" in reconciled.said
    assert cli.runs()[-1][:2] == ("reconcile", "failed")


def test_invoices_are_imported_beside_a_section_it_cannot_build(tmp_path: Path) -> None:
    """With the GCP section set on Athena, `import invoices` imports the file as usual: the AWS invoice, and
    the invoice for the refused section's account (matched by its bookmark's account), said with the
    section, why and the fix, in the output, `--json` and the run's reason; exit 0, no traceback. The
    pull's inbox imports beside the refused section too."""
    cli = Cli(tmp_path)
    cli.seed()  # FOCUS facts of AWS account 123456789012
    section = duckdb_section(tmp_path, [])
    invoices = cli.file(
        "invoices.csv",
        "provider,account,number,period,issue_date,total,currency\n"
        "aws,123456789012,A-1,2026-10,2026-11-03,1.00,USD\n"
        "gcp,01-AB,G-1,2026-10,2026-11-03,9.00,USD\n",
    )

    out = cli.run("import", "invoices", str(invoices), **section, **GCP_ON_ATHENA)
    assert out.code == 0, out
    assert "Traceback" not in out.stderr + out.stdout
    said = out.said
    assert "invoices new 2" in said
    assert (
        "invoice G-1 is for warehouse.gcp:01-AB, whose settings TOKENBOOKS_WAREHOUSE__GCP__… are refused "
        "(warehouse.gcp: the gcp-standard flavour" in said
    )
    assert "its month is not reconciled until they are fixed and it is pulled" in said
    assert "Fix: set TOKENBOOKS_WAREHOUSE__GCP__ENGINE=bigquery" in said
    kind, status, reason = cli.runs()[-1]
    assert (kind, status) == ("import.invoices", "succeeded")
    assert reason is not None
    assert "invoice G-1 is for warehouse.gcp:01-AB" in reason

    listed = cli.run("import", "invoices", "--json", str(invoices), **section, **GCP_ON_ATHENA)
    assert listed.code == 0, listed
    body = json.loads(listed.stdout)
    assert (body["status"], body["stored"]["invoices_replaced"], body["quarantined"]) == ("succeeded", 2, [])
    [warning] = body["warnings"]
    assert warning.startswith("invoice G-1 is for warehouse.gcp:01-AB")

    # the inbox a pull imports: the refused section fails the pull (partial), the invoice is imported
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "november.csv").write_text(
        "provider,account,number,period,issue_date,total,currency\ngcp,01-AB,G-2,2026-11,2026-12-03,4.00,USD\n"
    )
    pulled = cli.run("pull", "--since", "2026-11-01", "--until", "2026-11-02", **section, **GCP_ON_ATHENA)
    assert pulled.code == 3, pulled
    assert "Traceback" not in pulled.stderr + pulled.stdout
    assert [(k, s) for k, s, _ in cli.runs()[-2:]] == [("pull", "partial"), ("import.invoices", "succeeded")]


def test_a_close_whose_sync_fails_says_one_fix(tmp_path: Path) -> None:
    """The close's sync fails for a reason of its own (no QuickBooks app credentials): the close says the
    sync's failure and one fix — the sync's, then the close again, with where the sync's run is — in
    `--json` and in the close run's reason; not the sync's fix followed by a second `Fix:`. On the terminal
    the sync's outcome is printed with its run just above, so the close's line points at it instead of
    saying it a second time."""
    from datetime import date

    from tests.sources.builders import focus_row

    section = duckdb_section(tmp_path, [focus_row("1.25", day=date(2026, 10, 2))])
    cli = Cli(tmp_path)
    cli.seed()

    closed = cli.run("close", "--period", "2026-10", **section)
    assert closed.code == 2, closed  # the sync's configuration error
    assert "Traceback" not in closed.stderr + closed.stdout
    said = " ".join(closed.stdout.split())
    sync_run = cli.runs()[-1]
    assert sync_run[:2] == ("sync", "failed")
    assert said.count("QuickBooks app credentials are not set") == 1, said
    assert said.count("Fix:") == 1, said
    assert (
        ": failed — QuickBooks app credentials are not set Fix: set TOKENBOOKS_QUICKBOOKS__CLIENT_ID" in said
    )
    assert said.endswith(
        "Close failed: the sync above failed; fix it, then run `tokenbooks close --period 2026-10` again"
    ), said
    [(kind, status, reason)] = [run for run in cli.runs() if run[0] == "close"]
    assert (kind, status) == ("close", "failed")
    assert reason is not None
    assert reason.count("Fix:") == 1, reason

    listed = cli.run("close", "--period", "2026-10", "--json", **section)
    assert listed.code == 2, listed
    body = json.loads(listed.stdout)
    assert body["status"] == "failed"
    assert body["reason"].startswith("the sync of 2026-10 failed: QuickBooks app credentials are not set")
    assert body["reason"].count("Fix:") == 1, body["reason"]
    assert "`tokenbooks runs`" in body["reason"]


def test_sources_status_in_80_columns_shows_each_source_whole(tmp_path: Path) -> None:
    """A FinOps engineer with a BigQuery and an Athena section reads `sources status` in an 80-column
    terminal (or a cron mail): the table cut both names to `warehouse…`, two rows alike. Each source's
    name is shown whole (folded onto a second line when it must be), never cut."""
    from tests.sources.warehouse_support import ACCOUNT

    section = duckdb_section(tmp_path, [])
    other = {k.replace("__BILLING__", "__BEDROCK_CUR__"): v for k, v in section.items()}
    cli = Cli(tmp_path)
    assert cli.run("db", "upgrade").code == 0
    cli.env["COLUMNS"] = "80"
    shown = cli.run("sources", "status", **section, **other)
    assert shown.code == 0, shown
    assert "…" not in shown.stdout
    first_cells = [line.split("│")[1].strip() for line in shown.stdout.splitlines() if line.startswith("│")]
    assert "".join(first_cells) == f"warehouse.bedrock_cur:{ACCOUNT}warehouse.billing:{ACCOUNT}"


def test_the_close_in_80_columns_shows_each_provider_account_whole(tmp_path: Path) -> None:
    """The month-end checklist's table of accrued costs per provider account, read in an 80-column
    terminal: it cut the Bedrock payer account to `123456…` (and a GCP billing account to `0A1B2C…`), so
    the accountant could not say which account a row was. The provider and account are shown whole."""
    from tests.sources.warehouse_support import ACCOUNT

    section = duckdb_section(tmp_path, [])
    cli = Cli(tmp_path)
    cli.seed()
    invoice = cli.file(
        "bedrock-invoice.csv",
        "provider,account,number,period,issue_date,total,currency\n"
        f"aws,{ACCOUNT},EUINUS26-10,2026-10,2026-11-02,705.24,USD\n",
    )
    assert cli.run("import", "invoices", str(invoice), **section).code == 0
    cli.env["COLUMNS"] = "80"
    closed = cli.run("close", "--period", "2026-10", **section, **GCP_ON_ATHENA)
    assert "Traceback" not in closed.stderr + closed.stdout
    table = closed.stdout.split("Accrued AI costs per provider account")[1].split("└")[0]
    rows = [
        [cell.strip() for cell in line.split("│")[1:3]] for line in table.splitlines() if line.startswith("│")
    ]
    providers = "".join(provider for provider, _ in rows)
    accounts = "".join(account for _, account in rows)
    assert (providers, accounts) == ("awsopenai", f"{ACCOUNT}org-1"), table


# the plain-text books of tests/service/test_beancount.py, their one rule placing the Bedrock spend
BEDROCK_BEANCOUNT = (
    BEANCOUNT_MAPPING.split("rules:")[0]
    + """rules:
  - id: bedrock
    when: {service: Amazon Bedrock}
    category: cogs
    beancount: {account: "Expenses:AI:COGS:Bedrock"}
"""
)

BEDROCK_POLICIES = """\
policy_version: 1
effective_from: 2026-01-01
change_note: Bedrock billed in arrears, invoices within 25.00 of the accruals trued up
defaults:
  invoice_tolerance: {absolute: 25.00}
entities:
  acme-us:
    accounts:
      - {provider: aws, account: "123456789012", billing: arrears}
"""


def test_a_close_names_the_last_day_of_the_month_the_warehouse_never_delivered(tmp_path: Path) -> None:
    """Month-end on a Bedrock export: 30 November's rows have not landed; the invoice's total is the
    month's, so its true-up (10.00, within tolerance) would hide the day. The close says which day of which
    account holds no cost and the pull that reads it, and is not ready; once the rows land and the pull
    reads them, the close is ready."""
    from datetime import date, timedelta

    from tests.sources.builders import focus_row

    november = [date(2026, 11, 1) + timedelta(days=n) for n in range(30)]
    section = duckdb_section(tmp_path, [focus_row("10.00", day=day) for day in november[:-1]], PROVIDER="aws")
    cli = Cli(tmp_path)
    (tmp_path / "mapping.yaml").write_text(BEDROCK_BEANCOUNT)
    (tmp_path / "policies.yaml").write_text(BEDROCK_POLICIES)
    cli.env["TOKENBOOKS_POLICIES_FILE"] = str(tmp_path / "policies.yaml")
    invoice = cli.file(
        "aws-11.csv",
        "provider,account,number,period,issue_date,total,currency\n"
        "aws,123456789012,EUINUS26-11,2026-11,2026-12-02,300.00,USD\n",
    )
    assert cli.run("import", "invoices", str(invoice)).code == 0

    closed = cli.run("close", "--period", "2026-11", **section)
    assert "Traceback" not in closed.stderr + closed.stdout
    said = closed.said
    assert "Reconciliation aws 123456789012: matched" in said  # the true-up absorbed the day
    assert "Not ready to sign off — 1 item(s):" in said
    assert (
        "1. aws 123456789012: no cost for 2026-11-30 — the provider may deliver it late (it has cost on "
        "every Monday of the weeks before), so 2026-11's books may lack it" in said
    )
    assert (
        "Fix: tokenbooks pull --provider aws --since 2026-11-30 (reads the day again), then "
        "`tokenbooks close --period 2026-11`" in said
    )
    listed = json.loads(cli.run("close", "--period", "2026-11", "--json", **section).stdout)
    assert listed["ready"] is False
    assert listed["missing_days"] == [
        {"provider": "aws", "provider_account": "123456789012", "day": "2026-11-30", "pulled_by": "aws"}
    ]

    (tmp_path / "exports.duckdb").unlink()  # the export as it stands on 7 December: the 30th landed
    section = duckdb_section(tmp_path, [focus_row("10.00", day=day) for day in november], PROVIDER="aws")
    pulled = cli.run("pull", "--provider", "aws", "--since", "2026-11-30", **section)
    assert pulled.code == 0, pulled
    again = cli.run("close", "--period", "2026-11", **section)
    assert again.code == 0, again
    assert "no cost for" not in again.said
    assert "ready to sign off" in again.said

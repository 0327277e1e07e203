"""Warehouse sources at the command line, in a child process: a bad section is a plain error naming the
variable (no traceback), a bad key fails the pull with the fix and without the secret, and `sources
status` lists the warehouse source like the API sources."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli_bad_input import Cli

KEY = '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nnot-a-key-s3cret\\n"}'
BIGQUERY = {
    "WAREHOUSE__VERTEX__ENGINE": "bigquery",
    "WAREHOUSE__VERTEX__TABLE": "billing-proj.billing.focus",
    "WAREHOUSE__VERTEX__ACCOUNT": "01-AB",
    "WAREHOUSE__VERTEX__PROJECT": "billing-proj",
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
    from tests.sources.warehouse_support import ACCOUNT, TABLE, warehouse_table

    database = tmp_path / "exports.duckdb"
    rows = [
        focus_row("1.25", day=date(2026, 11, 2)),
        focus_row("2.50", day=date(2026, 11, 3)),
        focus_row("1", day=date(2026, 11, 3), hour=6, BillingCurrency="usd?"),
    ]
    warehouse_table(rows, tmp_path, str(database)).close()
    section = {
        "WAREHOUSE__BILLING__ENGINE": "duckdb",
        "WAREHOUSE__BILLING__TABLE": TABLE,
        "WAREHOUSE__BILLING__ACCOUNT": ACCOUNT,
        "WAREHOUSE__BILLING__DATABASE": str(database),
        "WAREHOUSE__BILLING__RESTATES": "lag_days",
    }
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

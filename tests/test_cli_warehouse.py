"""Warehouse sources at the command line, in a child process: a bad section is a plain error naming the
variable (no traceback), a bad key fails the pull with the fix and without the secret, and `sources
status` lists the warehouse source like the API sources."""

from __future__ import annotations

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

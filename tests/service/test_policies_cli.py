"""`tokenbooks policies …` and `tokenbooks close` on the command line, wired for real (a beancount ledger
needs no credentials): plain words or --json, file:line problems, exit codes."""

import json
from pathlib import Path

from typer.testing import CliRunner

from connector.cli import app as cli
from connector.domain.policy_schema import policy_schema
from tests.service.books_world import policies
from tests.service.test_beancount import BEANCOUNT_MAPPING

runner = CliRunner()
MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
ROLES = """\
  prepaid_ai_credits: {beancount: "Assets:Prepaid:AI"}
  loss_on_expired_credits: {beancount: "Expenses:AI:Expired"}
  deferred_revenue: {beancount: "Liabilities:Deferred:Credits"}
  ai_usage_revenue: {beancount: "Income:AI:Usage"}
  breakage_revenue: {beancount: "Income:AI:Breakage"}
"""


def env(tmp_path: Path, policies_text: str) -> dict[str, str]:
    (tmp_path / "mapping.yaml").write_text(BEANCOUNT_MAPPING.replace("rules:\n", ROLES + "rules:\n"))
    (tmp_path / "policies.yaml").write_text(policies_text)
    return {
        "TOKENBOOKS_DATABASE_URL": f"sqlite:///{tmp_path / 'tb.db'}",
        "TOKENBOOKS_MAPPING_FILE": str(tmp_path / "mapping.yaml"),
        "TOKENBOOKS_POLICIES_FILE": str(tmp_path / "policies.yaml"),
        "TOKENBOOKS_DATA_DIR": str(tmp_path),
        "TOKENBOOKS_ENTITY": "acme-us",
    }


def words(output: str) -> str:
    return " ".join(output.split())


def test_check_accepts_the_example_and_reports_a_broken_file_with_file_line_and_exit_2(tmp_path):
    ok = runner.invoke(
        cli, ["policies", "check", "--file", str(MAPPINGS / "policies.yaml")], env=env(tmp_path, policies())
    )
    assert ok.exit_code == 0, ok.output
    assert "version 1 (effective 2026-01-01)" in words(ok.output)
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        policies().replace(
            "invoice_tolerance: {absolute: 25.00}", "invoice_tolerance: {absolute: 25.00}\n  billing: later"
        )
    )
    bad = runner.invoke(
        cli, ["policies", "check", "--file", str(broken), "--json"], env=env(tmp_path, policies())
    )
    assert bad.exit_code == 2
    [problem] = json.loads(bad.stdout)["problems"]
    assert (problem["location"], problem["field"]) == ("6", "defaults.billing")
    assert problem["fix"] == "write one of: arrears, prepaid"


def test_check_says_which_mapping_role_a_prepaid_policy_needs(tmp_path):
    environment = env(tmp_path, policies("billing: prepaid"))
    (tmp_path / "mapping.yaml").write_text(BEANCOUNT_MAPPING)  # no prepaid roles
    result = runner.invoke(cli, ["policies", "check"], env=environment)
    assert result.exit_code == 2
    assert "needs the loss_on_expired_credits role, unbound for beancount" in words(result.output)


def test_check_warns_of_an_account_entry_naming_an_account_no_source_reads(tmp_path):
    """The controller's file books OpenAI account org-1 as a month-end reversing accrual, but the OpenAI
    source reads the organization as org-live: the entry would never apply (the spend accrued daily by the
    defaults, silently). The check says so, naming the account the source reads and the setting."""
    environment = env(tmp_path, policies("accrual: month_end_reversing, granularity: monthly")) | {
        "TOKENBOOKS_OPENAI__ADMIN_KEY": "sk-admin-test",
        "TOKENBOOKS_OPENAI__ORGANIZATION": "org-live",
    }
    result = runner.invoke(cli, ["policies", "check"], env=environment)
    assert result.exit_code == 0, result.output
    said = words(result.output)
    assert "no openai account 'org-1' is known (the openai account(s) tokenbooks reads: org-live)" in said
    assert "TOKENBOOKS_OPENAI__ORGANIZATION" in said
    right = runner.invoke(
        cli, ["policies", "check"], env=environment | {"TOKENBOOKS_OPENAI__ORGANIZATION": "org-1"}
    )
    assert "is known" not in words(right.output)


def test_schema_prints_the_committed_schema(tmp_path):
    printed = runner.invoke(cli, ["policies", "schema"], env=env(tmp_path, policies()))
    assert json.loads(printed.stdout) == policy_schema()


def test_close_books_the_months_credits_into_the_ledger_and_prints_the_checklist_as_json(tmp_path):
    environment = env(tmp_path, policies("billing: prepaid"))
    lot = ["credits", "add", "--provider", "openai", "--account", "org-1", "--amount", "50.00"]
    added = runner.invoke(
        cli, [*lot, "--purchased", "2026-09-01", "--expires", "2026-10-15"], env=environment
    )
    assert added.exit_code == 0, added.output
    sold = tmp_path / "sold.csv"
    sold.write_text(
        "event_id,customer,grant,kind,date,amount,currency,product,expires_on\n"
        "s-1,globex,g-1,purchase,2026-10-01,1000.00,USD,api-credits,2027-10-01\n"
        "r-1,globex,g-1,redemption,2026-10-15,460.00,USD,api-credits,\n"
    )
    assert runner.invoke(cli, ["import", "customer-credits", str(sold)], env=environment).exit_code == 0
    closed = runner.invoke(cli, ["close", "--period", "2026-10", "--json"], env=environment)
    assert closed.exit_code == 0, closed.output
    body = json.loads(closed.stdout)
    assert sorted(body["posted"]) == ["TB-BK-261015-001", "TB-EX-261015-001", "TB-RR-261015-001"]
    assert (body["prepaid_lots"][0]["written_off"], body["prepaid_lots"][0]["balance"]) == ("50.00", "0.00")
    assert body["deferred_revenue"][0]["deferred"] == "500.00"
    ledger = (tmp_path / "ledgers" / "acme-us.beancount").read_text()
    assert "Income:AI:Breakage" in ledger
    history = runner.invoke(cli, ["policies", "history", "--json"], env=environment)
    assert [v["version"] for v in json.loads(history.stdout)] == [1]
    printed = runner.invoke(cli, ["close", "--period", "2026-10"], env={**environment, "COLUMNS": "200"})
    rows = [
        " ".join(line.replace("│", " ").replace("┃", " ").split()) for line in printed.output.splitlines()
    ]
    assert "lot provider account currency amount used written off balance expires" in rows
    assert any(row.endswith("openai org-1 USD 50.00 0.00 50.00 0.00 2026-10-15") for row in rows), rows
    early = runner.invoke(cli, ["close", "--period", "2099-01"], env=environment)
    assert early.exit_code == 1
    assert "2099-01 has not ended" in words(early.output)

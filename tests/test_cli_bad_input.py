"""Bad input, through the real command line in a child process: FOCUS exports, invoices, credit lots,
customer credits, mappings, policies and settings.

Every case checks what a person at a terminal (or a scheduler) sees and what is left behind: a message on
stderr naming the file or variable, the place (row, line, column, option) and the fix; a non-zero exit
(2 for configuration, 1 for a refused file, 3 for an import with quarantined rows); no traceback; the
store's data unchanged by a refused file; no run left `running` (a refused import is recorded `failed`
with its reason).
"""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from connector.bootstrap import build_app
from connector.service.imports import import_focus, import_invoices
from connector.settings import Settings
from connector.sources.focus import FocusOptions
from tests.sources.builders import FOCUS_COLUMNS, focus_csv, focus_row
from tests.support import FULL_MAPPING

ROOT = Path(__file__).resolve().parents[1]
INVOICE_HEADER = "provider,account,number,period,issue_date,total,currency\n"
LOT_HEADER = "lot_id,provider,account,purchase_date,amount,currency,expires_on\n"
EVENT_HEADER = "event_id,customer,grant,kind,date,amount,currency,product,expires_on\n"
CONFIG, FAILED, PARTIAL = 2, 1, 3
# what a store holds, table by table: a refused file must leave every one of these as it was
DATA = {
    "facts": "SELECT count(*), coalesce(sum(CAST(amount AS REAL)), 0) FROM facts WHERE is_current",
    "lots": "SELECT count(*), coalesce(sum(CAST(amount AS REAL)), 0) FROM credit_lots",
    "invoices": "SELECT count(*), coalesce(sum(CAST(total AS REAL)), 0) FROM invoices",
    "customer credits": "SELECT count(*) FROM customer_credit_events",
    "journals": "SELECT count(*) FROM journals",
}


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def said(self) -> str:
        """What the person reads, on one line (rich wraps long lines at the terminal's width)."""
        return " ".join((self.stderr + " " + self.stdout).split())


class Cli:
    """A workspace (mapping, store, files) and the `tokenbooks` command run in a child process."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db = tmp / "tb.db"
        (tmp / "mapping.yaml").write_text(FULL_MAPPING)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENBOOKS_")}
        self.env |= {
            "TOKENBOOKS_DATABASE_URL": f"sqlite:///{self.db}",
            "TOKENBOOKS_MAPPING_FILE": str(tmp / "mapping.yaml"),
            "TOKENBOOKS_DATA_DIR": str(tmp / "data"),
            "TOKENBOOKS_INVOICES_DIR": str(tmp / "inbox"),
            "PYTHONPATH": str(ROOT),
            "COLUMNS": "200",
        }

    def seed(self) -> None:
        """Data already in the store (a FOCUS export with a purchase, an invoice), as a company has it."""
        settings = Settings(
            database_url=f"sqlite:///{self.db}", mapping_file=self.tmp / "mapping.yaml", _env_file=None
        )
        app = build_app(settings)
        rows = [
            focus_row("1.00"),
            focus_row("500.00", category="Purchase", CommitmentDiscountId="cd-1", end_hours=24 * 90),
        ]
        import_focus(
            app, [focus_csv(self.tmp / "seed.csv", rows)], FocusOptions("acme-us", "America/New_York")
        )
        self.file("seed-invoice.csv", INVOICE_HEADER + "openai,org-1,I-1,2026-10,2026-11-03,5.00,USD\n")
        import_invoices(app, self.tmp / "seed-invoice.csv", entity="acme-us")
        app.engine.dispose()

    def file(self, name: str, text: str | bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return path

    def run(self, *args: str, **env: str) -> Outcome:
        done = subprocess.run(
            [sys.executable, "-c", "from connector.cli import main; main()", *args],
            env=self.env | {f"TOKENBOOKS_{k}": v for k, v in env.items()},
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return Outcome(done.returncode, done.stdout, done.stderr)

    def data(self) -> dict:
        if not self.db.exists():
            return {}
        with sqlite3.connect(self.db) as connection:
            return {name: connection.execute(query).fetchone() for name, query in DATA.items()}

    def runs(self) -> list[tuple[str, str, str | None]]:
        with sqlite3.connect(self.db) as connection:
            return connection.execute("SELECT kind, status, reason FROM runs ORDER BY started_at").fetchall()


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


@pytest.fixture
def seeded(cli: Cli) -> Cli:
    cli.seed()
    return cli


def refused(cli: Cli, outcome: Outcome, code: int, *words: str) -> None:
    """What every refusal must be: the exit code, the words on stderr, no traceback, no run `running`."""
    assert outcome.code == code, outcome
    assert "Traceback" not in outcome.stderr, outcome.stderr
    for word in words:
        assert word in outcome.said, (word, outcome.said)
    if cli.db.exists():
        assert all(status != "running" for _, status, _ in cli.runs()), cli.runs()


def refused_file(cli: Cli, command: tuple[str, ...], *words: str) -> None:
    """A file refused whole: exit 1, the store's data unchanged, the import recorded failed with its reason."""
    before = cli.data()
    outcome = cli.run(*command)
    refused(cli, outcome, FAILED, "nothing from it was stored", *words)
    assert cli.data() == before
    kind, status, reason = cli.runs()[-1]
    assert (kind.startswith("import."), status) == (True, "failed")
    assert words[0] in " ".join(reason.split())


def focus(cli: Cli, name: str, rows: list[dict], **kw) -> str:
    return str(focus_csv(cli.tmp / name, rows, **kw))


# ---------------------------------------------------------------------------------------- FOCUS exports


def test_focus_a_missing_file(seeded):
    refused_file(seeded, ("import", "focus", "nothere.csv"), "nothere.csv", "no such file")


def test_focus_a_directory(seeded):
    (seeded.tmp / "exports").mkdir()
    refused_file(seeded, ("import", "focus", "exports"), "is a directory", "exports/*.csv.gz")


def test_focus_an_empty_file(seeded):
    refused_file(
        seeded, ("import", "focus", str(seeded.file("empty.csv", ""))), "empty.csv", "the file is empty"
    )


def test_focus_a_missing_column(seeded):
    path = focus(
        seeded, "export.csv", [focus_row("1.00")], columns=[c for c in FOCUS_COLUMNS if c != "ChargeCategory"]
    )
    refused_file(seeded, ("import", "focus", path), "row 1 (header)", "ChargeCategory", "missing column")


def test_focus_billed_cost_named_twice(seeded):
    path = focus(seeded, "export.csv", [focus_row("1.00")], columns=[*FOCUS_COLUMNS, "BilledCost"])
    refused_file(seeded, ("import", "focus", path), "names BilledCost twice", "columns 1 and 21")


def test_focus_a_stray_quote_swallowing_the_rest_of_the_file(seeded):
    path = Path(focus(seeded, "export.csv", [focus_row("1.00", hour=h, tags="") for h in range(5)]))
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join([*lines[:2], lines[2].replace("Claude input", '"Claude input'), *lines[3:]]))
    refused_file(
        seeded, ("import", "focus", str(path)), "row 3", "5 data lines but reads as 2 rows", "stray quote"
    )


def test_focus_not_utf8(seeded):
    path = Path(focus(seeded, "export.csv", [focus_row("1.00", sub_account="Zürich")]))
    path.write_bytes(path.read_text().encode("latin-1"))
    refused_file(seeded, ("import", "focus", str(path)), "not UTF-8", "save the file as UTF-8")


def test_focus_a_truncated_gzip(seeded):
    rows = [focus_row(f"{h}.00", hour=h % 24, day=date(2026, 10, 1 + h // 24)) for h in range(24 * 20)]
    whole = gzip.compress(Path(focus(seeded, "x.csv", rows)).read_bytes())
    path = seeded.file("export.csv.gz", whole[: len(whole) // 2])
    refused_file(seeded, ("import", "focus", str(path)), "damaged or truncated", "download the export again")


def test_focus_a_parquet_file_that_is_not_parquet(seeded):
    path = seeded.file("export.parquet", "BilledCost\n1.00\n")
    refused_file(seeded, ("import", "focus", str(path)), "cannot be read as CSV", "FOCUS export file")


def test_focus_parts_of_different_exports(seeded):
    first = focus(seeded, "part_0.csv", [focus_row("1.00")])
    other = focus(
        seeded, "part_1.csv", [focus_row("1.00")], columns=[c for c in FOCUS_COLUMNS if c != "RegionId"]
    )
    refused_file(seeded, ("import", "focus", first, other), "differ from the other files", "import the parts")


def test_focus_row_id_naming_a_missing_column(seeded):
    path = focus(seeded, "export.csv", [focus_row("1.00")])
    refused_file(
        seeded, ("import", "focus", path, "--row-id", "x_LineId"), "x_LineId", "--row-id names a column"
    )


def test_focus_a_eur_row_in_a_usd_billing_account_is_quarantined_and_the_import_partial(seeded):
    path = focus(seeded, "export.csv", [focus_row("1.00"), focus_row("2.00", hour=1, BillingCurrency="EUR")])
    outcome = seeded.run("import", "focus", path)
    refused(seeded, outcome, PARTIAL, "row 3", "BillingCurrency", "billed in USD", "Partial")


def test_focus_currency_option_that_disagrees_with_the_column(seeded):
    path = focus(seeded, "export.csv", [focus_row("1.00")])
    outcome = seeded.run("import", "focus", path, "--currency", "EUR", "--json")
    refused(seeded, outcome, PARTIAL, "differs from --currency EUR")
    report = json.loads(outcome.stdout)
    assert (report["status"], report["exit_code"], report["tally"]["rows"]["accepted"]) == ("partial", 3, 0)


def test_focus_identical_rows_are_quarantined_unless_accepted(seeded):
    path = focus(seeded, "export.csv", [focus_row("1.00", hour=5), focus_row("1.00", hour=5)])
    refused(
        seeded, seeded.run("import", "focus", path), PARTIAL, "repeats row 2 exactly", "--accept-duplicates"
    )
    accepted = seeded.run("import", "focus", path, "--accept-duplicates", "--json")
    assert accepted.code == 0, accepted
    assert json.loads(accepted.stdout)["tally"]["amounts"]["accepted"] == {"USD": "2.00"}


def test_focus_a_bad_amount_exits_partial_and_json_says_so(seeded):
    path = focus(seeded, "export.csv", [focus_row("1.00", hour=7), focus_row("1,000.00", hour=8)])
    outcome = seeded.run("import", "focus", path, "--json")
    refused(seeded, outcome, PARTIAL)
    report = json.loads(outcome.stdout)
    assert (report["exit_code"], report["quarantined"][0]["location"], report["quarantined"][0]["field"]) == (
        PARTIAL,
        "row 3",
        "BilledCost",
    )
    assert seeded.runs()[-1][1] == "partial"


def test_focus_covered_usage_without_its_effective_cost_is_quarantined(seeded):
    columns = [*FOCUS_COLUMNS, "EffectiveCost"]
    path = focus(
        seeded, "export.csv", [focus_row("0", CommitmentDiscountId="cd-1", EffectiveCost="")], columns=columns
    )
    refused(seeded, seeded.run("import", "focus", path), PARTIAL, "row 2", "EffectiveCost", "cannot be known")


# ---------------------------------------------------------------------------------------------- invoices


def test_invoices_a_missing_file(seeded):
    refused_file(seeded, ("import", "invoices", "nothere.csv"), "nothere.csv", "no such file")


def test_invoices_an_empty_file(seeded):
    refused_file(
        seeded, ("import", "invoices", str(seeded.file("inv.csv", "\n"))), "the file is empty", "header row"
    )


def test_invoices_not_utf8(seeded):
    path = seeded.file(
        "inv.csv", (INVOICE_HEADER + "openai,org-1,I-é,2026-10,2026-11-03,5.00,USD\n").encode("latin-1")
    )
    refused_file(seeded, ("import", "invoices", str(path)), "line 2", "not UTF-8", "save the file as UTF-8")


def test_invoices_a_stray_quote(seeded):
    quote = {2: '"'}  # row 2 opens a quote no row closes
    rows = "".join(f"openai,org-1,{quote.get(n, '')}I-{n},2026-10,2026-11-03,5.00,USD\n" for n in range(2, 6))
    refused_file(
        seeded,
        ("import", "invoices", str(seeded.file("inv.csv", INVOICE_HEADER + rows))),
        "row 2",
        "a quote opened on line 2",
    )


def test_invoices_a_column_named_twice(seeded):
    text = INVOICE_HEADER.replace("currency", "total") + "openai,org-1,I-9,2026-10,2026-11-03,5.00,6.00\n"
    refused_file(
        seeded,
        ("import", "invoices", str(seeded.file("inv.csv", text))),
        "names total twice",
        "columns 6 and 7",
    )


def test_invoices_broken_json(seeded):
    path = seeded.file("inv.json", '{"invoices": [\n  {"provider": "openai",\n}')
    refused_file(seeded, ("import", "invoices", str(path)), "inv.json:line", "not valid JSON")


def test_invoices_an_unknown_file_type(seeded):
    refused_file(
        seeded,
        ("import", "invoices", str(seeded.file("inv.txt", "hello"))),
        "unknown file type",
        ".csv or .json",
    )


def test_invoices_an_amount_with_separators_is_quarantined(seeded):
    path = seeded.file("inv.csv", INVOICE_HEADER + 'openai,org-1,I-7,2026-10,2026-11-03,"1,000.00",USD\n')
    refused(seeded, seeded.run("import", "invoices", str(path)), PARTIAL, "row 2", "total", "1,000.00")


# ------------------------------------------------------------------------------------------ credit lots


def credits_add(cli: Cli, **options: str) -> Outcome:
    """`tokenbooks credits add` with a good lot, but for the options given."""
    given = {"provider": "openai", "amount": "5", "purchased": "2026-01-15", **options}
    return cli.run("credits", "add", *(arg for name, value in given.items() for arg in (f"--{name}", value)))


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"amount": "1,000"}, ("--amount", "'1,000' is not a plain decimal", "such as 1000.00")),
        ({"amount": "-5"}, ("--amount", "not positive")),
        ({"currency": "dollars"}, ("--currency", "ISO 4217")),
        ({"purchased": "2026-02-30"}, ("--purchased", "YYYY-MM-DD")),
        ({"purchased": "2026-03-01", "expires": "2026-01-01"}, ("--expires", "is not after")),
    ],
    ids=["thousands-separator", "negative", "not-iso-currency", "no-such-day", "expiry-before-purchase"],
)
def test_credits_add_names_the_option_at_fault_and_the_fix(seeded, options, words):
    before = seeded.data()
    refused(seeded, credits_add(seeded, **options), CONFIG, *words)
    assert seeded.data() == before


# the OpenAI source as .env.example sets it up: its usage is booked under the account org-acme
OPENAI_ORG = {"OPENAI__ADMIN_KEY": "sk-admin-test", "OPENAI__ORGANIZATION": "org-acme"}


def lot_accounts(cli: Cli) -> list[tuple[str, str, str]]:
    with sqlite3.connect(cli.db) as connection:
        return connection.execute("SELECT lot_id, provider, provider_account FROM credit_lots").fetchall()


def test_credits_add_without_account_records_the_lot_for_the_provider_account_tokenbooks_knows(seeded):
    outcome = seeded.run(
        "credits", "add", "--provider", "openai", "--amount", "5000.00", "--purchased", "2026-09-15",
        "--lot-id", "RCPT-1", **OPENAI_ORG,
    )  # fmt: skip
    assert outcome.code == 0, outcome
    assert ("RCPT-1", "openai", "org-acme") in lot_accounts(seeded)  # drawn by org-acme's usage


def test_credits_add_for_an_account_no_source_knows_is_refused_naming_the_accounts_it_knows(seeded):
    before = seeded.data()
    outcome = seeded.run(
        "credits", "add", "--provider", "openai", "--account", "default", "--amount", "5000.00",
        "--purchased", "2026-09-15", **OPENAI_ORG,
    )  # fmt: skip
    refused(seeded, outcome, CONFIG, "--account", "'default'", "written off as expired", "org-acme")
    assert seeded.data() == before  # no lot nobody's usage would ever draw


def test_credits_import_a_lot_for_an_account_no_source_knows_is_quarantined(seeded):
    path = seeded.file("lots.csv", LOT_HEADER + "RCPT-2,openai,org-acm,2026-09-15,5000.00,USD,\n")
    before = seeded.data()
    outcome = seeded.run("import", "credits", str(path), **OPENAI_ORG)
    refused(seeded, outcome, PARTIAL, "row 2", "account", "'org-acm'", "written off as expired", "org-acme")
    assert seeded.data() == before


def test_credits_import_a_lot_id_a_focus_export_already_holds(seeded):
    with sqlite3.connect(seeded.db) as connection:
        (lot_id,) = connection.execute("SELECT lot_id FROM credit_lots").fetchone()
    path = seeded.file("lots.csv", LOT_HEADER + f"{lot_id},aws,123456789012,2026-10-01,900.00,USD,\n")
    before = seeded.data()
    refused(
        seeded,
        seeded.run("import", "credits", str(path)),
        PARTIAL,
        "row 2",
        "lot_id",
        "already recorded from focus",
        "its own lot id",
    )
    assert seeded.data() == before  # the FOCUS lot was not replaced


def test_credits_import_a_negative_amount_is_quarantined(seeded):
    path = seeded.file("lots.csv", LOT_HEADER + "R-1,openai,org-1,2026-01-15,-5,USD,\n")
    refused(seeded, seeded.run("import", "credits", str(path)), PARTIAL, "row 2", "amount", "not positive")


def test_credits_import_an_empty_file(seeded):
    refused_file(seeded, ("import", "credits", str(seeded.file("lots.csv", ""))), "the file is empty")


# ------------------------------------------------------------------------------------- customer credits


def test_customer_credits_a_redemption_beyond_the_grant(seeded):
    text = (
        EVENT_HEADER
        + "P-1,globex,G-1,purchase,2026-01-01,100.00,USD,,2027-01-01\nR-1,globex,G-1,redemption,2026-02-01,150.00,USD,,\n"
    )
    path = seeded.file("events.csv", text)
    refused(seeded, seeded.run("import", "customer-credits", str(path)), PARTIAL, "row 3", "below zero")


def test_customer_credits_an_unknown_kind_and_a_date_in_another_format_are_said_in_plain_words(seeded):
    """The row's problem says what is wrong in the file's words, not Python's ("not a valid
    CustomerCreditKind", "Invalid isoformat string"), and the fix lists what may be written."""
    path = seeded.file(
        "events.csv",
        EVENT_HEADER
        + "X-1,globex,G-1,gift,2026-01-01,100.00,USD,,\nX-2,globex,G-1,purchase,01/02/2026,5.00,USD,,\n",
    )
    outcome = seeded.run("import", "customer-credits", str(path))
    refused(
        seeded,
        outcome,
        PARTIAL,
        "row 2",
        "kind: 'gift' is not a kind of customer credit event",
        "use one of:",
    )
    refused(seeded, outcome, PARTIAL, "row 3", "date: '01/02/2026' is not a date written YYYY-MM-DD")
    assert "CustomerCreditKind" not in outcome.said, outcome.said
    assert "isoformat" not in outcome.said, outcome.said


def test_invoices_an_issue_date_in_another_format_is_said_in_plain_words(seeded):
    path = seeded.file("inv.csv", INVOICE_HEADER + "openai,org-1,I-8,2026-10,03/11/2026,5.00,USD\n")
    outcome = seeded.run("import", "invoices", str(path))
    refused(seeded, outcome, PARTIAL, "issue_date: '03/11/2026' is not a date written YYYY-MM-DD")
    assert "isoformat" not in outcome.said, outcome.said


def test_customer_credits_a_missing_column(seeded):
    path = seeded.file("events.csv", "event_id,customer,grant\nP-1,globex,G-1\n")
    refused_file(seeded, ("import", "customer-credits", str(path)), "row 1 (header)", "missing column")


def test_customer_credits_a_stray_quote(seeded):
    text = (
        EVENT_HEADER
        + '"P-1,globex,G-1,purchase,2026-01-01,100.00,USD,,\nP-2,globex,G-2,purchase,2026-01-01,100.00,USD,,\n'
    )
    refused_file(
        seeded,
        ("import", "customer-credits", str(seeded.file("events.csv", text))),
        "row 2",
        "a quote opened on line 2",
    )


# ------------------------------------------------------------------------------------ mappings, policies


def test_mappings_check_a_day_that_does_not_exist(cli):
    cli.file("mapping.yaml", FULL_MAPPING.replace("effective_from: 2026-01-01", "effective_from: 2026-02-30"))
    refused(
        cli,
        cli.run("mappings", "check", "--offline"),
        CONFIG,
        "mapping.yaml:2",
        "2026-02-30 is not a date",
        "YYYY-MM-DD",
    )


def test_sync_with_a_mapping_dated_on_a_day_that_does_not_exist(seeded):
    seeded.file(
        "mapping.yaml", FULL_MAPPING.replace("effective_from: 2026-01-01", "effective_from: 2026-02-30")
    )
    refused(
        seeded,
        seeded.run("sync", "--until", "2026-10-01"),
        CONFIG,
        "mapping.yaml:2",
        "2026-02-30 is not a date",
    )


def test_policies_check_a_day_that_does_not_exist(cli):
    path = cli.file("policies.yaml", "policy_version: 1\neffective_from: 2026-02-30\nchange_note: x\n")
    refused(
        cli,
        cli.run("policies", "check", "--file", str(path)),
        CONFIG,
        "policies.yaml:2",
        "2026-02-30 is not a date",
    )


def test_sync_with_policies_dated_on_a_day_that_does_not_exist(seeded):
    path = seeded.file("policies.yaml", "policy_version: 1\neffective_from: 2026-02-30\nchange_note: x\n")
    outcome = seeded.run("sync", "--until", "2026-10-01", POLICIES_FILE=str(path))
    # a run failed by its configuration exits as a configuration error, and is recorded failed
    refused(seeded, outcome, CONFIG, "policies.yaml:2", "2026-02-30 is not a date")
    assert seeded.runs()[-1][:2] == ("sync", "failed")


def test_policies_check_a_choice_that_does_not_exist(cli):
    text = "policy_version: 1\neffective_from: 2026-01-01\nchange_note: x\ndefaults:\n  billing: prepay\n"
    refused(
        cli,
        cli.run("policies", "check", "--file", str(cli.file("policies.yaml", text))),
        CONFIG,
        "policies.yaml:5",
        "prepay",
    )


# -------------------------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        (
            "FOCUS__SERVICES",
            "AI and Machine Learning",
            ("TOKENBOOKS_FOCUS__SERVICES", 'is not JSON: write it as ["AI and Machine Learning"]'),
        ),
        ("RECONCILE__PROVIDERS", "{bad", ("TOKENBOOKS_RECONCILE__PROVIDERS", "is not JSON", '{"anthropic"')),
        ("RECONCILE__PROVIDERS", '["anthropic"]', ("TOKENBOOKS_RECONCILE__PROVIDERS", "not a dict")),
        (
            "QUICKBOOKS__BASE_URL",
            "not a url",
            ("TOKENBOOKS_QUICKBOOKS__BASE_URL", "is not a URL", "https://host[/path]"),
        ),
        ("OPENAI__BASE_URL", "api.openai.com/v1", ("TOKENBOOKS_OPENAI__BASE_URL", "is not a URL")),
        ("XERO__IDENTITY_URL", "https//identity.xero.com", ("TOKENBOOKS_XERO__IDENTITY_URL", "is not a URL")),
        ("OPENAI__START_DATE", "2026-02-30", ("TOKENBOOKS_OPENAI__START_DATE",)),
        ("LEDGER_MODE", "sometimes", ("TOKENBOOKS_LEDGER_MODE", "'auto', 'draft' or 'approve'")),
        ("DATABASE_URL", "sqlite://tmp/tb.db", ("TOKENBOOKS_DATABASE_URL", "names a file, not a host")),
        ("DATABASE_URL", "mysql://db/tb", ("TOKENBOOKS_DATABASE_URL", "postgresql://")),
    ],
    ids=lambda v: v if isinstance(v, str) and v.isupper() else None,
)
def test_a_bad_setting_is_refused_at_start_naming_the_variable(cli, variable, value, words):
    outcome = cli.run("credits", "list", **{variable: value})
    refused(cli, outcome, CONFIG, "Settings are invalid", *words)
    assert not cli.db.exists()  # nothing was created on the way


def test_a_mistyped_database_url_is_refused_by_a_read_only_command_and_nothing_is_created(seeded):
    mistyped = seeded.tmp / "tokenbook" / "tb.db"
    for command in (("runs",), ("credits", "list"), ("sources", "status"), ("report", "spend")):
        outcome = seeded.run(*command, DATABASE_URL=f"sqlite:///{mistyped}")
        refused(
            seeded, outcome, CONFIG, f"no tokenbooks database at {mistyped}", "check TOKENBOOKS_DATABASE_URL"
        )
    assert not mistyped.parent.exists()


def test_a_database_a_newer_tokenbooks_migrated_is_refused_with_the_way_back_and_left_as_it_is(seeded):
    """After a rollback of the software, the store carries a schema revision this release does not know:
    every command (a read, a sync, `db upgrade`) says so and how to go back, and touches nothing."""
    with sqlite3.connect(seeded.db) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099_from_a_newer_release'")
    before = seeded.data()
    for command in (("runs",), ("sync",), ("db", "upgrade")):
        outcome = seeded.run(*command)
        refused(
            seeded,
            outcome,
            CONFIG,
            "has schema revision 0099_from_a_newer_release, which a newer tokenbooks made",
            "restore the backup taken before that upgrade",
        )
        assert "internal error" not in outcome.said, outcome.said
    assert seeded.data() == before
    with sqlite3.connect(seeded.db) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("0099_from_a_newer_release",)
        ]


def test_a_missing_mapping_file_is_said_once_with_its_fix(cli):
    """The message names the file's problem; the list under it does not repeat it, and one fix is given:
    the problem's own (a relative path says the directory it was read from), not a generic one beside it."""
    out = cli.run("pull", MAPPING_FILE=str(cli.tmp / "nowhere.yaml"))
    assert out.code == CONFIG
    assert "Traceback" not in out.stderr + out.stdout
    assert out.said.count("cannot read the mapping file") == 1, out.stderr
    assert out.said.count("Fix:") == 1, out.stderr
    assert "set TOKENBOOKS_MAPPING_FILE to your mapping file" in out.said

    relative = cli.run("pull", MAPPING_FILE="mappings/nowhere.yaml")
    assert relative.code == CONFIG
    assert f"it names mappings/nowhere.yaml, from {cli.tmp}" in relative.said, relative.stderr


def test_an_imports_tally_shows_exact_amounts_grouped_and_its_json_keeps_their_digits(seeded):
    """People read '1,250.00 USD' and '1,234.500125 USD' (nothing rounded; zeros beyond the cents
    dropped, thousands grouped); scripts get the exact text of the sum."""
    rows = [focus_row("1234.5001250000", hour=5), focus_row("15.4998750000", hour=6)]
    shown = seeded.run("import", "focus", focus(seeded, "export.csv", rows))
    assert shown.code == 0, shown
    assert "1,250.00 USD" in shown.said  # 1234.500125 + 15.499875, its ten places trimmed to the cents
    assert "1250.0000000000" not in shown.said
    finer = seeded.run("import", "focus", focus(seeded, "finer.csv", [focus_row("1234.500125", hour=9)]))
    assert "1,234.500125 USD" in finer.said
    scripted = focus(seeded, "scripted.csv", [focus_row("1234.5001250000", hour=10)])
    report = json.loads(seeded.run("import", "focus", scripted, "--json").stdout)
    assert report["tally"]["amounts"]["accepted"] == {"USD": "1234.5001250000"}


# ------------------------------------------------------------------------------------ voiding a lot


def voided(cli: Cli) -> list[tuple[str, str | None, str]]:
    with sqlite3.connect(cli.db) as connection:
        return connection.execute("SELECT lot_id, voided_at, void_reason FROM credit_lots").fetchall()


def test_credits_void_of_a_lot_id_the_entity_does_not_have_names_where_the_ids_are(seeded):
    before = seeded.data()
    outcome = seeded.run("credits", "void", "RCPT-NOPE", "--reason", "entered twice")
    refused(seeded, outcome, CONFIG, "LOT_ID", "no credit lot 'RCPT-NOPE'", "tokenbooks credits list")
    assert seeded.data() == before


def test_credits_void_without_a_reason_is_refused_and_voids_nothing(seeded):
    credits_add(seeded, **{"lot-id": "RCPT-7", "account": "org-1"})
    for outcome in (
        seeded.run("credits", "void", "RCPT-7"),
        seeded.run("credits", "void", "RCPT-7", "--reason", " "),
    ):
        refused(seeded, outcome, CONFIG, "--reason", "say why lot RCPT-7 is voided", '--reason "')
    assert all(at is None for _, at, _ in voided(seeded))


def test_credits_void_of_a_lot_a_focus_export_stored_says_to_import_the_export_again(seeded):
    with sqlite3.connect(seeded.db) as connection:
        (lot_id,) = connection.execute("SELECT lot_id FROM credit_lots").fetchone()
    outcome = seeded.run("credits", "void", lot_id, "--reason", "not ours")
    refused(seeded, outcome, CONFIG, "stored by a FOCUS import", "import the corrected FOCUS export again")
    assert all(at is None for _, at, _ in voided(seeded))


def test_credits_void_json_and_the_lot_listed_as_void(seeded):
    credits_add(seeded, **{"lot-id": "RCPT-7", "account": "org-1"})
    outcome = seeded.run("credits", "void", "RCPT-7", "--reason", "entered twice", "--json")
    assert outcome.code == 0, outcome
    body = json.loads(outcome.stdout)
    assert (body["lot_id"], body["voided"], body["void"]["reason"]) == ("RCPT-7", True, "entered twice")
    again = json.loads(seeded.run("credits", "void", "RCPT-7", "--reason", "again", "--json").stdout)
    assert (again["voided"], again["void"]["reason"]) == (False, "entered twice")
    listed = json.loads(seeded.run("credits", "list", "--json").stdout)
    [lot] = [lot for lot in listed if lot["lot_id"] == "RCPT-7"]
    assert (lot["status"], lot["void"]["reason"]) == ("void", "entered twice")

"""`tokenbooks import focus` with DuckDB reading the rows, through the real command line in a child process.

Every FOCUS bad-input case of tests/test_cli_bad_input.py is run again here with
TOKENBOOKS_FOCUS__ENGINE=duckdb (the functions are imported, so pytest collects them with this module's
fixtures): the same exit codes, the same file, row, column, reason and fix, no traceback, nothing stored
from a refused file. Then what only DuckDB adds: the option, and the warning when a file is left to
the Python importer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.sources.builders import FOCUS_COLUMNS, focus_csv, focus_row
from tests.test_cli_bad_input import (  # noqa: F401  (collected again here, with the fixtures below)
    PARTIAL,
    Cli,
    refused,
    test_focus_a_bad_amount_exits_partial_and_json_says_so,
    test_focus_a_directory,
    test_focus_a_eur_row_in_a_usd_billing_account_is_quarantined_and_the_import_partial,
    test_focus_a_missing_column,
    test_focus_a_missing_file,
    test_focus_a_parquet_file_that_is_not_parquet,
    test_focus_a_stray_quote_swallowing_the_rest_of_the_file,
    test_focus_a_truncated_gzip,
    test_focus_an_empty_file,
    test_focus_billed_cost_named_twice,
    test_focus_covered_usage_without_its_effective_cost_is_quarantined,
    test_focus_currency_option_that_disagrees_with_the_column,
    test_focus_identical_rows_are_quarantined_unless_accepted,
    test_focus_not_utf8,
    test_focus_parts_of_different_exports,
    test_focus_row_id_naming_a_missing_column,
)


class DuckCli(Cli):
    def run(self, *args: str, **env: str):
        return super().run(*args, **({"FOCUS__ENGINE": "duckdb"} | env))


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return DuckCli(tmp_path)


@pytest.fixture
def seeded(cli: Cli) -> Cli:
    cli.seed()
    return cli


def test_duckdb_imports_and_quarantines_and_stores_like_python(seeded):
    rows = [focus_row(f"{h}.25", hour=h) for h in range(10)] + [focus_row("1,5", hour=11)]
    path = focus_csv(seeded.tmp / "export.csv", rows, columns=FOCUS_COLUMNS)
    outcome = seeded.run("import", "focus", str(path), "--json")
    refused(seeded, outcome, PARTIAL)
    report = json.loads(outcome.stdout)
    assert report["tally"]["amounts"]["accepted"] == {"USD": "47.50"}
    assert [(q["location"], q["field"]) for q in report["quarantined"]] == [("row 12", "BilledCost")]
    assert report["warnings"] == []
    assert seeded.data()["facts"] == (1, 47.5)  # the day's one bucket, replacing the seed's


def test_a_file_left_to_python_is_named_in_a_warning(seeded):
    path = focus_csv(seeded.tmp / "export.csv", [focus_row("1.00")], columns=FOCUS_COLUMNS)
    path.write_text(path.read_text() + "\n")  # an empty line: DuckDB skips it, Python quarantines it
    outcome = seeded.run("import", "focus", str(path), "--json")
    report = json.loads(outcome.stdout)
    assert [q["location"] for q in report["quarantined"]] == ["row 3"]
    assert report["warnings"] == [
        f"{path} was read by the Python importer, not DuckDB: a value spans lines, or a line is empty"
    ]


def test_an_unknown_engine_is_a_configuration_error(seeded):
    path = focus_csv(seeded.tmp / "export.csv", [focus_row("1.00")], columns=FOCUS_COLUMNS)
    outcome = seeded.run("import", "focus", str(path), "--engine", "spark")
    refused(seeded, outcome, 2, "--engine spark", "python, duckdb")
    bad_setting = seeded.run("import", "focus", str(path), FOCUS__ENGINE="spark")
    refused(seeded, bad_setting, 2, "TOKENBOOKS_FOCUS__ENGINE")


def test_unique_line_ids_books_a_repeated_id_and_the_run_says_the_check_was_narrowed(seeded):
    """`--unique-line-ids`: an id given twice is two charges (by default the second is quarantined), and the
    run's own log says the ids were trusted, so that an auditor reading it later sees it."""
    columns = [*FOCUS_COLUMNS, "x_LineItemId"]
    rows = [
        focus_row("1.25") | {"x_LineItemId": "li-1"},
        focus_row("2.50", hour=1) | {"x_LineItemId": "li-1"},
    ]
    path = focus_csv(seeded.tmp / "export.csv", rows, columns=columns)
    checked = json.loads(seeded.run("import", "focus", str(path), "--json").stdout)
    assert [q["location"] for q in checked["quarantined"]] == ["row 3"]
    outcome = seeded.run("import", "focus", str(path), "--unique-line-ids", "--json")
    assert outcome.code == 0, outcome.stderr
    report = json.loads(outcome.stdout)
    assert report["quarantined"] == []
    assert report["tally"]["amounts"]["accepted"] == {"USD": "3.75"}
    [warning] = report["warnings"]
    assert "trusted to be unique" in warning
    events = json.loads(seeded.run("runs", "--run", report["run_id"], "--json").stdout)
    assert any(e["kind"] == "import.warning" and e["message"] == warning for e in events)

    # the setting trusts them for every import (the console's too); the command line can still check them
    by_setting = json.loads(
        seeded.run("import", "focus", str(path), "--json", FOCUS__UNIQUE_LINE_IDS="true").stdout
    )
    assert by_setting["quarantined"] == []
    checked_again = seeded.run(
        "import", "focus", str(path), "--checked-line-ids", "--json", FOCUS__UNIQUE_LINE_IDS="true"
    )
    assert [q["location"] for q in json.loads(checked_again.stdout)["quarantined"]] == ["row 3"]

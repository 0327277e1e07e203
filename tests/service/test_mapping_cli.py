"""`tokenbooks mappings …` on the command line: plain words or --json, file:line problems, exit codes."""

import json
from pathlib import Path

from typer.testing import CliRunner

from connector.cli import app
from connector.domain.mapping_schema import mapping_schema
from tests.domain.test_broken_mappings import BROKEN_DIR
from tests.service.conftest import World
from tests.service.mapping_support import ENG_TO_SALES, book_september

runner = CliRunner()
MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


def words(output: str) -> str:
    """The output as one line (rich wraps long lines at the terminal's width)."""
    return " ".join(output.split())


def env(world: World) -> dict[str, str]:
    return {
        "TOKENBOOKS_DATABASE_URL": world.app.settings.database_url,
        "TOKENBOOKS_MAPPING_FILE": str(world.mapping_path),
        "TOKENBOOKS_DATA_DIR": str(world.mapping_path.parent),
    }


def test_check_lists_every_problem_with_file_line_and_exits_2(world: World):
    broken = BROKEN_DIR / "shadowed_by_glob.yaml"
    result = runner.invoke(app, ["mappings", "check", "--file", str(broken), "--offline"], env=env(world))
    assert result.exit_code == 2
    assert f"{broken}:28: eng-agents: this rule can never be reached" in words(result.output)
    assert "1 error(s); nothing can be posted until they are fixed." in result.output


def test_schema_prints_the_committed_schema(world: World, tmp_path: Path):
    printed = runner.invoke(app, ["mappings", "schema"], env=env(world))
    assert printed.exit_code == 0
    assert json.loads(printed.stdout) == mapping_schema()
    written = tmp_path / "schema.json"
    runner.invoke(app, ["mappings", "schema", "--output", str(written)], env=env(world))
    assert written.read_text() == (MAPPINGS / "schema.json").read_text()


def test_bump_and_add_rule_edit_the_configured_file(world: World):
    bumped = runner.invoke(
        app,
        ["mappings", "bump", "--effective-from", "2026-10-01", "--note", "Hackathon is R&D"],
        env=env(world),
    )
    assert bumped.exit_code == 0, bumped.output
    added = runner.invoke(
        app,
        [
            "mappings",
            "add-rule",
            "--id",
            "hackathon",
            "--when",
            "project=proj_hackathon",
            "--category",
            "rnd",
        ],
        env=env(world),
    )
    assert added.exit_code == 0, added.output
    text = world.mapping_path.read_text()
    assert "mapping_version: 2\n" in text
    assert "  - id: hackathon\n    when: {project: proj_hackathon}\n    category: rnd\n" in text
    bad = runner.invoke(app, ["mappings", "bump", "--effective-from", "1 Oct", "--note", "x"], env=env(world))
    assert bad.exit_code == 2
    assert "YYYY-MM-DD" in bad.output


def test_preview_json_shows_totals_the_reclass_and_suspense(world: World, tmp_path: Path):
    book_september(world)
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(ENG_TO_SALES)
    result = runner.invoke(
        app,
        ["mappings", "preview", "--period", "2026-09", "--candidate", str(candidate), "--offline", "--json"],
        env=env(world),
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [(t["account"], t["current"], t["candidate"]) for t in payload["totals"]] == [
        ("5010|class=Support Assistant", "100.00", "100.00"),
        ("6110", "100.00", "0.00"),
        ("6120", "0.00", "100.00"),
    ]
    assert [(j["key"], j["kind"]) for j in payload["journals"]] == [
        ("TB-RC-260910-001", "reclass"),
        ("TB-RC-260911-001", "reclass"),
    ]
    assert payload["coverage"]["candidate"][0]["accuracy"] == "1.0000"


def test_preview_of_a_broken_candidate_fails_with_its_problems(world: World):
    broken = BROKEN_DIR / "split_of_99.yaml"
    result = runner.invoke(
        app,
        ["mappings", "preview", "--period", "2026-09", "--candidate", str(broken), "--offline"],
        env=env(world),
    )
    assert result.exit_code == 2
    assert f"{broken}:25: shared.split: the percentages sum to 99" in words(result.output)


def test_coverage_and_history_as_json(world: World):
    book_september(world)
    coverage = runner.invoke(app, ["mappings", "coverage", "--period", "2026-09", "--json"], env=env(world))
    assert coverage.exit_code == 0, coverage.output
    [row] = json.loads(coverage.stdout)["coverage"]
    assert (row["total"], row["suspense"], row["accuracy"]) == ("200.00", "0", "1.0000")
    history = runner.invoke(app, ["mappings", "history", "--json"], env=env(world))
    [version] = json.loads(history.stdout)
    assert (version["version"], version["effective_from"], version["change_note"]) == (
        1,
        "2026-01-01",
        "test mapping",
    )

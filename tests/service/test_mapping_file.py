"""Commands that rewrite the mapping keep every comment and the order of keys, and never leave it broken."""

import difflib
import shutil
from datetime import date
from pathlib import Path

import pytest

from connector.domain.errors import ConfigError
from connector.domain.mapping_parser import parse_mapping
from connector.service.mapping_file import add_rule, bump_mapping
from tests.support import MINIMAL_MAPPING

EXAMPLE = Path(__file__).resolve().parents[2] / "mappings" / "example.yaml"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    path = tmp_path / "mapping.yaml"
    shutil.copy(EXAMPLE, path)
    return path


def comments(text: str) -> list[str]:
    return [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]


def changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.ndiff(before.splitlines(), after.splitlines())
    return [line for line in diff if line.startswith(("- ", "+ "))]


def test_bump_changes_exactly_the_version_date_and_note_and_keeps_every_comment(example: Path):
    before = example.read_text()
    edit = bump_mapping(example, effective_from=date(2026, 9, 1), note="Coding agents move to R&D: ASC 730.")
    after = example.read_text()
    assert changed_lines(before, after) == [
        "- mapping_version: 1",
        "+ mapping_version: 2",
        "- effective_from: 2026-01-01",
        "+ effective_from: 2026-09-01",
        "- change_note: First mapping of AI spend for Acme Analytics (approved by the controller, J. Rivera).",
        "+ change_note: 'Coding agents move to R&D: ASC 730.'",
    ]
    assert comments(after) == comments(before)
    assert edit.summary == "mapping_version 1 → 2, effective from 2026-09-01"
    parsed, _ = parse_mapping(after, str(example))
    assert (parsed.version, parsed.effective_from, parsed.change_note) == (
        2,
        date(2026, 9, 1),
        "Coding agents move to R&D: ASC 730.",
    )


def test_bump_goes_above_the_newest_version_already_used(example: Path):
    bump_mapping(example, effective_from=date(2026, 9, 1), note="again", at_least=7)
    assert "mapping_version: 8\n" in example.read_text()


def test_comments_at_the_end_of_changed_lines_and_other_styles_survive(tmp_path: Path):
    path = tmp_path / "m.yaml"
    styled = MINIMAL_MAPPING.replace(
        "mapping_version: 1\n", "# top comment\nmapping_version: 1   # raise me\n"
    ).replace("rules:\n", "rules:\n# rules, most specific first\n")
    path.write_text(styled)
    bump_mapping(path, effective_from=date(2026, 10, 1), note="second")
    after = path.read_text()
    assert "mapping_version: 2   # raise me\n" in after
    assert "# top comment\n" in after
    assert "# rules, most specific first\n" in after
    assert '  ai_cogs: {quickbooks: "5010"}\n' in after  # quotes and flow style kept


def test_add_rule_inserts_before_the_named_rule_and_keeps_comments(example: Path):
    before = example.read_text()
    add_rule(
        example,
        rule_id="hackathon",
        when={"project": "proj_hackathon_2026"},
        category="rnd",
        description="The October hackathon.",
        before_rule="free-trial",
    )
    after = example.read_text()
    assert comments(after) == comments(before)
    assert changed_lines(before, after) == [
        "+   - id: hackathon",
        "+     description: The October hackathon.",
        "+     when: {project: proj_hackathon_2026}",
        "+     category: rnd",
    ]
    parsed, _ = parse_mapping(after, str(example))
    ids = [r.id for r in parsed.rules]
    assert ids.index("hackathon") == ids.index("free-trial") - 1


def test_an_edit_that_would_break_the_mapping_changes_nothing(example: Path):
    before = example.read_text()
    with pytest.raises(ConfigError, match="can never be reached") as refused:
        add_rule(example, rule_id="too-late", when={"project": "proj_eng_x"}, category="cogs")
    assert "nothing was changed" in refused.value.fix
    with pytest.raises(ConfigError, match="used twice"):
        add_rule(example, rule_id="free-trial", when={"project": "proj_new"}, category="cogs")
    assert example.read_text() == before
    assert [p.name for p in example.parent.iterdir()] == ["mapping.yaml"]  # no temporary file left


def test_a_broken_file_is_not_edited(tmp_path: Path):
    path = tmp_path / "m.yaml"
    path.write_text(MINIMAL_MAPPING.replace("percent: 40", "percent: 39"))
    with pytest.raises(ConfigError, match="fix them before editing") as refused:
        bump_mapping(path, effective_from=date(2026, 10, 1), note="x")
    assert "sum to 99" in str(refused.value.problems[0])

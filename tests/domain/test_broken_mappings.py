"""Broken mapping files (tests/domain/broken_mappings/*.yaml): each names its file, line, what is wrong and
the fix. The same files are synced in tests/service/test_mapping_sync.py to prove nothing is posted."""

from pathlib import Path

import pytest

from connector.domain.chart import check_targets
from connector.domain.errors import errors_only
from connector.domain.mapping_parser import parse_mapping
from tests.support import chart

BROKEN_DIR = Path(__file__).resolve().parent / "broken_mappings"

# file → (line, words the message must contain). The line is where a controller has to look.
BROKEN = {
    "yaml_syntax": (
        25,
        "YAML syntax error: expected ',' or '}', but got ':' (while parsing a flow mapping that starts on line 24)",
    ),
    "duplicate_yaml_key": (22, "key 'category' appears twice (first on line 21)"),
    "wrong_type_version": (2, "'three' is not a positive integer"),
    "wrong_type_percent": (26, "'seventy' is not a percentage between 0 and 100"),
    "wrong_type_rules": (14, "rules: must be a list of rules"),
    "unknown_role": (9, "roles.r_and_d: unknown role"),
    "missing_suspense": (8, "roles.suspense: required role is not bound to an account"),
    "split_of_99": (25, "the percentages sum to 99, not 100"),
    "duplicate_rule_id": (23, "rule id 'eng' is used twice (first on line 19)"),
    "invalid_regex": (20, "invalid regular expression 'proj_(eng'"),
    "unknown_dimension": (24, "shared.when.projet: unknown dimension"),
    "unknown_category": (21, "unknown category 'research'"),
    "unknown_key": (22, "quickbook: unknown key in rule eng"),
    "bad_ledger": (6, "'sage' is not a ledger tokenbooks posts to"),
    "bad_timezone": (6, "'Eastern Time' is not a time zone"),
    "never_matches_contradiction": (
        31,
        "it also requires tag team = 'growth' (line 30); no cost can satisfy both",
    ),
    "never_matches_regex": (29, "the regular expression '^gpt$-4' cannot match any text"),
    "never_matches_value": (29, "currency = 'eur' matches none of them"),
    "shadowed_by_glob": (
        28,
        "this rule can never be reached: the earlier rule 'eng' (line 19) matches every cost",
    ),
    "shadowed_by_two_rules": (
        28,
        "the earlier rules 'support' (line 15), 'eng' (line 19) together match every cost",
    ),
    "no_target_for_ledger": (
        29,
        "no quickbooks account: the role 'capitalized_software' has none and the rule names none",
    ),
    "account_missing": (8, "account '5015' is not in the QuickBooks chart of accounts of acme-us"),
    "account_inactive": (13, "account '6199' (6199 Legacy AI tools) is inactive in QuickBooks"),
    "class_missing": (22, "class 'Research' does not exist in QuickBooks"),
    "class_inactive": (22, "class 'Legacy Tools' is inactive in QuickBooks"),
    "department_missing": (18, "department 'UK' does not exist in QuickBooks"),
}

FIXES = {  # a few fixes checked word for word: the fix is what the controller reads next
    "never_matches_value": "write EUR: codes are upper-case",
    "account_missing": "did you mean '5010 AI COGS'?",
    "shadowed_by_glob": "move 'eng-agents' above 'eng' if it is the more specific rule",
    "split_of_99": "make the shares add up to exactly 100",
}


def problems_of(name: str) -> list:
    path = BROKEN_DIR / f"{name}.yaml"
    mapping, problems = parse_mapping(path.read_text(), str(path))
    if mapping is not None:  # the file itself is sound: what is wrong is in the ledger's chart
        problems = problems + check_targets(mapping, "acme-us", chart())
    return errors_only(problems)


def test_there_are_at_least_fifteen_broken_files_and_each_has_an_expectation():
    files = {p.stem for p in BROKEN_DIR.glob("*.yaml")}
    assert len(files) >= 15
    assert files == set(BROKEN)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_mapping_says_file_line_what_and_how_to_fix_it(name):
    line, words = BROKEN[name]
    path = BROKEN_DIR / f"{name}.yaml"
    problems = problems_of(name)
    assert problems, f"{name} was accepted"
    matching = [p for p in problems if words in str(p)]
    assert matching, [str(p) for p in problems]
    assert str(matching[0]).startswith(f"{path}:{line}: "), str(matching[0])
    assert matching[0].fix, "every problem says how to fix it"
    if name in FIXES:
        assert FIXES[name] in matching[0].fix


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_file_reports_only_its_own_mistake(name):
    """One mistake, one message: a controller is not sent after problems that are not there."""
    assert len({(p.location, p.message) for p in problems_of(name)}) == 1, [str(p) for p in problems_of(name)]

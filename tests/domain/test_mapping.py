"""The mapping: first match wins, splits are penny-exact, nothing is dropped, errors say file:line."""

from decimal import Decimal
from pathlib import Path

import pytest

from connector.domain.mapping import Classifier, parse_mapping
from tests.support import MINIMAL_MAPPING, fact, mapping

EXAMPLE = Path(__file__).resolve().parents[2] / "mappings" / "example.yaml"


def allocations_of(*facts, text=MINIMAL_MAPPING):
    return [
        (a.rule_id, a.category.value, a.target.key(), a.amount)
        for a in Classifier(mapping(text)).classify_all(facts)
    ]


def test_first_matching_rule_wins_and_unmatched_spend_goes_to_suspense():
    assert allocations_of(
        fact("10.00", project="proj_support_assistant"),
        fact("20.00", project="proj_eng_agents"),
        fact("5.00", project=None),
    ) == [
        ("support", "cogs", "5010|class=Support Assistant", Decimal("10.00")),
        ("eng", "rnd", "6110", Decimal("20.00")),
        ("suspense", "suspense", "6190", Decimal("5.00")),
    ]


def test_a_split_of_100_dollars_in_thirds_is_penny_exact():
    text = (
        MINIMAL_MAPPING.replace("{percent: 40, category: cogs}", "{percent: 33.34, category: cogs}")
        .replace("{percent: 30, category: rnd}", "{percent: 33.33, category: rnd}")
        .replace("{percent: 30, category: g_and_a}", "{percent: 33.33, category: g_and_a}")
    )
    assert [a[3] for a in allocations_of(fact("100.00", project="proj_shared"), text=text)] == [
        Decimal("33.34"),
        Decimal("33.33"),
        Decimal("33.33"),
    ]


def test_equal_thirds_put_the_odd_cent_on_the_first_share():
    text = MINIMAL_MAPPING.replace("percent: 40", "percent: 33.3334").replace(
        "percent: 30", "percent: 33.3333"
    )
    assert [a[3] for a in allocations_of(fact("100.00", project="proj_shared"), text=text)] == [
        Decimal("33.34"),
        Decimal("33.33"),
        Decimal("33.33"),
    ]


def test_conditions_match_glob_regex_one_of_tags_and_null():
    text = (
        MINIMAL_MAPPING
        + """\
  - id: by-tag
    when: {tags: {team: growth}}
    category: sales_marketing
  - id: by-regex
    when: {line_item: {regex: "(?i)batch"}}
    category: rnd
  - id: default-workspace
    when: {workspace: null, provider: anthropic}
    category: g_and_a
"""
    )
    rows = allocations_of(
        fact("1.00", project=None, line_item="x", **{"tag:team": "growth"}),
        fact("2.00", project=None, line_item="gpt-4.1, BATCH input"),
        fact("3.00", project=None, line_item="y", provider="anthropic"),
        text=text,
    )
    assert [r[0] for r in rows] == ["by-tag", "by-regex", "default-workspace"]


def test_the_shipped_example_mapping_is_valid():
    parsed, problems = parse_mapping(EXAMPLE.read_text(), str(EXAMPLE))
    assert problems == []
    assert parsed is not None
    assert {r.id for r in parsed.rules} >= {
        "support-assistant",
        "engineering-tools",
        "free-trial",
        "back-office",
    }


BROKEN = {
    "yaml syntax": ("rules:\n  - id: a\n    when: {project: x\n", "4", "YAML syntax error"),
    "unknown role": (MINIMAL_MAPPING.replace("  rnd:", "  r_and_d:"), "8", "unknown role"),
    "missing suspense": (MINIMAL_MAPPING.replace('  suspense: {quickbooks: "6190"}\n', ""), "7", "suspense"),
    "split of 99": (MINIMAL_MAPPING.replace("percent: 40", "percent: 39"), "23", "sum to 99"),
    "duplicate id": (MINIMAL_MAPPING.replace("id: eng", "id: support"), "18", "used twice"),
    "bad regex": (MINIMAL_MAPPING.replace('{glob: "proj_eng_*"}', '{regex: "proj_(eng"}'), "19", "regular"),
    "unknown dimension": (
        MINIMAL_MAPPING.replace("{project: proj_support_assistant}", "{projet: x}"),
        "15",
        "unknown dimension",
    ),
    "unknown category": (
        MINIMAL_MAPPING.replace("category: rnd\n  - id: shared", "category: research\n  - id: shared"),
        "20",
        "unknown category",
    ),
    "wrong version type": (
        MINIMAL_MAPPING.replace("mapping_version: 1", "mapping_version: one"),
        "1",
        "positive integer",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_mapping_names_the_file_line_and_fix(case):
    text, line, words = BROKEN[case]
    parsed, problems = parse_mapping(text, "mappings/broken.yaml")
    assert parsed is None
    assert problems, case
    rendered = [str(p) for p in problems]
    assert any(words in r for r in rendered), rendered
    assert all(r.startswith("mappings/broken.yaml") for r in rendered)
    if line:
        assert any(f"mappings/broken.yaml:{line}:" in r for r in rendered), rendered

"""Rules that can never place a dollar are found; rules that can are never accused."""

import re

import pytest

from connector.domain.errors import errors_only
from connector.domain.mapping_parser import parse_mapping
from connector.domain.regex_samples import can_match
from connector.domain.rule_analysis import glob_covers
from tests.support import MINIMAL_MAPPING

HEAD = MINIMAL_MAPPING.split("rules:\n")[0] + "rules:\n"


def problems(*rules: str) -> list[str]:
    """Problems of a mapping whose rules are given as `when` conditions, one rule each (ids r1, r2 …)."""
    body = "".join(
        f"  - id: r{i}\n    when: {when}\n    category: rnd\n" for i, when in enumerate(rules, start=1)
    )
    _, found = parse_mapping(HEAD + body, "m.yaml")
    return [f"{p.field or p.location}: {p.message}" for p in errors_only(found)]


SHADOWED = {
    "the same condition twice": ("{project: proj_a}", "{project: proj_a}"),
    "an exact value inside an earlier list": ("{project: [proj_a, proj_b]}", "{project: proj_b}"),
    "a list inside an earlier list": ("{project: {one_of: [a, b, c]}}", "{project: {one_of: [c, a]}}"),
    "an exact value an earlier glob covers": ('{project: {glob: "proj_*"}}', "{project: proj_x}"),
    "a narrower glob": ('{project: {glob: "proj_*"}}', '{project: {glob: "proj_eng_*"}}'),
    "a glob with ? inside a wider glob": ('{project: {glob: "p*"}}', '{project: {glob: "pr?j_*"}}'),
    "an earlier rule with fewer conditions": ("{provider: openai}", "{provider: openai, project: proj_a}"),
    "a regex an earlier literal-prefix glob covers": (
        '{model: {glob: "gpt-*"}}',
        '{model: {regex: "^gpt-4o"}}',
    ),
    "a regex an earlier prefix regex covers": (
        '{model: {regex: "^gpt"}}',
        '{model: {regex: "^gpt-4(o|\\\\.1)"}}',
    ),
    "the same regex": ('{model: {regex: "mini$"}}', '{model: {regex: "mini$"}}'),
    "anything after a catch-all glob": ('{project: {glob: "*"}}', '{project: {regex: "^x"}}'),
    "a tag written both ways": ("{tags: {team: growth}}", '{"tag:team": growth, project: x}'),
    "null values in an earlier list": (
        "{workspace: [null, wrk_a]}",
        "{workspace: null, provider: anthropic}",
    ),
}


@pytest.mark.parametrize("case", sorted(SHADOWED))
def test_a_rule_an_earlier_rule_always_takes_first_is_reported_as_unreachable(case):
    first, second = SHADOWED[case]
    assert problems(first, second) == [
        "r2: this rule can never be reached: the earlier rule 'r1' (line 14) matches every cost it would "
        "match, and the first match wins"
    ]


REACHABLE = {
    "the narrow rule first": ("{project: proj_x}", '{project: {glob: "proj_*"}}'),
    "different dimensions": ("{project: proj_a}", "{workspace: proj_a}"),
    "an earlier rule with an extra condition": ("{provider: openai, project: proj_a}", "{project: proj_a}"),
    "a list only partly covered": ("{project: [a, b]}", "{project: [b, c]}"),
    "overlapping globs": ('{project: {glob: "proj_*"}}', '{project: {glob: "*_eng"}}'),
    "a ? glob is narrower than *": ('{project: {glob: "pr?j_*"}}', '{project: {glob: "p*"}}'),
    "a case-insensitive regex": ('{model: {glob: "gpt-*"}}', '{model: {regex: "(?i)^gpt-4"}}'),
    "an unanchored regex": ('{model: {glob: "gpt-*"}}', '{model: {regex: "gpt-4"}}'),
    "a glob never matches null": ('{workspace: {glob: "*"}}', "{workspace: null}"),
    "two unrelated regexes": ('{model: {regex: "^o[0-9]"}}', '{model: {regex: "mini"}}'),
}


@pytest.mark.parametrize("case", sorted(REACHABLE))
def test_a_rule_some_cost_can_reach_is_not_reported(case):
    assert problems(*REACHABLE[case]) == []


def test_a_list_is_unreachable_when_earlier_rules_take_each_of_its_values():
    found = problems("{project: proj_a}", '{project: {glob: "eng_*"}}', "{project: [eng_x, proj_a]}")
    assert found == [
        "r3: this rule can never be reached: the earlier rules 'r1' (line 14), 'r2' (line 17) together match "
        "every cost it would match, and the first match wins"
    ]
    assert problems("{project: proj_a}", "{project: [eng_x, proj_a]}") == []


NEVER = {
    "a value every cost has, tested for null": ("{provider: null}", "every cost has a provider"),
    "a cost basis that does not exist": (
        "{cost_basis: actual}",
        "cost_basis is always one of billed, estimated",
    ),
    "a charge category that does not exist": (
        "{charge_category: refund}",
        "charge_category is always one of",
    ),
    "an entity not in the file": ("{entity: acme-uk}", "entity is always one of acme-us"),
    "a currency in lower case": ("{currency: usd}", "currency = 'usd' matches none of them"),
    "a glob no currency matches": ('{currency: {glob: "us*"}}', "matches none of them"),
    "two values of one tag": ('{tags: {team: a}, "tag:team": b}', "no cost can satisfy both"),
    "a value and a list without it": ('{tags: {team: a}, "tag:team": [b, c]}', "no cost can satisfy both"),
    "a value a regex excludes": ('{tags: {team: a}, "tag:team": {regex: "^b"}}', "no cost can satisfy both"),
    "an anchor in the middle": ('{model: {regex: "^gpt$-4"}}', "cannot match any text"),
    "a start anchor after text": ('{model: {regex: "gpt^"}}', "cannot match any text"),
    "an empty character class": ('{model: {regex: "[^\\\\s\\\\S]"}}', "cannot match any text"),
}


@pytest.mark.parametrize("case", sorted(NEVER))
def test_a_rule_no_cost_can_match_is_reported(case):
    when, words = NEVER[case]
    [found] = problems(when)
    assert words in found
    assert "can never match" in found


@pytest.mark.parametrize(
    "pattern",
    [r"^proj_(website|marketing)_", r"(?i)batch", r"[^a-z]+$", r"^\d{3}-\w+$", r"^$", r"x{0}$"],
)
def test_regexes_that_can_match_are_not_accused(pattern):
    assert can_match(re.compile(pattern)) is True


# an anchor inside an alternation (`a|b^`) needs a regex parser to place; the analysis has none (it reads
# no private part of `re`), so it says "don't know" there rather than guess
@pytest.mark.parametrize("pattern", [r"\bfoo\b", r"(?=a)b", r"(?<=a)b", r"(a)\1", r"a|b^"])
def test_regexes_the_analysis_cannot_judge_are_left_alone(pattern):
    assert can_match(re.compile(pattern)) is None
    assert problems(f'{{model: {{regex: "{pattern.replace(chr(92), chr(92) * 2)}"}}}}') == []


@pytest.mark.parametrize(
    ("wide", "narrow", "covers"),
    [
        ("*", "anything*", True),
        ("a*b", "a?x*b", True),
        ("a*b", "a*", False),
        ("a?", "a*", False),
        ("*x*", "ab*x?c", True),
        ("[ab]*", "a*", False),  # classes are only compared for equality
        ("[ab]*", "[ab]*", True),
    ],
)
def test_glob_inclusion_is_sound(wide, narrow, covers):
    assert glob_covers(wide, narrow) is covers


def test_the_analysis_reads_no_private_part_of_re():
    """`re._parser` (and `sre_parse` before it) is private and changes across Python versions."""
    import inspect

    from connector.domain import regex_samples, rule_analysis

    for module in (regex_samples, rule_analysis):
        source = inspect.getsource(module)
        assert not re.search(r"re\._parser|sre_parse|re\._constants|sre_constants", source), module.__name__

"""The mapping: first match wins, splits are penny-exact, nothing is dropped, errors say file:line."""

from decimal import Decimal
from pathlib import Path

from connector.domain.classifier import Classifier
from connector.domain.mapping_parser import parse_mapping
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


def test_golden_the_example_mapping_places_each_kind_of_spend_exactly():
    example = mapping(EXAMPLE.read_text(), "example.yaml")
    facts = [
        fact("12.345678", project="proj_support_assistant"),
        fact("3.00", provider="anthropic", project=None, workspace="wrkspc_product_support"),
        fact("100.00", project="proj_platform_shared"),
        fact("7.50", project="proj_eng_evals"),
        fact("4.20", provider="anthropic", project=None, workspace="wrkspc_claude_code"),
        fact("1.00", provider="anthropic", project=None, workspace=None),
        fact("2.00", project="proj_demo_env"),
        fact("0.99", project="proj_website_chat"),
        fact("8.00", provider="aws", project=None, **{"tag:team": "marketing"}),
        fact("1.11", project="proj_finance_ops"),
        fact("60.00", provider="azure", project=None, sku="chatgpt-enterprise-seat"),
        fact("5.55", project="proj_hackathon_2026"),
    ]
    placed = [
        (a.rule_id, a.category.value, a.target.key(), a.amount, a.mapping_version)
        for a in Classifier(example).classify_all(facts)
    ]
    sa = "5010|class=Support Assistant|department=US"
    assert placed == [
        ("support-assistant", "cogs", sa, Decimal("12.345678"), 1),
        ("support-escalation-anthropic", "cogs", sa, Decimal("3.00"), 1),
        ("shared-platform", "cogs", "5010|class=Support Assistant", Decimal("70.00"), 1),
        ("shared-platform", "rnd", "6110|class=Engineering", Decimal("30.00"), 1),
        ("engineering-tools", "rnd", "6110|class=Engineering", Decimal("7.50"), 1),
        ("coding-agents-anthropic", "rnd", "6110|class=Engineering", Decimal("4.20"), 1),
        ("suspense", "suspense", "6190", Decimal("1.00"), 1),
        ("free-trial", "sales_marketing", "6120|class=Growth", Decimal("2.00"), 1),
        ("website-chat", "sales_marketing", "6120|class=Growth", Decimal("0.99"), 1),
        ("marketing-content", "sales_marketing", "6120|class=Growth", Decimal("8.00"), 1),
        ("back-office", "g_and_a", "6130|class=Back Office", Decimal("1.11"), 1),
        ("enterprise-licences", "g_and_a", "6130|class=Back Office", Decimal("60.00"), 1),
        ("suspense", "suspense", "6190", Decimal("5.55"), 1),
    ]


def test_the_commented_capitalization_rule_works_where_the_example_puts_it_and_only_there():
    text = EXAMPLE.read_text()
    block = text[
        text.index("  # - id: capitalize-billing-platform") : text.index("  - id: engineering-tools")
    ]
    rule = (
        "\n".join(line.replace("# ", "", 1) if line.strip() else line for line in block.splitlines()) + "\n"
    )
    enabled = text.replace(block, rule)
    [allocation] = Classifier(mapping(enabled)).classify(fact("9.00", project="proj_eng_billing_v2"))
    assert (allocation.rule_id, allocation.category.value, allocation.target.key()) == (
        "capitalize-billing-platform",
        "capitalize",
        "1650|class=Engineering",
    )
    below_the_glob = text.replace(block, "").replace(
        "  # Deliberately no rule", rule + "\n  # Deliberately no rule"
    )
    parsed, problems = parse_mapping(below_the_glob, "example.yaml")
    assert parsed is None
    assert "can never be reached: the earlier rule 'engineering-tools'" in str(problems[0])

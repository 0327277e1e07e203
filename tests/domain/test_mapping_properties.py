"""Properties of classification over generated mappings and facts: every dollar lands exactly once, the
rule index agrees with trying every rule in order, and a rule the analysis calls dead never matches."""

import itertools
from decimal import Decimal

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from connector.domain.classifier import Classifier
from connector.domain.errors import errors_only
from connector.domain.mapping import fact_values
from connector.domain.mapping_parser import parse_mapping
from tests.support import MINIMAL_MAPPING, fact

HEAD = MINIMAL_MAPPING.split("rules:\n")[0] + "rules:\n"

PROJECTS = ["p0", "p1", "p2", "p10", "q1", None]
MODELS = ["gpt-4o", "gpt-4.1", "o3", None]
WORKSPACES = ["w0", "w1", None]
TEAMS = ["a", "b", None]
PROVIDERS = ["openai", "anthropic"]
DIMENSIONS = {"project": PROJECTS, "model": MODELS, "workspace": WORKSPACES, "tag:team": TEAMS}
PATTERNS = {
    "project": ['{glob: "p*"}', '{glob: "p?"}', '{regex: "^p1"}', '{regex: "0$"}'],
    "model": ['{glob: "gpt-*"}', '{regex: "^gpt-4"}', '{regex: "^o"}'],
    "workspace": ['{glob: "w*"}'],
    "tag:team": ['{regex: "^[ab]$"}'],
}


def yaml_value(value):
    return "null" if value is None else value


@st.composite
def conditions(draw):
    names = draw(st.lists(st.sampled_from([*DIMENSIONS, "provider"]), min_size=1, max_size=2, unique=True))
    parts = []
    for name in names:
        values = PROVIDERS if name == "provider" else DIMENSIONS[name]
        kind = draw(
            st.sampled_from(["exact", "one_of", "pattern"] if name in PATTERNS else ["exact", "one_of"])
        )
        if kind == "exact":
            text = yaml_value(draw(st.sampled_from(values)))
        elif kind == "one_of":
            chosen = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True))
            text = "[" + ", ".join(yaml_value(v) for v in chosen) + "]"
        else:
            text = draw(st.sampled_from(PATTERNS[name]))
        parts.append(f'"{name}": {text}')
    return "{" + ", ".join(parts) + "}"


@st.composite
def destinations(draw):
    categories = ["cogs", "rnd", "sales_marketing", "g_and_a"]
    shares = draw(st.integers(min_value=1, max_value=3))
    if shares == 1:
        return f"    category: {draw(st.sampled_from(categories))}\n"
    cuts = sorted(draw(st.lists(st.integers(1, 9999), min_size=shares - 1, max_size=shares - 1, unique=True)))
    bounds = [0, *cuts, 10000]
    lines = [
        f"      - {{percent: {Decimal(b - a) / 100}, category: {draw(st.sampled_from(categories))}}}\n"
        for a, b in itertools.pairwise(bounds)
    ]
    return "    split:\n" + "".join(lines)


@st.composite
def mapping_texts(draw):
    count = draw(st.integers(min_value=1, max_value=6))
    rules = [f"  - id: r{i}\n    when: {draw(conditions())}\n{draw(destinations())}" for i in range(count)]
    return HEAD + "".join(rules)


amounts = st.decimals(min_value=Decimal("-100"), max_value=Decimal("10000"), places=6, allow_nan=False)


@st.composite
def facts(draw):
    dims = {name: draw(st.sampled_from(values)) for name, values in DIMENSIONS.items()}
    return fact(
        str(draw(amounts)),
        provider=draw(st.sampled_from(PROVIDERS)),
        line_item=f"item-{draw(st.integers(0, 10**6))}",
        **dims,
    )


def without_dead_rules(text: str):
    """The mapping with the rules the analysis reports removed (so it is valid), and those rules' ids."""
    _, problems = parse_mapping(text, "generated.yaml")
    dead = {p.field.split(".")[0] for p in errors_only(problems)}
    kept = [block for block in text.split("  - id: ")[1:] if block.split("\n")[0] not in dead]
    return HEAD + "".join("  - id: " + block for block in kept), dead


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(text=mapping_texts(), batch=st.lists(facts(), min_size=1, max_size=40))
def test_every_fact_is_allocated_exactly_once_and_the_shares_sum_to_it(text, batch):
    valid, _ = without_dead_rules(text)
    mapping, _ = parse_mapping(valid, "generated.yaml")
    assume(mapping is not None)
    allocations = Classifier(mapping).classify_all(batch)
    assert sum(a.amount for a in allocations) == sum(f.amount for f in batch)  # Σ allocations = Σ facts
    for f in batch:
        mine = [a for a in allocations if a.fact is f]
        assert sum(a.amount for a in mine) == f.amount
        [rule_id] = {a.rule_id for a in mine}  # one rule placed the whole fact
        rule = mapping.rule(rule_id)
        assert len(mine) == (len(rule.destinations) if rule else 1)  # one share per split line, no more


@SETTINGS
@given(text=mapping_texts(), batch=st.lists(facts(), min_size=1, max_size=40))
def test_the_rule_index_finds_the_same_first_match_as_trying_every_rule_in_order(text, batch):
    mapping, _ = parse_mapping(text, "generated.yaml", analyse=False)
    assume(mapping is not None)
    classifier = Classifier(mapping)
    for f in batch:
        first = next((r.id for r in mapping.rules if r.matches_values(fact_values(f))), "suspense")
        assert classifier.decide(f)[0] == first


@SETTINGS
@given(text=mapping_texts(), batch=st.lists(facts(), min_size=1, max_size=60))
def test_a_rule_the_analysis_reports_as_dead_never_places_a_fact(text, batch):
    _, dead = without_dead_rules(text)
    mapping, _ = parse_mapping(text, "generated.yaml", analyse=False)
    assume(mapping is not None)
    placed = {a.rule_id for a in Classifier(mapping).classify_all(batch)}
    assert not placed & dead

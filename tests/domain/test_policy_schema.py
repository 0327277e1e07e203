"""The policies JSON Schema: generated from the parser's vocabulary, committed, accepting the shipped example
and refusing what the parser refuses."""

import json
from datetime import date
from pathlib import Path

import jsonschema
import pytest
import yaml

from connector.domain.policy_file import parse_policies
from connector.domain.policy_schema import policy_schema

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
HEAD = "policy_version: 1\neffective_from: 2026-01-01\nchange_note: x\n"


def errors(text: str) -> list[str]:
    document = json.loads(json.dumps(yaml.safe_load(text), default=str))
    return [e.message for e in jsonschema.Draft202012Validator(policy_schema()).iter_errors(document)]


def test_the_committed_schema_is_the_generated_one():
    committed = json.loads((MAPPINGS / "policies.schema.json").read_text())
    assert committed == policy_schema(), (
        "run `tokenbooks policies schema --output mappings/policies.schema.json`"
    )
    jsonschema.Draft202012Validator.check_schema(committed)


def test_the_example_validates_parses_and_points_editors_at_the_schema():
    text = (MAPPINGS / "policies.yaml").read_text()
    assert errors(text) == []
    assert parse_policies(text, "policies.yaml")[1] == []
    assert text.startswith("# yaml-language-server: $schema=./policies.schema.json\n")


@pytest.mark.parametrize(
    "body",
    [
        "defaults: {billing: postpaid}\n",
        "defaults: {posting_mode: later}\n",
        "defaults: {capitalization: {useful_life_months: 0}}\n",
        "defaults: {expected_breakage_percent: {api: 120}}\n",
        "defaults: {billling: prepaid}\n",
        "entities: {acme-us: {accounts: [{account: org-1}]}}\n",
        "defaults: {capitalization: {amortization_role: marketing}}\n",
        "entities: {acme-us: {accounts: [{provider: aws, no_cost_days: [monday]}]}}\n",
        "entities: {acme-us: {accounts: [{provider: aws, no_cost_days: 2026-11-30}]}}\n",
        "entities: {acme-us: {no_cost_days: [2026-11-30]}}\n",  # a day of an account, not of every one
    ],
)
def test_shapes_the_parser_refuses_the_schema_refuses_too(body):
    assert errors(HEAD + body), body
    policies, problems = parse_policies(HEAD + body, "p.yaml")
    assert problems or policies is None, body


def test_the_days_a_controller_confirms_an_account_had_no_spend_are_read_as_days():
    body = 'entities: {acme-us: {accounts: [{provider: aws, account: "1", no_cost_days: [2026-11-30, 2026-11-02]}]}}\n'
    assert errors(HEAD + body) == []
    policies, problems = parse_policies(HEAD + body, "p.yaml")
    assert problems == []
    assert policies is not None
    entry = policies.entity("acme-us").account("aws", "1")
    assert entry.no_cost_days == (date(2026, 11, 2), date(2026, 11, 30))
    assert policies.entity("acme-us").account("openai", "org-1").no_cost_days == ()

"""The JSON Schema editors use: generated from the parser's own vocabulary, committed, and it accepts the
shipped example and refuses the shapes the parser refuses."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from connector.domain.mapping_schema import mapping_schema
from tests.domain.test_broken_mappings import BROKEN_DIR

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


def as_json(path: Path):
    """The file as an editor's YAML server sees it (dates are text)."""
    return json.loads(json.dumps(yaml.safe_load(path.read_text()), default=str))


def errors(document) -> list[str]:
    validator = jsonschema.Draft202012Validator(mapping_schema())
    return [e.message for e in validator.iter_errors(document)]


def test_the_committed_schema_is_the_generated_one():
    committed = json.loads((MAPPINGS / "schema.json").read_text())
    assert committed == mapping_schema(), "run `tokenbooks mappings schema --output mappings/schema.json`"
    jsonschema.Draft202012Validator.check_schema(committed)


def test_the_example_validates_and_points_editors_at_the_schema():
    assert errors(as_json(MAPPINGS / "example.yaml")) == []
    assert (
        (MAPPINGS / "example.yaml").read_text().startswith("# yaml-language-server: $schema=./schema.json\n")
    )


@pytest.mark.parametrize(
    "name",
    [
        "wrong_type_version",
        "wrong_type_percent",
        "wrong_type_rules",
        "unknown_role",
        "unknown_dimension",
        "unknown_category",
        "unknown_key",
        "bad_ledger",
        "missing_suspense",
    ],
)
def test_shapes_the_parser_refuses_the_schema_refuses_too(name):
    assert errors(as_json(BROKEN_DIR / f"{name}.yaml")), name

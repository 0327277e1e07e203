"""Contract checks against the official specs in ../shared/specs (OpenAI usage/costs, Xero accounting)."""

from __future__ import annotations

import functools
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from tests.support import SHARED


@functools.cache
def _spec(name: str) -> dict[str, Any]:
    return yaml.safe_load((SHARED / "specs" / name).read_text())


def openai_schema_errors(document: Any, schema: str = "UsageResponse") -> list[str]:
    """Every way `document` breaks the OpenAI spec's schema (empty when it conforms)."""
    spec = _spec("openai_usage_costs.yaml")
    validator = Draft202012Validator(
        {"$ref": f"#/components/schemas/{schema}", "components": spec["components"]}
    )
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]

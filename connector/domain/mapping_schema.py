"""The JSON Schema of the mapping format, so editors validate a mapping as the controller types.

Generated from the same constants the parser uses (roles, categories, dimensions, ledgers), so the schema
and `tokenbooks mappings check` cannot drift apart; `mappings/schema.json` is this schema, committed
(a test keeps it equal), and `mappings/example.yaml` points editors at it with a
`# yaml-language-server: $schema=./schema.json` line. The schema catches shapes and spellings; the
checks that need the whole file or the ledger (shadowed rules, splits summing to 100, accounts that
exist) are `tokenbooks mappings check`.
"""

from __future__ import annotations

from typing import Any

from connector.domain.ledger_targets import TARGETS, TargetShape
from connector.domain.mapping import MATCHABLE, REQUIRED_ROLES, ROLES, Category

SCHEMA_ID = "https://tokenbooks.dev/schemas/mapping.schema.json"


def mapping_schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "tokenbooks chart-of-accounts mapping",
        "description": "Where each kind of AI spend lands in the ledger. See docs/mapping-guide.md.",
        "type": "object",
        "additionalProperties": False,
        "required": ["mapping_version", "effective_from", "change_note", "entities", "roles"],
        "properties": {
            "mapping_version": {
                "type": "integer",
                "minimum": 1,
                "description": "Raise by one with every change (allocations record it).",
            },
            "effective_from": {
                "type": "string",
                "pattern": r"^\d{4}-\d{2}-\d{2}$",
                "description": "First day this version applies to; an earlier date reclassifies the past.",
            },
            "change_note": {"type": "string", "minLength": 1, "description": "Why this version exists."},
            "entities": _entities(),
            "roles": _roles(),
            "rules": {"type": "array", "items": {"$ref": "#/$defs/rule"}},
            "suspense": _destination_overrides("Where unmatched spend goes, if not the suspense role."),
        },
        "$defs": {
            "account": {"type": ["string", "integer"], "description": "Account number, name or code."},
            **{f"{shape.ledger}_target": _target(shape) for shape in TARGETS},
            "condition": _condition(),
            "rule": _rule(),
            "split_line": _split_line(),
        },
    }


def _entities() -> dict[str, Any]:
    return {
        "type": "object",
        "minProperties": 1,
        "description": "Each company tokenbooks posts for, keyed by entity id.",
        "additionalProperties": {
            "type": "object",
            "additionalProperties": False,
            "required": ["ledger"],
            "properties": {
                "name": {"type": "string"},
                "ledger": {"enum": list(TARGETS.names())},
                "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$"},
                "timezone": {"type": "string", "description": "IANA name, e.g. America/New_York."},
            },
        },
    }


def _roles() -> dict[str, Any]:
    binding = {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            **_ledger_targets(),
        },
    }
    return {
        "type": "object",
        "description": "Account roles bound to each ledger's real accounts.",
        "required": list(REQUIRED_ROLES),
        "additionalProperties": False,
        "properties": {role: {**binding, "description": text} for role, text in ROLES.items()},
    }


def _ledger_targets() -> dict[str, Any]:
    """A target per registered ledger (`<ledger>: <target>`)."""
    return {name: {"$ref": f"#/$defs/{name}_target"} for name in TARGETS.names()}


def _target(shape: TargetShape) -> dict[str, Any]:
    """An account on its own, or an object naming the account (optional: the role's) and the ledger's extras."""
    account: dict[str, Any] = {"$ref": "#/$defs/account"}
    detailed = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"account": account, **shape.schema.get("properties", {})},
    }
    return {"description": shape.schema.get("description", shape.title), "oneOf": [account, detailed]}


def _condition() -> dict[str, Any]:
    values = {"type": ["string", "integer", "null"]}
    return {
        "description": "A value (null = not grouped), a list (any of), or {glob}, {regex}, {one_of}.",
        "oneOf": [
            values,
            {"type": "array", "items": values, "minItems": 1},
            _operator("glob", {"type": "string"}),
            _operator("regex", {"type": "string"}),
            _operator("one_of", {"type": "array", "items": values, "minItems": 1}),
        ],
    }


def _operator(name: str, operand: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [name],
        "properties": {name: operand},
    }


def _rule() -> dict[str, Any]:
    dimensions: dict[str, Any] = {name: {"$ref": "#/$defs/condition"} for name in MATCHABLE}
    dimensions["tags"] = {"type": "object", "additionalProperties": {"$ref": "#/$defs/condition"}}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "when"],
        "oneOf": [{"required": ["category"]}, {"required": ["split"]}],
        "properties": {
            "id": {"type": "string", "minLength": 1, "not": {"const": "suspense"}},
            "description": {"type": "string"},
            "when": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": False,
                "properties": dimensions,
                "patternProperties": {"^tag:.+$": {"$ref": "#/$defs/condition"}},
            },
            "category": {"enum": [c.value for c in Category]},
            "split": {"type": "array", "minItems": 2, "items": {"$ref": "#/$defs/split_line"}},
            **_ledger_targets(),
        },
    }


def _split_line() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["percent", "category"],
        "properties": {
            "percent": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
            "category": {"enum": [c.value for c in Category]},
            **_ledger_targets(),
        },
    }


def _destination_overrides(description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "description": description,
        "properties": {
            **_ledger_targets(),
        },
    }

"""The JSON Schema of the accounting policies file, so editors validate it as the controller types.

Generated from the parser's own keys and enumerations, so the schema and `tokenbooks policies check`
cannot drift apart; `mappings/policies.schema.json` is this schema, committed (a test keeps it equal),
and `mappings/policies.yaml` points editors at it. The schema catches shapes and spellings; what needs
the mapping or the store (roles bound, version numbers, the rates file) is `tokenbooks policies check`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from connector.domain.accounting_policy import (
    AccrualStyle,
    AmortizationStart,
    Billing,
    FineTuning,
    FxSource,
    PostingMode,
)
from connector.domain.mapping import ROLES
from connector.domain.planner import LockedBehaviour
from connector.domain.policy_file import EXPENSE_CATEGORIES
from connector.domain.posting_buckets import Granularity

SCHEMA_ID = "https://tokenbooks.dev/schemas/policies.schema.json"


def _choice(kind: type[StrEnum], description: str) -> dict[str, Any]:
    return {"type": "string", "enum": [k.value for k in kind], "description": description}


def _number(low: int, high: int | None = None, description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "number", "minimum": low, "description": description}
    return schema if high is None else schema | {"maximum": high}


def _account_keys() -> dict[str, Any]:
    return {
        "billing": _choice(
            Billing, "arrears: accrue usage; prepaid: draw it from credit lots, FIFO by expiry"
        ),
        "accrual": _choice(AccrualStyle, "daily deltas, or one month-end accrual reversed on the next day"),
        "granularity": _choice(Granularity, "one accrual per usage day, or per month (posted once it ended)"),
        "invoice_tolerance": {
            "description": "the invoice variance a true-up posts without approval (the larger applies)",
            "oneOf": [
                _number(0, None, "an amount in the invoice's currency"),
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "absolute": _number(0, None, "an amount"),
                        "percent": _number(0, 100, "a percentage of the invoice"),
                    },
                },
            ],
        },
    }


def _entity_keys() -> dict[str, Any]:
    return {
        **_account_keys(),
        "posting_mode": _choice(
            PostingMode, "auto, draft (Xero DRAFT; held in tokenbooks for QuickBooks), approve"
        ),
        "locked_period": _choice(LockedBehaviour, "post on the first open day, or hold for approval"),
        "capitalization": {
            "type": "object",
            "additionalProperties": False,
            "description": "ASC 350-40: fine-tuning, useful life, when amortization starts, its expense role",
            "properties": {
                "fine_tuning": _choice(
                    FineTuning, "fine-tuning spend expensed or capitalized, once and for all"
                ),
                "fine_tuning_patterns": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "useful_life_months": {"type": "integer", "minimum": 1, "maximum": 600},
                "amortization_start": _choice(
                    AmortizationStart, "in service the month after, or the same month"
                ),
                "amortization_role": {"type": "string", "enum": sorted(ROLES)},
                "projects": {
                    "type": "object",
                    "description": "per capitalize rule of the mapping: its project's go-live, life and "
                    "the category its spend goes to once in service (ASC 350-40)",
                    "additionalProperties": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["expensed_as"],
                        "properties": {
                            "in_service": {
                                "type": "string",
                                "pattern": r"^\d{4}-\d{2}-\d{2}$",
                                "description": "go-live: capitalization stops, amortization starts",
                            },
                            "useful_life_months": {"type": "integer", "minimum": 1, "maximum": 600},
                            "expensed_as": {"type": "string", "enum": list(EXPENSE_CATEGORIES)},
                        },
                    },
                },
            },
        },
        "expected_breakage_percent": {
            "type": "object",
            "description": "per product of credits you sell (and `default`): the share expected never redeemed",
            "additionalProperties": _number(0, 100),
        },
        "fx": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "source": _choice(
                    FxSource, "the rates file, or the ledger's rate of the day where it has one"
                ),
                "rates_file": {
                    "type": "string",
                    "description": "CSV date,from,to,rate,source, beside the policies",
                },
            },
        },
    }


def policy_schema() -> dict[str, Any]:
    account = {
        "type": "object",
        "additionalProperties": False,
        "required": ["provider"],
        "properties": {
            "provider": {"type": "string", "description": "openai, anthropic, aws … or a glob"},
            "account": {"type": "string", "description": "the provider account, or a glob (default *)"},
            **_account_keys(),
            "no_cost_days": {
                "type": "array",
                "description": "days the account had no spend, as a controller confirms (the close's check)",
                "items": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
            },
        },
    }
    entity = {
        "type": "object",
        "additionalProperties": False,
        "properties": {**_entity_keys(), "accounts": {"type": "array", "items": {"$ref": "#/$defs/account"}}},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "tokenbooks accounting policies",
        "description": "How and when AI spend is booked. See docs/accounting-policies.md.",
        "type": "object",
        "additionalProperties": False,
        "required": ["policy_version", "effective_from", "change_note"],
        "properties": {
            "policy_version": {
                "type": "integer",
                "minimum": 1,
                "description": "Raise by one with every change.",
            },
            "effective_from": {
                "type": "string",
                "pattern": r"^\d{4}-\d{2}-\d{2}$",
                "description": "First day this version applies to; an earlier date re-plans from it.",
            },
            "change_note": {"type": "string", "minLength": 1, "description": "Why this version exists."},
            "defaults": {"$ref": "#/$defs/entity"},
            "entities": {"type": "object", "additionalProperties": {"$ref": "#/$defs/entity"}},
        },
        "$defs": {"entity": entity, "account": account},
    }

"""Provider fixtures in their documented shapes (../shared/reference/providers.md, the OpenAI spec, FOCUS 1.2).

OpenAI documents are checked against the spec by the tests that use them; Anthropic documents follow the
examples of the Admin API reference; FOCUS rows use the FOCUS 1.2 column names.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from connector.retrying import RetryPolicy, no_sleep
from connector.sources.anthropic import AnthropicSource
from connector.sources.http import HttpClient
from connector.sources.prices import load_catalog

OPENAI = "https://openai.test/v1"
ANTHROPIC = "https://anthropic.test"


def client(base: str, name: str = "provider", retries: int = 1) -> HttpClient:
    return HttpClient(
        name=name,
        base_url=base,
        headers={},
        timeout=5,
        retry=RetryPolicy(retries, sleep=no_sleep),
        credential_hint="TOKENBOOKS_TEST__ADMIN_KEY",
    )


def unix(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def rfc3339(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


# ------------------------------------------------------------------------------------------------ OpenAI


def openai_page(*buckets, next_page=None) -> dict:
    return {
        "object": "page",
        "data": list(buckets),
        "has_more": next_page is not None,
        "next_page": next_page,
    }


def openai_bucket(day: date, *results) -> dict:
    return {
        "object": "bucket",
        "start_time": unix(day),
        "end_time": unix(day + timedelta(days=1)),
        "results": list(results),
    }


def openai_cost(value, project="proj_a", line_item="gpt-4.1, input", currency="usd", api_key=None) -> dict:
    return {
        "object": "organization.costs.result",
        "amount": {"value": value, "currency": currency},
        "line_item": line_item,
        "project_id": project,
        "api_key_id": api_key,
    }


def openai_completions(
    input_tokens=1000, output_tokens=500, *, project="proj_a", key="key_a", model="gpt-4.1", **more
) -> dict:
    return {
        "object": "organization.usage.completions.result",
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "num_model_requests": 5,
        "project_id": project,
        "user_id": None,
        "api_key_id": key,
        "model": model,
        "batch": False,
        "service_tier": "default",
        **more,
    }


# --------------------------------------------------------------------------------------------- Anthropic


def anthropic_source(timezone: str = "UTC") -> AnthropicSource:
    """An Anthropic source over the test base URL, pricing from the shipped catalog."""
    return AnthropicSource(
        client(ANTHROPIC, "Anthropic"),
        organization="org-1",
        entity="acme-us",
        timezone=timezone,
        catalog=load_catalog(),
    )


def anthropic_page(*buckets, next_page=None) -> dict:
    return {"data": list(buckets), "has_more": next_page is not None, "next_page": next_page}


def anthropic_bucket(day: date, *results) -> dict:
    return {
        "starting_at": rfc3339(day),
        "ending_at": rfc3339(day + timedelta(days=1)),
        "results": list(results),
    }


def anthropic_cost(
    amount="123.78912",
    *,
    workspace="wrkspc_01",
    model="claude-sonnet-4-20250514",
    token_type="uncached_input_tokens",
    tier="standard",
    cost_type="tokens",
    description="Claude Sonnet 4 Usage - Input Tokens",
) -> dict:
    return {
        "currency": "USD",
        "amount": amount,
        "workspace_id": workspace,
        "description": description,
        "cost_type": cost_type,
        "context_window": "0-200k" if cost_type == "tokens" else None,
        "model": model if cost_type == "tokens" else None,
        "service_tier": tier if cost_type == "tokens" else None,
        "token_type": token_type if cost_type == "tokens" else None,
    }


def anthropic_usage(
    key="apikey_01",
    *,
    workspace="wrkspc_01",
    model="claude-sonnet-4-20250514",
    tier="standard",
    uncached=1500,
    output=500,
    cache_read=200,
    cache_1h=1000,
    cache_5m=500,
    searches=0,
) -> dict:
    return {
        "uncached_input_tokens": uncached,
        "cache_creation": {"ephemeral_1h_input_tokens": cache_1h, "ephemeral_5m_input_tokens": cache_5m},
        "cache_read_input_tokens": cache_read,
        "output_tokens": output,
        "server_tool_use": {"web_search_requests": searches},
        "api_key_id": key,
        "workspace_id": workspace,
        "model": model,
        "service_tier": tier,
        "context_window": "0-200k",
    }


# ------------------------------------------------------------------------------------------------- FOCUS

FOCUS_COLUMNS = [
    "BilledCost",
    "BillingAccountId",
    "BillingCurrency",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountId",
    "ConsumedQuantity",
    "ConsumedUnit",
    "InvoiceId",
    "ProviderName",
    "RegionId",
    "ServiceCategory",
    "ServiceName",
    "SkuMeter",
    "SubAccountId",
    "Tags",
]


# FOCUS_COLUMNS and the columns that say what paid for a charge: commitments, fees, virtual currency
FOCUS_COMMITMENT_COLUMNS = [
    *FOCUS_COLUMNS,
    "EffectiveCost",
    "ChargeFrequency",
    "CommitmentDiscountStatus",
    "PricingCurrency",
    "SkuPriceId",
]


def focus_row(
    cost="1.25",
    *,
    hour=0,
    day=date(2026, 10, 1),
    category="Usage",
    charge_class="",
    account="123456789012",
    sub_account="prod",
    service="Amazon Bedrock",
    service_category="AI and Machine Learning",
    sku="USE1-Claude4.6Sonnet-input-tokens",
    tags='{"team": "support"}',
    invoice="",
    quantity="1000",
    period_start=None,
    end_hours=1,
    **overrides,
) -> dict:
    start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    row = {
        "BilledCost": cost,
        "BillingAccountId": account,
        "BillingCurrency": "USD",
        "BillingPeriodStart": period_start or f"{day:%Y-%m}-01T00:00:00Z",
        "ChargeCategory": category,
        "ChargeClass": charge_class,
        "ChargeDescription": "Claude input tokens",
        "ChargePeriodEnd": (start + timedelta(hours=end_hours)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ChargePeriodStart": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "CommitmentDiscountId": "",
        "ConsumedQuantity": quantity,
        "ConsumedUnit": "Tokens",
        "InvoiceId": invoice,
        "ProviderName": "AWS",
        "RegionId": "us-east-1",
        "ServiceCategory": service_category,
        "ServiceName": service,
        "SkuMeter": sku,
        "SubAccountId": sub_account,
        "Tags": tags,
    }
    row.update(overrides)
    return row


def focus_csv(path: Path, rows: list[dict], *, columns=None, bom=False, gz=False) -> Path:
    columns = columns or FOCUS_COLUMNS
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    text = ("\ufeff" if bom else "") + buffer.getvalue()
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def dumps(document) -> str:
    return json.dumps(document)

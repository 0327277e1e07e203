"""Provider names: the ids facts carry, the labels people read, and the names people write instead.

Sources name their provider (`openai`, `anthropic`); FOCUS exports name theirs by ProviderName
(`AWS` → `aws`, `Microsoft` → `azure`, `Google Cloud` → `gcp`, others lower-cased with dashes). A mapping
rule that tests `provider: google` would never match a Vertex AI cost, which arrives as `gcp`: the names
people commonly write for a provider are known here, so `mappings check` can say which id to write.
"""

from __future__ import annotations

from collections.abc import Iterable

from connector.domain.errors import Problem

LABELS = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "aws": "AWS Bedrock",
    "azure": "Azure OpenAI",
    "gcp": "Google Vertex AI",
    "software": "Capitalized software",  # amortization (domain/desired.py)
    "credits-sold": "Credits sold",  # revenue and breakage of credits sold to customers
}

# what people write → the id facts carry
MISNAMED = {
    "google": "gcp",
    "google-cloud": "gcp",
    "googlecloud": "gcp",
    "vertex": "gcp",
    "vertex-ai": "gcp",
    "vertexai": "gcp",
    "gemini": "gcp",
    "amazon": "aws",
    "amazon-web-services": "aws",
    "bedrock": "aws",
    "aws-bedrock": "aws",
    "microsoft": "azure",
    "azure-openai": "azure",
    "claude": "anthropic",
    "open-ai": "openai",
    "chatgpt": "openai",
}


def provider_label(provider: str) -> str:
    return LABELS.get(provider, provider)


def misnamed_providers(values: Iterable[tuple[str | None, int, str]], source: str) -> list[Problem]:
    """Problems for provider names facts never carry: (value, line, where) → the id to write instead."""
    problems = []
    for value, line, where in values:
        canonical = MISNAMED.get((value or "").strip().lower())
        if canonical:
            problems.append(
                Problem(
                    source,
                    str(line or ""),
                    where,
                    f"provider {value!r} never matches: facts name this provider {canonical!r} "
                    f"({LABELS[canonical]}; FOCUS exports and sources use that id)",
                    f"write provider: {canonical}",
                )
            )
    return problems

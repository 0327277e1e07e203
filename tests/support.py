"""Helpers shared by tests: facts, targets and mappings built in one line."""

from __future__ import annotations

import os
import socket
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import requests

from connector.domain.chart import LedgerAccount, LedgerChart, TrackingOption
from connector.domain.facts import Dimensions, Fact, natural_key
from connector.domain.journals import LedgerTarget
from connector.domain.mapping import MappingSet
from connector.domain.mapping_parser import parse_mapping
from connector.sandbox.qbo_seed import SEED_ACCOUNTS, SEED_CLASSES, SEED_DEPARTMENTS


def find_shared() -> Path:
    """The team's shared folder (specs, sample data): `$TOKENBOOKS_SHARED_DIR`, else `../shared` beside this
    checkout, else beside the repository it was cloned from (a fresh clone in a temp dir still finds it)."""
    repo = Path(__file__).resolve().parents[1]
    candidates = [os.environ.get("TOKENBOOKS_SHARED_DIR"), repo.parent / "shared"]
    origin = subprocess.run(
        ["git", "-C", str(repo), "remote", "get-url", "origin"], capture_output=True, text=True
    )
    if origin.returncode == 0 and origin.stdout.strip():
        candidates.append(Path(origin.stdout.strip()).expanduser().resolve().parent / "shared")
    for candidate in candidates:
        if candidate and (Path(candidate) / "specs").is_dir():
            return Path(candidate)
    raise FileNotFoundError(
        "the shared folder (specs and sample data) was not found beside the checkout or its origin; "
        "set TOKENBOOKS_SHARED_DIR to it"
    )


SHARED = find_shared()


def fact(
    amount: str | Decimal,
    day: date = date(2026, 10, 1),
    *,
    project: str | None = "proj_support_assistant",
    line_item: str | None = "gpt-4.1, output",
    entity: str = "acme-us",
    provider: str = "openai",
    account: str = "org-1",
    currency: str = "USD",
    **dims: str | None,
) -> Fact:
    return Fact(
        entity=entity,
        provider=provider,
        provider_account=account,
        charge_date=day,
        posting_date=day,
        amount=Decimal(amount),
        currency=currency,
        natural_key=natural_key(provider, account, "costs", day, project, line_item, *dims.values()),
        dimensions=Dimensions.of(project=project, line_item=line_item, **dims),
        source="openai.costs",
    )


def target(account: str, **kw: str) -> LedgerTarget:
    return LedgerTarget(account, kw.get("class_name"), kw.get("department"))


MINIMAL_MAPPING = """\
mapping_version: 1
effective_from: 2026-01-01
change_note: test mapping
entities:
  acme-us: {ledger: quickbooks, currency: USD, timezone: America/New_York}
roles:
  ai_cogs: {quickbooks: "5010"}
  rnd: {quickbooks: "6110"}
  sales_marketing: {quickbooks: "6120"}
  g_and_a: {quickbooks: "6130"}
  accrued_ai_costs: {quickbooks: "2150"}
  suspense: {quickbooks: "6190"}
rules:
  - id: support
    when: {project: proj_support_assistant}
    category: cogs
    quickbooks: {class: Support Assistant}
  - id: eng
    when: {project: {glob: "proj_eng_*"}}
    category: rnd
  - id: shared
    when: {project: proj_shared}
    split:
      - {percent: 40, category: cogs}
      - {percent: 30, category: rnd}
      - {percent: 30, category: g_and_a}
"""


# Every role the journal kinds use (tests/domain/test_accounting_examples.py, the policy tests), bound to
# the QuickBooks sandbox company's accounts.
EXTRA_ROLES = """\
  prepaid_ai_credits: {quickbooks: "1350"}
  loss_on_expired_credits: {quickbooks: "6195"}
  deferred_revenue: {quickbooks: "2450"}
  ai_usage_revenue: {quickbooks: "4100"}
  breakage_revenue: {quickbooks: "4150"}
  amortization_expense: {quickbooks: "6140"}
  accumulated_amortization: {quickbooks: "1655"}
  capitalized_software: {quickbooks: "1650"}
"""
SUSPENSE_ROLE = '  suspense: {quickbooks: "6190"}\n'
FULL_MAPPING = MINIMAL_MAPPING.replace(SUSPENSE_ROLE, SUSPENSE_ROLE + EXTRA_ROLES)


def mapping(text: str = MINIMAL_MAPPING, source: str = "test.yaml") -> MappingSet:
    parsed, problems = parse_mapping(text, source)
    assert not problems, [str(p) for p in problems]
    assert parsed is not None
    return parsed


# The chart of the QuickBooks sandbox company (connector/sandbox/qbo_seed.py), as the ledger port gives
# it, plus one class made inactive (the seed has none) for the tests of inactive tracking options.
CHART_ACCOUNTS = tuple(
    LedgerAccount(id_, name, number, type_, active) for id_, number, name, type_, _, active in SEED_ACCOUNTS
)
CHART_OPTIONS = (
    *(TrackingOption("class", id_, name) for id_, name in SEED_CLASSES),
    TrackingOption("class", "199", "Legacy Tools", active=False),
    *(TrackingOption("department", id_, name) for id_, name in SEED_DEPARTMENTS),
)


def chart(ledger: str = "quickbooks") -> LedgerChart:
    return LedgerChart(ledger, CHART_ACCOUNTS, CHART_OPTIONS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """Plays the person's browser: opens the consent page and follows the redirect to the local callback."""

    def __init__(self) -> None:
        self.visited: list[str] = []

    def open(self, url: str, *args, **kwargs) -> bool:
        self.visited.append(url)
        consent = requests.get(url, allow_redirects=False, timeout=5)
        assert consent.status_code == 302, consent.text
        back = requests.get(consent.headers["Location"], timeout=5)
        assert back.status_code == 200
        return True

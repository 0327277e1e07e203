"""The chart of accounts, classes and departments through the real QuickBooks adapter (python-quickbooks
over HTTP) against the local sandbox: what `mappings check` and every sync validate the mapping against."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.domain.chart import check_targets
from connector.ledgers.quickbooks.adapter import QuickBooksLedger
from connector.ledgers.tokens import MemoryVault, TokenManager, TokenSet
from connector.retrying import RetryPolicy
from connector.sandbox.common import ManualClock
from connector.sandbox.quickbooks import QuickBooksSandbox
from connector.service.mappings import fetch_chart
from tests.support import mapping

EXAMPLE = Path(__file__).resolve().parents[2] / "mappings" / "example.yaml"
NOW = datetime(2026, 10, 2, 2, 30, tzinfo=UTC)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[QuickBooksSandbox]:
    with QuickBooksSandbox(tmp_path / "qbo.json", clock=ManualClock(NOW)) as running:
        yield running


@pytest.fixture
def ledger(sandbox: QuickBooksSandbox, monkeypatch: pytest.MonkeyPatch) -> QuickBooksLedger:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the sandbox speaks plain http
    issued = sandbox.issue_tokens()
    vault = MemoryVault()
    vault.save(
        "quickbooks",
        "acme-us",
        TokenSet(
            issued["access_token"],
            issued["refresh_token"],
            NOW + timedelta(hours=1),
            company_id=issued["realm_id"],
        ),
    )

    def no_refresh(tokens: TokenSet) -> TokenSet:
        raise AssertionError("the access token is valid for the whole test")

    tokens = TokenManager(
        vault, ledger="quickbooks", entity="acme-us", refresher=no_refresh, clock=lambda: NOW
    )
    return QuickBooksLedger(base_url=sandbox.base_url, tokens=tokens, timeout=10, retry=RetryPolicy(1))


def test_the_chart_read_through_the_adapter_holds_accounts_classes_and_departments(ledger: QuickBooksLedger):
    chart = fetch_chart(ledger, "quickbooks", NOW)
    assert chart.account("5010").name == "AI COGS"
    assert chart.account("AI COGS").number == "5010"
    assert chart.account("6199").active is False
    assert {o.name for o in chart.options if o.kind == "class"} >= {
        "Support Assistant",
        "Engineering",
        "Growth",
    }
    assert {o.name for o in chart.options if o.kind == "department"} == {"US", "EU"}


def test_the_shipped_example_passes_against_the_sandbox_and_a_wrong_reference_does_not(
    ledger: QuickBooksLedger,
):
    chart = fetch_chart(ledger, "quickbooks", NOW)
    example = EXAMPLE.read_text()
    assert check_targets(mapping(example, "example.yaml"), "acme-us", chart) == []
    broken = example.replace('suspense: {quickbooks: "6190"', 'suspense: {quickbooks: "6199"').replace(
        "department: US}", "department: UK}"
    )
    found = [
        (p.location, p.message.split(" (chart")[0])
        for p in check_targets(mapping(broken, "example.yaml"), "acme-us", chart)
    ]
    uk = "department 'UK' does not exist in QuickBooks"
    assert found == [
        ("54", "account '6199' (6199 Legacy AI tools) is inactive in QuickBooks"),
        ("68", uk),  # support-assistant
        ("77", uk),  # document-search
        ("87", uk),  # support-escalation-anthropic
    ]

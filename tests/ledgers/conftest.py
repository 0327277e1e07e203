"""A running QuickBooks sandbox and a QuickBooksLedger connected to it through real OAuth tokens."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connector.ledgers.quickbooks import QuickBooksLedger, QuickBooksOAuth
from connector.ledgers.tokens import MemoryVault, TokenManager, TokenSet
from connector.retrying import RetryPolicy, no_sleep
from connector.sandbox.common import FaultPlan
from connector.sandbox.quickbooks import QuickBooksSandbox

ENTITY = "acme-us"


@pytest.fixture
def sandbox(tmp_path) -> Iterator[QuickBooksSandbox]:
    box = QuickBooksSandbox(tmp_path / "qbo.json", faults=FaultPlan(delay_seconds=0.6))
    box.start()
    yield box
    box.stop()


def oauth_for(box: QuickBooksSandbox) -> QuickBooksOAuth:
    return QuickBooksOAuth(
        client_id=box.client_id,
        client_secret=box.client_secret,
        redirect_uri="http://127.0.0.1:8765/callback",
        discovery_url=box.discovery_url,
        timeout=5,
    )


def connect(box: QuickBooksSandbox, vault: MemoryVault) -> TokenSet:
    issued = box.issue_tokens()
    tokens = TokenSet(
        access_token=issued["access_token"],
        refresh_token=issued["refresh_token"],
        access_expires_at=datetime.now(UTC) + timedelta(seconds=int(issued.get("expires_in", 3600))),
        company_id=box.realm_id,
    )
    vault.save("quickbooks", ENTITY, tokens)
    return tokens


@pytest.fixture
def vault() -> MemoryVault:
    return MemoryVault()


def make_ledger(
    box: QuickBooksSandbox,
    vault: MemoryVault,
    *,
    attempts: int = 4,
    timeout: float = 0.3,
    base_url: str | None = None,
) -> QuickBooksLedger:
    tokens = TokenManager(vault, ledger="quickbooks", entity=ENTITY, refresher=oauth_for(box).refresh)
    return QuickBooksLedger(
        base_url=base_url or box.base_url,
        tokens=tokens,
        minorversion=75,
        timeout=timeout,
        retry=RetryPolicy(attempts, sleep=no_sleep),
    )


@pytest.fixture
def ledger(sandbox: QuickBooksSandbox, vault: MemoryVault) -> QuickBooksLedger:
    connect(sandbox, vault)
    return make_ledger(sandbox, vault)

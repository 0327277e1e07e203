"""A running QuickBooks sandbox and a QuickBooksLedger connected to it through real OAuth tokens."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from connector.domain.journals import Journal, JournalKind, JournalLine, LedgerTarget, journal_key
from connector.ledgers.port import PostRequest
from connector.ledgers.quickbooks.adapter import QuickBooksLedger, QuickBooksOAuth, quickbooks_pacer
from connector.ledgers.tokens import MemoryVault, TokenManager, TokenSet
from connector.retrying import RetryPolicy, no_sleep
from connector.sandbox.common import FaultPlan
from connector.sandbox.quickbooks import QuickBooksSandbox
from connector.service.post import request_id_for

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
    **options,
) -> QuickBooksLedger:
    tokens = TokenManager(vault, ledger="quickbooks", entity=ENTITY, refresher=oauth_for(box).refresh)
    return QuickBooksLedger(
        base_url=base_url or box.base_url,
        tokens=tokens,
        minorversion=75,
        timeout=timeout,
        retry=options.pop("retry", None) or RetryPolicy(attempts, sleep=no_sleep),
        pacer=options.pop("pacer", None) or quickbooks_pacer(sleep=no_sleep),
        **options,
    )


def accrual(
    serial: int = 1,
    amount: str = "120.37",
    day: date = date(2026, 10, 3),
    account: str = "5010",
    *,
    currency: str = "USD",
    exchange_rate: Decimal | None = None,
    class_name: str | None = None,
    department: str | None = None,
) -> Journal:
    """A usage accrual: Dr `account` (with class/department), Cr Accrued AI costs (2150)."""
    key = journal_key(JournalKind.USAGE_ACCRUAL, day, serial)
    text = f"OpenAI usage accrual {day}"
    return Journal(
        key,
        ENTITY,
        JournalKind.USAGE_ACCRUAL,
        day,
        currency,
        (
            JournalLine(LedgerTarget(account, class_name, department), Decimal(amount), text),
            JournalLine(LedgerTarget("2150"), -Decimal(amount), text),
        ),
        memo=f"{key} · tokenbooks usage accrual",
        exchange_rate=exchange_rate,
    )


def request(journal: Journal, attempt: int = 1) -> PostRequest:
    return PostRequest(journal, request_id_for(ENTITY, journal.key, 1), attempt=attempt)


def batch_calls(box: QuickBooksSandbox) -> list[dict]:
    return [r for r in box.requests if r["method"] == "POST" and r["path"].endswith("/batch")]


@pytest.fixture
def ledger(sandbox: QuickBooksSandbox, vault: MemoryVault) -> QuickBooksLedger:
    connect(sandbox, vault)
    return make_ledger(sandbox, vault)


def wait_idle(box: QuickBooksSandbox, timeout: float = 3.0) -> None:
    """Let requests the client gave up on (timeouts) finish in the sandbox, so its request log is complete."""
    deadline = time.monotonic() + timeout
    while box.in_flight() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.05)

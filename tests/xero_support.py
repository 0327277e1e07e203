"""A running Xero sandbox on a manual clock, and everything a test builds on it (tokens, ledger, raw HTTP).

The adapter's sleeps move the sandbox clock (``XeroRig.sleep``), so rate limits, Retry-After and token
expiry play out in sandbox time and no test waits for real.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from connector.domain.journals import Journal, JournalKind, JournalLine, LedgerTarget
from connector.ledgers.tokens import MemoryVault, TokenManager, TokenSet, TokenVault
from connector.ledgers.xero.adapter import XeroLedger, xero_limiter
from connector.ledgers.xero.oauth import SCOPE_SETS, XeroOAuth
from connector.ledgers.xero.settings import XeroSettings
from connector.retrying import RetryPolicy
from connector.sandbox.common import FaultPlan, ManualClock, loads_exact
from connector.sandbox.xero import XeroSandbox
from connector.settings import Settings
from tests.contracts import xero_exchange_check

START = datetime(2026, 10, 6, 2, 30, tzinfo=UTC)
ENTITY = "acme-xero"
REDIRECT_URI = "http://127.0.0.1:8765/callback"
SCOPES = SCOPE_SETS["granular"]
PRODUCT_US = (("Product", "Support Assistant"), ("Region", "US"))


@dataclass
class XeroRig:
    box: XeroSandbox
    clock: ManualClock
    vault: TokenVault = field(default_factory=MemoryVault)

    def sleep(self, seconds: float) -> None:
        self.clock.advance(seconds=max(0.0, seconds))

    def now(self) -> datetime:
        return self.clock.now()

    def oauth(self, client_secret: str | None = None) -> XeroOAuth:
        return XeroOAuth(
            client_id=self.box.client_id,
            client_secret=client_secret or self.box.client_secret,
            redirect_uri=REDIRECT_URI,
            identity_url=self.box.base_url,
            login_url=self.box.base_url,
            connections_url=self.box.base_url,
            scopes=SCOPES,
            timeout=2,
            clock=self.now,
        )

    def connect(self, entity: str = ENTITY, tenant_id: str | None = None) -> TokenSet:
        """Tokens for a consent that just happened, saved in the vault as `tokenbooks connect` would."""
        issued = self.box.issue_tokens()
        tokens = TokenSet(
            access_token=issued["access_token"],
            refresh_token=issued["refresh_token"],
            access_expires_at=self.now() + timedelta(seconds=issued["expires_in"]),
            refresh_expires_at=self.now() + timedelta(days=60),
            company_id=tenant_id or issued["tenant_id"],
            scope=issued["scope"],
        )
        self.vault.save("xero", entity, tokens)
        return tokens

    def manager(self, entity: str = ENTITY, client_secret: str | None = None) -> TokenManager:
        oauth = self.oauth(client_secret)
        return TokenManager(self.vault, ledger="xero", entity=entity, refresher=oauth.refresh, clock=self.now)

    def ledger(
        self,
        *,
        attempts: int = 6,
        timeout: float = 2.0,
        base_url: str | None = None,
        tenant_id: str | None = None,
        client_secret: str | None = None,
        chunk_size: int = 50,
    ) -> XeroLedger:
        return XeroLedger(
            base_url=base_url or self.box.api_url,
            tokens=self.manager(client_secret=client_secret),
            client_id=self.box.client_id,
            client_secret=client_secret or self.box.client_secret,
            tenant_id=tenant_id,
            timeout=timeout,
            retry=RetryPolicy(attempts, sleep=self.sleep),
            limiter=xero_limiter(clock=self.now, sleep=self.sleep),
            chunk_size=chunk_size,
        )

    def settings(
        self, tmp_path: Path, mapping_file: Path, encryption_key: str | None = None, **xero: Any
    ) -> Settings:
        """Settings that point a whole tokenbooks at this sandbox."""
        base = self.box.base_url
        return Settings(
            database_url=f"sqlite:///{tmp_path / 'tb.db'}",
            encryption_key=encryption_key,
            mapping_file=mapping_file,
            data_dir=tmp_path,
            xero=XeroSettings(
                client_id=self.box.client_id,
                client_secret=self.box.client_secret,
                base_url=self.box.api_url,
                identity_url=base,
                connections_url=base,
                login_url=base,
                timeout_seconds=2,
                **xero,
            ),
            _env_file=None,
        )

    # --- raw HTTP, and what the sandbox saw ------------------------------------------------------------

    def api(self, method: str, path: str, *, token: str | None = None, tenant: str | None = None, **kw: Any):
        headers = dict(kw.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if tenant is not None:
            headers["xero-tenant-id"] = tenant
        return requests.request(method, self.box.api_url + path, headers=headers, timeout=5, **kw)

    def writes(self) -> list[dict[str, Any]]:
        """The ManualJournals writes the sandbox received (answered or not)."""
        return [
            r
            for r in self.box.requests
            if r["method"] in ("PUT", "POST") and r["path"].endswith("ManualJournals")
        ]

    def sent_journals(self) -> list[dict[str, Any]]:
        return [mj for r in self.writes() for mj in loads_exact(r["body"])["ManualJournals"]]

    def live_journals(self) -> list[dict[str, Any]]:
        return [j for j in self.box.manual_journals() if j["Status"] not in ("DELETED", "VOIDED")]


@contextmanager
def running_xero(tmp_path: Path | None = None, **options: Any) -> Iterator[XeroRig]:
    """A sandbox for one test. When the test is done, every answer the sandbox gave in it is checked against
    Xero's official spec (the contract holds for all of them, not only for a chosen few); with
    ``check_requests`` every request too (for tests where only tokenbooks' adapter talks to it)."""
    check_requests = options.pop("check_requests", False)
    clock = options.pop("clock", None) or ManualClock(START)
    options.setdefault("faults", FaultPlan(delay_seconds=0))
    options.setdefault("token_faults", FaultPlan(delay_seconds=0))
    state = tmp_path / "xero-sandbox.json" if tmp_path is not None else None
    with XeroSandbox(state, clock=clock, **options) as box:
        yield XeroRig(box, clock)
        checks = [xero_exchange_check(entry) for entry in box.requests]
        broken = [error for check in checks for error in check.response_errors]
        assert broken == [], f"the Xero sandbox answered outside the official spec: {broken[:2]}"
        sent = [error for check in checks for error in check.request_errors] if check_requests else []
        assert sent == [], f"tokenbooks sent Xero a request outside the official spec: {sent[:2]}"


def journal(
    key: str = "TB-AC-261003-001",
    amount: str = "120.37",
    *,
    account: str = "510",
    day: date = date(2026, 10, 3),
    tracking: tuple[tuple[str, str], ...] = PRODUCT_US,
    currency: str = "USD",
    credit_account: str = "2150",
) -> Journal:
    """A usage accrual: Dr ``account`` (with tracking), Cr Accrued AI costs."""
    value = Decimal(amount)
    return Journal(
        key,
        ENTITY,
        JournalKind.USAGE_ACCRUAL,
        day,
        currency,
        (
            JournalLine(LedgerTarget(account, tracking=tracking), value, f"OpenAI usage {day}"),
            JournalLine(LedgerTarget(credit_account), -value, f"OpenAI usage {day}"),
        ),
        memo=f"{key} · tokenbooks usage accrual",
    )

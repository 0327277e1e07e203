"""Xero's settings section (`TOKENBOOKS_XERO__*`), declared by its registry entry (`entry.py`) and read into
`Settings.ledgers["xero"]`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from connector.setting_types import HttpUrl


class XeroSettings(BaseModel):
    client_id: str | None = None
    client_secret: SecretStr | None = None
    tenant_id: str | None = None
    base_url: HttpUrl = Field("https://api.xero.com/api.xro/2.0", description="Accounting API root")
    identity_url: HttpUrl = Field("https://identity.xero.com", description="token endpoint root")
    connections_url: HttpUrl = Field("https://api.xero.com", description="root of /connections")
    login_url: HttpUrl = Field("https://login.xero.com", description="authorization endpoint root")
    redirect_uri: HttpUrl = "http://127.0.0.1:8765/callback"
    scope_set: Literal["granular", "broad"] = Field(
        "granular",
        description="granular: Xero apps created on or after 2 March 2026 (and any app moved to granular "
        "scopes); broad: an older app still on accounting.transactions (allowed until September 2027)",
    )
    scopes: str | None = Field(
        None, description="the exact OAuth scopes to ask for at consent; empty: those of scope_set"
    )
    timeout_seconds: float = Field(  # float ok: seconds
        330.0, gt=0, description="longer than Xero's own (about 5 minutes), so a slow write is answered"
    )
    max_retries: int = Field(6, ge=0, le=50)
    calls_per_minute: int = Field(60, ge=1, description="Xero's per-organisation minute limit")
    calls_per_day: int = Field(
        5000, ge=1, description="Xero's per-organisation daily limit (1,000 on Starter)"
    )

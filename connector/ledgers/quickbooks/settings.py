"""QuickBooks' settings section (`TOKENBOOKS_QUICKBOOKS__*`), declared by its registry entry (`entry.py`) and
read into `Settings.ledgers["quickbooks"]`."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from connector.setting_types import HttpUrl


class QuickBooksSettings(BaseModel):
    client_id: str | None = None
    client_secret: SecretStr | None = None
    realm_id: str | None = Field(
        None, description="company (realm) id; set by `tokenbooks connect quickbooks`"
    )
    base_url: HttpUrl = Field("https://quickbooks.api.intuit.com", description="API root; /v3 is appended")
    discovery_url: HttpUrl = Field(
        "https://developer.intuit.com/.well-known/openid_configuration/",
        description="OpenID discovery document that names the OAuth endpoints",
    )
    redirect_uri: HttpUrl = "http://127.0.0.1:8765/callback"
    minorversion: int = Field(75, ge=75)
    timeout_seconds: float = Field(  # float ok: seconds
        130.0,
        gt=0,
        description="longer than QuickBooks' own 120 s, so a slow write is answered, not abandoned",
    )
    max_retries: int = Field(6, ge=0, le=50)
    batch_size: int = Field(
        30, ge=1, le=30, description="journals per batch request (Intuit: ≤ 30; 10 is safe)"
    )
    max_lines_per_journal: int = Field(500, ge=2, description="a longer journal is refused, not sent")
    requests_per_minute: int = Field(500, ge=1, description="pacing: each batch item counts one")
    batches_per_minute: int = Field(40, ge=1, description="pacing: batch requests per minute")
    throttle_budget_seconds: float = Field(  # float ok: seconds
        900.0,
        ge=0,
        description="how long one call may wait out 429s before the journal waits for the next run",
    )

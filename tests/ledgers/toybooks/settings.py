"""Toybooks' settings section (`TOKENBOOKS_TOYBOOKS__*`): declared by its registry entry, read by
`connector.settings.Settings` with no line written there."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class ToybooksSettings(BaseModel):
    company: str = Field("Toy Co books", description="the books' name, as the adapter reports it")
    api_key: SecretStr | None = Field(
        None, description="a secret, to show it is redacted and read from files"
    )
    max_lines: int = Field(100, ge=2, description="a longer journal is refused")

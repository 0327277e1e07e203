"""Field types that settings sections share (the main `Settings` and the sections ledger packages own)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

__all__ = ["HttpUrl"]


def _http_url(value: str) -> str:
    """A base URL must be http(s)://host…: a typo is refused at start, naming the variable, not later."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in value.strip():
        raise ValueError(f"{value!r} is not a URL: write it as https://host[/path]")
    return value.strip()


HttpUrl = Annotated[str, AfterValidator(_http_url)]

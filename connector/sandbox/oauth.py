"""The OAuth 2.0 bookkeeping both ledger sandboxes share: grants, codes, rotating tokens and refusals.

Intuit (``qbo_auth``) and Xero (``xero_auth``) play the same game with other numbers: an authorization code is
redeemed once for a token pair; a refresh token is single-use but may be replayed for a grace period after its
first use; revoking any token of a grant revokes the grant. What differs (lifetimes, grace, error wording, how
the client authenticates, what a grant is connected to) stays in the subclass.

``GrantStore`` keeps plain JSON-ready dicts (``grants``, ``codes``, ``access``, ``refresh``) so the sandbox can
persist them; it is not thread-safe by itself.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from connector.sandbox.common import Clock

__all__ = [
    "GrantStore",
    "IdentityRefusal",
    "basic_credentials",
    "bearer_token",
    "oauth_error",
    "parse_time",
]


class IdentityRefusal(Exception):
    """An answer that refuses a caller: an OAuth error (``{"error": …}``) or an API problem (401/403)."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def oauth_error(error: str, description: str | None = None, status: int = 400) -> IdentityRefusal:
    """An OAuth endpoint's error answer: ``{"error": …, "error_description"?: …}``."""
    body = {"error": error} | ({"error_description": description} if description else {})
    return IdentityRefusal(status, body)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


class GrantStore:
    """Grants, codes and tokens for one client id/secret pair; the subclass is one identity service."""

    refresh_grace: timedelta  # how long a used refresh token may be used again
    used_field: str  # the refresh record's field that holds its first use (as each sandbox has stored it)
    refresh_refused: str | None = None  # the invalid_grant description for a dead refresh token
    code_refused: str | None = None  # the invalid_grant description for a dead authorization code

    def __init__(
        self, clock: Clock, client_id: str, client_secret: str, data: dict[str, Any] | None = None
    ) -> None:
        self._clock = clock
        self.client_id = client_id
        self.client_secret = client_secret
        self.data = data or {"grants": {}, "codes": {}, "access": {}, "refresh": {}}

    def to_dict(self) -> dict[str, Any]:
        return self.data

    def check_client(self, authorization: str | None, form: Mapping[str, str]) -> None:
        """Refuse a token or revoke request whose client credentials are wrong."""
        raise NotImplementedError

    def exchange_code(self, code: str | None, redirect_uri: str | None) -> dict[str, Any]:
        """A token pair for a live authorization code that comes back with its redirect_uri."""
        raise NotImplementedError

    # --- Refresh and revoke ---------------------------------------------------------------------------

    def refresh(self, refresh_token: str | None) -> dict[str, Any]:
        """A new pair for a live refresh token; a used one only within ``refresh_grace`` of its first use."""
        record = self.data["refresh"].get(refresh_token or "")
        if record is None or self._grant(record)["revoked"]:
            raise oauth_error("invalid_grant", self.refresh_refused)
        now = self._clock.now()
        if now >= parse_time(record["expires_at"]):
            raise oauth_error("invalid_grant", self.refresh_refused)
        if record[self.used_field] is None:
            record[self.used_field] = now.isoformat()
        elif now >= parse_time(record[self.used_field]) + self.refresh_grace:
            raise oauth_error("invalid_grant", self.refresh_refused)
        return self._issue_pair(record["grant"])

    def revoke(self, token: str | None) -> None:
        """Revoke the grant ``token`` (access or refresh) belongs to; unknown tokens are ignored (RFC 7009)."""
        record = self.data["refresh"].get(token or "") or self.data["access"].get(token or "")
        if record is not None:
            self._grant(record)["revoked"] = True

    def revoke_all(self) -> None:
        for grant in self.data["grants"].values():
            grant["revoked"] = True

    def expire_access_tokens(self) -> None:
        now = self._clock.now().isoformat()
        for record in self.data["access"].values():
            record["expires_at"] = min(record["expires_at"], now, key=parse_time)

    # --- For the subclass -----------------------------------------------------------------------------

    def _issue_pair(self, grant_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def _grant(self, record: dict[str, Any]) -> dict[str, Any]:
        return self.data["grants"][record["grant"]]

    def _is_client(self, client_id: str, client_secret: str) -> bool:
        return secrets.compare_digest(client_id, self.client_id) and secrets.compare_digest(
            client_secret, self.client_secret
        )

    def _redeem_code(self, code: str | None, redirect_uri: str | None) -> dict[str, Any]:
        """The code's record, now used up; invalid_grant if it is unknown, used, expired or misdirected."""
        record = self.data["codes"].get(code or "")
        if record is None or record["used"] or self._clock.now() >= parse_time(record["expires_at"]):
            raise oauth_error("invalid_grant", self.code_refused)
        if redirect_uri != record["redirect_uri"]:
            raise oauth_error("invalid_grant", "redirect_uri does not match the authorization request")
        record["used"] = True
        return record


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """(client id, client secret) from an ``Authorization: Basic …`` header; None if it does not decode."""
    try:
        decoded = base64.b64decode(authorization[len("Basic ") :], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, client_secret = decoded.partition(":")
    return client_id, client_secret


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header; None when the header is missing or not Bearer."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    return authorization[len("Bearer ") :].strip()

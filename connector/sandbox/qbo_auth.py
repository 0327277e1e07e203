"""Intuit OAuth 2.0 as the sandbox plays it: authorization codes, bearer tokens, rotation and revocation.

Rules (erps.md §2.2), all measured by the sandbox clock:

- an access token lives 3600 s; a refresh token 8 726 400 s (101 days), renewed on each refresh;
- every refresh returns a *new* refresh token; the one that was used stays valid for 24 h after it was first
  superseded, then answers ``400 invalid_grant``, as does a revoked or unknown one;
- an authorization code is single-use, lives 10 minutes and must come back with the same redirect_uri;
- revoking any token of a grant (the connection to one company) revokes the whole grant.

Each token belongs to a *grant*; the grant carries the realm and the revoked flag. ``TokenStore`` keeps
plain JSON-ready dicts so the sandbox can persist them. Not thread-safe by itself.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import datetime, timedelta
from typing import Any

from connector.sandbox.common import Clock
from connector.sandbox.qbo_errors import authentication_failed, authorization_failed

__all__ = [
    "ACCESS_TOKEN_SECONDS",
    "REFRESH_TOKEN_SECONDS",
    "STALE_REFRESH_GRACE",
    "OAuthError",
    "TokenStore",
]

ACCESS_TOKEN_SECONDS = 3600
REFRESH_TOKEN_SECONDS = 8726400
STALE_REFRESH_GRACE = timedelta(hours=24)
CODE_LIFETIME = timedelta(minutes=10)


class OAuthError(Exception):
    """An OAuth endpoint's error answer: ``{"error": …, "error_description"?: …}`` with its status."""

    def __init__(self, status: int, error: str, description: str | None = None) -> None:
        super().__init__(f"{status} {error}: {description or ''}")
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


def _invalid_grant() -> OAuthError:
    return OAuthError(400, "invalid_grant", "Incorrect or invalid refresh token")


class TokenStore:
    """Grants, codes and tokens for one client id/secret pair."""

    def __init__(self, clock: Clock, client_id: str, client_secret: str, data: dict[str, Any] | None = None):
        self._clock = clock
        self.client_id = client_id
        self.client_secret = client_secret
        self.data = data or {"grants": {}, "codes": {}, "access": {}, "refresh": {}}

    def to_dict(self) -> dict[str, Any]:
        return self.data

    # --- Client authentication ------------------------------------------------------------------------

    def check_client(self, authorization: str | None) -> None:
        """HTTP Basic client authentication on the token and revoke endpoints; 401 invalid_client if wrong."""
        if not authorization or not authorization.startswith("Basic "):
            raise OAuthError(401, "invalid_client")
        try:
            decoded = base64.b64decode(authorization[len("Basic ") :], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError(401, "invalid_client") from None
        client_id, _, client_secret = decoded.partition(":")
        if not (
            secrets.compare_digest(client_id, self.client_id)
            and secrets.compare_digest(client_secret, self.client_secret)
        ):
            raise OAuthError(401, "invalid_client")

    # --- Authorization code flow ----------------------------------------------------------------------

    def issue_code(self, realm_id: str, redirect_uri: str) -> str:
        code = "AB11" + secrets.token_urlsafe(24)
        expires_at = self._clock.now() + CODE_LIFETIME
        self.data["codes"][code] = {
            "realm_id": realm_id,
            "redirect_uri": redirect_uri,
            "expires_at": expires_at.isoformat(),
            "used": False,
        }
        return code

    def exchange_code(self, code: str | None, redirect_uri: str | None) -> dict[str, Any]:
        record = self.data["codes"].get(code or "")
        if record is None or record["used"] or self._clock.now() >= _parse(record["expires_at"]):
            raise OAuthError(400, "invalid_grant", "Invalid authorization code")
        if redirect_uri != record["redirect_uri"]:
            raise OAuthError(400, "invalid_grant", "redirect_uri does not match the authorization request")
        record["used"] = True
        return self._issue_pair(self._new_grant(record["realm_id"]))

    # --- Refresh, revoke, issue -----------------------------------------------------------------------

    def refresh(self, refresh_token: str | None) -> dict[str, Any]:
        record = self.data["refresh"].get(refresh_token or "")
        if record is None or self.data["grants"][record["grant"]]["revoked"]:
            raise _invalid_grant()
        now = self._clock.now()
        if now >= _parse(record["expires_at"]):
            raise _invalid_grant()
        if record["superseded_at"] is not None:
            if now >= _parse(record["superseded_at"]) + STALE_REFRESH_GRACE:
                raise _invalid_grant()
        else:
            record["superseded_at"] = now.isoformat()
        return self._issue_pair(record["grant"])

    def revoke(self, token: str | None) -> None:
        """Revoke the grant ``token`` (access or refresh) belongs to; unknown tokens are ignored (RFC 7009)"""
        record = self.data["refresh"].get(token or "") or self.data["access"].get(token or "")
        if record is not None:
            self.data["grants"][record["grant"]]["revoked"] = True

    def issue(self, realm_id: str) -> dict[str, Any]:
        """A fresh grant for ``realm_id``, as if the OAuth dance had just completed."""
        return self._issue_pair(self._new_grant(realm_id)) | {"realm_id": realm_id}

    def revoke_all(self) -> None:
        for grant in self.data["grants"].values():
            grant["revoked"] = True

    def expire_access_tokens(self) -> None:
        now = self._clock.now().isoformat()
        for record in self.data["access"].values():
            record["expires_at"] = min(record["expires_at"], now, key=_parse)

    # --- Checking a bearer token on /v3 ---------------------------------------------------------------

    def authenticate(self, authorization: str | None, realm_id: str) -> None:
        """401 (AuthenticationFault 3200) unless a live access token is given; 403 (AuthorizationFault
        3100) if it belongs to another realm."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise authentication_failed("Authorization header is missing or is not a Bearer token")
        token = authorization[len("Bearer ") :].strip()
        record = self.data["access"].get(token)
        if record is None:
            raise authentication_failed("Token invalid: the access token is not known")
        grant = self.data["grants"][record["grant"]]
        if grant["revoked"]:
            raise authentication_failed("Token revoked")
        if self._clock.now() >= _parse(record["expires_at"]):
            raise authentication_failed(f"Token expired: {token[:12]}…")
        if grant["realm_id"] != realm_id:
            raise authorization_failed(f"The access token is not authorized for company {realm_id}")

    # --- Internals ------------------------------------------------------------------------------------

    def _new_grant(self, realm_id: str) -> str:
        grant_id = secrets.token_hex(8)
        self.data["grants"][grant_id] = {
            "realm_id": realm_id,
            "revoked": False,
            "created_at": self._clock.now().isoformat(),
        }
        return grant_id

    def _issue_pair(self, grant_id: str) -> dict[str, Any]:
        now = self._clock.now()
        access_token = "eyJsandbox." + secrets.token_urlsafe(32)
        refresh_token = "AB11" + secrets.token_urlsafe(32)
        access_expiry = now + timedelta(seconds=ACCESS_TOKEN_SECONDS)
        refresh_expiry = now + timedelta(seconds=REFRESH_TOKEN_SECONDS)
        self.data["access"][access_token] = {"grant": grant_id, "expires_at": access_expiry.isoformat()}
        self.data["refresh"][refresh_token] = {
            "grant": grant_id,
            "expires_at": refresh_expiry.isoformat(),
            "superseded_at": None,
        }
        return {
            "access_token": access_token,
            "refresh_token": refresh_token,
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
            "x_refresh_token_expires_in": REFRESH_TOKEN_SECONDS,
        }


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)

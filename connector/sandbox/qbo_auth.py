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

import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from connector.sandbox.oauth import GrantStore, basic_credentials, bearer_token, oauth_error, parse_time
from connector.sandbox.qbo_errors import authentication_failed, authorization_failed

__all__ = [
    "ACCESS_TOKEN_SECONDS",
    "REFRESH_TOKEN_SECONDS",
    "STALE_REFRESH_GRACE",
    "TokenStore",
]

ACCESS_TOKEN_SECONDS = 3600
REFRESH_TOKEN_SECONDS = 8726400
STALE_REFRESH_GRACE = timedelta(hours=24)
CODE_LIFETIME = timedelta(minutes=10)


class TokenStore(GrantStore):
    """Grants, codes and tokens for one client id/secret pair; a grant carries its realm."""

    refresh_grace = STALE_REFRESH_GRACE
    used_field = "superseded_at"
    refresh_refused = "Incorrect or invalid refresh token"
    code_refused = "Invalid authorization code"

    # --- Client authentication ------------------------------------------------------------------------

    def check_client(self, authorization: str | None, form: Mapping[str, str]) -> None:
        """HTTP Basic client authentication (Intuit does not read credentials from the form); 401
        invalid_client if wrong."""
        credentials = None
        if authorization and authorization.startswith("Basic "):
            credentials = basic_credentials(authorization)
        if credentials is None or not self._is_client(*credentials):
            raise oauth_error("invalid_client", status=401)

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
        record = self._redeem_code(code, redirect_uri)
        return self._issue_pair(self._new_grant(record["realm_id"]))

    # --- Issue ---------------------------------------------------------------------------------------

    def issue(self, realm_id: str) -> dict[str, Any]:
        """A fresh grant for ``realm_id``, as if the OAuth dance had just completed."""
        return self._issue_pair(self._new_grant(realm_id)) | {"realm_id": realm_id}

    # --- Checking a bearer token on /v3 ---------------------------------------------------------------

    def authenticate(self, authorization: str | None, realm_id: str) -> None:
        """401 (AuthenticationFault 3200) unless a live access token is given; 403 (AuthorizationFault
        3100) if it belongs to another realm."""
        token = bearer_token(authorization)
        if token is None:
            raise authentication_failed("Authorization header is missing or is not a Bearer token")
        record = self.data["access"].get(token)
        if record is None:
            raise authentication_failed("Token invalid: the access token is not known")
        grant = self._grant(record)
        if grant["revoked"]:
            raise authentication_failed("Token revoked")
        if self._clock.now() >= parse_time(record["expires_at"]):
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

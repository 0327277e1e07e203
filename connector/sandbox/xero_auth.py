"""Xero's identity service as the sandbox plays it: codes, tokens, rotation, revocation and connections.

Rules (erps.md §6.2), all measured by the sandbox clock:

- an access token lives 1800 s (30 minutes);
- a refresh token is single-use: using it returns a new pair. The used one may be used again for 30 minutes
  after its first use (Xero's grace for a refresh whose answer was lost), then answers ``invalid_grant``;
- a refresh token nobody uses expires 60 days after it was issued;
- an authorization code is single-use, lives 5 minutes and must come back with the same redirect_uri;
- revoking a refresh token (``/connect/revocation``) revokes the whole grant;
- a grant is connected to tenants (organisations); ``GET /connections`` lists them in the shape of
  ``xero_identity.yaml`` and ``DELETE /connections/{id}`` disconnects one.

The client authenticates with HTTP Basic or with ``client_id``/``client_secret`` form fields (xero-python
sends the latter). ``XeroTokenStore`` keeps JSON-ready dicts so the sandbox can persist them; it is not
thread-safe by itself.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from connector.sandbox.common import Clock

__all__ = [
    "ACCESS_TOKEN_SECONDS",
    "REFRESH_GRACE",
    "REFRESH_TOKEN_LIFE",
    "IdentityRefusal",
    "XeroTokenStore",
    "problem",
]

ACCESS_TOKEN_SECONDS = 1800
REFRESH_GRACE = timedelta(minutes=30)
REFRESH_TOKEN_LIFE = timedelta(days=60)
CODE_LIFETIME = timedelta(minutes=5)


class IdentityRefusal(Exception):
    """An answer that refuses a caller: an OAuth error (``{"error": …}``) or an API problem (401/403)."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def _oauth_error(error: str, description: str | None = None, status: int = 400) -> IdentityRefusal:
    body = {"error": error} | ({"error_description": description} if description else {})
    return IdentityRefusal(status, body)


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> IdentityRefusal:
    """The problem-details body Xero's gateway sends for 401/403 (and, in this sandbox, 429)."""
    titles = {401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests"}
    body = {
        "Type": None,
        "Title": titles.get(status, "Error"),
        "Status": status,
        "Detail": detail,
        "Instance": str(uuid.uuid4()),
        "Extensions": {},
    }
    return IdentityRefusal(status, body, headers)


class XeroTokenStore:
    """Grants, codes, tokens and connections for one client id/secret pair."""

    def __init__(
        self,
        clock: Clock,
        client_id: str,
        client_secret: str,
        tenants: Mapping[str, str],
        data: dict[str, Any] | None = None,
    ) -> None:
        self._clock = clock
        self.client_id = client_id
        self.client_secret = client_secret
        self.tenants = dict(tenants)  # tenant id -> organisation name
        self.data = data or {"grants": {}, "codes": {}, "access": {}, "refresh": {}}

    def to_dict(self) -> dict[str, Any]:
        return self.data

    # --- Client authentication ------------------------------------------------------------------------

    def check_client(self, authorization: str | None, form: Mapping[str, str]) -> None:
        """HTTP Basic, or client_id/client_secret in the form; 400 invalid_client when wrong."""
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        if authorization and authorization.startswith("Basic "):
            try:
                decoded = base64.b64decode(authorization[len("Basic ") :], validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise _oauth_error("invalid_client") from None
            client_id, _, client_secret = decoded.partition(":")
        if not (
            secrets.compare_digest(client_id, self.client_id)
            and secrets.compare_digest(client_secret, self.client_secret)
        ):
            raise _oauth_error("invalid_client")

    # --- Authorization code flow ----------------------------------------------------------------------

    def issue_code(self, redirect_uri: str, scope: str) -> str:
        code = secrets.token_hex(32)
        self.data["codes"][code] = {
            "redirect_uri": redirect_uri,
            "scope": scope,
            "expires_at": (self._clock.now() + CODE_LIFETIME).isoformat(),
            "used": False,
        }
        return code

    def exchange_code(self, code: str | None, redirect_uri: str | None) -> dict[str, Any]:
        record = self.data["codes"].get(code or "")
        if record is None or record["used"] or self._clock.now() >= _parse(record["expires_at"]):
            raise _oauth_error("invalid_grant")
        if redirect_uri != record["redirect_uri"]:
            raise _oauth_error("invalid_grant", "redirect_uri does not match the authorization request")
        record["used"] = True
        return self._issue_pair(self._new_grant(record["scope"], list(self.tenants)))

    # --- Refresh, revoke, issue -----------------------------------------------------------------------

    def refresh(self, refresh_token: str | None) -> dict[str, Any]:
        record = self.data["refresh"].get(refresh_token or "")
        if record is None or self._grant(record)["revoked"]:
            raise _oauth_error("invalid_grant")
        now = self._clock.now()
        if now >= _parse(record["expires_at"]):
            raise _oauth_error("invalid_grant")
        if record["used_at"] is None:
            record["used_at"] = now.isoformat()
        elif now >= _parse(record["used_at"]) + REFRESH_GRACE:
            raise _oauth_error("invalid_grant")
        return self._issue_pair(record["grant"])

    def revoke(self, token: str | None) -> None:
        """Revoke the grant ``token`` belongs to; unknown tokens are ignored (RFC 7009)."""
        record = self.data["refresh"].get(token or "") or self.data["access"].get(token or "")
        if record is not None:
            self._grant(record)["revoked"] = True

    def issue(self, tenant_id: str | None = None, scope: str = "") -> dict[str, Any]:
        """A fresh grant connected to ``tenant_id`` (default: every tenant), as if consent just happened."""
        tenants = [tenant_id] if tenant_id else list(self.tenants)
        return self._issue_pair(self._new_grant(scope, tenants)) | {"tenant_id": tenants[0]}

    def revoke_all(self) -> None:
        for grant in self.data["grants"].values():
            grant["revoked"] = True

    def expire_access_tokens(self) -> None:
        now = self._clock.now().isoformat()
        for record in self.data["access"].values():
            record["expires_at"] = min(record["expires_at"], now, key=_parse)

    # --- Bearer tokens on the APIs --------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> dict[str, Any]:
        """The grant of a live access token; 401 with Xero's problem body otherwise."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise problem(401, "AuthenticationUnsuccessful")
        token = authorization[len("Bearer ") :].strip()
        record = self.data["access"].get(token)
        if record is None or self._grant(record)["revoked"]:
            raise problem(401, "AuthenticationUnsuccessful")
        expires_at = _parse(record["expires_at"])
        if self._clock.now() >= expires_at:
            moment = expires_at.strftime("%m/%d/%Y %H:%M:%S")
            raise problem(
                401,
                f"TokenExpired: token expired at {moment}",
                {
                    "WWW-Authenticate": 'Bearer error="invalid_token", error_description="The token is expired"'
                },
            )
        return self._grant(record)

    def authorize_tenant(self, grant: dict[str, Any], tenant_id: str | None) -> None:
        """403 unless the grant is connected to the tenant named by the ``xero-tenant-id`` header."""
        if not tenant_id or tenant_id not in [c["tenantId"] for c in grant["connections"]]:
            raise problem(403, "AuthenticationUnsuccessful")

    def connections(self, grant: dict[str, Any], auth_event_id: str | None = None) -> list[dict[str, Any]]:
        found = grant["connections"]
        return [c for c in found if auth_event_id is None or c["authEventId"] == auth_event_id]

    def disconnect(self, grant: dict[str, Any], connection_id: str) -> bool:
        before = len(grant["connections"])
        grant["connections"] = [c for c in grant["connections"] if c["id"] != connection_id]
        return len(grant["connections"]) < before

    def disconnect_tenant(self, tenant_id: str) -> None:
        """The organisation removed the app (Settings → Connected apps): every grant loses the tenant."""
        for grant in self.data["grants"].values():
            grant["connections"] = [c for c in grant["connections"] if c["tenantId"] != tenant_id]

    # --- Internals ------------------------------------------------------------------------------------

    def _grant(self, record: dict[str, Any]) -> dict[str, Any]:
        return self.data["grants"][record["grant"]]

    def _new_grant(self, scope: str, tenants: list[str]) -> str:
        grant_id = secrets.token_hex(8)
        auth_event_id = str(uuid.uuid4())
        stamp = _connection_time(self._clock.now())
        self.data["grants"][grant_id] = {
            "scope": scope,
            "revoked": False,
            "created_at": self._clock.now().isoformat(),
            "connections": [
                {
                    "id": str(uuid.uuid4()),
                    "authEventId": auth_event_id,
                    "tenantId": tenant_id,
                    "tenantType": "ORGANISATION",
                    "tenantName": self.tenants.get(tenant_id, tenant_id),
                    "createdDateUtc": stamp,
                    "updatedDateUtc": stamp,
                }
                for tenant_id in tenants
            ],
        }
        return grant_id

    def _issue_pair(self, grant_id: str) -> dict[str, Any]:
        now = self._clock.now()
        access_token = "eyJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(48)
        refresh_token = secrets.token_hex(32)
        self.data["access"][access_token] = {
            "grant": grant_id,
            "expires_at": (now + timedelta(seconds=ACCESS_TOKEN_SECONDS)).isoformat(),
        }
        self.data["refresh"][refresh_token] = {
            "grant": grant_id,
            "expires_at": (now + REFRESH_TOKEN_LIFE).isoformat(),
            "used_at": None,
        }
        return {
            "access_token": access_token,
            "expires_in": ACCESS_TOKEN_SECONDS,
            "token_type": "Bearer",
            "refresh_token": refresh_token,
            "scope": self.data["grants"][grant_id]["scope"],
        }


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _connection_time(moment: datetime) -> str:
    """Connection timestamps: UTC with seven fractional digits, as Xero writes them. Xero's own example leaves
    the zone out, which its schema (``format: date-time``) refuses; the sandbox follows the schema and adds Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"

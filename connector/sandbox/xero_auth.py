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

import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from connector.sandbox.common import Clock
from connector.sandbox.oauth import (
    GrantStore,
    IdentityRefusal,
    basic_credentials,
    bearer_token,
    oauth_error,
    parse_time,
)

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


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> IdentityRefusal:
    """The problem-details body Xero's gateway sends for 401/403 (and, in this sandbox, 429)."""
    titles = {401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests"}
    body: dict[str, Any] = {
        "Type": None,
        "Title": titles.get(status, "Error"),
        "Status": status,
        "Detail": detail,
        "Instance": str(uuid.uuid4()),
        "Extensions": {},
    }
    return IdentityRefusal(status, body, headers)


class XeroTokenStore(GrantStore):
    """Grants, codes, tokens and connections for one client id/secret pair."""

    refresh_grace = REFRESH_GRACE
    used_field = "used_at"

    def __init__(
        self,
        clock: Clock,
        client_id: str,
        client_secret: str,
        tenants: Mapping[str, str],
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(clock, client_id, client_secret, data)
        self.tenants = dict(tenants)  # tenant id -> organisation name

    # --- Client authentication ------------------------------------------------------------------------

    def check_client(self, authorization: str | None, form: Mapping[str, str]) -> None:
        """HTTP Basic, or client_id/client_secret in the form; 400 invalid_client when wrong."""
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        if authorization and authorization.startswith("Basic "):
            credentials = basic_credentials(authorization)
            if credentials is None:
                raise oauth_error("invalid_client")
            client_id, client_secret = credentials
        if not self._is_client(client_id, client_secret):
            raise oauth_error("invalid_client")

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
        record = self._redeem_code(code, redirect_uri)
        return self._issue_pair(self._new_grant(record["scope"], list(self.tenants)))

    # --- Issue ---------------------------------------------------------------------------------------

    def issue(self, tenant_id: str | None = None, scope: str = "") -> dict[str, Any]:
        """A fresh grant connected to ``tenant_id`` (default: every tenant), as if consent just happened."""
        tenants = [tenant_id] if tenant_id else list(self.tenants)
        return self._issue_pair(self._new_grant(scope, tenants)) | {"tenant_id": tenants[0]}

    # --- Bearer tokens on the APIs --------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> dict[str, Any]:
        """The grant of a live access token; 401 with Xero's problem body otherwise."""
        token = bearer_token(authorization)
        if token is None:
            raise problem(401, "AuthenticationUnsuccessful")
        record = self.data["access"].get(token)
        if record is None or self._grant(record)["revoked"]:
            raise problem(401, "AuthenticationUnsuccessful")
        expires_at = parse_time(record["expires_at"])
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


def _connection_time(moment: datetime) -> str:
    """Connection timestamps: UTC with seven fractional digits, as Xero writes them. Xero's own example leaves
    the zone out, which its schema (``format: date-time``) refuses; the sandbox follows the schema and adds Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"

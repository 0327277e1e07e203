"""Optional single sign-on through OpenID Connect (authorization code flow with PKCE), with Authlib.

Configured by TOKENBOOKS_WEB__OIDC_DISCOVERY_URL, …__OIDC_CLIENT_ID and …__OIDC_CLIENT_SECRET (and
…__PUBLIC_URL, from which the redirect address `<public url>/sso/callback` is built). The sign-in page
then offers the provider's button. The ID token is verified with Authlib's JOSE (signature against the
provider's published keys, issuer, audience, expiry, nonce); the person must already be a tokenbooks user
(matched by e-mail the first time, by the provider's subject after that) — the role is tokenbooks' to give.
The flow's state, nonce and PKCE verifier ride in a short-lived signed cookie.
"""

from __future__ import annotations

import logging
import secrets
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from authlib.common.security import generate_token
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from connector.domain.errors import ConfigError, TokenbooksError
from connector.redaction import redact, remember
from connector.service.users import sso_user
from connector.web.app import Console, client_address, safe_next
from connector.web.security import new_session

with warnings.catch_warnings():
    # Authlib (1.7 on) warns on import, always, that `authlib.jose` and its httpx client will give way to
    # joserfc and httpx2 in 2.0; both work until then, and the CLI imports this module for every command,
    # so the warning would reach the stderr of each one.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client, OAuthError
    from authlib.jose import JsonWebKey, jwt
    from authlib.jose.errors import JoseError

log = logging.getLogger("tokenbooks.web")
FLOW_COOKIE = "tokenbooks_sso"
CLIENT_SETTINGS = "TOKENBOOKS_WEB__OIDC_CLIENT_ID and TOKENBOOKS_WEB__OIDC_CLIENT_SECRET"
FLOW_SECONDS = 600


@dataclass
class Provider:
    discovery_url: str
    client_id: str
    client_secret: str
    redirect_uri: str
    label: str
    timeout: float = 10.0  # float ok: seconds
    _metadata: dict | None = None

    def metadata(self) -> dict:
        if self._metadata is None:
            try:
                answer = httpx.get(self.discovery_url, timeout=self.timeout)
                answer.raise_for_status()
                self._metadata = answer.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise ConfigError(
                    f"the identity provider's discovery document {self.discovery_url} could not be read: {exc}",
                    fix="check TOKENBOOKS_WEB__OIDC_DISCOVERY_URL, or sign in with a password",
                ) from None
        return self._metadata

    def client(self, **kwargs: Any) -> OAuth2Client:
        return OAuth2Client(
            self.client_id,
            self.client_secret,
            scope="openid email profile",
            redirect_uri=self.redirect_uri,
            timeout=self.timeout,
            **kwargs,
        )

    def start(self) -> tuple[str, dict]:
        """The provider's authorization address, and the flow's secrets to keep until the callback."""
        state, nonce, verifier = generate_token(24), generate_token(24), generate_token(48)
        url, _ = self.client().create_authorization_url(
            self.metadata()["authorization_endpoint"],
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        return url, {"state": state, "nonce": nonce, "verifier": verifier}

    def finish(self, code: str, flow: dict) -> dict:
        """The verified ID token's claims for the code the provider redirected back with."""
        metadata = self.metadata()
        try:
            token = self.client(code_challenge_method="S256").fetch_token(
                metadata["token_endpoint"], code=code, code_verifier=flow["verifier"]
            )
            keys = JsonWebKey.import_key_set(httpx.get(metadata["jwks_uri"], timeout=self.timeout).json())
            claims = jwt.decode(
                token["id_token"],
                keys,
                claims_options={
                    "iss": {"essential": True, "value": metadata["issuer"]},
                    "aud": {"essential": True, "value": self.client_id},
                    "nonce": {"essential": True, "value": flow["nonce"]},
                    "sub": {"essential": True},
                },
            )
            claims.validate(leeway=60)
        except OAuthError as exc:  # the token endpoint refused the exchange
            raise self._failed(_refusal(exc), self._fix_for(exc.error)) from None
        except (JoseError, KeyError, httpx.HTTPError, ValueError) as exc:
            raise self._failed(
                f"the identity provider's answer could not be verified ({exc})",
                "try again; if it keeps failing, check the OIDC settings or sign in with a password",
            ) from None
        return dict(claims)

    def _fix_for(self, error: str | None) -> str:
        """What to check when the token endpoint says `error` (RFC 6749 §5.2's codes)."""
        redirect = (
            f"that the redirect URL registered at the identity provider is exactly {self.redirect_uri} "
            "(TOKENBOOKS_WEB__PUBLIC_URL followed by /sso/callback)"
        )
        if error in ("invalid_client", "unauthorized_client"):
            return f"check {CLIENT_SETTINGS}: the client id and secret of this application at the identity provider"
        if error == "invalid_grant":
            return (
                "start the sign-in again (a sign-in code is short-lived and works once); if it keeps failing, "
                f"check {redirect}"
            )
        return f"check {CLIENT_SETTINGS}, and {redirect}"

    def _failed(self, why: str, fix: str) -> ConfigError:
        """A failed sign-in, logged for the operator and shown to the person, without the client secret."""
        message = redact(f"single sign-on failed: {why}")
        log.warning("%s; %s", message, fix)
        return ConfigError(message, fix=fix)


def _refusal(exc: OAuthError) -> str:
    said = f"{exc.error}: {exc.description}" if exc.description else str(exc.error)
    return f"the identity provider refused to exchange the sign-in code ({said})"


def provider_for(app: Any) -> Provider | None:
    web = app.settings.web
    if not (web.oidc_discovery_url and web.oidc_client_id):
        return None
    if not web.public_url:
        raise ConfigError(
            "single sign-on needs the console's public address for its redirect",
            fix="set TOKENBOOKS_WEB__PUBLIC_URL (e.g. https://books.example.com) and register "
            "<that address>/sso/callback at the identity provider",
        )
    secret = web.oidc_client_secret.get_secret_value() if web.oidc_client_secret else ""
    remember([secret])  # a provider's refusal may quote it back
    return Provider(
        web.oidc_discovery_url,
        web.oidc_client_id,
        secret,
        web.public_url.rstrip("/") + "/sso/callback",
        web.oidc_label,
    )


def _flows(request: Request) -> URLSafeTimedSerializer:
    console: Console = request.app.state.console
    return URLSafeTimedSerializer(console.codec.serializer.secret_key, salt="tokenbooks-sso-flow")


async def sso_start(request: Request) -> Response:
    provider: Provider | None = request.app.state.console.oidc
    if provider is None:
        raise HTTPException(404, "single sign-on is not configured")
    url, flow = await run_in_threadpool(provider.start)
    flow["next"] = safe_next(request.query_params.get("next", "/"))
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        _flows(request).dumps(flow),
        max_age=FLOW_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.app.state.console.secure,
        path="/sso",
    )
    return response


async def sso_callback(request: Request) -> Response:
    console = request.app.state.console
    provider: Provider | None = console.oidc
    if provider is None:
        raise HTTPException(404, "single sign-on is not configured")
    try:
        flow = _flows(request).loads(request.cookies.get(FLOW_COOKIE, ""), max_age=FLOW_SECONDS)
    except BadSignature:
        raise HTTPException(400, "this sign-in took too long or did not start here: start again") from None
    if not secrets.compare_digest(str(request.query_params.get("state", "")), str(flow["state"])):
        raise HTTPException(
            400, "the identity provider answered another sign-in (state differs): start again"
        )
    if "error" in request.query_params:
        raise HTTPException(400, f"the identity provider refused: {request.query_params.get('error')}")
    try:
        claims = await run_in_threadpool(provider.finish, request.query_params.get("code", ""), flow)
        user = await run_in_threadpool(
            sso_user,
            console.app.store,
            console.app.clock,
            subject=str(claims["sub"]),
            email=claims.get("email") if claims.get("email_verified", True) else None,
            issuer=str(claims["iss"]),
            address=client_address(request),
        )
    except TokenbooksError:
        raise
    response = RedirectResponse(flow.get("next") or "/", status_code=303)
    response.delete_cookie(FLOW_COOKIE, path="/sso")
    return console.set_session(response, new_session(console.now(), user.username))


def routes() -> list[Route]:
    return [Route("/sso/login", sso_start), Route("/sso/callback", sso_callback)]


def login_url(next_url: str) -> str:
    return f"/sso/login?next={quote(next_url)}"

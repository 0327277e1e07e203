"""Single sign-on against a local OpenID provider (a small Starlette app on loopback that signs its ID
tokens with its own RSA key, as a real provider does): the console's Authlib flow, the token verified,
the person matched to a tokenbooks user; a stranger refused."""

from __future__ import annotations

import base64
import logging
import secrets
import threading
import time
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import pytest
import uvicorn
from authlib.jose import JsonWebKey, jwt
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from connector.domain.users import Role
from connector.service.users import add_user
from connector.web.asgi import create_console
from tests.service.conftest import World


class LocalProvider:
    """An OpenID provider that signs in whoever `email` names, at once (the consent a person would give)."""

    def __init__(self) -> None:
        self.key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "k1"})
        self.email, self.subject = "ada@example.com", "user-42"
        self.client_secret: str | None = None  # None: the client is not authenticated (a public client)
        self.codes: dict[str, dict] = {}
        self.server = uvicorn.Server(
            uvicorn.Config(self.app(), host="127.0.0.1", port=0, log_config=None, lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def issuer(self) -> str:
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def app(self) -> Starlette:
        async def discovery(request: Request):
            return JSONResponse(
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks",
                }
            )

        async def authorize(request: Request):
            q = request.query_params
            code = secrets.token_urlsafe(8)
            self.codes[code] = {
                "nonce": q["nonce"],
                "client_id": q["client_id"],
                "challenge": q["code_challenge"],
            }
            return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}")

        async def token(request: Request):
            form = await request.form()
            offered = _basic_secret(request.headers.get("authorization", ""))
            if self.client_secret is not None and offered != self.client_secret:
                # as some providers do, it quotes what it was given: tokenbooks must not show it on
                return JSONResponse(
                    {"error": "invalid_client", "error_description": f"bad client secret {offered}"},
                    status_code=401,
                )
            grant = self.codes.pop(str(form["code"]), None)
            if grant is None:
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": "code expired or already used"},
                    status_code=400,
                )
            now = int(time.time())
            claims = {
                "iss": self.issuer,
                "sub": self.subject,
                "aud": grant["client_id"],
                "iat": now,
                "exp": now + 300,
                "nonce": grant["nonce"],
                "email": self.email,
                "email_verified": True,
            }
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key).decode()
            return JSONResponse(
                {"access_token": "a", "token_type": "Bearer", "id_token": id_token, "expires_in": 300}
            )

        async def jwks(request: Request):
            return JSONResponse({"keys": [self.key.as_dict(is_private=False)]})

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/authorize", authorize),
                Route("/token", token, methods=["POST"]),
                Route("/jwks", jwks),
            ]
        )

    def __enter__(self) -> LocalProvider:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def test_single_sign_on_signs_in_a_known_user_and_refuses_a_stranger(world: World):
    add_user(world.app.store, world.clock, username="ada", role=Role.AUDITOR, by="t", email="ada@example.com")
    with LocalProvider() as provider:
        web = world.app.settings.web.model_copy(
            update={
                "oidc_discovery_url": f"{provider.issuer}/.well-known/openid-configuration",
                "oidc_client_id": "tokenbooks",
                "public_url": "http://console.test",
                "oidc_label": "Acme SSO",
            }
        )
        world.app.settings = world.app.settings.model_copy(update={"web": web})
        client = TestClient(create_console(world.app, secret="s"), base_url="http://console.test")
        assert "Sign in with Acme SSO" in client.get("/login").text
        start = client.get("/sso/login?next=/runs", follow_redirects=False)
        at_provider = client_of(provider).get(
            start.headers["location"].replace(provider.issuer, ""), follow_redirects=False
        )
        back = urlsplit(at_provider.headers["location"])
        assert back.path == "/sso/callback"
        done = client.get(f"/sso/callback?{back.query}", follow_redirects=False)
        assert done.status_code == 303
        assert done.headers["location"] == "/runs"
        assert "Signed in as" in client.get("/runs").text

        provider.email, provider.subject = "mallory@example.com", "user-666"
        stranger = TestClient(client.app, base_url="http://console.test")
        start = stranger.get("/sso/login", follow_redirects=False)
        at_provider = client_of(provider).get(
            start.headers["location"].replace(provider.issuer, ""), follow_redirects=False
        )
        refused = stranger.get(f"/sso/callback?{urlsplit(at_provider.headers['location']).query}")
        assert refused.status_code == 400
        assert "is not a tokenbooks user" in refused.text
        forged = stranger.get(f"/sso/callback?{urlencode({'code': 'x', 'state': 'forged'})}")
        assert forged.status_code == 400


def _basic_secret(authorization: str) -> str:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return ""
    return unquote(base64.b64decode(encoded).decode().partition(":")[2])


def _sso_console(world: World, provider: LocalProvider, secret: str) -> TestClient:
    web = world.app.settings.web.model_copy(
        update={
            "oidc_discovery_url": f"{provider.issuer}/.well-known/openid-configuration",
            "oidc_client_id": "tokenbooks",
            "oidc_client_secret": SecretStr(secret),
            "public_url": "http://console.test",
        }
    )
    world.app.settings = world.app.settings.model_copy(update={"web": web})
    console = create_console(world.app, secret="s")
    return TestClient(console, base_url="http://console.test", raise_server_exceptions=False)


def _back_from_provider(client: TestClient, provider: LocalProvider) -> str:
    """The query the provider redirects to /sso/callback with, once the person consented."""
    start = client.get("/sso/login", follow_redirects=False)
    at_provider = client_of(provider).get(
        start.headers["location"].replace(provider.issuer, ""), follow_redirects=False
    )
    return urlsplit(at_provider.headers["location"]).query


def test_a_wrong_client_secret_or_a_spent_code_is_a_page_naming_the_fix_and_a_log_line_without_the_secret(
    world: World, caplog: pytest.LogCaptureFixture
):
    """Authlib raises OAuthError when the provider's token endpoint refuses (a wrong client secret, a code
    expired or used twice): the person saw "internal error" and "report it", the operator a bare class
    name. Now the page and the log say what the provider refused and what to check — and never the secret,
    even when the provider quotes it back."""
    add_user(world.app.store, world.clock, username="ada", role=Role.AUDITOR, by="t", email="ada@example.com")
    caplog.set_level(logging.WARNING, logger="tokenbooks.web")
    with LocalProvider() as provider:
        provider.client_secret = "the-right-secret"
        client = _sso_console(world, provider, "Wrong-Secret-Canary-7Q")
        refused = client.get(f"/sso/callback?{_back_from_provider(client, provider)}")
        assert refused.status_code == 400
        assert "Internal error" not in refused.text
        assert "invalid_client" in refused.text
        assert "TOKENBOOKS_WEB__OIDC_CLIENT_ID" in refused.text
        assert "TOKENBOOKS_WEB__OIDC_CLIENT_SECRET" in refused.text

        provider.client_secret = "Wrong-Secret-Canary-7Q"  # the secret is mended; then a code is used twice
        used = _back_from_provider(client, provider)
        assert client.get(f"/sso/callback?{used}", follow_redirects=False).status_code == 303
        fresh = _back_from_provider(client, provider)  # a new sign-in, sent back with the spent code
        spent = fresh.replace(parse_qs(fresh)["code"][0], parse_qs(used)["code"][0])
        replayed = client.get(f"/sso/callback?{spent}")
        assert replayed.status_code == 400
        assert "invalid_grant" in replayed.text
        assert "http://console.test/sso/callback" in replayed.text  # the redirect URL to check
        assert "Internal error" not in replayed.text
    logged = [r.getMessage() for r in caplog.records if r.name == "tokenbooks.web"]
    assert any("invalid_client" in line for line in logged), logged
    assert any("invalid_grant" in line for line in logged), logged
    for text in (refused.text, replayed.text, caplog.text):
        assert "Wrong-Secret-Canary-7Q" not in text
        assert "the-right-secret" not in text


def client_of(provider: LocalProvider):
    import httpx

    return httpx.Client(base_url=provider.issuer)

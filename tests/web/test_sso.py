"""Single sign-on against a local OpenID provider (a small Starlette app on loopback that signs its ID
tokens with its own RSA key, as a real provider does): the console's Authlib flow, the token verified,
the person matched to a tokenbooks user; a stranger refused."""

from __future__ import annotations

import secrets
import threading
import time
from urllib.parse import urlencode, urlsplit

import uvicorn
from authlib.jose import JsonWebKey, jwt
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
            grant = self.codes.pop(str(form["code"]))
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


def client_of(provider: LocalProvider):
    import httpx

    return httpx.Client(base_url=provider.issuer)

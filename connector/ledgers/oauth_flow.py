"""The OAuth 2.0 authorization-code flow with a local callback, for `tokenbooks connect`.

A one-shot HTTP server listens on the redirect URI's port; the person approves in the browser; the
provider redirects back with a code (and, for QuickBooks, the realm id). The state is checked, so a
stray or forged redirect is refused.
"""

from __future__ import annotations

import secrets
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from connector.domain.errors import ConfigError, ReconnectNeeded


@dataclass(frozen=True, slots=True)
class Grant:
    code: str
    company_id: str  # QuickBooks realmId; empty for providers that name tenants later (Xero)


def authorize(
    authorization_url: Callable[[str], str],
    redirect_uri: str,
    *,
    open_browser: bool = True,
    say: Callable[[str], None] = print,
    timeout_seconds: float = 300.0,  # float ok: seconds
) -> Grant:
    """Send a person through consent and wait for the redirect; returns the code and company id."""
    target = urlparse(redirect_uri)
    if target.hostname not in ("127.0.0.1", "localhost") or not target.port:
        raise ConfigError(
            f"the redirect URI {redirect_uri} is not a local address with a port",
            fix="use e.g. http://127.0.0.1:8765/callback and register it with the provider app",
        )
    state = secrets.token_urlsafe(24)
    received: dict[str, str] = {}
    done = threading.Event()

    def app(environ: dict, start_response: Callable) -> object:
        request = Request(environ)
        if request.path != target.path:
            return Response("not found", status=404)(environ, start_response)
        received.update(request.args.to_dict())
        done.set()
        text = (
            "tokenbooks is connected; you can close this tab."
            if "code" in received
            else "Connection refused."
        )
        return Response(text)(environ, start_response)

    server = make_server(target.hostname, target.port, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = authorization_url(state)
        say(f"Open this page to approve tokenbooks: {url}")
        if open_browser:
            webbrowser.open(url)
        if not done.wait(timeout_seconds):
            raise ReconnectNeeded(
                "no answer from the consent page in time", fix="run the connect command again"
            )
    finally:
        server.shutdown()
    if received.get("state") != state:
        raise ReconnectNeeded("the consent redirect carried a different state; refused", fix="connect again")
    if "code" not in received:
        raise ReconnectNeeded(
            f"consent was not given: {received.get('error', 'no code returned')}",
            fix="approve tokenbooks on the consent page",
        )
    return Grant(received["code"], received.get("realmId", ""))

"""The OAuth 2.0 authorization-code flow for `tokenbooks connect`: the consent URL, and the way the
redirect comes back to tokenbooks.

Two ways, chosen by the redirect URI registered with the provider's app:

- **A loopback address with a port** (`http://127.0.0.1:8765/callback`: Intuit development keys and
  sandbox companies, Xero apps): a small local server receives the redirect. It serves each request on its
  own thread with a read timeout (a half-open connection cannot block the real redirect), answers only its
  own path, ignores — without ending the flow — any request whose `state` is not this attempt's (a stray
  or forged request is told so, never "connected"), and logs no request line (the authorization code is in
  the query string, and is never printed).
- **Any other address, e.g. an https URI the company controls** (what Intuit requires of production apps:
  https, not an IP address): the person approves in a browser anywhere, is sent to that address, and pastes
  the full address the browser ended on back into tokenbooks. The code, `state` and (QuickBooks) `realmId`
  are read from it; a pasted address of another attempt, or of another redirect URI, is refused and asked
  for again. `--paste` chooses this way even with a loopback URI (tokenbooks on a server, the browser on a
  laptop).
"""

from __future__ import annotations

import secrets
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from connector.domain.errors import ConfigError, ReconnectNeeded

READ_TIMEOUT_SECONDS = 10.0  # float ok: seconds; a connection that sends nothing is dropped after this
PASTE_ATTEMPTS = 3
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True, slots=True)
class Grant:
    code: str
    company_id: str  # QuickBooks realmId; empty for providers that name tenants later (Xero)


Ask = Callable[[str], str]  # shows a prompt, returns what the person typed


def is_loopback(redirect_uri: str) -> bool:
    """Whether the redirect URI is a local address with a port, which a local server can receive."""
    target = urlparse(redirect_uri)
    return target.hostname in LOOPBACK_HOSTS and target.port is not None


def authorize(
    authorization_url: Callable[[str], str],
    redirect_uri: str,
    *,
    open_browser: bool = True,
    say: Callable[[str], None] = print,
    ask: Ask | None = None,
    paste: bool = False,
    timeout_seconds: float = 300.0,  # float ok: seconds
) -> Grant:
    """Send a person through consent, and return the code (and company id) the provider redirected with."""
    state = secrets.token_urlsafe(24)
    url = authorization_url(state)
    if paste or not is_loopback(redirect_uri):
        if ask is None:
            raise ConfigError(
                f"the redirect URI {redirect_uri} is not a local address, so the address the browser ends on "
                "must be pasted back, and nobody is there to paste it",
                fix="run `tokenbooks connect` in a terminal (not with --json), or use a loopback redirect URI "
                "such as http://127.0.0.1:8765/callback where the provider allows it",
            )
        return _pasted_back(url, state, redirect_uri, say, ask)
    return _local_callback(url, state, redirect_uri, open_browser, say, timeout_seconds)


# ------------------------------------------------------------------------------------------ paste back


def _pasted_back(url: str, state: str, redirect_uri: str, say: Callable[[str], None], ask: Ask) -> Grant:
    say(f"1. Open this page in a browser and approve tokenbooks: {url}")
    say(
        f"2. The browser is then sent to {redirect_uri}?code=…; whatever that page shows, copy the whole "
        "address from the address bar."
    )
    for attempt in range(1, PASTE_ATTEMPTS + 1):
        answer = ask("3. Paste that address here")
        try:
            return grant_from_redirect(answer, state, redirect_uri)
        except ReconnectNeeded as refused:
            if attempt == PASTE_ATTEMPTS or refused.fix == _DENIED:
                raise
            say(f"That address was not accepted: {refused.message}. Try again.")
    raise AssertionError("unreachable")


_DENIED = "approve tokenbooks on the consent page"


def grant_from_redirect(address: str, state: str, redirect_uri: str) -> Grant:
    """The grant in the address the provider redirected the browser to, after checking it is this attempt's."""
    pasted = urlparse(address.strip())
    expected = urlparse(redirect_uri)
    if (pasted.scheme, pasted.netloc, pasted.path.rstrip("/")) != (
        expected.scheme,
        expected.netloc,
        expected.path.rstrip("/"),
    ):
        raise ReconnectNeeded(
            f"the pasted address does not start with the redirect URI {redirect_uri}",
            fix="paste the whole address the browser ended on after approving",
        )
    return _grant(_single_values(pasted.query), state)


def _single_values(query: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(query).items()}


def _grant(received: dict[str, str], state: str) -> Grant:
    if not secrets.compare_digest(received.get("state", ""), state):
        raise ReconnectNeeded(
            "the redirect carries another state: it is not from this connection attempt",
            fix="approve on the page tokenbooks printed for this attempt, and paste that address",
        )
    if "code" not in received:
        raise ReconnectNeeded(
            f"consent was not given: {received.get('error_description') or received.get('error', 'no code returned')}",
            fix=_DENIED,
        )
    return Grant(received["code"], received.get("realmId", ""))


# ------------------------------------------------------------------------------------- local callback


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without its access log (the query string holds the code) and with a read timeout."""

    timeout = READ_TIMEOUT_SECONDS

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log(self, *args: Any, **kwargs: Any) -> None:
        pass


def _local_callback(
    url: str,
    state: str,
    redirect_uri: str,
    open_browser: bool,
    say: Callable[[str], None],
    timeout_seconds: float,  # float ok: seconds
) -> Grant:
    target = urlparse(redirect_uri)
    received: dict[str, str] = {}
    done = threading.Event()

    def app(environ: dict, start_response: Callable) -> object:
        request = Request(environ)
        if request.path.rstrip("/") != target.path.rstrip("/") or done.is_set():
            return Response("not found", status=404)(environ, start_response)
        args = request.args.to_dict()
        if not secrets.compare_digest(args.get("state", ""), state):  # stray or forged: the flow goes on
            page = "This request does not belong to the connection tokenbooks is waiting for; it was ignored."
            return Response(page, status=400)(environ, start_response)
        received.update(args)
        done.set()
        page = (
            "tokenbooks received the approval; return to the terminal."
            if "code" in args
            else "The connection was not approved; return to the terminal."
        )
        return Response(page)(environ, start_response)

    server = make_server(
        target.hostname or "127.0.0.1", target.port or 0, app, threaded=True, request_handler=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        say(f"Open this page to approve tokenbooks: {url}")
        if open_browser:
            webbrowser.open(url)
        if not done.wait(timeout_seconds):
            raise ReconnectNeeded(
                "no answer from the consent page in time", fix="run the connect command again"
            )
    finally:
        server.shutdown()
        server.server_close()
    return _grant(received, state)

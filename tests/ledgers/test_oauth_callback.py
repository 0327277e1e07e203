"""The local callback of `tokenbooks connect`: it cannot be fooled by a stray or forged request, blocked by a
half-open connection, or made to print the authorization code."""

from __future__ import annotations

import socket
import threading
from urllib.parse import parse_qs, urlparse

import requests

from connector.domain.errors import ReconnectNeeded
from connector.ledgers.oauth_flow import Grant, authorize
from tests.support import free_port

CODE = "AB11729013SECRETCODE"


class Flow:
    """`authorize` running on its own thread, as `tokenbooks connect` waits for the browser."""

    def __init__(self, timeout: float = 20.0) -> None:
        self.port = free_port()
        self.redirect = f"http://127.0.0.1:{self.port}/callback"
        self.said: list[str] = []
        self.result: Grant | Exception | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(timeout,), daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self, timeout: float) -> None:
        def say(text: str) -> None:
            self.said.append(text)
            self.ready.set()

        try:
            self.result = authorize(
                lambda state: f"https://consent.example/authorize?state={state}",
                self.redirect,
                open_browser=False,
                say=say,
                timeout_seconds=timeout,
            )
        except Exception as exc:
            self.result = exc

    @property
    def state(self) -> str:
        return parse_qs(urlparse(self.said[0].rsplit(" ", 1)[-1]).query)["state"][0]

    def redirect_back(self, state: str, **extra: str) -> requests.Response:
        return requests.get(self.redirect, params={"code": CODE, "state": state, **extra}, timeout=5)

    def finish(self) -> Grant | Exception | None:
        self.thread.join(15)
        assert not self.thread.is_alive()
        return self.result


def test_a_stray_or_forged_request_is_ignored_and_the_real_redirect_still_connects():
    flow = Flow()
    forged = flow.redirect_back("forged-state", realmId="666")
    assert forged.status_code == 400
    assert "connected" not in forged.text
    assert "ignored" in forged.text
    assert requests.get(flow.redirect, timeout=5).status_code == 400  # no state at all: ignored too
    assert flow.thread.is_alive()  # the flow goes on
    real = flow.redirect_back(flow.state, realmId="9341452000000001")
    assert real.status_code == 200
    assert flow.finish() == Grant(CODE, "9341452000000001")


def test_a_half_open_connection_does_not_block_the_real_redirect():
    flow = Flow()
    idle = socket.create_connection(("127.0.0.1", flow.port))  # connects, then says nothing
    idle.sendall(b"GET /callback?state=")  # nor finishes its request line
    try:
        real = flow.redirect_back(flow.state, realmId="1")
        assert real.status_code == 200
        assert flow.finish() == Grant(CODE, "1")
    finally:
        idle.close()


def test_the_authorization_code_is_never_printed_or_logged(capfd, caplog):
    caplog.set_level("DEBUG")
    flow = Flow()
    flow.redirect_back(flow.state, realmId="1")
    assert flow.finish() == Grant(CODE, "1")
    out, err = capfd.readouterr()
    assert CODE not in out + err
    server_side = [
        r.getMessage() for r in caplog.records if not r.name.startswith("urllib3")
    ]  # not the browser
    assert all(CODE not in message for message in server_side)
    assert all(CODE not in text for text in flow.said)


def test_a_refusal_with_the_right_state_ends_the_flow_in_plain_words():
    flow = Flow()
    answer = requests.get(flow.redirect, params={"error": "access_denied", "state": flow.state}, timeout=5)
    assert "not approved" in answer.text
    result = flow.finish()
    assert isinstance(result, ReconnectNeeded)
    assert "access_denied" in result.message


def test_no_answer_in_time_says_so():
    flow = Flow(timeout=0.3)
    result = flow.finish()
    assert isinstance(result, ReconnectNeeded)
    assert "in time" in result.message

"""The consent flow of `tokenbooks connect` when the redirect URI is not local (the https URI a production
QuickBooks app must use): the address the browser ends on is pasted back and checked like the callback is."""

from __future__ import annotations

import pytest

from connector.domain.errors import ConfigError, ReconnectNeeded
from connector.ledgers.oauth_flow import Grant, authorize, grant_from_redirect

CODE = "AB11729013SECRETCODE"

HTTPS_REDIRECT = "https://books.example.com/tokenbooks/callback"


def pasted_flow(answers: list[str], redirect: str = HTTPS_REDIRECT, paste: bool = False):
    said: list[str] = []
    states: list[str] = []

    def consent(state: str) -> str:
        states.append(state)
        return f"https://consent.example/authorize?state={state}"

    def ask(_prompt: str) -> str:
        answer = answers.pop(0)
        return answer.replace("{state}", states[0])

    grant = authorize(consent, redirect, open_browser=False, say=said.append, ask=ask, paste=paste)
    return grant, said


def test_an_https_redirect_is_pasted_back_and_read_code_state_and_realm():
    grant, said = pasted_flow([f"{HTTPS_REDIRECT}?code={CODE}&state={{state}}&realmId=9341452000000001"])
    assert grant == Grant(CODE, "9341452000000001")
    assert any("https://consent.example/authorize" in text for text in said)
    assert all(CODE not in text for text in said)


def test_a_pasted_address_of_another_attempt_or_another_uri_is_refused_and_asked_again():
    grant, said = pasted_flow(
        [
            f"{HTTPS_REDIRECT}?code=OLD&state=an-older-attempt&realmId=1",
            "https://evil.example/callback?code=X&state={state}&realmId=1",
            f"  {HTTPS_REDIRECT}?code={CODE}&state={{state}}&realmId=2  ",
        ]
    )
    assert grant == Grant(CODE, "2")
    refused = [text for text in said if text.startswith("That address was not accepted")]
    assert len(refused) == 2
    assert "not from this connection attempt" in refused[0]
    assert "does not start with the redirect URI" in refused[1]


def test_three_wrong_pastes_end_the_attempt():
    with pytest.raises(ReconnectNeeded) as caught:
        pasted_flow([f"{HTTPS_REDIRECT}?code=X&state=wrong"] * 3)
    assert "not from this connection attempt" in caught.value.message


def test_a_denied_consent_pasted_back_ends_at_once():
    with pytest.raises(ReconnectNeeded) as caught:
        pasted_flow([f"{HTTPS_REDIRECT}?error=access_denied&state={{state}}"])
    assert "access_denied" in caught.value.message


def test_paste_works_with_a_loopback_uri_too_for_a_browser_on_another_machine():
    loopback = "http://127.0.0.1:8765/callback"
    grant, _ = pasted_flow([f"{loopback}?code={CODE}&state={{state}}"], redirect=loopback, paste=True)
    assert grant == Grant(CODE, "")


def test_without_anyone_to_paste_an_https_redirect_is_a_clear_configuration_error():
    with pytest.raises(ConfigError) as caught:
        authorize(lambda state: "https://consent.example", HTTPS_REDIRECT, open_browser=False, say=print)
    assert "pasted back" in caught.value.message


def test_grant_from_redirect_checks_the_state_in_constant_time_terms():
    with pytest.raises(ReconnectNeeded):
        grant_from_redirect(f"{HTTPS_REDIRECT}?code=X&state=a", "b", HTTPS_REDIRECT)
    assert grant_from_redirect(f"{HTTPS_REDIRECT}/?code=X&state=b", "b", HTTPS_REDIRECT) == Grant("X", "")

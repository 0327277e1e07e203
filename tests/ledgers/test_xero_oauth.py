"""Xero OAuth through xero-python against the sandbox: consent, code exchange, connections, refresh."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from connector.domain.errors import ConfigError, ReconnectNeeded
from connector.ledgers.xero.oauth import XeroConnection, choose_tenant
from tests.xero_support import REDIRECT_URI, SCOPES, running_xero


def test_consent_code_exchange_and_the_connected_organisation():
    with running_xero(check_requests=True) as rig:
        oauth = rig.oauth()
        url = oauth.authorization_url("state-7")
        query = parse_qs(urlparse(url).query)
        assert url.startswith(rig.box.base_url + "/identity/connect/authorize?")
        assert query["scope"] == [SCOPES]
        assert query["redirect_uri"] == [REDIRECT_URI]
        redirect = requests.get(url, allow_redirects=False, timeout=5)
        answer = parse_qs(urlparse(redirect.headers["Location"]).query)
        assert answer["state"] == ["state-7"]
        tokens = oauth.exchange_code(answer["code"][0])
        assert tokens.access_expires_at == rig.now() + timedelta(seconds=1800)
        assert tokens.refresh_expires_at == rig.now() + timedelta(days=60)
        assert tokens.scope == SCOPES
        assert tokens.company_id == ""  # the organisation is chosen from the connections
        [connection] = oauth.connections(tokens)
        assert connection.tenant_id == rig.box.tenant_id
        assert choose_tenant([connection], None) == connection
        with pytest.raises(ReconnectNeeded, match="authorization code was used already"):
            oauth.exchange_code(answer["code"][0])  # single-use: a second exchange is refused
        rig.clock.advance(timedelta(minutes=10))
        fresh = oauth.refresh(tokens)
        assert fresh.refresh_token != tokens.refresh_token
        assert fresh.access_expires_at == rig.now() + timedelta(seconds=1800)


def test_choosing_the_organisation_when_a_consent_connected_several():
    acme = XeroConnection("c1", "t-acme", "Acme Analytics", "ORGANISATION")
    other = XeroConnection("c2", "t-other", "Other Co", "ORGANISATION")
    practice = XeroConnection("c3", "t-practice", "Adviser Practice", "PRACTICE")
    assert choose_tenant([acme, other, practice], "Other Co") == other
    assert choose_tenant([acme, practice], None) == acme  # a practice is never a candidate
    assert choose_tenant([acme, other], None, ask=lambda choices: choices[1]) == other
    with pytest.raises(ConfigError, match=r"connected 2 organisations") as ambiguous:
        choose_tenant([acme, other], None)
    assert "--tenant" in ambiguous.value.fix
    assert "TOKENBOOKS_XERO__TENANT_ID" in ambiguous.value.fix
    with pytest.raises(
        ConfigError, match=r"did not connect organisation 'Globex'.*Acme Analytics \(t-acme\)"
    ):
        choose_tenant([acme, other], "Globex")
    with pytest.raises(ReconnectNeeded, match="no organisation"):
        choose_tenant([practice], None)

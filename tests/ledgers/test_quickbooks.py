"""The QuickBooks adapter, with python-quickbooks for real over HTTP against the stateful sandbox."""

from datetime import date
from decimal import Decimal

import pytest

from connector.domain.errors import ConfigError, ReconnectNeeded, Retriable
from connector.domain.journals import Journal, JournalKind, JournalLine, LedgerTarget
from connector.ledgers.port import PostOutcome, PostRequest
from connector.ledgers.quickbooks.adapter import QuickBooksOAuth
from connector.sandbox.common import loads_exact
from tests.ledgers.conftest import connect, make_ledger


def journal(
    key="TB-AC-261003-001", amount="120.37", day=date(2026, 10, 3), account="5010", **target
) -> Journal:
    return Journal(
        key,
        "acme-us",
        JournalKind.USAGE_ACCRUAL,
        day,
        "USD",
        (
            JournalLine(
                LedgerTarget(account, target.get("class_name"), target.get("department")),
                Decimal(amount),
                "OpenAI usage accrual 2026-10-03",
            ),
            JournalLine(LedgerTarget("2150"), -Decimal(amount), "OpenAI usage accrual 2026-10-03"),
        ),
        memo="TB-AC-261003-001 · tokenbooks usage accrual",
    )


def post(ledger, j, request_id="11111111-2222-3333-4444-555555555555"):
    [result] = ledger.post([PostRequest(j, request_id)])
    return result


def test_a_journal_posts_with_exact_amounts_and_the_sdk_is_used_as_required(ledger, sandbox):
    result = post(ledger, journal(class_name="Support Assistant", department="US"))
    assert result.outcome is PostOutcome.CREATED
    [entry] = [e for e in sandbox.journal_entries() if e["DocNumber"] == "TB-AC-261003-001"]
    amounts = sorted(Decimal(str(line["Amount"])) for line in entry["Line"])
    assert amounts == [Decimal("120.37"), Decimal("120.37")]
    assert ledger.client.use_decimal is True
    assert ledger.client.minorversion == 75
    [create] = [r for r in sandbox.requests if r["method"] == "POST" and r["path"].endswith("/batch")]
    assert create["minorversion"] == "75"
    assert len(create["requestid"]) == 36  # the batch limit; derived from the journal's request id
    [item] = loads_exact(create["body"])["BatchItemRequest"]
    assert len(item["bId"]) <= 10
    assert item["bId"].endswith("11111111")
    assert '"Amount":120.37' in create["body"].replace(" ", "")  # a JSON number with its exact digits
    assert "TaxApplicableOn" not in create["body"]
    found = ledger.find("TB-AC-261003-001")
    assert found is not None
    assert found.ledger_id == result.ledger_id
    assert sorted(line.amount for line in found.lines) == [Decimal("-120.37"), Decimal("120.37")]


def test_an_answer_lost_after_the_write_is_resolved_by_looking_the_key_up(ledger, sandbox):
    ledger.chart_of_accounts()  # read (and cached) before the fault, so the fault hits the create itself
    ledger.lock_date()
    sandbox.faults.queue("lost_response")
    result = post(ledger, journal())
    assert result.outcome is PostOutcome.FOUND
    assert [e["DocNumber"] for e in sandbox.journal_entries()].count("TB-AC-261003-001") == 1


def test_throttling_with_qbos_xml_429_is_recognised_and_ridden_out(ledger, sandbox):
    ledger.chart_of_accounts()
    ledger.lock_date()
    sandbox.faults.storm("throttle", calls=2)
    result = post(ledger, journal())
    assert result.outcome is PostOutcome.CREATED
    assert ledger.stats.retries == 2


def test_a_locked_period_and_a_missing_account_are_refused_with_the_ledgers_words(ledger, sandbox):
    sandbox.set_book_close_date(date(2026, 10, 31))
    locked = post(ledger, journal())
    assert locked.outcome is PostOutcome.REJECTED
    assert locked.error_class == "LockedPeriod"
    assert "closing date 2026-10-31" in locked.message
    assert not [r for r in sandbox.requests if r["path"].endswith("/batch")]  # never attempted
    missing = post(ledger, journal(key="TB-AC-261103-001", day=date(2026, 11, 3), account="5999"))
    assert missing.outcome is PostOutcome.REJECTED
    assert "TB-AC-261103-001 line 1" in missing.message
    assert "5999" in missing.message
    inactive = post(ledger, journal(key="TB-AC-261103-002", day=date(2026, 11, 3), account="6199"))
    assert "inactive" in inactive.message


def test_the_lock_date_and_chart_come_from_quickbooks(ledger, sandbox):
    assert ledger.lock_date() is None
    sandbox.set_book_close_date(date(2026, 9, 30))
    assert ledger.lock_date() == date(2026, 9, 30)
    numbers = {a.number for a in ledger.chart_of_accounts()}
    assert {"5010", "2150", "6190"} <= numbers


def test_an_expired_access_token_is_refreshed_and_the_rotated_refresh_token_saved(ledger, sandbox, vault):
    before = vault.load("quickbooks", "acme-us")
    sandbox.expire_access_tokens()
    assert post(ledger, journal()).outcome is PostOutcome.CREATED
    after = vault.load("quickbooks", "acme-us")
    assert after.refresh_token != before.refresh_token
    assert after.access_token != before.access_token


def test_a_revoked_connection_asks_for_a_reconnect_once_instead_of_retrying(ledger, sandbox, vault):
    sandbox.revoke_all_tokens()
    with pytest.raises(ReconnectNeeded, match="tokenbooks connect quickbooks"):
        ledger.lock_date()
    assert ("quickbooks", "acme-us") in vault.reconnect


def test_a_wrong_client_secret_is_not_a_dead_connection_and_recovers_once_it_is_fixed(sandbox, vault):
    """invalid_client at the token endpoint names the app's credentials; it does not mark the connection
    "reconnect needed", so with the secret corrected the next call refreshes and goes on by itself."""
    connect(sandbox, vault)
    sandbox.expire_access_tokens()
    wrong = make_ledger(sandbox, vault)
    wrong.tokens.refresher = QuickBooksOAuth(
        client_id=sandbox.client_id,
        client_secret="not-the-secret",
        redirect_uri="http://127.0.0.1:8765/callback",
        discovery_url=sandbox.discovery_url,
        timeout=5,
    ).refresh
    with pytest.raises(ConfigError, match="invalid_client") as caught:
        wrong.lock_date()
    assert "TOKENBOOKS_QUICKBOOKS__CLIENT_SECRET" in caught.value.fix
    assert vault.reconnect == {}  # not a dead refresh token: nobody has to reconnect in a browser
    assert "invalid_client" in vault.calls[("quickbooks", "acme-us")][1]  # what `connections` shows

    fixed = make_ledger(sandbox, vault)  # the operator corrected the secret; nothing else was done
    assert post(fixed, journal()).outcome is PostOutcome.CREATED


def test_an_unreachable_quickbooks_is_a_retriable_failure_naming_the_setting(sandbox, vault):
    connect(sandbox, vault)
    ledger = make_ledger(sandbox, vault, base_url="http://127.0.0.1:9", attempts=2)
    with pytest.raises(Retriable, match="TOKENBOOKS_QUICKBOOKS__BASE_URL"):
        ledger.lock_date()

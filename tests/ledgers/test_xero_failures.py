"""What Xero refuses, and what tokenbooks then says: the journal, the line, Xero's words and what to do."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from connector.domain.errors import BudgetExhausted, ConfigError, ReconnectNeeded, Retriable
from connector.domain.journals import Journal, JournalKind, JournalLine, LedgerTarget
from connector.ledgers.port import PostOutcome, PostRequest
from connector.ledgers.tokens import TokenSet
from tests.xero_support import ENTITY, journal, running_xero


@pytest.fixture
def rig():
    with running_xero(check_requests=True) as running:
        running.connect()
        yield running


def post_one(ledger, j, draft=False):
    [result] = ledger.post([PostRequest(j, "11111111-2222-5333-8444-555555555555", draft)])
    return result


@pytest.mark.parametrize(
    ("make", "says", "fix"),
    [
        (
            lambda: journal(account="5999"),
            "journal TB-AC-261003-001 line 1: Xero has no account '5999'",
            "mappings check",
        ),
        (
            lambda: journal(account="618", tracking=()),
            "Xero account '618' (AI tooling (retired)) is archived",
            "active account",
        ),
        (
            lambda: journal(account="090", tracking=()),
            "'090' (Business Bank Account) is a bank account and cannot take manual journals",
            "ordinary",
        ),
        (
            lambda: journal(credit_account="800"),
            "line 2: Xero account '800' (Accounts Payable) is a system account (CREDITORS)",
            "ordinary",
        ),
        (
            lambda: journal(tracking=(("Product", "Legacy Bot"),)),
            "line 1: Xero tracking option Product = Legacy Bot is archived",
            "restore the option",
        ),
        (
            lambda: journal(tracking=(("Product", "Chatbot"),)),
            "tracking category 'Product' has no option 'Chatbot'",
            "add the option",
        ),
        (
            lambda: journal(tracking=(("Colour", "Red"),)),
            "Xero has no tracking category 'Colour'",
            "Tracking categories",
        ),
        (
            lambda: journal(currency="EUR"),
            "is in EUR, but this Xero organisation keeps its books in USD",
            "convert it to USD",
        ),
        (lambda: too_long_journal(501), "has 501 lines; tokenbooks sends at most 500 lines", "monthly"),
    ],
)
def test_what_xero_would_refuse_is_refused_before_any_write_naming_journal_and_line(rig, make, says, fix):
    result = post_one(rig.ledger(), make())
    assert result.outcome is PostOutcome.REJECTED
    assert says in result.message
    assert fix in result.message
    assert rig.writes() == []


def too_long_journal(lines: int) -> Journal:
    debit = [JournalLine(LedgerTarget("510"), Decimal("0.01"), f"usage {n}") for n in range(lines - 1)]
    credit = JournalLine(LedgerTarget("2150"), Decimal("-0.01") * (lines - 1), "accrued")
    return Journal(
        "TB-AC-261003-001", ENTITY, JournalKind.USAGE_ACCRUAL, date(2026, 10, 3), "USD", (*debit, credit)
    )


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            lambda box: box.set_account_status("510", "ARCHIVED"),
            "line 1 (510 (Support Assistant, US)): Account code '510' has been archived, or deleted.",
        ),
        (
            lambda box: box.set_tracking_status("Product", "Support Assistant", "ARCHIVED"),
            "line 1 (510 (Support Assistant, US)): The tracking option 'Support Assistant' in tracking category 'Product' has been archived.",
        ),
        (
            lambda box: box.set_tracking_status("Region", None, "ARCHIVED"),
            "line 1 (510 (Support Assistant, US)): The tracking category 'Region' has been archived.",
        ),
    ],
)
def test_what_changed_in_xero_after_tokenbooks_read_it_is_refused_by_xero_and_tied_to_the_line(
    rig, change, says
):
    ledger = rig.ledger()
    ledger.chart_of_accounts()
    ledger.tracking()
    change(rig.box)
    result = post_one(ledger, journal())
    assert result.outcome is PostOutcome.REJECTED
    assert result.error_class == "Rejected"
    assert result.message.startswith("Xero refused journal TB-AC-261003-001: ")
    assert says in result.message
    assert "restore" in result.message


def test_an_unbalanced_journal_sent_by_a_bug_is_refused_by_xero_and_called_a_bug(rig):
    ledger = rig.ledger()
    build = ledger.to_manual_journal

    def buggy(j, draft=False):
        mj = build(j, draft=draft)
        mj.journal_lines[1].line_amount = Decimal("-10.00")
        return mj

    ledger.to_manual_journal = buggy
    result = post_one(ledger, journal(amount="120.37"))
    assert result.outcome is PostOutcome.REJECTED
    assert "the whole journal: The total debits (120.37) must equal total credits (-10.00)" in result.message
    assert "this is a bug" in result.message


def test_a_locked_period_is_refused_as_locked_whether_tokenbooks_or_xero_notices(rig):
    ledger = rig.ledger()
    rig.box.set_lock_dates(period="2026-10-31")
    local = post_one(ledger, journal())
    assert (local.outcome, local.error_class) == (PostOutcome.REJECTED, "LockedPeriod")
    assert "on or before Xero's lock date 2026-10-31" in local.message
    assert rig.writes() == []
    # Forced past tokenbooks' own check (the lock moved after the organisation was read): Xero refuses.
    rig.box.set_lock_dates(period=None)
    ledger.lock_date()
    rig.box.set_lock_dates(period="2026-10-31")
    forced = post_one(ledger, journal())
    assert (forced.outcome, forced.error_class) == (PostOutcome.REJECTED, "LockedPeriod")
    assert (
        "The document date cannot be before the period lock date, currently set at 31-Oct-2026"
        in forced.message
    )
    assert rig.box.manual_journals() == []


def test_a_wrong_tenant_asks_for_a_reconnect_and_names_the_setting(rig):
    ledger = rig.ledger(tenant_id="0d9c2a3e-7f51-4c0e-9d4f-1b2a3c4d5e6f")
    with pytest.raises(ReconnectNeeded) as caught:
        ledger.lock_date()
    assert "403 AuthenticationUnsuccessful" in str(caught.value)
    assert "TOKENBOOKS_XERO__TENANT_ID" in str(caught.value)
    assert "tokenbooks connect xero" in str(caught.value)
    assert ("xero", ENTITY) in rig.vault.reconnect


def test_a_disconnected_organisation_asks_for_a_reconnect(rig):
    rig.box.disconnect_tenant()
    with pytest.raises(ReconnectNeeded, match="app was disconnected in Xero"):
        post_one(rig.ledger(), journal())


def test_an_expired_access_token_is_refreshed_and_the_rotated_refresh_token_saved_at_once(rig):
    ledger = rig.ledger()
    before = rig.vault.load("xero", ENTITY)
    rig.box.expire_access_tokens()  # Xero says 401 although tokenbooks' clock thinks the token is fine
    assert post_one(ledger, journal()).outcome is PostOutcome.CREATED
    after = rig.vault.load("xero", ENTITY)
    assert after.refresh_token != before.refresh_token
    assert after.access_token != before.access_token
    assert after.company_id == before.company_id
    # Half an hour later tokenbooks' own clock says the token is due: it refreshes before calling.
    rig.clock.advance(timedelta(minutes=29))
    assert ledger.lock_date() is None
    assert rig.vault.load("xero", ENTITY).refresh_token != after.refresh_token
    assert [r["status"] for r in rig.box.requests if r["path"] == "/connect/token"] == [200, 200]


def test_an_expired_refresh_token_asks_for_a_reconnect_once_without_retrying(rig):
    ledger = rig.ledger()
    rig.clock.advance(timedelta(days=61))
    with pytest.raises(ReconnectNeeded) as caught:
        ledger.lock_date()
    assert "invalid_grant" in str(caught.value)
    assert "tokenbooks connect xero" in str(caught.value)
    assert len([r for r in rig.box.requests if r["path"] == "/connect/token"]) == 1
    assert ("xero", ENTITY) in rig.vault.reconnect


def test_wrong_app_credentials_are_a_configuration_error(rig):
    ledger = rig.ledger(client_secret="not-the-secret")
    rig.clock.advance(timedelta(minutes=31))
    with pytest.raises(ConfigError, match="TOKENBOOKS_XERO__CLIENT_SECRET"):
        ledger.lock_date()
    assert ("xero", ENTITY) not in rig.vault.reconnect  # the connection is intact …
    rig.ledger().lock_date()  # … and works again as soon as the secret is right, with no reconnect


def test_an_unreachable_xero_is_retriable_and_names_the_setting(rig):
    ledger = rig.ledger(base_url="http://127.0.0.1:9/api.xro/2.0", attempts=2)
    with pytest.raises(Retriable, match="TOKENBOOKS_XERO__BASE_URL"):
        ledger.lock_date()


def test_the_daily_limit_stops_the_run_instead_of_waiting_for_hours():
    with running_xero(calls_per_day=3, check_requests=True) as rig:
        rig.connect()
        ledger = rig.ledger()
        ledger.lock_date()
        ledger.chart_of_accounts()
        ledger.tracking()
        with pytest.raises(BudgetExhausted) as caught:
            post_one(ledger, journal())
        assert "daily" in str(caught.value)
        assert "next run" in str(caught.value)
        assert rig.writes() == []  # the header said 0 left: tokenbooks did not even try


def test_an_endpoint_the_granted_scopes_do_not_cover_is_reconnect_needed_naming_the_scope_settings():
    with running_xero(check_requests=True) as rig:
        issued = rig.box.issue_tokens(
            scope="offline_access accounting.manualjournals accounting.settings.read"
        )
        rig.vault.save(
            "xero",
            ENTITY,
            TokenSet(
                access_token=issued["access_token"],
                refresh_token=issued["refresh_token"],
                access_expires_at=rig.now() + timedelta(seconds=1800),
                refresh_expires_at=rig.now() + timedelta(days=60),
                company_id=issued["tenant_id"],
                scope=issued["scope"],
            ),
        )
        ledger = rig.ledger()
        assert ledger.lock_date() is None  # Organisation: accounting.settings.read covers it
        with pytest.raises(ReconnectNeeded) as caught:
            ledger.bills("OpenAI", date(2026, 10, 1), date(2026, 10, 31))  # Invoices: not granted
        assert "401 AuthorizationUnsuccessful" in caught.value.message
        assert "scopes this connection was granted do not cover it" in caught.value.message
        assert "TOKENBOOKS_XERO__SCOPE_SET" in caught.value.fix
        assert not [r for r in rig.box.requests if r["path"].endswith("/connect/token")]  # no useless refresh

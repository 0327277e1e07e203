"""`close`: a day a provider account's cost never came for is named, and keeps the month open, until a
pull reads it; a quiet day of an account that is quiet on that weekday is no alarm."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from connector.domain.missing_days import MissingDay
from connector.domain.periods import Period
from connector.service.close import close_month
from connector.service.pull import pull_sources
from tests.service.books_world import ENTITY, books_world, policies

NOVEMBER = Period(2026, 11)
NOV_30 = date(2026, 11, 30)  # a Monday


def _days(first: date, last: date):
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def test_the_last_day_delivered_after_the_nightly_stopped_reading_it_keeps_the_close_open(
    tmp_path, database_url
):
    """The dogfooded month: 30 November's rows land on 7 December, after the nights re-read November;
    the invoice's true-up (10.00, within the 25.00 tolerance) would have absorbed the day in silence."""
    world = books_world(tmp_path, database_url=database_url)
    for day in _days(date(2026, 11, 1), date(2026, 11, 29)):
        world.source.set("10.00", day)
    for day in _days(date(2026, 11, 1), date(2026, 12, 5)):
        if day.day % 7 == 0 or day >= date(2026, 11, 28):
            world.night(day)
    world.invoice("INV-11", "2026-11", "2026-12-03", "300.00")
    world.clock.now = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)

    result = close_month(world.app, entity=ENTITY, period=NOVEMBER)

    checklist = result.checklist
    assert result.status == "succeeded", result.reason
    assert checklist.missing == [MissingDay("openai", "org-1", NOV_30, pulled_by="openai")]
    assert checklist.reconciliation == [("openai", "org-1", "matched")]  # the true-up absorbed the day
    [blocker] = checklist.blockers
    assert blocker.what.startswith("openai org-1: no cost for 2026-11-30 — the provider may deliver it late")
    assert blocker.fix.startswith(
        "tokenbooks pull --provider openai --since 2026-11-30  (reads the day again), then "
        "`tokenbooks close --period 2026-11`; or, if the account truly had no spend that day, confirm it in "
        "the policies (`no_cost_days: [2026-11-30]`"
    )
    assert not checklist.ready

    world.source.set("10.00", NOV_30)  # delivered on 7 December
    world.clock.now = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    pulled = pull_sources(world.app, entity=ENTITY, since=NOV_30)
    assert pulled.status == "succeeded", pulled.reason
    again = close_month(world.app, entity=ENTITY, period=NOVEMBER)
    assert again.checklist.missing == []
    assert again.checklist.reconciliation == [("openai", "org-1", "matched")]
    assert [line.accrued for line in again.checklist.accruals] == [Decimal("300.00")]
    assert again.checklist.ready


def test_a_small_accounts_quiet_weekend_at_month_end_is_no_missing_day(tmp_path, database_url):
    """Spend on weekdays only: Saturday 28 and Sunday 29 November hold nothing, as every weekend did."""
    world = books_world(tmp_path, database_url=database_url)
    weekdays = [d for d in _days(date(2026, 10, 20), NOV_30) if d.weekday() < 5]
    for day in weekdays:
        world.source.set("3.00", day)
    world.night(date(2026, 10, 31))
    world.night(NOV_30)
    november = sum(1 for d in weekdays if d.month == 11)
    world.invoice("INV-11", "2026-11", "2026-12-03", f"{3 * november}.00")
    world.clock.now = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)

    checklist = close_month(world.app, entity=ENTITY, period=NOVEMBER).checklist

    assert checklist.missing == []
    assert checklist.ready, checklist.blockers


def test_a_day_the_controller_confirms_had_no_spend_is_listed_not_blocking(tmp_path, database_url):
    """A daily account truly idle on Monday 30 November (its team was off): the close names the day; the
    controller confirms it in a new version of the policies, and the close lists it as confirmed and is
    ready, without any pull finding a cost."""
    world = books_world(tmp_path, database_url=database_url)
    for day in _days(date(2026, 11, 1), date(2026, 11, 29)):
        world.source.set("10.00", day)
    world.night(NOV_30)
    world.invoice("INV-11", "2026-11", "2026-12-02", "290.00")
    world.clock.now = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    assert [m.day for m in close_month(world.app, entity=ENTITY, period=NOVEMBER).checklist.missing] == [
        NOV_30
    ]

    confirmed = policies("billing: arrears, no_cost_days: [2026-11-30]")
    world.rewrite_policies(
        confirmed.replace("policy_version: 1", "policy_version: 2")
        .replace("effective_from: 2026-01-01", "effective_from: 2026-12-01")
        .replace(
            "change_note: test policies", "change_note: org-1 idle on 30 November (confirmed by J. Rivera)"
        )
    )
    checklist = close_month(world.app, entity=ENTITY, period=NOVEMBER).checklist

    assert checklist.missing == []
    assert checklist.no_cost_confirmed == [MissingDay("openai", "org-1", NOV_30, pulled_by="openai")]
    assert checklist.ready, checklist.blockers


def test_the_nightly_alerts_a_day_whose_cost_has_not_come_a_week_later_once(tmp_path, database_url):
    """Before any close: the nights of December read November again, the 30th never comes; a week after
    it the night's alerts name it, once, with the pull."""
    from connector.service.alerts import find_alerts, raise_alerts

    world = books_world(tmp_path, database_url=database_url)
    for day in _days(date(2026, 10, 26), date(2026, 11, 29)):
        world.source.set("10.00", day)
    world.night(date(2026, 10, 31))
    world.night(date(2026, 11, 29))
    world.night(date(2026, 12, 6))
    assert [a.kind for a in find_alerts(world.app, ENTITY)] == []  # six days: the provider may still send it

    world.night(date(2026, 12, 7))
    [alert] = [a for a in find_alerts(world.app, ENTITY) if a.kind == "missing_day"]
    assert (alert.subject, alert.period) == ("openai/org-1", "2026-11-30")
    assert alert.message.startswith(
        "openai org-1: no cost for 2026-11-30, though it has cost on every Monday"
    )
    # the close's fix: the pull of the nightly source that stored the account, not every source again
    assert alert.action.startswith(
        "tokenbooks pull --provider openai --since 2026-11-30  (reads the day again) once the provider has "
        "delivered it; or, if the account truly had no spend that day, confirm it in the policies "
        "(`no_cost_days: [2026-11-30]`"
    )
    raise_alerts(world.app, ENTITY)
    raise_alerts(world.app, ENTITY)
    with world.app.store.unit_of_work() as uow:
        stored = [a for a in uow.alerts.newest(50) if a.kind == "missing_day"]
    assert [(a.subject, a.period) for a in stored] == [("openai/org-1", "2026-11-30")]  # raised once


def test_the_nightly_raises_no_alert_for_a_day_the_controller_confirmed_idle(tmp_path, database_url):
    """The close of 3 December names Monday 30 November; the controller confirms it idle in a new
    version of the policies the same day. A week after the day the night's alerts keep quiet about it,
    as the close does (before, the alert read the facts alone and fired for the confirmed day)."""
    from connector.service.alerts import find_alerts

    world = books_world(tmp_path, database_url=database_url)
    for day in _days(date(2026, 10, 26), date(2026, 11, 29)):
        world.source.set("10.00", day)
    world.night(date(2026, 10, 31))
    world.night(NOV_30)
    world.invoice("INV-11", "2026-11", "2026-12-02", "290.00")
    world.clock.now = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    assert [m.day for m in close_month(world.app, entity=ENTITY, period=NOVEMBER).checklist.missing] == [
        NOV_30
    ]
    world.rewrite_policies(
        policies("billing: arrears, no_cost_days: [2026-11-30]")
        .replace("policy_version: 1", "policy_version: 2")
        .replace("effective_from: 2026-01-01", "effective_from: 2026-12-01")
        .replace("change_note: test policies", "change_note: org-1 idle on 30 November (J. Rivera)")
    )

    world.night(date(2026, 12, 7))

    assert [a for a in find_alerts(world.app, ENTITY) if a.kind == "missing_day"] == []


def test_refused_policies_leave_the_nights_other_alerts_standing(tmp_path, database_url):
    """A policies file broken by an edit fails the night's sync; the alerts still name that failure (the
    missing-day check, which reads the policies' confirmations, waits for the mended file)."""
    from connector.service.alerts import find_alerts
    from connector.service.sync import sync

    world = books_world(tmp_path, database_url=database_url)
    for day in _days(date(2026, 10, 26), date(2026, 11, 29)):
        world.source.set("10.00", day)
    world.night(NOV_30)
    world.rewrite_policies("policy_version: [unclosed\n")
    world.clock.night_after(date(2026, 12, 7))
    assert sync(world.app, entity=ENTITY, until=date(2026, 12, 7)).status == "failed"

    kinds = {a.kind for a in find_alerts(world.app, ENTITY)}

    assert "run_failed" in kinds
    assert "missing_day" not in kinds

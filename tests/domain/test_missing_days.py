"""Which days of a month an account's cost never came for (`domain/missing_days.py`): a day the account
has cost on every week, not a quiet day of its own rhythm."""

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from connector.domain.missing_days import MissingDay, first_day_read, missing_days
from connector.domain.periods import Period

NOVEMBER = Period(2026, 11)
ACCOUNT = ("warehouse.bedrock", "aws", "123456789012")
NIGHTLY = {"warehouse.bedrock": "aws"}


def days(first: date, last: date, keep=lambda day: True) -> set[date]:
    return {
        first + timedelta(days=n) for n in range((last - first).days + 1) if keep(first + timedelta(days=n))
    }


def missing(has_cost: set[date], nightly=NIGHTLY) -> list[date]:
    return [m.day for m in missing_days({ACCOUNT: has_cost}, NOVEMBER, nightly=nightly)]


def test_the_last_day_of_a_daily_account_is_missing_and_names_the_source_that_reads_it():
    found = missing_days({ACCOUNT: days(date(2026, 10, 1), date(2026, 11, 29))}, NOVEMBER, nightly=NIGHTLY)
    assert found == [MissingDay("aws", "123456789012", date(2026, 11, 30), "aws")]


def test_an_account_from_imported_files_only_is_named_without_a_source():
    [found] = missing_days(
        {("import.focus", "aws", "1"): days(date(2026, 10, 1), date(2026, 11, 29))}, NOVEMBER, nightly=NIGHTLY
    )
    assert found.pulled_by is None


def test_a_weekday_account_is_quiet_at_weekends_and_a_missing_monday_is_named():
    weekdays = days(date(2026, 10, 1), date(2026, 11, 30), lambda d: d.weekday() < 5)
    assert missing(weekdays) == []
    assert missing(weekdays - {date(2026, 11, 30)}) == [date(2026, 11, 30)]


def test_days_before_an_accounts_first_cost_and_its_first_weeks_are_not_judged():
    """Opened (or its source added) on Monday 9 November: nothing before is missing; the 30th, a Monday
    with three Mondays of cost before it, is."""
    opened = days(date(2026, 11, 9), date(2026, 11, 29))
    assert missing(opened) == [date(2026, 11, 30)]
    younger = days(date(2026, 11, 16), date(2026, 11, 29))  # two Mondays before the 30th: too few
    assert missing(younger) == []


def test_a_source_that_stopped_delivering_names_every_day_it_owes():
    assert missing(days(date(2026, 10, 1), date(2026, 11, 20))) == sorted(
        days(date(2026, 11, 21), NOVEMBER.last_day)
    )


def test_an_account_used_on_some_days_only_is_not_named():
    every_third = days(date(2026, 10, 1), NOVEMBER.last_day, lambda d: d.toordinal() % 3 == 0)
    assert missing(every_third) == []


@given(st.sets(st.dates(first_day_read(NOVEMBER), NOVEMBER.last_day)))
def test_a_named_day_is_of_the_period_holds_no_cost_and_follows_weeks_of_cost_on_its_weekday(has_cost):
    named = missing(has_cost)
    for day in named:
        assert NOVEMBER.contains(day)
        assert day not in has_cost
        # the weeks before have cost on its weekday, or are themselves named (a source that stopped)
        assert {day - timedelta(days=7 * n) for n in (1, 2, 3)} <= has_cost | set(named)

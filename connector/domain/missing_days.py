"""Days a provider account's data never came for: what the close names before a month is signed off.

A source that delivers a day late (a warehouse export whose last day of the month lands after the
source's restatement window, `FINAL_AFTER_DAY`) leaves that day with no cost at all in the store. Nothing
else notices: the invoice true-up absorbs a small day within tolerance and the reconciliation says
"matched". But no data is not the same as no spend: a small account is quiet at weekends, an account
opened mid-month has no days before its first, a prepaid account may be used on some days only. Neither
an API's empty answer nor a warehouse's absent partition says which (a warehouse query over a day whose
rows have not landed answers exactly as one over a quiet day), so the rule reads the account's own
rhythm from the costs it did deliver:

a day of the period is **missing** for a provider account when no cost (not even a zero) is stored for
it, and the account has cost on each of the same weekdays of the `LOOKBACK_DAYS` before it since its
first day with cost — at least `MIN_SAME_WEEKDAYS` of them; a same weekday itself named missing counts as
one with cost (the day it owes).

So a Monday missing from an account with cost every Monday is named; a quiet Saturday of an account that
is quiet on Saturdays is not; a day before an account's first cost (opened, or its source added, mid-month)
is not, nor a day of an account younger than three weeks; an account used on some days only is seldom
sure enough to be named. Only the weeks before the day count: a source that stopped delivering names every
day it owes, not none because the next week is empty too.

A day the controller confirms the account had no spend (`no_cost_days:` on its entry in the policies)
is not missing: the close lists it as confirmed instead (`confirmed_days`), reviewed and versioned with the
policies. `docs/accounting-policies.md` (Month-end close) states the rule for controllers.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from connector.domain.periods import Period

LOOKBACK_DAYS = 28  # four weeks before the day: the previous month's end counts for its first days
MIN_SAME_WEEKDAYS = 3  # fewer earlier same weekdays say too little of the account's rhythm


@dataclass(frozen=True, slots=True)
class MissingDay:
    """A day of the period with no cost for a provider account that has cost on that weekday every week."""

    provider: str
    provider_account: str
    day: date
    # the `--provider` of the entity's nightly source that stored the account's facts; None: they came
    # from imported files only
    pulled_by: str | None


def first_day_read(period: Period) -> date:
    """The first day whose costs `missing_days` reads for `period`."""
    return period.first_day - timedelta(days=LOOKBACK_DAYS)


def missing_days(
    cost_days: Mapping[tuple[str, str, str], Collection[date]],
    period: Period,
    *,
    nightly: Mapping[str, str],
) -> list[MissingDay]:
    """Per (source, provider, account) with the days it has cost on (from `first_day_read(period)` on),
    the days of `period` missing for the (provider, account) by the module's rule, in order; `nightly`:
    the provider of each of the entity's nightly sources, keyed as `cost_days` names the source."""
    accounts: dict[tuple[str, str], set[date]] = {}
    pulled_by: dict[tuple[str, str], str] = {}
    for (source, provider, account), days in cost_days.items():
        accounts.setdefault((provider, account), set()).update(days)
        if source in nightly:
            pulled_by[(provider, account)] = nightly[source]
    found = []
    for (provider, account), has_cost in sorted(accounts.items()):
        if not has_cost:
            continue
        first = min(has_cost)
        owed = set(has_cost)  # a day named missing stands, for the weeks after it, as the day it owes
        day = max(period.first_day, first + timedelta(days=1))
        while day <= period.last_day:
            if day not in has_cost and _expected(day, owed, first):
                found.append(MissingDay(provider, account, day, pulled_by.get((provider, account))))
                owed.add(day)
            day += timedelta(days=1)
    return found


def _expected(day: date, owed: set[date], first: date) -> bool:
    """Whether the account owes cost on each same weekday of the weeks before `day` (enough of them)."""
    earliest = max(first, day - timedelta(days=LOOKBACK_DAYS))
    weeks = (day - earliest).days // 7
    same = [day - timedelta(days=7 * n) for n in range(1, weeks + 1)]
    return len(same) >= MIN_SAME_WEEKDAYS and all(d in owed for d in same)


def confirmed_days(
    found: list[MissingDay], no_cost_days: Callable[[str, str], Collection[date]]
) -> tuple[list[MissingDay], list[MissingDay]]:
    """`found` split into the days still missing and those the policies confirm had no spend
    (`no_cost_days(provider, account)`: the days confirmed for the account)."""
    confirmed = [m for m in found if m.day in no_cost_days(m.provider, m.provider_account)]
    return [m for m in found if m not in confirmed], confirmed


def read_again(missing: MissingDay) -> str:
    """The command that reads a missing day again: the pull of the entity's nightly source that stored the
    account (`--provider` selects it, so no other source is read again), or the import of the export that
    holds the day when the account's facts came from imported files only."""
    if missing.pulled_by:
        return f"tokenbooks pull --provider {missing.pulled_by} --since {missing.day}  (reads the day again)"
    return f"tokenbooks import focus FILE  (the {missing.provider} export that holds {missing.day})"


def confirm_no_spend(day: date) -> str:
    """How a controller confirms a missing day was truly idle (`confirmed_days` reads it)."""
    return (
        f"if the account truly had no spend that day, confirm it in the policies (`no_cost_days: [{day}]` on "
        "its entry under `accounts:`, a new policy version)"
    )

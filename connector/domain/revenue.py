"""Credits you sell, booked: revenue as customers redeem and breakage under ASC 606-10-55-48, per grant.

Each grant's position (`domain/breakage.py: position`) is computed on every day it can change — a
redemption, a refund, its expiry, or a new policy version that revises the expected breakage rate (the
cumulative catch-up is booked on the version's effective date) — and the change since the previous such
day is booked that day: revenue Dr Deferred revenue / Cr AI usage revenue, breakage Dr Deferred revenue /
Cr Breakage revenue. The sale itself (Dr Cash or receivable / Cr Deferred revenue) is billing's entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from connector.domain.breakage import Grant, GrantPosition, Redemption, position
from connector.domain.credits import CustomerCreditKind
from connector.domain.journals import Bucket, JournalKind
from connector.domain.money import ZERO, quantize

CREDITS_SOLD = "credits-sold"  # bucket provider of revenue and breakage (the account is the product)


@dataclass(frozen=True, slots=True)
class GrantState:
    grant: Grant  # as sold (rate 0: the policy's rate is applied day by day)
    redemptions: tuple[Redemption, ...]
    days: tuple[date, ...]  # the days its position can change, up to as_of


def grant_states(inp) -> list[GrantState]:
    """Each grant sold (a purchase event), its redemptions, and the days its position can change."""
    events = list(inp.customer_events)
    change_days = inp.policies.change_days()
    found = []
    for purchase in (e for e in events if e.kind is CustomerCreditKind.PURCHASE):
        mine = [e for e in events if e.grant_id == purchase.grant_id and e is not purchase]
        lapses = [e.event_date for e in mine if e.kind is CustomerCreditKind.EXPIRY]
        expires = min([d for d in (purchase.expires_on, *lapses) if d is not None], default=None)
        sold = purchase.as_grant(ZERO)
        grant = Grant(
            sold.grant_id,
            sold.customer,
            sold.product,
            sold.sold_on,
            sold.amount,
            sold.currency,
            ZERO,
            expires,
        )
        redemptions = tuple(e.as_redemption() for e in mine if e.kind is CustomerCreditKind.REDEMPTION)
        days = {e.event_date for e in mine} | {d for d in change_days if d > purchase.event_date}
        if expires is not None:
            days.add(expires)
        found.append(GrantState(grant, redemptions, tuple(sorted(d for d in days if d <= inp.as_of))))
    return found


def sold_net(inp, grant: Grant, day: date) -> Decimal:
    """What the customer keeps of the grant on `day`: the amount sold less its refunds to that day (what
    revenue, breakage and deferred revenue add up to)."""
    refunded = sum(
        (
            e.amount
            for e in inp.customer_events
            if e.grant_id == grant.grant_id and e.kind is CustomerCreditKind.REFUND and e.event_date <= day
        ),
        ZERO,
    )
    return grant.amount - refunded


def position_on(inp, state: GrantState, day: date) -> GrantPosition:
    """The grant's position on `day`: the policy's rate in force that day, net of refunds to that day."""
    grant = state.grant
    rate = _rate_on(inp, grant, day)
    now = Grant(
        grant.grant_id,
        grant.customer,
        grant.product,
        grant.sold_on,
        sold_net(inp, grant, day),
        grant.currency,
        rate,
        grant.expires_on,
    )
    return position(now, state.redemptions, day)


def credits_sold(inp) -> Iterator[tuple[Bucket, Decimal, Grant, str]]:
    """Revenue and breakage per grant, booked (as credits: negative) on each day they change, each with
    the grant it is for (several grants of one product share a bucket; the memo names each) and, for a
    breakage catch-up, the change in estimate that caused it (ASC 250: booked when the estimate changes,
    not restated; the auditor reads which policy version changed it and why)."""
    for state in grant_states(inp):
        grant = state.grant
        previous_revenue = previous_breakage = ZERO
        previous_rate = None
        for day in state.days:
            pos = position_on(inp, state, day)
            revenue = quantize(pos.revenue, grant.currency)
            rate = _rate_on(inp, grant, day)
            for kind, role, change in (
                (JournalKind.REVENUE, "ai_usage_revenue", revenue - previous_revenue),
                (JournalKind.BREAKAGE, "breakage_revenue", pos.breakage - previous_breakage),
            ):
                if change:
                    target = inp.role_target(role)
                    account = grant.product or "credits"
                    why = ""
                    if kind is JournalKind.BREAKAGE and previous_rate is not None and rate != previous_rate:
                        why = estimate_change(inp, previous_rate, rate, day)
                    yield (
                        Bucket(inp.entity, kind, day, CREDITS_SOLD, account, target, grant.currency),
                        -change,
                        grant,
                        why,
                    )
            previous_revenue, previous_breakage, previous_rate = revenue, pos.breakage, rate


def _rate_on(inp, grant: Grant, day: date) -> Decimal:
    return inp.policies.in_force(inp.entity, day).breakage_rate(grant.product)


def estimate_change(inp, before: Decimal, after: Decimal, day: date) -> str:
    """A breakage catch-up's cause in words: the expected rate, then and now, and the version behind it."""
    version = inp.policies.version_on(day)
    return (
        f"change in estimate: expected breakage {before:%} → {after:%} from {day} "
        f"(policies version {version.version}: {version.change_note})"
    )

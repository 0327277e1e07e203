"""The planner: desired cumulative per bucket − already posted → delta journals.

This one mechanism gives idempotent re-runs (no delta, nothing planned), late or restated usage (a
delta), retroactive mapping changes (a delta whose expense lines net to zero: a reclass), invoice
true-ups and crash recovery (what is in the outbox counts as posted, so it is never planned twice).

Pure: it takes numbers and returns journals; the service loads the numbers and stores the journals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum

from connector.domain.errors import InvariantViolation
from connector.domain.journals import (
    KIND_LABELS,
    Bucket,
    Contribution,
    Journal,
    JournalKind,
    JournalLine,
    LedgerTarget,
    journal_key,
    key_prefix,
    merge_lines,
)
from connector.domain.money import ZERO, quantize
from connector.domain.periods import Period, first_open_day


class LockedBehaviour(StrEnum):
    NEXT_OPEN_DAY = "next_open_period"  # post on the first open day, memo naming the original period
    HOLD = "hold"  # keep the journal in the outbox, held until a controller decides


@dataclass(frozen=True, slots=True)
class LedgerCalendar:
    """What the ledger says about dates: its lock (close) date and what to do with locked journals."""

    lock_date: date | None = None
    locked_behaviour: LockedBehaviour = LockedBehaviour.NEXT_OPEN_DAY

    def is_locked(self, day: date) -> bool:
        return self.lock_date is not None and day <= self.lock_date


@dataclass(frozen=True, slots=True)
class PlannedJournal:
    journal: Journal
    hold_reason: str = ""  # non-empty: stored as held, not posted until released

    @property
    def held(self) -> bool:
        return bool(self.hold_reason)


CounterTarget = Callable[[Bucket], LedgerTarget]
ProviderLabel = Callable[[str], str]
Review = Callable[[Journal], str]  # why a journal must wait for a controller's approval ("" when not)
ReclassNote = Callable[[Sequence[date]], str]  # what changed on those days: versions and change notes
Mirror = Callable[[Bucket], Sequence[Bucket]]  # the buckets a month-end reversal's bucket mirrors
BucketDays = Callable[[Bucket], Sequence[date]]  # the usage days a bucket sums (a monthly accrual: its month)
USAGE_KINDS = (JournalKind.USAGE_ACCRUAL, JournalKind.CAPITALIZATION)  # both balance Accrued AI costs


@dataclass(frozen=True)
class Trace:
    """What memos name beyond the journal itself, so an auditor can follow each journal to what it books:
    the journal a reversal reverses, the customer and grant behind revenue and breakage, the mapping or
    policy change behind a reclass."""

    # the stored journals booking each bucket, as (outbox order, key): a reversal names those it reverses
    keys: Mapping[Bucket, Sequence[tuple[int, str]]] = field(default_factory=dict)
    sources: Mapping[Bucket, Sequence[str]] = field(default_factory=dict)  # what a bucket books
    reclass: ReclassNote | None = None
    mirrored: Mirror | None = None  # what a month-end reversal reverses (`desired.mirrored_by`)
    days: BucketDays | None = None  # the days a bucket sums (`PolicyHistory.bucket_days`); else its own


@dataclass(frozen=True, slots=True)
class _Group:
    entity: str
    kind: JournalKind
    txn_date: date
    provider: str
    provider_account: str
    currency: str
    held: bool


def deltas(desired: Mapping[Bucket, Decimal], posted: Mapping[Bucket, Decimal]) -> dict[Bucket, Decimal]:
    """desired − posted for every bucket either side knows, leaving out the ones already equal."""
    out: dict[Bucket, Decimal] = {}
    for bucket in desired.keys() | posted.keys():
        want = desired.get(bucket, ZERO)
        have = posted.get(bucket, ZERO)
        if quantize(want, bucket.currency) != want:
            raise InvariantViolation(f"desired amount {want} for {bucket.key()} is not quantized")
        if want != have:
            out[bucket] = want - have
    return out


def plan(
    desired: Mapping[Bucket, Decimal],
    posted: Mapping[Bucket, Decimal],
    *,
    counter_target: CounterTarget,
    calendar: LedgerCalendar,
    used_serials: Mapping[str, int],
    provider_label: ProviderLabel = str,
    review: Review | None = None,
    trace: Trace | None = None,
) -> list[PlannedJournal]:
    """Journals that move every bucket from `posted` to `desired`, dated and keyed deterministically.

    `used_serials` maps a key prefix (kind + date) to the highest serial the outbox already holds, so
    new keys never collide with stored ones and a re-plan after a crash gives the same keys. `review`
    holds a journal for approval by policy (a true-up beyond tolerance, the `approve` posting mode).
    `trace` gives memos what they name: the journals a reversal reverses (stored since the bucket's last
    reversal, or planned now), the customers and grants of revenue and breakage, what changed for a
    reclass, and the days each bucket is for (a month-end accrual: its month).
    """
    groups: dict[_Group, list[Contribution]] = defaultdict(list)
    for bucket, amount in sorted(deltas(desired, posted).items(), key=lambda item: item[0].key()):
        groups[_group_for(bucket, calendar)].append(Contribution(bucket, amount))
    _merge_reclasses(groups)

    serials = dict(used_serials)
    trace = trace or Trace()
    ordered = sorted(groups, key=_group_order)
    days = trace.days or _own_day
    journals = [
        _journal_for(g, groups[g], counter_target, calendar, serials, provider_label, days) for g in ordered
    ]
    # a journal planned now comes after every stored one (outbox order)
    keys: dict[Bucket, list[tuple[int, str]]] = defaultdict(list, {b: list(k) for b, k in trace.keys.items()})
    after = max((order for booked in trace.keys.values() for order, _ in booked), default=0)
    for order, journal in enumerate(journals, start=after + 1):
        for c in journal.contributions:
            keys[c.bucket].append((order, journal.key))
    planned = []
    for group, journal in zip(ordered, journals, strict=True):
        journal = replace(journal, memo=journal.memo + _traced(journal, trace, keys))
        reason = ""
        if group.held:
            reason = (
                f"{journal.txn_date} is in a period the ledger has locked (through {calendar.lock_date}); "
                "held by policy until an approver releases it"
            )
        elif review is not None:
            reason = review(journal)
        planned.append(PlannedJournal(journal, reason))
    return planned


def _group_for(bucket: Bucket, calendar: LedgerCalendar) -> _Group:
    txn_date, held = bucket.period, False
    if calendar.is_locked(bucket.period):
        if calendar.locked_behaviour is LockedBehaviour.HOLD:
            held = True
        else:
            txn_date = first_open_day(calendar.lock_date)  # type: ignore[assignment]
    return _Group(
        bucket.entity, bucket.kind, txn_date, bucket.provider, bucket.provider_account, bucket.currency, held
    )


def _merge_reclasses(groups: dict[_Group, list[Contribution]]) -> None:
    """Spend a mapping change moves between an expense and Capitalized software nets to zero only across
    the accrued and the capitalized kinds: one reclass journal, never two that each touch Accrued AI costs."""
    pairs: dict[_Group, list[_Group]] = defaultdict(list)
    for group in groups:
        if group.kind in USAGE_KINDS:
            pairs[replace(group, kind=JournalKind.USAGE_ACCRUAL)].append(group)
    for merged, found in pairs.items():
        contributions = [c for group in found for c in groups[group]]
        if len(found) == 2 and sum((c.amount for c in contributions), ZERO) == 0:
            for group in found:
                del groups[group]
            groups[merged] = contributions


def _group_order(group: _Group) -> tuple:
    """By day; on one day, a reversal after what it reverses (a true-up moved out of a closed month shares
    the reversal's first open day), so the outbox holds them in the order they undo each other."""
    reversal = group.kind is JournalKind.REVERSAL
    return (group.entity, group.txn_date, reversal, group.kind.value, group.provider, group.provider_account)


def _journal_for(
    group: _Group,
    contributions: list[Contribution],
    counter_target: CounterTarget,
    calendar: LedgerCalendar,
    serials: dict[str, int],
    provider_label: ProviderLabel,
    days: BucketDays,
) -> Journal:
    periods = sorted({c.bucket.period for c in contributions})
    moved = periods[0] != group.txn_date or periods[-1] != group.txn_date
    net = sum((c.amount for c in contributions), ZERO)
    kind = group.kind
    if net == 0 and group.kind in (JournalKind.USAGE_ACCRUAL, JournalKind.PREPAID_CONSUMPTION):
        kind = JournalKind.RECLASS  # only the category accounts move: a mapping change
    what = f"{provider_label(group.provider)} {KIND_LABELS[kind]}"
    when = _describe_days([day for c in contributions for day in days(c.bucket)])
    lines = merge_lines(JournalLine(c.bucket.target, c.amount, f"{what} {when}") for c in contributions)
    if net != 0:
        lines = (*lines, JournalLine(counter_target(contributions[0].bucket), -net, f"{what} {when}"))
    elif len(lines) < 2:
        # The deltas cancel on the same accounts (e.g. usage a provider moved from a locked day to an open
        # one). The ledger balances do not change, but the movement between periods is still booked, one
        # line per period, so posted follows desired and the trail shows what moved.
        lines = tuple(
            JournalLine(c.bucket.target, c.amount, f"{what} for {_describe_days(days(c.bucket))}")
            for c in contributions
        )

    prefix = key_prefix(kind, group.txn_date)
    serials[prefix] = serials.get(prefix, 0) + 1
    key = journal_key(kind, group.txn_date, serials[prefix])
    memo = f"{key} · tokenbooks {KIND_LABELS[kind]}: {what} for {when}, {group.provider_account}"
    original = None
    if moved and not group.held:
        original = periods[0]
        memo += (
            f". Moved to {group.txn_date}: the books are closed through {calendar.lock_date}; "
            f"it belongs to {_describe_months(periods)}"
        )
    return Journal(
        key=key,
        entity=group.entity,
        kind=kind,
        txn_date=group.txn_date,
        currency=group.currency,
        lines=lines,
        memo=memo,
        contributions=tuple(contributions),
        original_date=original,
        provider=group.provider,
        provider_account=group.provider_account,
    )


def _traced(journal: Journal, trace: Trace, keys: Mapping[Bucket, Sequence[tuple[int, str]]]) -> str:
    """The memo's trace: what the journal reverses, books for whom, or reclassifies and why."""
    parts = []
    if journal.kind is JournalKind.REVERSAL and trace.mirrored is not None:
        reversed_keys = _reversed_keys(journal, trace.mirrored, keys)
        if reversed_keys:
            parts.append(f"Reverses {_listed(reversed_keys, ', ')}")
    sources = sorted({s for c in journal.contributions for s in trace.sources.get(c.bucket, ())})
    if sources:
        parts.append("For " + _listed(sources, "; "))
    if journal.kind is JournalKind.RECLASS and trace.reclass is not None:
        parts.append(trace.reclass(sorted({c.bucket.period for c in journal.contributions})))
    return "".join(f". {part}" for part in parts if part)


def _reversed_keys(
    reversal: Journal, mirrored: Mirror, keys: Mapping[Bucket, Sequence[tuple[int, str]]]
) -> list[str]:
    """The journals a reversal reverses: those booking what its buckets mirror since the bucket's last
    reversal (which reversed everything booked before it), never the ones an earlier reversal named."""
    found: set[str] = set()
    for c in reversal.contributions:
        earlier = [order for order, key in keys.get(c.bucket, ()) if key != reversal.key]
        since = max(earlier, default=0)
        for bucket in mirrored(c.bucket):
            found.update(key for order, key in keys.get(bucket, ()) if order > since)
    return sorted(found)


def _listed(items: Sequence[str], separator: str, limit: int = 10) -> str:
    """Items for a memo; beyond `limit`, how many more (the journal's contributions name them all)."""
    more = f"{separator}and {len(items) - limit} more" if len(items) > limit else ""
    return separator.join(items[:limit]) + more


def _own_day(bucket: Bucket) -> Sequence[date]:
    return [bucket.period]


def _describe_days(days: Iterable[date]) -> str:
    """What a journal books for: a day, a whole month by its name (a month-end accrual sums the month, not
    its last day), or the span of days."""
    ordered = sorted(set(days))
    first, last = ordered[0], ordered[-1]
    if first == last:
        return first.isoformat()
    month = Period.of(first)
    span = f"{first.isoformat()}..{last.isoformat()}"
    if first == month.first_day and last == month.last_day and len(ordered) == last.day:
        return f"{month.named()} ({span})"
    return span


def _describe_months(periods: Iterable[date]) -> str:
    months = sorted({Period.of(d) for d in periods})
    return ", ".join(str(m) for m in months)


def unconverged(desired: Mapping[Bucket, Decimal], posted: Mapping[Bucket, Decimal]) -> dict[Bucket, Decimal]:
    """Buckets where posted ≠ desired (the convergence invariant, for checks after a run)."""
    return deltas(desired, posted)

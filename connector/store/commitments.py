"""What was booked, committed to the audit chain: a digest of every journal, line by line.

The event chain proves the log intact, but a journal's rows could be edited behind it (an amount on a
line, an account, a ledger id). So when a plan stores journals it also appends one `journals.committed`
event holding, per journal key, the digest of the journal's header, of each of its lines and of what it
adds to its posting buckets (its contributions: the planner subtracts them as "already posted", so an
edited one would make the next sync post a delta no provider fact explains), computed from the rows as
stored; the chain then vouches for those digests. Postings are already events (`posting.attempt`,
`posting.found`, each naming the ledger id; `reconcile.drift` when a journal left the ledger and is
queued again), and so are approvals (`journal.approved`, by the approver) and each run's start and end
(`run.started`, `run.finished`, `run.abandoned`). `audit verify` recomputes the digests from the rows and
compares, holds each journal's status, ledger id and approver to those events, and each run's actor,
kind, entity and outcome to its own (`service/audit.py: verify_books`, `verify_runs`).

The provider facts the plans are made from are committed too: each window of facts stored (a pull's
promotion, an import) appends one `facts.committed` event, in the same transaction, holding per provider
day the digest of every fact then current on it (`domain/audit_chain.py: fact_digest`), computed as the
rows are written (`store/facts.py: replace_window`); `audit verify` recomputes them from the facts table
(`service/audit.py: verify_facts`).

Each commitment is also written, in the same transaction, to the commitment index (`commitment_index`):
(kind, entity or source/account, key or day) → the id of the event that last committed it, so the poster
(`service/audit.py: unvouched`) and the sync (`service/plan.py`: a day's facts held to their commitment
before it plans from them) read the few events that concern them, not the log since the store began.
The index is a finding aid: the events stay the truth, and `audit verify` reads them, not it. An edit of
the index cannot make an altered journal or fact pass: a row naming an event that does not commit its key
(or an event whose content no longer matches its hash), and a missing row where the chain had begun
committing, are refused as "not vouched for". What an edit of it can do: point a day or journal back at an
older event that did commit it — hiding nothing unless the rows were also put back exactly as that older
event committed them, i.e. what the chain once vouched for — or refuse good rows (a row deleted or
pointed elsewhere): never a pass. `audit verify` names every index row that does not name the event that
last committed its key (`service/audit.py: verify_index`), and the rows that differ from that commitment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlmodel import Session, col

from connector.domain.audit_chain import (
    ALLOCATIONS_COMMITTED,
    COMMITTED,
    FACTS_COMMITTED,
    allocations_digest,
    pack_digests,
    row_hash,
    unpack_digests,
)
from connector.store.audit_log import EventLog
from connector.store.common import chunks
from connector.store.facts import ALLOCATION_COLUMNS, ALLOCATIONS, FACTS, day_digests
from connector.store.records import (
    EventRecord,
    JournalDigest,
    JournalRecord,
    ReplaceResult,
    RunRecord,
    record_of,
)
from connector.store.tables import (
    CommitmentIndexRow,
    ContributionRow,
    EventRow,
    FactRow,
    JournalLineRow,
    JournalRow,
    RawPayloadRow,
    RunRow,
    table_of,
)

FactDay = tuple[str, str, date]  # (source, provider account, provider day)
JOURNAL, FACTS_DAY = "journal", "facts"  # the commitment index's kinds
INDEX = table_of(CommitmentIndexRow)
# what an allocation's digest covers, in this order (beside its fact's id)
ALLOCATION_FIELDS = ALLOCATION_COLUMNS[1:]


def commit_allocations(
    session: Session,
    fact_ids: Iterable[int],
    rows: Sequence[tuple],
    *,
    run_id: str | None,
    now: datetime | None = None,
) -> None:
    """Append the `allocations.committed` event of the facts whose allocations a plan just (re)wrote: per
    fact id, the digest of its allocations (`rows`: the fact id, then ALLOCATION_FIELDS), computed from
    the rows as written; a fact left with none is committed as having none. `now`: the run's clock, as
    every other event of the run is stamped (None: the wall clock)."""
    ids = list(fact_ids)
    if not ids:
        return
    by_fact: dict[int, list[tuple]] = {fact_id: [] for fact_id in ids}
    for row in rows:
        by_fact[row[0]].append(row[1:])
    digests = {str(fact_id): allocations_digest(placed) for fact_id, placed in by_fact.items()}
    session.flush()
    top = session.execute(select(func.max(col(FactRow.id)))).scalar() or 0
    EventLog(session).append(
        ALLOCATIONS_COMMITTED,
        f"the allocations of {len(ids)} fact(s) committed",
        run_id=run_id,
        data={"facts": pack_digests(digests), "max_fact_id": top},
        now=now,
    )


POSTED_EVENTS = ("posting.attempt", "posting.found")
UNPOSTED_EVENT = "reconcile.drift"  # the journal left the ledger: queued again, no longer posted
APPROVED_EVENT = "journal.approved"
RUN_EVENTS = ("run.started", "run.finished", "run.abandoned")  # a run's row is written beside each
HEADER_FIELDS = (
    "entity",
    "ledger",
    "key",
    "kind",
    "txn_date",
    "original_date",
    "currency",
    "exchange_rate",
    "converted_from",
    "memo",
    "provider",
    "provider_account",
)
LINE_FIELDS = ("line_no", "target_key", "amount", "description")
CONTRIBUTION_FIELDS = (
    "kind",
    "period",
    "provider",
    "provider_account",
    "currency",
    "target_key",
    "amount",
    "pool",
    "converted_from",
    "source_amount",
)


def _digest(row: object, fields: Iterable[str]) -> str:
    values = {name: (None if getattr(row, name) is None else str(getattr(row, name))) for name in fields}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def digest(
    journal: JournalRow, lines: Iterable[JournalLineRow], contributions: Iterable[ContributionRow]
) -> JournalDigest:
    ordered = sorted(lines, key=lambda line: line.line_no)
    # one digest over them all, in an order that does not depend on how the rows were inserted
    buckets = sorted(_digest(c, CONTRIBUTION_FIELDS) for c in contributions)
    return JournalDigest(
        _digest(journal, HEADER_FIELDS),
        tuple(_digest(ln, LINE_FIELDS) for ln in ordered),
        hashlib.sha256(json.dumps(buckets).encode()).hexdigest(),
    )


class CommitmentRepository:
    """Digests of stored journals, and the commitments and postings the event log holds."""

    def __init__(self, session: Session) -> None:
        self.session = session
        # event id → its kind and data, of the events `_events` found intact (read once a unit of work)
        self._vouching: dict[int, tuple[str, dict]] = {}

    def digests(
        self, journal_ids: Iterable[int] | None = None
    ) -> dict[tuple[str, str], tuple[JournalRecord, JournalDigest]]:
        """(entity, key) → the journal and its digest as stored now (all journals, or those ids)."""
        self.session.flush()  # what this unit of work added is part of what is digested
        query = select(JournalRow)
        if journal_ids is not None:
            query = query.where(col(JournalRow.id).in_(list(journal_ids)))
        journals = list(self.session.execute(query).scalars())
        ids = [j.id for j in journals] if journal_ids is not None else None
        lines = self._by_journal(JournalLineRow, ids)
        contributions = self._by_journal(ContributionRow, ids)
        return {
            (j.entity, j.key): (
                record_of(j, JournalRecord),
                digest(j, lines.get(j.id, []), contributions.get(j.id, [])),
            )
            for j in journals
        }

    def _by_journal(self, table: Any, journal_ids: list[int] | None) -> dict[int, list[Any]]:
        """A journal's rows of `table` (lines, contributions) by journal id: of all journals, or those."""
        query = select(table)
        if journal_ids is not None:
            query = query.where(col(table.journal_id).in_(journal_ids))
        found: dict[int, list[Any]] = {}
        for row in self.session.execute(query).scalars():
            found.setdefault(row.journal_id, []).append(row)
        return found

    def committed(self) -> dict[tuple[str, str], tuple[int, JournalDigest]]:
        """(entity, key) → the event that last committed the journal, and its digest."""
        found: dict[tuple[str, str], tuple[int, JournalDigest]] = {}
        events = self.session.execute(
            select(EventRow).where(col(EventRow.kind) == COMMITTED).order_by(col(EventRow.id))
        )
        for event in events.scalars():
            entity = event.data.get("entity", "")
            for key, data in event.data.get("journals", {}).items():
                found[(entity, key)] = (event.id, JournalDigest.from_data(data))
        return found

    def first_committed_id(self) -> int | None:
        """The lowest journal id the chain ever committed (None: it committed none yet): journals below it
        were stored by a tokenbooks older than the commitments, and nothing vouches for them."""
        first = self.session.execute(
            select(EventRow).where(col(EventRow.kind) == COMMITTED).order_by(col(EventRow.id)).limit(1)
        ).scalar()
        if first is None:
            return None
        keys = list(first.data.get("journals", {}))
        return self.session.execute(
            select(func.min(col(JournalRow.id))).where(
                col(JournalRow.entity) == first.data.get("entity", ""), col(JournalRow.key).in_(keys)
            )
        ).scalar()

    def commit_journals(
        self, entity: str, journal_ids: Sequence[int], *, run_id: str | None, now: datetime
    ) -> None:
        """Append the `journals.committed` event of the journals a plan just stored — per key, the digest
        of the journal as stored — and index it by their keys."""
        if not journal_ids:
            return
        digests = self.digests(journal_ids)
        event = EventLog(self.session).append(
            COMMITTED,
            f"{len(journal_ids)} journal(s) committed to the audit chain",
            run_id=run_id,
            data={"entity": entity, "journals": {key: d.as_data() for (_, key), (_, d) in digests.items()}},
            now=now,
        )
        self._index(JOURNAL, entity, "", [key for _, key in digests], event.id)

    def journal_commitments(
        self, journals: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[int, JournalDigest | None]]:
        """(entity, key) → the event the index says last committed the journal, and the digest that event
        holds for it: None when the event does not commit it (or no longer matches its hash: the index or
        the event was edited). A journal the index names no event for is not in the answer. Reads those
        index rows and those events only."""
        wanted: dict[str, list[str]] = {}
        for entity, key in journals:
            wanted.setdefault(entity, []).append(key)
        indexed = {
            (entity, key): event_id
            for entity, keys in wanted.items()
            for key, event_id in self._indexed(JOURNAL, entity, "", keys).items()
        }
        events = self._events(indexed.values(), COMMITTED)
        found: dict[tuple[str, str], tuple[int, JournalDigest | None]] = {}
        for (entity, key), event_id in indexed.items():
            data = events.get(event_id) or {}
            committed = data.get("journals", {}).get(key) if data.get("entity", "") == entity else None
            found[(entity, key)] = (event_id, JournalDigest.from_data(committed) if committed else None)
        return found

    def day_commitments(self, days: Iterable[FactDay]) -> dict[FactDay, tuple[int, dict[str, str] | None]]:
        """(source, account, provider day) → the event the index says last committed the day's facts, and
        their digests as it holds them (natural key → digest): None when the event does not commit the day
        (or no longer matches its hash). A day the index names no event for is not in the answer."""
        wanted: dict[tuple[str, str], list[date]] = {}
        for source, account, day in days:
            wanted.setdefault((source, account), []).append(day)
        indexed = {
            (source, account, date.fromisoformat(day)): event_id
            for (source, account), asked in wanted.items()
            for day, event_id in self._indexed(
                FACTS_DAY, source, account, [d.isoformat() for d in asked]
            ).items()
        }
        events = self._events(indexed.values(), FACTS_COMMITTED)
        found: dict[FactDay, tuple[int, dict[str, str] | None]] = {}
        for (source, account, day), event_id in indexed.items():
            found[(source, account, day)] = (
                event_id,
                _day_in(events.get(event_id) or {}, (source, account, day)),
            )
        return found

    def current_keys(self, days: Iterable[FactDay]) -> dict[FactDay, set[str]]:
        """(source, account, provider day) → the natural keys of its current facts, as stored now."""
        connection = self.session.connection()
        return {
            fact_day: set(
                connection.execute(select(FACTS.c.natural_key).where(*_current_on(fact_day))).scalars()
            )
            for fact_day in days
        }

    def index_rows(self) -> dict[tuple[str, str, str, str], int]:
        """Every row of the commitment index: (kind, entity or source, account, key or day) → event id."""
        query = select(INDEX.c.kind, INDEX.c.subject, INDEX.c.account, INDEX.c.key, INDEX.c.event_id)
        return {tuple(row[:4]): row[4] for row in self.session.connection().execute(query)}

    def provider_days(self, entity: str, posting_day: date) -> set[FactDay]:
        """The (source, account, provider day)s whose facts, current or not, the entity posts on this day."""
        c = FACTS.c
        query = (
            select(c.source, c.provider_account, c.charge_date)
            .where(c.entity == entity, c.posting_date == posting_day)
            .distinct()
        )
        return {
            (source, account, day) for source, account, day in self.session.connection().execute(query).all()
        }

    def _index(self, kind: str, subject: str, account: str, keys: Sequence[str], event_id: int) -> None:
        """Name `event_id` as the last commitment of these keys (in the event's own transaction)."""
        for chunk in chunks(sorted(set(keys))):
            self.session.execute(
                delete(INDEX).where(
                    INDEX.c.kind == kind,
                    INDEX.c.subject == subject,
                    INDEX.c.account == account,
                    INDEX.c.key.in_(chunk),
                )
            )
            self.session.execute(
                insert(INDEX),
                [
                    {"kind": kind, "subject": subject, "account": account, "key": key, "event_id": event_id}
                    for key in chunk
                ],
            )

    def _indexed(self, kind: str, subject: str, account: str, keys: Sequence[str]) -> dict[str, int]:
        """key → the event the index names for it, of these keys (those it names none for are left out)."""
        found: dict[str, int] = {}
        for chunk in chunks(sorted(set(keys))):
            query = select(INDEX.c.key, INDEX.c.event_id).where(
                INDEX.c.kind == kind,
                INDEX.c.subject == subject,
                INDEX.c.account == account,
                INDEX.c.key.in_(chunk),
            )
            found.update(self.session.execute(query).tuples().all())
        return found

    def _events(self, event_ids: Iterable[int], kind: str) -> dict[int, dict]:
        """event id → its data, of these events that are of `kind` and still match their hash (an event
        edited behind the chain commits nothing here: `audit verify` names it)."""
        wanted = set(event_ids)
        # a plan asks again for the event of each posting day it reads: one event may commit the month
        unread = sorted(wanted - self._vouching.keys())
        for chunk in chunks(unread):
            query = select(EventRow).where(col(EventRow.id).in_(chunk))
            for event in self.session.execute(query).scalars():
                if row_hash(event) == event.hash:
                    self._vouching[event.id or 0] = (event.kind, event.data or {})
        return {
            event_id: data
            for event_id, (of_kind, data) in self._vouching.items()
            if event_id in wanted and of_kind == kind
        }

    def commit_facts(
        self,
        source: str,
        provider_account: str,
        result: ReplaceResult,
        payloads: Iterable[int],
        *,
        run_id: str | None,
        now: datetime,
    ) -> None:
        """Append the `facts.committed` event of a window just stored: per provider day it stored, the
        digest of each fact now current on it (the days it kept as they were are not in it); the sha256
        of each raw payload the window was read from (the facts' digests name their payload by id); and
        the highest fact id then (facts above it on a day no event committed were added behind the log)."""
        if not result.digests:
            return
        self.session.flush()
        top = self.session.execute(select(func.max(col(FactRow.id)))).scalar() or 0
        raw = {
            str(payload_id): sha256
            for chunk in chunks(sorted(set(payloads)))
            for payload_id, sha256 in self.session.execute(
                select(col(RawPayloadRow.id), col(RawPayloadRow.sha256)).where(
                    col(RawPayloadRow.id).in_(chunk)
                )
            ).all()
        }
        days = {day.isoformat(): packed for day, packed in sorted(result.digests.items())}
        count = sum(packed.count("\n") + 1 for packed in days.values() if packed)
        event = EventLog(self.session).append(
            FACTS_COMMITTED,
            f"{source} ({provider_account}): {count} fact(s) current on {len(days)} day(s) committed",
            run_id=run_id,
            data={
                "source": source,
                "provider_account": provider_account,
                "days": days,
                "payloads": raw,
                "max_fact_id": top,
            },
            now=now,
        )
        self._index(FACTS_DAY, source, provider_account, list(days), event.id)

    def facts_first_top(self) -> int | None:
        """The highest fact id when the first `facts.committed` event was written (None: none yet)."""
        return self._first_top(FACTS_COMMITTED)

    def fact_days(
        self,
    ) -> Iterator[
        tuple[FactDay, tuple[int, dict[str, str]] | None, tuple[dict[str, str], dict[str, int]] | None]
    ]:
        """Each (source, account, day) that has current facts or was committed: the event that last
        committed it with its facts' digests then (None: none did), and its current facts' digests and
        ids as stored now (None: none is current). The days come in the order of the events that last
        committed them, so each event is read once and only it is held (a backfill's event holds its
        month: 46 MB at a million facts), never every commitment of the store at once."""
        last = self.day_committers()
        connection = self.session.connection()
        c = FACTS.c
        days = select(c.source, c.provider_account, c.charge_date).where(c.is_current.is_(True)).distinct()
        current = {(source, account, day) for source, account, day in connection.execute(days)}
        held: tuple[int, dict[str, str]] = (0, {})  # the event read last, and its days' packed digests
        for fact_day in sorted(current | last.keys(), key=lambda d: (last.get(d, 0), d)):
            committed = None
            if (committer := last.get(fact_day)) is not None:
                if held[0] != committer:
                    query = select(col(EventRow.data)).where(col(EventRow.id) == committer)
                    held = (committer, (self.session.execute(query).scalar() or {}).get("days", {}))
                committed = (committer, unpack_digests(held[1].get(fact_day[2].isoformat(), "")))
            yield fact_day, committed, self._current_day(fact_day) if fact_day in current else None

    def day_committers(self) -> dict[FactDay, int]:
        """(source, account, provider day) → the event that last committed its facts, as the log holds it
        (each event read once, one at a time; only the ids are kept)."""
        last: dict[FactDay, int] = {}
        for event_id, data in self._events_of(FACTS_COMMITTED):
            where = (data.get("source", ""), data.get("provider_account", ""))
            for day in data.get("days", {}):
                last[(*where, date.fromisoformat(day))] = event_id
        return last

    def committed_by(self, event_id: int, fact_day: FactDay) -> dict[str, str] | None:
        """The digests of a provider day's facts as this event committed them (natural key → digest; None:
        it does not commit the day, or no longer matches its hash)."""
        return _day_in(self._events([event_id], FACTS_COMMITTED).get(event_id) or {}, fact_day)

    def _current_day(self, fact_day: FactDay) -> tuple[dict[str, str], dict[str, int]]:
        """The digests of a day's current facts, as stored now, and their ids."""
        connection = self.session.connection()
        where = _current_on(fact_day)
        ids = dict(connection.execute(select(FACTS.c.natural_key, FACTS.c.id).where(*where)).all())
        return day_digests(connection, *where), ids

    def payloads_committed(self) -> dict[int, tuple[int, str]]:
        """raw payload id → the event that committed it, and the sha256 of its body then."""
        found: dict[int, tuple[int, str]] = {}
        for event_id, data in self._events_of(FACTS_COMMITTED):
            for payload_id, sha256 in data.get("payloads", {}).items():
                found.setdefault(int(payload_id), (event_id, sha256))
        return found

    def _events_of(self, kind: str) -> Iterator[tuple[int, dict]]:
        """Each event of this kind, oldest first, its id and data, one read at a time: a backfill's
        commitment holds its month (46 MB at a million facts), and every one held at once grew with the
        store."""
        query = (
            select(col(EventRow.id), col(EventRow.data))
            .where(col(EventRow.kind) == kind)
            .order_by(col(EventRow.id))
            .execution_options(yield_per=1)
        )
        for event_id, data in self.session.execute(query):
            yield event_id, data or {}

    def payload_hashes(self, payload_ids: Iterable[int]) -> dict[int, tuple[str, str, str]]:
        """raw payload id → its source, the sha256 its row says, and the sha256 of its body as stored."""
        found: dict[int, tuple[str, str, str]] = {}
        raw = table_of(RawPayloadRow)
        for chunk in chunks(sorted(payload_ids), 500):  # bodies are pages: a few hundred at a time
            query = select(raw.c.id, raw.c.source, raw.c.sha256, raw.c.body).where(raw.c.id.in_(chunk))
            for payload_id, source, sha256, body in self.session.connection().execute(query):
                found[payload_id] = (source, sha256, hashlib.sha256(body.encode()).hexdigest())
        return found

    def allocations_first_top(self) -> int | None:
        """The highest fact id when the first `allocations.committed` event was written (None: none yet):
        allocations of facts up to it may predate the commitments."""
        return self._first_top(ALLOCATIONS_COMMITTED)

    def _first_top(self, kind: str) -> int | None:
        query = (
            select(col(EventRow.data)).where(col(EventRow.kind) == kind).order_by(col(EventRow.id)).limit(1)
        )
        first = self.session.execute(query).first()
        return None if first is None else int((first[0] or {}).get("max_fact_id") or 0)

    def allocation_windows(
        self, size: int
    ) -> Iterator[tuple[dict[int, tuple[int, str]], dict[int, tuple[str, tuple[str, ...]]]]]:
        """The allocations' commitments beside the allocations as stored, a window of `size` fact ids at a
        time (ids [k·size, (k+1)·size)), so that verify holds one window, not the store (a month of a
        million facts held at once measured 1.6 KB a fact): per fact id of the window, the event that
        last committed its allocations and their digest; and the digest of its stored allocations with
        the rule ids they name. Each event's range of fact ids is read once first; a window then reads
        only the events that reach into it, and the allocations are streamed in fact id order."""
        spans = self._allocation_spans()
        stored = self._stored_allocations(size)
        top = max(max((last for _, _, last in spans), default=-1), self._highest_allocated())
        waiting = next(stored, None)
        for low in range(0, top + 1, size):
            high = low + size
            reaching = [event_id for event_id, first, last in spans if first < high and last >= low]
            current: dict[int, tuple[str, tuple[str, ...]]] = {}
            while waiting is not None and waiting[0] < high:
                current[waiting[0]] = waiting[1]
                waiting = next(stored, None)
            if reaching or current:
                yield self._committed_between(low, high, reaching), current

    def _allocation_spans(self) -> list[tuple[int, int, int]]:
        """Each `allocations.committed` event, oldest first, with the lowest and highest fact id it names
        (an event commits the facts one plan rewrote: a window's days, so a narrow range of ids)."""
        spans = []
        for event_id, data in self._events_of(ALLOCATIONS_COMMITTED):
            ids = [int(fact_id) for fact_id in unpack_digests(data.get("facts", ""))]
            if ids:
                spans.append((event_id, min(ids), max(ids)))
        return spans

    def _committed_between(self, low: int, high: int, event_ids: list[int]) -> dict[int, tuple[int, str]]:
        """fact id in [low, high) → the last of these events that committed its allocations, and their
        digest."""
        found: dict[int, tuple[int, str]] = {}
        for chunk in chunks(event_ids):
            query = select(EventRow).where(col(EventRow.id).in_(chunk)).order_by(col(EventRow.id))
            for event in self.session.execute(query).scalars():
                for key, digest in unpack_digests((event.data or {}).get("facts", "")).items():
                    if low <= (fact_id := int(key)) < high:
                        found[fact_id] = (event.id, digest)
        return found

    def _highest_allocated(self) -> int:
        return self.session.execute(select(func.max(ALLOCATIONS.c.fact_id))).scalar() or -1

    def _stored_allocations(self, batch: int) -> Iterator[tuple[int, tuple[str, tuple[str, ...]]]]:
        """Each fact id with allocations, in order: the digest of its stored allocations, and the rule ids
        they name; the rows streamed `batch` at a time."""
        c = ALLOCATIONS.c
        query = (
            select(c.fact_id, *(c[name] for name in ALLOCATION_FIELDS))
            .order_by(c.fact_id)
            .execution_options(yield_per=batch)
        )
        rule = ALLOCATION_FIELDS.index("rule_id")
        rows = self.session.connection().execute(query)
        for fact_id, group in groupby(rows, key=itemgetter(0)):
            placed = [tuple(row[1:]) for row in group]
            yield fact_id, (allocations_digest(placed), tuple(sorted({p[rule] for p in placed})))

    def fact_labels(self, fact_ids: Iterable[int]) -> dict[int, str]:
        """fact id → how a problem names the fact: its natural key, source, account and day."""
        c = FACTS.c
        found: dict[int, str] = {}
        for chunk in chunks(sorted(fact_ids)):
            query = select(c.id, c.natural_key, c.source, c.provider_account, c.charge_date).where(
                c.id.in_(chunk)
            )
            for fact_id, key, source, account, day in self.session.connection().execute(query):
                found[fact_id] = f"fact {key} (id {fact_id}) of {source} ({account}) on {day}"
        return found

    def posted(self) -> dict[tuple[str, str], tuple[int, str]]:
        """(entity, key) → the last posting event that found or created the journal, and its ledger id;
        a journal the reconciliation found gone from the ledger (and queued again) since is not posted."""
        entities = self._run_entities()
        found: dict[tuple[str, str], tuple[int, str]] = {}
        kinds = (*POSTED_EVENTS, UNPOSTED_EVENT)
        query = select(EventRow).where(col(EventRow.kind).in_(kinds)).order_by(col(EventRow.id))
        for event in self.session.execute(query).scalars():
            data = event.data or {}
            journal = (data.get("entity") or entities.get(event.run_id, ""), data.get("key", ""))
            if event.kind == UNPOSTED_EVENT:
                found.pop(journal, None)
            elif data.get("ledger_id") and data.get("outcome", "found") in ("created", "found"):
                found[journal] = (event.id, data["ledger_id"])
        return found

    def approved(self) -> dict[tuple[str, str], tuple[int, str]]:
        """(entity, key) → the last `journal.approved` event of the journal, and who approved it."""
        entities = self._run_entities()
        found: dict[tuple[str, str], tuple[int, str]] = {}
        query = select(EventRow).where(col(EventRow.kind) == APPROVED_EVENT).order_by(col(EventRow.id))
        for event in self.session.execute(query).scalars():
            data = event.data or {}
            entity = data.get("entity") or entities.get(event.run_id, "")
            found[(entity, data.get("key", ""))] = (event.id, event.actor)
        return found

    def runs(self) -> list[tuple[str, RunRecord | None, list[EventRecord]]]:
        """Every run id the runs or the events name: its row as it says now (None: no row), with the
        events that started and ended it, in order."""
        events: dict[str, list[EventRecord]] = {}
        query = select(EventRow).where(col(EventRow.kind).in_(RUN_EVENTS)).order_by(col(EventRow.id))
        for event in self.session.execute(query).scalars():
            if event.run_id is not None:
                events.setdefault(event.run_id, []).append(record_of(event, EventRecord))
        rows = {row.id: row for row in self.session.execute(select(RunRow)).scalars()}
        return [
            (run_id, record_of(rows[run_id], RunRecord) if run_id in rows else None, events.get(run_id, []))
            for run_id in sorted(rows.keys() | events.keys())
        ]

    def _run_entities(self) -> dict[str, str]:
        return {
            run: entity or ""
            for run, entity in self.session.execute(select(col(RunRow.id), col(RunRow.entity))).all()
        }


def _current_on(fact_day: FactDay) -> tuple[Any, ...]:
    """The clauses of a provider day's current facts: (source, account, provider day)."""
    source, account, day = fact_day
    c = FACTS.c
    return (c.is_current.is_(True), c.source == source, c.provider_account == account, c.charge_date == day)


def _day_in(data: dict, fact_day: FactDay) -> dict[str, str] | None:
    """A provider day's digests as a `facts.committed` event's data holds them (natural key → digest;
    None: the event does not commit that source account's day)."""
    source, account, day = fact_day
    if (data.get("source", ""), data.get("provider_account", "")) != (source, account):
        return None
    packed = data.get("days", {}).get(day.isoformat())
    return None if packed is None else unpack_digests(packed)

"""The audit log aggregate: runs, the append-only hash-chained event log, and alerts raised."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Row, Text, func, insert, select, update
from sqlalchemy import cast as sql_cast
from sqlmodel import Session, col

from connector.domain.alerts import Alert
from connector.domain.audit_chain import GENESIS_HASH, as_utc, event_hash
from connector.redaction import redact, redact_data
from connector.store.common import utcnow
from connector.store.records import AlertRecord, ChainHead, EventRecord, RunRecord, record_of
from connector.store.tables import (
    AlertRow,
    AuditChainRow,
    EventRow,
    RunRow,
)

# ------------------------------------------------------------------------------------------- runs, log


class RunRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def start(
        self,
        run_id: str,
        kind: str,
        *,
        entity: str | None,
        params: dict,
        actor: str,
        code_version: str,
        owner: str | None,
        now: datetime,
    ) -> None:
        row = RunRow(
            id=run_id,
            kind=kind,
            entity=entity,
            actor=actor,
            started_at=now,
            params=params,
            code_version=code_version,
            owner=owner,
        )
        self.session.add(row)

    def finish(self, run_id: str, status: str, *, reason: str | None, stats: dict, now: datetime) -> None:
        row = self.session.get(RunRow, run_id)
        if row is None:
            raise KeyError(run_id)
        row.status, row.reason, row.stats, row.finished_at = status, reason, stats, now
        self.session.add(row)

    def get(self, run_id: str) -> RunRecord | None:
        row = self.session.get(RunRow, run_id)
        return record_of(row, RunRecord) if row else None

    def starting_with(self, prefix: str, limit: int = 5) -> list[RunRecord]:
        """Runs whose id starts with `prefix` (a person types the first characters of an id)."""
        query = (
            select(RunRow)
            .where(col(RunRow.id).startswith(prefix, autoescape=True))
            .order_by(col(RunRow.started_at))
        )
        return [record_of(row, RunRecord) for row in self.session.execute(query.limit(limit)).scalars()]

    def abandon_running(self, entity: str, *, now: datetime, reason: str) -> list[RunRecord]:
        """Mark the entity's runs still `running` as abandoned (call it holding the entity's lock)."""
        rows = list(
            self.session.execute(
                select(RunRow).where(col(RunRow.entity) == entity, col(RunRow.status) == "running")
            ).scalars()
        )
        for row in rows:
            row.status, row.reason, row.finished_at = "abandoned", reason, now
            self.session.add(row)
        return [record_of(row, RunRecord) for row in rows]

    def last_per_entity(
        self, kind: str | None = None, statuses: Sequence[str] | None = None
    ) -> list[RunRecord]:
        """The newest run of each entity (of one kind, with one of the statuses, when given)."""
        newest = select(col(RunRow.entity), func.max(col(RunRow.started_at)).label("started_at")).group_by(
            col(RunRow.entity)
        )
        if kind:
            newest = newest.where(col(RunRow.kind) == kind)
        if statuses:
            newest = newest.where(col(RunRow.status).in_(statuses))
        newest_sub = newest.subquery()
        query = select(RunRow).join(
            newest_sub,
            (col(RunRow.entity) == newest_sub.c.entity) & (col(RunRow.started_at) == newest_sub.c.started_at),
        )
        if kind:
            query = query.where(col(RunRow.kind) == kind)
        if statuses:
            query = query.where(col(RunRow.status).in_(statuses))
        return [
            record_of(row, RunRecord)
            for row in self.session.execute(query.order_by(col(RunRow.entity))).scalars()
        ]

    def of_entity(self, entity: str) -> list[RunRecord]:
        """Every run of the entity, oldest first."""
        query = select(RunRow).where(col(RunRow.entity) == entity).order_by(col(RunRow.started_at))
        return [record_of(row, RunRecord) for row in self.session.execute(query).scalars()]

    def status_counts(self) -> dict[tuple[str, str | None, str], int]:
        """(kind, entity, status) → number of runs."""
        rows = self.session.execute(
            select(col(RunRow.kind), col(RunRow.entity), col(RunRow.status), func.count()).group_by(
                col(RunRow.kind), col(RunRow.entity), col(RunRow.status)
            )
        )
        return {(kind, entity, status): count for kind, entity, status, count in rows}

    def latest(self, limit: int = 20, kind: str | None = None) -> list[RunRecord]:
        query = select(RunRow)
        if kind:
            query = query.where(col(RunRow.kind) == kind)
        rows = self.session.execute(query.order_by(col(RunRow.started_at).desc()).limit(limit)).scalars()
        return [record_of(row, RunRecord) for row in rows]


class EventLog:
    """The append-only, hash-chained run log.

    Every append first updates the chain's head row: that takes SQLite's write lock or PostgreSQL's row
    lock until the transaction ends, so concurrent writers append one after the other and the chain can
    never fork (two events claiming the same predecessor).
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def append(
        self,
        kind: str,
        message: str,
        *,
        run_id: str | None = None,
        actor: str = "tokenbooks",
        level: str = "info",
        data: dict | None = None,
        now: datetime | None = None,
    ) -> EventRecord:
        at = as_utc(now or utcnow())
        message = redact(message) or ""
        data = cast(
            dict, redact_data(json.loads(json.dumps(data or {}, default=str)))
        )  # a dict in, a dict out
        prev = self._lock_head()
        digest = event_hash(
            prev, at=at, actor=actor, kind=kind, message=message, data=data, run_id=run_id, level=level
        )
        row = EventRow(
            run_id=run_id,
            at=at,
            actor=actor,
            kind=kind,
            level=level,
            message=message,
            data=data,
            prev_hash=prev,
            hash=digest,
            hash_scheme=2,
        )
        self.session.add(row)
        self.session.flush()
        self.session.execute(
            update(AuditChainRow)
            .where(col(AuditChainRow.id) == 1)
            .values(last_event_id=row.id, last_hash=digest, updated_at=at)
        )
        return record_of(row, EventRecord)

    def _lock_head(self) -> str:
        """Lock the chain's head for this transaction and return the hash the next event links to."""
        bumped = cast(
            CursorResult,  # what an UPDATE returns (its rowcount), though `execute` is typed wider
            self.session.execute(
                update(AuditChainRow)
                .where(col(AuditChainRow.id) == 1)
                .values(events=col(AuditChainRow.events) + 1)
            ),
        ).rowcount
        if not bumped:  # a database created before the head existed: start it at its last event
            last = self.session.execute(
                select(col(EventRow.id), col(EventRow.hash)).order_by(col(EventRow.id).desc())
            ).first()
            count = self.session.execute(select(func.count(col(EventRow.id)))).scalar() or 0
            self.session.execute(
                insert(AuditChainRow).values(
                    id=1,
                    last_event_id=last[0] if last else 0,
                    last_hash=last[1] if last else GENESIS_HASH,
                    events=count + 1,
                    updated_at=utcnow(),
                )
            )
        return self.session.execute(
            select(col(AuditChainRow.last_hash)).where(col(AuditChainRow.id) == 1)
        ).scalar_one()

    def head(self) -> ChainHead | None:
        row = self.session.execute(
            select(col(AuditChainRow.last_event_id), col(AuditChainRow.last_hash), col(AuditChainRow.events))
        ).first()
        return ChainHead(*row) if row else None

    def last_data(self, kind: str, **match: object) -> dict | None:
        """The data of the newest event of `kind` whose data holds `match` (a few recent events are read)."""
        rows = self.session.execute(
            select(EventRow).where(col(EventRow.kind) == kind).order_by(col(EventRow.id).desc()).limit(50)
        )
        for row in rows.scalars():
            if all(row.data.get(k) == v for k, v in match.items()):
                return row.data
        return None

    def in_order(self, batch: int = 5_000) -> Iterator[EventRecord]:
        """Every event, oldest first (the chain is verified in one pass), holding little of the log at once.

        The events' columns other than their data are read `batch` rows at a time, then their data a few
        events at a time: at most `DATA_READ_CHARS` of it per read, or one larger event alone. A backfill's
        `facts.committed` event carries tens of MB (46 MB at a million facts): a page of whole rows held
        every such event of the page at once, parsed."""
        columns = [c for c in EventRow.__table__.columns if c.name != "data"]  # type: ignore[attr-defined]
        size = func.length(sql_cast(col(EventRow.data), Text)).label("size")
        after = 0
        while page := self.session.execute(
            select(*columns, size).where(col(EventRow.id) > after).order_by(col(EventRow.id)).limit(batch)
        ).all():
            for group in _data_reads(page):
                data = dict(
                    self.session.execute(
                        select(col(EventRow.id), col(EventRow.data)).where(
                            col(EventRow.id).in_([row.id for row in group])
                        )
                    ).all()
                )
                for row in group:  # each event's data dropped here once the caller is done with it
                    yield EventRecord(
                        **{c.name: row._mapping[c.name] for c in columns}, data=data.pop(row.id)
                    )
            after = page[-1].id

    def for_run(self, run_id: str) -> list[EventRecord]:
        return self._records(
            select(EventRow).where(col(EventRow.run_id) == run_id).order_by(col(EventRow.id))
        )

    def all(self) -> list[EventRecord]:
        return self._records(select(EventRow).order_by(col(EventRow.id)))

    def of_kind(self, kind: str, since: datetime | None = None) -> list[EventRecord]:
        """Every event of `kind` (from `since` on), oldest first."""
        query = select(EventRow).where(col(EventRow.kind) == kind)
        if since is not None:
            query = query.where(col(EventRow.at) >= since)
        return self._records(query.order_by(col(EventRow.id)))

    def for_runs(self, run_ids: Sequence[str]) -> list[EventRecord]:
        if not run_ids:
            return []
        return self._records(
            select(EventRow).where(col(EventRow.run_id).in_(run_ids)).order_by(col(EventRow.id))
        )

    def _records(self, query: Any) -> list[EventRecord]:
        return [record_of(row, EventRecord) for row in self.session.execute(query).scalars()]


DATA_READ_CHARS = 4_000_000  # the most event data (as stored JSON text) `in_order` reads in one query


def _data_reads(page: Sequence[Row]) -> Iterator[Sequence[Row]]:
    """`page` (rows carrying their data's `size`) cut into runs whose data together stays within
    `DATA_READ_CHARS`; an event larger than that is a run of its own."""
    start, held = 0, 0
    for at, row in enumerate(page):
        if at > start and held + row.size > DATA_READ_CHARS:
            yield page[start:at]
            start, held = at, 0
        held += row.size
    if start < len(page):
        yield page[start:]


class AlertRepository:
    """Alerts raised (once per subject and period) and where they were sent."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def for_period(self, entity: str, period: str) -> list[AlertRecord]:
        query = select(AlertRow).where(col(AlertRow.entity) == entity, col(AlertRow.period) == period)
        return self._records(query.order_by(col(AlertRow.raised_at)))

    def newest(self, limit: int) -> list[AlertRecord]:
        return self._records(select(AlertRow).order_by(col(AlertRow.id).desc()).limit(limit))

    def unsent(self) -> list[AlertRecord]:
        """The alerts no channel has accepted yet, oldest first."""
        return self._records(
            select(AlertRow).where(col(AlertRow.sent_at).is_(None)).order_by(col(AlertRow.id))
        )

    def dedup_keys(self) -> set[str]:
        """Every alert's dedup key: an alert is raised once per subject and period."""
        return set(self.session.execute(select(col(AlertRow.dedup_key))).scalars())

    def add(self, alert: Alert, *, now: datetime, run_id: str | None) -> None:
        self.session.add(
            AlertRow(
                dedup_key=alert.dedup_key,
                kind=alert.kind,
                entity=alert.entity,
                subject=alert.subject,
                period=alert.period,
                severity=alert.severity,
                message=alert.message,
                action=alert.action,
                data=dict(alert.data),
                raised_at=now,
                run_id=run_id,
            )
        )

    def delivered(
        self, alert_id: int, channels: list[str], error: str | None, sent_at: datetime | None
    ) -> None:
        """Where an alert went (`sent_at` set when a channel accepted it) and the last channel error."""
        row = self.session.get(AlertRow, alert_id)  # through the ORM: the error is redacted on flush
        if row is None:
            raise KeyError(alert_id)
        row.channels, row.last_error, row.sent_at = channels, error, sent_at
        self.session.add(row)

    def _records(self, query: Any) -> list[AlertRecord]:
        return [record_of(row, AlertRecord) for row in self.session.execute(query).scalars()]

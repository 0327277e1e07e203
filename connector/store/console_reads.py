"""The web console's reads: the store's rows as the frozen values its pages show (`domain/console.py`).

Bound to a unit of work as `uow.console`. Every list is filtered and paged in the database, and nothing
here reads facts wholesale: a page reads what it shows (a bucket's allocations a page at a time, with
the bucket's count and total computed by the database), so pages stay fast on a year of data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import and_, func, select
from sqlmodel import Session, col

from connector.domain.console import (
    AlertSummary,
    AuditEvent,
    FileVersion,
    JournalSummary,
    LineageRow,
    LineageSlice,
    Page,
    PayloadDetail,
    RunSummary,
)
from connector.domain.journals import Bucket
from connector.domain.money import ZERO
from connector.store.tables import (
    AlertRow,
    AllocationRow,
    EventRow,
    FactRow,
    JournalLineRow,
    JournalRow,
    MappingVersionRow,
    PolicyVersionRow,
    RawPayloadRow,
    RunRow,
    table_of,
)

FIRST_PAGE = Page()
LINEAGE_PAGE = Page(1, 25)


def _run(row: RunRow) -> RunSummary:
    return RunSummary(
        row.id,
        row.kind,
        row.entity,
        row.actor,
        row.status,
        row.started_at,
        row.finished_at,
        row.reason,
        dict(row.params or {}),
        dict(row.stats or {}),
    )


def _event(row: EventRow) -> AuditEvent:
    return AuditEvent(
        row.id,  # type: ignore[arg-type]
        row.at,
        row.actor,
        row.kind,
        row.level,
        row.message,
        row.run_id,
        dict(row.data or {}),
        row.hash,
    )


def payload_detail(row: RawPayloadRow) -> PayloadDetail:
    """A stored raw payload as the console's lineage and `tokenbooks audit trace` show it."""
    return PayloadDetail(
        row.id,  # type: ignore[arg-type]
        row.source,
        row.endpoint,
        dict(row.request or {}),
        row.sha256,
        row.fetched_at,
        row.body,
    )


class ConsoleReads:
    def __init__(self, session: Session) -> None:
        self.session = session

    # ------------------------------------------------------------------------------------------ runs

    def runs(
        self,
        *,
        entity: str | None = None,
        kind: str | None = None,
        status: str | None = None,
        actor: str | None = None,
        page: Page = FIRST_PAGE,
    ) -> tuple[list[RunSummary], int]:
        """Runs newest first, filtered; and how many match."""
        where = []
        if entity:
            where.append(col(RunRow.entity) == entity)
        if kind:
            where.append(col(RunRow.kind) == kind)
        if status:
            where.append(col(RunRow.status) == status)
        if actor:
            where.append(col(RunRow.actor) == actor)
        query = select(RunRow).where(*where).order_by(col(RunRow.started_at).desc())
        rows = self.session.execute(query.offset(page.offset).limit(page.size)).scalars()
        count = self.session.execute(select(func.count()).select_from(RunRow).where(*where)).scalar_one()
        return [_run(r) for r in rows], count

    def run(self, run_id: str) -> RunSummary | None:
        row = self.session.get(RunRow, run_id)
        return _run(row) if row else None

    def last_run(self, entity: str, kind: str) -> RunSummary | None:
        runs, _ = self.runs(entity=entity, kind=kind, page=Page(1, 1))
        return runs[0] if runs else None

    def run_kinds(self) -> list[str]:
        return sorted(self.session.execute(select(col(RunRow.kind)).distinct()).scalars())

    def events_of_run(self, run_id: str) -> list[AuditEvent]:
        query = select(EventRow).where(col(EventRow.run_id) == run_id).order_by(col(EventRow.id))
        return [_event(r) for r in self.session.execute(query).scalars()]

    # ---------------------------------------------------------------------------------------- events

    def events(
        self, *, kind_prefix: str | None = None, actor: str | None = None, page: Page = FIRST_PAGE
    ) -> tuple[list[AuditEvent], int]:
        """Audit events newest first; and how many match."""
        where = []
        if kind_prefix:
            where.append(col(EventRow.kind).startswith(kind_prefix))
        if actor:
            where.append(col(EventRow.actor) == actor)
        query = select(EventRow).where(*where).order_by(col(EventRow.id).desc())
        rows = self.session.execute(query.offset(page.offset).limit(page.size)).scalars()
        count = self.session.execute(select(func.count()).select_from(EventRow).where(*where)).scalar_one()
        return [_event(r) for r in rows], count

    def events_of_kind(self, kinds: Sequence[str], limit: int = 500) -> list[AuditEvent]:
        """The newest events of these kinds, newest first."""
        query = (
            select(EventRow)
            .where(col(EventRow.kind).in_(kinds))
            .order_by(col(EventRow.id).desc())
            .limit(limit)
        )
        return [_event(r) for r in self.session.execute(query).scalars()]

    # -------------------------------------------------------------------------------------- journals

    def journals(
        self,
        entity: str,
        *,
        first_day: date | None = None,
        last_day: date | None = None,
        kind: str | None = None,
        status: str | None = None,
        account: str | None = None,
        ledger_id: str | None = None,
        planned_run_id: str | None = None,
        page: Page = FIRST_PAGE,
    ) -> tuple[list[JournalSummary], int]:
        """Journals newest first, filtered (account: any line on that account; ledger_id: the journal the
        ledger holds under that id, as an auditor finds it there; planned_run_id: those a run planned); and how
        many match."""
        where = [col(JournalRow.entity) == entity]
        if first_day:
            where.append(col(JournalRow.txn_date) >= first_day)
        if last_day:
            where.append(col(JournalRow.txn_date) <= last_day)
        if kind:
            where.append(col(JournalRow.kind) == kind)
        if status:
            where.append(col(JournalRow.status) == status)
        if account:
            on_account = select(col(JournalLineRow.journal_id)).where(
                (col(JournalLineRow.target_key) == account)
                | col(JournalLineRow.target_key).startswith(account + "|")
            )
            where.append(col(JournalRow.id).in_(on_account))
        if ledger_id:
            where.append(col(JournalRow.ledger_id) == ledger_id)
        if planned_run_id:
            where.append(col(JournalRow.planned_run_id) == planned_run_id)
        query = (
            select(JournalRow)
            .where(*where)
            .order_by(col(JournalRow.txn_date).desc(), col(JournalRow.id).desc())
        )
        rows = list(self.session.execute(query.offset(page.offset).limit(page.size)).scalars())
        count = self.session.execute(select(func.count()).select_from(JournalRow).where(*where)).scalar_one()
        return [self._journal(r, totals) for r, totals in zip(rows, self._debits(rows), strict=True)], count

    def _debits(self, rows: list[JournalRow]) -> list:
        ids = [r.id for r in rows]
        found: dict[int, object] = {}
        if ids:
            query = select(col(JournalLineRow.journal_id), col(JournalLineRow.amount)).where(
                col(JournalLineRow.journal_id).in_(ids)
            )
            for journal_id, amount in self.session.execute(query):
                if amount > 0:
                    found[journal_id] = found.get(journal_id, ZERO) + amount
        return [found.get(r.id, ZERO) if r.id is not None else ZERO for r in rows]

    @staticmethod
    def _journal(row: JournalRow, debits) -> JournalSummary:
        return JournalSummary(
            row.key,
            row.entity,
            row.kind,
            row.txn_date,
            row.status,
            row.currency,
            debits,
            row.memo,
            row.hold_reason,
            row.approved_by,
            row.ledger_id,
            row.planned_run_id,
            row.last_error,
        )

    def journal(self, entity: str, key: str) -> JournalSummary | None:
        row = self.session.execute(
            select(JournalRow).where(col(JournalRow.entity) == entity, col(JournalRow.key) == key)
        ).scalar()
        return self._journal(row, self._debits([row])[0]) if row else None

    def accounts_used(self, entity: str) -> list[str]:
        """The accounts journals of the entity have lines on (for the account filter)."""
        query = (
            select(col(JournalLineRow.target_key))
            .join(JournalRow, col(JournalRow.id) == col(JournalLineRow.journal_id))
            .where(col(JournalRow.entity) == entity)
            .distinct()
        )
        return sorted({key.split("|")[0] for key in self.session.execute(query).scalars()})

    # --------------------------------------------------------------------------------------- lineage

    def lineage(
        self, bucket: Bucket, page: Page = LINEAGE_PAGE, days: Sequence[date] | None = None
    ) -> LineageSlice:
        """A page of a posting bucket's allocations with their facts, largest first; and the bucket's
        count and exact total (summed here: amounts are decimal text on SQLite). `days`: the usage days the
        bucket sums (`PolicyHistory.bucket_days`: a monthly bucket sums its month), by default its own."""
        allocations, facts = table_of(AllocationRow), table_of(FactRow)
        a, f = allocations.c, facts.c
        where = and_(
            a.entity == bucket.entity,
            a.posting_date.in_(list(days or [bucket.period])),
            a.provider == bucket.provider,
            a.provider_account == bucket.provider_account,
            a.target_key == bucket.target.key(),
        )
        amounts = list(self.session.execute(select(a.id, a.amount).where(where)).all())
        total = sum((amount for _, amount in amounts), ZERO)
        chosen = [i for i, _ in sorted(amounts, key=lambda r: (-abs(r[1]), r[0]))][
            page.offset : page.offset + page.size
        ]
        rows: list[LineageRow] = []
        if chosen:
            query = (
                select(
                    a.id,
                    a.rule_id,
                    a.mapping_version,
                    a.category,
                    a.percent,
                    a.amount,
                    f.id,
                    f.version,
                    f.is_current,
                    f.natural_key,
                    f.charge_date,
                    f.amount,
                    f.currency,
                    f.cost_basis,
                    f.dimensions,
                    f.raw_payload_id,
                )
                .join(facts, f.id == a.fact_id)
                .where(a.id.in_(chosen))
            )
            by_id = {row[0]: LineageRow(*row) for row in self.session.execute(query)}
            rows = [by_id[i] for i in chosen]
        return LineageSlice(tuple(rows), len(amounts), total)

    def payload(self, payload_id: int) -> PayloadDetail | None:
        row = self.session.get(RawPayloadRow, payload_id)
        return payload_detail(row) if row is not None else None

    # ------------------------------------------------------------------------------ alerts, ledger

    def alerts(self, entity: str, since: datetime | None = None, limit: int = 20) -> list[AlertSummary]:
        query = select(AlertRow).where((col(AlertRow.entity) == entity) | col(AlertRow.entity).is_(None))
        if since is not None:
            query = query.where(col(AlertRow.raised_at) >= since)
        rows = self.session.execute(query.order_by(col(AlertRow.id).desc()).limit(limit)).scalars()
        return [
            AlertSummary(
                r.id,
                r.kind,
                r.entity,
                r.subject,
                r.period,
                r.severity,
                r.message,
                r.action,
                r.raised_at,
                (r.data or {}).get("run_id"),
            )
            for r in rows
        ]

    def holds_facts(self, entity: str, source: str, provider_account: str) -> bool:
        """Whether the entity holds facts of this source and account (whose a bookmark is: bookmarks name
        no entity). One row looked up by the facts' (source, account) index."""
        query = (
            select(col(FactRow.id))
            .where(
                col(FactRow.source) == source,
                col(FactRow.provider_account) == provider_account,
                col(FactRow.entity) == entity,
            )
            .limit(1)
        )
        return self.session.execute(query).first() is not None

    # ----------------------------------------------------------------------------- controller files

    def file_versions(self, which: str) -> list[FileVersion]:
        """Every version of the mapping (`which="mapping"`) or the policies, newest first: those runs used
        (stored when first used) and those saved in the console (`<which>.saved` events, which carry the
        file and who saved it) — a version saved and not yet used by a sync is listed too."""
        table = MappingVersionRow if which == "mapping" else PolicyVersionRow
        saved: dict[str, AuditEvent] = {}
        for event in reversed(self.events_of_kind([f"{which}.saved"])):
            saved.setdefault(event.data.get("content_hash", ""), event)
        found: dict[str, FileVersion] = {}
        for r in self.session.execute(select(table)).scalars():
            saving = saved.get(r.content_hash)
            found[r.content_hash] = FileVersion(
                r.version,
                r.effective_from,
                r.change_note,
                r.content_hash,
                r.content,
                saving.at if saving else r.first_seen_at,
                saving.actor if saving else None,
            )
        for content_hash, event in saved.items():
            if content_hash not in found and "content" in event.data:
                d = event.data
                found[content_hash] = FileVersion(
                    int(d["version"]),
                    date.fromisoformat(str(d["effective_from"])),
                    str(d.get("change_note", "")),
                    content_hash,
                    str(d["content"]),
                    event.at,
                    event.actor,
                )
        return sorted(found.values(), key=lambda v: (v.version, v.first_seen_at), reverse=True)

"""Staging: a pull's pages stored as they arrive, invisible as facts until the whole window is read.

A pull writes each page it receives — the raw payload, the facts and usage it produced — in a transaction
of its own, under a stage (`pull_stages`): memory holds a page, never the window. Staged rows are not
facts: nothing that reads facts or usage reads the staged tables. When the window has been read without
an error, `promote` makes the source's stored window equal to what was staged (compared a provider day
at a time, like any re-read window: `repositories.replace_window`), moves the bookmark and deletes the
stage, all in one transaction (with the event committing the facts now current on each day stored to
the audit chain: `store/commitments.py`). When its errors each name the days they spoil (a warehouse's refused
rows), those days are left as stored and the rest of the window is promoted, the bookmark standing before
the first refused day. A window with any other error is discarded whole (it keeps nothing), and so is a
stage a crash left behind: the next pull of the same source and account discards it before staging
anything, so an interrupted pull still ends, once resumed, with exactly the facts of an uninterrupted one."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, and_, delete, func, insert, literal, select
from sqlalchemy.engine import Connection

from connector.domain.errors import InputError
from connector.domain.facts import Dimensions, Fact
from connector.domain.usage import Usage
from connector.store.bulk import BulkInsert
from connector.store.facts import (
    FACT_COLUMNS,
    FACT_TABLE,
    USAGE_COLUMNS,
    USAGE_TABLE,
    Copied,
    FactReader,
    Versioned,
    fact_row_values,
    replace_window,
    row_to_usage,
    usage_row_values,
)
from connector.store.records import ReplaceResult
from connector.store.tables import PullStageRow, RawPayloadRow, StagedFactRow, StagedUsageRow, table_of

if TYPE_CHECKING:  # annotations only: the store does not depend on the sources
    from connector.sources.base import RawPage, Window
    from connector.store.unit_of_work import UnitOfWork

STAGES = table_of(PullStageRow)
STAGED_FACTS = table_of(StagedFactRow)
STAGED_USAGE = table_of(StagedUsageRow)
KEYS_PER_QUERY = 10_000
# the columns a staged row is copied into its table with, beside these four set on promotion
PROMOTED = ("version", "is_current", "run_id", "pulled_at")


@dataclass(frozen=True)
class StagedKind:
    """How one versioned table (facts, usage) is staged and read back."""

    staged: Any  # the staging table
    target: Versioned  # the table promotion writes, and how
    columns: Sequence[str]  # what a row is written with (FACT_COLUMNS, USAGE_COLUMNS)
    values: Callable[[Any, int, int | None], tuple]  # (item, version, raw payload id) → row
    read: Callable[[Connection, Any, tuple], Iterator[tuple[Any, int | None]]]  # staged rows → (item, raw id)

    @property
    def day(self) -> str:
        return self.target.day

    def writer(self, connection: Connection, stage_id: int) -> BulkInsert:
        return BulkInsert(
            connection,
            self.staged,
            self.columns,
            repeating=(self.day, "posting_date", "dimensions"),
            adapt={"dimensions": Dimensions.as_dict},
            constants={"stage_id": stage_id},
        )


def _read_facts(connection: Connection, staged: Any, where: tuple) -> Iterator[tuple[Fact, int | None]]:
    reader = FactReader(connection)
    query = FactReader.query(*where, table=staged).order_by(staged.c.id)
    for row in connection.execute(query):
        yield reader.fact(row), reader.payload_id(row)


def _read_usage(connection: Connection, staged: Any, where: tuple) -> Iterator[tuple[Usage, int | None]]:
    for row in connection.execute(select(staged).where(*where).order_by(staged.c.id)):
        yield row_to_usage(row), row.raw_payload_id


FACTS_KIND = StagedKind(STAGED_FACTS, FACT_TABLE, FACT_COLUMNS, fact_row_values, _read_facts)
USAGE_KIND = StagedKind(STAGED_USAGE, USAGE_TABLE, USAGE_COLUMNS, usage_row_values, _read_usage)


class StagedWindow:
    """A staged window as `replace_window` reads it (`repositories.Incoming`): a day of items at a time.

    A day with nothing stored yet (a first pull) is copied into the table by the database itself
    (INSERT … SELECT), without a round trip through Python."""

    def __init__(
        self, connection: Connection, kind: StagedKind, stage_id: int, skip: Collection[date] = ()
    ) -> None:
        self.connection = connection
        self.kind = kind
        self.mine = kind.staged.c.stage_id == stage_id
        if skip:  # days the pull refused: what was staged of them is not part of the window
            self.mine = and_(self.mine, kind.staged.c[kind.day].not_in(list(skip)))

    def days(self) -> Iterable[date]:
        column = self.kind.staged.c[self.kind.day]
        return self.connection.execute(select(column).where(self.mine).distinct()).scalars().all()

    def on(self, day: date) -> Iterable[tuple[Any, int | None]]:
        staged = self.kind.staged
        return self.kind.read(self.connection, staged, (self.mine, staged.c[self.kind.day] == day))

    def reported(self, keys: Collection[str]) -> set[str]:
        keys, found = list(keys), set[str]()
        staged = self.kind.staged
        for start in range(0, len(keys), KEYS_PER_QUERY):
            chunk = keys[start : start + KEYS_PER_QUERY]
            query = select(staged.c.natural_key).where(self.mine, staged.c.natural_key.in_(chunk))
            found.update(self.connection.execute(query).scalars())
        return found

    def copy_day(self, connection: Connection, day: date, run_id: str | None, now: datetime) -> Copied:
        staged, target = self.kind.staged, self.kind.target.table
        names = [name for name in self.kind.columns if name != "version"]
        on_day = (self.mine, staged.c[self.kind.day] == day)
        rows = select(
            *(staged.c[name] for name in names),
            literal(1),
            literal(True),
            literal(run_id, String()),
            literal(now, target.c.pulled_at.type),
        ).where(*on_day)
        result = connection.execute(insert(target).from_select([*names, *PROMOTED], rows))
        copied = result.rowcount
        if copied < 0:  # a driver that does not count an INSERT … SELECT (psycopg here says -1): count them
            copied = connection.execute(select(func.count()).select_from(staged).where(*on_day)).scalar_one()
        days = connection.execute(select(staged.c.posting_date).where(*on_day).distinct()).scalars()
        return Copied(copied, frozenset(days))


class PullStage:
    """One pull's stage: `open` it, `add` each page as it arrives, then `promote` it or `discard` it."""

    def __init__(
        self, unit_of_work: Callable[[], UnitOfWork], stage_id: int, *, source: str, provider_account: str
    ) -> None:
        self.unit_of_work = unit_of_work  # the store's (SqlStore.unit_of_work), which opens this stage
        self.id = stage_id
        self.source = source
        self.provider_account = provider_account
        self.facts = 0
        self.usage = 0
        self.discarded_before = 0  # stages of earlier pulls (a crash) discarded when this one opened

    @classmethod
    def open(
        cls,
        unit_of_work: Callable[[], UnitOfWork],
        *,
        source: str,
        provider_account: str,
        run_id: str | None,
        now: datetime,
    ) -> PullStage:
        """A new stage for the source account, after discarding any an interrupted pull left behind."""
        with unit_of_work() as uow:
            connection = uow.session.connection()
            left_behind = connection.execute(
                select(STAGES.c.id).where(
                    STAGES.c.source == source, STAGES.c.provider_account == provider_account
                )
            ).scalars()
            left = list(left_behind)
            for stage_id in left:
                _delete_stage(connection, stage_id)
            row = PullStageRow(
                source=source, provider_account=provider_account, run_id=run_id, started_at=now
            )
            uow.session.add(row)
            uow.session.flush()
            uow.commit()
            stage = cls(unit_of_work, row.id, source=source, provider_account=provider_account)  # type: ignore[arg-type]
        stage.discarded_before = len(left)
        return stage

    def add(
        self,
        pages: Sequence[RawPage],
        facts: Sequence[Fact],
        usage: Sequence[Usage],
        *,
        run_id: str | None,
        now: datetime,
    ) -> None:
        """Store a page (or a few) and what it produced, in a transaction of its own."""
        with self.unit_of_work() as uow:
            raw_ids: dict[str, int] = {}
            added = []
            for page in pages:
                payload_id = uow.raw.add(
                    source=self.source,
                    endpoint=page.endpoint,
                    request=page.request,
                    body=page.body,
                    run_id=run_id,
                    now=now,
                )
                added.append(payload_id)
                raw_ids.update(dict.fromkeys(page.natural_keys, payload_id))
            connection = uow.session.connection()
            for kind, items in ((FACTS_KIND, facts), (USAGE_KIND, usage)):
                if items:
                    kind.writer(connection, self.id).write(
                        kind.values(item, 1, raw_ids.get(item.natural_key)) for item in items
                    )
            row = uow.session.get(PullStageRow, self.id)
            if row is None:
                raise _gone(self)
            row.raw_payload_ids = [*row.raw_payload_ids, *added]
            row.facts += len(facts)
            row.usage += len(usage)
            uow.commit()
        self.facts += len(facts)
        self.usage += len(usage)

    def promote(
        self,
        window: Window,
        bookmark: str,
        *,
        run_id: str | None,
        now: datetime,
        refused: Collection[date] = (),
        error: str = "",
        entity: str = "",
    ) -> tuple:
        """Make the source's stored window what was staged, move its bookmark and delete the stage: one
        transaction. Returns what it did to the facts and to the usage (`ReplaceResult` each). Changed facts
        leave the `entity`'s mark (`fact_marks`) in the same transaction: a pull outside a sync (`pull
        --since`) may change days the next sync's own window does not reach, and that sync plans from it.

        The `refused` days (their rows failed a check: `error` says which and why) keep what is stored of
        them, and the bookmark stands before the first of them, so that every run reads them again."""
        with self.unit_of_work() as uow:
            connection = uow.session.connection()
            self._check(connection)
            results: list[ReplaceResult] = [
                replace_window(
                    connection,
                    kind.target,
                    source=self.source,
                    provider_account=self.provider_account,
                    first_day=window.first_day,
                    last_day=window.last_day,
                    incoming=StagedWindow(connection, kind, self.id, skip=refused),
                    run_id=run_id,
                    now=now,
                    keep=refused,
                )
                for kind in (FACTS_KIND, USAGE_KIND)
            ]
            pages = connection.execute(
                select(STAGES.c.raw_payload_ids).where(STAGES.c.id == self.id)
            ).scalar()
            uow.commitments.commit_facts(
                self.source, self.provider_account, results[0], pages or (), run_id=run_id, now=now
            )
            stored_through = window.stored_through(refused).isoformat()
            if refused:
                uow.bookmarks.hold(
                    bookmark, stored_through, refused, error, now, window.first_day, window.last_day, entity
                )
            else:
                uow.bookmarks.advance(bookmark, stored_through, now, window.first_day, entity)
            if entity and results[0].changed_days:
                uow.fact_marks.add(entity, min(results[0].changed_days), changed_by=run_id or "", now=now)
            _delete_stage(connection, self.id, keep_pages=True)
            uow.commit()
        return results[0], results[1]

    def discard(self) -> None:
        """Forget the stage: its staged rows and the pages stored with them."""
        with self.unit_of_work() as uow:
            _delete_stage(uow.session.connection(), self.id)
            uow.commit()

    def _check(self, connection: Connection) -> None:
        """The stage is whole: still there (another pull of the same source did not discard it) and
        holding every row this pull staged."""
        row = connection.execute(select(STAGES.c.facts, STAGES.c.usage).where(STAGES.c.id == self.id)).first()
        if row is None or tuple(row) != (self.facts, self.usage):
            raise _gone(self)


def _gone(stage: PullStage) -> InputError:
    return InputError(
        f"{stage.source} ({stage.provider_account}): the pull's staged pages were discarded while it ran "
        "(another pull of the same source and account started meanwhile); nothing of this window was stored",
        fix="run one pull of a source at a time; the next run reads the window again",
    )


def _delete_stage(connection: Connection, stage_id: int, *, keep_pages: bool = False) -> None:
    """Delete a stage and its staged rows; its raw pages too, unless promoted facts now point at them."""
    pages = connection.execute(select(STAGES.c.raw_payload_ids).where(STAGES.c.id == stage_id)).scalar()
    for staged in (STAGED_FACTS, STAGED_USAGE):
        connection.execute(delete(staged).where(staged.c.stage_id == stage_id))
    connection.execute(delete(STAGES).where(STAGES.c.id == stage_id))
    if keep_pages or not pages:
        return
    raw = table_of(RawPayloadRow)
    for start in range(0, len(pages), KEYS_PER_QUERY):
        connection.execute(delete(raw).where(raw.c.id.in_(pages[start : start + KEYS_PER_QUERY])))

"""Plan inputs by day: which posting days' facts changed since they were last classified, and the sums
that classifying each day gave (`domain/day_sums.py`), so a plan reads only the days that changed."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import delete, func, insert, select
from sqlmodel import Session

from connector.domain.day_sums import DaySums
from connector.store.tables import FactRow, PlanDaySumsRow, table_of

FACTS = table_of(FactRow)
KEPT = table_of(PlanDaySumsRow)


class DaySumsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def facts_by_day(self, entity: str, first_day: date, last_day: date) -> dict[date, tuple[int, int]]:
        """Per posting day that has current facts: how many, and the newest one's id. Facts are never
        deleted and ids only grow, so any new, restated or moved fact raises the id, and a withdrawal
        alone lowers the count: the pair changes whenever the day's current facts do."""
        c = FACTS.c
        rows = self.session.connection().execute(
            select(c.posting_date, func.count(), func.max(c.id))
            .where(c.entity == entity, c.is_current.is_(True), c.posting_date.between(first_day, last_day))
            .group_by(c.posting_date)
            .order_by(c.posting_date)
        )
        return {day: (count, newest) for day, count, newest in rows}

    def kept(self, entity: str, first_day: date, last_day: date) -> dict[date, str]:
        """The days in range that have kept sums: day → the digest of the inputs they were computed from.
        Only the digests: a day's sums (which grow with its facts: the unmapped patterns) are read when
        the day is used (`kept_sums`), one day at a time — a month of them at once was 35 MB of a late
        night's 61 MB peak at 300,000 facts a month (issue 17)."""
        c = KEPT.c
        rows = self.session.connection().execute(
            select(c.day, c.inputs).where(c.entity == entity, c.day.between(first_day, last_day))
        )
        return dict(rows.all())

    def kept_sums(self, entity: str, day: date) -> dict:
        """The sums kept for one day (as `DaySums.to_data` wrote them)."""
        c = KEPT.c
        return (
            self.session.connection()
            .execute(select(c.data).where(c.entity == entity, c.day == day))
            .scalar_one()
        )

    def keep(self, entity: str, day: date, inputs: str, sums: DaySums, now: datetime) -> None:
        """Keep a day's sums (replacing what was kept for it), in the plan's transaction."""
        connection = self.session.connection()
        connection.execute(delete(KEPT).where(KEPT.c.entity == entity, KEPT.c.day == day))
        connection.execute(
            insert(KEPT).values(entity=entity, day=day, inputs=inputs, data=sums.to_data(), planned_at=now)
        )

"""Claims on scheduled job occurrences: two `serve` processes on one database run each occurrence once.

A claim is a row keyed by job and occurrence (`nightly:acme-us`, `2026-11-01`), inserted by whoever
gets there first (an insert that conflicts inserts nothing, on SQLite and PostgreSQL alike). The other
process is told who holds it. A claim is finished with the outcome; a failed one (or one whose run
posted only part of its journals) may be claimed again (a catch-up retries it), a successful one never.
A claim whose holder died is taken over: at once when the holder ran on this machine and its process is
gone, otherwise when its lease expires. A live holder renews its lease while it runs (`renew`, the
scheduler's heartbeat), so the lease can be short — a holder on another machine that died is taken
over minutes later, not hours — however long a night at scale takes; `stuck` lists the claims whose
holder stopped so, for the health page. A lease that a clock stepped back leaves far in the future is
brought back to one lease from now, so an NTP correction delays a job by a lease at most. The entity
lock still keeps two runs of one entity apart whatever the claims say.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from connector.leases import JOB_LEASE, holder_is_dead
from connector.store.records import StuckClaim
from connector.store.tables import JobClaimRow, table_of


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class JobClaims:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = _wall_clock) -> None:
        self.engine = engine
        self.clock = clock  # the wall clock: leases must expire in real time, whatever the app's clock says

    def claim(self, job: str, occurrence: str, owner: str, lease: timedelta = JOB_LEASE) -> str | None:
        """Claim the occurrence; None when it is ours now, else who holds it (and since when)."""
        now = self.clock()
        table = table_of(JobClaimRow)
        values = {
            "job": job,
            "occurrence": occurrence,
            "owner": owner,
            "claimed_at": now,
            "expires_at": now + lease,
        }
        insert = (postgresql if self.engine.dialect.name == "postgresql" else sqlite).insert(table)
        with self.engine.begin() as connection:
            inserted = connection.execute(
                insert.values(**values).on_conflict_do_nothing().returning(table.c.job)
            )
            if inserted.first() is not None:  # (rowcount is not reliable for this on every driver)
                return None
            mine = (table.c.job == job, table.c.occurrence == occurrence)
            # Every lease is written as `now + lease`, so one that runs out further ahead than that was
            # written by a clock ahead of ours: the clock stepped back since (an NTP correction). Left as
            # it is, it would block the job until our clock caught up, for as long as the step. Brought
            # back to one lease from now: a live holder renews it within a third of that, a dead one's
            # claim is taken over when it runs out.
            connection.execute(
                update(table)
                .where(*mine, table.c.finished_at.is_(None), table.c.expires_at > now + lease)
                .values(expires_at=now + lease)
            )
            holder = connection.execute(select(table).where(*mine)).one()
            takeable = or_(
                and_(table.c.finished_at.isnot(None), table.c.outcome != "ok"), _lease_ran_out(now)
            )
            if holder.finished_at is None and holder_is_dead(holder.owner):
                takeable = or_(takeable, and_(table.c.finished_at.is_(None), table.c.owner == holder.owner))
            taken = connection.execute(
                update(table).where(*mine, takeable).values(**values, finished_at=None, outcome=None)
            )
            if taken.rowcount == 1:
                return None
        state = "finished" if holder.finished_at else f"running until at least {holder.expires_at:%H:%M} UTC"
        return f"{holder.owner} (claimed {holder.claimed_at:%Y-%m-%d %H:%M} UTC, {state})"

    def renew(self, job: str, occurrence: str, owner: str, lease: timedelta = JOB_LEASE) -> bool:
        """Extend the lease of a claim `owner` holds and has not finished; False when it is no longer
        theirs (taken over after it expired, or finished)."""
        table = table_of(JobClaimRow)
        with self.engine.begin() as connection:
            renewed = connection.execute(
                update(table)
                .where(
                    table.c.job == job,
                    table.c.occurrence == occurrence,
                    table.c.owner == owner,
                    table.c.finished_at.is_(None),
                )
                .values(expires_at=self.clock() + lease)
            )
        return renewed.rowcount == 1

    def stuck(self) -> list[StuckClaim]:
        """The latest occurrence of each job, when its holder stopped without finishing it: the holder's
        process is gone (it ran on this machine), or its lease ran out without a renewal (a holder
        elsewhere died or hangs) — the same holders `claim` takes over from. A job whose latest
        occurrence finished, or was taken over, is not listed: its stopped claims are history."""
        table = table_of(JobClaimRow)
        latest = (
            select(table.c.job, func.max(table.c.occurrence).label("occurrence"))
            .group_by(table.c.job)
            .subquery()
        )
        query = select(table, _lease_ran_out(self.clock()).label("ran_out")).join(
            latest, and_(table.c.job == latest.c.job, table.c.occurrence == latest.c.occurrence)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query.where(table.c.finished_at.is_(None)).order_by(table.c.job)).all()
        found = []
        for row in rows:
            gone = holder_is_dead(row.owner)
            if gone or row.ran_out:
                found.append(
                    StuckClaim(row.job, row.occurrence, row.owner, row.claimed_at, row.expires_at, gone)
                )
        return found

    def finish(self, job: str, occurrence: str, owner: str, *, ok: bool) -> None:
        table = table_of(JobClaimRow)
        with self.engine.begin() as connection:
            connection.execute(
                update(table)
                .where(table.c.job == job, table.c.occurrence == occurrence, table.c.owner == owner)
                .values(finished_at=self.clock(), outcome="ok" if ok else "failed")
            )


def _lease_ran_out(now: datetime) -> ColumnElement[bool]:
    """A claim not finished whose lease ran out by `now`: its holder stopped renewing it."""
    table = table_of(JobClaimRow)
    return and_(table.c.finished_at.is_(None), table.c.expires_at < now)

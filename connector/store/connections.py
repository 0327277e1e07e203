"""The token vault on the database: ledger tokens encrypted at rest, each save committed at once.

A rotated refresh token is written in its own short transaction the moment it arrives, so a crash right
after a refresh cannot lose it. A connection also records its health (last successful call, last error,
"reconnect needed" with the reason) for `tokenbooks connections`.

`refresh_lock` is a lease on the connection's row, taken with one conditional UPDATE (atomic on SQLite and
PostgreSQL alike): two processes — two schedulers, a sync and a `reconcile` — never refresh the same
connection at once, which for Xero's single-use refresh tokens would log the connection out. The lease
runs on the wall clock (not the app's clock, which a demo or test may freeze) and expires by itself if its
holder dies; a holder on this machine whose process is gone (its owner id names host and pid) is seen
dead at once, and its lease taken over without waiting for it to expire.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy import select as core_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from connector.domain.errors import BusyError
from connector.leases import holder_is_dead, lease_owner
from connector.ledgers.tokens import TokenCipher, TokenSet
from connector.store.common import lease_lapsed
from connector.store.records import ConnectionRecord, record_of
from connector.store.tables import ConnectionRow, table_of

LEASE = timedelta(seconds=120)  # longer than any token call (60 s timeout), short enough to outlive a crash
LEASE_WAIT_SECONDS = 150.0  # float ok: seconds
LEASE_POLL_SECONDS = 0.05  # float ok: seconds


class ConnectionRepository:
    """Ledger connections as health records, inside a unit of work (the tokens stay in the vault)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def all(self, readable: Callable[[str], bool] | None = None) -> list[ConnectionRecord]:
        """Every connection; with `readable` (the configured key's check), whether its tokens open."""
        return self._records(
            select(ConnectionRow).order_by(col(ConnectionRow.ledger), col(ConnectionRow.entity)), readable
        )

    def for_entity(self, entity: str) -> list[ConnectionRecord]:
        return self._records(
            select(ConnectionRow).where(col(ConnectionRow.entity) == entity).order_by(col(ConnectionRow.id))
        )

    def _records(
        self, query: SelectOfScalar[ConnectionRow], readable: Callable[[str], bool] | None = None
    ) -> list[ConnectionRecord]:
        return [
            record_of(
                row, ConnectionRecord, tokens_readable=readable(row.token_ciphertext) if readable else None
            )
            for row in self.session.exec(query)
        ]


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class DatabaseVault:
    def __init__(
        self,
        engine: Engine,
        cipher: TokenCipher,
        clock: Callable[[], datetime],
        *,
        lease_clock: Callable[[], datetime] = _wall_clock,
        lease_wait_seconds: float = LEASE_WAIT_SECONDS,  # float ok: seconds
    ) -> None:
        self.engine = engine
        self.cipher = cipher
        self.clock = clock
        self.lease_clock = lease_clock
        self.lease_wait_seconds = lease_wait_seconds

    # ------------------------------------------------------------------------------------------ tokens

    def load(self, ledger: str, entity: str) -> TokenSet | None:
        with Session(self.engine) as session:
            row = self._row(session, ledger, entity)
            if row is None or row.status == "reconnect_needed":
                return None
            return self.cipher.decrypt(row.token_ciphertext)

    def save(self, ledger: str, entity: str, tokens: TokenSet) -> None:
        self._store(ledger, entity, tokens, connected=False, company_name=None)

    def connected(self, ledger: str, entity: str, tokens: TokenSet, company_name: str | None) -> None:
        """A person has just (re)connected: new tokens, the company's name, and a clean bill of health."""
        self._store(ledger, entity, tokens, connected=True, company_name=company_name)

    def _store(
        self, ledger: str, entity: str, tokens: TokenSet, *, connected: bool, company_name: str | None
    ) -> None:
        now = self.clock()
        with Session(self.engine) as session:
            row = self._row(session, ledger, entity) or ConnectionRow(
                ledger=ledger,
                entity=entity,
                company_id=tokens.company_id,
                token_ciphertext="",
                updated_at=now,
            )
            row.company_id = tokens.company_id or row.company_id
            row.token_ciphertext = self.cipher.encrypt(tokens)
            row.access_expires_at = tokens.access_expires_at
            row.refresh_expires_at = tokens.refresh_expires_at
            row.status, row.updated_at, row.refreshed_at = "ok", now, now
            row.token_version = (row.token_version or 0) + 1
            if connected:
                row.connected_at, row.last_error, row.last_error_at = now, None, None
                row.company_name = company_name or row.company_name
            session.add(row)
            session.commit()

    # ------------------------------------------------------------------------------------------ health

    def mark_reconnect_needed(self, ledger: str, entity: str, reason: str) -> None:
        with Session(self.engine) as session:
            row = self._row(session, ledger, entity)
            if row is None:
                return
            now = self.clock()
            row.status, row.last_error, row.last_error_at, row.updated_at = (
                "reconnect_needed",
                reason,
                now,
                now,
            )
            session.add(row)
            session.commit()

    def reconnect_reason(self, ledger: str, entity: str) -> str | None:
        with Session(self.engine) as session:
            row = self._row(session, ledger, entity)
            if row is None or row.status != "reconnect_needed":
                return None
            return row.last_error or "the connection was refused"

    def record_call(self, ledger: str, entity: str, *, at: datetime, error: str | None) -> None:
        with Session(self.engine) as session:
            row = self._row(session, ledger, entity)
            if row is None:
                return
            if error is None:
                row.last_success_at = at
            else:
                row.last_error, row.last_error_at = error, at
            session.add(row)
            session.commit()

    def rotate_key(self) -> tuple[int, list[str]]:
        """Every stored token set encrypted again under the first key; returns how many were, and the
        connections no key could read (left as they are)."""
        rotated, unreadable = 0, []
        with Session(self.engine) as session:
            for row in session.exec(select(ConnectionRow).order_by(col(ConnectionRow.id))):
                if not self.cipher.readable(row.token_ciphertext):
                    unreadable.append(f"{row.ledger}/{row.entity}")
                    continue
                row.token_ciphertext = self.cipher.rotate(row.token_ciphertext)
                session.add(row)
                rotated += 1
            session.commit()  # all or none: a half-rotated store would still need both keys, so no harm
        return rotated, unreadable

    def status(self) -> list[ConnectionRecord]:
        """Every stored connection's health, and whether the configured key opens its tokens (which
        never leave the vault)."""
        with Session(self.engine) as session:
            return ConnectionRepository(session).all(self.cipher.readable)

    # --------------------------------------------------------------------------------- refresh lease

    @contextmanager
    def refresh_lock(self, ledger: str, entity: str) -> Iterator[str]:
        """Hold the connection's refresh lease (waiting for another holder); yields the owner id."""
        owner = lease_owner()
        deadline = time.monotonic() + self.lease_wait_seconds
        while not self._take_lease(ledger, entity, owner):
            if time.monotonic() > deadline:
                raise BusyError(
                    f"another tokenbooks process has been refreshing the {ledger} connection of {entity} "
                    f"for over {self.lease_wait_seconds:g}s",
                    fix=f"run again later; a stuck lease expires by itself after {LEASE.seconds}s",
                )
            time.sleep(LEASE_POLL_SECONDS)
        try:
            yield owner
        finally:
            self._release_lease(ledger, entity, owner)

    def _take_lease(self, ledger: str, entity: str, owner: str) -> bool:
        now = self.lease_clock()
        table = table_of(ConnectionRow)
        mine = (table.c.ledger == ledger, table.c.entity == entity)
        with self.engine.begin() as connection:
            holder = connection.execute(core_select(table.c.refresh_lock_owner).where(*mine)).first()
            if holder is None:
                return True  # nothing stored yet: there is nothing to refresh, nor to protect
            free = or_(
                table.c.refresh_lock_until.is_(None), lease_lapsed(table.c.refresh_lock_until, now, LEASE)
            )
            if holder[0] and holder_is_dead(holder[0]):
                free = or_(free, table.c.refresh_lock_owner == holder[0])  # only that dead holder's lease
            taken = connection.execute(
                update(table)
                .where(*mine, free)
                .values(refresh_lock_owner=owner, refresh_lock_until=now + LEASE)
            )
            return taken.rowcount == 1

    def _release_lease(self, ledger: str, entity: str, owner: str) -> None:
        table = table_of(ConnectionRow)
        with self.engine.begin() as connection:
            connection.execute(
                update(table)
                .where(
                    table.c.ledger == ledger, table.c.entity == entity, table.c.refresh_lock_owner == owner
                )
                .values(refresh_lock_owner=None, refresh_lock_until=None)
            )

    @staticmethod
    def _row(session: Session, ledger: str, entity: str) -> ConnectionRow | None:
        return session.exec(
            select(ConnectionRow).where(
                col(ConnectionRow.ledger) == ledger, col(ConnectionRow.entity) == entity
            )
        ).first()

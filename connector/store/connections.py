"""The token vault on the database: ledger tokens encrypted at rest, each save committed at once.

A rotated refresh token is written in its own short transaction the moment it arrives, so a crash right
after a refresh cannot lose it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from connector.ledgers.tokens import TokenCipher, TokenSet
from connector.store.tables import ConnectionRow


class DatabaseVault:
    def __init__(self, engine: Engine, cipher: TokenCipher, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.cipher = cipher
        self.clock = clock

    def load(self, ledger: str, entity: str) -> TokenSet | None:
        with Session(self.engine) as session:
            row = self._row(session, ledger, entity)
            if row is None or row.status == "reconnect_needed":
                return None
            return self.cipher.decrypt(row.token_ciphertext)

    def save(self, ledger: str, entity: str, tokens: TokenSet) -> None:
        with Session(self.engine) as session:
            row = self._row(session, ledger, entity) or ConnectionRow(
                ledger=ledger,
                entity=entity,
                company_id=tokens.company_id,
                token_ciphertext="",
                updated_at=self.clock(),
            )
            row.company_id = tokens.company_id or row.company_id
            row.token_ciphertext = self.cipher.encrypt(tokens)
            row.access_expires_at = tokens.access_expires_at
            row.refresh_expires_at = tokens.refresh_expires_at
            row.status, row.last_error, row.updated_at = "ok", None, self.clock()
            row.token_version = (row.token_version or 0) + 1
            session.add(row)
            session.commit()

    def mark_reconnect_needed(self, ledger: str, entity: str, reason: str) -> None:
        with Session(self.engine) as session:
            row = self._row(session, ledger, entity)
            if row is None:
                return
            row.status, row.last_error, row.updated_at = "reconnect_needed", reason, self.clock()
            session.add(row)
            session.commit()

    def status(self) -> list[ConnectionRow]:
        with Session(self.engine) as session:
            return list(session.exec(select(ConnectionRow).order_by(ConnectionRow.ledger)).scalars())

    @staticmethod
    def _row(session: Session, ledger: str, entity: str) -> ConnectionRow | None:
        return session.exec(
            select(ConnectionRow).where(ConnectionRow.ledger == ledger, ConnectionRow.entity == entity)
        ).scalar()

"""What was booked, committed to the audit chain: a digest of every journal, line by line.

The event chain proves the log intact, but a journal's rows could be edited behind it (an amount on a
line, an account, a ledger id). So when a plan stores journals it also appends one `journals.committed`
event holding, per journal key, the digest of the journal's header and of each of its lines, computed
from the rows as stored; the chain then vouches for those digests. Postings are already events
(`posting.attempt`, `posting.found`, each naming the ledger id). `audit verify` recomputes the digests
from the rows and compares (`service/audit.py: verify_books`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from sqlalchemy import select
from sqlmodel import Session, col

from connector.domain.audit_chain import COMMITTED
from connector.store.records import JournalDigest, JournalRecord, record_of
from connector.store.tables import EventRow, JournalLineRow, JournalRow, RunRow

POSTED_EVENTS = ("posting.attempt", "posting.found")
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


def _digest(row: object, fields: Iterable[str]) -> str:
    values = {name: (None if getattr(row, name) is None else str(getattr(row, name))) for name in fields}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def digest(journal: JournalRow, lines: Iterable[JournalLineRow]) -> JournalDigest:
    ordered = sorted(lines, key=lambda line: line.line_no)
    return JournalDigest(_digest(journal, HEADER_FIELDS), tuple(_digest(ln, LINE_FIELDS) for ln in ordered))


class CommitmentRepository:
    """Digests of stored journals, and the commitments and postings the event log holds."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def digests(
        self, journal_ids: Iterable[int] | None = None
    ) -> dict[tuple[str, str], tuple[JournalRecord, JournalDigest]]:
        """(entity, key) → the journal and its digest as stored now (all journals, or those ids)."""
        self.session.flush()  # what this unit of work added is part of what is digested
        query = select(JournalRow)
        if journal_ids is not None:
            query = query.where(col(JournalRow.id).in_(list(journal_ids)))
        journals = list(self.session.execute(query).scalars())
        lines: dict[int, list[JournalLineRow]] = {j.id: [] for j in journals}
        line_query = select(JournalLineRow)
        if journal_ids is not None:
            line_query = line_query.where(col(JournalLineRow.journal_id).in_(list(lines)))
        for line in self.session.execute(line_query).scalars():
            if line.journal_id in lines:
                lines[line.journal_id].append(line)
        return {(j.entity, j.key): (record_of(j, JournalRecord), digest(j, lines[j.id])) for j in journals}

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

    def posted(self) -> dict[tuple[str, str], tuple[int, str]]:
        """(entity, key) → the last posting event that found or created the journal, and its ledger id."""
        entities = dict(self.session.execute(select(col(RunRow.id), col(RunRow.entity))).all())
        found: dict[tuple[str, str], tuple[int, str]] = {}
        query = select(EventRow).where(col(EventRow.kind).in_(POSTED_EVENTS)).order_by(col(EventRow.id))
        for event in self.session.execute(query).scalars():
            data = event.data or {}
            if data.get("ledger_id") and data.get("outcome", "found") in ("created", "found"):
                found[(entities.get(event.run_id, ""), data["key"])] = (event.id, data["ledger_id"])
        return found

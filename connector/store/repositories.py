"""The store's old single module of repositories, now split by aggregate; kept only so that code written
against it still imports while other branches merge (issue 15). New code imports the aggregate modules:
`facts`, `outbox`, `classification`, `audit_log`, `inputs`, and `unit_of_work`.
"""

from connector.domain.audit_chain import GENESIS_HASH, as_utc, event_hash, row_hash
from connector.store.audit_log import ChainHead, EventLog, RunRepository
from connector.store.common import utcnow
from connector.store.records import (
    ACTIVE_STATUSES,
    PENDING_STATUSES,
    Lineage,
    ReplaceResult,
    StoredFact,
    StoredJournal,
)
from connector.store.unit_of_work import UnitOfWork

__all__ = [
    "ACTIVE_STATUSES",
    "GENESIS_HASH",
    "PENDING_STATUSES",
    "ChainHead",
    "EventLog",
    "Lineage",
    "ReplaceResult",
    "RunRepository",
    "StoredFact",
    "StoredJournal",
    "UnitOfWork",
    "as_utc",
    "event_hash",
    "row_hash",
    "utcnow",
]

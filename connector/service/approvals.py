"""Approvals: a controller releases a journal held in the outbox (a locked period, or `approve` mode).

The approval is an event in the audit log with who approved what, when; the journal then waits for the
next sync's posting like any other. Approving holds the entity's lock so no run posts meanwhile.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from connector.domain.errors import InputError
from connector.service.runs import Clock, exclusive
from connector.store.repositories import UnitOfWork
from connector.store.tables import JournalRow


def approve_journal(engine: Engine, clock: Clock, *, entity: str, key: str, approver: str) -> str:
    """Release a held journal for posting; returns the reason it had been held."""
    with exclusive(engine, clock, entity=entity, kind="approve", actor=approver), UnitOfWork(engine) as uow:
        stored = uow.outbox.by_key(entity, key)
        if stored is None:
            raise InputError(
                f"no journal {key!r} for entity {entity!r}", fix="use a key from `tokenbooks sync`"
            )
        if stored.status != "held":
            raise InputError(
                f"journal {key} is {stored.status}, not held: there is nothing to approve",
                fix="only journals held for approval (status held) can be approved",
            )
        row = uow.session.get(JournalRow, stored.id)
        row.status, row.approved_by = "planned", approver  # type: ignore[union-attr]
        uow.session.add(row)
        uow.events.append(
            "journal.approved",
            f"{key} approved by {approver} for posting (it was held: {stored.hold_reason})",
            actor=approver,
            data={
                "entity": entity,
                "key": key,
                "held_because": stored.hold_reason,
                "txn_date": stored.journal.txn_date,
            },
            now=clock(),
        )
        uow.commit()
    return stored.hold_reason or ""

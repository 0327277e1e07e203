"""Approvals: a controller releases journals held in the outbox (a locked period under the `hold` policy,
the `approve` posting mode, a draft on a ledger without drafts, a true-up beyond the invoice tolerance).

One journal is released by its key, or every journal a run held by the run's id. Each approval is an
event in the audit log with who approved what, when, and why it had been held; the journals then wait for
the next sync's posting like any other. Approving holds the entity's lock so no run posts meanwhile.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from connector.domain.errors import InputError
from connector.domain.journals import KEY_PATTERN
from connector.service.runs import Clock, exclusive
from connector.store.repositories import StoredJournal, UnitOfWork
from connector.store.tables import JournalRow


def approve_journal(engine: Engine, clock: Clock, *, entity: str, key: str, approver: str) -> str:
    """Release a held journal for posting; returns the reason it had been held."""
    [(_, reason)] = approve(engine, clock, entity=entity, target=key, approver=approver)
    return reason


def approve(
    engine: Engine, clock: Clock, *, entity: str, target: str, approver: str
) -> list[tuple[str, str]]:
    """Release a held journal (`target` is its key) or every journal a run held (`target` is the run id);
    returns each released key with the reason it had been held."""
    with exclusive(engine, clock, entity=entity, kind="approve", actor=approver), UnitOfWork(engine) as uow:
        held = _held(uow, entity, target)
        for stored in held:
            row = uow.session.get(JournalRow, stored.id)
            row.status, row.approved_by = "planned", approver  # type: ignore[union-attr]
            uow.session.add(row)
            uow.events.append(
                "journal.approved",
                f"{stored.journal.key} approved by {approver} for posting (it was held: {stored.hold_reason})",
                actor=approver,
                data={
                    "entity": entity,
                    "key": stored.journal.key,
                    "run": None if KEY_PATTERN.match(target) else target,
                    "held_because": stored.hold_reason,
                    "txn_date": stored.journal.txn_date,
                },
                now=clock(),
            )
        uow.commit()
    return [(s.journal.key, s.hold_reason or "") for s in held]


def _held(uow: UnitOfWork, entity: str, target: str) -> list[StoredJournal]:
    if not KEY_PATTERN.match(target):
        held = uow.outbox.held_by_run(entity, target)
        if not held:
            raise InputError(
                f"run {target!r} of entity {entity!r} holds no journal waiting for approval",
                fix="use a run id from `tokenbooks runs` whose journals are held, or a journal key",
            )
        return held
    stored = uow.outbox.by_key(entity, target)
    if stored is None:
        raise InputError(
            f"no journal {target!r} for entity {entity!r}", fix="use a key from `tokenbooks sync`"
        )
    if stored.status != "held":
        raise InputError(
            f"journal {target} is {stored.status}, not held: there is nothing to approve",
            fix="only journals held for approval (status held) can be approved",
        )
    return [stored]

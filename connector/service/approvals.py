"""Approvals: a controller releases journals held in the outbox (a locked period under the `hold` policy,
the `approve` posting mode, a draft on a ledger without drafts, a true-up beyond the invoice tolerance).

One journal is released by its key, or every journal a run held by the run's id. Each approval is an
event in the audit log with who approved what, when, and why it had been held; the journals then wait for
the next sync's posting like any other. Approving holds the entity's lock so no run posts meanwhile.

Segregation of duties (`separate`, on by default: TOKENBOOKS_WEB__SEGREGATION_OF_DUTIES): nobody approves a
journal they helped produce — the person who ran the sync that planned it, or saved (in the console) the
mapping or policies version that sync used. The refusal names what they did.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from connector.domain.errors import InputError
from connector.domain.journals import KEY_PATTERN, Journal
from connector.domain.users import Involvement, approval_conflict
from connector.service.runs import Clock, exclusive
from connector.store.port import Store, UnitOfWork
from connector.store.records import StoredJournal


def approve_journal(
    store: Store, clock: Clock, *, entity: str, key: str, approver: str, separate: bool = True
) -> str:
    """Release a held journal for posting; returns the reason it had been held."""
    [(_, reason)] = approve(store, clock, entity=entity, target=key, approver=approver, separate=separate)
    return reason


def approve(
    store: Store, clock: Clock, *, entity: str, target: str, approver: str, separate: bool = True
) -> list[tuple[str, str]]:
    """Release a held journal (`target` is its key) or every journal a run held (`target` is the run id);
    returns each released key with the reason it had been held. With `separate`, a journal the approver
    helped produce is refused (InputError naming what they did) and nothing is approved."""
    with exclusive(store, clock, entity=entity, kind="approve", actor=approver), store.unit_of_work() as uow:
        held = _held(uow, entity, target)
        if separate:
            for stored in held:
                conflict = approval_conflict(approver, involvement(uow, stored.id))
                if conflict is not None:
                    raise InputError(
                        f"{approver} may not approve {stored.journal.key}: they {conflict.what}, which produced "
                        "it (segregation of duties); nothing was approved",
                        fix="ask another approver to review and approve it",
                    )
        for stored in held:
            release(
                uow,
                stored.id,
                stored.journal,
                approver=approver,
                held_because=stored.hold_reason or "",
                said=f"for posting (it was held: {stored.hold_reason})",
                run=None if KEY_PATTERN.match(target) else target,
                now=clock(),
            )
        uow.commit()
    return [(s.journal.key, s.hold_reason or "") for s in held]


def release(
    uow: UnitOfWork,
    journal_id: int,
    journal: Journal,
    *,
    approver: str,
    held_because: str,
    said: str,
    run: str | None,
    now: datetime,
    approved_as: Sequence[str] = (),
) -> None:
    """Release a held journal for posting and write who approved it (`journal.approved`, which the audit
    package reads): by a person's approval, or by the approval a refused journal carried (`plan.py`)."""
    uow.outbox.approve(journal_id, approver)
    data: dict = {
        "entity": journal.entity,
        "key": journal.key,
        "run": run,
        "held_because": held_because,
        "txn_date": journal.txn_date,
    }
    if approved_as:
        data["approved_as"] = list(approved_as)
    uow.events.append(
        "journal.approved", f"{journal.key} approved by {approver} {said}", actor=approver, data=data, now=now
    )


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


def involvement(uow: UnitOfWork, journal_id: int) -> list[Involvement]:
    """Who had a hand in a journal: the actor of the run that planned it, and whoever saved in the console
    the mapping or policies version that run used."""
    planned_by = uow.outbox.planned_by(journal_id)
    if planned_by is None:
        return []
    found = []
    run = uow.console.run(planned_by)
    if run is not None:
        found.append(Involvement(run.actor, f"ran the {run.kind} run {run.id[:8]} that planned it"))
    inputs: dict = next((e.data for e in uow.console.events_of_run(planned_by) if e.kind == "run.inputs"), {})
    used = {
        "mapping": (inputs.get("mapping") or {}).get("hash"),
        "policies": (inputs.get("policy") or {}).get("hash"),
    }
    saved = uow.console.events_of_kind(["mapping.saved", "policies.saved"])
    for event in saved:
        which = event.kind.split(".")[0]
        if used.get(which) and event.data.get("content_hash") == used[which]:
            found.append(
                Involvement(
                    event.actor, f"saved {which} version {event.data.get('version')} it was planned under"
                )
            )
    return found

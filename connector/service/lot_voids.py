"""Void a credit lot recorded in error: `tokenbooks credits void LOT_ID --reason "…"`.

A wrong amount or date is corrected by entering the lot id again; a lot that should not exist at all is
voided. It is kept — marked void with who voided it, when and why, and a `credits.void` event in the
append-only audit log, recorded as a run — and drawn no more. No journal is edited: the next sync plans
again from the lot's purchase day (the lot leaves a change mark, `FactMarks`) and posts the deltas — the usage the lot paid
for drawn from the next lot, or accrued beyond the lots; a write-off of its unused balance reversed.

A lot a FOCUS import stored is the export's record of a purchase: importing the corrected export again
voids what it no longer holds (`imports.withdraw_focus_lots`), so voiding one by hand is refused with
that fix. A lot voided before is left as it is (nothing changes, the result says so).
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.domain.credits import CreditLot, LotVoid
from connector.domain.errors import ConfigError
from connector.service.runs import RunContext, RunRecorder
from connector.store.port import UnitOfWork


@dataclass(frozen=True, slots=True)
class VoidedLot:
    lot: CreditLot
    void: LotVoid
    new: bool  # False: it was void already, nothing changed


def void_credit_lot(
    ctx: RunContext,
    *,
    entity: str,
    lot_id: str,
    reason: str,
    provider: str | None = None,
    account: str | None = None,
) -> VoidedLot:
    """Void the entity's lot `lot_id` (of `provider` and `account` when several share the id)."""
    reason = reason.strip()
    if not reason:
        raise ConfigError(
            f"--reason: say why lot {lot_id} is voided (the auditor reads it in the audit log)",
            fix='give --reason "…", e.g. --reason "entered twice: the same receipt as RCPT-2026-0115"',
        )
    recorder = RunRecorder(
        ctx.store,
        ctx.clock,
        actor=ctx.actor,
        kind="credits.void",
        entity=entity,
        params={"lot_id": lot_id, "reason": reason},
    )
    with recorder.failed_on_error():
        with ctx.store.unit_of_work() as uow:
            lot = _the_lot(uow.credit_lots.named(entity, lot_id), entity, lot_id, provider, account)
            if lot.void is None:
                _refuse_focus(lot)
                void = LotVoid(ctx.clock(), ctx.actor, reason)
                uow.credit_lots.void(lot, void)
                _audit(uow, recorder, lot, void)
                uow.commit()
        recorder.finish("succeeded", stats={"voided": lot.void is None})
    return VoidedLot(lot, lot.void or void, new=lot.void is None)


def _refuse_focus(lot: CreditLot) -> None:
    if lot.source == "focus":
        raise ConfigError(
            f"lot {lot.lot_id} of {lot.provider} {lot.provider_account} was stored by a FOCUS import: the "
            "export is its record, it is not voided by hand",
            fix="import the corrected FOCUS export again (`tokenbooks import focus FILE`): a FOCUS import "
            "voids the lots of the accounts and days it covers that it no longer holds",
        )


def _audit(uow: UnitOfWork, recorder: RunRecorder, lot: CreditLot, void: LotVoid) -> None:
    """The void in the append-only audit log, in the transaction that stores it: who, when, why."""
    uow.events.append(
        "credits.void",
        f"voided credit lot {lot.lot_id} of {lot.provider} {lot.provider_account} ({lot.amount} "
        f"{lot.currency} bought {lot.purchase_date}): {void.reason}",
        run_id=recorder.run_id,
        actor=void.by,
        level="warning",
        data={
            "lot_id": lot.lot_id,
            "provider": lot.provider,
            "account": lot.provider_account,
            "amount": lot.amount,
            "currency": lot.currency,
            "purchase_date": lot.purchase_date,
            "reason": void.reason,
        },
        now=void.at,
    )


def _the_lot(
    named: list[CreditLot], entity: str, lot_id: str, provider: str | None, account: str | None
) -> CreditLot:
    """The one lot the arguments name, or a ConfigError saying which arguments tell them apart."""
    found = [
        lot
        for lot in named
        if (provider is None or lot.provider == provider.lower())
        and (account is None or lot.provider_account == account)
    ]
    if not found:
        raise ConfigError(
            f"LOT_ID: entity {entity} has no credit lot {lot_id!r}"
            + (f" of {provider or 'any provider'} {account or ''}".rstrip() if named else ""),
            fix=f"`tokenbooks credits list --entity {entity}` lists the lots and their ids",
        )
    if len(found) > 1:
        accounts = ", ".join(f"--provider {lot.provider} --account {lot.provider_account}" for lot in found)
        raise ConfigError(
            f"LOT_ID: lot id {lot_id!r} names lots of several provider accounts",
            fix=f"say which one: {accounts}",
        )
    return found[0]

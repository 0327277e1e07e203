"""File imports: FOCUS exports, invoices, credit lots, customer credits — checked, quarantined, stored.

Every import is a run (kind `import.<what>`). Good rows are stored; each bad row is quarantined (stored
with file, row, column, reason and raw text) and the import is `partial`; an unreadable file (a missing
column, a damaged archive) stores nothing and the import is `failed`. Everything an import stores —
facts, lots, invoices, events, its quarantined rows, its tally and the file's lineage (path, size,
sha256, rows) — is written in one transaction. The tally proves that accepted + quarantined + skipped =
input, in rows and in amounts per currency. Whatever stops an import, its run is recorded `failed` with
the reason, never left `running`. A credit lot is never silently replaced by another purchase under the
same id (`check_lots`): a correction of the same kind of record is stored and reported, a FOCUS lot and
a lot a person recorded never replace each other.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from connector.domain.accounting_policy import PolicySet
from connector.domain.credits import (
    CreditLot,
    CustomerCreditEvent,
    CustomerCreditKind,
    LotVoid,
    check_customer_events,
)
from connector.domain.errors import ConfigError, InputError, Problem
from connector.domain.imports import Disposition, QuarantinedRow, Tally
from connector.domain.periods import Period
from connector.redaction import redact
from connector.service.invoices import upsert_invoices
from connector.service.reconcile import known_accounts
from connector.service.runs import Reporter, RunContext, RunRecorder, SilentReporter
from connector.sources.base import ConfiguredSources, RefusedSource, bookmark_id
from connector.sources.credit_files import read_credit_lots, read_customer_credits
from connector.sources.focus import SOURCE as FOCUS_SOURCE
from connector.sources.focus import FocusFileError, FocusOptions
from connector.sources.focus_files import FileLineage, fingerprint
from connector.sources.invoices import read_invoice_file
from connector.sources.records import read_records
from connector.sources.warehouse.choice import FocusReader
from connector.store.port import UnitOfWork
from connector.store.records import ImportRecord

PYTHON_READER = FocusReader(kind="python")


class ImportContext(RunContext, Protocol):
    def configured_sources(self, entity: str) -> ConfiguredSources: ...

    def policies(self) -> tuple[PolicySet, str]: ...


@dataclass
class ImportReport:
    import_id: str
    run_id: str
    kind: str
    files: list[FileLineage]
    status: str  # succeeded | partial | failed
    tally: Tally = field(default_factory=Tally)
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    stored: dict[str, int] = field(default_factory=dict)
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)  # what a person should know: a lot replaced …

    @property
    def rows_read(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def balanced(self) -> bool:
        return self.tally.balances(self.rows_read)


Writer = Callable[[UnitOfWork, str, int], dict[str, int]]  # (uow, import id, raw payload id) → counts


def import_focus(
    ctx: ImportContext,
    paths: list[Path],
    options: FocusOptions,
    reporter: Reporter | None = None,
    reader: FocusReader = PYTHON_READER,
) -> ImportReport:
    """Import one FOCUS export (one or more files): facts per daily bucket, lots, invoice totals."""
    reporter = reporter or SilentReporter()
    with _recorder(ctx, "focus", paths, options.entity).failed_on_error() as recorder:
        try:
            batch = reader.read(paths, options, progress=lambda done, label: reporter.progress(label, done))
        except FocusFileError as exc:
            raise _failed(ctx, recorder, "focus", paths, options.entity, exc.problem) from None
        with ctx.store.unit_of_work() as uow:
            checked = check_lots(uow, batch.lots)
        if checked.refused:
            problems = [problem for _, problem in checked.refused]
            raise _failed(ctx, recorder, "focus", paths, options.entity, problems[0], problems)

        def store(uow: UnitOfWork, import_id: str, raw_id: int) -> dict[str, int]:
            now = ctx.clock()
            counts = {"facts_inserted": 0, "facts_restated": 0, "facts_unchanged": 0, "facts_withdrawn": 0}
            by_scope: dict[tuple[str, str], list] = {}
            for fact in batch.facts:
                by_scope.setdefault((fact.source, fact.provider_account), []).append(fact)
            changed_days: set[date] = set()
            for (source, account), (first, last) in batch.scopes().items():
                facts = by_scope[(source, account)]
                replaced = uow.facts.replace_window(
                    source=source,
                    provider_account=account,
                    first_day=first,
                    last_day=last,
                    facts=facts,
                    raw_payload_ids=dict.fromkeys((f.natural_key for f in facts), raw_id),
                    run_id=recorder.run_id,
                    now=now,
                )
                uow.commitments.commit_facts(
                    source, account, replaced, [raw_id], run_id=recorder.run_id, now=now
                )
                for name in ("inserted", "restated", "unchanged", "withdrawn"):
                    counts[f"facts_{name}"] += getattr(replaced, name)
                changed_days |= replaced.changed_days
                uow.bookmarks.advance(
                    bookmark_id("focus", account), last.isoformat(), now, first, options.entity
                )
            if changed_days:
                # the export may be of a month the nightly window has long left: the next plan reaches
                # back to its first changed day (a sync plans from its pull windows otherwise)
                uow.fact_marks.add(options.entity, min(changed_days), changed_by=import_id, now=now)
            for legacy, lot in checked.renamed:
                uow.credit_lots.rename(lot.provider, lot.provider_account, legacy.lot_id, lot.lot_id)
            for lot in batch.lots:
                uow.credit_lots.upsert(lot, import_id=import_id, now=now)
            counts |= checked.counts()
            counts["lots_withdrawn"] = len(withdraw_focus_lots(uow, batch, options.entity, ctx.actor, now))
            upsert_invoices(uow, batch.invoices, source=FOCUS_SOURCE, clock=ctx.clock)
            counts["invoices"] = len(batch.invoices)
            return counts

        return _finish(
            ctx,
            recorder,
            "focus",
            batch.files,
            options.entity,
            batch.tally,
            batch.quarantined,
            store,
            [*checked.warnings, *_read_by_python(batch), *_trusted_line_ids(options)],
        )


def _trusted_line_ids(options: FocusOptions) -> list[str]:
    """Said in the run's record whenever the repeated-line check was narrowed, so that an auditor sees it."""
    if not options.unique_line_ids:
        return []
    return [
        "line ids were trusted to be unique within each file (--unique-line-ids): a line id given twice "
        "was not looked for; rows without a line id were checked for exact repeats"
    ]


def _read_by_python(batch) -> list[str]:
    """Files DuckDB was given but left to the Python importer, and why (the result is the same)."""
    return [
        f"{path} was read by the Python importer, not DuckDB: {how.removeprefix('python (').rstrip(')')}"
        for path, how in batch.readers.items()
        if how.startswith("python (")
    ]


@dataclass
class CheckedLots:
    """Lots about to be stored, against those already stored under the same provider, account and id."""

    new: int = 0
    unchanged: int = 0
    replaced: int = 0
    warnings: list[str] = field(default_factory=list)
    refused: list[tuple[CreditLot, Problem]] = field(default_factory=list)
    renamed: list[tuple[CreditLot, CreditLot]] = field(default_factory=list)  # (stored lot, the lot it is)

    def counts(self) -> dict[str, int]:
        return {"lots_new": self.new, "lots_unchanged": self.unchanged, "lots_replaced": self.replaced}


def check_lots(
    uow: UnitOfWork, lots: Iterable[CreditLot], where: Callable[[CreditLot], str] = lambda _: ""
) -> CheckedLots:
    """Never a silent replace of a different lot: a lot id already stored for another purchase is replaced
    only by the same kind of record (a corrected file, a restated export) and then said so; a FOCUS lot
    and a lot a person recorded never replace each other (refused, naming both)."""
    checked = CheckedLots()
    for lot in lots:
        stored = uow.credit_lots.find(lot.provider, lot.provider_account, lot.lot_id)
        legacy = _legacy_focus_lot(uow, lot, checked) if stored is None else None
        if legacy is not None:
            checked.renamed.append((legacy, lot))
            checked.replaced += 1
            checked.warnings.append(
                f"lot {legacy.lot_id} of {lot.provider} {lot.provider_account} is now {lot.lot_id} (FOCUS lots are "
                f"named one per purchase): was {_describe(legacy)}, now {_describe(lot)}"
            )
        elif stored is None:
            checked.new += 1
        elif stored.void is not None and _from_focus(lot):
            checked.replaced += 1
            checked.warnings.append(
                f"lot {lot.lot_id} of {lot.provider} {lot.provider_account} is in force again: the export holds "
                f"its purchase again (it was {stored.void.describe()})"
            )
        elif stored.void is not None:
            checked.refused.append((lot, _voided(lot, stored, where(lot))))
        elif stored.same_purchase(lot):
            checked.unchanged += 1
        elif _from_focus(stored) != _from_focus(lot):
            checked.refused.append(
                (
                    lot,
                    Problem(
                        lot.source if _from_focus(lot) else lot.source or "credits",
                        where(lot),
                        "lot_id",
                        f"lot {lot.lot_id} of {lot.provider} {lot.provider_account} is already recorded from "
                        f"{stored.source or 'another source'} ({_describe(stored)}); this is another purchase "
                        f"({_describe(lot)})",
                        "give this purchase its own lot id (a receipt or order number); a lot is never "
                        "replaced by a record of another kind",
                    ),
                )
            )
        else:
            checked.replaced += 1
            checked.warnings.append(
                f"lot {lot.lot_id} of {lot.provider} {lot.provider_account} replaced: was {_describe(stored)}, "
                f"now {_describe(lot)}"
            )
    return checked


def withdraw_focus_lots(uow: UnitOfWork, batch, entity: str, actor: str, now: datetime) -> list[CreditLot]:
    """The lots an earlier FOCUS import stored that this export no longer holds — a purchase the provider
    withdrew, or a row exported in error: voided, as its facts are withdrawn, so the export stays the
    record of its purchases (a lot is never voided by hand). As for facts, only within the export's
    window: its accounts, and the charge days its facts of a billing period cover — a lot bought in that
    billing period's month (a correction on May's bill never touches March's purchases)."""
    spans: dict[tuple[str, str, str | None], tuple[date, date]] = {}
    for fact in batch.facts:
        key = (fact.provider, fact.provider_account, fact.dimensions.get("billing_period"))
        first, last = spans.get(key, (fact.charge_date, fact.charge_date))
        spans[key] = (min(first, fact.charge_date), max(last, fact.charge_date))
    # a lot the export holds, or one a refund in it names (bought on an earlier bill), is kept
    kept = {(lot.provider, lot.provider_account, lot.lot_id) for lot in batch.lots}
    kept |= {(lot.provider, lot.provider_account, lot.refund_of) for lot in batch.lots if lot.refund_of}
    files = ", ".join(f.path for f in batch.files)
    withdrawn = []
    for lot in uow.credit_lots.for_entity(entity):
        month = str(Period.of(lot.purchase_date))
        window = spans.get((lot.provider, lot.provider_account, month)) or spans.get(
            (lot.provider, lot.provider_account, None)
        )
        if (
            _from_focus(lot)
            and window is not None
            and window[0] <= lot.purchase_date <= window[1]
            and (lot.provider, lot.provider_account, lot.lot_id) not in kept
        ):
            reason = f"withdrawn: the FOCUS export imported again ({files}) no longer holds its purchase"
            uow.credit_lots.void(lot, LotVoid(now, actor, reason))
            withdrawn.append(lot)
    return withdrawn


def _voided(lot: CreditLot, stored: CreditLot, where: str) -> Problem:
    """A lot id voided as recorded in error is never used again for a purchase recorded by hand."""
    assert stored.void is not None
    return Problem(
        lot.source or "credits",
        where,
        "lot_id",
        f"lot {lot.lot_id} of {lot.provider} {lot.provider_account} ({_describe(stored)}) was {stored.void.describe()}; "
        "a voided lot stays void",
        "remove the lot from the file; a purchase that did happen needs its own lot id (a receipt or order number)",
    )


def _legacy_focus_lot(uow: UnitOfWork, lot: CreditLot, checked: CheckedLots) -> CreditLot | None:
    """The lot an earlier tokenbooks stored for this FOCUS purchase, named without the purchase's hash
    (`<id>@<charge period>`): renamed, not kept beside it (which would count the prepaid money twice)."""
    legacy_id, marked, _ = lot.lot_id.partition("#")
    if (
        not (_from_focus(lot) and marked)
        or lot.refund_of
        or any(old.lot_id == legacy_id for old, _ in checked.renamed)
    ):
        return None
    stored = uow.credit_lots.find(lot.provider, lot.provider_account, legacy_id)
    return stored if stored is not None and _from_focus(stored) else None


def _from_focus(lot: CreditLot) -> bool:
    return lot.source == "focus"


def _describe(lot: CreditLot) -> str:
    expiry = f", expiring {lot.expires_on}" if lot.expires_on else ""
    return f"{lot.amount} {lot.currency} bought {lot.purchase_date}{expiry}"


def import_invoices(ctx: ImportContext, path: Path, *, entity: str) -> ImportReport:
    """Invoices; one for a provider account tokenbooks does not know, when it knows the provider's other
    accounts (a configured source, facts, credit lots), is refused naming the accounts it knows. One for
    the account of a source whose settings are refused is stored, and said so (a warning)."""

    def store(uow: UnitOfWork, invoices: list, import_id: str) -> dict[str, int]:
        stored = upsert_invoices(uow, invoices, source=str(path), clock=ctx.clock)
        return {"invoices_new": stored.new, "invoices_replaced": stored.replaced}

    warnings: list[str] = []

    def read(path: Path, entity: str):
        located, quarantined, tally, problem = read_invoice_file(path, entity)
        if problem is None:
            configured = _configured(ctx, (invoice.entity for _, invoice in located))
            refused = unknown_accounts(ctx, located, str(path), configured, INVOICE_OF_UNKNOWN_ACCOUNT)
            located = refuse_late(path, located, refused, quarantined, tally, lambda i: (i.total, i.currency))
            warnings.extend(of_refused_sources(configured, located))
        return located, quarantined, tally, problem

    def check(ctx: ImportContext, path: Path, located: list, quarantined: list, tally: Tally):
        return located, warnings

    return _import_records(ctx, "invoices", path, entity, read, store, check=check)


def _configured(ctx: ImportContext, entities: Iterable[str]) -> dict[str, ConfiguredSources]:
    """Each entity's configured sources, built once per import (a section that cannot be built is refused
    there, not raised: the other providers' invoices are imported as usual)."""
    return {entity: ctx.configured_sources(entity) for entity in sorted(set(entities))}


@dataclass(frozen=True)
class UnknownAccount:
    """What a record for a provider account tokenbooks does not know would come to, and what it is."""

    record: str  # "invoice", "lot"
    consequence: str


INVOICE_OF_UNKNOWN_ACCOUNT = UnknownAccount("invoice", "the invoice would reconcile against nothing")
# a lot no usage draws is written off whole when it expires: a loss booked for credits that were used
LOT_OF_UNKNOWN_ACCOUNT = UnknownAccount(
    "lot", "no usage would draw the lot and its whole amount would be written off as expired"
)


def unknown_accounts(
    ctx: ImportContext,
    located: list[tuple[str, Any]],
    source: str,
    configured: dict[str, ConfiguredSources],
    unknown: UnknownAccount,
) -> list[tuple[str, Problem]]:
    """Records (invoices, credit lots) for a provider account no source, fact or lot knows, of a provider
    whose accounts it does. The account of a section whose settings are refused is known whatever the
    provider (its provider may be the very setting that is wrong): its records are stored, and
    `of_refused_sources` says so of invoices."""
    known = _known_accounts(ctx, configured)
    refused = []
    for where, record in located:
        accounts = sorted(a for p, a in known if p == record.provider)
        of_refused = any(r.sources_of(record.provider_account) for r in configured[record.entity].refused)
        if accounts and record.provider_account not in accounts and not of_refused:
            refused.append(
                (
                    where,
                    Problem(
                        source,
                        where,
                        "account",
                        f"{record.provider} account {record.provider_account!r} is not one tokenbooks knows "
                        f"(its {record.provider} account(s): {', '.join(accounts)}), so {unknown.consequence}",
                        f"write the account as the source names it ({' or '.join(accounts)}), or set the "
                        f"provider's ORGANIZATION setting to the account the {unknown.record} is for",
                    ),
                )
            )
    return refused


def entity_accounts(ctx: ImportContext, entity: str) -> set[tuple[str, str]]:
    """(provider, account) of the entity's configured sources, facts and credit lots."""
    return _known_accounts(ctx, _configured(ctx, [entity]))


def _known_accounts(ctx: ImportContext, configured: dict[str, ConfiguredSources]) -> set[tuple[str, str]]:
    """(provider, account) of every configured source, fact and credit lot of the entities."""
    known: set[tuple[str, str]] = set()
    with ctx.store.unit_of_work() as uow:
        for entity, sources in configured.items():
            known |= known_accounts(uow, entity, {(s.provider, s.provider_account) for s in sources.sources})
    return known


def _lot_account(ctx: ImportContext, configured: dict[str, ConfiguredSources], lot: CreditLot) -> str:
    """The provider account a lot entered without one is for: the provider's one account tokenbooks
    knows (its source's ORGANIZATION setting, its facts, its lots), or, knowing none, `default` — what a
    source without an ORGANIZATION setting names its account. Several: the person must say which."""
    known = _known_accounts(ctx, configured)
    accounts = sorted(a for p, a in known if p == lot.provider)
    if len(accounts) > 1:
        raise ConfigError(
            f"--account: tokenbooks knows several {lot.provider} accounts ({', '.join(accounts)}): which one "
            "bought the lot?",
            fix=f"give --account {accounts[0]} (or another of them)",
        )
    return accounts[0] if accounts else "default"


def of_refused_sources(configured: dict[str, ConfiguredSources], located: list[tuple[str, Any]]) -> list[str]:
    """What to say of the invoices for the account of a section whose settings are refused: stored, but its
    month is not reconciled (no spend of it is pulled) until the settings are fixed; one line a section."""
    numbers: dict[RefusedSource, list[str]] = {}
    sources: dict[RefusedSource, list[str]] = {}
    for _, invoice in located:
        for section in configured[invoice.entity].refused:
            if found := section.sources_of(invoice.provider_account):
                numbers.setdefault(section, []).append(invoice.number)
                sources[section] = list(dict.fromkeys([*sources.get(section, []), *found]))
    return [
        redact(
            f"invoice{'s' if len(numbered) > 1 else ''} {', '.join(numbered)} "
            f"{'are' if len(numbered) > 1 else 'is'} for {', '.join(sources[section])}, whose settings "
            f"{section.variables}… are refused ({section.error.message}): stored, but its month is not "
            "reconciled until they are fixed and it is pulled. "
            f"Fix: {section.error.fix or 'correct the settings the error names'}"
        )
        for section, numbered in numbers.items()
    ]


def unknown_products(
    ctx: ImportContext, located: list[tuple[str, CustomerCreditEvent]], source: str
) -> list[tuple[str, Problem]]:
    """Purchases of a product the accounting policies name no expected breakage for (`unknown_product`)."""
    policies, _ = ctx.policies()
    refused = []
    for where, event in located:
        if event.kind is not CustomerCreditKind.PURCHASE:
            continue
        why = policies.entity(event.entity).unknown_product(event.product)
        if why:
            refused.append(
                (
                    where,
                    Problem(
                        source,
                        where,
                        "product",
                        why + ": its breakage would silently be the default rate",
                        "write the product as the policies name it, or add it to expected_breakage_percent "
                        "in the policies (a new policy version) and import again",
                    ),
                )
            )
    return refused


def refuse_late(
    path: Path,
    located: list[tuple[str, Any]],
    refused: list[tuple[str, Problem]],
    quarantined: list[QuarantinedRow],
    tally: Tally,
    amount_of: Callable[[Any], tuple[Any, str]],
) -> list[tuple[str, Any]]:
    """Quarantine records a check after reading refused (a grant balance, an account, a product): each
    with its raw text, re-filed in the tally. Returns the records still accepted."""
    if not refused:
        return located
    raw_by_location = _raw_lines(path)
    items = dict(located)
    for where, problem in refused:
        amount, currency = amount_of(items[where])
        quarantined.append(QuarantinedRow(problem, raw_by_location.get(where, ""), amount, currency))
        tally.move(Disposition.ACCEPTED, Disposition.QUARANTINED, amount, currency)
    gone = {where for where, _ in refused}
    return [(where, item) for where, item in located if where not in gone]


def import_credit_lots(ctx: ImportContext, path: Path, *, entity: str) -> ImportReport:
    checked = CheckedLots()  # the lots the file may store, counted once (the same file again: unchanged)

    def check(ctx: ImportContext, path: Path, located: list, quarantined: list, tally: Tally):
        nonlocal checked
        located, checked = _check_lot_records(ctx, path, located, quarantined, tally)
        return located, checked.warnings

    def store(uow: UnitOfWork, lots: list, import_id: str) -> dict[str, int]:
        for lot in lots:
            uow.credit_lots.upsert(lot, import_id=import_id, now=ctx.clock())
        return checked.counts()

    return _import_records(ctx, "credits", path, entity, read_credit_lots, store, check=check)


def _check_lot_records(
    ctx: ImportContext,
    path: Path,
    located: list[tuple[str, CreditLot]],
    quarantined: list[QuarantinedRow],
    tally: Tally,
) -> tuple[list[tuple[str, CreditLot]], CheckedLots]:
    """The lots of a file that may be stored, and how each compares with what is stored; one for a
    provider account tokenbooks does not know, or one that would replace a lot of another kind (a FOCUS
    lot), is quarantined."""
    amount_of = lambda lot: (lot.amount, lot.currency)  # noqa: E731
    configured = _configured(ctx, (lot.entity for _, lot in located))
    unknown = unknown_accounts(ctx, located, str(path), configured, LOT_OF_UNKNOWN_ACCOUNT)
    located = refuse_late(path, located, unknown, quarantined, tally, amount_of)
    where = {id(lot): location for location, lot in located}
    with ctx.store.unit_of_work() as uow:
        checked = check_lots(uow, [lot for _, lot in located], lambda lot: where[id(lot)])
    refused = [(where[id(lot)], problem) for lot, problem in checked.refused]
    return refuse_late(path, located, refused, quarantined, tally, amount_of), checked


def _import_records(
    ctx: ImportContext,
    kind: str,
    path: Path,
    entity: str,
    read: Callable,
    store: Callable,
    check: Callable | None = None,
) -> ImportReport:
    """A record file: read (good items, quarantined rows, tally, or a file problem), then store the items."""
    with _recorder(ctx, kind, [path], entity).failed_on_error() as recorder:
        located, quarantined, tally, problem = read(path, entity)
        if problem:
            raise _failed(ctx, recorder, kind, [path], entity, problem)
        warnings: list[str] = []
        if check is not None:
            located, warnings = check(ctx, path, located, quarantined, tally)
        items = [item for _, item in located]
        return _finish(
            ctx,
            recorder,
            kind,
            [_lineage(path, tally)],
            entity,
            tally,
            quarantined,
            lambda uow, import_id, raw_id: store(uow, items, import_id),
            warnings,
        )


def import_customer_credits(ctx: ImportContext, path: Path, *, entity: str) -> ImportReport:
    """Customer credit events; each grant's balance is checked against what is already stored."""
    with _recorder(ctx, "customer-credits", [path], entity).failed_on_error() as recorder:
        return _import_customer_credits(ctx, recorder, path, entity)


def _import_customer_credits(
    ctx: ImportContext, recorder: RunRecorder, path: Path, entity: str
) -> ImportReport:
    parsed, quarantined, tally, problem = read_customer_credits(path, entity)
    if problem:
        raise _failed(ctx, recorder, "customer-credits", [path], entity, problem)
    entities = {event.entity for _, event in parsed}
    with ctx.store.unit_of_work() as uow:
        stored = [e for entity_ in entities for e in uow.customer_credits.for_entity(entity_)]
    unknown = unknown_products(ctx, parsed, str(path))
    parsed = refuse_late(path, parsed, unknown, quarantined, tally, lambda e: (e.amount, e.currency))
    accepted_events, refused = check_customer_events(stored, parsed, str(path))
    refuse_late(path, parsed, refused, quarantined, tally, lambda e: (e.amount, e.currency))

    counts, restated = _restatements(stored, accepted_events)

    def store(uow: UnitOfWork, import_id: str, raw_id: int) -> dict[str, int]:
        for event in accepted_events:
            uow.customer_credits.upsert(event, import_id=import_id, now=ctx.clock())
        return counts

    return _finish(
        ctx,
        recorder,
        "customer-credits",
        [_lineage(path, tally)],
        entity,
        tally,
        quarantined,
        store,
        restated,
    )


def _restatements(
    stored: list[CustomerCreditEvent], accepted: list[CustomerCreditEvent]
) -> tuple[dict[str, int], list[str]]:
    """New, unchanged (the same file again) and replaced events, and what each replacement changed: a
    restated movement re-books revenue and breakage, so the person importing it is told, event by event."""
    before = {(e.entity, e.event_id): e for e in stored}
    counts = {"events_new": 0, "events_unchanged": 0, "events_replaced": 0}
    said = []
    for event in accepted:
        old = before.get((event.entity, event.event_id))
        if old is None:
            counts["events_new"] += 1
        elif old.same_movement(event):
            counts["events_unchanged"] += 1
        else:
            counts["events_replaced"] += 1
            said.append(
                f"event {event.event_id} of customer {event.customer}, grant {event.grant_id} replaced: was "
                f"{old.describe()}, now {event.describe()}"
            )
    return counts, said


# ------------------------------------------------------------------------------------------- plumbing


def _recorder(ctx: ImportContext, kind: str, paths: Iterable[Path], entity: str) -> RunRecorder:
    return RunRecorder(
        ctx.store,
        ctx.clock,
        actor=ctx.actor,
        kind=f"import.{kind}",
        entity=entity,
        params={"files": [str(p) for p in paths]},
    )


def _lineage(path: Path, tally: Tally) -> FileLineage:
    size, sha = fingerprint(path)
    return FileLineage(str(path), size, sha, tally.input_rows)


def _raw_lines(path: Path) -> dict[str, str]:
    """Location → raw text of every record in a record file (to quarantine records refused late)."""
    records, _, _ = read_records(path, "events", ())
    return {r.location: r.raw for r in records}


def _finish(
    ctx: ImportContext,
    recorder: RunRecorder,
    kind: str,
    files: list[FileLineage],
    entity: str,
    tally: Tally,
    quarantined: list[QuarantinedRow],
    store: Writer,
    warnings: list[str] | None = None,
) -> ImportReport:
    import_id = str(uuid.uuid4())
    status = "partial" if quarantined else "succeeded"
    report = ImportReport(import_id, recorder.run_id, kind, files, status, tally, quarantined)
    report.warnings = list(warnings or [])
    now = ctx.clock()
    with ctx.store.unit_of_work() as uow:
        raw_id = uow.raw.add(
            source=f"import.{kind}",
            endpoint=", ".join(f.path for f in files),
            request={"kind": kind, "entity": entity},
            body=json.dumps(
                {"files": [f.as_dict() for f in files], "tally": tally.as_dict()}, sort_keys=True
            ),
            run_id=recorder.run_id,
            now=now,
        )
        report.stored = store(uow, import_id, raw_id)
        uow.imports.add(_import_row(report, entity, raw_id, now), quarantined, now)
        uow.commit()
    # what a person should know of a good import (a lot replaced, an invoice of a refused source) is in
    # the run's reason, beside the quarantined rows
    said = [f"{len(quarantined)} row(s) quarantined"] if quarantined else []
    reason = "; ".join([*said, *report.warnings]) or None
    for warning in report.warnings:
        recorder.event("import.warning", warning, level="warning")
    recorder.event(
        "import.finished",
        f"{kind}: {tally.rows[Disposition.ACCEPTED]} accepted, {len(quarantined)} quarantined, "
        f"{tally.rows[Disposition.SKIPPED]} skipped of {tally.input_rows} row(s)",
        level="warning" if quarantined else "info",
        data={"import_id": import_id, "tally": tally.as_dict(), "stored": report.stored},
    )
    recorder.finish(
        status, reason=reason, stats={"import_id": import_id, **report.stored, **tally.as_dict()["rows"]}
    )
    return report


def _import_row(report: ImportReport, entity: str, raw_id: int | None, now: Any) -> ImportRecord:
    rows = report.tally.rows
    first = report.files[0] if report.files else FileLineage("", 0, "")
    return ImportRecord(
        id=report.import_id,
        kind=report.kind,
        entity=entity,
        file="; ".join(f.path for f in report.files),
        sha256=first.sha256 if len(report.files) == 1 else "+".join(f.sha256 for f in report.files),
        size_bytes=sum(f.size for f in report.files),
        status=report.status,
        rows_input=report.tally.input_rows,
        rows_accepted=rows[Disposition.ACCEPTED],
        rows_quarantined=rows[Disposition.QUARANTINED],
        rows_skipped=rows[Disposition.SKIPPED],
        tally=report.tally.as_dict(),
        reason=report.reason,
        run_id=report.run_id,
        raw_payload_id=raw_id,
        imported_at=now,
    )


def _failed(
    ctx: ImportContext,
    recorder: RunRecorder,
    kind: str,
    paths: list[Path],
    entity: str,
    problem: Problem,
    problems: list[Problem] | None = None,
) -> InputError:
    """Record a file that could not be read at all, and the error to raise: nothing of it was stored."""
    files = [FileLineage(str(p), *(fingerprint(p) if p.is_file() else (0, ""))) for p in paths]
    report = ImportReport(str(uuid.uuid4()), recorder.run_id, kind, files, "failed", reason=str(problem))
    with ctx.store.unit_of_work() as uow:
        uow.imports.add(_import_row(report, entity, None, ctx.clock()), (), ctx.clock())
        uow.commit()
    recorder.finish("failed", reason=str(problem))
    return InputError(
        f"{problem.source} cannot be imported; nothing from it was stored",
        fix=problem.fix or "correct the file and import it again",
        problems=problems or [problem],
    )


def record_credit_lot(ctx: ImportContext, lot: CreditLot) -> bool:
    """A lot entered by hand (`tokenbooks credits add`), recorded as a run. True when it is new.

    A lot without a provider account is for the provider's one account tokenbooks knows (`_lot_account`).

    Entering a lot id again replaces the lot (a correction, said so in the run); a lot id a FOCUS import
    stored is refused (InputError): it is another purchase; so is a lot for a provider account tokenbooks
    does not know, of a provider whose accounts it knows (no usage would ever draw it)."""
    recorder = RunRecorder(
        ctx.store,
        ctx.clock,
        actor=ctx.actor,
        kind="credits.add",
        entity=lot.entity,
        params={"lot_id": lot.lot_id},
    )
    with recorder.failed_on_error():
        configured = _configured(ctx, [lot.entity])
        if not lot.provider_account:
            lot = replace(lot, provider_account=_lot_account(ctx, configured, lot))
        for _, problem in unknown_accounts(ctx, [("", lot)], lot.source, configured, LOT_OF_UNKNOWN_ACCOUNT):
            raise ConfigError(f"--account: {problem.message}", fix=problem.fix)
        with ctx.store.unit_of_work() as uow:
            checked = check_lots(uow, [lot])
            if checked.refused:
                [(_, problem)] = checked.refused
                raise InputError(problem.message, fix=problem.fix)
            new = uow.credit_lots.upsert(lot, import_id=None, now=ctx.clock())
            uow.commit()
    for warning in checked.warnings:
        recorder.event("import.warning", warning, level="warning")
    recorder.event(
        "credits.lot",
        f"{'added' if new else 'replaced'} credit lot {lot.lot_id}: {lot.amount} {lot.currency} of {lot.provider} "
        f"credits bought {lot.purchase_date}, expiring {lot.expires_on or 'never'}",
        data={"lot_id": lot.lot_id, "amount": lot.amount, "currency": lot.currency},
    )
    recorder.finish("succeeded")
    return new


INBOX_SUFFIXES = (".csv", ".json")


@dataclass
class InboxReport:
    imported: list = field(default_factory=list)  # ImportReport of each new file
    unchanged: list[str] = field(default_factory=list)  # files already imported with the same content
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)


def import_inbox(ctx, folder: Path, *, entity: str) -> InboxReport:
    """Import every invoice file in `folder` that has not been imported with the same content before."""
    report = InboxReport()
    if not folder.is_dir():
        return report
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in INBOX_SUFFIXES):
        _, sha = fingerprint(path)
        with ctx.store.unit_of_work() as uow:
            seen = uow.imports.already_imported("invoices", sha)
        if seen is not None:
            report.unchanged.append(str(path))
            continue
        try:
            report.imported.append(import_invoices(ctx, path, entity=entity))
        except InputError as exc:
            report.failed.append((str(path), str(exc)))
    return report


def focus_options(app: Any, entity: str | None = None, **overrides: Any) -> FocusOptions:
    """How FOCUS files are read: the entity, its timezone, the services filter and whether line ids are
    trusted, from settings; `overrides` (the command line's options) win."""
    target = entity or app.settings.focus.entity or app.default_entity()
    services = app.settings.focus.services
    settings = {"unique_line_ids": app.settings.focus.unique_line_ids}
    return FocusOptions(
        entity=target,
        timezone=app.mapping()[0].entity(target).timezone,
        services=None if "*" in services else tuple(services),
        **(settings | overrides),
    )

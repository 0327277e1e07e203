"""`tokenbooks serve`, `audit …`, `alerts …`, `approve`: running unattended and proving it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.tree import Tree

from connector.cli.base import (
    EntityOption,
    JsonFlag,
    app,
    app_and_entity,
    app_for,
    cell_text,
    console,
    errors,
    jsonable,
    log_for,
    period_option,
    plain_errors,
    print_json,
    service_log,
)
from connector.cli.users import acting_person
from connector.domain.errors import ConfigError, TokenbooksError
from connector.domain.money import format_money
from connector.redaction import redact

# ------------------------------------------------------------------------------- service: serve, audit


@app.command("serve")
def serve_command() -> None:
    """Run the service: nightly syncs and the month-end job per entity, the web console, /healthz and /metrics
    (on TOKENBOOKS_WEB__HOST:TOKENBOOKS_WEB__PORT).

    Stops on SIGTERM or SIGINT after the run in flight finishes or reaches a safe point.
    """
    from connector.scheduler import job_specs, serve

    with plain_errors():
        application = app_for()
        log_for(application.settings)
        for spec in job_specs(application):
            service_log.info(
                "scheduled %s for %s: %s (%s)", spec.kind, spec.entity, spec.trigger, spec.timezone
            )
        serve(
            application,
            on_ready=lambda url: service_log.info(
                "tokenbooks serving health on %s (the console, /healthz and /metrics)", url
            ),
        )
    service_log.info("tokenbooks stopped")


audit_app = typer.Typer(help="The auditor's trail: verify the event chain, trace lines, export a period.")
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    anchor: Annotated[
        list[str] | None,
        typer.Option("--anchor", help="A hash printed by an earlier verify; it must still be there."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Prove the append-only event log intact: every hash and every link recomputed, in order."""
    from connector.service.audit import verify_chain

    with plain_errors(as_json):
        report = verify_chain(app_for(read_only=True).store, anchors=frozenset(anchor or ()))
    if as_json:
        print_json(
            {
                "intact": report.intact,
                "events": report.events,
                "last_event_id": report.last_event_id,
                "head_hash": report.head_hash,
                "journals": report.journals,
                "facts": report.facts,
                "unvouched": report.unvouched,
                "problems": [
                    {"event_id": p.event_id, "problem": p.problem, "message": p.message}
                    for p in report.problems
                ],
            }
        )
    elif report.intact:
        console.print(
            f"[green]✓[/] the event chain is intact: {report.events} events, the newest is {report.last_event_id} "
            f"(hash {report.head_hash}), and {report.journals} journal(s) and {report.facts} current provider "
            "fact(s) match what it committed. Keep this hash: a later `audit verify` must still show it in the "
            "chain.",
            highlight=False,
        )
    else:
        for problem in report.problems:
            errors.print(f"[red]✗[/] {problem.message}", highlight=False)
        errors.print(
            f"{len(report.problems)} problem(s) in {report.events} events: the log was tampered with."
        )
    if not as_json:
        for note in report.unvouched:
            errors.print(f"[yellow]![/] {note}", highlight=False)
    if not report.intact:
        raise typer.Exit(1)


@audit_app.command("trace")
def audit_trace(
    key: Annotated[str, typer.Argument(help="A journal key, e.g. TB-AC-261003-001.")],
    line: Annotated[
        int | None, typer.Argument(help="One line of the journal (1-based); default: all.")
    ] = None,
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Walk from a posted line to its buckets, allocations (rule, mapping version), facts and raw payload."""
    from connector.service.audit import entity_of_key, trace
    from connector.service.policies import policy_history

    with plain_errors(as_json):
        application, target = app_and_entity(entity, read_only=True)
        if entity is None:
            target = entity_of_key(application.store, key, application.entities(), target)
        found = trace(
            application.store, entity=target, key=key, line=line, policies=policy_history(application)
        )
    if as_json:
        print_json(_trace_json(found))
        return
    _print_trace(found)


def _trace_json(found: Any) -> Any:

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        if hasattr(value, "isoformat"):
            return value.isoformat()
        if hasattr(value, "key") and callable(value.key):
            return value.key()
        return value

    return clean(jsonable(asdict(found)))


def _print_trace(found: Any) -> None:
    """The trace as a tree, every amount with its currency: the journal's, and on books kept in another
    currency the provider's too, where the facts and allocations are."""
    currency = found.currency
    root = Tree(
        f"[bold]{found.key}[/] of {found.entity}: {found.kind} {found.txn_date} in {currency} — {found.status}"
        + (f", ledger id {found.ledger_id}" if found.ledger_id else "")
    )
    for ln in found.lines:
        side = "Dr" if ln.amount > 0 else "Cr"
        node = root.add(
            f"line {ln.line_no}: {side} {ln.account} {abs(ln.amount)} {currency}"
            + (" (balancing line)" if ln.balancing else "")
        )
        for b in ln.buckets:
            converted = f" (from {b.source_amount} {b.converted_from})" if b.converted_from else ""
            bucket = node.add(
                f"bucket {b.bucket.period} {b.bucket.provider}/{b.bucket.provider_account} → {b.bucket.target.key()}: "
                f"this journal adds {b.contribution} {currency}{converted}; "
                f"allocated now {b.allocated} {b.allocated_currency}"
            )
            for a in b.allocations:
                f = a.fact
                leaf = bucket.add(
                    f"{a.amount} {f.currency} by rule [bold]{a.rule_id}[/] (mapping v{a.mapping_version}, {a.category}, "
                    f"{a.percent}%) of fact {f.id} v{f.version}{'' if f.is_current else ' (superseded)'}: "
                    f"{f.amount} {f.currency} {f.charge_date} {f.cost_basis} {f.dimensions}"
                )
                if f.payload:
                    leaf.add(
                        f"raw payload {f.payload.id}: {f.payload.source} {f.payload.endpoint} "
                        f"fetched {f.payload.fetched_at:%Y-%m-%d %H:%M} UTC, sha256 {f.payload.sha256[:16]}…"
                    )
    console.print(root, highlight=False)
    for invoice in found.invoices:  # what bills the buckets above, beside the tree
        billed = f"{invoice.provider}/{invoice.provider_account} {invoice.period}"
        console.print(
            f"invoice {invoice.number} for {billed}: {format_money(invoice.total, invoice.currency)}, issued "
            f"{invoice.issue_date} ({invoice.source})"
            if invoice.number is not None and invoice.total is not None
            else f"no invoice imported yet for {billed} (`tokenbooks import invoices`)",
            highlight=False,
        )


@audit_app.command("export")
def audit_export(
    period: Annotated[str, typer.Option(help="The month, YYYY-MM.")],
    fmt: Annotated[str, typer.Option("--format", help="csv | json | xlsx | html")] = "xlsx",
    out: Annotated[Path, typer.Option("--out", help="Folder to write into.")] = Path("audit"),
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Export a period for auditors: runs, journals with lines, postings, approvals, reconciliation, events,
    mapping and policy versions, exceptions and lineage."""
    from connector.service.audit_files import FORMATS, write_export
    from connector.service.audit_package import period_export
    from connector.settings import secret_values

    with plain_errors(as_json):
        if fmt not in FORMATS:
            raise ConfigError(f"--format {fmt!r} is not known", fix=f"use one of: {', '.join(FORMATS)}")
        month = period_option(period)
        application, target = app_and_entity(entity, read_only=True)
        export = period_export(
            application.store,
            entity=target,
            period=month,
            secrets=secret_values(application.settings),
            currency=application.mapping()[0].entity(target).currency,
        )
        files = write_export(export, fmt, out)
    if as_json:
        print_json({"files": files, "rows": {n: len(t.rows) for n, t in export.tables.items()}})
        return
    for path in files:
        console.print(f"wrote {path}", highlight=False)


@app.command("approve")
def approve_command(
    target: Annotated[
        str, typer.Argument(help="A held journal's key (TB-AC-260930-001), or a run id: all it holds.")
    ],
    approver: Annotated[
        str | None,
        typer.Option("--by", "--as", help="Who approves, as written in the audit log; default: the OS user."),
    ] = None,
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Release journals held for approval; the next sync posts them. Each approval is in the audit log.

    Nobody approves a journal they produced (they ran the sync, or saved the mapping or policies it was
    planned under) unless TOKENBOOKS_WEB__SEGREGATION_OF_DUTIES=false."""
    from connector.domain.journals import KEY_PATTERN
    from connector.service.approvals import approve
    from connector.service.audit import entity_of_key

    with plain_errors(as_json):
        application, target_entity = app_and_entity(entity)
        if entity is None and KEY_PATTERN.match(target):  # never another company's journal by default
            target_entity = entity_of_key(application.store, target, application.entities(), target_entity)
        approver = acting_person(approver)
        released = approve(
            application.store,
            application.clock,
            entity=target_entity,
            target=target,
            approver=approver,
            separate=application.settings.web.segregation_of_duties,
        )
    if as_json:
        print_json(
            [
                {"key": key, "entity": target_entity, "approved_by": approver, "was_held_because": reason}
                for key, reason in released
            ]
        )
        return
    for key, _ in released:
        console.print(f"{key} approved by {approver}; the next sync posts it.", highlight=False)


alerts_app = typer.Typer(
    help="Alerts: what needs a person (failed runs, suspense, variance, spikes, budgets)."
)
app.add_typer(alerts_app, name="alerts")


def raise_alerts_after_run(application: Any, entity: str) -> None:
    """After a run from the command line (cron, systemd, Kubernetes): raise and send due alerts."""
    from connector.service.after_run import after_run

    try:
        after_run(application, entity)
    except TokenbooksError as exc:  # an alert problem must not hide the run's own outcome
        errors.print(f"[yellow]Alerts not checked:[/] {exc}", highlight=False)


@alerts_app.command("list")
def alerts_list(
    limit: Annotated[int, typer.Option(help="How many.")] = 50, as_json: JsonFlag = False
) -> None:
    """Alerts raised so far, newest first, with what to do and where each was sent."""
    with plain_errors(as_json), app_for(read_only=True).store.unit_of_work() as uow:
        rows = uow.alerts.newest(limit)
    records = [
        {
            "raised_at": r.raised_at,
            "kind": r.kind,
            "entity": r.entity,
            "subject": r.subject,
            "period": r.period,
            "severity": r.severity,
            "message": r.message,
            "action": r.action,
            "sent_to": r.channels,
            "error": r.last_error,
        }
        for r in rows
    ]
    if as_json:
        print_json(records)
        return
    for r in records:
        console.print(
            f"[bold]{cell_text(r['raised_at'])}[/] {r['kind']} {r['entity']} {r['subject']} ({r['period']}): "
            f"{redact(r['message'])}\n"
            f"  what to do: {r['action']}\n  sent to: {', '.join(r['sent_to']) or 'nowhere yet'}"
            + (f"\n  last error: {redact(r['error'])}" if r["error"] else ""),
            highlight=False,
        )


@alerts_app.command("check")
def alerts_check(entity: EntityOption = None, as_json: JsonFlag = False) -> None:
    """Look for alerts now and send the new ones (the service does this after every run)."""
    from connector.service.after_run import after_run

    with plain_errors(as_json):
        application, target = app_and_entity(entity)
        sent = after_run(application, target)
    if as_json:
        print_json(
            [{"kind": a.kind, "subject": a.subject, "period": a.period, "sent_to": a.channels} for a in sent]
        )
        return
    console.print(f"{len(sent)} alert(s) sent.", highlight=False)

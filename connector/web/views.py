"""The console's pages. Each view reads its form or query, calls one use case, and renders a template;
permissions and CSRF are checked before it runs (`app.view`)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from connector.domain.console import Page
from connector.domain.errors import BusyError, InputError, TokenbooksError
from connector.domain.journals import JournalKind
from connector.domain.mapping import CATEGORY_LABELS, Category
from connector.domain.periods import Period, parse_day
from connector.domain.users import Permission
from connector.service import console as reads
from connector.service import console_edits as edits
from connector.service.after_run import after_run
from connector.service.approvals import approve as approve_held
from connector.service.audit import verify_chain
from connector.service.audit_files import write_export
from connector.service.audit_package import period_export
from connector.service.close import close_month
from connector.service.console_imports import KINDS, Upload, import_uploads, recent_imports
from connector.service.runs import SilentReporter
from connector.service.sync import sync
from connector.service.users import list_users
from connector.settings import secret_values
from connector.web.app import Ctx, view
from connector.web.policy_notes import policy_notes

log = logging.getLogger(__name__)

PAGE_SIZE = 50
STATUSES = ("planned", "held", "posting", "posted", "failed", "rejected")
CATEGORIES = [(c.value, CATEGORY_LABELS[c]) for c in Category if c is not Category.SUSPENSE]


def _page(ctx: Ctx) -> Page:
    try:
        return Page(max(1, int(ctx.query("page", "1") or 1)), PAGE_SIZE)
    except ValueError:
        return Page(1, PAGE_SIZE)


def _period(text: str, default: Period | None = None) -> Period | None:
    if not text:
        return default
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise InputError(f"period {text!r}: {exc}", fix="write the month as YYYY-MM, e.g. 2026-10") from None


def _day(text: str, what: str) -> date:
    try:
        return parse_day(text)
    except ValueError as exc:
        raise InputError(f"{what} {text!r}: {exc}", fix="write the day as YYYY-MM-DD") from None


# ------------------------------------------------------------------------------------------- overview


@view()
async def overview(ctx: Ctx) -> Response:
    data = await ctx.run(reads.overview, ctx.app, ctx.entity)
    chart = {
        "currency": data.currency,
        "months": [m.month for m in data.months],
        "series": [
            {"name": s, "values": [str(m.by_series.get(s, 0)) for m in data.months]} for s in data.series
        ],
    }
    return ctx.render("overview.html", data=data, chart=json.dumps(chart))


# ------------------------------------------------------------------------------------------- mappings


@view()
async def mappings(ctx: Ctx) -> Response:
    mapping, _text = await ctx.run(ctx.app.mapping)
    state = await ctx.run(edits.file_state, ctx.app.settings.mapping_file, "mapping")
    ledger = mapping.entity(ctx.entity).ledger
    return ctx.render(
        "mappings.html",
        mapping=mapping,
        ledger=ledger,
        text=state.text,
        base_hash=state.hash,
        categories=CATEGORIES,
        labels=CATEGORY_LABELS,
        today=reads.local_today(ctx.app, ctx.entity),
        chart=await ctx.run(reads.ledger_chart, ctx.app, ctx.entity),
    )


@view(Permission.EDIT_MAPPINGS)
async def mappings_check(ctx: Ctx) -> Response:
    """As the controller types: the candidate checked, problems with their line (an htmx fragment)."""
    candidate = await ctx.run(edits.check_mapping, ctx.app, ctx.field("text"))
    return ctx.render("_problems.html", candidate=candidate)


@view(Permission.EDIT_MAPPINGS)
async def mappings_candidate(ctx: Ctx) -> Response:
    """Make a candidate from one of the edit forms, and show its preview beside the current version."""
    action = ctx.field("action")
    if action == "yaml":
        candidate = await ctx.run(edits.check_mapping, ctx.app, ctx.field("text"))
        candidate.base_hash = ctx.field("base_hash") or candidate.base_hash
        candidate.summary = "edited in the YAML editor"
    else:
        effective = _day(ctx.field("effective_from"), "effective from")
        note = ctx.field("note")
        if action == "move":
            candidate = await ctx.run(
                edits.move_project,
                ctx.app,
                project=ctx.field("project"),
                category=ctx.field("category"),
                effective_from=effective,
                note=note,
                class_name=ctx.field("class_name"),
            )
        elif action == "add":
            candidate = await ctx.run(
                edits.add_rule,
                ctx.app,
                rule_id=ctx.field("rule_id"),
                conditions=edits.parse_conditions(ctx.field("conditions")),
                category=ctx.field("category"),
                description=ctx.field("description"),
                before_rule=ctx.field("before_rule"),
                effective_from=effective,
                note=note,
            )
        elif action == "edit":
            candidate = await ctx.run(
                edits.change_rule,
                ctx.app,
                rule_id=ctx.field("rule_id"),
                category=ctx.field("category"),
                description=ctx.field("description"),
                effective_from=effective,
                note=note,
            )
        else:
            raise InputError(f"unknown edit {action!r}", fix="use one of the forms on the Mappings page")
        if ctx.field("base_hash") and ctx.field("base_hash") != candidate.base_hash:
            candidate.base_hash = ctx.field("base_hash")  # the save will say the file moved on
    report, notes = await _preview(ctx, candidate, candidate.mapping)
    current, _ = await ctx.run(ctx.app.mapping)
    status = 200 if candidate.ok else 422
    return ctx.render(
        "mapping_preview.html",
        status,
        candidate=candidate,
        report=report,
        notes=notes,
        current=current,
        labels=CATEGORY_LABELS,
        chart=await ctx.run(reads.ledger_chart, ctx.app, ctx.entity),
    )


async def _preview(ctx: Ctx, candidate: edits.Candidate, parsed: Any) -> tuple[Any, list[str]]:
    """A candidate without errors previewed for the month asked (by default the month it takes effect)."""
    if not candidate.ok or parsed is None:
        return None, []
    default = Period.of(parsed.effective_from)
    period = _period(ctx.field("period"), default) or default
    return await ctx.run(edits.preview, ctx.app, candidate, entity=ctx.entity, period=period)


@view(Permission.EDIT_MAPPINGS)
async def mappings_save(ctx: Ctx) -> Response:
    candidate = await ctx.run(
        edits.save_mapping,
        ctx.app,
        text=ctx.form.get("text") if ctx.form else "",  # as typed: no strip
        base_hash=ctx.field("base_hash"),
        author=ctx.user.username,
    )
    version = candidate.mapping.version if candidate.mapping else ""
    return RedirectResponse(f"/mappings/history?saved={version}", status_code=303)


@view()
async def mappings_history(ctx: Ctx) -> Response:
    return await _history(ctx, "mapping")


async def _history(ctx: Ctx, which: str) -> Response:
    def versions() -> list:
        with ctx.app.store.unit_of_work() as uow:
            return uow.console.file_versions(which)

    found = await ctx.run(versions)
    chosen = {v.content_hash[:12]: v for v in found}
    newer, older = chosen.get(ctx.query("b")), chosen.get(ctx.query("a"))
    if newer is None and found:
        newer = found[0]
        older = found[1] if len(found) > 1 else None
    diff = edits.line_diff(older.content, newer.content) if newer and older else []
    return ctx.render(
        "history.html",
        which=which,
        versions=found,
        newer=newer,
        older=older,
        diff=diff,
        saved=ctx.query("saved"),
    )


# ------------------------------------------------------------------------------------------- policies


@view()
async def policies(ctx: Ctx) -> Response:
    policy_set, text = await ctx.run(ctx.app.policies)
    path = ctx.app.settings.policies_file
    base_hash = edits.content_hash(text) if path else ""
    return ctx.render(
        "policies.html",
        policies=policy_set,
        entity_policy=policy_set.entity(ctx.entity),
        notes=policy_notes(policy_set.entity(ctx.entity)),
        text=text,
        file=path,
        base_hash=base_hash,
    )


@view(Permission.EDIT_POLICIES)
async def policies_check(ctx: Ctx) -> Response:
    candidate = await ctx.run(edits.check_policies, ctx.app, ctx.field("text"))
    return ctx.render("_problems.html", candidate=candidate)


@view(Permission.EDIT_POLICIES)
async def policies_candidate(ctx: Ctx) -> Response:
    candidate = await ctx.run(edits.check_policies, ctx.app, ctx.field("text"))
    candidate.base_hash = ctx.field("base_hash") or candidate.base_hash
    _, current = await ctx.run(ctx.app.policies)
    diff = edits.line_diff(current, candidate.text)
    report, notes = await _preview(ctx, candidate, candidate.policies)
    return ctx.render(
        "policies_preview.html",
        200 if candidate.ok else 422,
        candidate=candidate,
        diff=diff,
        report=report,
        notes=notes,
        labels=CATEGORY_LABELS,
        chart=await ctx.run(reads.ledger_chart, ctx.app, ctx.entity),
    )


@view(Permission.EDIT_POLICIES)
async def policies_save(ctx: Ctx) -> Response:
    await ctx.run(
        edits.save_policies,
        ctx.app,
        text=ctx.form.get("text") if ctx.form else "",
        base_hash=ctx.field("base_hash"),
        author=ctx.user.username,
    )
    return RedirectResponse("/policies/history?saved=1", status_code=303)


@view()
async def policies_history(ctx: Ctx) -> Response:
    return await _history(ctx, "policies")


# ------------------------------------------------------------------------------------------------ runs


@view()
async def runs(ctx: Ctx) -> Response:
    kind, status = ctx.query("kind") or None, ctx.query("status") or None
    page = _page(ctx)
    found, count, kinds = await ctx.run(
        reads.runs_page, ctx.app, entity=ctx.entity, kind=kind, status=status, page=page
    )
    return ctx.render(
        "runs.html",
        runs=found,
        count=count,
        kinds=kinds,
        kind=kind,
        status=status,
        page=page,
        statuses=("succeeded", "partial", "failed", "abandoned", "running"),
    )


@view()
async def run(ctx: Ctx) -> Response:
    detail = await ctx.run(reads.run_detail, ctx.app, ctx.request.path_params["run_id"])
    return ctx.render("run.html", detail=detail)


@view(Permission.SYNC)
async def run_sync(ctx: Ctx) -> Response:
    acting = reads.acting_as(ctx.app, ctx.user.username)
    try:
        result = await ctx.run(sync, acting, entity=ctx.entity, reporter=SilentReporter())
    except BusyError as exc:
        raise InputError(exc.message, fix="wait for that run to finish; the Runs page shows it") from None
    await _after_run(ctx)
    return RedirectResponse(f"/runs/{result.run_id}", status_code=303)


async def _after_run(ctx: Ctx) -> None:
    """Alerts and the pages' summaries after a run started here, as after one from the CLI or the scheduler;
    an alert that could not be raised or sent is logged, not shown in place of the run's own outcome."""
    try:
        await ctx.run(after_run, ctx.app, ctx.entity)
    except TokenbooksError as exc:
        log.warning("alerts not checked after a console run for %s: %s", ctx.entity, exc)


# -------------------------------------------------------------------------------------------- journals


@view()
async def journals(ctx: Ctx) -> Response:
    chosen = reads.JournalFilter(
        period=_period(ctx.query("period")),
        kind=ctx.query("kind") or None,
        status=ctx.query("status") or None,
        account=ctx.query("account") or None,
        ledger_id=(ctx.query("ledger_id") or "").strip() or None,
    )
    page = _page(ctx)
    found, count, accounts = await ctx.run(reads.journals_page, ctx.app, ctx.entity, chosen, page)
    return ctx.render(
        "journals.html",
        journals=found,
        count=count,
        page=page,
        chosen=chosen,
        accounts=accounts,
        kinds=[k.value for k in JournalKind],
        statuses=STATUSES,
        period_text=ctx.query("period"),
        chart=await ctx.run(reads.ledger_chart, ctx.app, ctx.entity),
    )


@view()
async def journal(ctx: Ctx) -> Response:
    detail = await ctx.run(reads.journal_detail, ctx.app, ctx.entity, ctx.request.path_params["key"])
    return ctx.render("journal.html", detail=detail, approved=ctx.query("approved"))


@view()
async def lineage(ctx: Ctx) -> Response:
    params = ctx.request.path_params
    found = await ctx.run(
        reads.line_lineage,
        ctx.app,
        ctx.entity,
        params["key"],
        int(params["line"]),
        Page(_page(ctx).number, 25),
    )
    return ctx.render("lineage.html", lineage=found, page=_page(ctx))


@view()
async def payload(ctx: Ctx) -> Response:
    found = await ctx.run(reads.payload, ctx.app, int(ctx.request.path_params["payload_id"]))
    if ctx.query("download"):
        return Response(
            found.body,
            media_type="application/json" if found.body.lstrip().startswith(("{", "[")) else "text/plain",
            headers={"Content-Disposition": f'attachment; filename="payload-{found.id}.json"'},
        )
    body = found.body
    with contextlib.suppress(ValueError):
        body = json.dumps(json.loads(body), indent=2)
    return ctx.render("payload.html", payload=found, body=body)


@view(Permission.APPROVE)
async def approve(ctx: Ctx) -> Response:
    key = ctx.request.path_params["key"]
    await ctx.run(
        approve_held,
        ctx.app.store,
        ctx.app.clock,
        entity=ctx.entity,
        target=key,
        approver=ctx.user.username,
        separate=ctx.app.settings.web.segregation_of_duties,
    )
    await ctx.run(reads.refresh_summaries, ctx.app, ctx.entity)
    return RedirectResponse(f"/journals/{key}?approved=1", status_code=303)


# -------------------------------------------------------------------------------- reconciliation, close


@view()
async def reconciliation(ctx: Ctx) -> Response:
    today = reads.local_today(ctx.app, ctx.entity)
    period = _period(ctx.query("period"), Period.of(today).previous()) or Period.of(today).previous()
    lines = await ctx.run(reads.reconciliation, ctx.app, ctx.entity, period)
    checklist, computed_at = await ctx.run(reads.close_checklist, ctx.app, ctx.entity, period)
    voided = await ctx.run(reads.voided_lots, ctx.app, ctx.entity, period)
    return ctx.render(
        "reconciliation.html",
        period=period,
        lines=lines,
        voided=voided,
        checklist=checklist,
        computed_at=computed_at,
        ended=today > period.last_day,
        previous=period.previous(),
        next=period.next(),
    )


@view(Permission.CLOSE)
async def close(ctx: Ctx) -> Response:
    period = _period(ctx.field("period"))
    if period is None:
        raise InputError("which month? the period is empty", fix="pick a month")
    acting = reads.acting_as(ctx.app, ctx.user.username)
    try:
        result = await ctx.run(close_month, acting, entity=ctx.entity, period=period)
    except BusyError as exc:
        raise InputError(exc.message, fix="wait for that run to finish; the Runs page shows it") from None
    await _after_run(ctx)
    return RedirectResponse(f"/runs/{result.run_id}", status_code=303)


# --------------------------------------------------------------------------------------------- imports


@view()
async def imports(ctx: Ctx) -> Response:
    recent = await ctx.run(recent_imports, ctx.app, ctx.entity)
    return ctx.render("imports.html", kinds=KINDS, recent=recent, chosen=ctx.query("kind") or "focus")


@view(Permission.IMPORT)
async def imports_upload(ctx: Ctx) -> Response:
    files = [f for f in (ctx.form.getlist("files") if ctx.form else []) if isinstance(f, UploadFile)]
    uploads = [Upload(f.filename or "", await f.read()) for f in files]
    focus = {name: ctx.field(name) for name in ("provider", "account", "currency", "all_services")}
    result = await ctx.run(
        import_uploads,
        reads.acting_as(ctx.app, ctx.user.username),
        kind=ctx.field("kind"),
        uploads=uploads,
        entity=ctx.entity,
        focus=focus,
    )
    await _after_run(ctx)
    status = {"succeeded": 200, "partial": 200, "failed": 422}[result.status]
    return ctx.render("import_result.html", status, result=result, kinds=KINDS)


# ----------------------------------------------------------------------------------------------- audit


@view()
async def audit(ctx: Ctx) -> Response:
    page = _page(ctx)
    kind = ctx.query("kind") or None
    actor = ctx.query("actor") or None
    events, count = await ctx.run(reads.audit_events, ctx.app, kind_prefix=kind, actor=actor, page=page)
    today = reads.local_today(ctx.app, ctx.entity)
    return ctx.render(
        "audit.html",
        events=events,
        count=count,
        page=page,
        kind=kind,
        actor=actor,
        period=str(Period.of(today).previous()),
    )


@view()
async def audit_verify(ctx: Ctx) -> Response:
    report = await ctx.run(verify_chain, ctx.app.store)
    return ctx.render("_verify.html", report=report)


FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "csv": "application/zip",
}


@view(Permission.EXPORT)
async def audit_export(ctx: Ctx) -> Response:
    fmt = ctx.query("format", "xlsx")
    if fmt not in FORMATS:
        raise InputError(f"there is no {fmt!r} export", fix=f"use one of: {', '.join(FORMATS)}")
    period = _period(ctx.query("period"))
    if period is None:
        raise InputError("which month? the period is empty", fix="pick a month, YYYY-MM")
    name, content = await ctx.run(_export, ctx.app, ctx.entity, period, fmt)
    return Response(
        content, media_type=FORMATS[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _export(app: Any, entity: str, period: Period, fmt: str) -> tuple[str, bytes]:
    export = period_export(
        app.store,
        entity=entity,
        period=period,
        secrets=secret_values(app.settings),
        currency=app.mapping()[0].entity(entity).currency,
    )
    with tempfile.TemporaryDirectory(prefix="tokenbooks-export-") as folder:
        files = write_export(export, fmt, Path(folder))
        if fmt != "csv":
            [path] = files
            return path.name, path.read_bytes()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.name)
        return f"tokenbooks-{entity}-{period}-csv.zip", buffer.getvalue()


@view()
async def users(ctx: Ctx) -> Response:
    found = await ctx.run(list_users, ctx.app.store)
    return ctx.render("users.html", users=found)


async def favicon(request: Any) -> Response:
    return Response(status_code=204)


def routes() -> list[Route]:
    return [
        Route("/", overview),
        Route("/favicon.ico", favicon),
        Route("/mappings", mappings),
        Route("/mappings/check", mappings_check, methods=["POST"]),
        Route("/mappings/candidate", mappings_candidate, methods=["POST"]),
        Route("/mappings/save", mappings_save, methods=["POST"]),
        Route("/mappings/history", mappings_history),
        Route("/policies", policies),
        Route("/policies/check", policies_check, methods=["POST"]),
        Route("/policies/candidate", policies_candidate, methods=["POST"]),
        Route("/policies/save", policies_save, methods=["POST"]),
        Route("/policies/history", policies_history),
        Route("/runs", runs),
        Route("/runs/sync", run_sync, methods=["POST"]),
        Route("/runs/{run_id}", run),
        Route("/journals", journals),
        Route("/journals/{key}", journal),
        Route("/journals/{key}/lines/{line:int}", lineage),
        Route("/journals/{key}/approve", approve, methods=["POST"]),
        Route("/payloads/{payload_id:int}", payload),
        Route("/reconciliation", reconciliation),
        Route("/reconciliation/close", close, methods=["POST"]),
        Route("/imports", imports),
        Route("/imports", imports_upload, methods=["POST"]),
        Route("/audit", audit),
        Route("/audit/verify", audit_verify),
        Route("/audit/export", audit_export),
        Route("/users", users),
    ]

"""The `tokenbooks` command line.

Plain words for people (tables, a progress bar on long pulls), `--json` for scripts. Every error that
tokenbooks raises on purpose is shown as what went wrong and how to fix it, with a non-zero exit code;
a run that failed is also recorded in the sync log with the same reason.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from connector.domain.errors import ConfigError, Problem, TokenbooksError
from connector.domain.money import format_money
from connector.domain.periods import Period, parse_day

app = typer.Typer(
    help="tokenbooks: puts a company's AI spend into its books.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
sandbox_app = typer.Typer(help="Run the local ledger sandboxes.", no_args_is_help=True)
mappings_app = typer.Typer(help="Check and preview the chart-of-accounts mapping.", no_args_is_help=True)
import_app = typer.Typer(
    help="Import files: FOCUS exports, invoices, credit lots, customer credits, ledger bills.",
    no_args_is_help=True,
)
db_app = typer.Typer(help="The tokenbooks database: schema migrations.", no_args_is_help=True)
sources_app = typer.Typer(help="Provider sources: where each one has read to.", no_args_is_help=True)
credits_app = typer.Typer(help="Prepaid credit lots bought from providers.", no_args_is_help=True)
export_app = typer.Typer(help="Export what tokenbooks posted, for auditors.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(mappings_app, name="mappings")
app.add_typer(import_app, name="import")
app.add_typer(db_app, name="db")
app.add_typer(sources_app, name="sources")
app.add_typer(credits_app, name="credits")
app.add_typer(export_app, name="export")

console = Console()
errors = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
EntityOption = Annotated[str | None, typer.Option("--entity", help="The entity (company) to work on.")]


def main() -> None:
    app()


# ------------------------------------------------------------------------------------------- plumbing


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    return value


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(_jsonable(data), indent=2) + "\n")


@contextmanager
def plain_errors(as_json: bool = False) -> Iterator[None]:
    """Turn tokenbooks errors into a message and a fix, and exit non-zero."""
    try:
        yield
    except TokenbooksError as exc:
        problems = [str(p) for p in getattr(exc, "problems", [])]
        if as_json:
            print_json(
                {"error": exc.message, "fix": exc.fix, "kind": type(exc).__name__, "problems": problems}
            )
        else:
            errors.print(f"[bold red]Error:[/] {exc.message}", highlight=False)
            for problem in problems[:50]:
                errors.print(f"  • {problem}", highlight=False)
            if exc.fix:
                errors.print(f"[bold]Fix:[/] {exc.fix}", highlight=False)
        raise typer.Exit(2 if isinstance(exc, ConfigError) else 1) from None


@contextmanager
def busy_is_not_a_failure(as_json: bool = False) -> Iterator[None]:
    """Another process already works on the entity: say so and exit cleanly (status 0), doing nothing."""
    from connector.domain.errors import BusyError

    try:
        yield
    except BusyError as exc:
        if as_json:
            print_json({"status": "busy", "reason": exc.message})
        else:
            errors.print(f"[yellow]Busy:[/] {exc.message}. Nothing was done.", highlight=False)
        raise typer.Exit(0) from None


class RichReporter:
    """Progress bars and notes on the terminal (stderr, so --json output stays clean)."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.progress_bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=errors,
            transient=True,
            disable=quiet,
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> RichReporter:
        self.progress_bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress_bar.stop()

    def progress(self, label: str, done: int, total: int | None = None) -> None:
        key = label.split(" page ")[0]
        if key not in self.tasks:
            self.tasks[key] = self.progress_bar.add_task(label, total=total)
        self.progress_bar.update(self.tasks[key], completed=done, total=total, description=label)

    def note(self, message: str, level: str = "info") -> None:
        if not self.quiet:
            errors.print(message, highlight=False)


def _app_for(**overrides: Any) -> Any:
    from connector.bootstrap import build_app
    from connector.settings import load_settings

    return build_app(load_settings(**overrides))


# ------------------------------------------------------------------------------------------------ demo


@app.command()
def demo(as_json: JsonFlag = False) -> None:
    """Book a month of a fictional company's AI spend into a local QuickBooks sandbox (no credentials)."""
    from connector.sandbox.demo import run_demo

    with plain_errors(as_json):
        if not as_json:
            console.rule("[bold]tokenbooks demo[/] — Acme Analytics, October 2026")
            console.print(
                "Starting the local QuickBooks sandbox and the OpenAI Costs replay; connecting through "
                "the sandbox's OAuth flow; then the nightly sync for each day of the month.\n"
            )
        with RichReporter(quiet=True) as reporter:
            result = run_demo(reporter=reporter, on_night=None if as_json else _print_night)
    if as_json:
        print_json(_demo_json(result))
        return
    _print_demo(result)
    if result.failed:
        raise typer.Exit(1)


def _print_night(night: Any) -> None:
    pulled = sum(p.facts for p in night.pulls)
    restated = sum(p.replaced.restated for p in night.pulls)
    keys = (night.post.posted + night.post.found) if night.post else []
    amount = (
        sum(
            (sum((c.amount for c in p.journal.contributions), Decimal(0)) for p in night.plan.planned),
            Decimal(0),
        )
        if night.plan
        else Decimal(0)
    )
    day = night.pulls[0].window.last_day if night.pulls else ""
    text = f"{day}  pulled {pulled:>3} facts"
    if restated:
        text += f" ([yellow]{restated} restated by the provider[/])"
    if keys:
        text += f"  → posted {', '.join(keys)} ({format_money(amount, 'USD')})"
    else:
        text += "  → [dim]nothing new to post[/]"
    if night.status != "succeeded":
        text += f"  [red]{night.status}: {night.reason}[/]"
    console.print(text, highlight=False)


def _print_demo(result: Any) -> None:
    console.print()
    if result.posted_now == 0 and not result.failed:
        console.print(
            f"[bold green]Nothing new to post:[/] QuickBooks already holds all {result.journals_in_ledger} "
            "tokenbooks journals for the month (a re-run with no new data posts nothing).\n"
        )
    table = Table(title="What landed in QuickBooks (October 2026, read back from the ledger)")
    table.add_column("Account")
    table.add_column("Name")
    table.add_column("Balance (Dr + / Cr −)", justify="right")
    for number, name, balance in result.balances:
        table.add_row(number, name, f"{balance:,.2f}")
    console.print(table)
    _print_reconciliation(result.reconciliation)
    console.print(
        f"\nData: {result.data_dir} · sync log: `tokenbooks runs` · run `make demo` again: it posts nothing."
    )


def _demo_json(result: Any) -> dict:
    return {
        "posted_now": result.posted_now,
        "journals_in_ledger": result.journals_in_ledger,
        "nights": [
            {
                "run_id": n.run_id,
                "status": n.status,
                "reason": n.reason,
                "posted": n.post.posted if n.post else [],
            }
            for n in result.nights
        ],
        "balances": [{"account": a, "name": b, "balance": c} for a, b, c in result.balances],
        "reconciliation": [_recon_json(r) for r in result.reconciliation],
    }


# ------------------------------------------------------------------------------------------------ sync


@app.command("sync")
def sync_command(
    since: Annotated[
        str | None, typer.Option(help="First day to pull (YYYY-MM-DD); default: from the bookmark.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Last day to pull (YYYY-MM-DD); default: yesterday (UTC).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Pull and plan; post nothing, queue nothing.")
    ] = False,
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Pull provider costs, map them, and post the journals (the nightly run)."""
    from connector.service.sync import sync

    with plain_errors(as_json), busy_is_not_a_failure(as_json):
        first = _day(since, "--since")
        last = _day(until, "--until")
        application = _app_for()
        target = entity or application.default_entity()
        with RichReporter(quiet=as_json) as reporter:
            result = sync(
                application, entity=target, since=first, until=last, dry_run=dry_run, reporter=reporter
            )
        if not dry_run:
            _raise_alerts(application, target)
    if as_json:
        print_json(_sync_json(result))
    else:
        _print_sync(result)
    if result.status == "failed":
        raise typer.Exit(1)


def _period(value: str, option: str = "--period") -> Period:
    try:
        return Period.parse(value)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return parse_day(value)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def _sync_json(result: Any) -> dict:
    return {
        "run_id": result.run_id,
        "entity": result.entity,
        "status": result.status,
        "reason": result.reason,
        "dry_run": result.dry_run,
        "pulls": [
            {
                "source": p.source,
                "first_day": p.window.first_day,
                "last_day": p.window.last_day,
                "facts": p.facts,
                "inserted": p.replaced.inserted,
                "restated": p.replaced.restated,
                "withdrawn": p.replaced.withdrawn,
                "pages": p.pages,
            }
            for p in result.pulls
        ],
        "planned": [_journal_json(p.journal, p.hold_reason) for p in result.plan.planned]
        if result.plan
        else [],
        "suspense": result.plan.suspense_by_provider if result.plan else {},
        "policies": _books_json(result.plan.books) if result.plan else {},
        "coverage": [c.as_dict() for c in result.plan.coverage] if result.plan else [],
        "posted": result.post.posted if result.post else [],
        "found": result.post.found if result.post else [],
        "rejected": [{"key": k, "reason": r} for k, r in result.post.rejected] if result.post else [],
        "failed": [{"key": k, "reason": r} for k, r in result.post.failed] if result.post else [],
    }


def _journal_json(journal: Any, hold_reason: str = "") -> dict:
    return {
        "key": journal.key,
        "kind": journal.kind.value,
        "date": journal.txn_date,
        "currency": journal.currency,
        "memo": journal.memo,
        "held": hold_reason or None,
        "lines": [
            {"account": ln.target.key(), "amount": ln.amount, "description": ln.description}
            for ln in journal.lines
        ],
    }


def _print_sync(result: Any) -> None:
    for pull in result.pulls:
        console.print(
            f"Pulled {pull.source} {pull.window.first_day}..{pull.window.last_day}: {pull.facts} facts "
            f"({pull.replaced.inserted} new, {pull.replaced.restated} restated, "
            f"{pull.replaced.withdrawn} withdrawn)",
            highlight=False,
        )
    if result.plan:
        _print_books(result.plan.books)
        for provider, amount in result.plan.suspense_by_provider.items():
            if amount:
                console.print(
                    f"[yellow]Unallocated:[/] {format_money(amount, 'USD')} of {provider} spend matched no "
                    "rule and went to suspense. Add a rule to the mapping (`tokenbooks mappings coverage`).",
                    highlight=False,
                )
        for c in result.plan.coverage:
            console.print(
                f"Allocation accuracy {c.provider} {c.period}: {_share(c.accuracy)} of "
                f"{format_money(c.total, c.currency)} placed by a mapping rule",
                highlight=False,
            )
        if not result.plan.planned:
            console.print("Nothing new to post: the books already hold every amount.")
        for planned in result.plan.planned:
            j = planned.journal
            total = sum((ln.amount for ln in j.lines if ln.amount > 0), Decimal(0))
            verb = "would post" if result.dry_run else ("held" if planned.held else "planned")
            console.print(
                f"  {verb} {j.key} {j.txn_date} {j.kind.value} {format_money(total, j.currency)}",
                highlight=False,
            )
    if result.post:
        console.print(
            f"Posted {len(result.post.posted)}, already there {len(result.post.found)}, "
            f"rejected {len(result.post.rejected)}, to retry {len(result.post.failed)}."
        )
        for key, reason in result.post.rejected + result.post.failed:
            console.print(f"  [red]{key}[/]: {reason}", highlight=False)
    style = {"succeeded": "green", "partial": "yellow", "failed": "red"}.get(result.status, "white")
    console.print(
        f"Run {result.run_id}: [{style}]{result.status}[/]"
        + (f" — {result.reason}" if result.reason else ""),
        highlight=False,
    )


# ------------------------------------------------------------------------------------------- reconcile


@app.command("reconcile")
def reconcile_command(
    period: Annotated[str, typer.Option(help="The month to reconcile, YYYY-MM.")],
    entity: EntityOption = None,
    offline: Annotated[bool, typer.Option("--offline", help="Skip reading the ledger back.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Compare provider cost, invoice, what tokenbooks posted and what the ledger holds, for a month."""
    from connector.service.reconcile import reconcile_run

    with plain_errors(as_json), busy_is_not_a_failure(as_json):
        month = _period(period)
        application = _app_for()
        target = entity or application.default_entity()
        results = reconcile_run(application, entity=target, period=month, read_back=not offline)
    if as_json:
        print_json({"period": period, "entity": target, "results": [_recon_json(r) for r in results]})
        return
    _print_reconciliation(results)


def _recon_json(result: Any) -> dict:
    d = result.input
    return {
        "provider": d.provider,
        "account": d.provider_account,
        "period": d.period,
        "currency": d.currency,
        "provider_cost": result.provider_cost,
        "invoice_total": d.invoice_total,
        "posted_total": d.posted_total,
        "ledger_total": d.ledger_total,
        "coverage": result.coverage,
        "variance": result.variance,
        "explained": [{"item": label, "amount": amount} for label, amount in result.explained],
        "unexplained": result.unexplained,
        "tolerance": result.input.tolerance.describe(),
        "status": result.status.value,
        "findings": [f.as_dict() for f in result.findings],
    }


def _print_reconciliation(results: list[Any]) -> None:
    """One column per provider account, one row per figure: fits a terminal and reads top to bottom."""
    if not results:
        console.print("Nothing to reconcile for this period (no facts, invoices or postings).")
        return
    table = Table(title=f"Reconciliation {results[0].input.period}")
    table.add_column("")
    for r in results:
        table.add_column(f"{r.input.provider}\n{r.input.provider_account}", justify="right")
    rows = [
        ("Provider cost", lambda r: f"{r.provider_cost:,.2f}"),
        ("Invoice", lambda r: "—" if r.input.invoice_total is None else f"{r.input.invoice_total:,.2f}"),
        ("Posted by tokenbooks", lambda r: f"{r.input.posted_total:,.2f}"),
        ("In the ledger", lambda r: "—" if r.input.ledger_total is None else f"{r.input.ledger_total:,.2f}"),
        ("Coverage", lambda r: "—" if r.coverage is None else f"{r.coverage:.2%}"),
        ("Status", _status_cell),
    ]
    for label, cell in rows:
        table.add_row(label, *[cell(r) for r in results])
    console.print(table)
    for r in results:
        for finding in r.findings:
            mark = "[green]✓[/]" if finding.holds else "[red]✗[/]"
            text = f" {mark} {r.input.provider}: {finding.check}"
            if not finding.holds:
                text += f": off by {finding.difference}"
            if finding.explanation:
                text += f" — {finding.explanation}"
            console.print(text, highlight=False)


def _status_cell(result: Any) -> str:
    colour = {"matched": "green", "within_tolerance": "green", "missing_invoice": "yellow"}.get(
        result.status.value, "red"
    )
    return f"[{colour}]{result.status.value}[/]"


# -------------------------------------------------------------------------------------------- mappings

MappingFileOption = Annotated[
    Path | None, typer.Option("--file", help="Mapping file; default TOKENBOOKS_MAPPING_FILE.")
]
PeriodOption = Annotated[str, typer.Option("--period", help="The month, YYYY-MM.")]
OfflineFlag = Annotated[
    bool, typer.Option("--offline", help="Do not call the ledger: use the cached chart and lock date.")
]


@mappings_app.command("check")
def mappings_check(
    file: MappingFileOption = None,
    offline: OfflineFlag = False,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Fetch the ledger's chart of accounts again, even if cached.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Validate the mapping: the file, its version, and the ledger's accounts and tracking options."""
    from connector.service.mappings import check_mapping_file

    with plain_errors(as_json):
        application = _app_for()
        path = file or application.settings.mapping_file
        report = check_mapping_file(application, path, offline=offline, refresh=refresh)
    mapping = report.mapping
    if as_json:
        print_json(
            {
                "file": str(path),
                "ok": report.ok,
                "version": mapping.version if mapping else None,
                "effective_from": mapping.effective_from if mapping else None,
                "charts": report.charts,
                "problems": [_problem_json(p) for p in report.problems],
            }
        )
    else:
        _print_check(report)
    if not report.ok:
        raise typer.Exit(2)


def _print_check(report: Any) -> None:
    for problem in report.problems:
        mark = "[red]✗[/]" if problem.is_error else "[yellow]![/]"
        (errors if problem.is_error else console).print(f"{mark} {problem}", highlight=False)
    for entity, note in report.charts.items():
        console.print(f"  {entity}: accounts checked against the {note}", highlight=False)
    mapping = report.mapping
    if report.ok:
        warnings = len(report.problems)
        console.print(
            f"[green]✓[/] {report.path}: version {mapping.version} (effective {mapping.effective_from}), "
            f"{len(mapping.rules)} rules, {len(mapping.entities)} entit(ies). "
            + (f"{warnings} warning(s)." if warnings else "No problems found."),
            highlight=False,
        )
        return
    count = sum(1 for p in report.problems if p.is_error)
    errors.print(f"{count} error(s); nothing can be posted until they are fixed.")


def _problem_json(problem: Problem) -> dict:
    return {
        "source": problem.source,
        "location": problem.location,
        "field": problem.field,
        "message": problem.message,
        "fix": problem.fix,
        "severity": problem.severity.value,
    }


@mappings_app.command("schema")
def mappings_schema(
    output: Annotated[Path | None, typer.Option("--output", help="Write to this file instead.")] = None,
) -> None:
    """Print the JSON Schema of the mapping format (editors use it to validate as you type)."""
    from connector.domain.mapping_schema import mapping_schema

    _write_schema(mapping_schema(), output, "mapping")


def _write_schema(schema: dict, output: Path | None, what: str) -> None:
    text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    console.print(f"Wrote the {what} JSON Schema to {output}", highlight=False)


@mappings_app.command("bump")
def mappings_bump(
    effective_from: Annotated[
        str, typer.Option("--effective-from", help="First day the new version applies to (YYYY-MM-DD).")
    ],
    note: Annotated[str, typer.Option("--note", help="Why the mapping changes (auditors read it).")],
    file: MappingFileOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Start a new mapping version: raise mapping_version, set effective_from and change_note (comments kept)."""
    from connector.service.mapping_file import bump_mapping
    from connector.store.repositories import UnitOfWork

    with plain_errors(as_json):
        day = _day(effective_from, "--effective-from")
        application = _app_for()
        path = file or application.settings.mapping_file
        with UnitOfWork(application.engine) as uow:
            newest = max((row.version for row in uow.mappings.all()), default=0)
        edit = bump_mapping(path, effective_from=day, note=note, at_least=newest)  # type: ignore[arg-type]
    if as_json:
        print_json({"file": str(path), "summary": edit.summary})
        return
    console.print(
        f"{path}: {edit.summary}. Run `tokenbooks mappings preview` to see its effect.", highlight=False
    )


@mappings_app.command("add-rule")
def mappings_add_rule(
    rule_id: Annotated[str, typer.Option("--id", help="A short unique name for the rule.")],
    when: Annotated[
        list[str],
        typer.Option("--when", help="A condition dimension=value (repeat for several; value null)."),
    ],
    category: Annotated[
        str, typer.Option("--category", help="cogs, rnd, sales_marketing, g_and_a, capitalize")
    ],
    description: Annotated[
        str, typer.Option("--description", help="What the spend is, for the reader.")
    ] = "",
    before: Annotated[str | None, typer.Option("--before", help="Insert before this rule id.")] = None,
    file: MappingFileOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a rule for spend that lands in suspense (see `mappings coverage`), keeping every comment."""
    from connector.service.mapping_file import add_rule

    with plain_errors(as_json):
        conditions = dict(_condition(text) for text in when)
        path = file or _app_for().settings.mapping_file
        edit = add_rule(
            path,
            rule_id=rule_id,
            when=conditions,
            category=category,
            description=description,
            before_rule=before,
        )
    if as_json:
        print_json({"file": str(path), "summary": edit.summary})
        return
    console.print(
        f"{path}: {edit.summary}. Raise the version (`tokenbooks mappings bump`) before the next sync.",
        highlight=False,
    )


def _condition(text: str) -> tuple[str, str | None]:
    name, sign, value = text.partition("=")
    if not sign or not name.strip():
        raise ConfigError(f"--when {text!r} is not dimension=value", fix="write e.g. --when project=proj_new")
    value = value.strip()
    return name.strip(), None if value == "null" else value


@mappings_app.command("preview")
def mappings_preview(
    period: PeriodOption,
    candidate: Annotated[Path, typer.Option("--candidate", help="The mapping file you are about to apply.")],
    entity: EntityOption = None,
    offline: OfflineFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """A period's totals by account under the current and the candidate mapping, and the reclass it posts."""
    from connector.domain.planner import LedgerCalendar
    from connector.service.mapping_preview import preview_mapping
    from connector.service.mappings import load_mapping

    with plain_errors(as_json):
        month = _period(period)
        application = _app_for()
        target = entity or application.default_entity()
        history = application.mapping_history()
        proposed, _ = load_mapping(candidate)
        lock = None if offline else application.ledger(target).lock_date()
        report = preview_mapping(
            application.engine,
            history=history,
            candidate=proposed,
            entity=target,
            period=month,
            calendar=LedgerCalendar(lock, application.locked_behaviour(target)),
            clock=application.clock,
            policies=application.policy_history(),
        )
        if offline:
            report.notes.append("offline: the ledger's lock date was not read; journals are dated as if open")
    if as_json:
        print_json(_preview_json(report))
        return
    _print_preview(report)


def _preview_json(report: Any) -> dict:
    return {
        "entity": report.entity,
        "period": str(report.period),
        "current_version": report.current.version,
        "candidate_version": report.candidate.version,
        "candidate_effective_from": report.candidate.effective_from,
        "facts": report.facts,
        "totals": [
            {
                "account": line.target.key(),
                "category": line.category.value,
                "currency": line.currency,
                "current": line.current,
                "candidate": line.candidate,
                "change": line.change,
            }
            for line in report.lines
        ],
        "coverage": {
            "current": [c.as_dict() for c in report.current_coverage],
            "candidate": [c.as_dict() for c in report.candidate_coverage],
        },
        "journals": [_journal_json(p.journal, p.hold_reason) for p in report.journals],
        "notes": report.notes,
    }


def _print_preview(report: Any) -> None:
    from connector.domain.journals import as_text
    from connector.domain.mapping import CATEGORY_LABELS

    table = Table(
        title=f"{report.entity} {report.period}: totals by account, version {report.current.version} → "
        f"candidate version {report.candidate.version} (effective {report.candidate.effective_from})"
    )
    for column in ("Account", "Category", "Current", "Candidate", "Change"):
        table.add_column(column, justify="right" if column in ("Current", "Candidate", "Change") else "left")
    for line in report.lines:
        change = f"{line.change:+,.2f}" if line.change else ""
        table.add_row(
            line.target.describe(),
            CATEGORY_LABELS[line.category],
            f"{line.current:,.2f}",
            f"{line.candidate:,.2f}",
            change,
        )
    console.print(table)
    for before, after in zip(report.current_coverage, report.candidate_coverage, strict=False):
        console.print(
            f"Unallocated (suspense) {after.provider}: {format_money(before.suspense, before.currency)} "
            f"({_share(before.accuracy)} mapped) → {format_money(after.suspense, after.currency)} "
            f"({_share(after.accuracy)} mapped)",
            highlight=False,
        )
    if report.journals:
        console.print(f"\nApplying the candidate would post {len(report.journals)} journal(s):")
        for planned in report.journals:
            console.print(as_text(planned.journal), highlight=False)
            console.print(f"  [dim]{planned.journal.memo}[/]", highlight=False)
    else:
        console.print("\nApplying the candidate would post nothing for this period.")
    for note in report.notes:
        console.print(f"[yellow]Note:[/] {note}", highlight=False)


def _share(accuracy: Decimal | None) -> str:
    return "—" if accuracy is None else f"{accuracy:.2%}"


@mappings_app.command("coverage")
def mappings_coverage(period: PeriodOption, entity: EntityOption = None, as_json: JsonFlag = False) -> None:
    """Allocation accuracy: the share of spend an explicit rule placed vs. suspense, by provider."""
    from connector.service.mapping_preview import coverage_report

    with plain_errors(as_json):
        month = _period(period)
        application = _app_for()
        target = entity or application.default_entity()
        history = application.mapping_history()
        rows, unmapped = coverage_report(
            application.engine, history=history, entity=target, period=month, clock=application.clock
        )
    if as_json:
        print_json(
            {
                "entity": target,
                "period": period,
                "coverage": [c.as_dict() for c in rows],
                "unmapped": [
                    {
                        "provider": u.provider,
                        "dimensions": dict(u.dimensions),
                        "amount": u.amount,
                        "facts": u.facts,
                    }
                    for u in unmapped
                ],
            }
        )
        return
    table = Table(title=f"Allocation accuracy, {target} {period}")
    for column in ("Provider", "Period", "Spend", "Mapped by a rule", "Suspense", "Accuracy"):
        table.add_column(column, justify="left" if column in ("Provider", "Period") else "right")
    for c in rows:
        table.add_row(
            c.provider,
            c.period,
            f"{c.total:,.2f}",
            f"{c.mapped:,.2f}",
            f"{c.suspense:,.2f}",
            _share(c.accuracy),
        )
    console.print(table)
    for u in unmapped:
        console.print(
            f"  unmapped: {u.describe()} — {u.amount:,.2f} over {u.facts} cost line(s)", highlight=False
        )
    if unmapped:
        console.print(
            "Add a rule: tokenbooks mappings add-rule --id <name> --when project=<id> --category <category>"
        )


@mappings_app.command("history")
def mappings_history(as_json: JsonFlag = False) -> None:
    """Every mapping version tokenbooks has used, with its effective date and change note."""
    from connector.store.repositories import UnitOfWork

    with plain_errors(as_json):
        application = _app_for()
        with UnitOfWork(application.engine) as uow:
            rows = [
                {
                    "version": r.version,
                    "effective_from": r.effective_from,
                    "first_seen_at": r.first_seen_at,
                    "change_note": r.change_note,
                    "source": r.source,
                    "sha256": r.content_hash,
                }
                for r in sorted(uow.mappings.all(), key=lambda r: r.version)
            ]
    if as_json:
        print_json(rows)
        return
    table = Table(title="Mapping versions")
    for column in ("Version", "Effective from", "First used", "Change note"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["version"]), str(row["effective_from"]), _cell(row["first_seen_at"]), row["change_note"]
        )
    console.print(table)


# ---------------------------------------------------------------------------------------------- sandbox


@sandbox_app.command("quickbooks")
def sandbox_quickbooks(
    port: Annotated[int, typer.Option(help="Port to listen on (127.0.0.1).")] = 8710,
    state: Annotated[Path, typer.Option(help="State file: the company persists here between runs.")] = Path(
        ".tokenbooks/quickbooks-sandbox.json"
    ),
) -> None:
    """Run the stateful QuickBooks Online sandbox on its own (Ctrl-C stops it)."""
    from connector.sandbox.quickbooks import serve

    state.parent.mkdir(parents=True, exist_ok=True)
    serve(port, state)


# ---------------------------------------------------------------------------------------------- runs, keys


@app.command("runs")
def runs_command(
    limit: Annotated[int, typer.Option(help="How many runs to show.")] = 20,
    run_id: Annotated[str | None, typer.Option("--run", help="Show the events of one run.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The sync log: recent runs with their outcome and reason, or one run's events."""
    from connector.store.repositories import UnitOfWork

    with plain_errors(as_json):
        application = _app_for()
        with UnitOfWork(application.engine) as uow:
            if run_id:
                rows = [
                    {"at": e.at, "kind": e.kind, "level": e.level, "message": e.message, "hash": e.hash}
                    for e in uow.events.for_run(run_id)
                ]
            else:
                rows = [
                    {
                        "run_id": r.id,
                        "kind": r.kind,
                        "entity": r.entity,
                        "started_at": r.started_at,
                        "finished_at": r.finished_at,
                        "status": r.status,
                        "reason": r.reason,
                        "stats": r.stats,
                    }
                    for r in uow.runs.latest(limit)
                ]
    if as_json:
        print_json(rows)
        return
    table = Table(title="Events" if run_id else "Runs")
    columns = (
        ["at", "kind", "level", "message"]
        if run_id
        else ["started_at", "kind", "entity", "status", "reason", "run_id"]
    )
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[_cell(row[c]) for c in columns])
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "hour"):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if hasattr(value, "strftime"):
        return value.isoformat()
    return str(value)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply schema migrations to the database named by TOKENBOOKS_DATABASE_URL (safe to run again)."""
    from connector.settings import load_settings
    from connector.store.db import current_revision, describe_url, head_revision, make_engine, upgrade

    with plain_errors():
        settings = load_settings()
        engine = make_engine(settings.database_url)
        before = current_revision(engine)
        upgrade(engine)
    console.print(
        f"{describe_url(settings.database_url)}: schema {before or 'empty'} → {head_revision()}",
        highlight=False,
    )


@app.command("keygen")
def keygen() -> None:
    """Print a new TOKENBOOKS_ENCRYPTION_KEY (it encrypts ledger tokens at rest)."""
    from connector.ledgers.tokens import TokenCipher

    console.print(f"TOKENBOOKS_ENCRYPTION_KEY={TokenCipher.generate_key()}")


# ------------------------------------------------------------------------------------ ingestion (issue 3)
# tokenbooks pull · import focus|invoices|credits|customer-credits|bills · credits add|list · sources status

ProviderOption = Annotated[
    list[str] | None,
    typer.Option(
        "--provider", help="Only these providers (openai, anthropic, invoices); repeat for several."
    ),
]


@app.command("pull")
def pull_command(
    provider: ProviderOption = None,
    since: Annotated[
        str | None, typer.Option(help="First day (YYYY-MM-DD); default: from the bookmark.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Last day (YYYY-MM-DD); default: yesterday (UTC).")
    ] = None,
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Pull provider costs and usage, and the invoice inbox, into the store (no planning, no posting)."""
    from connector.service.pull import pull_sources

    with plain_errors(as_json):
        first, last = _day(since, "--since"), _day(until, "--until")
        application = _app_for()
        target = entity or application.default_entity()
        with RichReporter(quiet=as_json) as reporter:
            run = pull_sources(
                application,
                entity=target,
                providers=set(provider) if provider else None,
                since=first,
                until=last,
                invoices_dir=application.settings.invoices_dir,
                reporter=reporter,
            )
    if as_json:
        print_json(_pull_json(run))
    else:
        _print_pull(run)
    if run.status == "failed":
        raise typer.Exit(1)


def _pull_json(run: Any) -> dict:
    return {
        "run_id": run.run_id,
        "entity": run.entity,
        "status": run.status,
        "reason": run.reason,
        "pulls": [
            {
                "source": p.source,
                "first_day": p.window.first_day,
                "last_day": p.window.last_day,
                "pages": p.pages,
                "facts": p.facts,
                "inserted": p.replaced.inserted,
                "restated": p.replaced.restated,
                "unchanged": p.replaced.unchanged,
                "withdrawn": p.replaced.withdrawn,
                "usage_buckets": p.usage.inserted + p.usage.restated + p.usage.unchanged,
                "warnings": p.warnings,
            }
            for p in run.pulls
        ],
        "failures": [{"source": name, "error": why} for name, why in run.failures],
        "invoices": None
        if run.inbox is None
        else {
            "imported": [_import_json(r) for r in run.inbox.imported],
            "unchanged": run.inbox.unchanged,
            "failed": [{"file": f, "error": e} for f, e in run.inbox.failed],
        },
    }


def _print_pull(run: Any) -> None:
    for p in run.pulls:
        console.print(
            f"{p.source} {p.window.first_day}..{p.window.last_day}: {p.facts} facts ({p.replaced.inserted} new, "
            f"{p.replaced.restated} restated, {p.replaced.withdrawn} withdrawn) from {p.pages} page(s)",
            highlight=False,
        )
        for warning in p.warnings:
            console.print(f"  [yellow]warning:[/] {warning}", highlight=False)
    for name, why in run.failures:
        console.print(f"[red]{name} failed:[/] {why}", highlight=False)
    if run.inbox is not None:
        for report in run.inbox.imported:
            _print_import(report)
        for path, why in run.inbox.failed:
            console.print(f"[red]{path}:[/] {why}", highlight=False)
        if run.inbox.unchanged:
            console.print(f"{len(run.inbox.unchanged)} invoice file(s) already imported", highlight=False)
    style = {"succeeded": "green", "partial": "yellow", "failed": "red"}.get(run.status, "white")
    console.print(f"Run {run.run_id}: [{style}]{run.status}[/]", highlight=False)


def _import_json(report: Any) -> dict:
    return {
        "import_id": report.import_id,
        "run_id": report.run_id,
        "kind": report.kind,
        "status": report.status,
        "files": [f.as_dict() for f in report.files],
        "tally": report.tally.as_dict(),
        "balanced": report.balanced,
        "stored": report.stored,
        "quarantined": [
            {**_problem_json(q.problem), "raw": q.raw, "amount": q.amount, "currency": q.currency}
            for q in report.quarantined
        ],
    }


def _print_import(report: Any) -> None:
    rows = report.tally.as_dict()["rows"]
    amounts = report.tally.as_dict()["amounts"]
    table = Table(
        title=f"{report.kind} import {report.import_id[:8]}: {', '.join(f.path for f in report.files)}"
    )
    for column in ("", "rows", "amount"):
        table.add_column(column, justify="left" if not column else "right")
    for name in ("accepted", "quarantined", "skipped", "input"):
        money = ", ".join(f"{a} {c}" for c, a in amounts[name].items()) or "—"
        table.add_row(name, str(rows[name]), money)
    console.print(table)
    mark = "[green]✓[/]" if report.balanced else "[red]✗[/]"
    console.print(f"{mark} accepted + quarantined + skipped = input", highlight=False)
    for q in report.quarantined[:50]:
        console.print(f"  [yellow]quarantined[/] {q.problem}", highlight=False)
    if len(report.quarantined) > 50:
        console.print(f"  … and {len(report.quarantined) - 50} more (use --json for all)")
    stored = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report.stored.items())
    style = {"succeeded": "green", "partial": "yellow"}.get(report.status, "red")
    console.print(f"[{style}]{report.status}[/]: {stored}", highlight=False)


def _show_imports(reports: list[Any], as_json: bool) -> None:
    if as_json:
        print_json([_import_json(r) for r in reports] if len(reports) != 1 else _import_json(reports[0]))
    else:
        for report in reports:
            _print_import(report)


@import_app.command("focus")
def import_focus_command(
    files: Annotated[
        list[Path], typer.Argument(help="The files of one FOCUS export (.csv, .csv.gz, .parquet).")
    ],
    entity: EntityOption = None,
    all_services: Annotated[
        bool, typer.Option("--all-services", help="Import every service, not only AI and Machine Learning.")
    ] = False,
    provider: Annotated[
        str | None, typer.Option(help="Provider name when the export has no ProviderName.")
    ] = None,
    account: Annotated[str | None, typer.Option(help="Billing account when the export has none.")] = None,
    currency: Annotated[str | None, typer.Option(help="Billing currency when the export has none.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Import a FOCUS 1.0–1.2 export (AWS Bedrock, Azure OpenAI, Vertex AI …); bad rows are quarantined."""
    from connector.service.imports import import_focus

    with plain_errors(as_json):
        application = _app_for()
        options = application.focus_options(entity, provider=provider, account=account, currency=currency)
        if all_services:
            options = replace(options, services=None)
        with RichReporter(quiet=as_json) as reporter:
            report = import_focus(application, files, options, reporter)
    _show_imports([report], as_json)


@import_app.command("invoices")
def import_invoices_command(
    files: Annotated[list[Path], typer.Argument(help="Invoice files (.csv or .json); see docs/invoices.md.")],
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Import provider invoices (no provider offers an invoice API for OpenAI or Anthropic)."""
    _import_files("import_invoices", files, entity, as_json)


def _import_files(importer: str, files: list[Path], entity: str | None, as_json: bool) -> None:
    """Run one of the record-file importers of `service.imports` on each file and show its report."""
    from connector.service import imports

    with plain_errors(as_json):
        application = _app_for()
        target = entity or application.default_entity()
        reports = [getattr(imports, importer)(application, path, entity=target) for path in files]
    _show_imports(reports, as_json)


@import_app.command("credits")
def import_credits_command(
    file: Annotated[Path, typer.Argument(help="Credit lots bought (.csv or .json); see docs/credits.md.")],
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Import prepaid credit lots bought from providers (purchase date, amount, expiry)."""
    _import_files("import_credit_lots", [file], entity, as_json)


@import_app.command("customer-credits")
def import_customer_credits_command(
    file: Annotated[
        Path, typer.Argument(help="Customer credit events (.csv or .json); see docs/credits.md.")
    ],
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Import the credits you sell: purchases, redemptions, refunds and expiries per customer and grant."""
    _import_files("import_customer_credits", [file], entity, as_json)


@import_app.command("bills")
def import_bills_command(
    period: Annotated[str, typer.Option(help="The usage month the bills are for, YYYY-MM.")],
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Read provider bills the AP team entered in the ledger (dated the month after) as invoices."""
    from connector.service.invoices import import_ledger_bills

    with plain_errors(as_json):
        month = _period(period)
        application = _app_for()
        target = entity or application.default_entity()
        vendors = application.ledger_vendors()
        if not vendors:
            raise ConfigError(
                "no provider has a ledger vendor name",
                fix="set TOKENBOOKS_OPENAI__LEDGER_VENDOR and/or TOKENBOOKS_ANTHROPIC__LEDGER_VENDOR",
            )
        invoices = import_ledger_bills(
            application.engine,
            application.ledger(target),
            vendors=vendors,
            period=month,
            entity=target,
            clock=application.clock,
        )
    rows = [
        {
            "provider": i.provider,
            "account": i.provider_account,
            "number": i.number,
            "total": i.total,
            "currency": i.currency,
        }
        for i in invoices
    ]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        console.print(
            f"{row['provider']} ({row['account']}) {row['number']}: {row['total']} {row['currency']}",
            highlight=False,
        )
    console.print(f"{len(rows)} bill(s) stored as invoices for {period}.")


@credits_app.command("add")
def credits_add_command(
    provider: Annotated[str, typer.Option(help="openai, anthropic, …")],
    amount: Annotated[str, typer.Option(help="What was paid, e.g. 1000.00.")],
    purchased: Annotated[str, typer.Option(help="Purchase date, YYYY-MM-DD.")],
    account: Annotated[str, typer.Option(help="The provider account (organization label).")] = "default",
    currency: Annotated[str, typer.Option(help="ISO 4217 code.")] = "USD",
    expires: Annotated[
        str | None,
        typer.Option(help="First day the credits are void; OpenAI default: one year after purchase."),
    ] = None,
    lot_id: Annotated[
        str | None, typer.Option("--lot-id", help="Receipt or order number; default: generated.")
    ] = None,
    description: Annotated[str, typer.Option(help="A note, e.g. the receipt.")] = "",
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Record prepaid credits bought from a provider (a credit lot)."""
    from connector.domain.credits import CreditLot, default_expiry
    from connector.domain.money import parse_amount
    from connector.service.imports import record_credit_lot

    with plain_errors(as_json):
        try:
            bought = _day(purchased, "--purchased")
            assert bought is not None
            expiry = _day(expires, "--expires") or default_expiry(provider.lower(), bought)
            lot = CreditLot(
                entity="",
                provider=provider.lower(),
                provider_account=account,
                lot_id=lot_id or f"{provider.lower()}-{bought.isoformat()}-{amount}",
                purchase_date=bought,
                amount=parse_amount(amount),
                currency=currency,
                expires_on=expiry,
                description=description,
                source="tokenbooks credits add",
            )
        except ValueError as exc:
            raise ConfigError(str(exc), fix="check --amount (positive), --currency and --expires") from None
        application = _app_for()
        lot = replace(lot, entity=entity or application.default_entity())
        new = record_credit_lot(application, lot)
    if as_json:
        print_json({"lot_id": lot.lot_id, "new": new, "expires_on": lot.expires_on})
        return
    console.print(
        f"{'Added' if new else 'Replaced'} lot {lot.lot_id}: {format_money(lot.amount, lot.currency)} of "
        f"{lot.provider} credits bought {lot.purchase_date}, expiring {lot.expires_on or 'never'}.",
        highlight=False,
    )


@credits_app.command("list")
def credits_list_command(entity: EntityOption = None, as_json: JsonFlag = False) -> None:
    """Credit lots, soonest expiry first (the order consumption draws them)."""
    from connector.store.repositories import UnitOfWork

    with plain_errors(as_json):
        application = _app_for()
        target = entity or application.default_entity()
        with UnitOfWork(application.engine) as uow:
            lots = uow.credit_lots.for_entity(target)
    lots.sort(key=lambda lot: (lot.expires_on is None, lot.expires_on or date.max, lot.purchase_date))
    rows = [
        {
            "lot_id": lot.lot_id,
            "provider": lot.provider,
            "account": lot.provider_account,
            "purchased": lot.purchase_date,
            "amount": lot.amount,
            "currency": lot.currency,
            "expires_on": lot.expires_on,
            "source": lot.source,
        }
        for lot in lots
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"Credit lots of {target}")
    for column in ("lot_id", "provider", "account", "purchased", "amount", "currency", "expires_on"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    for row in rows:
        table.add_row(
            *[
                _cell(row[c])
                for c in ("lot_id", "provider", "account", "purchased", "amount", "currency", "expires_on")
            ]
        )
    console.print(table)


@sources_app.command("status")
def sources_status_command(entity: EntityOption = None, as_json: JsonFlag = False) -> None:
    """Per source: how far it has read (bookmark), its last success and its last error."""
    from connector.service.pull import sources_status

    with plain_errors(as_json):
        application = _app_for()
        target = entity or application.default_entity()
        statuses = sources_status(application.engine, application.sources(target))
    rows = [
        {
            "source": s.source,
            "configured": s.configured,
            "bookmark": s.bookmark,
            "last_success_at": s.last_success_at,
            "last_error": s.last_error,
            "last_error_at": s.last_error_at,
        }
        for s in statuses
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(title="Sources")
    for column in ("source", "bookmark", "last success", "last error"):
        table.add_column(column)
    for row in rows:
        error = f"{_cell(row['last_error_at'])} {row['last_error']}" if row["last_error"] else ""
        table.add_row(row["source"], row["bookmark"] or "never pulled", _cell(row["last_success_at"]), error)
    console.print(table)


# ------------------------------------------------------------------------------------------------- xero


@sandbox_app.command("xero")
def sandbox_xero(
    port: Annotated[int, typer.Option(help="Port to listen on (127.0.0.1).")] = 8720,
    state: Annotated[
        Path, typer.Option(help="State file: the organisation persists here between runs.")
    ] = Path(".tokenbooks/xero-sandbox.json"),
) -> None:
    """Run the stateful Xero sandbox (identity, connections, Accounting API) on its own (Ctrl-C stops it)."""
    from connector.sandbox.xero import serve

    state.parent.mkdir(parents=True, exist_ok=True)
    serve(port, state)


# ------------------------------------------------------------------------------------------ connections


@app.command("connect")
def connect_command(
    ledger: Annotated[str, typer.Argument(help="quickbooks or xero")],
    entity: EntityOption = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the consent URL instead of opening a browser.")
    ] = False,
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="Xero: the organisation (id or name) when the grant has several."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Connect a ledger company through OAuth (a local callback receives the code); tokens are stored encrypted."""
    from connector.service.connections import connect_ledger

    with plain_errors(as_json):
        application = _app_for()
        target = entity or application.default_entity()
        say = errors.print if as_json else console.print
        connected = connect_ledger(
            application,
            ledger,
            target,
            open_browser=not no_browser,
            say=lambda text: say(text, highlight=False),
            tenant=tenant,
            choose=None if as_json else _choose_tenant,
        )
    if as_json:
        print_json(
            {
                "ledger": connected.ledger,
                "entity": connected.entity,
                "company_id": connected.company_id,
                "company_name": connected.company_name,
            }
        )
        return
    named = (
        f"{connected.company_name} ({connected.company_id})"
        if connected.company_name
        else connected.company_id
    )
    console.print(
        f"[green]Connected[/] {ledger} company {named} for entity {connected.entity}. Tokens are stored "
        "encrypted; refresh tokens are saved each time they rotate.",
        highlight=False,
    )


def _choose_tenant(tenants: Any) -> Any:
    for number, tenant in enumerate(tenants, start=1):
        console.print(f"  {number}. {tenant.tenant_name} ({tenant.tenant_id})", highlight=False)
    picked = typer.prompt("Which organisation does this entity book into?", type=int)
    if not 1 <= picked <= len(tenants):
        raise ConfigError(
            f"there is no organisation {picked}", fix="run connect again and pick a listed number"
        )
    return tenants[picked - 1]


@app.command("connections")
def connections_command(as_json: JsonFlag = False) -> None:
    """Each ledger connection and its health: ok, expiring or reconnect needed, token expiry, last call, last error."""
    from connector.service.connections import connection_health
    from connector.store.connections import DatabaseVault

    with plain_errors(as_json):
        application = _app_for()  # listing needs no encryption key: tokens stay encrypted
        health = connection_health(DatabaseVault.status_of(application.engine), application.clock())
    if as_json:
        print_json([h.as_dict() for h in health])
        return
    if not health:
        console.print("No ledger is connected yet: run `tokenbooks connect quickbooks` (or xero).")
        return
    # One column per connection, one row per fact: fits a terminal whatever the number of fields.
    table = Table(title="Ledger connections")
    table.add_column("")
    for h in health:
        table.add_column(f"{h.ledger}\n{h.entity}")
    colours = {"ok": "green", "expiring": "yellow"}
    rows = [
        ("Company", lambda h: f"{h.company_name or ''}\n{h.company_id}".strip()),
        ("Health", lambda h: f"[{colours.get(h.health, 'red')}]{h.health}[/]"),
        ("Why", lambda h: h.reason or ""),
        ("Access token until", lambda h: _cell(h.access_expires_at)),
        ("Refresh token until", lambda h: _cell(h.refresh_expires_at) or "unknown"),
        ("Refresh token age", lambda h: "" if h.refresh_age is None else f"{h.refresh_age.days} day(s)"),
        ("Connected", lambda h: _cell(h.connected_at)),
        ("Last successful call", lambda h: _cell(h.last_success_at) or "none yet"),
        (
            "Last error",
            lambda h: (h.last_error or "") + (f"\n({_cell(h.last_error_at)})" if h.last_error_at else ""),
        ),
    ]
    for label, cell in rows:
        table.add_row(label, *[cell(h) for h in health])
    console.print(table)


# ----------------------------------------------------------------------------------------------- export


@export_app.command("beancount")
def export_beancount_command(
    period: Annotated[str, typer.Option(help="The month to export, YYYY-MM.")],
    entity: EntityOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of printing.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """A period's posted journals as a beancount file (readable account names, balance assertions)."""
    from connector.ledgers.beancount import write_atomically
    from connector.service.export import export_beancount

    with plain_errors(as_json):
        month = _period(period)
        application = _app_for()
        target = entity or application.default_entity()
        mapping, _ = application.mapping()
        exported = export_beancount(
            application.engine, mapping, entity=target, period=month, now=application.clock()
        )
        if out is not None:
            write_atomically(out, exported.text)
    if as_json:
        print_json(
            {
                "period": period,
                "entity": target,
                "journals": exported.journals,
                "out": str(out) if out else None,
                "balances": [
                    {"account": account, "currency": currency, "amount": amount}
                    for (account, currency), amount in sorted(exported.balances.items())
                ],
                "text": None if out else exported.text,
            }
        )
    elif out is None:
        sys.stdout.write(exported.text)
    else:
        console.print(
            f"Wrote {exported.journals} journal(s) of {target} for {period} to {out}.", highlight=False
        )


# ------------------------------------------------------------------------------- service: serve, audit


@app.command("serve")
def serve_command() -> None:
    """Run the service: nightly syncs and the month-end job per entity, /healthz and /metrics.

    Stops on SIGTERM or SIGINT after the run in flight finishes or reaches a safe point.
    """
    import logging

    from connector.scheduler import job_specs, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with plain_errors():
        application = _app_for()
        for spec in job_specs(application):
            errors.print(
                f"scheduled {spec.kind} for {spec.entity}: {spec.trigger} ({spec.timezone})", highlight=False
            )
        serve(
            application,
            on_ready=lambda url: errors.print(f"tokenbooks serving health on {url}", highlight=False),
        )
    errors.print("tokenbooks stopped", highlight=False)


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
        report = verify_chain(_app_for().engine, anchors=frozenset(anchor or ()))
    if as_json:
        print_json(
            {
                "intact": report.intact,
                "events": report.events,
                "last_event_id": report.last_event_id,
                "head_hash": report.head_hash,
                "problems": [
                    {"event_id": p.event_id, "problem": p.problem, "message": p.message}
                    for p in report.problems
                ],
            }
        )
    elif report.intact:
        console.print(
            f"[green]✓[/] the event chain is intact: {report.events} events, the newest is {report.last_event_id} "
            f"(hash {report.head_hash}). Keep this hash: a later `audit verify` must still show it in the chain.",
            highlight=False,
        )
    else:
        for problem in report.problems:
            errors.print(f"[red]✗[/] {problem.message}", highlight=False)
        errors.print(
            f"{len(report.problems)} problem(s) in {report.events} events: the log was tampered with."
        )
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
    from connector.service.audit import trace

    with plain_errors(as_json):
        application = _app_for()
        found = trace(application.engine, entity=entity or application.default_entity(), key=key, line=line)
    if as_json:
        print_json(_trace_json(found))
        return
    _print_trace(found)


def _trace_json(found: Any) -> Any:
    from dataclasses import asdict

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

    return clean(_jsonable(asdict(found)))


def _print_trace(found: Any) -> None:
    from rich.tree import Tree

    root = Tree(
        f"[bold]{found.key}[/] {found.kind} {found.txn_date} — {found.status}"
        + (f", ledger id {found.ledger_id}" if found.ledger_id else "")
    )
    for ln in found.lines:
        side = "Dr" if ln.amount > 0 else "Cr"
        node = root.add(
            f"line {ln.line_no}: {side} {ln.account} {abs(ln.amount)}"
            + (" (balancing line)" if ln.balancing else "")
        )
        for b in ln.buckets:
            bucket = node.add(
                f"bucket {b.bucket.period} {b.bucket.provider}/{b.bucket.provider_account} → {b.bucket.target.key()}: "
                f"this journal adds {b.contribution}; allocated now {b.allocated}"
            )
            for a in b.allocations:
                f = a.fact
                leaf = bucket.add(
                    f"{a.amount} by rule [bold]{a.rule_id}[/] (mapping v{a.mapping_version}, {a.category}, {a.percent}%) "
                    f"of fact {f.id} v{f.version}{'' if f.is_current else ' (superseded)'}: {f.amount} {f.currency} "
                    f"{f.charge_date} {f.cost_basis} {f.dimensions}"
                )
                if f.payload:
                    leaf.add(
                        f"raw payload {f.payload.id}: {f.payload.source} {f.payload.endpoint} "
                        f"fetched {f.payload.fetched_at:%Y-%m-%d %H:%M} UTC, sha256 {f.payload.sha256[:16]}…"
                    )
    console.print(root, highlight=False)


@audit_app.command("export")
def audit_export(
    period: Annotated[str, typer.Option(help="The month, YYYY-MM.")],
    fmt: Annotated[str, typer.Option("--format", help="csv | json | xlsx | html")] = "xlsx",
    out: Annotated[Path, typer.Option("--out", help="Folder to write into.")] = Path("audit"),
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Export a period for auditors: runs, journals with lines, postings with ledger ids, reconciliation."""
    from connector.service.exports import FORMATS, period_export, write_export
    from connector.settings import secret_values

    with plain_errors(as_json):
        if fmt not in FORMATS:
            raise ConfigError(f"--format {fmt!r} is not known", fix=f"use one of: {', '.join(FORMATS)}")
        try:
            month = Period.parse(period)
        except ValueError as exc:
            raise ConfigError(f"--period: {exc}") from None
        application = _app_for()
        export = period_export(
            application.engine,
            entity=entity or application.default_entity(),
            period=month,
            secrets=secret_values(application.settings),
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
    approver: Annotated[str, typer.Option("--by", "--as", help="Who approves, as written in the audit log.")],
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Release journals held for approval; the next sync posts them. Each approval is in the audit log."""
    from connector.service.approvals import approve

    with plain_errors(as_json):
        application = _app_for()
        target_entity = entity or application.default_entity()
        released = approve(
            application.engine, application.clock, entity=target_entity, target=target, approver=approver
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


def _raise_alerts(application: Any, entity: str) -> None:
    """After a run from the command line (cron, systemd, Kubernetes): raise and send due alerts."""
    try:
        application.after_run(entity)
    except TokenbooksError as exc:  # an alert problem must not hide the run's own outcome
        errors.print(f"[yellow]Alerts not checked:[/] {exc}", highlight=False)


@alerts_app.command("list")
def alerts_list(
    limit: Annotated[int, typer.Option(help="How many.")] = 50, as_json: JsonFlag = False
) -> None:
    """Alerts raised so far, newest first, with what to do and where each was sent."""
    from sqlalchemy import select

    from connector.store.repositories import UnitOfWork
    from connector.store.tables import AlertRow

    with plain_errors(as_json), UnitOfWork(_app_for().engine) as uow:
        rows = list(uow.session.exec(select(AlertRow).order_by(AlertRow.id.desc()).limit(limit)).scalars())
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
            f"[bold]{_cell(r['raised_at'])}[/] {r['kind']} {r['entity']} {r['subject']} ({r['period']}): {r['message']}\n"
            f"  what to do: {r['action']}\n  sent to: {', '.join(r['sent_to']) or 'nowhere yet'}",
            highlight=False,
        )


@alerts_app.command("check")
def alerts_check(entity: EntityOption = None, as_json: JsonFlag = False) -> None:
    """Look for alerts now and send the new ones (the service does this after every run)."""
    with plain_errors(as_json):
        application = _app_for()
        sent = application.after_run(entity or application.default_entity())
    if as_json:
        print_json(
            [{"kind": a.kind, "subject": a.subject, "period": a.period, "sent_to": a.channels} for a in sent]
        )
        return
    console.print(f"{len(sent)} alert(s) sent.", highlight=False)


# ----------------------------------------------------------------------------- accounting policies (issue 5)

policies_app = typer.Typer(
    help="The accounting policies: check, schema, versions used.", no_args_is_help=True
)
app.add_typer(policies_app, name="policies")
PoliciesFileOption = Annotated[
    Path | None, typer.Option("--file", help="Policies file; default TOKENBOOKS_POLICIES_FILE.")
]


@policies_app.command("check")
def policies_check(file: PoliciesFileOption = None, as_json: JsonFlag = False) -> None:
    """Validate the policies: the file (file:line), its version number, the mapping roles it needs, rates."""
    from connector.service.policies import check_policies_file

    with plain_errors(as_json):
        application = _app_for()
        path = file or application.settings.policies_file
        report = check_policies_file(application.engine, application.mapping()[0], path)
    policies = report.policies
    if as_json:
        print_json(
            {
                "file": str(path) if path else None,
                "ok": report.ok,
                "version": policies.version if policies else None,
                "effective_from": policies.effective_from if policies else None,
                "problems": [_problem_json(p) for p in report.problems],
                "entities": {e.id: policies.entity(e.id).summary() for e in application.mapping()[0].entities}
                if policies
                else {},
            }
        )
    else:
        for problem in report.problems:
            mark = "[red]✗[/]" if problem.is_error else "[yellow]![/]"
            (errors if problem.is_error else console).print(f"{mark} {problem}", highlight=False)
        if report.ok and policies is not None:
            where = path or "no TOKENBOOKS_POLICIES_FILE: the built-in defaults"
            console.print(
                f"[green]✓[/] {where}: version {policies.version} (effective {policies.effective_from}). "
                + (f"{len(report.problems)} warning(s)." if report.problems else "No problems found."),
                highlight=False,
            )
    if not report.ok:
        raise typer.Exit(2)


@policies_app.command("schema")
def policies_schema(
    output: Annotated[Path | None, typer.Option("--output", help="Write to this file instead.")] = None,
) -> None:
    """Print the JSON Schema of the policies file (editors use it to validate as you type)."""
    from connector.domain.policy_schema import policy_schema

    _write_schema(policy_schema(), output, "policies")


@policies_app.command("history")
def policies_history(as_json: JsonFlag = False) -> None:
    """Every version of the policies a run has used: number, effective date, change note, first seen."""
    from connector.store.repositories import UnitOfWork

    with plain_errors(as_json):
        application = _app_for()
        with UnitOfWork(application.engine) as uow:
            rows = uow.policies.all()
    versions = [
        {
            "version": r.version,
            "effective_from": r.effective_from,
            "change_note": r.change_note,
            "first_seen_at": r.first_seen_at.isoformat(),
            "applied_at": r.applied_at.isoformat() if r.applied_at else None,
            "source": r.source,
            "hash": r.content_hash,
        }
        for r in rows
    ]
    if as_json:
        print_json(versions)
        return
    if not versions:
        console.print("No policies version used yet (a sync records the first one it uses).")
        return
    table = Table(title="Accounting policies versions")
    for column in ("version", "effective from", "change note", "first seen", "applied"):
        table.add_column(column)
    for v in versions:
        table.add_row(
            str(v["version"]),
            str(v["effective_from"]),
            v["change_note"],
            v["first_seen_at"][:16],
            (v["applied_at"] or "not yet")[:16],
        )
    console.print(table)


@app.command("close")
def close_command(
    period: Annotated[str, typer.Option(help="The month to close, YYYY-MM (it must have ended).")],
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Month-end close: book and post what the period still needs, reconcile it, print the checklist."""
    from connector.service.close import close_month

    with plain_errors(as_json):
        month = _period(period)
        application = _app_for()
        target = entity or application.default_entity()
        with RichReporter(quiet=as_json) as reporter:
            result = close_month(application, entity=target, period=month, reporter=reporter)
    if as_json:
        print_json(_close_json(result))
    else:
        _print_close(result)
    if result.status == "failed":
        raise typer.Exit(1)


def _close_json(result: Any) -> dict:
    checklist = result.checklist
    body: dict[str, Any] = {
        "run_id": result.run_id,
        "entity": result.entity,
        "period": str(result.period),
        "status": result.status,
        "reason": result.reason,
        "sync_run_id": result.sync.run_id if result.sync else None,
        "posted": (result.sync.post.posted if result.sync and result.sync.post else []),
    }
    if checklist is None:
        return body
    return body | {
        "ready": checklist.ready,
        "accruals": [
            {**_fields(a), "not_invoiced": a.not_invoiced, "liability": a.liability}
            for a in checklist.accruals
        ],
        "prepaid_lots": [_fields(lot) for lot in checklist.lots],
        "deferred_revenue": [_fields(d) for d in checklist.deferred],
        "suspense": checklist.suspense,
        "held": [_fields(h) for h in checklist.held],
        "reconciliation": [
            {"provider": p, "account": a, "status": s} for p, a, s in checklist.reconciliation
        ],
    }


def _fields(item: Any) -> dict:
    return asdict(item)


def _print_close(result: Any) -> None:
    title = f"Close {result.period} — {result.entity}"
    console.rule(f"[bold]{title}[/]")
    if result.sync is not None:
        _print_sync(result.sync)
    checklist = result.checklist
    if checklist is None:
        console.print(f"[red]Close failed:[/] {result.reason}", highlight=False)
        return
    table = Table(title="Accrued AI costs per provider account")
    for column in ("provider", "account", "accrued", "true-up", "reversed", "invoiced", "not invoiced"):
        table.add_column(column, justify="left" if column in ("provider", "account") else "right")
    for a in checklist.accruals:
        invoiced = "—" if a.invoiced is None else f"{a.invoiced:,.2f}"
        table.add_row(
            a.provider,
            a.provider_account,
            f"{a.accrued:,.2f}",
            f"{a.true_up:,.2f}",
            f"{a.reversed:,.2f}",
            invoiced,
            f"{a.not_invoiced:,.2f}",
        )
    console.print(table)
    if checklist.lots:
        lots = Table(title=f"Prepaid credit lots on {result.period.last_day}")
        for column in ("lot", "provider", "account", "amount", "used", "written off", "balance", "expires"):
            lots.add_column(
                column, justify="right" if column in ("amount", "used", "written off", "balance") else "left"
            )
        for lot in checklist.lots:
            soon = f" [yellow](within {lot.expires_within} days)[/]" if lot.expires_within else ""
            lots.add_row(
                lot.lot_id,
                lot.provider,
                lot.provider_account,
                f"{lot.amount:,.2f}",
                f"{lot.used:,.2f}",
                f"{lot.written_off:,.2f}",
                f"{lot.balance:,.2f}",
                f"{lot.expires_on or 'never'}{soon}",
            )
        console.print(lots)
    if checklist.deferred:
        deferred = Table(title="Deferred revenue per customer grant")
        for column in ("customer", "grant", "product", "sold", "revenue", "breakage", "deferred"):
            deferred.add_column(
                column, justify="right" if column in ("sold", "revenue", "breakage", "deferred") else "left"
            )
        for d in checklist.deferred:
            deferred.add_row(
                d.customer,
                d.grant_id,
                d.product,
                f"{d.sold:,.2f}",
                f"{d.revenue:,.2f}",
                f"{d.breakage:,.2f}",
                f"{d.deferred:,.2f}",
            )
        console.print(deferred)
    for currency, amount in checklist.suspense.items():
        if amount:
            console.print(
                f"[yellow]Suspense:[/] {format_money(amount, currency)} waits for a mapping rule.",
                highlight=False,
            )
    for held in checklist.held:
        console.print(
            f"[yellow]Held:[/] {held.key} {held.txn_date} {held.kind}: {held.reason}", highlight=False
        )
    for provider, account, status in checklist.reconciliation:
        console.print(f"Reconciliation {provider} {account}: {status}", highlight=False)
    verdict = "[green]ready to sign off[/]" if checklist.ready else "[yellow]items above need attention[/]"
    console.print(f"Run {result.run_id}: {result.status} — {verdict}", highlight=False)


@app.command("report")
def report_command(
    name: Annotated[str, typer.Argument(help="spend | costs | tokens | prepaid | breakage | margin")],
    first: Annotated[
        str | None, typer.Option("--from", help="First month, YYYY-MM; default: 11 months before --to.")
    ] = None,
    last: Annotated[
        str | None, typer.Option("--to", help="Last month, YYYY-MM; default: this month.")
    ] = None,
    by: Annotated[
        str, typer.Option("--by", help="costs: project, workspace, model, category, tag:team, tag:feature …")
    ] = "project",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="prepaid, breakage: the day (YYYY-MM-DD); default: today.")
    ] = None,
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """The figures finance tracks: spend by month, cost by project/team/feature, cost per 1k tokens by model,
    prepaid utilization and expiring credits, breakage actual vs expected, gross margin on AI usage."""
    from connector.service.reports import run_report

    with plain_errors(as_json):
        application = _app_for()
        target = entity or application.default_entity()
        to = _period(last, "--to") if last else Period.of(application.clock().date())
        start = _period(first, "--from") if first else Period(to.year - 1, to.month).next()
        report = run_report(
            application, name, entity=target, first=start, last=to, by=by, day=_day(as_of, "--as-of")
        )
    if as_json:
        print_json(
            {
                "report": report.name,
                "title": report.title,
                "entity": target,
                "from": str(start),
                "to": str(to),
                "columns": list(report.columns),
                "rows": [dict(zip(report.columns, (*r.keys, *r.figures), strict=True)) for r in report.rows],
            }
        )
        return
    table = Table(title=f"{report.title} — {target}, {start}..{to}")
    for index, column in enumerate(report.columns):
        table.add_column(
            column, justify="left" if index < len(report.rows[0].keys if report.rows else ()) else "right"
        )
    for row in report.rows:
        table.add_row(*row.keys, *("—" if f is None else f"{f:,}" for f in row.figures))
    console.print(table if report.rows else f"{report.title}: nothing to report for {start}..{to}.")


def _books_json(books: Any) -> dict:
    """What the accounting policies flagged in a plan (prepaid overflow, true-ups, notes)."""
    return {
        "prepaid_overflow": [asdict(o) for o in books.overflow],
        "true_ups": [asdict(t) for t in books.trueups],
        "notes": list(books.notes),
    }


def _print_books(books: Any) -> None:
    for o in books.overflow:
        console.print(
            f"[yellow]Beyond the prepaid lots:[/] {format_money(o.amount, o.currency)} of {o.provider} "
            f"{o.provider_account} usage on {o.day} is accrued in arrears (record the lot that covers it).",
            highlight=False,
        )
    for t in books.trueups:
        if t.hold_reason:
            console.print(f"[yellow]True-up held:[/] {t.hold_reason}", highlight=False)
    for note in books.notes:
        console.print(f"[yellow]Note:[/] {note}", highlight=False)

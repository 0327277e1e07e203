"""Command-line plumbing shared by every command: the typer apps, consoles, opening the application for an
entity, JSON output and tables, plain errors, progress, and the small parsers of dates and periods."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from connector.domain.errors import ConfigError, Problem, TokenbooksError
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


class ExitCode:
    """The CLI's exit statuses, one meaning each, so a scheduler can tell them apart."""

    OK = 0  # done, or another process holds the entity (nothing was done, nothing is wrong)
    FAILED = 1  # the command or run failed; the reason was printed and recorded
    CONFIG = 2  # a configuration or usage error: fix the settings or the arguments
    PARTIAL = 3  # done in part: some input quarantined, or some journals left unposted


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
        raise typer.Exit(ExitCode.CONFIG if isinstance(exc, ConfigError) else ExitCode.FAILED) from None


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
        raise typer.Exit(ExitCode.OK) from None


def show_run(run: Any, as_json: bool, as_dict: Callable[[Any], dict], show: Callable[[Any], None]) -> None:
    """A run's outcome as JSON or in words; a failed run exits 1, or 2 when a configuration error failed
    it (a partial one did what it could: 0)."""
    if as_json:
        print_json(as_dict(run))
    else:
        show(run)
    if run.status == "failed":
        raise typer.Exit(ExitCode.CONFIG if getattr(run, "configuration", False) else ExitCode.FAILED)


def print_problems(problems: Iterable[Problem]) -> None:
    """A check's problems, one a line: errors (✗) on stderr, warnings (!) on stdout."""
    for problem in problems:
        mark = "[red]✗[/]" if problem.is_error else "[yellow]![/]"
        (errors if problem.is_error else console).print(f"{mark} {problem}", highlight=False)


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


def counted(number: int, singular: str, plural: str | None = None) -> str:
    """1 entity, 2 entities, 0 rules: a count with its noun, as a person writes it."""
    return f"{number} {singular if number == 1 else (plural or singular + 's')}"


def _app_for(**overrides: Any) -> Any:
    from connector.bootstrap import build_app
    from connector.settings import load_settings

    return build_app(load_settings(**overrides))


def _app_and_entity(entity: str | None) -> tuple[Any, str]:
    """The application, and the entity a command works on: the one named by --entity, else the default."""
    application = _app_for()
    return application, entity or application.default_entity()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "hour"):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if hasattr(value, "strftime"):
        return value.isoformat()
    return str(value)


def print_rows(
    rows: list[dict],
    as_json: bool,
    title: str,
    columns: Sequence[str] | Mapping[str, str],
    right: Container[str] = (),
) -> None:
    """Rows as JSON (every field), or as a table of `columns`: field names, or header → field. The
    columns named in `right` (amounts) are right-aligned."""
    if as_json:
        print_json(rows)
        return
    fields = list(columns.values()) if isinstance(columns, Mapping) else list(columns)
    table = Table(title=title)
    for header in columns:
        table.add_column(header, justify="right" if header in right else "left")
    for row in rows:
        table.add_row(*[_cell(row[name]) for name in fields])
    console.print(table)


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return parse_day(value)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def _period(value: str, option: str = "--period") -> Period:
    try:
        return Period.parse(value)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def _problem_json(problem: Problem) -> dict:
    return {
        "source": problem.source,
        "location": problem.location,
        "field": problem.field,
        "message": problem.message,
        "fix": problem.fix,
        "severity": problem.severity.value,
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

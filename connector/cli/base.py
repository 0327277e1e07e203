"""Command-line plumbing shared by every command: the typer apps, consoles, opening the application for an
entity, JSON output and tables, plain errors, progress, and the small parsers of dates and periods."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from connector.domain.errors import (
    REPORT_HINT,
    BusyError,
    ConfigError,
    Problem,
    TokenbooksError,
    unexpected_reason,
)
from connector.domain.periods import Period, parse_day
from connector.logs import configure_logging, redact_last_resort
from connector.redaction import redact, redact_markup

log = logging.getLogger("tokenbooks")


class TokenbooksGroup(typer.core.TyperGroup):
    """The command group: whatever a command did not expect becomes a plain error, never a traceback.

    Errors tokenbooks raises on purpose are shown by `plain_errors`; anything else is a bug. It is caught
    here, once for every command: the runs it interrupted are recorded as failed with the reason, the
    person reads what happened and how to report it, the full trace goes to the debug log (`--debug`),
    and the exit status is 1."""

    def invoke(self, ctx: click.Context) -> Any:
        wants_json = "--json" in [*getattr(ctx, "_protected_args", []), *ctx.args]
        try:
            return super().invoke(ctx)
        except (
            typer.Exit,
            typer.Abort,
            typer.TyperException,  # typer (0.16 on) vendors click: its usage errors are these
            click.exceptions.Exit,
            click.exceptions.Abort,
            click.ClickException,
        ):
            raise  # a chosen exit status, Ctrl-C, or a usage error click already words
        except Exception as exc:
            report_unexpected(exc, wants_json)
            raise typer.Exit(ExitCode.FAILED) from None


def report_unexpected(exc: Exception, as_json: bool) -> None:
    """Record the runs `exc` interrupted, log its trace at debug level, and say it plainly on stderr."""
    from connector.service.runs import fail_unfinished  # here: see `app_for`

    runs = fail_unfinished(exc)
    log.debug("tokenbooks stopped on an unexpected error", exc_info=exc)
    message = f"tokenbooks stopped on an {unexpected_reason(exc)}"
    if runs:
        message += f"; run {', '.join(runs)} is recorded as failed"
    if as_json:
        print_json({"error": message, "fix": REPORT_HINT, "kind": "InternalError", "problems": []})
        return
    errors.print(f"[bold red]Error:[/] {escape(redact(message))}", highlight=False)
    errors.print(f"[bold]Fix:[/] {REPORT_HINT}", highlight=False)


app = typer.Typer(
    cls=TokenbooksGroup,
    help="tokenbooks: puts a company's AI spend into its books.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="Log debug detail on stderr, including the trace of an unexpected error."
        ),
    ] = False,
) -> None:
    _debug_asked.clear()
    redact_last_resort()
    if debug:
        _debug_asked.append(True)
        configure_logging("text", "DEBUG")


_debug_asked: list[bool] = []  # `--debug` was given to this invocation (the root callback sets it)


# What `serve` and `web` say about themselves (jobs scheduled, the address served, stopped): their stderr
# is the service's log, so these are log lines, in its format — one JSON object a line when it is json.
service_log = logging.getLogger("tokenbooks.serve")


def log_for(settings: Any) -> None:
    """The process's log handler for a command that logs as it runs (sync, serve, web): the settings'
    format and level, or DEBUG when `--debug` asked for it — the trace of an unexpected error is logged at
    debug level, and the settings' INFO handler replaced the one `--debug` set, so the trace never showed."""
    configure_logging(settings.log_format, "DEBUG" if _debug_asked else settings.log_level)


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


class RedactingConsole(Console):
    """A terminal console whose printed text never holds a secret: every line tokenbooks prints (a run's
    failures, a source's warnings) may quote an error a provider or ledger wrote, and such an error may
    quote a key; redacted before Rich lays the text out, so a secret folded over two lines is still found.
    Its size is read from the terminal and COLUMNS/LINES when it prints, not when it is made: Rich fixes
    them at construction, and this console is made at import, with whatever environment was then."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._width, self._height = options.get("width"), options.get("height")

    def print(self, *objects: Any, **options: Any) -> None:
        # Not a terminal (a systemd timer's journal, a CronJob's log, a pipe): a sentence stays on one line,
        # instead of folded at 80 columns into pieces a log collector keeps apart and a path cut mid-word.
        # Tables keep their layout (and their centred title): they fit the width by their columns.
        if all(isinstance(o, str) for o in objects):
            options.setdefault("soft_wrap", not self.is_terminal)
        super().print(*(redact_markup(o) if isinstance(o, str) else o for o in objects), **options)


console = RedactingConsole()
errors = RedactingConsole(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
EntityOption = Annotated[str | None, typer.Option("--entity", help="The entity (company) to work on.")]


class ExitCode:
    """The CLI's exit statuses, one meaning each, so a scheduler can tell them apart."""

    OK = 0  # done, or another process holds the entity (nothing was done, nothing is wrong)
    FAILED = 1  # the command or run failed; the reason was printed and recorded
    CONFIG = 2  # a configuration or usage error: fix the settings or the arguments
    PARTIAL = 3  # done in part: some input quarantined, or some journals left unposted
    RECONNECT = 4  # a ledger connection needs a person to run `tokenbooks connect` (`connections`)


PRIVATE_UMASK = 0o077  # the store, lock files, exports and working files: 0600 files, 0700 folders


def main() -> None:
    os.umask(PRIVATE_UMASK)  # whatever umask tokenbooks was started with: its files hold the books
    app()


# ------------------------------------------------------------------------------------------- plumbing


def jsonable(value: Any) -> Any:
    """A value `json.dumps` can write: Decimals as exact strings, dates as ISO text, paths as text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)

    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return value


def print_json(data: Any) -> None:
    sys.stdout.write(redact(json.dumps(jsonable(data), indent=2)) + "\n")


@contextmanager
def plain_errors(as_json: bool = False) -> Iterator[None]:
    """Turn tokenbooks errors into a message and a fix, and exit non-zero."""
    try:
        yield
    except TokenbooksError as exc:
        problems = [redact(str(p)) for p in getattr(exc, "problems", [])]
        if as_json:
            print_json(
                {"error": exc.message, "fix": exc.fix, "kind": type(exc).__name__, "problems": problems}
            )
        else:
            # escaped: a message may quote input such as ["AI and Machine Learning"] or https://host[/path]
            message = redact(exc.message)
            errors.print(f"[bold red]Error:[/] {escape(message)}", highlight=False)
            said = [p for p in getattr(exc, "problems", []) if redact(p.describe()) not in message]
            for problem in said[:50]:  # each said once: one the message states is not listed again
                errors.print(f"  • {escape(redact(str(problem)))}", highlight=False)
            if exc.fix:
                errors.print(f"[bold]Fix:[/] {escape(exc.fix)}", highlight=False)
        raise typer.Exit(ExitCode.CONFIG if isinstance(exc, ConfigError) else ExitCode.FAILED) from None


@contextmanager
def busy_is_not_a_failure(as_json: bool = False) -> Iterator[None]:
    """Another process already works on the entity: say so and exit cleanly (status 0), doing nothing."""
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
    it; a partial one (journals left unposted, a source refused) 3, so a scheduler that only reads exit
    codes still sees work left waiting."""
    if as_json:
        print_json(as_dict(run))
    else:
        show(run)
    if run.status == "failed":
        raise typer.Exit(ExitCode.CONFIG if getattr(run, "configuration", False) else ExitCode.FAILED)
    if run.status == "partial":
        raise typer.Exit(ExitCode.PARTIAL)


def print_problems(problems: Iterable[Problem]) -> None:
    """A check's problems, one a line: errors (✗) on stderr, warnings (!) on stdout."""
    for problem in problems:
        mark = "[red]✗[/]" if problem.is_error else "[yellow]![/]"
        (errors if problem.is_error else console).print(f"{mark} {escape(str(problem))}", highlight=False)


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


def app_for(*, read_only: bool = False, **overrides: Any) -> Any:
    """The application. `read_only`: for commands that only read — the store must already exist.

    The composition root is imported here, when a command opens the application, not when the command
    line loads: it brings the store (SQLAlchemy), the sources and the ledgers, which `--help` and a usage
    error do not need."""
    from connector import bootstrap
    from connector.settings import load_settings

    # `bootstrap.build_app` is looked up at each call: the test harnesses wire their fakes by wrapping it
    return bootstrap.build_app(load_settings(**overrides), read_only=read_only)


def app_and_entity(entity: str | None, *, read_only: bool = False) -> tuple[Any, str]:
    """The application, and the entity a command works on: the one named by --entity, else the default."""
    application = app_for(read_only=read_only)
    return application, entity or application.default_entity()


def whole(text: str) -> Text:
    """A table cell shown whole (a source, an account, an error): it folds onto more lines where the
    terminal is narrow rather than ending in "…", which made two accounts or sources alike in 80 columns."""
    return Text(text, overflow="fold")


def cell_text(value: Any) -> str:
    """A value as a table cell: empty for None, times to the second, dates as ISO text."""
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
        table.add_row(*[cell_text(row[name]) for name in fields])
    console.print(table)


def day_option(value: str | None, option: str) -> date | None:
    """The date an option names (YYYY-MM-DD), or a usage error naming the option and the fix."""
    if value is None:
        return None
    try:
        return parse_day(value)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def period_option(value: str, option: str = "--period") -> Period:
    """The month an option names (YYYY-MM), or a usage error naming the option and the fix."""
    try:
        return Period.parse(value)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def problem_json(problem: Problem) -> dict:
    """A problem (file:line, field, what is wrong, the fix) for `--json` output."""
    return {
        "source": problem.source,
        "location": problem.location,
        "field": problem.field,
        "message": problem.message,
        "fix": problem.fix,
        "severity": problem.severity.value,
        "days": sorted(problem.days),  # the days it refuses, when it refuses only some of a window
    }


def print_refused(pull: Any) -> None:
    """Under a source's pull: the days it refused, if any (`pull`, `sync` and `close` print it)."""
    if pull.refused_days:
        days = ", ".join(map(str, sorted(pull.refused_days)))
        console.print(
            f"  [red]refused days[/] (left as stored; read again next run): {days}", highlight=False
        )


def refused_json(pull: Any) -> dict:
    """The days a pull refused (left as stored) and the problems that refused them, for `--json` output."""
    return {"refused_days": sorted(pull.refused_days), "refused": [problem_json(p) for p in pull.refused]}


def journal_json(journal: Any, hold_reason: str = "") -> dict:
    """A planned or posted journal for `--json` output (amounts as exact decimal strings)."""
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

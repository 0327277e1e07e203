"""`tokenbooks mappings …`: check, schema, bump, add-rule, preview, coverage, history."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from connector.cli.base import (
    EntityOption,
    JsonFlag,
    app_and_entity,
    app_for,
    console,
    counted,
    day_option,
    errors,
    journal_json,
    mappings_app,
    period_option,
    plain_errors,
    print_json,
    print_problems,
    print_rows,
    problem_json,
)
from connector.domain.errors import ConfigError
from connector.domain.money import format_money
from connector.ledgers import registry  # noqa: F401 - the registered ledgers' targets are in the schema

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
        application = app_for()
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
                "problems": [problem_json(p) for p in report.problems],
            }
        )
    else:
        _print_check(report)
    if not report.ok:
        raise typer.Exit(2)


def _print_check(report: Any) -> None:
    print_problems(report.problems)
    for entity, note in report.charts.items():
        console.print(f"  {entity}: accounts {note}", highlight=False)
    mapping = report.mapping
    if report.ok:
        warnings = len(report.problems)
        console.print(
            f"[green]✓[/] {report.path}: version {mapping.version} (effective {mapping.effective_from}), "
            f"{counted(len(mapping.rules), 'rule')}, {counted(len(mapping.entities), 'entity', 'entities')}. "
            + (f"{counted(warnings, 'warning')}." if warnings else "No problems found."),
            highlight=False,
        )
        return
    count = sum(1 for p in report.problems if p.is_error)
    errors.print(f"{count} error(s); nothing can be posted until they are fixed.")


@mappings_app.command("schema")
def mappings_schema(
    output: Annotated[Path | None, typer.Option("--output", help="Write to this file instead.")] = None,
) -> None:
    """Print the JSON Schema of the mapping format (editors use it to validate as you type)."""
    from connector.domain.mapping_schema import mapping_schema

    write_schema(mapping_schema(), output, "mapping")


def write_schema(schema: dict, output: Path | None, what: str) -> None:
    """Print a JSON schema, or write it to `output`, saying what was written."""
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

    with plain_errors(as_json):
        day = day_option(effective_from, "--effective-from")
        application = app_for()
        path = file or application.settings.mapping_file
        with application.store.unit_of_work() as uow:
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
    from connector.settings import load_settings

    with plain_errors(as_json):
        conditions = dict(_condition(text) for text in when)
        path = file or load_settings().mapping_file  # a file edit: no database to open
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
    from connector.service.mapping_preview import books_of, preview_mapping
    from connector.service.mappings import load_mapping, mapping_history
    from connector.service.policies import policy_history

    with plain_errors(as_json):
        month = period_option(period)
        application, target = app_and_entity(entity)
        history = mapping_history(application)
        proposed, _ = load_mapping(candidate)
        lock = None if offline else application.ledger(target).lock_date()
        report = preview_mapping(
            application.store,
            history=history,
            candidate=proposed,
            entity=target,
            period=month,
            calendar=LedgerCalendar(lock, application.locked_behaviour(target)),
            clock=application.clock,
            policies=policy_history(application),
            books=None if offline else books_of(application, target),
        )
        if offline:
            report.notes.append(
                "offline: the ledger was not read; journals are dated as if open, in the provider's currency "
                "(books kept in another currency are converted by the sync)"
            )
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
        "journals": [journal_json(p.journal, p.hold_reason) for p in report.journals],
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
    for line in report.lines:  # each total in its own currency: the provider's, the journals' may differ
        change = (
            ("+" if line.change > 0 else "") + format_money(line.change, line.currency) if line.change else ""
        )
        table.add_row(
            line.target.describe(),
            CATEGORY_LABELS[line.category],
            format_money(line.current, line.currency),
            format_money(line.candidate, line.currency),
            change,
        )
    console.print(table)
    for before, after in zip(report.current_coverage, report.candidate_coverage, strict=False):
        console.print(
            f"Unallocated (suspense) {after.provider}: {format_money(before.suspense, before.currency)} "
            f"({share_text(before.accuracy)} mapped) → {format_money(after.suspense, after.currency)} "
            f"({share_text(after.accuracy)} mapped)",
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


def share_text(accuracy: Decimal | None) -> str:
    """An accuracy ratio as a percentage, or a dash when there is nothing to measure."""
    return "—" if accuracy is None else f"{accuracy:.2%}"


@mappings_app.command("coverage")
def mappings_coverage(period: PeriodOption, entity: EntityOption = None, as_json: JsonFlag = False) -> None:
    """Allocation accuracy: the share of spend an explicit rule placed vs. suspense, by provider."""
    from connector.service.mapping_preview import coverage_report
    from connector.service.mappings import mapping_history

    with plain_errors(as_json):
        month = period_option(period)
        application, target = app_and_entity(entity, read_only=True)
        history = mapping_history(application)
        rows, unmapped = coverage_report(
            application.store, history=history, entity=target, period=month, clock=application.clock
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
                        "currency": u.currency,
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
            share_text(c.accuracy),
        )
    console.print(table)
    for u in unmapped:
        console.print(
            f"  unmapped: {u.describe()} — {format_money(u.amount, u.currency)} over {u.facts} cost line(s)",
            highlight=False,
        )
    if unmapped:
        console.print(
            "Add a rule: tokenbooks mappings add-rule --id <name> --when project=<id> --category <category>"
        )


@mappings_app.command("history")
def mappings_history(as_json: JsonFlag = False) -> None:
    """Every mapping version tokenbooks has used, with its effective date and change note."""

    with plain_errors(as_json):
        application = app_for(read_only=True)
        with application.store.unit_of_work() as uow:
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
    columns = {
        "Version": "version",
        "Effective from": "effective_from",
        "First used": "first_seen_at",
        "Change note": "change_note",
    }
    print_rows(rows, as_json, "Mapping versions", columns)

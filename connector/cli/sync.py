"""`tokenbooks sync`: the nightly run — pull, map, plan and post."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Annotated, Any

import typer

from connector.cli.base import (
    EntityOption,
    JsonFlag,
    RichReporter,
    app,
    app_and_entity,
    busy_is_not_a_failure,
    console,
    day_option,
    journal_json,
    plain_errors,
    print_refused,
    refused_json,
    show_run,
)
from connector.cli.mappings import share_text
from connector.cli.operations import raise_alerts_after_run
from connector.domain.desired import overflow_by_period
from connector.domain.money import format_money
from connector.domain.periods import Period
from connector.logs import configure_logging
from connector.shutdown import stop_on_signals

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
    full_plan: Annotated[
        bool,
        typer.Option(
            "--full-plan",
            help="Classify every day of the planned months again, not only the days whose inputs changed "
            "(the same journals; also TOKENBOOKS_FULL_PLAN=true).",
        ),
    ] = False,
    entity: EntityOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Pull provider costs, map them, and post the journals (the nightly run)."""
    from connector.service.sync import sync

    with plain_errors(as_json), busy_is_not_a_failure(as_json):
        first = day_option(since, "--since")
        last = day_option(until, "--until")
        application, target = app_and_entity(entity)
        stop_on_signals(application.stopping)  # SIGTERM: stop between batches, as documented
        configure_logging(application.settings.log_format, application.settings.log_level)
        with RichReporter(quiet=as_json) as reporter:
            result = sync(
                application,
                entity=target,
                since=first,
                until=last,
                dry_run=dry_run,
                reporter=reporter,
                full_plan=full_plan or application.settings.full_plan,
            )
        if not dry_run:
            raise_alerts_after_run(application, target)
    show_run(result, as_json, _sync_json, print_sync)


def _sync_json(result: Any) -> dict:
    return {
        "run_id": result.run_id,
        "entity": result.entity,
        "status": result.status,
        "reason": result.reason,
        "kind": "ConfigError" if result.configuration else None,
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
                **refused_json(p),
            }
            for p in result.pulls
        ],
        "planned": [journal_json(p.journal, p.hold_reason) for p in result.plan.planned]
        if result.plan
        else [],
        "suspense": result.plan.suspense_rows() if result.plan else [],
        "policies": _books_json(result.plan.books) if result.plan else {},
        "coverage": [c.as_dict() for c in result.plan.coverage] if result.plan else [],
        "posted": result.post.posted if result.post else [],
        "found": result.post.found if result.post else [],
        "rejected": [{"key": k, "reason": r} for k, r in result.post.rejected] if result.post else [],
        "failed": [{"key": k, "reason": r} for k, r in result.post.failed] if result.post else [],
    }


def print_sync(result: Any, through: Period | None = None) -> None:
    """A sync's outcome as the terminal shows it: pulls, plan, postings, reconciliation; `through`: the
    month a close syncs for (what the policies flag of later days is not said there)."""
    for pull in result.pulls:
        console.print(
            f"Pulled {pull.source} {pull.window.first_day}..{pull.window.last_day}: {pull.facts} facts "
            f"({pull.replaced.inserted} new, {pull.replaced.restated} restated, "
            f"{pull.replaced.withdrawn} withdrawn)",
            highlight=False,
        )
        print_refused(pull)
    if result.plan:
        _print_books(result.plan.books, through)
        for (provider, currency), amount in sorted(result.plan.suspense.items()):
            if amount:
                console.print(
                    f"[yellow]Unallocated:[/] {format_money(amount, currency)} of {provider} spend matched no "
                    "rule and went to suspense. Add a rule to the mapping (`tokenbooks mappings coverage`).",
                    highlight=False,
                )
        for c in result.plan.coverage:
            console.print(
                f"Allocation accuracy {c.provider} {c.period}: {share_text(c.accuracy)} of "
                f"{format_money(c.total, c.currency)} placed by a mapping rule",
                highlight=False,
            )
        if not result.plan.planned:
            post = result.post
            earlier = post and (post.posted or post.found or post.rejected or post.failed)
            console.print(
                "Nothing new to plan: posting the journals left from earlier runs (released by an "
                "approval, or retried after a failure)."
                if earlier
                else "Nothing new to post: the books already hold every amount."
            )
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


def _books_json(books: Any) -> dict:
    """What the accounting policies flagged in a plan (prepaid overflow, true-ups, notes)."""
    return {
        "prepaid_overflow": [asdict(o) for o in books.overflow],
        "true_ups": [asdict(t) for t in books.trueups],
        "notes": list(books.notes),
    }


def _print_books(books: Any, through: Period | None) -> None:
    for span in overflow_by_period(books.overflow):  # once per account and month, not day by day
        if through is not None and span.period > through:
            continue
        days = (
            f"on {span.first_day}"
            if span.days == 1
            else f"on {span.days} days, {span.first_day}..{span.last_day}"
        )
        console.print(
            f"[yellow]Beyond the prepaid lots:[/] {format_money(span.amount, span.currency)} of {span.provider} "
            f"{span.provider_account} usage in {span.period} ({days}) is accrued in arrears (record the lot "
            "that covers it, or expect its invoice).",
            highlight=False,
        )
    for t in books.trueups:
        if t.hold_reason:
            console.print(f"[yellow]True-up held:[/] {t.hold_reason}", highlight=False)
    for note in books.notes:
        console.print(f"[yellow]Note:[/] {note}", highlight=False)

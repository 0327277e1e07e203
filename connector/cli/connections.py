"""`tokenbooks connect` and `connections`: ledger companies, their OAuth tokens and health."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from connector.cli.base import (
    EntityOption,
    ExitCode,
    JsonFlag,
    app,
    app_and_entity,
    app_for,
    cell_text,
    console,
    errors,
    plain_errors,
    print_json,
)
from connector.domain.errors import ConfigError, InputError
from connector.ledgers.registry import LEDGERS
from connector.ledgers.tokens import TokenCipher

# ------------------------------------------------------------------------------------------ connections


@app.command("connect")
def connect_command(
    ledger: Annotated[str, typer.Argument(help=" or ".join(LEDGERS.connectable()))],
    entity: EntityOption = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the consent URL instead of opening a browser.")
    ] = False,
    paste: Annotated[
        bool,
        typer.Option(
            "--paste",
            help="Paste back the address the browser ends on, instead of a local callback (automatic when "
            "the redirect URI is not a local address, e.g. the https URI of a production QuickBooks app).",
        ),
    ] = False,
    import_tokens: Annotated[
        Path | None,
        typer.Option(
            "--import-tokens",
            help='Take over tokens another tool obtained: a JSON file (- for stdin) with "refresh_token" and, '
            'for QuickBooks, "realm_id" (Xero: "tenant_id" optional). No consent page.',
        ),
    ] = None,
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="Xero: the organisation (id or name) when the grant has several."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Connect a ledger company through OAuth (a local callback, or the redirected address pasted back), or
    import existing tokens; tokens are stored encrypted."""
    from connector.service.connections import connect_ledger, import_connection

    with plain_errors(as_json):
        application, target = app_and_entity(entity)
        choose = None if as_json else _choose_tenant
        if import_tokens is not None:
            connected = import_connection(
                application, ledger, target, _token_document(import_tokens), tenant=tenant, choose=choose
            )
        else:
            say = errors.print if as_json else console.print
            connected = connect_ledger(
                application,
                ledger,
                target,
                open_browser=not no_browser,
                say=lambda text: say(text, highlight=False, soft_wrap=True),
                tenant=tenant,
                choose=choose,
                ask=_ask_hidden,
                paste=paste,
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


def _ask_hidden(prompt: str) -> str:
    """The redirected address holds the authorization code: read it without echoing it (prompt on stderr)."""
    return typer.prompt(prompt, hide_input=True, err=True)


def _token_document(path: Path) -> dict:
    """The tokens to import, from a JSON file or stdin (`-`), never from the command line (shell history)."""
    where = "standard input" if str(path) == "-" else str(path)
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {where}: {exc.strerror}", fix="name a readable JSON file") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{where} line {exc.lineno}: not JSON ({exc.msg})",
            fix='give a JSON object such as {"refresh_token": "…", "realm_id": "…"}',
        ) from None
    if not isinstance(document, dict):
        raise InputError(f"{where}: the tokens must be a JSON object", fix='e.g. {"refresh_token": "…"}')
    return document


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
    """Each ledger connection and its health: ok, expiring or reconnect needed, token expiry, last call, last error.

    Exit status, for a monitor or a script: 0 every connection works (or none is made yet; `expiring`
    still works); 4 a connection needs a person to reconnect (`tokenbooks connect`); 2 tokens were not
    read (TOKENBOOKS_ENCRYPTION_KEY not set, or not the key they were saved with). The list is printed
    (or `--json` written) either way.
    """
    from connector.service.connections import connection_health

    with plain_errors(as_json):
        application = app_for()  # listing works without the key, but then no connection is "ok"
        key = application.settings.encryption_key
        readable = TokenCipher(key.get_secret_value()).readable if key else None
        health = connection_health(application.store, application.clock(), readable)
    if as_json:
        print_json([h.as_dict() for h in health])
    else:
        _print_connections(health)
    if any(h.needs_reconnect for h in health):
        raise typer.Exit(ExitCode.RECONNECT)
    if any(h.unread for h in health):
        raise typer.Exit(ExitCode.CONFIG)


def _print_connections(health: list[Any]) -> None:
    if not health:
        first, *others = LEDGERS.connectable() or ("<ledger>",)
        also = f" (or {', '.join(others)})" if others else ""
        console.print(f"No ledger is connected yet: run `tokenbooks connect {first}`{also}.")
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
        ("Access token until", lambda h: cell_text(h.access_expires_at)),
        ("Refresh token until", lambda h: cell_text(h.refresh_expires_at) or "unknown"),
        ("Refresh token age", lambda h: "" if h.refresh_age is None else f"{h.refresh_age.days} day(s)"),
        ("Connected", lambda h: cell_text(h.connected_at)),
        ("Last successful call", lambda h: cell_text(h.last_success_at) or "none yet"),
        (
            "Last error",
            lambda h: (h.last_error or "") + (f"\n({cell_text(h.last_error_at)})" if h.last_error_at else ""),
        ),
    ]
    for label, cell in rows:
        table.add_row(label, *[cell(h) for h in health])
    console.print(table)

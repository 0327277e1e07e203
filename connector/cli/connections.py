"""`tokenbooks connect` and `connections`: ledger companies, their OAuth tokens and health."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from connector.cli.base import (
    EntityOption,
    JsonFlag,
    _app_and_entity,
    _app_for,
    _cell,
    app,
    console,
    errors,
    plain_errors,
    print_json,
)
from connector.domain.errors import ConfigError

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
        application, target = _app_and_entity(entity)
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
    from connector.ledgers.tokens import TokenCipher
    from connector.service.connections import connection_health
    from connector.store.connections import DatabaseVault

    with plain_errors(as_json):
        application = _app_for()  # listing works without the key, but then no connection is "ok"
        key = application.settings.encryption_key
        readable = TokenCipher(key.get_secret_value()).readable if key else None
        health = connection_health(DatabaseVault.status_of(application.engine), application.clock(), readable)
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

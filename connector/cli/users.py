"""`tokenbooks users …` (the console's people and their roles) and `tokenbooks web` (the console alone)."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from connector.cli.base import (
    JsonFlag,
    app,
    app_for,
    console,
    errors,
    log_for,
    plain_errors,
    print_json,
    print_rows,
    service_log,
)
from connector.domain.errors import ConfigError
from connector.domain.users import parse_role

users_app = typer.Typer(
    help="People who sign in to the web console, and their roles (auditor/viewer, accountant, controller, "
    "approver).",
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")

ByOption = Annotated[
    str | None,
    typer.Option("--by", help="Who makes this change, as the audit log records it; default: the OS user."),
]
RoleOption = Annotated[
    str, typer.Option("--role", help="auditor (or viewer), accountant, controller or approver.")
]


def acting_person(by: str | None) -> str:
    """Who a command acts as: `--by`, else the OS user — said on stderr, since the audit log records it."""
    if by and by.strip():
        return by.strip()
    who = getpass.getuser()
    errors.print(
        f"recorded in the audit log as {who} (the OS user; --by names someone else)", highlight=False
    )
    return who


def _role(text: str):
    try:
        return parse_role(text)
    except ValueError as exc:
        raise ConfigError(f"--role: {exc}") from None


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="The name they sign in with (lower case).")],
    role: RoleOption,
    name: Annotated[str, typer.Option("--name", help="Their full name, as pages show it.")] = "",
    email: Annotated[
        str | None,
        typer.Option("--email", help="For single sign-on: the address the identity provider gives."),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input (scripts).")
    ] = False,
    sso_only: Annotated[bool, typer.Option("--sso-only", help="No password: single sign-on only.")] = False,
    by: ByOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a console user. The password is asked for (hidden), never passed on the command line."""
    from connector.service.users import add_user

    with plain_errors(as_json):
        chosen = _role(role)
        password = None
        if not sso_only:
            password = _read_password(password_stdin)
        application = app_for()
        user = add_user(
            application.store,
            application.clock,
            username=username,
            role=chosen,
            by=acting_person(by),
            password=password,
            display_name=name,
            email=email,
        )
    if as_json:
        print_json({"username": user.username, "role": user.role.value, "email": user.email})
        return
    console.print(f"added {user.username} ({user.role.label})", highlight=False)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise ConfigError("the two passwords differ", fix="type the same password twice")
    return first


@users_app.command("list")
def users_list(as_json: JsonFlag = False) -> None:
    """Every console user, with their role, status and last sign-in."""
    from connector.service.users import list_users

    with plain_errors(as_json):
        users = list_users(app_for(read_only=True).store)
    rows = [
        {
            "username": u.username,
            "name": u.display_name,
            "role": u.role.value,
            "email": u.email,
            "status": "active" if u.active else "disabled",
            "sign_in": "password" if u.password_hash else "single sign-on",
            "last_login_at": u.last_login_at,
        }
        for u in users
    ]
    columns = {
        "User": "username",
        "Name": "name",
        "Role": "role",
        "Status": "status",
        "Signs in with": "sign_in",
        "Last sign-in": "last_login_at",
    }
    print_rows(rows, as_json, "Console users", columns)


@users_app.command("disable")
def users_disable(username: str, by: ByOption = None, as_json: JsonFlag = False) -> None:
    """Disable a user: they cannot sign in, and an open session ends at their next click."""
    from connector.service.users import disable_user

    with plain_errors(as_json):
        application = app_for()
        user = disable_user(application.store, application.clock, username=username, by=acting_person(by))
    if as_json:
        print_json({"username": user.username, "active": user.active})
        return
    console.print(f"{user.username} is disabled", highlight=False)


@users_app.command("enable")
def users_enable(username: str, by: ByOption = None, as_json: JsonFlag = False) -> None:
    """Enable a disabled user again."""
    from connector.service.users import enable_user

    with plain_errors(as_json):
        application = app_for()
        user = enable_user(application.store, application.clock, username=username, by=acting_person(by))
    if as_json:
        print_json({"username": user.username, "active": user.active})
        return
    console.print(f"{user.username} is enabled", highlight=False)


@users_app.command("set-role")
def users_set_role(username: str, role: RoleOption, by: ByOption = None, as_json: JsonFlag = False) -> None:
    """Give a user another role (it applies at their next click)."""
    from connector.service.users import set_role

    with plain_errors(as_json):
        chosen = _role(role)
        application = app_for()
        user = set_role(
            application.store, application.clock, username=username, role=chosen, by=acting_person(by)
        )
    if as_json:
        print_json({"username": user.username, "role": user.role.value})
        return
    console.print(f"{user.username} is now {user.role.label}", highlight=False)


@users_app.command("set-password")
def users_set_password(
    username: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read it from standard input.")
    ] = False,
    by: ByOption = None,
) -> None:
    """Set a user's password (asked for, hidden)."""
    from connector.service.users import set_password

    with plain_errors():
        password = _read_password(password_stdin)
        application = app_for()
        set_password(
            application.store, application.clock, username=username, password=password, by=acting_person(by)
        )
    console.print(f"password of {username} set", highlight=False)


@app.command("web")
def web_command() -> None:
    """Serve the web console (and /healthz, /metrics) alone, without the scheduler, on
    TOKENBOOKS_WEB__HOST:TOKENBOOKS_WEB__PORT. Stops on SIGTERM or SIGINT."""
    from connector.web.server import run_console  # here: the server (uvicorn, Starlette) only when served

    with plain_errors():
        application = app_for()
        log_for(application.settings)
        run_console(application, on_ready=lambda url: service_log.info("tokenbooks console on %s", url))
    service_log.info("tokenbooks stopped")

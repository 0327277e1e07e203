"""The console's request handling: the signed-in person on every request, sign-in and out, errors as pages.

`web/asgi.py: create_console(app)` assembles the application from these parts and the pages. Each page is a view
(`views.py`) wrapped by `view(permission)`, which loads the session and the user, refuses a state-changing
request without the session's CSRF token (403), a person without the permission (403), and sends someone
not signed in (or whose session expired) to the sign-in page. Nothing a view raises reaches the browser
as a traceback: tokenbooks' own errors are pages with what went wrong and the fix; anything else is a
plain "internal error" page, its trace in the log at debug level.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from connector.domain.errors import REPORT_HINT, TokenbooksError, unexpected_reason
from connector.domain.users import ROLE_PERMISSIONS, Permission, User
from connector.redaction import redact
from connector.service.console_edits import EditConflict
from connector.service.users import authenticate, get_user, sign_out
from connector.web.format import FILTERS
from connector.web.security import (
    COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    Session,
    SessionCodec,
    SignInLimiter,
    csrf_ok,
    new_session,
)

log = logging.getLogger("tokenbooks.web")
HERE = Path(__file__).parent
NAV = (
    ("/", "Overview"),
    ("/mappings", "Mappings"),
    ("/policies", "Policies"),
    ("/runs", "Runs"),
    ("/journals", "Journals"),
    ("/reconciliation", "Reconciliation & close"),
    ("/imports", "Import files"),
    ("/audit", "Audit"),
)


class Console:
    """What every request needs: the application, the session codec, the limiter, the templates."""

    def __init__(self, app: Any, secret: str, oidc: Any = None) -> None:
        web = app.settings.web
        self.app = app
        self.codec = SessionCodec(
            secret,
            idle=timedelta(minutes=web.session_idle_minutes),
            lifetime=timedelta(hours=web.session_max_hours),
        )
        self.limiter = SignInLimiter(
            web.login_attempts, timedelta(minutes=web.login_window_minutes), app.clock
        )
        self.secure = web.cookies_secure
        self.oidc = oidc
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
        )
        self.templates.filters.update(FILTERS)
        self.templates.globals.update(nav=NAV, csrf_field=CSRF_FIELD)

    def now(self) -> datetime:
        return self.app.clock()

    def render(self, request: Request, name: str, http_status: int = 200, **values: Any) -> HTMLResponse:
        template = self.templates.get_template(name)
        html = template.render(request=request, path=request.url.path, **values)
        return HTMLResponse(html, status_code=http_status)

    def set_session(self, response: Response, session: Session) -> Response:
        response.set_cookie(
            COOKIE, self.codec.dump(session), httponly=True, samesite="lax", secure=self.secure, path="/"
        )
        return response


@dataclass
class Ctx:
    """One request as a view sees it: who asks, their session, the form, the entity they look at."""

    request: Request
    console: Console
    user: User
    session: Session
    form: FormData | None
    entity: str

    @property
    def app(self) -> Any:
        return self.console.app

    def can(self, permission: Permission) -> bool:
        return self.user.can(permission)

    async def run(self, function: Callable, *args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(function, *args, **kwargs)

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else default

    def query(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default).strip()

    def render(self, name: str, http_status: int = 200, **values: Any) -> HTMLResponse:
        return self.console.render(
            self.request,
            name,
            http_status,
            user=self.user,
            csrf=self.session.csrf,
            entity=self.entity,
            entities=self.app.entities(),
            permissions={p.value for p in ROLE_PERMISSIONS[self.user.role]},
            **values,
        )


async def checked_form(request: Request, session: Session | None) -> FormData:
    """The request's form, once its CSRF token (the form field, or htmx's header) is the session's:
    every state-changing request passes here before anything runs (403 otherwise)."""
    form = await request.form()
    offered = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not csrf_ok(session, offered if isinstance(offered, str) else None):
        raise HTTPException(403, "the form's security token is missing or wrong: reload the page")
    return form


View = Callable[[Ctx], Awaitable[Response]]


def view(
    permission: Permission = Permission.VIEW,
) -> Callable[[View], Callable[[Request], Awaitable[Response]]]:
    def wrap(handler: View) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            console: Console = request.app.state.console
            session, why = console.codec.load(request.cookies.get(COOKIE), console.now())
            user = None
            if session is not None and session.username:
                user = await run_in_threadpool(get_user, console.app.store, session.username)
            if session is None or user is None or not user.session_open(session.signed_in):
                if request.method == "GET":
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    notice = "expired" if why == "expired" else ""
                    return RedirectResponse(f"/login?next={quote(target)}&notice={notice}", status_code=303)
                raise HTTPException(403, "you are not signed in, or your session has ended: sign in again")
            form = await checked_form(request, session) if request.method == "POST" else None
            if not user.can(permission):
                raise HTTPException(
                    403,
                    f"{user.role.label}s may not do this here (it needs the {permission.value} permission)",
                )
            entity = _entity(request, console)
            ctx = Ctx(request, console, user, session, form, entity)
            try:
                response = await handler(ctx)
            except (HTTPException, TokenbooksError):
                raise
            except Exception as exc:  # a bug: a plain page, the trace at debug level, never to the browser
                return await internal_error(request, exc)
            if request.query_params.get("entity"):
                response.set_cookie(
                    "tokenbooks_entity",
                    entity,
                    httponly=True,
                    samesite="lax",
                    secure=console.secure,
                    path="/",
                )
            return console.set_session(response, session.seen(console.now()))

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap


def _entity(request: Request, console: Console) -> str:
    entities = console.app.entities()
    chosen = request.query_params.get("entity") or request.cookies.get("tokenbooks_entity") or ""
    return chosen if chosen in entities else console.app.default_entity()


# ------------------------------------------------------------------------------------------- sign-in


def safe_next(target: str) -> str:
    """Only a path on this site (never //elsewhere or https://elsewhere) is followed after sign-in."""
    parts = urlsplit(target or "/")
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def login_page(request: Request) -> Response:
    console: Console = request.app.state.console
    session, _ = console.codec.load(request.cookies.get(COOKIE), console.now())
    if session is None or session.username:
        session = new_session(console.now())
    notice = {
        "expired": "Your session ended. Please sign in again.",
        "signed_out": "You are signed out.",
    }.get(request.query_params.get("notice", ""), "")
    response = console.render(
        request,
        "login.html",
        csrf=session.csrf,
        next=safe_next(request.query_params.get("next", "/")),
        notice=notice,
        error="",
        sso=console.oidc.label if console.oidc else None,
    )
    return console.set_session(response, session)


async def login_submit(request: Request) -> Response:
    console: Console = request.app.state.console
    session, _ = console.codec.load(request.cookies.get(COOKIE), console.now())
    form = await checked_form(request, session)
    username = str(form.get("username") or "").strip().lower()
    password = str(form.get("password") or "")
    target = safe_next(str(form.get("next") or "/"))
    keys = (f"user:{username}", f"address:{client_address(request)}")
    wait = console.limiter.blocked_for(*keys)
    if wait is not None:
        minutes = max(1, int(wait.total_seconds() // 60) + 1)
        return _login_again(
            request,
            console,
            session,
            target,
            f"Too many failed sign-ins. Try again in {minutes} minute(s).",
            429,
        )
    user = await run_in_threadpool(
        authenticate,
        console.app.store,
        console.app.clock,
        username,
        password,
        address=client_address(request),
    )
    if user is None:
        console.limiter.failed(*keys)
        known = await run_in_threadpool(get_user, console.app.store, username)
        log.warning("failed console sign-in from %s: %s", client_address(request), _who_failed(known))
        return _login_again(request, console, session, target, "The user name or password is not right.", 401)
    console.limiter.succeeded(*keys)
    response = RedirectResponse(target, status_code=303)
    return console.set_session(response, new_session(console.now(), user.username))


def _who_failed(user: User | None) -> str:
    """A failed sign-in as the log tells it. What was typed as the name is logged only when it is a
    user's name: a name that is nobody's is often a password typed into the name field."""
    if user is None:
        return "a name that is no console user (not logged: it may be a password typed in the wrong field)"
    if not user.active:
        return f"user {user.username!r}, who is disabled"
    if user.password_hash is None:
        return f"user {user.username!r}, who signs in by single sign-on only (no password)"
    return f"user {user.username!r}, wrong password"


def _login_again(
    request: Request, console: Console, session: Session | None, target: str, error: str, status: int
) -> Response:
    session = session or new_session(console.now())
    response = console.render(
        request,
        "login.html",
        status,
        csrf=session.csrf,
        next=target,
        notice="",
        error=error,
        sso=console.oidc.label if console.oidc else None,
    )
    return console.set_session(response, session)


async def logout(request: Request) -> Response:
    console: Console = request.app.state.console
    session, _ = console.codec.load(request.cookies.get(COOKIE), console.now())
    await checked_form(request, session)
    if session is not None and session.username:  # over in the store, not only in this browser
        await run_in_threadpool(
            sign_out, console.app.store, console.app.clock, session.username, address=client_address(request)
        )
    response = RedirectResponse("/login?notice=signed_out", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# ---------------------------------------------------------------------------------------------- errors


def _wants_fragment(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


async def tokenbooks_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TokenbooksError)
    status = 409 if isinstance(exc, EditConflict) else 400
    return _error_page(
        request, status, "That did not work", redact(exc.message), exc.fix, getattr(exc, "problems", [])
    )


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    titles = {403: "Not allowed", 404: "Not found", 405: "Not allowed"}
    return _error_page(
        request, exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail), "", []
    )


async def internal_error(request: Request, exc: Exception) -> Response:
    log.error("console: %s on %s %s", unexpected_reason(exc), request.method, request.url.path)
    log.debug("console: the trace", exc_info=exc)
    return _error_page(
        request, 500, "Internal error", f"tokenbooks stopped on an {unexpected_reason(exc)}", REPORT_HINT, []
    )


def _error_page(
    request: Request, status: int, title: str, message: str, fix: str, problems: list
) -> Response:
    console: Console = request.app.state.console
    name = "_error.html" if _wants_fragment(request) else "error.html"
    response = console.render(request, name, status, title=title, message=message, fix=fix, problems=problems)
    if _wants_fragment(request):
        response.headers["HX-Retarget"] = "#messages"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


# ------------------------------------------------------------------------------------------- assembly

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: Callable) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.url.path not in ("/healthz", "/metrics") and not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def session_secret(app: Any) -> str:
    """TOKENBOOKS_WEB__SECRET_KEY, or a random key kept in the data dir (0600), so sessions survive a
    restart and every console process on this data dir signs alike."""
    configured = app.settings.web.secret_key
    if configured is not None and configured.get_secret_value():
        return configured.get_secret_value()
    path = Path(app.settings.data_dir) / "console-secret"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(value, encoding="utf-8")
    return value

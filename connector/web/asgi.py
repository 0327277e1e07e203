"""The console's ASGI application, assembled: the routes of every page, the middleware, the error handlers.

`create_console(app)` builds it for an application from `bootstrap.build_app`; the request handling (the
signed-in person, sign-in, errors as pages) is `web/app.py`, the pages are `web/views.py` and single
sign-on `web/oidc.py`.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from connector.domain.errors import TokenbooksError
from connector.health import NextRuns, health_routes
from connector.service.users import dummy_hash
from connector.web import oidc, views
from connector.web.app import (
    HERE,
    Console,
    SecurityHeaders,
    http_error,
    internal_error,
    login_page,
    login_submit,
    logout,
    session_secret,
    tokenbooks_error,
)


def create_console(app: Any, *, next_runs: NextRuns | None = None, secret: str | None = None) -> Starlette:
    """The console (and `/healthz`, `/metrics`) for `app`."""
    dummy_hash()  # made now, so the first sign-in with an unknown name takes as long as any other
    console = Console(app, secret or session_secret(app), oidc.provider_for(app))
    routes = [
        *health_routes(app, next_runs or dict),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        *oidc.routes(),
        *views.routes(),
    ]
    starlette = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={
            TokenbooksError: tokenbooks_error,
            HTTPException: http_error,
            Exception: internal_error,
        },
    )
    starlette.state.console = console
    return starlette

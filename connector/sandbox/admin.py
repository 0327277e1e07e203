"""The part of a sandbox's ``/_sandbox/`` control surface that every ledger sandbox shares.

A ledger sandbox (QuickBooks, Xero) lists its own routes (accounts, lock dates, bills …) and adds
``common_routes()``: tokens revoked or expired, the request log, fault plans, rate-limit windows and the
clock. ``dispatch`` parses the JSON body, finds the route and turns errors into answers: 404 for an unknown
route or object, 400 for a bad body, and the ledger's own envelope when the company refuses a change.

A sandbox used here offers ``faults``, ``token_faults`` (and optionally ``write_faults``), ``clock``, ``requests``, ``reset_request_log()``,
``reset_rate_limits()``, ``revoke_all_tokens()`` and ``expire_access_tokens()``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from connector.sandbox.common import FaultPlan, loads_exact

__all__ = [
    "AdminHandler",
    "AdminRoute",
    "common_routes",
    "dispatch",
    "required",
    "returning",
    "route",
]

AdminHandler = Callable[[Any, re.Match[str], dict[str, Any], Mapping[str, str]], Any]
AdminRoute = tuple[str, re.Pattern[str], AdminHandler]
Refusal = tuple[type[Exception], Callable[[Any], tuple[int, Any]]]


def dispatch(
    sandbox: Any,
    routes: list[AdminRoute],
    method: str,
    action: str,
    raw_body: bytes,
    args: Mapping[str, str],
    refusal: Refusal | None = None,
) -> tuple[int, Any]:
    """(status, JSON-ready payload) for one admin request; ``refusal`` answers the ledger's own errors."""
    try:
        body = loads_exact(raw_body) if raw_body.strip() else {}
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        for route_method, pattern, handler in routes:
            match = pattern.fullmatch(action.strip("/"))
            if match is not None and route_method == method:
                return 200, handler(sandbox, match, body, args)
        return 404, {"error": f"no admin route {method} /_sandbox/{action}"}
    except KeyError as error:
        return 404, {"error": str(error.args[0]) if error.args else "not found"}
    except (ValueError, TypeError) as error:
        return 400, {"error": str(error)}
    except Exception as error:
        if refusal is not None and isinstance(error, refusal[0]):
            return refusal[1](error)
        raise


def route(method: str, pattern: str, handler: AdminHandler) -> AdminRoute:
    return method, re.compile(pattern), handler


def returning(value: Callable[[Any], Any]) -> AdminHandler:
    """A handler that ignores the request and answers ``value(sandbox)``."""
    return lambda sandbox, _match, _body, _args: value(sandbox)


def required(body: Mapping[str, Any], name: str) -> Any:
    if body.get(name) is None:
        raise ValueError(f'"{name}" is required')
    return body[name]


def _ok(action: Callable[[Any], Any]) -> AdminHandler:
    def handler(sandbox: Any, _m: re.Match[str], _b: dict[str, Any], _a: Mapping[str, str]) -> Any:
        action(sandbox)
        return {"ok": True}

    return handler


# --- Faults -----------------------------------------------------------------------------------------------


def _plans(sandbox: Any) -> dict[str, FaultPlan]:
    plans = {"api": sandbox.faults, "token": sandbox.token_faults}
    if getattr(sandbox, "write_faults", None) is not None:
        plans["write"] = sandbox.write_faults
    return plans


def faults_report(sandbox: Any, *_: Any) -> Any:
    return {
        target: {"injected": plan.injected, "pending": plan.pending, "rate": str(plan.rate)}
        for target, plan in _plans(sandbox).items()
    }


def _plan(sandbox: Any, target: str | None) -> FaultPlan:
    plans = _plans(sandbox)
    if (target or "api") not in plans:
        raise ValueError(f'"target" is one of {", ".join(plans)}')
    return plans[target or "api"]


def _add_faults(sandbox: Any, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    plan = _plan(sandbox, body.get("target"))
    if "rate" in body:
        kinds = tuple(body["kinds"]) if body.get("kinds") else None
        plan.configure_random(float(body["rate"]), kinds, body.get("seed"))
    else:
        delay = body.get("delay_seconds")
        plan.queue(
            required(body, "kind"),
            int(body.get("times", 1)),
            delay_seconds=None if delay is None else float(delay),
            status=body.get("status"),
        )
    return faults_report(sandbox)


def _clear_faults(sandbox: Any, _m: re.Match[str], _b: dict[str, Any], args: Mapping[str, str]) -> Any:
    targets = [args["target"]] if "target" in args else list(_plans(sandbox))
    for target in targets:
        _plan(sandbox, target).clear()
    return faults_report(sandbox)


# --- Clock ------------------------------------------------------------------------------------------------


def common_routes(time_text: Callable[[datetime], str]) -> list[AdminRoute]:
    """Routes every ledger sandbox has; ``time_text`` writes a time the way that ledger does."""

    def advance_clock(sandbox: Any, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
        advance = getattr(sandbox.clock, "advance", None)
        if advance is None:
            raise ValueError("the sandbox runs on the system clock; only a ManualClock can be advanced")
        return {"now": time_text(advance(seconds=float(required(body, "seconds"))))}

    return [
        route("POST", r"tokens/revoke-all", _ok(lambda sandbox: sandbox.revoke_all_tokens())),
        route("POST", r"tokens/expire-access", _ok(lambda sandbox: sandbox.expire_access_tokens())),
        route("GET", r"requests", returning(lambda sandbox: sandbox.requests)),
        route("DELETE", r"requests", _ok(lambda sandbox: sandbox.reset_request_log())),
        route("GET", r"faults", faults_report),
        route("POST", r"faults", _add_faults),
        route("DELETE", r"faults", _clear_faults),
        route("POST", r"rate-limits/reset", _ok(lambda sandbox: sandbox.reset_rate_limits())),
        route("GET", r"clock", returning(lambda sandbox: {"now": time_text(sandbox.clock.now())})),
        route("POST", r"clock/advance", advance_clock),
    ]

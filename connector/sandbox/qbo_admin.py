"""The sandbox's control surface over HTTP, under ``/_sandbox/``: no auth, no faults, no limits, not logged.

Every route maps onto a ``QuickBooksSandbox`` method, so a demo or a test in another process can do what a
person in the QBO UI would do. Bodies and answers are JSON; amounts may be numbers or decimal strings.

Routes (method, path under /_sandbox/, body -> effect):

- ``GET health``: realm id, client id, base URL, counts.
- ``POST book-close-date`` ``{"date": "YYYY-MM-DD" | null}``.
- ``GET preferences``; ``POST preferences`` ``{"name": "MultiCurrencyEnabled", "value": true}``.
- ``POST accounts`` ``{"name", "account_type", "acct_num"?, "account_sub_type"?, "active"?}`` -> the account.
- ``GET accounts/<id>``: one account, balances included.
- ``POST accounts|classes|departments|vendors/<id>/active`` ``{"active": bool}``.
- ``GET journal-entries``: every stored journal entry.
- ``POST journal-entries/delete-by-hand`` ``{"doc_number"}``.
- ``POST journal-entries/edit-by-hand`` ``{"doc_number", "lines"?, "txn_date"?, "private_note"?,
  "new_doc_number"?}``.
- ``GET bills``; ``POST bills`` ``{"vendor_id", "lines": [{"account_id", "amount"}], "txn_date"?,
  "doc_number"?, "private_note"?}``.
- ``POST tokens`` ``{"realm_id"?}`` -> a fresh token pair; ``POST tokens/revoke-all``;
  ``POST tokens/expire-access``.
- ``GET requests`` (the request log); ``DELETE requests`` (clear it).
- ``GET faults``: what each plan injected and has pending. ``POST faults`` ``{"target": "api"|"token",
  "kind", "times"?, "delay_seconds"?, "status"?}`` or ``{"target", "rate", "kinds"?, "seed"?}``.
  ``DELETE faults`` clears both plans (``?target=`` for one).
- ``POST rate-limits/reset``: forget the per-minute windows.
- ``GET clock``; ``POST clock/advance`` ``{"seconds"}`` (ManualClock only).

Errors: 404 ``{"error"}`` for an unknown route or object, 400 for a bad body, QBO's Fault envelope when the
company refuses a change (e.g. a bill against an inactive account).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from connector.sandbox.common import FaultPlan, loads_exact
from connector.sandbox.qbo_errors import QboFault, qbo_time

if TYPE_CHECKING:
    from connector.sandbox.quickbooks import QuickBooksSandbox

__all__ = ["handle_admin"]

_Handler = Callable[["QuickBooksSandbox", re.Match[str], dict[str, Any], Mapping[str, str]], Any]
_ACTIVE_SETTERS = {
    "accounts": "set_account_active",
    "classes": "set_class_active",
    "departments": "set_department_active",
    "vendors": "set_vendor_active",
}


def handle_admin(
    sandbox: QuickBooksSandbox, method: str, action: str, raw_body: bytes, args: Mapping[str, str]
) -> tuple[int, Any]:
    """(status, JSON-ready payload) for one admin request."""
    try:
        body = loads_exact(raw_body) if raw_body.strip() else {}
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        for route_method, pattern, handler in _ROUTES:
            match = pattern.fullmatch(action.strip("/"))
            if match is not None and route_method == method:
                return 200, handler(sandbox, match, body, args)
        return 404, {"error": f"no admin route {method} /_sandbox/{action}"}
    except QboFault as fault:
        return fault.status, fault.envelope()
    except KeyError as error:
        return 404, {"error": str(error.args[0]) if error.args else "not found"}
    except (ValueError, TypeError) as error:
        return 400, {"error": str(error)}


def _health(sandbox: QuickBooksSandbox, _m: re.Match[str], _b: dict[str, Any], _a: Mapping[str, str]) -> Any:
    return {
        "realm_id": sandbox.realm_id,
        "client_id": sandbox.client_id,
        "base_url": sandbox.base_url,
        "discovery_url": sandbox.discovery_url,
        "journal_entries": len(sandbox.journal_entries()),
        "requests_logged": len(sandbox.requests),
    }


def _book_close_date(sandbox: QuickBooksSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    if "date" not in body:
        raise ValueError('give {"date": "YYYY-MM-DD"} or {"date": null}')
    sandbox.set_book_close_date(body["date"])
    return sandbox.preferences()["AccountingInfoPrefs"]


def _set_preference(sandbox: QuickBooksSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    sandbox.set_preference(_required(body, "name"), body.get("value"))
    return sandbox.preferences()


def _add_account(sandbox: QuickBooksSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    return sandbox.add_account(
        _required(body, "name"),
        _required(body, "account_type"),
        acct_num=body.get("acct_num"),
        account_sub_type=body.get("account_sub_type"),
        active=bool(body.get("active", True)),
    )


def _set_active(sandbox: QuickBooksSandbox, match: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    setter = getattr(sandbox, _ACTIVE_SETTERS[match["table"]])
    active = _required(body, "active")
    if not isinstance(active, bool):
        raise ValueError('"active" must be true or false')
    return setter(match["id"], active)


def _delete_by_hand(sandbox: QuickBooksSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    return sandbox.delete_journal_by_hand(_required(body, "doc_number"))


def _edit_by_hand(sandbox: QuickBooksSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    return sandbox.edit_journal_by_hand(
        _required(body, "doc_number"),
        lines=body.get("lines"),
        txn_date=body.get("txn_date"),
        private_note=body.get("private_note"),
        new_doc_number=body.get("new_doc_number"),
    )


def _add_bill(sandbox: QuickBooksSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    lines = [_bill_line(line) for line in _required(body, "lines")]
    return sandbox.add_bill(
        str(_required(body, "vendor_id")),
        lines,
        txn_date=body.get("txn_date"),
        doc_number=body.get("doc_number"),
        private_note=body.get("private_note"),
    )


def _bill_line(line: Any) -> tuple[str, Decimal | str]:
    if isinstance(line, Mapping):
        return str(_required(line, "account_id")), _amount(_required(line, "amount"))
    if isinstance(line, list) and len(line) == 2:
        return str(line[0]), _amount(line[1])
    raise ValueError('a bill line is {"account_id", "amount"} or [account_id, amount]')


def _amount(value: Any) -> Decimal | str:
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, Decimal | str):
        return value
    raise ValueError(f"amount {value!r} must be a number or a decimal string")


def _issue_tokens(sandbox: QuickBooksSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    return sandbox.issue_tokens(body.get("realm_id"))


def _faults_report(sandbox: QuickBooksSandbox, *_: Any) -> Any:
    return {
        target: {"injected": plan.injected, "pending": plan.pending, "rate": str(plan.rate)}
        for target, plan in (("api", sandbox.faults), ("token", sandbox.token_faults))
    }


def _plan(sandbox: QuickBooksSandbox, target: str | None) -> FaultPlan:
    if target in (None, "api"):
        return sandbox.faults
    if target == "token":
        return sandbox.token_faults
    raise ValueError('"target" is "api" or "token"')


def _add_faults(sandbox: QuickBooksSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    plan = _plan(sandbox, body.get("target"))
    if "rate" in body:
        kinds = tuple(body["kinds"]) if body.get("kinds") else None
        plan.configure_random(float(body["rate"]), kinds, body.get("seed"))
    else:
        delay = body.get("delay_seconds")
        plan.queue(
            _required(body, "kind"),
            int(body.get("times", 1)),
            delay_seconds=None if delay is None else float(delay),
            status=body.get("status"),
        )
    return _faults_report(sandbox)


def _clear_faults(
    sandbox: QuickBooksSandbox, _m: re.Match[str], _b: dict[str, Any], args: Mapping[str, str]
) -> Any:
    targets = [args["target"]] if "target" in args else ["api", "token"]
    for target in targets:
        _plan(sandbox, target).clear()
    return _faults_report(sandbox)


def _advance_clock(sandbox: QuickBooksSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    advance = getattr(sandbox.clock, "advance", None)
    if advance is None:
        raise ValueError("the sandbox runs on the system clock; only a ManualClock can be advanced")
    seconds = _required(body, "seconds")
    return {"now": qbo_time(advance(seconds=float(seconds)))}


def _required(body: Mapping[str, Any], name: str) -> Any:
    if body.get(name) is None:
        raise ValueError(f'"{name}" is required')
    return body[name]


def _route(method: str, pattern: str, handler: _Handler) -> tuple[str, re.Pattern[str], _Handler]:
    return method, re.compile(pattern), handler


def _returning(value: Callable[[QuickBooksSandbox], Any]) -> _Handler:
    return lambda sandbox, _match, _body, _args: value(sandbox)


_ROUTES: list[tuple[str, re.Pattern[str], _Handler]] = [
    _route("GET", r"health", _health),
    _route("POST", r"book-close-date", _book_close_date),
    _route("GET", r"preferences", _returning(lambda sandbox: sandbox.preferences())),
    _route("POST", r"preferences", _set_preference),
    _route("POST", r"accounts", _add_account),
    _route("GET", r"accounts/(?P<id>[^/]+)", lambda sandbox, match, _b, _a: sandbox.account(match["id"])),
    _route("POST", r"(?P<table>accounts|classes|departments|vendors)/(?P<id>[^/]+)/active", _set_active),
    _route("GET", r"journal-entries", _returning(lambda sandbox: sandbox.journal_entries())),
    _route("POST", r"journal-entries/delete-by-hand", _delete_by_hand),
    _route("POST", r"journal-entries/edit-by-hand", _edit_by_hand),
    _route("GET", r"bills", _returning(lambda sandbox: sandbox.bills())),
    _route("POST", r"bills", _add_bill),
    _route("POST", r"tokens", _issue_tokens),
    _route(
        "POST", r"tokens/revoke-all", _returning(lambda sandbox: sandbox.revoke_all_tokens() or {"ok": True})
    ),
    _route(
        "POST",
        r"tokens/expire-access",
        _returning(lambda sandbox: sandbox.expire_access_tokens() or {"ok": True}),
    ),
    _route("GET", r"requests", _returning(lambda sandbox: sandbox.requests)),
    _route("DELETE", r"requests", _returning(lambda sandbox: sandbox.reset_request_log() or {"ok": True})),
    _route("GET", r"faults", _faults_report),
    _route("POST", r"faults", _add_faults),
    _route("DELETE", r"faults", _clear_faults),
    _route(
        "POST", r"rate-limits/reset", _returning(lambda sandbox: sandbox.reset_rate_limits() or {"ok": True})
    ),
    _route("GET", r"clock", _returning(lambda sandbox: {"now": qbo_time(sandbox.clock.now())})),
    _route("POST", r"clock/advance", _advance_clock),
]

"""A local stand-in for OpenAI's Costs API that replays the demo month, day by day.

It answers `GET /v1/organization/costs` in the documented shape (daily buckets on UTC midnights,
`amount.value` in dollars, lower-case currency, null for group-by fields not grouped, paging with
`next_page`) for the days that are complete on its `as_of` date, so `tokenbooks demo` runs the real
OpenAI source over HTTP. It needs `Authorization: Bearer <admin key>` like the real API.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from werkzeug.wrappers import Request, Response

from connector.sandbox.common import SandboxServer, dumps_exact
from connector.sandbox.demo_data import CostLine, available, month_of_costs

DEMO_ADMIN_KEY = "sk-admin-demo-0000"


class OpenAIReplay:
    def __init__(self, lines: list[CostLine] | None = None, *, admin_key: str = DEMO_ADMIN_KEY) -> None:
        self.lines = lines if lines is not None else month_of_costs()
        self.admin_key = admin_key
        self.as_of = date.max
        self.requests: list[dict[str, Any]] = []
        self._server: SandboxServer | None = None

    def start(self, port: int = 0) -> str:
        self._server = SandboxServer(self.app, port=port)
        return self._server.start() + "/v1"

    def stop(self) -> None:
        if self._server:
            self._server.stop()

    def app(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        self.requests.append({"path": request.path, "args": request.args.to_dict(flat=False)})
        if request.headers.get("Authorization") != f"Bearer {self.admin_key}":
            return _error(401, "invalid_api_key", _incorrect_key(request))(environ, start_response)
        if request.path != "/v1/organization/costs":
            return _error(404, "not_found", f"Unknown path {request.path}")(environ, start_response)
        return self._costs(request)(environ, start_response)

    def _costs(self, request: Request) -> Response:
        try:
            start = int(request.args["start_time"])
            end = int(request.args.get("end_time", start + 86400 * 7))
            limit = int(request.args.get("limit", 7))
        except (KeyError, ValueError):
            return _error(400, "invalid_request_error", "start_time is required and must be an integer")
        page = request.args.get("page")
        if page:
            start = int(base64.urlsafe_b64decode(page.encode()).decode())
        days = _days(start, end)
        shown, rest = days[:limit], days[limit:]
        body = {
            "object": "page",
            "data": [self._bucket(day) for day in shown],
            "has_more": bool(rest),
            "next_page": base64.urlsafe_b64encode(str(_unix(rest[0])).encode()).decode() if rest else None,
        }
        return Response(dumps_exact(body), mimetype="application/json")

    def _bucket(self, day: date) -> dict[str, Any]:
        lines = [ln for ln in available(self.lines, self.as_of) if ln.day == day]
        return {
            "object": "bucket",
            "start_time": _unix(day),
            "end_time": _unix(day + timedelta(days=1)),
            "results": [
                {
                    "object": "organization.costs.result",
                    "amount": {"value": ln.amount_as_of(self.as_of), "currency": "usd"},
                    "line_item": ln.line_item,
                    "project_id": ln.project,
                    "api_key_id": None,
                    "quantity": None,
                    "quantity_unit": None,
                }
                for ln in lines
            ],
        }


def _days(start: int, end: int) -> list[date]:
    first = datetime.fromtimestamp(start, UTC).date()
    last = datetime.fromtimestamp(end, UTC).date()
    return [first + timedelta(days=i) for i in range((last - first).days)]


def _unix(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _error(status: int, code: str, message: str) -> Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code, "param": None}}
    return Response(json.dumps(body), status=status, mimetype="application/json")


def total_of(lines: list[CostLine], as_of: date) -> Decimal:
    return sum((ln.amount_as_of(as_of) for ln in lines), Decimal(0))


def _incorrect_key(request: Request) -> str:
    """OpenAI's own 401 message, which quotes the key it was given masked: its first 8 and last 4 characters
    around asterisks (as users have posted it, e.g. github.com/chatanywhere/GPT_API_free/issues/62)."""
    key = request.headers.get("Authorization", "").removeprefix("Bearer ")
    return (
        f"Incorrect API key provided: {key[:8]}{'*' * 39}{key[-4:]}. "
        "You can find your API key at https://platform.openai.com/account/api-keys."
    )

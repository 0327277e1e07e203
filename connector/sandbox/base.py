"""The skeleton every ledger sandbox (QuickBooks, Xero) shares: serving, the state file, the request log, the
OAuth token endpoint and how an injected fault plays out around a call.

A sandbox subclasses ``LedgerSandbox``: it names its ``routes``, builds its ledger state and its ``tokens`` (a
``GrantStore``), answers its endpoints in ``serve_endpoint`` and its control surface in ``admin``, acts out
faults in its ledger's own words in ``act_out``, and says what to persist in ``snapshot``. Everything here is
independent of any one ledger's API. Nothing starts until ``start()`` or ``serve_forever()``.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Self

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map
from werkzeug.wrappers import Request

from connector.sandbox.common import (
    Clock,
    FaultPlan,
    InjectedFault,
    Reply,
    SandboxServer,
    StateFile,
    SystemClock,
    html_page,
    json_reply,
)
from connector.sandbox.oauth import GrantStore, IdentityRefusal, oauth_error

__all__ = ["REQUEST_LOG_LIMIT", "STATE_VERSION", "LedgerSandbox"]

STATE_VERSION = 1
REQUEST_LOG_LIMIT = 10_000  # bounded, so a long-running demo does not grow without limit
# How long after it was received a write hit by the ``commit_late`` fault lands, in sandbox time. Intuit
# says QuickBooks gives up on a request after 120 s (erps.md §2.1, Intuit's limits page); Xero's own SDK
# maintainers set a 5.5-minute client timeout to stay above the API's (XeroAPI/Xero-Net#209, #210). A late
# commit lands within that window: 100 s by default.
COMMIT_LATE_SECONDS = 100.0


class LedgerSandbox:
    """Serving, persistence and the request log of a ledger sandbox; the subclass is the ledger."""

    def __init__(
        self,
        state_file: Path | None,
        *,
        clock: Clock | None,
        faults: FaultPlan | None,
        token_faults: FaultPlan | None,
        host: str,
        port: int,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.faults = faults or FaultPlan()
        self.token_faults = token_faults or FaultPlan()
        self._lock = threading.RLock()
        self._state_file = StateFile(state_file) if state_file is not None else None
        self._request_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_LIMIT)
        self.commit_late_seconds = COMMIT_LATE_SECONDS
        self._late: list[tuple[datetime, Callable[[], Any]]] = []  # (lands at, the write) of late commits
        self._server = SandboxServer(self, host=host, port=port)

    # --- Lifecycle --------------------------------------------------------------------------------------

    def start(self) -> str:
        """Serve on a daemon thread; returns the base URL (``http://host:port``)."""
        return self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def serve_forever(self, on_ready: Callable[[str], None] | None = None) -> None:
        """Serve in the calling thread until interrupted; ``on_ready`` gets the base URL."""
        self._server.serve_forever(on_ready)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return self._server.base_url

    # --- WSGI -------------------------------------------------------------------------------------------

    routes: Map  # the ledger's URL map; its "admin" endpoint (``action`` argument) is the control surface
    logged_headers: tuple[str, ...] = ("Authorization", "Content-Type", "Accept", "User-Agent")

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        # Read the body once up front; form parsing then uses the cached copy and the log still has it.
        request.get_data(cache=True)
        self.commit_due()
        return self.handle(request).to_response()(environ, start_response)

    def commit_due(self) -> int:
        """Apply the late writes whose time has come (by the sandbox clock); how many landed."""
        with self._lock:
            now = self.clock.now()
            due = [write for lands_at, write in self._late if lands_at <= now]
            self._late = [(lands_at, write) for lands_at, write in self._late if lands_at > now]
        for write in due:
            write()
        return len(due)

    def handle(self, request: Request) -> Reply:
        """Route one request; everything except the admin routes lands in the request log."""
        try:
            endpoint, args = self.routes.bind_to_environ(request.environ).match()
        except HTTPException as error:
            return json_reply(error.code or 404, {"error": error.name, "path": request.path})
        if endpoint == "admin":
            status, payload = self.admin(request.method, args["action"], request.get_data(), request.args)
            return json_reply(status, payload)
        note: dict[str, Any] = {"replayed": False, "fault": None}
        reply = Reply(500, "")
        try:
            reply = self.serve_endpoint(endpoint, args, request, note)
        except (
            Exception
        ) as error:  # a sandbox bug must still answer, the way the ledger answers its own failures
            reply = self.internal_error(note)
            note["error"] = repr(error)
        finally:
            self._remember(self.log_entry(request, reply) | note)
        return reply

    def serve_endpoint(
        self, endpoint: str, args: dict[str, str], request: Request, note: dict[str, Any]
    ) -> Reply:
        """Answer a request for one of the ledger's endpoints; ``note`` collects what the log should say."""
        raise NotImplementedError

    def admin(self, method: str, action: str, raw_body: bytes, args: Mapping[str, str]) -> tuple[int, Any]:
        raise NotImplementedError

    def internal_error(self, note: dict[str, Any]) -> Reply:
        """How the ledger answers when it fails itself (here: when the sandbox has a bug)."""
        raise NotImplementedError

    def time_text(self, moment: datetime) -> str:
        """A time the way this ledger writes it."""
        raise NotImplementedError

    def log_entry(self, request: Request, reply: Reply) -> dict[str, Any]:
        """What the request log keeps of one exchange: the request, and the answer when it is JSON."""
        return {
            "time": self.time_text(self.clock.now()),
            "method": request.method,
            "path": request.path,
            "params": request.args.to_dict(),
            "headers": {
                name: request.headers[name] for name in self.logged_headers if name in request.headers
            },
            "body": request.get_data(as_text=True),
            "status": reply.status,
            "response": reply.body if reply.content_type == "application/json" else None,
            "response_headers": dict(reply.headers),
        }

    # --- Persistence ------------------------------------------------------------------------------------

    def saved_state(self) -> dict[str, Any] | None:
        """What the state file holds (None when there is none yet); refuses a file of another version."""
        saved = self._state_file.load() if self._state_file is not None else None
        if saved is not None and saved.get("version") != STATE_VERSION:
            raise ValueError(f"{self._state_file.path if self._state_file else ''}: unknown state version")
        return saved

    def snapshot(self) -> dict[str, Any]:
        """The JSON-ready state to persist (the version is added here)."""
        raise NotImplementedError

    def _save(self) -> None:
        if self._state_file is not None:
            self._state_file.save({"version": STATE_VERSION} | self.snapshot())

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """Hold the state lock for a change and save afterwards (also when the change failed half-way)."""
        with self._lock:
            try:
                yield
            finally:
                self._save()

    # --- Request log ------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The last 10 000 requests the sandbox answered (admin routes excepted), oldest first."""
        with self._lock:
            return copy.deepcopy(list(self._request_log))

    @property
    def request_count(self) -> int:
        """How many requests the log holds, without copying it."""
        with self._lock:
            return len(self._request_log)

    def reset_request_log(self) -> None:
        with self._lock:
            self._request_log.clear()

    def _remember(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._request_log.append(entry)

    # --- Tokens -----------------------------------------------------------------------------------------

    tokens: GrantStore  # the ledger's identity service, built by the subclass with its state

    def revoke_all_tokens(self) -> None:
        with self._changing():
            self.tokens.revoke_all()

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is expired from now on (refresh tokens are untouched)."""
        with self._changing():
            self.tokens.expire_access_tokens()

    def _token(self, request: Request, note: dict[str, Any]) -> Reply:
        """The token endpoint: a code or a refresh token for a new pair, with ``token_faults`` acted out."""
        return self._under_fault(
            self.token_faults.draw(), note, self.act_out, lambda: self._grant_tokens(request)
        )

    def _grant_tokens(self, request: Request) -> Reply:
        form = request.form
        try:
            with self._changing():
                self.tokens.check_client(request.headers.get("Authorization"), form)
                grant_type = form.get("grant_type")
                if grant_type == "authorization_code":
                    body = self.tokens.exchange_code(form.get("code"), form.get("redirect_uri"))
                elif grant_type == "refresh_token":
                    body = self.tokens.refresh(form.get("refresh_token"))
                else:
                    raise oauth_error("unsupported_grant_type")
        except IdentityRefusal as refusal:
            return json_reply(refusal.status, refusal.body, refusal.headers)
        return json_reply(200, body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    # --- Faults -----------------------------------------------------------------------------------------

    def act_out(self, fault: InjectedFault) -> Reply:
        """Answer an injected fault that applies nothing (timeout, server error, throttle) as the ledger does."""
        raise NotImplementedError

    def _under_fault(
        self,
        fault: InjectedFault | None,
        note: dict[str, Any],
        act_out: Callable[[InjectedFault], Reply],
        apply: Callable[[], Reply],
        late: Callable[[], Any] | None = None,
    ) -> Reply:
        """``apply()`` the call unless ``fault`` stops it first (answered by ``act_out``); a lost response
        applies the call, then the answer never arrives; a late commit applies it (``late``, a write that was
        admitted before anything replayed it) only ``commit_late_seconds`` later, and the answer never
        arrives."""
        note["fault"] = fault.kind if fault else None
        if fault is not None and fault.kind == "commit_late":
            lands_at = self.clock.now() + timedelta(seconds=self.commit_late_seconds)
            with self._lock:
                self._late.append((lands_at, late or apply))
            return self._lost(fault)
        if fault is not None and fault.kind != "lost_response":
            return act_out(fault)
        reply = apply()
        if fault is not None:  # lost_response: applied and saved, but the client never hears of it
            return self._lost(fault)
        return reply

    @staticmethod
    def _lost(fault: InjectedFault) -> Reply:
        """Wait like a gateway that gave up on the server, then say so (504)."""
        time.sleep(fault.delay_seconds)
        return Reply(504, html_page(504, "Gateway Time-out"), "text/html")

"""The skeleton every ledger sandbox (QuickBooks, Xero) shares: serving, the state file, the request log.

A sandbox subclasses ``LedgerSandbox``, builds its ledger state, answers requests in ``handle`` and says what
to persist in ``snapshot``. Everything here is independent of any one ledger's API. Nothing starts until
``start()`` or ``serve_forever()``.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

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
)

__all__ = ["REQUEST_LOG_LIMIT", "STATE_VERSION", "LedgerSandbox"]

STATE_VERSION = 1
REQUEST_LOG_LIMIT = 10_000  # bounded, so a long-running demo does not grow without limit


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

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        # Read the body once up front; form parsing then uses the cached copy and the log still has it.
        request.get_data(cache=True)
        return self.handle(request).to_response()(environ, start_response)

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

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

    def reset_request_log(self) -> None:
        with self._lock:
            self._request_log.clear()

    def _remember(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._request_log.append(entry)

    # --- Faults -----------------------------------------------------------------------------------------

    @staticmethod
    def _lost(fault: InjectedFault) -> Reply:
        """Wait like a gateway that gave up on the server, then say so (504)."""
        time.sleep(fault.delay_seconds)
        return Reply(504, html_page(504, "Gateway Time-out"), "text/html")

"""Building blocks shared by the local ledger sandboxes (QuickBooks Online now, Xero later).

What lives here is independent of any one ledger's API:

- ``dumps_exact`` / ``loads_exact``: JSON that keeps ``Decimal`` money exact in both directions;
- ``Clock``, ``SystemClock``, ``ManualClock``: time as a dependency, so tests expire tokens and roll
  rate-limit windows without sleeping;
- ``SlidingWindowLimiter`` and ``ConcurrencyGauge``: the two shapes of ledger throttling;
- ``FaultPlan``: scripted or seeded-random fault injection (timeouts, 5xx, throttling, lost responses);
- ``StateFile``: atomic, Decimal-safe persistence of a sandbox's state;
- ``SandboxServer``: runs a WSGI app on loopback in a daemon thread, or in the foreground for the CLI;
- ``Reply``, ``json_reply``, ``html_page``: an HTTP answer kept as text, so an idempotent replay returns it
  byte for byte.

Nothing here reads the environment or starts anything at import time.
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Response

from connector.exact_json import dumps_exact, loads_exact

__all__ = [
    "FAULT_KINDS",
    "Clock",
    "ConcurrencyGauge",
    "FaultPlan",
    "InjectedFault",
    "ManualClock",
    "Reply",
    "SandboxServer",
    "SlidingWindowLimiter",
    "StateFile",
    "SystemClock",
    "dumps_exact",
    "html_page",
    "json_reply",
    "loads_exact",
]


# --- Decimal-exact JSON: `connector.exact_json` (re-exported here for the sandboxes) ---------------


# --- Time -----------------------------------------------------------------------------------------------


class Clock(Protocol):
    """Where a sandbox gets the time from. ``now()`` returns an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; thread-safe."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = _as_utc(start or datetime(2025, 1, 1, 9, 0, tzinfo=UTC))
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = _as_utc(moment)

    def advance(
        self, delta: timedelta | None = None, *, seconds: float = 0, hours: float = 0, days: float = 0
    ) -> datetime:
        """Move forward by ``delta`` plus the keyword amounts; returns the new time."""
        step = (delta or timedelta()) + timedelta(seconds=seconds, hours=hours, days=days)
        if step < timedelta():
            raise ValueError("a ManualClock only moves forward")
        with self._lock:
            self._now += step
            return self._now


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("clock times must be timezone-aware")
    return moment.astimezone(UTC)


# --- Throttling -----------------------------------------------------------------------------------------


class SlidingWindowLimiter:
    """At most ``limit`` events per ``window`` per key, measured by ``clock``; thread-safe.

    Only admitted events are recorded: a caller that is refused does not push its own window further out.
    """

    def __init__(self, limit: int, clock: Clock, window: timedelta = timedelta(seconds=60)) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def try_acquire(self, key: str, weight: int = 1) -> bool:
        """Record ``weight`` events for ``key`` if they all fit in the window; say whether they did."""
        with self._lock:
            if not self._has_room(key, weight):
                return False
            self._record(key, weight)
            return True

    def has_room(self, key: str, weight: int = 1) -> bool:
        with self._lock:
            return self._has_room(key, weight)

    def record(self, key: str, weight: int = 1) -> None:
        with self._lock:
            self._record(key, weight)

    def count(self, key: str) -> int:
        """Events for ``key`` inside the current window."""
        with self._lock:
            return len(self._pruned(key))

    def free_in(self, key: str, weight: int = 1) -> timedelta:
        """How long until ``weight`` more events for ``key`` fit (zero when they fit now): a Retry-After."""
        with self._lock:
            events = self._pruned(key)
            excess = len(events) + weight - self.limit
            if excess <= 0:
                return timedelta()
            return events[excess - 1] + self.window - self._clock.now()

    def reset(self) -> None:
        with self._lock:
            self._events.clear()

    def _has_room(self, key: str, weight: int) -> bool:
        return len(self._pruned(key)) + weight <= self.limit

    def _record(self, key: str, weight: int) -> None:
        events = self._pruned(key)
        now = self._clock.now()
        events.extend([now] * weight)

    def _pruned(self, key: str) -> deque[datetime]:
        events = self._events.setdefault(key, deque())
        oldest_kept = self._clock.now() - self.window
        while events and events[0] <= oldest_kept:
            events.popleft()
        return events


class ConcurrencyGauge:
    """Counts requests in flight per key and refuses the one that would exceed ``limit``; thread-safe."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight: Counter[str] = Counter()
        self._lock = threading.Lock()

    def try_enter(self, key: str) -> bool:
        with self._lock:
            if self._in_flight[key] >= self.limit:
                return False
            self._in_flight[key] += 1
            return True

    def leave(self, key: str) -> None:
        with self._lock:
            if self._in_flight[key] <= 0:
                raise RuntimeError(f"leave() without a matching try_enter() for {key!r}")
            self._in_flight[key] -= 1

    def in_flight(self, key: str) -> int:
        with self._lock:
            return self._in_flight[key]

    @contextmanager
    def slot(self, key: str) -> Iterator[bool]:
        """Yield whether the caller got a slot; a granted slot is given back on exit."""
        admitted = self.try_enter(key)
        try:
            yield admitted
        finally:
            if admitted:
                self.leave(key)


# --- Fault injection ------------------------------------------------------------------------------------

FAULT_KINDS = ("timeout", "server_error", "throttle", "lost_response", "commit_late")
RANDOM_KINDS = FAULT_KINDS[:4]  # what a random plan draws unless told: commit_late only when asked for


@dataclass(frozen=True)
class InjectedFault:
    """One fault a sandbox must act out for one call.

    - ``timeout``: wait ``delay_seconds``, answer 504, apply nothing;
    - ``server_error``: answer ``status`` (500 or 503), apply nothing;
    - ``throttle``: answer the ledger's own 429;
    - ``lost_response``: apply and persist the call, then wait ``delay_seconds`` and answer 504;
    - ``commit_late``: accept the call but apply it only ``commit_late_seconds`` of sandbox time later (the
      server still working after the client gave up), meanwhile wait ``delay_seconds`` and answer 504.
    """

    kind: str
    delay_seconds: float
    status: int


class FaultPlan:
    """Decides, call by call, whether a sandbox injects a fault; thread-safe.

    Scripted faults (``queue``, ``storm``) are served first, in order. Otherwise, with probability
    ``rate``, a kind is drawn from ``kinds`` by a ``random.Random(seed)``, so a seeded run repeats exactly.
    ``injected`` counts what was handed out, by kind.
    """

    def __init__(
        self,
        rate: float = 0.0,
        kinds: tuple[str, ...] = RANDOM_KINDS,
        seed: int | None = None,
        delay_seconds: float = 1.0,
    ) -> None:
        _check_kinds(kinds)
        _check_rate(rate)
        self.rate = rate
        self.kinds = tuple(kinds)
        self.delay_seconds = delay_seconds
        self._random = random.Random(seed)
        self._scripted: deque[InjectedFault] = deque()
        self._injected: Counter[str] = Counter()
        self._lock = threading.Lock()

    def queue(
        self, kind: str, times: int = 1, *, delay_seconds: float | None = None, status: int | None = None
    ) -> None:
        """Make the next ``times`` calls (after anything already queued) fail with ``kind``."""
        _check_kinds((kind,))
        with self._lock:
            for _ in range(times):
                self._scripted.append(self._make(kind, delay_seconds, status))

    def storm(
        self, kind: str, calls: int = 50, *, delay_seconds: float | None = None, status: int | None = None
    ) -> None:
        """A burst: the next ``calls`` calls all fail with ``kind`` (a long ``queue``)."""
        self.queue(kind, times=calls, delay_seconds=delay_seconds, status=status)

    def configure_random(
        self, rate: float, kinds: tuple[str, ...] | None = None, seed: int | None = None
    ) -> None:
        _check_kinds(kinds or self.kinds)
        _check_rate(rate)
        with self._lock:
            self.rate = rate
            self.kinds = tuple(kinds or self.kinds)
            if seed is not None:
                self._random.seed(seed)

    def clear(self) -> None:
        """Drop scripted faults and switch random faults off; the counts are kept."""
        with self._lock:
            self._scripted.clear()
            self.rate = 0.0

    def draw(self) -> InjectedFault | None:
        """The fault for the current call, or None; counts what it hands out."""
        with self._lock:
            fault = self._next()
            if fault is not None:
                self._injected[fault.kind] += 1
            return fault

    @property
    def injected(self) -> dict[str, int]:
        with self._lock:
            return dict(self._injected)

    @property
    def total_injected(self) -> int:
        with self._lock:
            return sum(self._injected.values())

    @property
    def pending(self) -> int:
        """Scripted faults not yet handed out."""
        with self._lock:
            return len(self._scripted)

    def _next(self) -> InjectedFault | None:
        if self._scripted:
            return self._scripted.popleft()
        if self.rate and self._random.random() < self.rate:
            return self._make(self._random.choice(self.kinds), None, None)
        return None

    def _make(self, kind: str, delay_seconds: float | None, status: int | None) -> InjectedFault:
        return InjectedFault(
            kind=kind,
            delay_seconds=self.delay_seconds if delay_seconds is None else delay_seconds,
            status=status or _default_status(kind, self._random),
        )


def _default_status(kind: str, rng: random.Random) -> int:
    if kind == "server_error":
        return rng.choice((500, 503))
    if kind == "throttle":
        return 429
    return 504


def _check_rate(rate: float) -> None:
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be between 0 and 1")


def _check_kinds(kinds: tuple[str, ...]) -> None:
    unknown = [kind for kind in kinds if kind not in FAULT_KINDS]
    if unknown or not kinds:
        raise ValueError(f"fault kinds must be chosen from {FAULT_KINDS}, got {kinds!r}")


# --- Persistence ----------------------------------------------------------------------------------------


class StateFile:
    """A sandbox's state as one JSON file, replaced atomically on every save."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> Any | None:
        """The saved state, or None when there is no file yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return loads_exact(text)

    def save(self, state: Any) -> None:
        # Write beside the target and rename over it, so a crash leaves the old or the new file, never half.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = dumps_exact(state, indent=1)
        handle, temp_name = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as temp:
                temp.write(text)
                temp.flush()
                os.fsync(temp.fileno())
            os.replace(temp_name, self.path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise


# --- Serving --------------------------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without the per-request access log, and without keep-alive.

    HTTP/1.0 closes each connection after its response, so ``stop()`` leaves no idle connection that an old
    client could keep talking to after a restart.
    """

    protocol_version = "HTTP/1.0"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


# How often the serving loop checks for stop(); werkzeug's 0.5 s default would make every stop() that slow.
_POLL_SECONDS = 0.05


class SandboxServer:
    """Serves a WSGI app on ``host:port`` (port 0 picks a free one) with werkzeug, threaded."""

    def __init__(self, app: Callable[..., Any], host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the server is not running")
        return f"http://{self._host}:{self._server.server_port}"

    def start(self) -> str:
        """Serve in a daemon thread; returns the base URL."""
        if self._thread is not None:
            return self.base_url
        server = self._bind()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL_SECONDS},
            name=f"sandbox:{self.base_url}",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is None:
            return
        if thread is not None:
            server.shutdown()
            thread.join(timeout=5)
        server.server_close()

    def serve_forever(self, on_ready: Callable[[str], None] | None = None) -> None:
        """Serve in the calling thread until Ctrl-C; ``on_ready`` gets the base URL once it is bound."""
        server = self._bind()
        if on_ready is not None:
            on_ready(self.base_url)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._server = None
            server.server_close()

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _bind(self) -> BaseWSGIServer:
        if self._server is not None:
            raise RuntimeError("the server is already running")
        self._server = make_server(
            self._host, self._port, self._app, threaded=True, request_handler=_QuietHandler
        )
        return self._server


# --- Answers --------------------------------------------------------------------------------------------


@dataclass
class Reply:
    """An HTTP answer, kept as text so an idempotent replay (QBO ``requestid``, Xero ``Idempotency-Key``) can
    return it byte for byte."""

    status: int
    body: str
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def to_response(self) -> Response:
        return Response(self.body, status=self.status, content_type=self.content_type, headers=self.headers)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "body": self.body, "content_type": self.content_type}


def json_reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    """A JSON answer whose Decimal amounts keep their exact digits."""
    return Reply(status, dumps_exact(body), "application/json", dict(headers or {}))


def html_page(status: int, title: str) -> str:
    """The bare HTML page a gateway sends when it gives up (502/503/504)."""
    return f"<html><head><title>{status} {title}</title></head><body><h1>{status} {title}</h1></body></html>"

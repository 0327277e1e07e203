"""Sessions, CSRF tokens and the sign-in rate limit: the console's HTTP security, in one place.

- **Sessions** are signed cookies (itsdangerous, HMAC-SHA256 over the key in TOKENBOOKS_WEB__SECRET_KEY),
  `HttpOnly`, `SameSite=Lax`, `Secure` behind TLS. A session carries the user name, when they signed in,
  when they were last seen, and its CSRF token; it ends after `session_idle_minutes` without a request
  or `session_max_hours` after sign-in. The user is read from the store on every request, so a user
  disabled, or given another role, is treated so at their next click; and a session signed in before the
  user's `sessions_ended_at` (signed out, disabled, password reset) is over, whoever holds a copy.
- **CSRF**: every form carries the session's token (htmx sends it as `X-CSRF-Token`); a state-changing
  request without the right one is refused with 403 before anything runs.
- **Rate limit**: failed sign-ins are counted per user name and per client address over a sliding window;
  past the limit, sign-in is refused (429) until the window has passed — even with the right password.
  The count is kept in this process (the console is one process; a restart forgets it).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

COOKIE = "tokenbooks_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True, slots=True)
class Session:
    csrf: str
    username: str | None = None  # None: not signed in (the sign-in form's session)
    signed_in_at: float = 0.0  # float ok: epoch seconds, never an amount
    seen_at: float = 0.0  # float ok: epoch seconds
    next_url: str = ""  # where to go after single sign-on

    @property
    def signed_in(self) -> datetime:
        return datetime.fromtimestamp(self.signed_in_at, UTC)

    def seen(self, now: datetime) -> Session:
        return replace(self, seen_at=now.timestamp())


class SessionCodec:
    """A session to and from its signed cookie value, and whether it is still alive."""

    def __init__(self, secret: str, *, idle: timedelta, lifetime: timedelta) -> None:
        self.serializer = URLSafeSerializer(
            secret, salt="tokenbooks-console-session", signer_kwargs={"digest_method": hashlib.sha256}
        )
        self.idle, self.lifetime = idle, lifetime

    def dump(self, session: Session) -> str:
        return self.serializer.dumps(
            [session.csrf, session.username, session.signed_in_at, session.seen_at, session.next_url]
        )

    def load(self, value: str | None, now: datetime) -> tuple[Session | None, str]:
        """The session, or None and why (`expired`, `invalid`, `` when there was none)."""
        if not value:
            return None, ""
        try:
            csrf, username, signed_in_at, seen_at, next_url = self.serializer.loads(value)
        except (BadSignature, ValueError, TypeError):
            return None, "invalid"
        session = Session(
            str(csrf),
            username,
            float(signed_in_at),  # float ok: seconds since the epoch, not money
            float(seen_at),  # float ok: seconds since the epoch, not money
            str(next_url or ""),
        )
        if session.username is not None:
            moment = now.timestamp()
            if moment - session.seen_at > self.idle.total_seconds():
                return None, "expired"
            if moment - session.signed_in_at > self.lifetime.total_seconds():
                return None, "expired"
        return session, ""


def new_session(now: datetime, username: str | None = None) -> Session:
    """A fresh session (a new CSRF token: signing in never keeps the anonymous session's token)."""
    stamp = now.timestamp()
    return Session(secrets.token_urlsafe(32), username, stamp if username else 0.0, stamp)


def csrf_ok(session: Session | None, offered: str | None) -> bool:
    return bool(session and offered and hmac.compare_digest(session.csrf, offered))


class SignInLimiter:
    """Failed sign-ins per key (a user name, a client address) in a sliding window."""

    def __init__(self, attempts: int, window: timedelta, clock: Callable[[], datetime]) -> None:
        self.attempts, self.window, self.clock = attempts, window, clock
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        failures = self._failures.setdefault(key, deque())
        while failures and now - failures[0] >= self.window:
            failures.popleft()
        return failures

    def blocked_for(self, *keys: str) -> timedelta | None:
        """How long until a sign-in under these keys is allowed again, or None when it is allowed now."""
        now = self.clock()
        with self._lock:
            waits = [
                self.window - (now - failures[0])
                for failures in (self._recent(k, now) for k in keys)
                if len(failures) >= self.attempts
            ]
        return max(waits) if waits else None

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

"""OAuth tokens for ledger connections: the vault port, encryption at rest, and serialized refresh.

A refresh token that rotates is saved the moment it arrives, before the new access token is used; a
connection whose refresh is refused is marked "reconnect needed" and says so, instead of retrying
forever: every later use fails at once with the same reason until `tokenbooks connect` is run again.
Refreshes of one connection are serialized by a lock within the process and by the vault's
`refresh_lock` across processes (the database vault holds a lease on the connection row).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from connector.domain.errors import ConfigError, ReconnectNeeded
from connector.redaction import remember

EARLY_REFRESH = timedelta(seconds=120)  # refresh a little before the access token expires
SUCCESS_NOTE_EVERY = timedelta(seconds=60)  # "last successful call" is written at most this often


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str
    refresh_token: str
    access_expires_at: datetime
    refresh_expires_at: datetime | None = None
    company_id: str = ""  # QuickBooks realm / Xero tenant
    scope: str = ""
    token_type: str = "Bearer"

    def to_json(self) -> str:
        data = asdict(self)
        for name in ("access_expires_at", "refresh_expires_at"):
            data[name] = data[name].isoformat() if data[name] else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> TokenSet:
        data = json.loads(text)
        for name in ("access_expires_at", "refresh_expires_at"):
            data[name] = datetime.fromisoformat(data[name]) if data.get(name) else None
        return cls(**data)

    def access_valid(self, now: datetime) -> bool:
        return now + EARLY_REFRESH < self.access_expires_at

    def __repr__(self) -> str:  # never print a token
        return f"TokenSet(company_id={self.company_id!r}, access_expires_at={self.access_expires_at.isoformat()})"


class TokenVault(Protocol):
    """Where connection tokens live (encrypted). Each save is committed at once, on its own."""

    def load(self, ledger: str, entity: str) -> TokenSet | None: ...

    def save(self, ledger: str, entity: str, tokens: TokenSet) -> None: ...

    def connected(self, ledger: str, entity: str, tokens: TokenSet, company_name: str | None) -> None:
        """A person has just (re)connected: store the tokens and the company, and clear any alert."""
        ...

    def mark_reconnect_needed(self, ledger: str, entity: str, reason: str) -> None: ...

    def reconnect_reason(self, ledger: str, entity: str) -> str | None:
        """Why the connection needs a person to reconnect, or None while it is healthy."""
        ...

    def refresh_lock(self, ledger: str, entity: str) -> AbstractContextManager[object]:
        """Held while one process refreshes this connection's tokens; others wait for it."""
        ...

    def record_call(self, ledger: str, entity: str, *, at: datetime, error: str | None) -> None:
        """Remember the last successful call (error None) or the last error, for `tokenbooks connections`."""
        ...


class TokenCipher:
    """Fernet encryption of token sets, with the key(s) from TOKENBOOKS_ENCRYPTION_KEY.

    The setting may list several keys, comma-separated, newest first (`NEW,OLD`): tokens are encrypted
    under the first and read under any (MultiFernet), so a key can be rotated without reconnecting a
    ledger — set `NEW,OLD`, run `tokenbooks keys rotate` (every stored token re-encrypted under NEW),
    then drop OLD.
    """

    def __init__(self, key: str | None) -> None:
        keys = [k.strip() for k in (key or "").split(",") if k.strip()]
        if not keys:
            raise ConfigError(
                "TOKENBOOKS_ENCRYPTION_KEY is not set, so ledger tokens cannot be stored encrypted",
                fix="generate one with `tokenbooks keygen` and put it in the environment or .env",
            )
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except (ValueError, TypeError):
            raise ConfigError(
                "TOKENBOOKS_ENCRYPTION_KEY is not a valid key, or list of keys (each 32 url-safe "
                "base64-encoded bytes, comma-separated, newest first)",
                fix="generate one with `tokenbooks keygen`",
            ) from None

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, tokens: TokenSet) -> str:
        return self._fernet.encrypt(tokens.to_json().encode()).decode()

    def decrypt(self, ciphertext: str) -> TokenSet:
        try:
            return TokenSet.from_json(self._fernet.decrypt(ciphertext.encode()).decode())
        except InvalidToken:
            raise ConfigError(UNREADABLE, fix=UNREADABLE_FIX) from None

    def readable(self, ciphertext: str) -> bool:
        """True when one of the keys decrypts `ciphertext`."""
        try:
            self._fernet.decrypt(ciphertext.encode())
        except InvalidToken:
            return False
        return True

    def rotate(self, ciphertext: str) -> str:
        """`ciphertext` encrypted again under the first key (ConfigError if no key reads it)."""
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken:
            raise ConfigError(UNREADABLE, fix=UNREADABLE_FIX) from None


UNREADABLE = "stored ledger tokens cannot be decrypted with TOKENBOOKS_ENCRYPTION_KEY"
UNREADABLE_FIX = (
    "restore the key they were saved with — or, to change keys, set TOKENBOOKS_ENCRYPTION_KEY=NEW,OLD and "
    "run `tokenbooks keys rotate` — or reconnect with `tokenbooks connect`"
)


class MemoryVault:
    """A vault in memory, for tests and the demo's throwaway connections."""

    def __init__(self) -> None:
        self.tokens: dict[tuple[str, str], TokenSet] = {}
        self.reconnect: dict[tuple[str, str], str] = {}
        self.calls: dict[tuple[str, str], tuple[datetime, str | None]] = {}
        self.names: dict[tuple[str, str], str | None] = {}
        self.saves = 0

    def load(self, ledger: str, entity: str) -> TokenSet | None:
        return self.tokens.get((ledger, entity))

    def save(self, ledger: str, entity: str, tokens: TokenSet) -> None:
        self.tokens[(ledger, entity)] = tokens
        self.reconnect.pop((ledger, entity), None)
        self.saves += 1

    def connected(self, ledger: str, entity: str, tokens: TokenSet, company_name: str | None) -> None:
        self.save(ledger, entity, tokens)
        self.names[(ledger, entity)] = company_name

    def mark_reconnect_needed(self, ledger: str, entity: str, reason: str) -> None:
        self.reconnect[(ledger, entity)] = reason

    def reconnect_reason(self, ledger: str, entity: str) -> str | None:
        return self.reconnect.get((ledger, entity))

    def refresh_lock(self, ledger: str, entity: str) -> AbstractContextManager[object]:
        return nullcontext()  # one process: the TokenManager's thread lock is enough

    def record_call(self, ledger: str, entity: str, *, at: datetime, error: str | None) -> None:
        self.calls[(ledger, entity)] = (at, error)


Refresher = Callable[[TokenSet], TokenSet]  # calls the provider's token endpoint; raises ReconnectNeeded


_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(ledger: str, entity: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault((ledger, entity), threading.Lock())


class TokenManager:
    """Hands out a valid access token for one connection, refreshing (serialized) when needed."""

    def __init__(
        self,
        vault: TokenVault,
        *,
        ledger: str,
        entity: str,
        refresher: Refresher,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.vault = vault
        self.ledger = ledger
        self.entity = entity
        self.refresher = refresher
        self.clock = clock
        self.refreshes = 0
        self._success_noted: datetime | None = None

    def current(self) -> TokenSet:
        reason = self.vault.reconnect_reason(self.ledger, self.entity)
        if reason:
            raise ReconnectNeeded(
                f"the {self.ledger} connection of entity {self.entity!r} needs a person to reconnect: {reason}",
                fix=f"run `tokenbooks connect {self.ledger} --entity {self.entity}`",
            )
        tokens = self.vault.load(self.ledger, self.entity)
        if tokens is None:
            raise ReconnectNeeded(
                f"{self.ledger} is not connected for entity {self.entity!r}",
                fix=f"run `tokenbooks connect {self.ledger}`",
            )
        remember((tokens.access_token, tokens.refresh_token))  # an error quoting a token must not keep it
        return tokens

    def access_token(self) -> str:
        tokens = self.current()
        if tokens.access_valid(self.clock()):
            return tokens.access_token
        return self.refresh(stale=tokens).access_token

    def refresh(self, stale: TokenSet | None = None) -> TokenSet:
        """Refresh once, even if several callers (threads or processes) ask together; save at once."""
        with _lock_for(self.ledger, self.entity), self.vault.refresh_lock(self.ledger, self.entity):
            tokens = self.current()  # read again under the lock: another process may have refreshed
            if stale is not None and tokens.access_token != stale.access_token:
                return tokens  # someone else refreshed while we waited
            try:
                fresh = self.refresher(tokens)
            except ReconnectNeeded as exc:
                self.mark_reconnect_needed(exc.message)
                raise
            except (
                ConfigError
            ) as exc:  # the app's credentials (invalid_client): the connection itself is fine
                self.record_call(error=exc.message)
                raise
            fresh = replace(fresh, company_id=fresh.company_id or tokens.company_id)
            self.vault.save(self.ledger, self.entity, fresh)
            self.refreshes += 1
            return fresh

    def mark_reconnect_needed(self, reason: str) -> None:
        self.vault.mark_reconnect_needed(self.ledger, self.entity, reason)

    def record_call(self, *, error: str | None = None) -> None:
        """Note a successful call (at most once a minute) or an error, on the connection's health."""
        now = self.clock()
        if error is None:
            if self._success_noted is not None and now - self._success_noted < SUCCESS_NOTE_EVERY:
                return
            self._success_noted = now
        self.vault.record_call(self.ledger, self.entity, at=now, error=error)

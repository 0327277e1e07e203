"""Secrets kept out of everything tokenbooks stores or prints.

The settings' secrets (API keys, client secrets, the webhook URL, the SMTP and database passwords) and
the ledger tokens in use are remembered by the process (`remember`, called by the composition root and
the token manager); `redact` replaces each of them in a text with `[redacted]`. The store applies it to
every error and reason it writes (`store/redacted_columns.py`), the audit log to each event before it is
hashed, the CLI to every error it prints, and the logs through `RedactingFilter`.

A URL that is a secret (a Slack or Teams webhook) leaks by its path as much as whole — an HTTP error
names the path without the host — so its path and query are remembered too. A key a provider quotes back
masked (OpenAI's 401: "Incorrect API key provided: sk-VKMIs****…****wjh3") still shows its first and last
characters, of a key that may be real though wrong for this setting: it is redacted whole, known or not.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import overload
from urllib.parse import urlsplit

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 6  # shorter values would redact ordinary words; no real secret is this short
# a value masked by a provider: visible ends around a run of asterisks (OpenAI writes 39 or more)
MASKED_KEY = re.compile(r"[\w\-:/.]*\*{8,}[\w\-]*")


class Redactor:
    """The secrets this process knows, and their replacement in any text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._ordered: tuple[str, ...] = ()
        self._guard = threading.Lock()

    def remember(self, secrets: Iterable[str | None]) -> None:
        found = {part for secret in secrets if secret for part in _parts(secret)}
        found = {s for s in found if len(s) >= MIN_SECRET_LENGTH}
        if found <= self._secrets:
            return
        with self._guard:
            self._secrets |= found
            self._ordered = tuple(sorted(self._secrets, key=len, reverse=True))  # longest first

    def __call__(self, text: str, replacement: str = REDACTED) -> str:
        for secret in self._ordered:
            if secret in text:
                text = text.replace(secret, replacement)
        return MASKED_KEY.sub(replacement, text) if "********" in text else text


def _parts(secret: str) -> list[str]:
    parts = [secret.strip()]
    if "://" in secret:
        url = urlsplit(secret.strip())
        tail = url.path + (f"?{url.query}" if url.query else "")
        parts += [tail, url.path] if len(url.path.strip("/")) >= MIN_SECRET_LENGTH else []
        parts += [url.query] if url.query else []
        parts += [url.password] if url.password else []
    return parts


_REDACTOR = Redactor()


def remember(secrets: Iterable[str | None]) -> None:
    """Add secrets to the ones this process redacts (never removed: a secret once known stays secret)."""
    _REDACTOR.remember(secrets)


@overload
def redact(text: str) -> str: ...
@overload
def redact(text: None) -> None: ...
def redact(text: str | None) -> str | None:
    """`text` with every known secret replaced by `[redacted]` (None stays None)."""
    return None if text is None else _REDACTOR(text)


def redact_markup(text: str) -> str:
    """`text` in Rich's console markup with every known secret replaced by `[redacted]`, escaped so that
    the markup shows it as written rather than reading it as a style."""
    return _REDACTOR(text, "\\" + REDACTED)


def redact_data(value: object) -> object:
    """Every string inside a JSON-like value (dicts, lists) redacted, the keys of dicts too (stats and
    findings are keyed by names a provider or a person gave)."""
    if isinstance(value, str):
        return _REDACTOR(value)
    if isinstance(value, dict):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """A log handler filter: the rendered message (and traceback) with every known secret redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = _REDACTOR(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _REDACTOR(record.exc_text)
        return True

"""Errors, in the two forms tokenbooks uses.

*Problems* are values: a bad row, a bad mapping line, a page that does not parse. They are gathered so one
run reports all of them at once (beancount's way), each naming its source, where in it, the field, what is
wrong and how to fix it.

*Exceptions* are for control flow and bugs, grouped by how a caller recovers:

- ``Retriable``: try again later (timeouts, 5xx, throttling); retries live in one place per adapter.
- ``UncertainOutcome``: a write may or may not have happened; look the key up before anything else.
- ``ReconnectNeeded``: a person must reconnect a ledger or provider; retrying cannot help.
- ``BudgetExhausted``: a quota that resets only much later (a ledger's daily call limit) is used up; stop
  calling, and let the next run go on where this one stopped.
- ``Rejected``: the other side refused this one item for good (validation, locked period, duplicate);
  the rest of the run goes on and the item is reported.
- ``ConfigError`` / ``InputError``: settings, mappings or input data are wrong; the run stops before posting.
- ``InvariantViolation``: a bug in tokenbooks itself (e.g. an unbalanced journal); never caught to continue.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

Seconds = float  # float ok: a duration (Retry-After), never an amount


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, said so a person can fix it."""

    source: str  # the file, endpoint or source name
    location: str  # "line 12", "row 7", "page 3", "" when it is the whole source
    field: str  # the field or key at fault, "" when none
    message: str  # what is wrong
    fix: str = ""  # what to do about it
    severity: Severity = Severity.ERROR
    # the provider (UTC) days whose data the problem spoils, when it spoils only some of a pull's window
    # (a warehouse row charged on those days): a pull stores the other days. Empty: the whole input.
    days: frozenset[date] = frozenset()

    def __str__(self) -> str:
        text = self.describe()
        return f"{text}. Fix: {self.fix}" if self.fix else text

    def describe(self) -> str:
        """Where and what, without the fix (for a summary that states one fix for many problems)."""
        where = f"{self.source}:{self.location}" if self.location else self.source
        what = f"{self.field}: {self.message}" if self.field else self.message
        return f"{where}: {what}"

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


def errors_only(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.is_error]


def refused_days(errors: Iterable[Problem]) -> frozenset[date] | None:
    """The days a pull's errors refuse: the union of their days; None when any error concerns no day in
    particular (the window is then refused whole). No error: no day."""
    days: set[date] = set()
    for error in errors:
        if not error.days:
            return None
        days |= error.days
    return frozenset(days)


class TokenbooksError(Exception):
    """Base of every exception tokenbooks raises on purpose. `fix` tells the reader what to do."""

    def __init__(self, message: str, *, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} Fix: {self.fix}" if self.fix else self.message


class Retriable(TokenbooksError):
    """A transient failure: the same call may succeed later."""

    def __init__(self, message: str, *, retry_after: Seconds | None = None, fix: str = "") -> None:
        super().__init__(message, fix=fix)
        self.retry_after = retry_after


class RateLimited(Retriable):
    """The other side throttled us; wait `retry_after` seconds (or a policy default) before trying again."""


class UncertainOutcome(Retriable):
    """A write was sent but no clear answer came back: look the journal key up before re-creating it."""


class ReconnectNeeded(TokenbooksError):
    """The connection's credentials are gone (revoked, expired, rotated away): a person must reconnect."""


class BudgetExhausted(TokenbooksError):
    """A quota that resets much later is used up (e.g. Xero's 5,000 calls a day per organisation).

    Not `Retriable`: waiting hours inside one run helps nobody. Work not done stays queued for the next run.
    """

    def __init__(self, message: str, *, retry_after: Seconds | None = None, fix: str = "") -> None:
        super().__init__(message, fix=fix)
        self.retry_after = retry_after


class Rejected(TokenbooksError):
    """The ledger refused one item for good. The item is reported; other items go on."""

    def __init__(self, message: str, *, code: str = "", fix: str = "") -> None:
        super().__init__(message, fix=fix)
        self.code = code


class LockedPeriod(Rejected):
    """The ledger's books are closed for the journal's date."""


class DuplicateKey(Rejected):
    """The ledger already holds a document with this journal key."""


class ConfigError(TokenbooksError):
    """Settings, credentials or mapping files are wrong; nothing can be posted until they are fixed."""

    def __init__(self, message: str, *, fix: str = "", problems: Iterable[Problem] = ()) -> None:
        super().__init__(message, fix=fix)
        self.problems = list(problems)


class InputError(TokenbooksError):
    """Provider data, invoices or import files are malformed in a way that stops a source."""

    def __init__(self, message: str, *, fix: str = "", problems: Iterable[Problem] = ()) -> None:
        super().__init__(message, fix=fix)
        self.problems = list(problems)


class BusyError(TokenbooksError):
    """Another tokenbooks process holds the entity's lock."""


class StoreUnavailable(TokenbooksError):
    """The database does not answer, or cannot be written (down, connection reset, disk full): the run
    stops where it is; what it committed stays, and the next run goes on from there."""


class StoreAltered(TokenbooksError):
    """A row in the store is no longer a record tokenbooks could have written (a journal that does not
    balance, say): it was changed behind tokenbooks, in the database. Nothing is done with it; a person
    looks (`tokenbooks audit verify` names what changed) and restores it."""


class Interrupted(TokenbooksError):
    """A shutdown was requested: the run stopped between two safe points and the next run goes on."""


REPORT_HINT = (
    "this is a bug in tokenbooks, not in your data or settings: please report it with this message (run the "
    "command again with --debug for the full trace; `tokenbooks serve` logs it at debug level)"
)


def unexpected_reason(error: BaseException) -> str:
    """A plain, one-line account of an exception tokenbooks did not expect (a bug), for a person and for
    the run log; the trace itself goes to the debug log only."""
    said = " ".join(str(error).split())[:300]
    return f"internal error ({type(error).__name__}{': ' + said if said else ''})"


class InvariantViolation(AssertionError):
    """A bug: tokenbooks was about to break one of its invariants (balance, conservation, exactly once)."""

"""The sources' state on the console: how far each source of an entity has read, when it last succeeded,
and what is wrong in plain words — behind, failed, days refused, settings refused. It says how fresh the
figures beside it are: from the last day a source read, which is past its bookmark when a pull refused days.

Built on `pull.sources_status` (the rows `tokenbooks sources status` prints). A section whose settings
cannot be built is its source's row (`App.configured_sources`): the page shows the others as usual. Bookmarks name a source and
a provider account, not an entity: a configured source is the entity's by its settings; a stored bookmark
of no configured source (a FOCUS import's `focus:<account>`, a source since removed) is the entity's
when the entity holds facts of that source and account — another entity's sources are never shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from connector.service.pull import Misconfigured, SourceStatus, entity_sources_status


@dataclass(frozen=True, slots=True)
class SourceState:
    """One source's row in the console's Sources section."""

    source: str  # its bookmark id: `<source>:<provider account>`
    configured: bool  # False: known from its bookmark alone (a file import, a removed source)
    read_to: date | None  # the last day it has read (past its bookmark when days were refused); None: never
    last_success_at: datetime | None
    behind: int | None  # days from `read_to` to yesterday (UTC); None: never read
    failure: str | None  # the last pull's error (redacted when stored), when it failed after its last success
    failed_at: datetime | None
    refused_days: tuple[date, ...] = ()  # days its last pull refused: they keep what an earlier pull stored
    refusal: str | None = None  # why those days were refused
    bookmark: date | None = None  # where the next pull reads on from (the day before a refused day)
    misconfigured: Misconfigured | None = None  # its settings are wrong: not pulled until they are fixed

    @property
    def freshness(self) -> str:
        if self.behind is None:
            return "never pulled"
        if self.behind <= 0:
            return "up to date"
        return f"behind by {self.behind} day{'s' if self.behind != 1 else ''}"

    @property
    def origin(self) -> str:
        """Where a source not in the settings comes from ("" for a configured one)."""
        if self.configured:
            return ""
        return (
            "imported from FOCUS files" if self.source.startswith("focus:") else "no longer in the settings"
        )

    @property
    def up_to_date(self) -> bool:
        return self.behind is not None and self.behind <= 0

    @property
    def tone(self) -> str:
        """The row's mark: bad (failed, days refused, settings refused), warn (behind, never pulled) or ok."""
        if self.failure or self.refused_days or self.misconfigured:
            return "bad"
        return "ok" if self.up_to_date else "warn"

    @property
    def state(self) -> str:
        """The state in plain words, as one line (the page shows the same parts, the days highlighted)."""
        words = [self.freshness]
        if self.misconfigured:
            words.append(str(self.misconfigured))
        if self.failure:
            words.append(f"last pull failed: {self.failure}")
        if self.refused_days:
            refused = f"{len(self.refused_days)} day(s) refused: " + " ".join(map(str, self.refused_days))
            words.append(f"{refused}: {self.refusal}" if self.refusal else refused)
        return "; ".join(words)


def source_states(app: Any, entity: str, statuses: list[SourceStatus] | None = None) -> list[SourceState]:
    """The entity's sources, configured ones first, each with its state as of yesterday (UTC); `statuses`:
    the request's `entity_sources_status`, when it has read them already (the overview's close blockers)."""
    yesterday = app.clock().date() - timedelta(days=1)
    found = entity_sources_status(app, entity) if statuses is None else statuses
    stray = [s for s in found if not s.configured]
    if stray:
        with app.store.unit_of_work() as uow:
            owned = {s.source for s in stray if uow.console.holds_facts(entity, *_split(s.source))}
        found = [s for s in found if s.configured or s.source in owned]
    return [state_of(s, yesterday) for s in found]


def state_of(status: SourceStatus, yesterday: date) -> SourceState:
    """A source's state from its bookmark. A pull that failed after its last success left its error;
    a pull that refused days stored the rest and left the days, why, and the last day it read
    (`BookmarkRepository.hold`)."""
    bookmark = date.fromisoformat(status.bookmark) if status.bookmark else None
    read_to = status.read_through or bookmark
    failed = status.last_error is not None and (
        status.last_success_at is None
        or (status.last_error_at is not None and status.last_error_at > status.last_success_at)
    )
    return SourceState(
        source=status.source,
        configured=status.configured,
        read_to=read_to,
        last_success_at=status.last_success_at,
        behind=(yesterday - read_to).days if read_to else None,
        failure=status.last_error if failed else None,
        failed_at=status.last_error_at if failed else None,
        refused_days=status.refused_days,
        # a failure after the refusal overwrote its reason: the days stand, the failure is shown
        refusal=status.last_error if status.refused_days and not failed else None,
        bookmark=bookmark,
        misconfigured=status.misconfigured,
    )


def _split(source_id: str) -> tuple[str, str]:
    """`<source>:<provider account>` (source names hold no colon; an account may)."""
    source, _, account = source_id.partition(":")
    return source, account

"""The auditor's side of the store: prove the event chain intact, and trace a posted line to its sources.

`verify_chain` walks the append-only event log and says, for each break, which event and what is wrong:
content altered after it was written, an event missing between two others, or the newest events gone
(the chain's head row remembers the last event); then `verify_books` checks every journal, line and
posting in the store against the digests the chain committed for them. `trace` walks from a journal line in the outbox to the
posting buckets it feeds, the allocations in them (rule id, mapping version), the facts (with their
versions) and the raw provider payload the facts were read from, and to the provider's invoice that bills
each bucket's provider account and month.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from connector.domain.accounting_policy import PolicyHistory
from connector.domain.audit_chain import GENESIS_HASH, allocations_digest, digest_of_fact, row_hash
from connector.domain.console import PayloadDetail
from connector.domain.errors import InputError
from connector.domain.journals import Bucket, Contribution
from connector.domain.money import ZERO
from connector.store.port import Store, UnitOfWork
from connector.store.records import EventRecord, JournalRecord, StoredFact

# ------------------------------------------------------------------------------------------------ verify


@dataclass(frozen=True, slots=True)
class ChainProblem:
    event_id: int | None  # the event at fault (None: the chain as a whole)
    problem: str  # altered | missing | relinked | truncated
    message: str


@dataclass
class ChainReport:
    events: int = 0
    first_event_id: int | None = None
    last_event_id: int | None = None
    head_hash: str = GENESIS_HASH
    problems: list[ChainProblem] = field(default_factory=list)
    journals: int = 0  # journals whose rows were checked against the digests the chain committed
    facts: int = 0  # current facts checked against the digests the chain committed for their days
    # (source, account): the days of facts stored before the chain committed any (not held to it)
    unvouched: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_chain(store: Store, *, anchors: frozenset[str] = frozenset(), batch: int = 5_000) -> ChainReport:
    """Recompute every event's hash and link, in order; report each break with the event it concerns.

    `anchors` are hashes recorded earlier (e.g. printed by a previous verify and kept by the auditor):
    each must still be in the chain, which catches even a chain rewritten and re-hashed from that point.
    """
    report = ChainReport()
    unseen = set(anchors)
    previous: EventRecord | None = None
    with store.unit_of_work() as uow:
        head = uow.events.head()
        for row in uow.events.in_order(batch):
            _check_link(report, previous, row)
            if row_hash(row) != row.hash:
                report.problems.append(
                    ChainProblem(
                        row.id,
                        "altered",
                        f"event {row.id} ({row.kind} at {row.at:%Y-%m-%d %H:%M:%S} UTC) was altered after it "
                        f"was written: its content no longer matches its hash {row.hash[:12]}…",
                    )
                )
            report.events += 1
            report.first_event_id = report.first_event_id or row.id
            unseen.discard(row.hash)
            previous = row
    if previous is not None:
        report.last_event_id, report.head_hash = previous.id, previous.hash
    if head is not None:
        _check_head(report, head.last_event_id, head.last_hash, head.events)
    report.problems += [
        ChainProblem(
            None, "rewritten", f"the anchored hash {anchor} is no longer in the chain: it was rewritten"
        )
        for anchor in sorted(unseen)
    ]
    report.journals, books = verify_books(store)
    report.problems += books
    report.facts, facts, report.unvouched = verify_facts(store)
    report.problems += facts
    allocations, legacy = verify_allocations(store)
    report.problems += allocations
    report.unvouched += legacy
    report.problems += verify_payloads(store)
    report.problems += verify_runs(store)
    report.problems += verify_versions(store)
    report.problems += verify_index(store)
    return report


def verify_index(store: Store) -> list[ChainProblem]:
    """Hold the commitment index (what the poster and the sync read instead of the log) to the events:
    each journal and provider day must be indexed to the event that last committed it, and nothing else
    indexed. An edited row makes them refuse good rows, or could point at an older commitment: named here."""
    with store.unit_of_work() as uow:
        committed = {
            ("journal", e, "", k): event for (e, k), (event, _) in uow.commitments.committed().items()
        }
        days = uow.commitments.day_committers()
        committed |= {("facts", s, a, d.isoformat()): event for (s, a, d), event in days.items()}
        indexed = uow.commitments.index_rows()
    problems = []
    for kind, subject, account, key in sorted(committed.keys() | indexed.keys()):
        what = (
            f"journal {key} of {subject}" if kind == "journal" else f"facts of {subject} ({account}) on {key}"
        )
        expected, found = (
            committed.get((kind, subject, account, key)),
            indexed.get((kind, subject, account, key)),
        )
        if expected != found:
            said = "no commitment" if found is None else f"event {found}"
            truth = f"event {expected} committed it last" if expected is not None else "no event committed it"
            problems.append(
                ChainProblem(
                    expected, "index-altered", f"the commitment index names {said} for {what}, but {truth}"
                )
            )
    return problems


EMPTY = allocations_digest(())  # the digest of a fact with no allocations
VERSION_EVENTS = {"mapping": "mapping.version", "policies": "policy.version"}


def verify_versions(store: Store) -> list[ChainProblem]:
    """Hold every stored mapping and policies version — the rules and policies the planner reads back
    for the days they reach — to its own text's hash and to the event that recorded it first used."""
    problems: list[ChainProblem] = []
    with store.unit_of_work() as uow:
        stored = {"mapping": uow.mappings.all(), "policies": uow.policies.all()}
        recorded = {which: uow.events.of_kind(kind) for which, kind in VERSION_EVENTS.items()}
    for which, rows in stored.items():
        events = {e.data.get("hash"): e for e in recorded[which]}
        for row in rows:
            where = f"{which} version {row.version} (effective {row.effective_from}, hash {row.content_hash[:12]}…)"
            if hashlib.sha256(row.content.encode()).hexdigest() != row.content_hash:
                problems.append(
                    ChainProblem(
                        None, "version-altered", f"{where}: its stored text was altered after it was used"
                    )
                )
            event = events.pop(row.content_hash, None)
            if event is None:
                problems.append(
                    ChainProblem(
                        None, "version-altered", f"{where}: no event records it first used: altered or added"
                    )
                )
            elif (str(event.data.get("version")), str(event.data.get("effective_from"))) != (
                str(row.version),
                str(row.effective_from),
            ):
                problems.append(
                    ChainProblem(
                        event.id,
                        "version-altered",
                        f"{where} was first used as version {event.data.get('version')} effective "
                        f"{event.data.get('effective_from')} (event {event.id}): its number or date was altered",
                    )
                )
        problems += [
            ChainProblem(
                e.id,
                "version-missing",
                f"{which} version {e.data.get('version')} (hash {str(h)[:12]}…, first used: event {e.id}) is no "
                "longer in the store",
            )
            for h, e in events.items()
        ]
    return problems


def verify_runs(store: Store) -> list[ChainProblem]:
    """Hold every run's row — who ran it, what kind of run for which entity, how it ended — to the events
    that started and ended it: the sync log (`tokenbooks runs`, the console, the export) reads the rows.
    A `run.started` event without the run's params and entity (written by an older tokenbooks) names too
    little to hold its row to: that run is left out."""
    problems: list[ChainProblem] = []
    with store.unit_of_work() as uow:
        runs = uow.commitments.runs()
    for run_id, row, events in runs:
        started = next((e for e in events if e.kind == "run.started"), None)
        if started is not None and not {"params", "entity"} <= started.data.keys():
            continue
        if row is None:
            first = events[0]
            problems.append(
                ChainProblem(
                    first.id, "run-missing", f"run {run_id} (event {first.id}) is no longer in the store"
                )
            )
            continue
        where = f"run {run_id} ({row.kind} of {row.entity or 'no entity'}, by {row.actor})"
        if started is None:
            problems.append(ChainProblem(None, "run-altered", f"{where}: no event records that it started"))
            continue
        recorded = (started.actor, started.message, started.data.get("entity"))
        if recorded != (row.actor, f"{row.kind} started", row.entity):
            problems.append(
                ChainProblem(
                    started.id,
                    "run-altered",
                    f"{where} was started as {started.message.removesuffix(' started')} of "
                    f"{started.data.get('entity') or 'no entity'} by {started.actor} (event {started.id}): "
                    "its actor, kind or entity was altered",
                )
            )
        ended = next((e for e in reversed(events) if e.kind != "run.started"), None)
        status = "running" if ended is None else ended.data.get("status", "abandoned")
        if row.status != status:
            said = f"(event {ended.id})" if ended is not None else "(no event ended it)"
            problems.append(
                ChainProblem(
                    ended.id if ended is not None else started.id,
                    "run-altered",
                    f"{where} ended {status} {said}, but the store now says {row.status}",
                )
            )
    return problems


def verify_books(store: Store) -> tuple[int, list[ChainProblem]]:
    """Compare every journal, line, contribution, posting and approval in the store with what the audit
    chain committed and recorded for it; returns how many journals were checked and each difference,
    named (store/commitments.py). A journal in the store that no event committed was put there behind the
    log: the next sync would post it. Journals stored before the chain committed any (ids below the first
    committed one: a store older than the commitments) are not held to it."""
    problems: list[ChainProblem] = []
    with store.unit_of_work() as uow:
        stored = uow.commitments.digests()
        committed, posted = uow.commitments.committed(), uow.commitments.posted()
        approved = uow.commitments.approved()
        first_committed = uow.commitments.first_committed_id()
    for (entity, key), (row, _) in sorted(stored.items()):
        if (entity, key) not in committed and first_committed is not None and row.id > first_committed:
            problems.append(
                ChainProblem(
                    None,
                    "journal-added",
                    f"journal {key} of {entity} ({row.status}, dated {row.txn_date}) is in the store, but no "
                    "event committed it: it was added behind the audit log",
                )
            )
    for (entity, key), (event_id, expected) in sorted(committed.items()):
        where = f"journal {key} of {entity} (committed by event {event_id})"
        if (entity, key) not in stored:
            problems.append(ChainProblem(event_id, "journal-missing", f"{where} is no longer in the store"))
            continue
        row, actual = stored[(entity, key)]
        if actual.header != expected.header:
            problems.append(
                ChainProblem(
                    event_id,
                    "journal-altered",
                    f"{where} was altered: its date, kind, currency or memo changed",
                )
            )
        problems += [
            ChainProblem(event_id, "line-altered", f"{where}: line {number} was {change}")
            for number, change in _line_changes(expected.lines, actual.lines)
        ]
        if expected.contributions is not None and actual.contributions != expected.contributions:
            problems.append(
                ChainProblem(
                    event_id,
                    "contributions-altered",
                    f"{where}: what it adds to its posting buckets (the lineage, and what the next plan counts "
                    "as already posted) was altered, added or deleted",
                )
            )
        problems += _posting_problems(where, row, posted.get((entity, key)))
        problems += _approval_problems(where, row, approved.get((entity, key)))
    return len(committed), problems


def verify_facts(store: Store) -> tuple[int, list[ChainProblem], list[str]]:
    """Hold every provider day's current facts to the digests the chain last committed for it (one
    `facts.committed` event per window stored: store/commitments.py): returns how many facts were checked,
    each fact altered, deleted or added behind the log (named with its source, account and day), and the
    days nothing vouches for: stored before the chain committed any facts (a store older than the
    commitments), which are not held to it; a fact above the highest id of that time is, though."""
    problems: list[ChainProblem] = []
    legacy: dict[tuple[str, str], list[date]] = {}
    checked = 0
    with store.unit_of_work() as uow:
        first_top = uow.commitments.facts_first_top()
        # a day at a time, in the order of the events that committed them: never the store's whole
        # commitments at once (they grew by a month's digests a month: 350 MB at a million facts)
        for (source, account, day), expected, current in uow.commitments.fact_days():
            where = f"facts of {source} ({account}) on {day}"
            actual, ids = current or ({}, {})
            checked += len(actual)
            if expected is None:
                added = sorted(k for k, i in ids.items() if first_top is not None and i > first_top)
                if not added:
                    legacy.setdefault((source, account), []).append(day)
                problems += [
                    ChainProblem(
                        None,
                        "fact-added",
                        f"{where}: fact {key} (id {ids[key]}) is in the store, but no event committed its day: "
                        "it was added behind the audit log",
                    )
                    for key in added
                ]
                continue
            event_id, digests = expected
            if current is not None or digests:
                problems += _fact_changes(
                    f"{where} (committed by event {event_id})", event_id, digests, actual, ids
                )
    notes = [
        f"{source} ({account}): {len(days)} day(s) of facts ({min(days)} to {max(days)}) were stored before "
        "the audit chain committed facts: not vouched for"
        for (source, account), days in sorted(legacy.items())
    ]
    return checked, problems, notes


def verify_payloads(store: Store) -> list[ChainProblem]:
    """Hold every raw provider payload a stored window was read from — what the lineage shows behind a
    fact, with its sha256 — to the sha256 the window's `facts.committed` event recorded for it."""
    with store.unit_of_work() as uow:
        committed = uow.commitments.payloads_committed()
        stored = uow.commitments.payload_hashes(committed)
    problems = []
    for payload_id, (event_id, expected) in sorted(committed.items()):
        where = f"raw payload {payload_id} (committed by event {event_id}, sha256 {expected[:12]}…)"
        if payload_id not in stored:
            problems.append(ChainProblem(event_id, "payload-missing", f"{where} is no longer in the store"))
            continue
        source, said, actual = stored[payload_id]
        if actual != expected or said != expected:
            part = "body" if actual != expected else "recorded sha256"
            problems.append(
                ChainProblem(
                    event_id,
                    "payload-altered",
                    f"{where} of {source}: its {part} was altered after it was stored",
                )
            )
    return problems


def verify_allocations(store: Store, *, window: int = 10_000) -> tuple[list[ChainProblem], list[str]]:
    """Hold every fact's stored allocations — the rule, mapping version, category, account and share the
    lineage shows — to the digest the chain last committed for them (`allocations.committed`, appended by
    each plan that rewrote them); allocations of facts stored before the chain committed any are not
    vouched for (a store older than the commitments), and are counted in a note, not named. Read `window`
    fact ids at a time: a store of a million facts a month is verified in bounded memory."""
    problems: list[ChainProblem] = []
    with store.unit_of_work() as uow:
        first_top = uow.commitments.allocations_first_top()
        differing: list[tuple[int, int | None, str]] = []
        legacy = 0
        for committed, stored in uow.commitments.allocation_windows(window):
            for fact_id in sorted(
                stored.keys() | {i for i, (_, digest) in committed.items() if digest != EMPTY}
            ):
                event_id, expected = committed.get(fact_id, (None, None))
                actual, rules = stored.get(fact_id, (EMPTY, ()))
                if expected is None and (first_top is None or fact_id <= first_top):
                    legacy += 1
                elif expected is None:
                    differing.append(
                        (
                            fact_id,
                            None,
                            "are in the store, but no event committed them: added behind the audit log",
                        )
                    )
                elif actual != expected:
                    now = f"now rule(s) {', '.join(rules)}" if rules else "now none"
                    differing.append(
                        (
                            fact_id,
                            event_id,
                            f"were altered, added or deleted after the plan stored them ({now})",
                        )
                    )
        labels = uow.commitments.fact_labels(i for i, _, _ in differing)
    for fact_id, event_id, change in differing:
        where = labels.get(fact_id, f"fact id {fact_id} (no longer in the store)")
        by = f" (committed by event {event_id})" if event_id is not None else ""
        problems.append(
            ChainProblem(event_id, "allocations-altered", f"the allocations of {where}{by} {change}")
        )
    notes = (
        [
            f"the allocations of {legacy} fact(s) were stored before the audit chain committed allocations: not vouched for"
        ]
        if legacy and first_top is not None
        else []
    )
    return problems, notes


def _fact_changes(
    where: str, event_id: int | None, expected: dict[str, str], actual: dict[str, str], ids: dict[str, int]
) -> list[ChainProblem]:
    """Each fact of a day that differs from its commitment: altered, no longer current, or added."""
    problems = []
    for key in sorted(expected.keys() | actual.keys()):
        if key not in actual:
            change = "is no longer current in the store: it was deleted or superseded behind the audit log"
            problems.append(ChainProblem(event_id, "fact-missing", f"{where}: fact {key} {change}"))
        elif key not in expected:
            change = "is in the store, but the event did not commit it: it was added behind the audit log"
            problems.append(
                ChainProblem(event_id, "fact-added", f"{where}: fact {key} (id {ids[key]}) {change}")
            )
        elif expected[key] != actual[key]:
            change = (
                "was altered after it was stored: its amount, currency, quantity, days, dimensions, "
                "account or version no longer match"
            )
            problems.append(
                ChainProblem(event_id, "fact-altered", f"{where}: fact {key} (id {ids[key]}) {change}")
            )
    return problems


def unvouched(uow: UnitOfWork, journal_ids: Sequence[int]) -> dict[int, str]:
    """Of these journals, those the audit chain does not vouch for — never committed (added behind the
    log), or altered since (a line, a contribution, the header) — id → why; the poster refuses them rather
    than send the ledger what no plan booked. Journals older than the commitments are not held to them.

    Reads the commitment index rows of these journals and the events they name, nothing else of the log
    (store/commitments.py): its cost does not grow with history. An index row naming an event that does not
    commit the journal, or a missing row for a journal stored after the chain began committing, refuses it."""
    if not journal_ids:
        return {}
    first_committed = uow.commitments.first_committed_id()
    if first_committed is None:
        return {}
    stored = uow.commitments.digests(journal_ids)
    committed = uow.commitments.journal_commitments(stored)
    found: dict[int, str] = {}
    for (entity, key), (row, actual) in stored.items():
        event_id, expected = committed.get((entity, key), (None, None))
        if event_id is None and row.id > first_committed:
            found[row.id] = "no event of the audit chain committed it: it was added behind the audit log"
        elif event_id is not None and expected is None:
            found[row.id] = (
                f"the commitment index names event {event_id}, which does not commit it: the index or the "
                "event was edited behind the audit log (run `tokenbooks audit verify`)"
            )
        elif expected is not None and (
            expected.header != actual.header
            or expected.lines != actual.lines
            or expected.contributions not in (None, actual.contributions)
        ):
            found[row.id] = (
                f"it differs from what event {event_id} committed: it was altered behind the audit log"
            )
    return found


@dataclass(frozen=True, slots=True)
class RefusedFactDay:
    """A provider day whose current facts differ from what the audit chain last committed for it: the plan
    reads nothing of it (`FactVouching`)."""

    source: str
    account: str
    day: date  # the provider's (UTC) day, as the commitments name it
    posting_day: date  # the entity's posting day being planned when it was found
    why: str

    def describe(self) -> str:
        return f"{self.source} ({self.account}) {self.day}: {self.why}"


class FactAltered(Exception):
    """Raised by `FactVouching.check` for a chunk of facts its provider day's commitment does not vouch for
    (control flow: the plan leaves that posting day as it was last planned)."""

    def __init__(self, refused: list[RefusedFactDay]) -> None:
        super().__init__("; ".join(r.describe() for r in refused))
        self.refused = refused


FactDay = tuple[str, str, date]  # (source, provider account, provider day)
Commitment = tuple[int | None, dict[str, str] | None]  # the event, and the day's digests it holds


class FactVouching:
    """Holds the facts a plan reads to the commitment of their provider day (`facts.committed`, found by
    the commitment index: store/commitments.py) before the plan books from them: a fact altered, added or
    deleted behind the log (`UPDATE facts SET amount=…`) would otherwise become a delta journal no provider
    answer explains, which the poster would post (the journal itself freshly committed).

    Only what the plan reads is digested — from the rows it reads anyway, and each provider day's current
    natural keys (one indexed query per day) to see a deleted fact. A posting day whose kept sums stand
    is not read, so not checked: nothing is planned from its facts (`audit verify` checks every day).
    Days stored before the chain committed facts are not held to it, as `verify_facts` holds them: a fact
    at or below the first commitment's highest fact id on a day the index names no event for — there only,
    the events are read (once a plan) to tell such a day from one whose index row was deleted."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.first_top = uow.commitments.facts_first_top()
        self._days: dict[FactDay, tuple[Commitment, set[str]]] = {}
        self._whole: dict[FactDay, str] = {}  # a day's problem as a whole ("": none), found once a day
        self._in_the_log: dict[FactDay, int] | None = None  # read only for an unindexed old fact

    def check(self, chunk: Sequence[StoredFact], posting_day: date) -> None:
        """Raise FactAltered naming each provider day of these facts that its commitment does not vouch for."""
        if self.first_top is None:  # the chain has committed no facts yet: nothing to hold them to
            return
        self._forget_before(posting_day)
        where = [(s.fact.source, s.fact.provider_account, s.fact.charge_date) for s in chunk]
        self._load({w for w in where if w not in self._days})
        problems: dict[FactDay, str] = {}
        for stored, day in zip(chunk, where, strict=True):
            if day not in problems:
                why = self._problem(day, stored)
                if why:
                    problems[day] = why
        self._refuse(problems, posting_day)

    def check_emptied(self, days: Iterable[FactDay], posting_day: date) -> None:
        """A posting day planned before that has no current fact now: raise FactAltered if one of the
        provider days it held facts of (`days`) lost them behind the log, not by a committed withdrawal."""
        if self.first_top is None:
            return
        self._load({d for d in days if d not in self._days})
        self._refuse({day: why for day in days if (why := self._problem(day, None))}, posting_day)

    @staticmethod
    def _refuse(problems: dict[FactDay, str], posting_day: date) -> None:
        if problems:
            raise FactAltered(
                [RefusedFactDay(*day, posting_day, why) for day, why in sorted(problems.items())]
            )

    def _forget_before(self, posting_day: date) -> None:
        """Let go of the provider days a plan, going day by day, has left behind (a posting day holds
        provider days at most a day either side of it): a month of digests is not held at once."""
        for day in [d for d in self._days if d[2] < posting_day - timedelta(days=2)]:
            del self._days[day]
            self._whole.pop(day, None)

    def _load(self, days: set[FactDay]) -> None:
        if not days:
            return
        commitments = self.uow.commitments.day_commitments(days)
        current = self.uow.commitments.current_keys(days)
        for day in days:
            self._days[day] = (commitments.get(day, (None, None)), current[day])

    def _problem(self, day: FactDay, stored: StoredFact | None) -> str:
        """Why the day's commitment does not vouch for its current facts ("": it does), `stored` among them
        (None: only its facts' keys are held to it)."""
        (event_id, digests), current = self._days[day]
        if event_id is None:
            if stored is not None and stored.id > (self.first_top or 0):
                return (
                    f"fact {stored.fact.natural_key} (id {stored.id}) is stored, but no commitment of its day "
                    "is indexed: it was added behind the audit log (or the commitment index was edited)"
                )
            self._days[day] = (self._logged(day), current)
            event_id, digests = self._days[day][0]
            if event_id is None:
                return ""  # stored before the chain committed facts: not held to it
        if day not in self._whole:
            self._whole[day] = _day_problem(event_id, digests, current)
        if self._whole[day] or stored is None or digests is None:
            return self._whole[day]
        if digests[stored.fact.natural_key] != digest_of_fact(stored.fact, None, stored.payload_id):
            return (
                f"fact {stored.fact.natural_key} (id {stored.id}) differs from what event {event_id} "
                "committed (its amount, currency, quantity, days, dimensions, account or version): altered "
                "behind the audit log"
            )
        return ""

    def _logged(self, day: FactDay) -> Commitment:
        """The day's last commitment as the events hold it (read once: only for a day the index names no
        event for, whose facts may be older than the commitments)."""
        if self._in_the_log is None:
            self._in_the_log = self.uow.commitments.day_committers()
        event_id = self._in_the_log.get(day)
        if event_id is None:
            return (None, None)
        return (event_id, self.uow.commitments.committed_by(event_id, day))


def _day_problem(event_id: int, digests: dict[str, str] | None, current: set[str]) -> str:
    """What is wrong with a provider day as a whole against the event the index names for it ("")."""
    if digests is None:
        return (
            f"the commitment index names event {event_id}, which does not commit this day: the index or "
            "the event was edited behind the audit log"
        )
    if current != digests.keys():
        gone, added = sorted(digests.keys() - current), sorted(current - digests.keys())
        named = f"fact {gone[0]} is no longer current" if gone else f"fact {added[0]} was added"
        return f"{named} since event {event_id} committed the day: changed behind the audit log"
    return ""


def _posting_problems(where: str, row: JournalRecord, booked: tuple[int, str] | None) -> list[ChainProblem]:
    """The journal's status and ledger id against the last posting event that found or created it."""
    if booked is None:
        if row.status == "posted":
            return [
                ChainProblem(
                    None,
                    "posting-altered",
                    f"{where} says it was posted as ledger id {row.ledger_id}, but no posting event records it",
                )
            ]
        return []
    event_id, ledger_id = booked
    if row.status == "posted" and row.ledger_id == ledger_id:
        return []
    if row.status == "posted":
        now = f"{row.ledger_id}"
    elif row.ledger_id is None:
        now = f"status {row.status!r} with no ledger id"
    else:
        now = f"status {row.status!r}, ledger id {row.ledger_id}"
    return [
        ChainProblem(
            event_id,
            "posting-altered",
            f"{where} was posted as ledger id {ledger_id} (event {event_id}), but the store now says {now}",
        )
    ]


def _approval_problems(
    where: str, row: JournalRecord, approval: tuple[int, str] | None
) -> list[ChainProblem]:
    """Who the store says released the journal against the `journal.approved` event that released it."""
    if approval is None:
        if row.approved_by is None:
            return []
        return [
            ChainProblem(
                None,
                "approval-altered",
                f"{where} says it was approved by {row.approved_by}, but no approval event records it",
            )
        ]
    event_id, approver = approval
    if row.approved_by == approver:
        return []
    return [
        ChainProblem(
            event_id,
            "approval-altered",
            f"{where} was approved by {approver} (event {event_id}), but the store now says "
            f"{row.approved_by or 'nobody'}",
        )
    ]


def _line_changes(expected: tuple[str, ...], actual: tuple[str, ...]) -> Iterator[tuple[int, str]]:
    for number in range(1, max(len(expected), len(actual)) + 1):
        if number > len(actual):
            yield number, "deleted"
        elif number > len(expected):
            yield number, "added"
        elif expected[number - 1] != actual[number - 1]:
            yield number, "altered (its account, amount or description changed)"


def _check_link(report: ChainReport, previous: EventRecord | None, row: EventRecord) -> None:
    expected = previous.hash if previous is not None else GENESIS_HASH
    if row.prev_hash == expected:
        return
    if previous is None:
        message = (
            f"event {row.id} is the first left but links to an earlier event: every event before it "
            "was deleted"
        )
        report.problems.append(ChainProblem(row.id, "missing", message))
    elif row.id - previous.id > 1:
        message = (
            f"event {row.id} links to an event that is no longer there: the event(s) between "
            f"{previous.id} and {row.id} were deleted"
        )
        report.problems.append(ChainProblem(row.id, "missing", message))
    else:
        message = (
            f"event {row.id} does not link to event {previous.id}: event {previous.id} was altered and "
            "its hash recomputed, or the chain was re-linked"
        )
        report.problems.append(ChainProblem(previous.id, "relinked", message))


def _check_head(report: ChainReport, last_id: int, last_hash: str, count: int) -> None:
    if last_id != (report.last_event_id or 0) or last_hash != report.head_hash:
        report.problems.append(
            ChainProblem(
                last_id or None,
                "truncated",
                f"the chain's head names event {last_id} (hash {last_hash[:12]}…) as the newest, but the "
                f"newest event left is {report.last_event_id}: the newest event(s) were deleted or altered",
            )
        )
    elif count != report.events and not any(p.problem == "missing" for p in report.problems):
        report.problems.append(
            ChainProblem(
                None,
                "missing",
                f"the chain's head counts {count} events but {report.events} are left: "
                f"{count - report.events} event(s) were deleted",
            )
        )


# ------------------------------------------------------------------------------------------------- trace


@dataclass(frozen=True, slots=True)
class TracedFact:
    id: int
    natural_key: str
    version: int
    is_current: bool
    source: str
    charge_date: date
    posting_date: date
    amount: Decimal
    currency: str
    cost_basis: str
    dimensions: dict
    pulled_at: datetime
    payload: PayloadDetail | None


@dataclass(frozen=True, slots=True)
class TracedAllocation:
    rule_id: str
    mapping_version: int
    category: str
    percent: Decimal
    amount: Decimal
    fact: TracedFact


@dataclass(frozen=True, slots=True)
class TracedBucket:
    bucket: Bucket
    contribution: Decimal  # what this journal adds to the bucket, in the journal's currency
    allocated: Decimal  # Σ allocations in the bucket now (exact; the desired amount rounds it once)
    allocations: tuple[TracedAllocation, ...]
    allocated_currency: str = ""  # the facts' currency: the provider's, on books kept in another
    converted_from: str = ""  # the currency the contribution was computed in, when it was converted
    source_amount: Decimal | None = None  # the contribution in that currency


@dataclass(frozen=True, slots=True)
class TracedLine:
    line_no: int
    account: str
    amount: Decimal
    description: str
    balancing: bool  # the counter line (e.g. Accrued AI costs) that balances every bucket of the journal
    buckets: tuple[TracedBucket, ...]


@dataclass(frozen=True, slots=True)
class TracedInvoice:
    """The provider's invoice for a provider account and month a traced bucket belongs to (None: no
    invoice imported for it yet)."""

    provider: str
    provider_account: str
    period: str  # YYYY-MM
    number: str | None
    issue_date: date | None = None
    total: Decimal | None = None
    currency: str = ""
    source: str = ""


@dataclass(frozen=True, slots=True)
class Trace:
    entity: str
    key: str
    kind: str
    txn_date: date
    status: str
    ledger_id: str | None
    memo: str
    lines: tuple[TracedLine, ...]
    currency: str = ""  # the journal's: every line and contribution is in it
    invoices: tuple[TracedInvoice, ...] = ()  # per provider account and month of the traced buckets


def entity_of_key(store: Store, key: str, entities: Sequence[str], default: str) -> str:
    """The entity whose outbox holds journal `key`, for a command given a key and no entity.

    Each entity's ledger numbers its own journals, so two companies both have a TB-AC-261001-001: a key
    held by several entities is refused, naming them, rather than read as the default entity's (an auditor
    would follow another company's lineage); a key held by one entity is that entity's; else the default.
    """
    with store.unit_of_work() as uow:
        holders = [e for e in entities if uow.outbox.by_key(e, key) is not None]
    if len(holders) > 1:
        raise InputError(
            f"journal {key} exists in {len(holders)} entities ({', '.join(holders)}): each ledger numbers its "
            "own journals",
            fix=f"name the company whose ledger shows it: --entity {' or --entity '.join(holders)}",
        )
    return holders[0] if holders else default


def trace(
    store: Store, *, entity: str, key: str, line: int | None = None, policies: PolicyHistory | None = None
) -> Trace:
    """From a journal (or one of its lines) back to the raw provider payloads behind it; `policies` say
    which usage days each bucket sums (a monthly accrual sums its month; without them, its own day)."""
    with store.unit_of_work() as uow:
        stored = uow.outbox.by_key(entity, key)
        if stored is None:
            raise InputError(
                f"no journal {key!r} for entity {entity!r} in the outbox",
                fix="use a key as printed by `tokenbooks sync` or shown in the ledger's DocNumber/narration",
            )
        journal = stored.journal
        if line is not None and not 1 <= line <= len(journal.lines):
            raise InputError(f"journal {key} has lines 1..{len(journal.lines)}; there is no line {line}")
        category_targets = {c.bucket.target for c in journal.contributions}
        lines = []
        for number, ln in enumerate(journal.lines, start=1):
            if line is not None and number != line:
                continue
            balancing = ln.target not in category_targets
            contributions = [c for c in journal.contributions if balancing or c.bucket.target == ln.target]
            buckets = tuple(
                _bucket(uow, c, policies.bucket_days(c.bucket) if policies else None) for c in contributions
            )
            lines.append(TracedLine(number, ln.target.key(), ln.amount, ln.description, balancing, buckets))
        invoices = invoices_billing(uow, entity, [b.bucket for ln in lines for b in ln.buckets])
    return Trace(
        entity,
        key,
        journal.kind.value,
        journal.txn_date,
        stored.status,
        stored.ledger_id,
        journal.memo,
        tuple(lines),
        journal.currency,
        invoices,
    )


def invoices_billing(uow: UnitOfWork, entity: str, buckets: Sequence[Bucket]) -> tuple[TracedInvoice, ...]:
    """The invoices that bill what these buckets hold: one per provider account and month (an account and
    month with none imported yet is listed without a number, so the trace and the lineage page say so)."""
    wanted = sorted({(b.provider, b.provider_account, f"{b.period:%Y-%m}") for b in buckets})
    found = []
    for provider, account, period in wanted:
        billed = [
            i
            for i in uow.invoices.for_period(entity, period)
            if (i.provider, i.provider_account) == (provider, account)
        ]
        found += [
            TracedInvoice(provider, account, period, i.number, i.issue_date, i.total, i.currency, i.source)
            for i in billed
        ] or [TracedInvoice(provider, account, period, None)]
    return tuple(found)


def _bucket(uow: UnitOfWork, contribution: Contribution, days: list[date] | None) -> TracedBucket:
    bucket = contribution.bucket
    allocations = []
    facts: dict[int, TracedFact] = {}
    for row in uow.allocations.for_bucket(bucket, days):
        if row.fact_id not in facts:
            facts[row.fact_id] = _fact(uow, row.fact_id)
        allocations.append(
            TracedAllocation(
                row.rule_id, row.mapping_version, row.category, row.percent, row.amount, facts[row.fact_id]
            )
        )
    allocated = sum((a.amount for a in allocations), ZERO)
    currencies = sorted({a.fact.currency for a in allocations})
    return TracedBucket(
        bucket,
        contribution.amount,
        allocated,
        tuple(allocations),
        allocated_currency=", ".join(currencies) or contribution.converted_from or bucket.currency,
        converted_from=contribution.converted_from,
        source_amount=contribution.source_amount,
    )


def _fact(uow: UnitOfWork, fact_id: int) -> TracedFact:
    row = uow.facts.get(fact_id)
    if row is None:  # allocations reference facts by foreign key, so this is a damaged store
        raise InputError(f"allocation refers to fact {fact_id}, which is not in the store")
    payload = uow.raw.detail(row.raw_payload_id) if row.raw_payload_id else None
    return TracedFact(
        id=fact_id,
        natural_key=row.natural_key,
        version=row.version,
        is_current=row.is_current,
        source=row.source,
        charge_date=row.charge_date,
        posting_date=row.posting_date,
        amount=row.amount,
        currency=row.currency,
        cost_basis=row.cost_basis,
        dimensions=row.dimensions,
        pulled_at=row.pulled_at,
        payload=payload,
    )

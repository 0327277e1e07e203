"""A child `tokenbooks` process for tests: the real CLI, wired by `build_app` to fakes that live in files.

    python -m tests.service.harness CONFIG.json sync --json

Settings come from the environment as in production (TOKENBOOKS_DATABASE_URL, TOKENBOOKS_MAPPING_FILE …).
CONFIG names the provider facts (a scripted source) and a ledger file that every process shares: a
`MemoryLedger` whose state is loaded and saved under a file lock around each call, and which logs every
create, so a test can see a journal created twice. It can also hold each post until a file appears
(`hold_until`), stop dead after N creates (`hang_after`, writing `marker` first) for SIGKILL tests, or
fail writes as a MemoryLedger's scripted `faults` do (a JSON list, e.g. `["fail"]`), in write requests of
`journals_per_request` journals.
"""

from __future__ import annotations

import fcntl
import json
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

from connector.domain.journals import Journal
from connector.ledgers.memory import MemoryLedger
from connector.ledgers.port import LedgerJournal, LedgerLine, PostRequest, PostResult
from tests.service.conftest import ACCOUNTS, CHART_OPTIONS, ScriptedSource
from tests.support import fact


class FileLedger(MemoryLedger):
    """A MemoryLedger shared by processes through a JSON file."""

    def __init__(
        self,
        path: Path,
        *,
        hold_until: Path | None = None,
        hang_after: int | None = None,
        marker: Path | None = None,
    ) -> None:
        super().__init__(ACCOUNTS, options=CHART_OPTIONS)
        self.path, self.hold_until, self.hang_after, self.marker = path, hold_until, hang_after, marker
        self.created_here = 0

    @contextmanager
    def _shared(self) -> Iterator[dict]:
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            state = (
                json.loads(self.path.read_text()) if self.path.exists() else {"journals": {}, "creates": []}
            )
            self.journals = {k: _journal_from(v) for k, v in state["journals"].items()}
            self._next_id = len(state["creates"]) + 1
            yield state
            state["journals"] = {k: _journal_to(j) for k, j in self.journals.items()}
            self.path.write_text(json.dumps(state))

    def find(self, key: str) -> LedgerJournal | None:
        with self._shared():
            return super().find(key)

    def find_many(self, keys: Sequence[str]) -> dict[str, LedgerJournal]:
        with self._shared():
            return super().find_many(keys)

    def read_back(self, first_day: date, last_day: date) -> list[LedgerJournal]:
        with self._shared():
            return super().read_back(first_day, last_day)

    def post(self, requests: Sequence[PostRequest]) -> list[PostResult]:
        if self.hold_until is not None and self.marker is not None:
            self.marker.write_text("holding")  # the test knows the run is inside the ledger call now
        while self.hold_until is not None and not self.hold_until.exists():
            time.sleep(0.05)
        return super().post(requests)

    def _post_one(self, journal: Journal) -> PostResult:
        with self._shared() as state:
            result = super()._post_one(journal)
            state["creates"].append({"key": journal.key, "outcome": result.outcome.value})
        self.created_here += 1
        if self.hang_after is not None and self.created_here >= self.hang_after:
            if self.marker:
                self.marker.write_text(journal.key)
            time.sleep(3600)  # the answer never comes back: the test kills us here
        return result


def _journal_to(j: LedgerJournal) -> dict:
    return {
        "key": j.key,
        "ledger_id": j.ledger_id,
        "txn_date": j.txn_date.isoformat(),
        "memo": j.memo,
        "lines": [[ln.account, str(ln.amount), ln.description] for ln in j.lines],
    }


def _journal_from(d: dict) -> LedgerJournal:
    return LedgerJournal(
        d["key"],
        d["ledger_id"],
        date.fromisoformat(d["txn_date"]),
        tuple(LedgerLine(a, Decimal(amount), text) for a, amount, text in d["lines"]),
        memo=d["memo"],
    )


def write_config(path: Path, *, facts: list[tuple[str, str]], ledger: Path, **options: object) -> Path:
    """facts: (amount, YYYY-MM-DD) pairs for the support project."""
    path.write_text(
        json.dumps({"facts": facts, "ledger": str(ledger), **{k: str(v) for k, v in options.items()}})
    )
    return path


def main(argv: list[str]) -> None:
    config = json.loads(Path(argv[0]).read_text())
    source = ScriptedSource(facts=[fact(amount, date.fromisoformat(day)) for amount, day in config["facts"]])
    ledger = FileLedger(
        Path(config["ledger"]),
        hold_until=Path(config["hold_until"]) if config.get("hold_until") else None,
        hang_after=int(config["hang_after"]) if config.get("hang_after") else None,
        marker=Path(config["marker"]) if config.get("marker") else None,
    )
    ledger.faults.extend(json.loads(config.get("faults", "[]")))  # scripted ledger faults, one per write
    if config.get("journals_per_request"):  # smaller write requests: a run posts in several batches
        ledger.journals_per_request = int(config["journals_per_request"])

    import connector.bootstrap as bootstrap

    real_build_app = bootstrap.build_app

    def build_app(settings=None, **kwargs):
        return real_build_app(settings, ledgers={"acme-us": ledger}, sources=[source], sleep=lambda _: None)

    bootstrap.build_app = build_app
    from connector.cli import app

    app(argv[1:], prog_name="tokenbooks")


if __name__ == "__main__":
    main(sys.argv[1:])

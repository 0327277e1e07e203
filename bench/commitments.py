"""Benchmark: the poster's audit check (`service/audit.py: unvouched`) after a year of nights.

Before it posts, the poster asks whether the audit chain vouches for each pending journal. A store holds
a year of nights' commitments (`journals.committed` events, `--journals` journals each, written as a plan
writes them: with their commitment-index rows) and one night's pending journals; the check of that
night's journals is timed, CPU seconds, median of `--repeat`, each in a fresh unit of work.

The store is built once by this checkout (`--build FILE`); `--measure FILE` times the check with whichever
checkout is on PYTHONPATH, so one store compares two versions of the check (an older one reads the
events, not the index):

    python -m bench.commitments --build /tmp/c.db [--nights 365] [--journals 30]
    PYTHONPATH=<checkout> python -m bench.commitments --measure /tmp/c.db   (run from that checkout)

Without either, it builds a store in a temporary folder and measures this checkout on it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from connector.domain.journals import Bucket, Contribution, Journal, JournalKind, JournalLine, LedgerTarget
from connector.service.audit import unvouched
from connector.store.db import create_schema, make_engine
from connector.store.unit_of_work import UnitOfWork

ENTITY = "acme-us"
START = date(2025, 12, 1)


def journal(day: date, number: int) -> Journal:
    """An ordinary nightly accrual: one category line, one balancing line, one bucket."""
    expense, accrued = LedgerTarget("5010"), LedgerTarget("2150")
    amount = Decimal(f"{10 + number}.25")
    bucket = Bucket(ENTITY, JournalKind.USAGE_ACCRUAL, day, "openai", f"org-{number}", expense, "USD")
    return Journal(
        key=f"TB-AC-{day:%y%m%d}-{number:03d}",
        entity=ENTITY,
        kind=JournalKind.USAGE_ACCRUAL,
        txn_date=day,
        currency="USD",
        lines=(JournalLine(expense, amount, "accrual"), JournalLine(accrued, -amount, "accrual")),
        memo="OpenAI usage accrual",
        contributions=(Contribution(bucket, amount),),
    )


def build(path: str, nights: int, per_night: int) -> list[int]:
    """A store with `nights` nights of committed journals; returns the last night's (pending) ids."""
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    ids: list[int] = []
    for night in range(nights):
        day = START + timedelta(days=night)
        now = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        with UnitOfWork(engine) as uow:
            ids = [
                uow.outbox.add(journal(day, n), ledger="quickbooks", run_id=None, now=now)
                for n in range(per_night)
            ]
            uow.commitments.commit_journals(ENTITY, ids, run_id=None, now=now)
            uow.commit()
    engine.dispose()
    return ids


def measure(path: str, ids: list[int], repeat: int) -> dict:
    engine = make_engine(f"sqlite:///{path}")
    seconds = []
    for _ in range(repeat):
        with UnitOfWork(engine) as uow:
            started = time.process_time()
            refused = unvouched(uow, ids)
            seconds.append(time.process_time() - started)
        assert refused == {}, refused
    engine.dispose()
    return {"journals": len(ids), "cpu_median_s": statistics.median(seconds), "cpu_s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", metavar="FILE", help="build the store (this checkout) into FILE")
    parser.add_argument("--measure", metavar="FILE", help="time the check on the store in FILE")
    parser.add_argument("--nights", type=int, default=365)
    parser.add_argument("--journals", type=int, default=30, help="journals committed a night")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if not (args.build or args.measure):
        with tempfile.TemporaryDirectory() as folder:
            store = str(Path(folder) / "commitments.db")
            ids = build(store, args.nights, args.journals)
            print(json.dumps(measure(store, ids, args.repeat)))
        return
    if args.build:
        ids = build(args.build, args.nights, args.journals)
        with open(f"{args.build}.ids", "w") as out:
            json.dump(ids, out)
    if args.measure:
        with open(f"{args.measure}.ids") as given:
            ids = json.load(given)
        print(json.dumps(measure(args.measure, ids, args.repeat)))


if __name__ == "__main__":
    main()

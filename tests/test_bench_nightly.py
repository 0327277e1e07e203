"""The nightly-sync benchmark, run small: it keeps working as the code changes, and its targets hold
at any size — a month posts one journal per day in ceil(journals / n) write calls (n: what one write
carries, QuickBooks 30 a batch, Xero 50 a PUT), a night with no new data writes nothing, and late data
corrects only the days it touched. (Its speed and memory targets — ratios to the floor, to the quiet night,
the peak of each ledger's own process — are the benchmark's to report at a million facts; at this size they
measure start-up, so they are only checked to be reported.)"""

from __future__ import annotations

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from bench import nightly_sync


def test_the_nightly_benchmark_at_a_small_size_meets_its_targets_on_both_ledgers():
    figures = nightly_sync.run(facts=3_100)
    assert set(figures["ledgers"]) == {"quickbooks", "xero"}
    for ledger, result in figures["ledgers"].items():
        first, month_quiet, quiet, late = result["runs"]
        assert {run["status"] for run in result["runs"]} == {"succeeded"}
        writes = {"quickbooks": 2, "xero": 1}[ledger]  # 31 journals: 30 + 1 a batch; one PUT of 31
        assert (first["facts"], first["journals"], first["writes"]) == (3_100, 31, writes)
        assert (month_quiet["facts"], month_quiet["journals"], month_quiet["writes"]) == (3_100, 0, 0)
        # as scheduled: the last day and the source's three days of lag, 100 facts a day
        assert (quiet["facts"], quiet["journals"], quiet["writes"]) == (400, 0, 0)
        assert late["facts"] > quiet["facts"]  # the same window, its late days restated and grown
        assert all(run["cpu_seconds"] > 0 for run in result["runs"])
        assert (late["journals"], late["writes"]) == (3, 1)  # the three late days, corrected in one batch
        assert result["meets_targets"]
        assert 0 < result["peak_memory_mb"] < 1000  # its own process's, reported
    assert set(figures["speed_targets"]) == {"late_to_quiet", "first_run_to_floor", "peak_memory"}
    assert figures["storing_floor_seconds"] > 0
    assert figures["storing_floor"].startswith("sqlite3")
    assert len(figures["load_average"]["before"]) == 3
    assert "late data" in nightly_sync.report(figures)


def test_the_storing_floor_is_measured_on_the_backend_the_nights_use(database_url):
    """The floor is the same plain write on each backend: executemany into SQLite, COPY into
    PostgreSQL — and leaves nothing behind in the database it measured."""
    floor = nightly_sync.storing_floor(nightly_sync.SyntheticCosts(3_100), database_url)
    assert floor["seconds"] > 0
    assert floor["cpu_seconds"] >= 0
    backend = make_url(database_url).get_backend_name()
    assert floor["how"].startswith({"sqlite": "sqlite3 executemany", "postgresql": "psycopg COPY"}[backend])
    if backend == "postgresql":
        engine = create_engine(make_url(database_url).set(drivername="postgresql+psycopg"))
        with engine.connect() as connection:
            assert [t for t in inspect(connection).get_table_names() if t.startswith("bench_floor")] == []
        engine.dispose()

"""A warehouse table configured in settings (`TOKENBOOKS_WAREHOUSE__<NAME>__…`) pulled by the real pull
service (issue 16): its facts are stored under its bookmark, the lag window is read again every run and a
restated row versions its fact, a re-run stores nothing new, the query's cost is in the run's events,
and a bad row refuses the window with nothing stored."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from connector.bootstrap import build_app
from connector.service.pull import pull_sources, sources_status
from connector.settings import Settings, WarehouseSettings
from connector.sources.base import Window
from connector.sources.warehouse.engines import AthenaEngine, BigQueryEngine, SnowflakeEngine
from connector.sources.warehouse.nightly import WarehouseSource
from tests.service.conftest import Clock
from tests.service.test_ingestion import make_app, stored_facts
from tests.sources.builders import focus_row
from tests.sources.warehouse_support import ACCOUNT, TABLE, warehouse_table
from tests.support import MINIMAL_MAPPING

FIRST, LAST = date(2026, 11, 2), date(2026, 11, 3)


def rows(cost_on_the_3rd: str = "2.50") -> list[dict]:
    return [
        focus_row("1.25", day=date(2026, 11, 2)),
        focus_row("0.75", day=date(2026, 11, 2), hour=5),
        focus_row(cost_on_the_3rd, day=date(2026, 11, 3)),
        focus_row("9.99", day=date(2026, 11, 3), account="999999999999"),  # another account's
    ]


def duckdb_section(database: Path, **more) -> WarehouseSettings:
    return WarehouseSettings(
        engine="duckdb", table=TABLE, account=ACCOUNT, database=str(database), lag_days=1, **more
    )


def app_on(database_url: str, tmp_path: Path, **settings):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MINIMAL_MAPPING)
    config = Settings(
        database_url=database_url, mapping_file=mapping, data_dir=tmp_path, _env_file=None, **settings
    )
    return build_app(config, clock=Clock(), sleep=lambda _: None)


def test_a_warehouse_in_settings_is_pulled_stored_once_and_restated(
    tmp_path: Path, database_url: str
) -> None:
    database = tmp_path / "exports.duckdb"
    warehouse_table(rows(), tmp_path, str(database)).close()
    app = app_on(database_url, tmp_path, warehouse={"billing": duckdb_section(database)})
    [source] = app.sources("acme-us")
    assert isinstance(source, WarehouseSource)
    assert source.name == "warehouse.billing"
    first = pull_sources(app, entity="acme-us", since=FIRST, until=LAST)
    assert first.status == "succeeded", first.reason
    stored = stored_facts(app)
    assert sorted(amount for _key, amount, *_ in stored) == [2, 2.5]  # 1.25 + 0.75 on the 2nd
    with app.store.unit_of_work() as uow:
        [query] = [e for e in uow.events.for_run(first.run_id) if e.kind == "pull.query"]
    assert query.data["engine"] == "duckdb"
    [status] = sources_status(app.store, app.sources("acme-us"))
    assert (status.source, status.bookmark) == (f"warehouse.billing:{ACCOUNT}", "2026-11-03")

    again = pull_sources(app, entity="acme-us", since=FIRST, until=LAST)
    assert (again.pulls[0].replaced.inserted, again.pulls[0].replaced.restated) == (0, 0)
    assert stored_facts(app) == stored

    database.unlink()
    warehouse_table(rows("2.75"), tmp_path, str(database)).close()  # the provider restated the 3rd
    nightly = pull_sources(app, entity="acme-us", until=LAST)  # from the bookmark, minus the lag day
    assert nightly.pulls[0].window.first_day == FIRST  # the day after the bookmark is past `until`: lag
    assert (nightly.pulls[0].replaced.inserted, nightly.pulls[0].replaced.restated) == (0, 1)
    assert sorted(amount for _key, amount, *_ in stored_facts(app)) == [2, 2.75]


def test_a_bad_row_refuses_the_window_and_stores_nothing(tmp_path: Path) -> None:
    database = tmp_path / "bad.duckdb"
    warehouse_table(
        [*rows(), focus_row("1", day=FIRST, BillingCurrency="usd?")], tmp_path, str(database)
    ).close()
    app = make_app(tmp_path, "bad.db", warehouse={"billing": duckdb_section(database)})
    run = pull_sources(app, entity="acme-us", since=FIRST, until=LAST)
    assert run.status == "failed"
    assert "warehouse.billing" in run.reason
    assert "BillingCurrency" in run.reason
    assert stored_facts(app) == []
    [status] = sources_status(app.store, app.sources("acme-us"))
    assert status.bookmark is None
    assert "BillingCurrency" in status.last_error


def test_each_engine_is_built_from_its_section_without_connecting(tmp_path: Path) -> None:
    sections = {
        "vertex": WarehouseSettings(
            engine="bigquery", table="proj.billing.focus", account="01-AB", project="proj"
        ),
        "bedrock": WarehouseSettings(
            engine="athena", table="cur.cur2", account="111", flavour="cur-2.0", region="us-east-1"
        ),
        "loaded": WarehouseSettings(
            engine="snowflake",
            table="BILLING.PUBLIC.FOCUS",
            account="acct",
            snowflake_account="org-acct",
            user="TOKENBOOKS",
            password="pw",
        ),
    }
    app = make_app(tmp_path, "engines.db", warehouse=sections)
    found = {source.name: source for source in app.sources("acme-us")}
    assert isinstance(found["warehouse.vertex"].warehouse, BigQueryEngine)
    assert found["warehouse.vertex"].provider == "gcp"
    assert isinstance(found["warehouse.bedrock"].warehouse, AthenaEngine)
    assert found["warehouse.bedrock"].dataset.services == ("AmazonBedrock",)
    assert isinstance(found["warehouse.loaded"].warehouse, SnowflakeEngine)


def test_a_first_pull_starts_on_the_sections_start_date(tmp_path: Path) -> None:
    database = tmp_path / "start.duckdb"
    warehouse_table(rows(), tmp_path, str(database)).close()
    section = duckdb_section(database, start_date=date(2026, 11, 3))
    app = make_app(tmp_path, "start.db", warehouse={"billing": section})
    run = pull_sources(app, entity="acme-us", until=LAST)
    assert run.pulls[0].window.first_day == date(2026, 11, 2)  # the start date, less the lag day


def test_the_bytes_athena_scanned_are_in_the_runs_events(tmp_path: Path) -> None:
    from botocore.stub import Stubber

    from tests.sources.test_warehouse_athena import SCANNED, client, engine, expect_query
    from tests.sources.warehouse_support import source_on

    athena = client()
    source = source_on(engine(athena))
    source.entity = "acme-us"
    window = Window(FIRST, LAST).with_lag(source.lag_days)  # what the pull service asks for
    app = make_app(tmp_path, "athena.db", sources=[source])
    with Stubber(athena) as stub:
        expect_query(stub, warehouse_table(rows(), tmp_path), source.queries(window)[0], "q-9")
        run = pull_sources(app, entity="acme-us", since=FIRST, until=LAST)
    assert run.status == "succeeded", run.reason
    with app.store.unit_of_work() as uow:
        [query] = [e for e in uow.events.for_run(run.run_id) if e.kind == "pull.query"]
    assert query.data["bytes_scanned"] == SCANNED
    assert query.data["query_execution_id"] == "q-9"
    assert f"scanned {SCANNED:,} bytes" in query.message


def test_duckdb_over_parquet_files_through_setup_statements(tmp_path: Path) -> None:
    """ENGINE=duckdb with SETUP: a view over Parquet (an export in object storage, here a local file)."""
    parquet = tmp_path / "focus.parquet"
    table = warehouse_table(rows(), tmp_path)
    table.execute(f"COPY billing.focus_export TO '{parquet}' (FORMAT parquet)")
    table.close()
    setup = ["CREATE SCHEMA billing", f"CREATE VIEW {TABLE} AS SELECT * FROM read_parquet('{parquet}')"]
    section = WarehouseSettings(engine="duckdb", table=TABLE, account=ACCOUNT, setup=setup, lag_days=0)
    app = make_app(tmp_path, "parquet.db", warehouse={"exports": section})
    run = pull_sources(app, entity="acme-us", since=FIRST, until=LAST)
    assert run.status == "succeeded", run.reason
    assert sorted(amount for _key, amount, *_ in stored_facts(app)) == [2, 2.5]


def test_a_sync_books_the_warehouse_facts_to_the_cent(tmp_path: Path) -> None:
    """`tokenbooks sync` pulls the warehouse like any source and posts what it pulled: unmapped Bedrock
    spend lands in suspense, balanced by the accrual, to the cent of the window's rows."""
    from connector.ledgers.memory import MemoryLedger
    from connector.service.sync import sync
    from tests.service.conftest import ACCOUNTS
    from tests.support import CHART_OPTIONS

    database = tmp_path / "sync.duckdb"
    warehouse_table(rows(), tmp_path, str(database)).close()
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MINIMAL_MAPPING)
    config = Settings(
        database_url=f"sqlite:///{tmp_path / 'sync.db'}",
        mapping_file=mapping,
        data_dir=tmp_path,
        _env_file=None,
        warehouse={"billing": duckdb_section(database)},
    )
    ledger = MemoryLedger(ACCOUNTS, options=CHART_OPTIONS)
    clock = Clock()
    clock.night_after(LAST)
    app = build_app(config, clock=clock, ledgers={"acme-us": ledger}, sleep=lambda _: None)
    result = sync(app, entity="acme-us", since=FIRST, until=LAST)
    assert result.status == "succeeded", result.reason
    assert ledger.balance("6190") == Decimal("4.50")  # 1.25 + 0.75 + 2.50 of the account, nothing else
    assert ledger.balance("2150") == Decimal("-4.50")

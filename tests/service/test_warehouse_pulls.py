"""A warehouse table configured in settings (`TOKENBOOKS_WAREHOUSE__<NAME>__…`) pulled by the real pull
service (issue 16): its facts are stored under its bookmark, the lag window is read again every run and a
restated row versions its fact, a re-run stores nothing new, the query's cost is in the run's events,
and a bad row refuses the day it is charged on, the other days being stored."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from connector.bootstrap import build_app
from connector.service.pull import pull_sources, sources_status
from connector.settings import Settings, WarehouseSettings
from connector.sources.base import Window, bookmark_id
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
    section = duckdb_section(database, restates="lag_days")  # the lag window alone (see below)
    app = app_on(database_url, tmp_path, warehouse={"billing": section})
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


def facts_by_day(app) -> dict[date, Decimal]:
    totals: dict[date, Decimal] = {}
    with app.store.unit_of_work() as uow:
        for stored in uow.facts.current("acme-us"):
            day = stored.fact.charge_date
            totals[day] = totals.get(day, Decimal(0)) + stored.fact.amount
    return totals


def test_a_bad_row_refuses_its_day_until_corrected_and_the_other_days_are_stored(
    tmp_path: Path, database_url: str
) -> None:
    """A realistic run of nights (lag 1 day, no billing-period window): the provider restates the 3rd with
    a bad row among its rows and adds the 4th. The night stores the 4th, keeps the 3rd as stored before and
    moves the bookmark back before it, so that the 3rd is read again on every later night (the lag alone
    would have left it behind), until the row is corrected."""
    database = tmp_path / "exports.duckdb"
    warehouse_table(rows(), tmp_path, str(database)).close()
    section = duckdb_section(database, restates="lag_days")
    app = app_on(database_url, tmp_path, warehouse={"billing": section})
    assert pull_sources(app, entity="acme-us", since=FIRST, until=LAST).status == "succeeded"
    assert facts_by_day(app) == {FIRST: Decimal("2.00"), LAST: Decimal("2.50")}

    fourth = date(2026, 11, 4)
    bad = focus_row("1", day=LAST, hour=7, BillingCurrency="usd?")
    database.unlink()
    warehouse_table([*rows("2.60"), bad, focus_row("4.00", day=fourth)], tmp_path, str(database)).close()
    night = pull_sources(app, entity="acme-us", until=fourth)
    assert night.status == "partial"
    [pulled] = night.pulls
    assert (pulled.window.first_day, pulled.refused_days) == (LAST, {LAST})
    assert "warehouse.billing: 1 day(s) refused" in night.reason
    assert "BillingCurrency" in night.reason
    assert "charged 2026-11-03" in night.reason
    assert facts_by_day(app) == {FIRST: Decimal("2.00"), LAST: Decimal("2.50"), fourth: Decimal("4.00")}
    [status] = sources_status(app.store, app.sources("acme-us"))
    assert (status.bookmark, status.refused_days) == ("2026-11-02", (LAST,))  # moved back from the 3rd
    assert "BillingCurrency" in (status.last_error or "")
    with app.store.unit_of_work() as uow:
        [event] = [e for e in uow.events.for_run(night.run_id) if e.kind == "pull.refused_days"]
    assert (event.level, event.data["days"], event.data["problem_count"]) == ("error", ["2026-11-03"], 1)

    fifth = date(2026, 11, 5)
    still = pull_sources(app, entity="acme-us", until=fifth)
    assert still.pulls[0].window.first_day == FIRST  # from the bookmark, minus the lag: the 3rd is in it
    assert (still.status, still.pulls[0].refused_days) == ("partial", {LAST})

    database.unlink()  # the provider corrects the row
    corrected = focus_row("1", day=LAST, hour=7)
    warehouse_table(
        [*rows("2.60"), corrected, focus_row("4.00", day=fourth)], tmp_path, str(database)
    ).close()
    fixed = pull_sources(app, entity="acme-us", until=fifth)
    assert fixed.status == "succeeded", fixed.reason
    assert facts_by_day(app) == {FIRST: Decimal("2.00"), LAST: Decimal("3.60"), fourth: Decimal("4.00")}
    [status] = sources_status(app.store, app.sources("acme-us"))
    assert (status.bookmark, status.refused_days, status.last_error) == ("2026-11-05", (), None)


def test_each_engine_is_built_from_its_section_without_connecting(tmp_path: Path) -> None:
    sections = {
        "vertex": WarehouseSettings(
            engine="bigquery", table="proj.billing.focus", account="01-AB", project="proj"
        ),
        "bedrock": WarehouseSettings(
            engine="athena", table="cur.cur2", account="111", flavour="cur-2.0", region="us-east-1"
        ),
        "gemini": WarehouseSettings(
            engine="bigquery",
            table="proj.billing.gcp_billing_export_v1_01_AB",
            account="01-AB",
            flavour="gcp-standard",
            project="proj",
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
    # Claude 4.x and other Marketplace-listed models are billed under product codes of their own
    assert found["warehouse.bedrock"].dataset.services == (
        "AmazonBedrock",
        "AmazonBedrockFoundationModels",
        "AmazonBedrockService",
    )
    assert not found["warehouse.bedrock"].dataset.reads_doubles()  # unless DOUBLE_AMOUNTS says so
    gemini = found["warehouse.gemini"].dataset
    assert (gemini.services, gemini.reads_doubles()) == (("Vertex AI",), True)  # the flavour's defaults
    assert isinstance(found["warehouse.loaded"].warehouse, SnowflakeEngine)


def test_a_first_pull_starts_on_the_sections_start_date(tmp_path: Path) -> None:
    database = tmp_path / "start.duckdb"
    warehouse_table(rows(), tmp_path, str(database)).close()
    section = duckdb_section(database, start_date=date(2026, 11, 3))
    app = make_app(tmp_path, "start.db", warehouse={"billing": section})
    run = pull_sources(app, entity="acme-us", until=LAST)
    # the start date itself: not the lag day before it, which would book a day the section excludes
    assert run.pulls[0].window.first_day == date(2026, 11, 3)
    with app.store.unit_of_work() as uow:
        assert uow.bookmarks.first_day(bookmark_id("warehouse.billing", ACCOUNT)) == date(2026, 11, 3)
    again = pull_sources(app, entity="acme-us", until=LAST)  # the lag reads again, down to the start date
    assert again.pulls[0].window.first_day == date(2026, 11, 3)


def test_the_bytes_athena_scanned_are_in_the_runs_events(tmp_path: Path) -> None:
    from botocore.stub import Stubber

    from tests.sources.test_warehouse_athena import SCANNED, client, engine, expect_query
    from tests.sources.warehouse_support import source_on

    athena = client()
    source = source_on(engine(athena))
    source.entity = "acme-us"
    # what the pull service asks for: the open billing months (November, and October until the 5th)
    window = Window(date(2026, 10, 1), LAST)
    assert source.restated_from(LAST) == window.first_day
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


def month_rows(
    november_20th: str = "3.00",
    october_15th: str = "1.00",
    november_2nd: str = "2.00",
    november_28th: bool = True,
) -> list[dict]:
    """A bill in the making: a charge in October, charges through November (the 28th's only once it
    has happened), one of another account."""
    found = [
        focus_row(october_15th, day=date(2026, 10, 15)),
        focus_row(november_2nd, day=date(2026, 11, 2)),
        focus_row(november_20th, day=date(2026, 11, 20)),
        focus_row("9.99", day=date(2026, 11, 20), account="999999999999"),
    ]
    return found + ([focus_row("4.00", day=date(2026, 11, 28))] if november_28th else [])


def test_the_open_billing_period_is_read_again_and_restatements_post_as_deltas(tmp_path: Path) -> None:
    """A realistic month: the cloud restates the 20th on the 28th, and corrects November on December 3rd
    (before its bill is final on the 5th). Each night reads the open billing month(s) again, posts each
    restatement as the difference, and a night where nothing changed stores and posts nothing."""
    from connector.ledgers.memory import MemoryLedger
    from connector.service.sync import sync
    from tests.service.conftest import ACCOUNTS
    from tests.support import CHART_OPTIONS

    database = tmp_path / "month.duckdb"

    def table(**rows_of) -> None:
        database.unlink(missing_ok=True)
        warehouse_table(month_rows(**rows_of), tmp_path, str(database)).close()

    table(november_28th=False)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MINIMAL_MAPPING)
    config = Settings(
        database_url=f"sqlite:///{tmp_path / 'month.db'}",
        mapping_file=mapping,
        data_dir=tmp_path,
        _env_file=None,
        warehouse={"billing": duckdb_section(database)},  # RESTATES=billing_period, the default
    )
    ledger = MemoryLedger(ACCOUNTS, options=CHART_OPTIONS)
    clock = Clock()
    app = build_app(config, clock=clock, ledgers={"acme-us": ledger}, sleep=lambda _: None)

    def night(until: date):
        clock.night_after(until)
        result = sync(app, entity="acme-us", until=until)
        assert result.status == "succeeded", result.reason
        return result

    clock.night_after(date(2026, 11, 26))
    first = sync(app, entity="acme-us", since=date(2026, 10, 1), until=date(2026, 11, 26))
    assert first.status == "succeeded", first.reason
    assert ledger.balance("6190") == Decimal("6.00")  # 1 + 2 + 3 of the account
    posted = len(ledger.journals)

    table(november_20th="3.50")  # the cloud restated the 20th, eight days back: outside any lag window
    result = night(date(2026, 11, 28))
    [pull] = result.pulls
    assert pull.window.first_day == date(2026, 11, 1)  # the open billing month, not the 3 lag days
    assert (pull.replaced.inserted, pull.replaced.restated) == (1, 1)  # the 28th new, the 20th restated
    assert ledger.balance("6190") == Decimal("10.50")  # 1 + 2 + 3.50 + 4: the 20th's 0.50 as a delta

    assert len(ledger.journals) > posted
    journals_after_the_28th = dict(ledger.journals)
    quiet = night(date(2026, 11, 29))  # nothing changed: the month is read, nothing stored or posted
    assert quiet.pulls[0].window.first_day == date(2026, 11, 1)
    assert (quiet.pulls[0].replaced.inserted, quiet.pulls[0].replaced.restated) == (0, 0)
    assert ledger.journals == journals_after_the_28th

    # on December 3rd the cloud corrects November (its bill is not final before the 5th) and, too late,
    # October, whose bill is final: the first is read and posted as a delta, the second is not read
    table(november_20th="3.50", november_2nd="1.70", october_15th="0.80")
    december_3rd = night(date(2026, 12, 3))
    [pull] = december_3rd.pulls
    assert pull.window.first_day == date(2026, 11, 1)  # last month is still open before the 5th
    assert (pull.replaced.inserted, pull.replaced.restated) == (0, 1)
    assert ledger.balance("6190") == Decimal("10.20")  # November 2nd's -0.30 posted as a delta

    december_6th = night(date(2026, 12, 6))
    assert december_6th.pulls[0].window.first_day == date(2026, 12, 1)  # November's bill is final
    assert ledger.balance("6190") == Decimal("10.20")


def test_the_open_billing_period_by_night() -> None:
    from connector.sources.warehouse.nightly import open_billing_period

    assert open_billing_period(date(2026, 11, 28), 5) == date(2026, 11, 1)
    assert open_billing_period(date(2026, 12, 4), 5) == date(2026, 11, 1)
    assert open_billing_period(date(2026, 12, 5), 5) == date(2026, 12, 1)
    assert open_billing_period(date(2027, 1, 1), 5) == date(2026, 12, 1)  # across the year
    assert open_billing_period(date(2026, 3, 31), 1) == date(2026, 3, 1)  # FINAL_AFTER_DAY=1: this month only


def test_a_tag_routes_warehouse_spend_out_of_suspense(tmp_path: Path) -> None:
    """Tags are read by default: a rule on a tag (a team's project) books its spend to AI COGS; untagged
    spend stays in suspense. The same tags written in another key order and spacing are the same facts."""
    from connector.ledgers.memory import MemoryLedger
    from connector.service.sync import sync
    from tests.service.conftest import ACCOUNTS
    from tests.support import CHART_OPTIONS

    database = tmp_path / "tags.duckdb"
    tagged = [
        focus_row("1.25", day=FIRST, tags='{"project": "assistant", "team": "support"}'),
        focus_row("0.75", day=FIRST, hour=5, tags='{"team":"support",  "project":"assistant"}'),
        focus_row("2.50", day=LAST, tags=""),
    ]
    warehouse_table(tagged, tmp_path, str(database)).close()
    mapping = tmp_path / "mapping.yaml"
    rule = '  - id: assistant\n    when: {"tag:project": assistant}\n    category: cogs\n'
    mapping.write_text(MINIMAL_MAPPING.replace("rules:\n", "rules:\n" + rule))
    config = Settings(
        database_url=f"sqlite:///{tmp_path / 'tags.db'}",
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
    assert ledger.balance("5010") == Decimal("2.00")  # the tagged 1.25 + 0.75, one bucket
    assert ledger.balance("6190") == Decimal("2.50")  # untagged: suspense
    assert ledger.balance("2150") == Decimal("-4.50")
    facts = [f for f in stored_facts(app) if f[1] == Decimal("2.00")]
    assert len(facts) == 1

"""The conformance suite every source passes: OpenAI costs, OpenAI usage, Anthropic (cost + usage), FOCUS,
and a warehouse table pulled nightly (DuckDB as the engine).

Each source is driven through the real storage path (the pull service for APIs, the import service for
FOCUS files) with the same story: a first pull, the same pull again, a restated day, bad input. Whatever
the provider, stored buckets keep stable natural keys, a re-pull replaces instead of doubling, amounts are
exact Decimals in upper-case ISO currencies, posting dates follow the entity's timezone, bad input is
refused (APIs) or quarantined (files) with a clear problem, and the raw payload is kept for lineage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import responses
from sqlalchemy import select
from sqlmodel import Session

from connector.domain.errors import InputError
from connector.domain.facts import posting_date_for_bucket, utc_day_bounds
from connector.domain.money import MINOR_UNITS
from connector.service.imports import import_focus
from connector.service.pull import pull_source
from connector.service.runs import RunRecorder, SilentReporter
from connector.sources.anthropic import COST_PATH, USAGE_PATH, AnthropicSource
from connector.sources.base import Window
from connector.sources.focus import FocusOptions
from connector.sources.openai import OpenAICostsSource
from connector.sources.openai_usage import OpenAIUsageSource
from connector.sources.prices import load_catalog
from connector.store.db import create_schema, make_engine
from connector.store.tables import FactRow, ImportRow, QuarantineRow, RawPayloadRow, UsageRow
from connector.store.unit_of_work import SqlStore
from tests.contracts import openai_schema_errors
from tests.sources.builders import (
    ANTHROPIC,
    FOCUS_COLUMNS,
    OPENAI,
    anthropic_bucket,
    anthropic_cost,
    anthropic_page,
    anthropic_usage,
    client,
    focus_csv,
    focus_row,
    openai_bucket,
    openai_completions,
    openai_cost,
    openai_page,
)

D1, D2 = date(2026, 10, 1), date(2026, 10, 2)
WINDOW = Window(D1, D2)


class Ctx:
    def __init__(self, tmp_path: Path) -> None:
        self.engine = make_engine(f"sqlite:///{tmp_path / 'conformance.db'}")
        create_schema(self.engine)
        self.store = SqlStore(self.engine)
        self.actor = "test"
        self.tmp_path = tmp_path

    def clock(self) -> datetime:
        return datetime(2026, 10, 3, 2, 0, tzinfo=UTC)


@dataclass
class Scenario:
    name: str
    table: type  # where its buckets are stored: FactRow or UsageRow
    file_based: bool = False
    warehouse: bool = False  # its problems name rows, its pages are queries (`engine:query`)

    def ingest(self, ctx: Ctx, variant: str, timezone: str = "America/New_York") -> None:
        raise NotImplementedError


class ApiScenario(Scenario):
    def ingest(self, ctx: Ctx, variant: str, timezone: str = "America/New_York") -> None:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            self.serve(mock, variant)
            source = self.source(timezone)
            recorder = RunRecorder(
                ctx.store, ctx.clock, actor="test", kind="pull", entity="acme-us", params={}
            )
            pull_source(
                source,
                WINDOW,
                store=ctx.store,
                recorder=recorder,
                clock=ctx.clock,
                reporter=SilentReporter(),
            )


class OpenAICosts(ApiScenario):
    def source(self, timezone):
        return OpenAICostsSource(client(OPENAI), organization="org-1", entity="acme-us", timezone=timezone)

    def serve(self, mock, variant):
        second = {"first": 2.5, "restated": 3.75, "bad": "NaN"}[variant]  # JSON numbers, read as Decimals
        pages = [
            openai_page(
                openai_bucket(D1, openai_cost(1.25), openai_cost(0.5, line_item="gpt-4.1, output")),
                next_page="p2",
            ),
            openai_page(openai_bucket(D2, openai_cost(second))),
        ]
        for page in pages:
            if variant != "bad":
                assert openai_schema_errors(page) == []
            mock.get(f"{OPENAI}/organization/costs", json=page)


class OpenAIUsage(ApiScenario):
    def source(self, timezone):
        return OpenAIUsageSource(
            client(OPENAI),
            organization="org-1",
            entity="acme-us",
            timezone=timezone,
            endpoints=("completions",),
        )

    def serve(self, mock, variant):
        second = {"first": 500, "restated": 900, "bad": "lots"}[variant]
        page = openai_page(
            openai_bucket(D1, openai_completions(1000, 200)),
            openai_bucket(D2, openai_completions(2000, second)),
        )
        if variant != "bad":
            assert openai_schema_errors(page) == []
        mock.get(f"{OPENAI}/organization/usage/completions", json=page)


class Anthropic(ApiScenario):
    def source(self, timezone):
        return AnthropicSource(
            client(ANTHROPIC),
            organization="org-1",
            entity="acme-us",
            timezone=timezone,
            catalog=load_catalog(),
        )

    def serve(self, mock, variant):
        second = {"first": "250", "restated": "375.5", "bad": 2.5}[variant]
        mock.get(
            ANTHROPIC + COST_PATH,
            json=anthropic_page(
                anthropic_bucket(D1, anthropic_cost("123.78912")),
                anthropic_bucket(D2, anthropic_cost(second)),
            ),
        )
        later = anthropic_usage("k1", uncached=3000 if variant == "restated" else 1500)
        mock.get(
            ANTHROPIC + USAGE_PATH,
            json=anthropic_page(
                anthropic_bucket(D1, anthropic_usage("k1"), anthropic_usage("k2")),
                anthropic_bucket(D2, later),
            ),
        )


class Focus(Scenario):
    def ingest(self, ctx: Ctx, variant: str, timezone: str = "America/New_York") -> None:
        second = {"first": "2.50", "restated": "3.75", "bad": "$2.50"}[variant]
        rows = [focus_row("1.25", hour=h) for h in range(2)] + [focus_row(second, day=D2)]
        path = focus_csv(ctx.tmp_path / f"export-{variant}.csv", rows)
        import_focus(ctx, [path], FocusOptions(entity="acme-us", timezone=timezone))


class Warehouse(ApiScenario):
    """A table of text columns (a landing table, Athena over CSV): a bad amount is read by the importer's
    row loop and refuses the window."""

    def serve(self, mock, variant):
        import duckdb

        second = {"first": "2.50", "restated": "3.75", "bad": "$2.50"}[variant]
        rows = [focus_row("1.25", hour=h) for h in range(2)] + [focus_row(second, day=D2)]
        path = focus_csv(self.tmp_path / f"table-{variant}.csv", rows)
        self.connection = duckdb.connect()
        self.connection.execute("CREATE SCHEMA billing")
        self.connection.execute(
            f"CREATE TABLE billing.focus_export AS SELECT * FROM read_csv('{path}', all_varchar = true)"
        )

    def source(self, timezone):
        from connector.retrying import RetryPolicy, no_sleep
        from connector.sources.warehouse.engines import DuckDBWarehouse
        from connector.sources.warehouse.nightly import Dataset, WarehouseSource

        return WarehouseSource(
            DuckDBWarehouse(connection=self.connection),
            Dataset("billing.focus_export", columns=tuple(FOCUS_COLUMNS), timestamps_as_text=True),
            name="billing",
            provider="aws",
            account="123456789012",
            entity="acme-us",
            timezone=timezone,
            retry=RetryPolicy(1, sleep=no_sleep),
        )


SCENARIOS = [
    OpenAICosts("openai.costs", FactRow),
    OpenAIUsage("openai.usage", UsageRow),
    Anthropic("anthropic (cost)", FactRow),
    Anthropic("anthropic (usage)", UsageRow),
    Focus("focus", FactRow, file_based=True),
    Warehouse("warehouse", FactRow, warehouse=True),
]


def current(ctx: Ctx, table) -> list:
    with Session(ctx.engine) as session:
        return list(session.exec(select(table).where(table.is_current.is_(True))).scalars())


def day_of(row) -> date:
    return row.charge_date if isinstance(row, FactRow) else row.usage_date


def measure(row) -> Decimal:
    return (
        row.amount
        if isinstance(row, FactRow)
        else sum((Decimal(v) for v in row.metrics.values()), Decimal(0))
    )


@pytest.fixture
def ctx(tmp_path: Path) -> Ctx:
    Warehouse.tmp_path = tmp_path  # where the warehouse scenario writes its table's rows
    return Ctx(tmp_path)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_natural_keys_are_stable_and_a_same_pull_changes_nothing(scenario: Scenario, ctx: Ctx):
    scenario.ingest(ctx, "first")
    first = sorted((r.natural_key, r.version, r.id) for r in current(ctx, scenario.table))
    scenario.ingest(ctx, "first")
    second = sorted((r.natural_key, r.version, r.id) for r in current(ctx, scenario.table))
    assert first
    assert first == second
    assert len({k for k, _, _ in first}) == len(first)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_a_restated_day_replaces_and_never_doubles(scenario: Scenario, ctx: Ctx):
    scenario.ingest(ctx, "first")
    before = {r.natural_key: measure(r) for r in current(ctx, scenario.table)}
    scenario.ingest(ctx, "restated")
    after = current(ctx, scenario.table)
    assert {r.natural_key for r in after} == set(before)  # the same buckets, not more
    restated = [r for r in after if measure(r) != before[r.natural_key]]
    assert restated
    assert all(day_of(r) == D2 and r.version == 2 for r in restated)
    with Session(ctx.engine) as session:
        history = (
            session.exec(select(scenario.table).where(scenario.table.natural_key == restated[0].natural_key))
            .scalars()
            .all()
        )
    assert sorted((h.version, h.is_current) for h in history) == [(1, False), (2, True)]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_amounts_are_exact_decimals_in_upper_case_iso_currencies(scenario: Scenario, ctx: Ctx):
    scenario.ingest(ctx, "first")
    for row in current(ctx, FactRow):
        assert isinstance(row.amount, Decimal)
        assert row.amount.is_finite()
        assert row.currency == row.currency.upper()
        assert row.currency in MINOR_UNITS
    for row in current(ctx, UsageRow):
        assert all(isinstance(Decimal(v), Decimal) for v in row.metrics.values())
    assert current(ctx, scenario.table)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
@pytest.mark.parametrize("timezone", ["America/New_York", "Pacific/Kiritimati"])
def test_posting_dates_follow_the_entity_timezone(scenario: Scenario, ctx: Ctx, timezone: str):
    scenario.ingest(ctx, "first", timezone=timezone)
    rows = current(ctx, scenario.table)
    assert rows
    for row in rows:
        assert row.posting_date == posting_date_for_bucket(*utc_day_bounds(day_of(row)), timezone)
    if timezone == "Pacific/Kiritimati":  # UTC+14: a UTC day's midpoint is the next local day
        assert all(row.posting_date == date.fromordinal(day_of(row).toordinal() + 1) for row in rows)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_bad_input_is_refused_or_quarantined_with_a_clear_problem(scenario: Scenario, ctx: Ctx):
    if scenario.file_based:
        scenario.ingest(ctx, "bad")
        [bad] = current_quarantine(ctx)
        assert (bad.location, bad.column) == ("row 4", "BilledCost")
        assert "$2.50" in bad.raw
        assert sum(r.amount for r in current(ctx, FactRow)) == Decimal("2.50")  # the good rows went on
        with Session(ctx.engine) as session:
            assert session.exec(select(ImportRow.status)).scalars().all() == ["partial"]
        return
    if scenario.warehouse:  # a bad row refuses the day it is charged on: the window's other days are stored
        scenario.ingest(ctx, "bad")
        assert {(day_of(r), r.amount) for r in current(ctx, FactRow)} == {(D1, Decimal("2.50"))}
        with ctx.store.unit_of_work() as uow:
            [mark] = uow.bookmarks.all()
        assert (mark.value, mark.refused_days) == (str(D1), (D2,))  # the next run reads the 2nd again
        assert "BilledCost" in (mark.last_error or "")
        return
    with pytest.raises(InputError) as caught:
        scenario.ingest(ctx, "bad")
    [problem] = caught.value.problems
    assert problem.location.startswith("page ")
    assert problem.field
    assert problem.message
    assert current(ctx, FactRow) == []
    assert current(ctx, UsageRow) == []


def current_quarantine(ctx: Ctx) -> list:
    with Session(ctx.engine) as session:
        return list(session.exec(select(QuarantineRow)).scalars())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_the_raw_payload_is_kept_for_every_bucket(scenario: Scenario, ctx: Ctx):
    scenario.ingest(ctx, "first")
    rows = current(ctx, scenario.table)
    with Session(ctx.engine) as session:
        for row in rows:
            payload = session.get(RawPayloadRow, row.raw_payload_id)
            assert payload is not None
            assert payload.sha256
            if scenario.file_based:
                assert '"sha256"' in payload.body
                assert "export-first.csv" in payload.body
            else:
                assert payload.body.startswith("{")
                assert payload.endpoint.startswith("duckdb:" if scenario.warehouse else "https://")

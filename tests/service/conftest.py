"""A tokenbooks wired with fakes: a scripted source, an in-memory ledger, a manual clock, and an empty
database on each backend (SQLite, and PostgreSQL when configured: see tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from connector.bootstrap import App, build_app
from connector.domain.facts import Fact
from connector.ledgers.memory import MemoryLedger
from connector.ledgers.port import LedgerAccount
from connector.settings import Settings
from connector.sources.base import PullResult, RawPage, Source, Window
from tests.support import CHART_OPTIONS, MINIMAL_MAPPING, fact

ACCOUNTS = [
    LedgerAccount(str(i), name, number)
    for i, (number, name) in enumerate(
        [
            ("5010", "AI COGS"),
            ("6110", "AI R&D"),
            ("6120", "AI S&M"),
            ("6130", "AI G&A"),
            ("2150", "Accrued AI costs"),
            ("6190", "AI spend suspense"),
        ],
        start=1,
    )
]


@dataclass
class ScriptedSource(Source):
    """A source whose provider data the test edits between runs."""

    facts: list[Fact] = field(default_factory=list)
    name: str = "openai.costs"
    provider: str = "openai"
    provider_account: str = "org-1"
    entity: str = "acme-us"
    lag_days: int = 3
    pulls: list[Window] = field(default_factory=list)
    broken: str | None = None
    # days whose rows fail a check, and why (as a warehouse refuses a row: `Problem.days`); the source
    # still gives their facts, which the pull service must not store
    refused: dict[date, str] = field(default_factory=dict)

    def pull(self, window: Window, progress=None) -> PullResult:
        self.pulls.append(window)
        result = PullResult(self.name, self.provider, self.provider_account, window)
        if self.broken:
            from connector.domain.errors import Problem

            result.problems.append(
                Problem(
                    "OpenAI Costs API (https://openai.test/v1/organization/costs)",
                    "page 1",
                    "data",
                    self.broken,
                    "retry later",
                )
            )
            return result
        result.facts = [f for f in self.facts if window.first_day <= f.charge_date <= window.last_day]
        for day, why in sorted(self.refused.items()):
            if window.first_day <= day <= window.last_day:
                from connector.domain.errors import Problem

                result.problems.append(
                    Problem(
                        "billing.focus_export",
                        f"row 7, charged {day}",
                        "BilledCost",
                        why,
                        "correct the row",
                        days=frozenset({day}),
                    )
                )
        result.pages = [
            RawPage(
                "https://openai.test/v1/organization/costs",
                {},
                "{}",
                tuple(f.natural_key for f in result.facts),
            )
        ]
        return result

    def set(
        self, amount: str, day: date, project: str = "proj_support_assistant", line_item: str = "out"
    ) -> None:
        new = fact(amount, day, project=project, line_item=line_item)
        self.facts = [f for f in self.facts if f.natural_key != new.natural_key] + [new]

    def withdraw(self, day: date, project: str = "proj_support_assistant", line_item: str = "out") -> None:
        """The provider no longer reports this bucket (a re-pull withdraws its fact)."""
        gone = fact("0", day, project=project, line_item=line_item).natural_key
        self.facts = [f for f in self.facts if f.natural_key != gone]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 10, 2, 2, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def night_after(self, day: date) -> None:
        self.now = datetime.combine(day + timedelta(days=1), time(2, 30), tzinfo=UTC)


@dataclass
class World:
    app: App
    source: ScriptedSource
    ledger: MemoryLedger
    clock: Clock
    mapping_path: Path


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    mapping_path = tmp_path / "mapping.yaml"
    mapping_path.write_text(MINIMAL_MAPPING)
    settings = Settings(
        database_url=database_url,
        mapping_file=mapping_path,
        data_dir=tmp_path,
        _env_file=None,
    )
    source = ScriptedSource()
    ledger = MemoryLedger(ACCOUNTS, options=CHART_OPTIONS)  # the sandbox company's classes and departments
    clock = Clock()
    app = build_app(
        settings, clock=clock, ledgers={"acme-us": ledger}, sources=[source], sleep=lambda _: None
    )
    yield World(app, source, ledger, clock, mapping_path)
    app.engine.dispose()


def ledger_total(ledger: MemoryLedger, account: str) -> Decimal:
    return ledger.balance(account)


def with_amount(f: Fact, amount: str) -> Fact:
    return replace(f, amount=Decimal(amount))


@pytest.fixture
def cli_world(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch):
    """The real command line over fakes (tests/service/cli_world.py), on each backend."""
    from tests.service.cli_world import cli_world_for

    yield from cli_world_for(tmp_path, database_url, monkeypatch)


def builds_counted(app) -> list[str]:
    """The entities whose sources the application builds from now on, one item a build (the real build)."""
    built: list[str] = []
    build = app.configured_sources

    def counted(entity: str):
        built.append(entity)
        return build(entity)

    app.configured_sources = counted
    return built

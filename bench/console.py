"""Benchmark: the web console's pages on a year of books, each timed through the real ASGI application.

A year of nightly syncs (365 runs, their events, journals and posting buckets — what the pages read) is
booked through the real `sync` into a MemoryLedger, with `--facts-per-day` provider cost lines a day
across 40 projects; then one day (the one the lineage page opens) carries the day's share of a million
facts a month (33,000 by default) in its posting buckets. Pages never read facts wholesale — they read
the outbox's buckets, runs and events, and a line's allocations a page at a time — so the rest of a
month's million facts changes nothing a page does; the nightly sync benchmark covers writing them.

Each page is requested through Starlette's test client, signed in, `--repeat` times, after the last
night's after-run step stored the close checklists; the median is reported against the target of 300 ms
a page. The overview and the reconciliation page are also timed once as the first view after the books
changed (the spend by month and the close checklist computed on the page, then stored).

    python -m bench.console [--facts-per-day N] [--day-facts N] [--repeat N] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from connector.bootstrap import build_app
from connector.domain.facts import Dimensions, Fact, natural_key
from connector.domain.users import Role
from connector.ledgers.memory import MemoryLedger
from connector.ledgers.port import LedgerAccount
from connector.service.after_run import after_run
from connector.service.sync import sync
from connector.service.users import add_user
from connector.settings import Settings
from connector.sources.base import PullResult, RawPage, Source, Window

TARGET_MS = 300
FIRST = date(2025, 11, 1)
DAYS = 365
MAPPING = """\
mapping_version: 1
effective_from: 2025-01-01
change_note: benchmark mapping
entities:
  acme-us: {ledger: quickbooks, currency: USD, timezone: UTC}
roles:
  ai_cogs: {quickbooks: "5010"}
  rnd: {quickbooks: "6110"}
  sales_marketing: {quickbooks: "6120"}
  g_and_a: {quickbooks: "6130"}
  accrued_ai_costs: {quickbooks: "2150"}
  suspense: {quickbooks: "6190"}
rules:
  - {id: product, when: {project: {glob: "proj_product_*"}}, category: cogs}
  - {id: eng, when: {project: {glob: "proj_eng_*"}}, category: rnd}
  - {id: growth, when: {project: {glob: "proj_growth_*"}}, category: sales_marketing}
  - {id: back-office, when: {project: {glob: "proj_ops_*"}}, category: g_and_a}
"""
ACCOUNTS = [
    LedgerAccount(str(i), name, number)
    for i, (number, name) in enumerate(
        [
            ("5010", "AI COGS"),
            ("6110", "AI R&D"),
            ("6120", "AI S&M"),
            ("6130", "AI G&A"),
            ("2150", "Accrued"),
            ("6190", "Suspense"),
        ],
        start=1,
    )
]
PROJECTS = [f"proj_{group}_{n}" for group in ("product", "eng", "growth", "ops", "misc") for n in range(8)]


@dataclass
class YearSource(Source):
    per_day: int
    heavy_day: date
    heavy_facts: int
    name: str = "openai.costs"
    provider: str = "openai"
    provider_account: str = "org-1"
    entity: str = "acme-us"
    lag_days: int = 0
    facts: dict[date, list[Fact]] = field(default_factory=dict)

    def day(self, day: date) -> list[Fact]:
        if day not in self.facts:
            count = self.heavy_facts if day == self.heavy_day else self.per_day
            self.facts[day] = [self._fact(day, n) for n in range(count)]
        return self.facts[day]

    @staticmethod
    def _fact(day: date, n: int) -> Fact:
        project = PROJECTS[n % len(PROJECTS)]
        line = f"line-{n}"
        return Fact(
            entity="acme-us",
            provider="openai",
            provider_account="org-1",
            charge_date=day,
            posting_date=day,
            amount=Decimal(f"{1 + n % 97}.{n % 100:02d}"),
            currency="USD",
            natural_key=natural_key("openai", "org-1", "costs", day, project, line),
            dimensions=Dimensions.of(project=project, line_item=line),
            source="openai.costs",
        )

    def pull(self, window: Window, progress=None) -> PullResult:
        result = PullResult(self.name, self.provider, self.provider_account, window)
        day = window.first_day
        while day <= window.last_day:
            result.facts += self.day(day)
            day += timedelta(days=1)
        result.pages = [
            RawPage(
                "https://api.openai.com/v1/organization/costs",
                {},
                "{}",
                tuple(f.natural_key for f in result.facts),
            )
        ]
        return result


class Clock:
    def __init__(self) -> None:
        self.now = datetime.combine(FIRST, datetime.min.time(), tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def build(folder: Path, per_day: int, day_facts: int) -> tuple:
    mapping = folder / "mapping.yaml"
    mapping.write_text(MAPPING)
    settings = Settings(
        database_url=f"sqlite:///{folder / 'tb.db'}", mapping_file=mapping, data_dir=folder, _env_file=None
    )
    heavy = FIRST + timedelta(days=DAYS - 5)
    source = YearSource(per_day, heavy, day_facts)
    clock = Clock()
    app = build_app(
        settings,
        clock=clock,
        ledgers={"acme-us": MemoryLedger(ACCOUNTS)},
        sources=[source],
        sleep=lambda _: None,
    )
    started = time.perf_counter()
    for offset in range(DAYS):
        day = FIRST + timedelta(days=offset)
        clock.now = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC).replace(hour=2)
        sync(app, entity="acme-us", since=day, until=day)
    add_user(app.store, clock, username="bench", role=Role.AUDITOR, by="bench", password="benchmark-password")
    return app, heavy, time.perf_counter() - started


def run(per_day: int = 200, day_facts: int = 33_000, repeat: int = 5) -> dict:
    from starlette.testclient import TestClient

    from connector.web.asgi import create_console

    with tempfile.TemporaryDirectory(prefix="tokenbooks-bench-console-") as folder:
        app, heavy, seconds = build(Path(folder), per_day, day_facts)
        client = TestClient(create_console(app, secret="bench"), base_url="http://bench.test")
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        client.post(
            "/login", data={"csrf_token": token, "username": "bench", "password": "benchmark-password"}
        )
        journals = client.get(f"/journals?period={heavy:%Y-%m}").text
        key = next(
            k
            for k in re.findall(r'href="/journals/(TB-AC-\d{6}-\w+)"', journals)
            if k[6:12] == f"{heavy:%y%m%d}"
        )
        pages = [
            "/",
            "/mappings",
            "/runs",
            f"/runs/{re.search(r'/runs/([0-9a-f-]{36})', client.get('/runs').text).group(1)}",  # type: ignore[union-attr]
            "/journals",
            f"/journals?period={heavy:%Y-%m}&status=posted&account=5010",
            f"/journals/{key}",
            f"/journals/{key}/lines/1",
            f"/reconciliation?period={heavy:%Y-%m}",
            "/audit",
            "/mappings/history",
            "/policies",
        ]
        stale = {}  # the first view after the books changed: its summaries computed on the page
        for path in ("/", f"/reconciliation?period={heavy:%Y-%m}"):
            _forget_summaries(app)
            stale[path] = round(_timed(client, path), 1)
        after_run(app, "acme-us")  # what the last nightly run does once it finished: the summaries stored
        timings = {}
        for path in pages:
            samples = [_timed(client, path) for _ in range(repeat)]
            timings[path] = round(statistics.median(samples), 1)
        return {
            "days": DAYS,
            "facts_per_day": per_day,
            "facts_on_the_traced_day": day_facts,
            "build_seconds": round(seconds, 1),
            "median_ms": timings,
            "first_view_after_a_change_ms": stale,
            "target_ms": TARGET_MS,
            "meets_targets": all(ms < TARGET_MS for ms in timings.values()),
        }


def _timed(client, path: str) -> float:
    started = time.perf_counter()
    answer = client.get(path)
    assert answer.status_code == 200, (path, answer.status_code)
    return (time.perf_counter() - started) * 1000


def _forget_summaries(app) -> None:
    from sqlalchemy import delete

    from connector.store.tables import ConsoleSummaryRow

    with app.store.unit_of_work() as uow:
        uow.session.execute(delete(ConsoleSummaryRow))
        uow.commit()


def report(result: dict) -> str:
    lines = [
        f"a year ({result['days']} nightly syncs, {result['facts_per_day']} facts a day; {result['facts_on_the_traced_day']:,} "
        f"facts on the traced day) booked in {result['build_seconds']} s; each page, median of the requests:"
    ]
    lines += [f"  {ms:>7.1f} ms  {path}" for path, ms in result["median_ms"].items()]
    lines.append("the first view after the books changed (its summaries computed on the page, then stored):")
    lines += [f"  {ms:>7.1f} ms  {path}" for path, ms in result["first_view_after_a_change_ms"].items()]
    lines.append(
        f"target: every page under {result['target_ms']} ms — {'met' if result['meets_targets'] else 'NOT met'}"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts-per-day", type=int, default=200)
    parser.add_argument("--day-facts", type=int, default=33_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.facts_per_day, args.day_facts, args.repeat)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0 if result["meets_targets"] else 1


if __name__ == "__main__":
    sys.exit(main())

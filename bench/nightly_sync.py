"""Benchmark: a full nightly sync for a large organisation, against the local QuickBooks sandbox.

A month of provider cost facts (1,000,000 by default: 31 days × projects × models × line items × API
keys), classified by a 200-rule mapping, planned and posted to the QuickBooks sandbox through the real
adapter (python-quickbooks over HTTP). Reported: wall time per stage, peak memory (max RSS), facts,
journals and the ledger API calls (`ledger.stats`). Then a second run with no new data, which must
make no write call.

    python -m bench.nightly_sync [--facts N] [--database-url URL] [--json]   (or all: python -m bench)

The source is synthetic and in-process (a million buckets over HTTP would measure the fake provider,
not tokenbooks). Xero: the adapter and its sandbox arrive with issue 6; `LEDGERS` below is where its
row goes.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as clock_time
from decimal import Decimal
from pathlib import Path

from pydantic import SecretStr

from connector.bootstrap import build_app
from connector.domain.facts import Dimensions, Fact, natural_key
from connector.domain.periods import Period
from connector.ledgers.tokens import MemoryVault
from connector.sandbox.quickbooks import QuickBooksSandbox
from connector.service.sync import SyncResult, sync
from connector.settings import QuickBooksSettings, Settings
from connector.sources.base import PullResult, RawPage, Window

MONTH = Period(2026, 10)
RULES = 200
MODELS = ("gpt-4.1", "gpt-4.1-mini", "o4-mini", "text-embedding-3-large")
LINE_ITEMS = ("input", "cached input", "output", "batch input", "batch output")
LEDGERS = ("quickbooks",)  # issue 6 adds "xero" (adapter + sandbox); the run below then loops over both
CATEGORIES = ("cogs", "rnd", "sales_marketing", "g_and_a")
CLASSES = ("Support Assistant", "Document Search", "Engineering", "Growth", "Back Office")


def mapping_text(rules: int = RULES) -> str:
    """A 200-rule mapping: one rule per project group, the last few by glob, everything else suspense."""
    lines = [
        "mapping_version: 1",
        "effective_from: 2026-01-01",
        "change_note: benchmark mapping",
        "entities:",
        "  acme-us: {ledger: quickbooks, currency: USD, timezone: America/New_York}",
        "roles:",
        '  ai_cogs: {quickbooks: "5010"}',
        '  rnd: {quickbooks: "6110"}',
        '  sales_marketing: {quickbooks: "6120"}',
        '  g_and_a: {quickbooks: "6130"}',
        '  accrued_ai_costs: {quickbooks: "2150"}',
        '  suspense: {quickbooks: "6190"}',
        "rules:",
    ]
    for n in range(rules):
        lines += [
            f"  - id: rule-{n:03d}",
            f"    when: {{project: proj_{n:03d}}}",
            f"    category: {CATEGORIES[n % len(CATEGORIES)]}",
            f"    quickbooks: {{class: {CLASSES[n % len(CLASSES)]}}}",
        ]
    return "\n".join(lines) + "\n"


@dataclass
class SyntheticCosts:
    """A provider reporting `facts` cost buckets over the month, the same figures on every pull."""

    facts: int
    name: str = "openai.costs"
    provider: str = "openai"
    provider_account: str = "org-bench"
    entity: str = "acme-us"
    lag_days: int = 3
    projects: int = RULES + 10  # ten projects no rule maps: suspense

    def __post_init__(self) -> None:
        """The provider's month, made once (outside the timed runs: it is the provider's work, not ours)."""
        per_day = math.ceil(self.facts / len(MONTH.days()))
        self.by_day = {day: [self._fact(day, i) for i in range(per_day)] for day in MONTH.days()}

    def pull(self, window: Window, progress=None) -> PullResult:
        result = PullResult(self.name, self.provider, self.provider_account, window)
        for day, facts in self.by_day.items():
            if window.first_day <= day <= window.last_day:
                result.facts += facts
                keys = tuple(f.natural_key for f in facts)
                result.pages.append(
                    RawPage("synthetic://costs", {"day": day.isoformat()}, '{"object": "page"}', keys)
                )
        result.received = len(result.facts)
        return result

    def _fact(self, day: date, i: int) -> Fact:
        project = f"proj_{i % self.projects:03d}"
        model, item = MODELS[(i // self.projects) % len(MODELS)], LINE_ITEMS[i % len(LINE_ITEMS)]
        key = f"key_{i // (self.projects * len(MODELS)):04d}"
        amount = Decimal(i % 997 + 1).scaleb(-4)  # 0.0001 .. 0.0997: exact, finer than cents
        return Fact(
            entity=self.entity,
            provider=self.provider,
            provider_account=self.provider_account,
            charge_date=day,
            posting_date=day,
            amount=amount,
            currency="USD",
            natural_key=natural_key(self.provider, self.provider_account, "costs", day, i),
            dimensions=Dimensions.of(project=project, model=model, line_item=item, api_key=key),
            source=self.name,
        )


@dataclass
class RunFigures:
    label: str
    seconds: float
    facts: int
    journals: int
    reads: int
    writes: int
    status: str


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def run(facts: int = 1_000_000, database_url: str | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="tokenbooks-bench-") as folder:
        return _run(Path(folder), facts, database_url)


def _run(folder: Path, facts: int, database_url: str | None) -> dict:
    sandbox = QuickBooksSandbox(folder / "qbo.json")
    url = sandbox.start()
    try:
        (folder / "mapping.yaml").write_text(mapping_text())
        settings = Settings(
            database_url=database_url or f"sqlite:///{folder / 'bench.db'}",
            mapping_file=folder / "mapping.yaml",
            data_dir=folder,
            quickbooks=QuickBooksSettings(
                client_id=sandbox.client_id,
                client_secret=SecretStr(sandbox.client_secret),
                base_url=url,
                discovery_url=f"{url}/.well-known/openid_configuration",
            ),
            _env_file=None,
        )
        vault = MemoryVault()
        _connect(sandbox, vault)
        now = datetime.combine(date(2026, 11, 1), clock_time(7, 30), tzinfo=UTC)
        app = build_app(settings, clock=lambda: now, vault=vault, sources=[SyntheticCosts(facts)])
        first = _timed("first run", app, facts)
        second = _timed("second run (no new data)", app, facts)
        journals = first.journals
        runs = [first, second]
        return {
            "meets_targets": second.writes == 0
            and first.writes <= math.ceil(journals / 30)
            and all(r.seconds < 60 for r in runs),
            "facts": facts,
            "rules": RULES,
            "journals": journals,
            "runs": [r.__dict__ for r in runs],
            "peak_memory_mb": round(max_rss_mb()),
            "targets": {
                "write_calls_at_most": math.ceil(journals / 30),
                "second_run_writes": 0,
                "seconds": 60,
            },
        }
    finally:
        sandbox.stop()


def _connect(sandbox: QuickBooksSandbox, vault: MemoryVault) -> None:
    from datetime import timedelta

    from connector.ledgers.tokens import TokenSet

    issued = sandbox.issue_tokens()
    vault.save(
        "quickbooks",
        "acme-us",
        TokenSet(
            access_token=issued["access_token"],
            refresh_token=issued["refresh_token"],
            access_expires_at=datetime.now(UTC) + timedelta(seconds=int(issued.get("expires_in", 3600))),
            company_id=sandbox.realm_id,
        ),
    )


def _timed(label: str, app, facts: int) -> RunFigures:
    ledger = app.ledger("acme-us")
    reads, writes = ledger.stats.read_calls, ledger.stats.write_calls
    started = time.perf_counter()
    result: SyncResult = sync(app, entity="acme-us", since=MONTH.first_day, until=MONTH.last_day)
    seconds = time.perf_counter() - started
    return RunFigures(
        label,
        round(seconds, 1),
        sum(p.facts for p in result.pulls),
        len(result.post.posted) if result.post else 0,
        ledger.stats.read_calls - reads,
        ledger.stats.write_calls - writes,
        result.status,
    )


def report(figures: dict) -> str:
    targets = figures["targets"]
    lines = [
        f"Nightly sync: {figures['facts']:,} cost facts, {figures['rules']} rules, {figures['journals']} journals"
    ]
    lines += [
        f"  {r['label']:<26} {r['seconds']:>7.1f} s  status {r['status']:<9} facts {r['facts']:>9,}  "
        f"journals {r['journals']:>3}  ledger calls: {r['reads']} read, {r['writes']} write"
        for r in figures["runs"]
    ]
    lines.append(f"  peak memory (max RSS)      {figures['peak_memory_mb']:,} MB")
    lines.append(
        f"  targets: ≤ {targets['write_calls_at_most']} write calls (ceil(journals / 30)), 0 writes on the "
        f"second run, < {targets['seconds']} s per run: {'met' if figures['meets_targets'] else 'NOT met'}"
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nightly_sync", description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=1_000_000, help="cost facts in the month")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temp folder")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = run(args.facts, args.database_url)
    print(json.dumps(figures, indent=2) if args.json else report(figures))
    return 0 if figures["meets_targets"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Benchmark: a full nightly sync for a large organisation, against the local QuickBooks sandbox.

A month of provider cost facts (1,000,000 by default: 31 days × projects × models × line items × API
keys), classified by a 200-rule mapping, planned and posted to the QuickBooks sandbox through the real
adapter (python-quickbooks over HTTP). Reported: wall time per run, peak memory (max RSS), facts,
journals and the ledger API calls (`ledger.stats`). Then a second run with no new data, which must
make no write call, and a third, an ordinary night of late data: the provider re-reports the trailing
days it may still change (`lag_days`), a hundredth of their buckets restated and a few new, and only the
journals of those days are corrected.

The floor beside them is the least any store must do with the month: write its facts as plain tuples
into an unindexed SQLite table (`sqlite3.executemany`, amounts and days as text), no classification,
no journals, no ledger. The first run is reported as a multiple of it.

    python -m bench.nightly_sync [--facts N] [--database-url URL] [--json]   (or all: python -m bench)

Both ledgers: the QuickBooks sandbox through python-quickbooks, and the Xero sandbox through
xero-python (on a manual clock: the adapter's pacing sleeps move it instead of waiting). The source is
synthetic and in-process (a million buckets over HTTP would measure the fake provider, not tokenbooks).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import resource
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from pathlib import Path

from pydantic import SecretStr

from connector.bootstrap import build_app
from connector.domain.facts import Dimensions, Fact, natural_key
from connector.domain.periods import Period
from connector.ledgers.tokens import MemoryVault, TokenManager, TokenSet
from connector.ledgers.xero.adapter import XeroLedger, xero_limiter
from connector.ledgers.xero.oauth import XeroOAuth
from connector.retrying import RetryPolicy
from connector.sandbox.common import ManualClock
from connector.sandbox.quickbooks import QuickBooksSandbox
from connector.sandbox.xero import XeroSandbox
from connector.service.sync import SyncResult, sync
from connector.settings import QuickBooksSettings, Settings
from connector.sources.base import PullResult, RawPage, Window

MONTH = Period(2026, 10)
RULES = 200
MODELS = ("gpt-4.1", "gpt-4.1-mini", "o4-mini", "text-embedding-3-large")
LINE_ITEMS = ("input", "cached input", "output", "batch input", "batch output")
LEDGERS = ("quickbooks", "xero")
ENTITIES = {"quickbooks": "acme-us", "xero": "acme-xero"}
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
        "  acme-xero: {ledger: xero, currency: USD, timezone: America/New_York}",
        "roles:",
        '  ai_cogs: {quickbooks: "5010", xero: "510"}',
        '  rnd: {quickbooks: "6110", xero: "611"}',
        '  sales_marketing: {quickbooks: "6120", xero: "612"}',
        '  g_and_a: {quickbooks: "6130", xero: "613"}',
        '  accrued_ai_costs: {quickbooks: "2150", xero: "2150"}',
        '  suspense: {quickbooks: "6190", xero: "619"}',
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

    def restate_trailing_days(self, share: Decimal = Decimal("0.01")) -> int:
        """Late data, as a provider sends it: in each of the last `lag_days` days, one bucket in
        1 / `share` gets a larger amount and as many new buckets appear. Returns the buckets changed."""
        every = int(1 / share)
        changed = 0
        for day in MONTH.days()[-self.lag_days :]:
            facts = self.by_day[day]
            restated = range(0, len(facts), every)
            for i in restated:
                facts[i] = dataclasses.replace(facts[i], amount=facts[i].amount + Decimal("0.0050"))
            new = [self._fact(day, len(facts) + n) for n in range(len(facts) // every)]
            facts += new
            changed += len(restated) + len(new)
        return changed

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
    """Both ledgers, each in a store of its own (or entities of their own in `database_url`)."""
    results, floor, provider_mb = {}, None, None
    for ledger in LEDGERS:
        before = current_rss_mb()
        # an account per entity: with --database-url both ledgers share one store, and one provider
        # account belongs to one entity
        source = SyntheticCosts(facts, entity=ENTITIES[ledger], provider_account=f"org-{ledger}")
        provider_mb = provider_mb or current_rss_mb() - before
        floor = floor or storing_floor(source)
        with tempfile.TemporaryDirectory(prefix=f"tokenbooks-bench-{ledger}-") as folder:
            results[ledger] = PASSES[ledger](Path(folder), source, database_url)
        results[ledger]["first_run_to_floor"] = round(results[ledger]["runs"][0]["seconds"] / floor, 1)
        del source
    return {
        "facts": facts,
        "rules": RULES,
        "storing_floor_seconds": round(floor, 1),
        "ledgers": results,
        "peak_memory_mb": round(max_rss_mb()),
        "provider_month_mb": round(provider_mb),
        "meets_targets": all(r["meets_targets"] for r in results.values()),
    }


def current_rss_mb() -> float:
    """The process's resident memory now (Linux), to tell the provider's month from tokenbooks' own."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def storing_floor(source: SyntheticCosts) -> float:
    """Seconds to write the month's facts as plain tuples into an unindexed SQLite table: the least any
    store must do with them (the first run stores, classifies, plans and posts them)."""
    with tempfile.TemporaryDirectory(prefix="tokenbooks-bench-floor-") as folder:
        connection = sqlite3.connect(Path(folder) / "floor.db")
        connection.execute("CREATE TABLE facts (key TEXT, day TEXT, amount TEXT, currency TEXT, dims TEXT)")
        started = time.perf_counter()
        connection.executemany(
            "INSERT INTO facts VALUES (?, ?, ?, ?, ?)",
            (
                (
                    f.natural_key,
                    f.posting_date.isoformat(),
                    str(f.amount),
                    f.currency,
                    repr(f.dimensions.items),
                )
                for facts in source.by_day.values()
                for f in facts
            ),
        )
        connection.commit()
        seconds = time.perf_counter() - started
        connection.close()
    return seconds


NIGHT = datetime.combine(date(2026, 11, 1), clock_time(7, 30), tzinfo=UTC)


def _settings(folder: Path, database_url: str | None, **ledger_settings: object) -> Settings:
    (folder / "mapping.yaml").write_text(mapping_text())
    return Settings(
        database_url=database_url or f"sqlite:///{folder / 'bench.db'}",
        mapping_file=folder / "mapping.yaml",
        data_dir=folder,
        _env_file=None,
        **ledger_settings,
    )


def _quickbooks(folder: Path, source: SyntheticCosts, database_url: str | None) -> dict:
    sandbox = QuickBooksSandbox(folder / "qbo.json")
    url = sandbox.start()
    try:
        settings = _settings(
            folder,
            database_url,
            quickbooks=QuickBooksSettings(
                client_id=sandbox.client_id,
                client_secret=SecretStr(sandbox.client_secret),
                base_url=url,
                discovery_url=f"{url}/.well-known/openid_configuration",
            ),
        )
        vault = MemoryVault()
        issued = sandbox.issue_tokens()
        vault.save("quickbooks", "acme-us", _tokens(issued, sandbox.realm_id, datetime.now(UTC)))
        app = build_app(settings, clock=lambda: NIGHT, vault=vault, sources=[source])
        return _three_runs(app, "acme-us", source, batch=QUICKBOOKS_BATCH)
    finally:
        sandbox.stop()


def _xero(folder: Path, source: SyntheticCosts, database_url: str | None) -> dict:
    """The Xero sandbox on a manual clock: the adapter's pacing sleeps move it, so no real waiting."""
    clock = ManualClock(NIGHT)
    with XeroSandbox(None, clock=clock) as box:
        vault = MemoryVault()
        issued = box.issue_tokens()
        vault.save("xero", "acme-xero", _tokens(issued, issued["tenant_id"], clock.now()))

        def sleep(seconds: float) -> None:
            clock.advance(seconds=max(0.0, seconds))

        oauth = XeroOAuth(
            client_id=box.client_id,
            client_secret=box.client_secret,
            redirect_uri="http://127.0.0.1:8765/callback",
            identity_url=box.base_url,
            login_url=box.base_url,
            connections_url=box.base_url,
            scopes="offline_access accounting.transactions accounting.settings.read",
            timeout=10,
            clock=clock.now,
        )
        ledger = XeroLedger(
            base_url=box.api_url,
            tokens=TokenManager(
                vault, ledger="xero", entity="acme-xero", refresher=oauth.refresh, clock=clock.now
            ),
            client_id=box.client_id,
            client_secret=box.client_secret,
            tenant_id=None,
            timeout=30,
            retry=RetryPolicy(6, sleep=sleep),
            limiter=xero_limiter(clock=clock.now, sleep=sleep),
        )
        settings = _settings(folder, database_url)
        app = build_app(
            settings, clock=lambda: NIGHT, vault=vault, ledgers={"acme-xero": ledger}, sources=[source]
        )
        return _three_runs(app, "acme-xero", source, batch=XERO_BATCH)


def _tokens(issued: dict, company_id: str, now: datetime) -> TokenSet:
    return TokenSet(
        access_token=issued["access_token"],
        refresh_token=issued["refresh_token"],
        access_expires_at=now + timedelta(seconds=int(issued.get("expires_in", 1800))),
        company_id=company_id,
    )


def _three_runs(app, entity: str, source: SyntheticCosts, *, batch: int) -> dict:
    first = _timed("first run", app, entity, MONTH.first_day)
    second = _timed("second run (no new data)", app, entity, MONTH.first_day)
    source.restate_trailing_days()
    late = _timed(
        f"late data (last {source.lag_days} days)",
        app,
        entity,
        MONTH.last_day - timedelta(source.lag_days - 1),
    )
    runs = [first, second, late]
    most = math.ceil(first.journals / batch)
    return {
        "meets_targets": (
            second.writes == 0
            and first.writes <= most
            and late.writes <= math.ceil(late.journals / batch)
            and late.journals <= 2 * source.lag_days  # only the late days' journals are corrected
            and all(r.seconds < 60 for r in runs)
        ),
        "journals": first.journals,
        "runs": [r.__dict__ for r in runs],
        "targets": {"write_calls_at_most": most, "per_call": batch, "second_run_writes": 0, "seconds": 60},
    }


QUICKBOOKS_BATCH = 30  # QuickBooks' batch endpoint: 30 items a request
XERO_BATCH = 50  # the service hands a ledger as many journals as one write carries: Xero 50 a PUT
PASSES = {"quickbooks": _quickbooks, "xero": _xero}


def _timed(label: str, app, entity: str, since: date) -> RunFigures:
    ledger = app.ledger(entity)
    reads, writes = ledger.stats.read_calls, ledger.stats.write_calls
    started = time.perf_counter()
    result: SyncResult = sync(app, entity=entity, since=since, until=MONTH.last_day)
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
    lines = [f"Nightly sync: {figures['facts']:,} cost facts, {figures['rules']} rules"]
    for ledger, result in figures["ledgers"].items():
        targets = result["targets"]
        lines.append(
            f"  {ledger}: {result['journals']} journals; first run {result['first_run_to_floor']}× "
            f"the storing floor ({figures['storing_floor_seconds']} s)"
        )
        lines += [
            f"    {r['label']:<28} {r['seconds']:>7.1f} s  status {r['status']:<9} facts {r['facts']:>9,}  "
            f"journals {r['journals']:>3}  ledger calls: {r['reads']} read, {r['writes']} write"
            for r in result["runs"]
        ]
        verdict = "met" if result["meets_targets"] else "NOT met"
        lines.append(
            f"    targets: ≤ {targets['write_calls_at_most']} write calls (ceil(journals / {targets['per_call']})), "
            f"0 writes on the second run, late data corrects only its days, < {targets['seconds']} s per run: "
            f"{verdict}"
        )
    lines.append(
        f"  peak memory (max RSS): {figures['peak_memory_mb']:,} MB, of which the provider's month held "
        f"in memory: {figures['provider_month_mb']:,} MB"
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

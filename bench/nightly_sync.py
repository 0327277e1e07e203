"""Benchmark: a full nightly sync for a large organisation, against the local QuickBooks sandbox.

A month of provider cost facts (1,000,000 by default: 31 days × projects × models × line items × API
keys), classified by a 200-rule mapping, planned and posted to the QuickBooks sandbox through the real
adapter (python-quickbooks over HTTP). Reported per night: wall and CPU seconds, facts, journals and the
ledger API calls (`ledger.stats`); per ledger, the peak memory of its process. Four nights: the month
backfilled; a night with no new data asked for the whole month (every fact re-read and compared, which
must make no write call); the same quiet night as the schedule asks it (from the bookmark, less the
source's lag: its trailing days re-read); and an ordinary night of late data, asked the same way: the
provider re-reports the trailing days it may still change (`lag_days`), a hundredth of their buckets
restated and a few new, and only the journals of those days are corrected.

The floor beside them is the least any store must do with the month: write its facts as plain tuples
into an unindexed table of the same backend — `sqlite3.executemany` into a SQLite file, or psycopg's
`COPY … FROM STDIN` into PostgreSQL (amounts and days as text) — no versioning, no classification, no
journals, no ledger. The first run is reported as a multiple of it. The machine's load average is
reported beside the figures: wall times on a shared machine move with it, CPU seconds less.

    python -m bench.nightly_sync [--facts N] [--database-url URL] [--json]   (or all: python -m bench)

Both ledgers: the QuickBooks sandbox through python-quickbooks, and the Xero sandbox through
xero-python (on a manual clock: the adapter's pacing sleeps move it instead of waiting). The source is
synthetic and streamed: each day's buckets are made when the pull asks for the day and handed over as one
page (a million buckets over HTTP would measure the fake provider, not tokenbooks), so the measured
process holds tokenbooks' memory and one page, never the provider's month. Each ledger's nights run in a
process of their own and report its peak memory (`bench/memory.py`); the floor is measured in this one.
Targets of issue 17 beside them: the late-data night ≤ 1.5× the (scheduled) quiet night, the first run
≤ 5× the floor, peak memory < 500 MB. `--growth 1000000,3000000,10000000 --png FILE` measures how a
night's time and memory grow with the month and plots them (the `bench` extra: matplotlib).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.engine import make_url

from bench.memory import peak_rss_mb
from connector.bootstrap import build_app
from connector.domain.facts import Dimensions, Fact, natural_key
from connector.domain.periods import Period
from connector.ledgers.quickbooks.settings import QuickBooksSettings
from connector.ledgers.tokens import MemoryVault, TokenManager, TokenSet
from connector.ledgers.xero.adapter import XeroLedger, xero_limiter
from connector.ledgers.xero.oauth import XeroOAuth
from connector.retrying import RetryPolicy
from connector.sandbox.common import ManualClock
from connector.sandbox.quickbooks import QuickBooksSandbox
from connector.sandbox.xero import XeroSandbox
from connector.service.sync import SyncResult, sync
from connector.settings import Settings
from connector.sources.base import PullResult, RawPage, StreamingSource, Window, gathered

MONTH = Period(2026, 10)
PAGE_BUCKETS = 10_000  # a page of the synthetic provider (OpenAI's costs pages are a few days' buckets)
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
class SyntheticCosts(StreamingSource):
    """A provider reporting `facts` cost buckets over the month, the same figures on every pull.

    The month is never held: each day's buckets are made when a pull asks for that day, and handed over
    a day at a time (`stream`), as a provider's pages arrive — so the measured process holds tokenbooks'
    own memory and one page, not the provider's month."""

    facts: int
    name: str = "openai.costs"
    provider: str = "openai"
    provider_account: str = "org-bench"
    entity: str = "acme-us"
    lag_days: int = 3
    projects: int = RULES + 10  # ten projects no rule maps: suspense

    def __post_init__(self) -> None:
        self.per_day = math.ceil(self.facts / len(MONTH.days()))
        self.late: dict[date, int] = {}  # day → one bucket in this many restated, as many new

    def restate_trailing_days(self, share: Decimal = Decimal("0.01")) -> int:
        """Late data, as a provider sends it: in each of the last `lag_days` days, one bucket in
        1 / `share` gets a larger amount and as many new buckets appear. Returns the buckets changed."""
        every = int(1 / share)
        changed = 0
        for day in MONTH.days()[-self.lag_days :]:
            if day in self.late:
                raise ValueError(f"{day} was restated already: the synthetic provider restates a day once")
            self.late[day] = every
            changed += len(range(0, self.per_day, every)) + self.per_day // every
        return changed

    def day(self, day: date) -> list[Fact]:
        """The day's buckets as the provider reports them now."""
        return self.buckets(day, 0, self.buckets_on(day))

    def buckets_on(self, day: date) -> int:
        """How many buckets the provider reports for the day now (a restated day has new ones too)."""
        every = self.late.get(day)
        return self.per_day if every is None else self.per_day + self.per_day // every

    def buckets(self, day: date, start: int, stop: int) -> list[Fact]:
        """The day's buckets `start` to `stop` (a page), made now."""
        every = self.late.get(day)
        restated = Decimal("0.0050")
        return [
            self._fact(day, i, restated if every and i < self.per_day and i % every == 0 else Decimal(0))
            for i in range(start, stop)
        ]

    def stream(self, window: Window, progress=None) -> Iterator[PullResult]:
        """The window's days in pages of at most `PAGE_BUCKETS` buckets, each made as it is asked for.
        A provider's page is bounded whatever the month (a day of a 10M-fact month is 322,581 buckets:
        one page a day made the benchmark's page, not tokenbooks, grow with the month)."""
        for day in MONTH.days():
            if window.first_day <= day <= window.last_day:
                total = self.buckets_on(day)
                for start in range(0, total, PAGE_BUCKETS):
                    facts = self.buckets(day, start, min(start + PAGE_BUCKETS, total))
                    request = {"day": day.isoformat(), "from": start}
                    page = RawPage("synthetic://costs", request, '{"object": "page"}')
                    chunk = PullResult(self.name, self.provider, self.provider_account, window)
                    chunk.facts, chunk.pages, chunk.received = facts, [page.producing(facts)], len(facts)
                    del facts  # the pull holds the page while it stages it, then lets it go
                    yield chunk

    def pull(self, window: Window, progress=None) -> PullResult:
        return gathered(self, window, self.stream(window, progress))

    def _fact(self, day: date, i: int, restated: Decimal = Decimal(0)) -> Fact:
        project = f"proj_{i % self.projects:03d}"
        model, item = MODELS[(i // self.projects) % len(MODELS)], LINE_ITEMS[i % len(LINE_ITEMS)]
        key = f"key_{i // (self.projects * len(MODELS)):04d}"
        amount = Decimal(i % 997 + 1).scaleb(-4) + restated  # 0.0001 .. 0.0997: exact, finer than cents
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
    cpu_seconds: float  # this process's (the sandbox's threads included; a PostgreSQL server's not)
    facts: int
    journals: int
    reads: int
    writes: int
    status: str
    classified: int = 0  # facts the plan classified (a changed fact's old version included)
    load: float = 0.0  # the 1-minute load average when the night started


LATE_TO_QUIET = 1.5  # the late-data night against the quiet night (issue 17)
FIRST_TO_FLOOR = 5.0  # the first run against the storing floor
PEAK_MB = 500  # the nightly process's peak resident memory


def run(facts: int = 1_000_000, database_url: str | None = None) -> dict:
    """Both ledgers, each in a process (and a store) of its own — so each reports its own peak memory —
    beside the storing floor measured in this process in the same run (on the same database backend)."""
    load_before = _load()
    floor = storing_floor(SyntheticCosts(facts), database_url)
    results = {ledger: _in_child(ledger, facts, database_url) for ledger in LEDGERS}
    for result in results.values():
        first, month_quiet, quiet, late = (r["seconds"] for r in result["runs"])
        result["first_run_to_floor"] = round(first / floor["seconds"], 1)
        result["late_to_quiet"] = round(late / quiet, 2) if quiet else None
        result["late_to_month_quiet"] = round(late / month_quiet, 2) if month_quiet else None
    peak = max(r["peak_memory_mb"] for r in results.values())
    speed = {
        "late_to_quiet": all((r["late_to_quiet"] or 0) <= LATE_TO_QUIET for r in results.values()),
        "first_run_to_floor": all(r["first_run_to_floor"] <= FIRST_TO_FLOOR for r in results.values()),
        "peak_memory": peak < PEAK_MB,
    }
    return {
        "facts": facts,
        "rules": RULES,
        "database": "postgresql" if database_url else "sqlite",
        "storing_floor_seconds": round(floor["seconds"], 2),
        "storing_floor_cpu_seconds": round(floor["cpu_seconds"], 2),
        "storing_floor": floor["how"],
        "load_average": {"before": load_before, "after": _load()},
        "ledgers": results,
        "peak_memory_mb": peak,
        "speed_targets": speed,
        "meets_targets": all(r["meets_targets"] for r in results.values()) and all(speed.values()),
    }


def ledger_nights(ledger: str, facts: int, database_url: str | None) -> dict:
    """The three nights of one ledger, in this process (`--child`), with this process's peak memory."""
    # an account per entity: with --database-url both ledgers share one store, and one provider
    # account belongs to one entity
    source = SyntheticCosts(facts, entity=ENTITIES[ledger], provider_account=f"org-{ledger}")
    with tempfile.TemporaryDirectory(prefix=f"tokenbooks-bench-{ledger}-") as folder:
        result = PASSES[ledger](Path(folder), source, database_url)
    result["peak_memory_mb"] = round(peak_rss_mb())
    return result


def _in_child(ledger: str, facts: int, database_url: str | None) -> dict:
    command = [sys.executable, "-m", "bench.nightly_sync", "--child", ledger, "--facts", str(facts)]
    if database_url:
        command += ["--database-url", database_url]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {ledger} nights failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def storing_floor(source: SyntheticCosts, database_url: str | None = None) -> dict:
    """Seconds (wall and this process's CPU) to write the month's facts as plain tuples into an unindexed
    table of the backend the nights use: the least any store must do with them (the first run stores,
    classifies, plans and posts them). SQLite: `executemany` into a table in a file; PostgreSQL: `COPY …
    FROM STDIN` (psycopg, the driver tokenbooks uses, and its bulk path) into an ordinary (logged)
    table, committed, then dropped. The facts are made as they are written, as the nights' source makes
    them, so the floor includes making them too."""
    rows = (
        (f.natural_key, f.posting_date.isoformat(), str(f.amount), f.currency, repr(f.dimensions.items))
        for day in MONTH.days()
        for start in range(0, source.buckets_on(day), PAGE_BUCKETS)
        for f in source.buckets(day, start, min(start + PAGE_BUCKETS, source.buckets_on(day)))
    )
    if database_url and make_url(database_url).get_backend_name() == "postgresql":
        return _postgresql_floor(database_url, rows)
    with tempfile.TemporaryDirectory(prefix="tokenbooks-bench-floor-") as folder:
        connection = sqlite3.connect(Path(folder) / "floor.db")
        connection.execute("CREATE TABLE facts (key TEXT, day TEXT, amount TEXT, currency TEXT, dims TEXT)")
        started, cpu = time.perf_counter(), _cpu()
        connection.executemany("INSERT INTO facts VALUES (?, ?, ?, ?, ?)", rows)
        connection.commit()
        figures = {"seconds": time.perf_counter() - started, "cpu_seconds": _cpu() - cpu}
        connection.close()
    return {**figures, "how": "sqlite3 executemany into an unindexed table"}


def _postgresql_floor(database_url: str, rows: Iterator[tuple]) -> dict:
    import psycopg

    url = make_url(database_url).set(drivername="postgresql")
    table = f"bench_floor_{os.getpid()}"
    with psycopg.connect(url.render_as_string(hide_password=False)) as connection:
        connection.execute(
            f"CREATE TABLE {table} (key TEXT, day TEXT, amount TEXT, currency TEXT, dims TEXT)"
        )
        connection.commit()
        try:
            started, cpu = time.perf_counter(), _cpu()
            with connection.cursor() as cursor, cursor.copy(f"COPY {table} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            connection.commit()
            figures = {"seconds": time.perf_counter() - started, "cpu_seconds": _cpu() - cpu}
        finally:
            connection.rollback()
            connection.execute(f"DROP TABLE {table}")
            connection.commit()
    return {**figures, "how": "psycopg COPY FROM STDIN into an unindexed table (server CPU not counted)"}


def _cpu() -> float:
    """This process's CPU seconds (user and system, all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load() -> list[float]:
    """The machine's load average (1, 5, 15 minutes): the benchmark shares its cores."""
    return [round(n, 2) for n in os.getloadavg()]


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
    """The month backfilled; a night with no new data asked for the whole month (every fact re-read and
    compared); the same night as the nightly schedule asks it (no start day: the bookmark's next day,
    less the source's lag — its trailing days re-read); then late data, asked the same way."""
    first = _timed("first run", app, entity, MONTH.first_day)
    second = _timed("quiet, the month re-read", app, entity, MONTH.first_day)
    quiet = _timed("quiet, as scheduled (lag window)", app, entity, None)
    source.restate_trailing_days()
    late = _timed(f"late data (last {source.lag_days} days)", app, entity, None)
    runs = [first, second, quiet, late]
    most = math.ceil(first.journals / batch)
    return {
        "meets_targets": (
            second.writes == 0
            and quiet.writes == 0
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


def _timed(label: str, app, entity: str, since: date | None) -> RunFigures:
    """One night; `since` None asks as the schedule does (from the bookmark, less the lag)."""
    ledger = app.ledger(entity)
    reads, writes = ledger.stats.read_calls, ledger.stats.write_calls
    load = _load()[0]
    started, cpu = time.perf_counter(), _cpu()
    result: SyncResult = sync(app, entity=entity, since=since, until=MONTH.last_day)
    seconds = time.perf_counter() - started
    return RunFigures(
        label,
        round(seconds, 1),
        round(_cpu() - cpu, 3),  # a quiet night of a small run takes well under a tenth of a second
        sum(p.facts for p in result.pulls),
        len(result.post.posted) if result.post else 0,
        ledger.stats.read_calls - reads,
        ledger.stats.write_calls - writes,
        result.status,
        result.plan.facts_classified if result.plan else 0,
        load,
    )


def report(figures: dict) -> str:
    floor = figures["storing_floor_seconds"]
    load = figures["load_average"]
    lines = [
        f"Nightly sync: {figures['facts']:,} cost facts, {figures['rules']} rules, {figures['database']}; "
        f"storing floor {floor} s ({figures['storing_floor_cpu_seconds']} s CPU: {figures['storing_floor']}); "
        f"load average {load['before'][0]} before, {load['after'][0]} after"
    ]
    for ledger, result in figures["ledgers"].items():
        targets = result["targets"]
        lines.append(
            f"  {ledger}: {result['journals']} journals; first run {result['first_run_to_floor']}× the floor "
            f"(target ≤ {FIRST_TO_FLOOR}×); late night {result['late_to_quiet']}× the scheduled quiet one "
            f"(target ≤ {LATE_TO_QUIET}×; {result['late_to_month_quiet']}× the month re-read); "
            f"peak memory of its process {result['peak_memory_mb']:,} MB "
            f"(target < {PEAK_MB} MB)"
        )
        lines += [
            f"    {r['label']:<34} {r['seconds']:>7.1f} s ({r['cpu_seconds']:>6.1f} s CPU)  status {r['status']:<9} "
            f"facts {r['facts']:>9,} (classified {r['classified']:>9,})  load {r['load']:>5.2f}  "
            f"journals {r['journals']:>3}  ledger calls: {r['reads']} read, {r['writes']} write"
            for r in result["runs"]
        ]
        verdict = "met" if result["meets_targets"] else "NOT met"
        lines.append(
            f"    targets: ≤ {targets['write_calls_at_most']} write calls (ceil(journals / {targets['per_call']})), "
            f"0 writes on the quiet nights, late data corrects only its days, < {targets['seconds']} s per run: "
            f"{verdict}"
        )
    missed = [name for name, met in figures["speed_targets"].items() if not met]
    lines.append(f"  issue 17 targets: {'NOT met: ' + ', '.join(missed) if missed else 'met'}")
    return "\n".join(lines)


def growth(sizes: list[int], database_url: str | None, png: Path | None) -> dict:
    """How a night's cost grows with the month: the QuickBooks nights at each size (each in a process of
    its own) beside that size's storing floor, plotted to `png` if given."""
    points = []
    for facts in sizes:
        load = _load()
        floor = storing_floor(SyntheticCosts(facts), database_url)
        nights = _in_child("quickbooks", facts, database_url)
        first, month_quiet, quiet, late = nights["runs"]
        points.append(
            {
                "facts": facts,
                "load_average": load,
                "floor_seconds": round(floor["seconds"], 2),
                "floor_cpu_seconds": round(floor["cpu_seconds"], 2),
                "first_seconds": first["seconds"],
                "first_cpu_seconds": first["cpu_seconds"],
                "month_quiet_seconds": month_quiet["seconds"],
                "quiet_seconds": quiet["seconds"],
                "quiet_cpu_seconds": quiet["cpu_seconds"],
                "late_seconds": late["seconds"],
                "late_cpu_seconds": late["cpu_seconds"],
                "peak_memory_mb": nights["peak_memory_mb"],
            }
        )
        print(json.dumps(points[-1]), file=sys.stderr, flush=True)  # a long run shows its progress
    figures = {"database": "postgresql" if database_url else "sqlite", "points": points}
    if png is not None:
        plot_growth(figures, png)
    return figures


def plot_growth(figures: dict, png: Path) -> None:
    """Time per night and peak memory against facts a month, floor beside them (needs the bench extra)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    points = figures["points"]
    millions = [p["facts"] / 1e6 for p in points]
    figure, (times, memory) = pyplot.subplots(1, 2, figsize=(11, 4.2))
    for key, label in (
        ("first_seconds", "first run (month backfilled)"),
        ("month_quiet_seconds", "quiet night, the month re-read"),
        ("late_seconds", "late-data night (lag window)"),
        ("quiet_seconds", "quiet night (lag window)"),
        ("floor_seconds", "storing floor"),
    ):
        line = times.plot(millions, [p[key] for p in points], marker="o", label=label)[0]
        cpu = key.replace("_seconds", "_cpu_seconds")
        if all(cpu in p for p in points):  # this process's CPU beside the wall time: the load moves walls
            times.plot(millions, [p[cpu] for p in points], linestyle=":", color=line.get_color())
    times.set(
        xlabel="facts a month (millions)",
        ylabel="seconds (dotted: CPU seconds)",
        title=f"Time per night ({figures['database']})",
    )
    times.legend()
    memory.plot(millions, [p["peak_memory_mb"] for p in points], marker="o", label="nightly process")
    memory.axhline(PEAK_MB, color="grey", linestyle="--", label=f"target {PEAK_MB} MB")
    memory.set(xlabel="facts a month (millions)", ylabel="MB", title="Peak resident memory", ylim=(0, None))
    memory.legend()
    for axes in (times, memory):
        axes.set_xticks(millions)
        axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(png, dpi=110)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nightly_sync", description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=1_000_000, help="cost facts in the month")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temp folder")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--growth",
        default=None,
        help="comma-separated sizes (e.g. 1000000,3000000,10000000): time and memory",
    )
    parser.add_argument("--png", type=Path, default=None, help="with --growth: plot the figures to this PNG")
    parser.add_argument("--child", choices=LEDGERS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(ledger_nights(args.child, args.facts, args.database_url)))
        return 0
    if args.png is not None and importlib.util.find_spec("matplotlib") is None:
        parser.error(
            "--png needs matplotlib, in the bench extra: pip install -e '.[bench]' (asked before an hour's run)"
        )
    if args.growth:
        print(
            json.dumps(
                growth([int(n) for n in args.growth.split(",")], args.database_url, args.png), indent=2
            )
        )
        return 0
    figures = run(args.facts, args.database_url)
    print(json.dumps(figures, indent=2) if args.json else report(figures))
    return 0 if figures["meets_targets"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""`tokenbooks demo`: a month of a fictional company's AI spend, booked night by night, with no credentials.

It starts the local QuickBooks sandbox and the OpenAI Costs replay, connects through the sandbox's
self-approving OAuth flow, runs the nightly sync for each day of October 2026, imports the provider's
invoice and reconciles the month. Its data lives in `.tokenbooks/demo/`; running it again posts nothing
(the books already hold every journal) and says so.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import requests
from pydantic import SecretStr

from connector.bootstrap import App, build_app
from connector.domain.periods import Period
from connector.domain.reconcile import ReconResult
from connector.domain.users import Role
from connector.ledgers.quickbooks.adapter import QuickBooksOAuth
from connector.ledgers.quickbooks.settings import QuickBooksSettings
from connector.ledgers.tokens import MemoryVault
from connector.sandbox.demo_data import DEMO_ENTITY, DEMO_ORGANIZATION, DEMO_PERIOD, invoice_total
from connector.sandbox.openai_replay import DEMO_ADMIN_KEY, OpenAIReplay
from connector.sandbox.quickbooks import QuickBooksSandbox
from connector.service.imports import import_invoices
from connector.service.reconcile import reconcile_period
from connector.service.runs import Reporter, RunRecorder, SilentReporter
from connector.service.sync import SyncResult, sync
from connector.service.users import add_user, get_user
from connector.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
NIGHTLY_AT = time(2, 30)  # the demo's nightly run, UTC


@dataclass
class DemoResult:
    data_dir: Path
    nights: list[SyncResult] = field(default_factory=list)
    balances: list[tuple[str, str, Decimal]] = field(default_factory=list)  # (number, name, balance)
    reconciliation: list[ReconResult] = field(default_factory=list)
    journals_in_ledger: int = 0
    users: list[tuple[str, str, str]] = field(
        default_factory=list
    )  # the console's demo users: name, role, password

    @property
    def posted_now(self) -> int:
        return sum(night.posted_count for night in self.nights)

    @property
    def failed(self) -> list[SyncResult]:
        return [night for night in self.nights if night.status != "succeeded"]


def demo_settings(data_dir: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{data_dir / 'tokenbooks.db'}",
        mapping_file=_mapping_file(),
        policies_file=_mapping_file().with_name("policies.yaml"),  # arrears and daily accruals for OpenAI
        data_dir=data_dir,
        entity=DEMO_ENTITY,
        actor="demo",
        _env_file=None,  # the demo ignores the user's .env: it must run with no credentials at all
    )


def _mapping_file() -> Path:
    for candidate in (Path("mappings/example.yaml"), REPO_ROOT / "mappings" / "example.yaml"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("mappings/example.yaml not found; run the demo from the tokenbooks checkout")


def run_demo(
    data_dir: Path = Path(".tokenbooks/demo"),
    *,
    reporter: Reporter | None = None,
    on_night: Callable[[SyncResult], None] | None = None,
    console: Callable[[App, DemoResult], None] | None = None,
) -> DemoResult:
    """Book the month night by night; with `console`, then serve the console over the demo's books (it
    is called with the application while the sandboxes still run, and returns when the person stops it)."""
    reporter = reporter or SilentReporter()
    data_dir.mkdir(parents=True, exist_ok=True)
    sandbox = QuickBooksSandbox(data_dir / "quickbooks-sandbox.json")
    replay = OpenAIReplay()
    qbo_url = sandbox.start()
    openai_url = replay.start()
    try:
        settings = _with_endpoints(demo_settings(data_dir), qbo_url, openai_url, sandbox)
        clock = _NightClock()
        app = build_app(settings, clock=clock, vault=MemoryVault())
        _connect(app, sandbox)
        result = DemoResult(data_dir)
        provider_clock = _ProviderClock(data_dir / "provider-as-of.txt")
        for day in DEMO_PERIOD.days():
            clock.night_after(day)
            replay.as_of = provider_clock.advance(day + timedelta(days=1))
            night = sync(app, entity=DEMO_ENTITY, until=day, reporter=reporter)
            result.nights.append(night)
            if on_night:
                on_night(night)
        _import_invoice(app, data_dir)
        result.reconciliation = _reconcile(app)
        result.balances, result.journals_in_ledger = _ledger_totals(app)
        result.users = demo_users(app)
        if console is not None:
            app.clock = lambda: datetime.now(UTC)  # the console lives in today, not in the demo's nights
            console(app, result)
        return result
    finally:
        replay.stop()
        sandbox.stop()


class _ProviderClock:
    """How far the provider's data has moved, kept between demo runs: a provider never goes back in time.

    On a second run the replay keeps serving the month as finally restated, so re-running the nights
    finds nothing new to post instead of "restating" 7 October back to its first figure.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.as_of = date.fromisoformat(path.read_text().strip()) if path.exists() else date.min

    def advance(self, day: date) -> date:
        self.as_of = max(self.as_of, day)
        self.path.write_text(self.as_of.isoformat())
        return self.as_of


class _NightClock:
    """The demo's clock: 02:30 UTC on the night after each day of the month."""

    def __init__(self) -> None:
        self.now = datetime.combine(DEMO_PERIOD.first_day, NIGHTLY_AT, tzinfo=UTC)

    def night_after(self, day) -> None:
        self.now = datetime.combine(day + timedelta(days=1), NIGHTLY_AT, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _with_endpoints(
    settings: Settings, qbo_url: str, openai_url: str, sandbox: QuickBooksSandbox
) -> Settings:
    return settings.model_copy(
        update={
            "openai": settings.openai.model_copy(
                update={
                    "admin_key": SecretStr(DEMO_ADMIN_KEY),
                    "base_url": openai_url,
                    "organization": DEMO_ORGANIZATION,
                    "start_date": DEMO_PERIOD.first_day,
                    "timeout_seconds": 10.0,
                    "usage": False,  # the replay serves the Costs API only
                }
            ),
        }
    ).with_ledger(
        "quickbooks",
        settings.ledger("quickbooks", QuickBooksSettings).model_copy(
            update={
                "client_id": sandbox.client_id,
                "client_secret": SecretStr(sandbox.client_secret),
                "base_url": qbo_url,
                "discovery_url": f"{qbo_url}/.well-known/openid_configuration",
                "timeout_seconds": 10.0,
            }
        ),
    )


def _connect(app: App, sandbox: QuickBooksSandbox) -> None:
    """The OAuth authorization-code flow, which the sandbox approves by itself."""
    oauth: QuickBooksOAuth = app.oauth("quickbooks")
    state = secrets.token_urlsafe(16)
    answer = requests.get(oauth.authorization_url(state), allow_redirects=False, timeout=10)
    query = parse_qs(urlparse(answer.headers["Location"]).query)
    if query.get("state") != [state]:
        raise RuntimeError("the sandbox answered the authorization with a different state")
    tokens = oauth.exchange_code(query["code"][0], query["realmId"][0])
    app.token_vault().save("quickbooks", DEMO_ENTITY, tokens)


def _import_invoice(app: App, data_dir: Path) -> None:
    path = data_dir / "invoices" / f"openai-{DEMO_PERIOD}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    invoice = {
        "invoices": [
            {
                "provider": "openai",
                "account": DEMO_ORGANIZATION,
                "number": "INV-ACME-2026-10",
                "period": str(DEMO_PERIOD),
                "issue_date": "2026-11-03",
                "total": str(invoice_total(OpenAIReplay().lines)),
                "currency": "USD",
            }
        ]
    }
    path.write_text(json.dumps(invoice, indent=2))
    import_invoices(app, path, entity=DEMO_ENTITY)


def _reconcile(app: App) -> list[ReconResult]:
    mapping, _ = app.mapping()
    recorder = RunRecorder(
        app.store,
        app.clock,
        actor=app.actor,
        kind="reconcile",
        entity=DEMO_ENTITY,
        params={"period": str(DEMO_PERIOD)},
    )
    results = reconcile_period(
        app.store,
        mapping=mapping,
        entity=DEMO_ENTITY,
        period=Period.parse(str(DEMO_PERIOD)),
        ledger=app.ledger(DEMO_ENTITY),
        recorder=recorder,
        clock=app.clock,
    )
    recorder.finish("succeeded", stats={"providers": len(results)})
    return results


def _ledger_totals(app: App) -> tuple[list[tuple[str, str, Decimal]], int]:
    """What the ledger holds under tokenbooks' keys for the month, per account (read back over the API)."""
    ledger = app.ledger(DEMO_ENTITY)
    journals = ledger.read_back(DEMO_PERIOD.first_day, DEMO_PERIOD.next().last_day)
    totals: dict[str, Decimal] = {}
    for journal in journals:
        for line in journal.lines:
            totals[line.account] = totals.get(line.account, Decimal(0)) + line.amount
    names = {a.id: (a.number or "", a.name) for a in ledger.chart_of_accounts()}
    rows = [(*names.get(account, ("", account)), amount) for account, amount in totals.items() if amount]
    return sorted(rows), len(journals)


# The console's demo users, one per role. Their passwords are printed by `make demo`: a demo on a laptop,
# never a deployment (real users are added with `tokenbooks users add`, their passwords asked for).
DEMO_USERS = (
    ("ada.auditor", "auditor", "Ada Auditor"),
    ("ann.accountant", "accountant", "Ann Accountant"),
    ("carl.controller", "controller", "Carl Controller"),
    ("april.approver", "approver", "April Approver"),
)
DEMO_PASSWORD = "tokenbooks-demo"


def demo_users(app: App) -> list[tuple[str, str, str]]:
    """One console user per role in the demo's store (added once), as (name, role, password)."""
    for username, role, name in DEMO_USERS:
        if get_user(app.store, username) is None:
            add_user(
                app.store,
                app.clock,
                username=username,
                role=Role(role),
                by="demo",
                password=DEMO_PASSWORD,
                display_name=name,
            )
    return [(username, role, DEMO_PASSWORD) for username, role, _ in DEMO_USERS]

"""A tokenbooks on fakes for the accounting policies: the sandbox company's whole chart, a policies file,
and the inputs the policies book (credit lots, credits sold, invoices, bills the AP team enters); and the
same in books kept in pounds (`pound_world`), with a November of dollar usage (`pound_november`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from connector.bootstrap import App, build_app
from connector.domain.credits import CreditLot
from connector.domain.journals import Journal, JournalKind, JournalLine, LedgerTarget, as_text
from connector.ledgers.memory import MemoryLedger
from connector.ledgers.port import CurrencySetup, PostRequest
from connector.service.imports import (
    ImportReport,
    import_customer_credits,
    import_focus,
    import_invoices,
    record_credit_lot,
)
from connector.service.sync import SyncResult, sync
from connector.settings import Settings
from connector.sources.focus import FocusOptions
from connector.store.unit_of_work import UnitOfWork
from tests.service.conftest import Clock, ScriptedSource
from tests.sources.builders import focus_csv
from tests.support import CHART_ACCOUNTS, CHART_OPTIONS, FULL_MAPPING

ENTITY = "acme-us"

POLICIES = """\
policy_version: 1
effective_from: 2026-01-01
change_note: test policies
defaults:
  invoice_tolerance: {{absolute: 25.00}}
  expected_breakage_percent: {{default: 0, api-credits: 8}}
entities:
  acme-us:
    accounts:
      - {{provider: openai, account: org-1, {account}}}
"""


def policies(account: str = "billing: arrears", **extra: str) -> str:
    """The test policies with org-1 booked as `account` says (e.g. "billing: prepaid")."""
    text = POLICIES.format(account=account)
    for key, value in extra.items():
        text = text.replace("  acme-us:\n", f"  acme-us:\n    {key}: {value}\n")
    return text


@dataclass
class BooksWorld:
    tmp: Path
    source: ScriptedSource
    ledger: MemoryLedger
    clock: Clock
    policies_path: Path
    app: App
    database_url: str

    def night(self, day: date) -> SyncResult:
        self.clock.night_after(day)
        result = sync(self.app, entity=ENTITY, until=day)
        assert result.status in ("succeeded", "partial"), result.reason
        return result

    def rewrite_policies(self, text: str) -> None:
        self.policies_path.write_text(text)
        self.app = _app(self.tmp, self.policies_path, self.source, self.ledger, self.clock, self.database_url)

    def rewrite_mapping(self, text: str) -> None:
        (self.tmp / "mapping.yaml").write_text(text)
        self.app = _app(self.tmp, self.policies_path, self.source, self.ledger, self.clock, self.database_url)

    def import_focus(self, rows: list[dict], columns: list[str], **options) -> ImportReport:
        """A FOCUS export of `rows`, imported as `tokenbooks import focus` would."""
        path = focus_csv(self.tmp / f"focus-{len(list(self.tmp.glob('focus-*')))}.csv", rows, columns=columns)
        report = import_focus(self.app, [path], FocusOptions(ENTITY, "America/New_York", **options))
        assert not report.quarantined, [str(q.problem) for q in report.quarantined]
        return report

    def cli_env(self) -> dict[str, str]:
        """The settings a `tokenbooks` command needs to read this world's books (CliRunner's env)."""
        return {
            "TOKENBOOKS_DATABASE_URL": self.app.settings.database_url,
            "TOKENBOOKS_MAPPING_FILE": str(self.tmp / "mapping.yaml"),
            "TOKENBOOKS_POLICIES_FILE": str(self.policies_path),
            "TOKENBOOKS_DATA_DIR": str(self.tmp),
        }

    def journals(self, *kinds: JournalKind) -> list[Journal]:
        with UnitOfWork(self.app.engine) as uow:
            stored = uow.outbox.list(ENTITY)
        return [s.journal for s in stored if not kinds or s.journal.kind in kinds]

    def texts(self, *kinds: JournalKind) -> list[str]:
        return [as_text(j) for j in self.journals(*kinds)]

    def buy_credits(self, lot_id: str, amount: str, bought: date, expires: date | None) -> None:
        lot = CreditLot(ENTITY, "openai", "org-1", lot_id, bought, Decimal(amount), "USD", expires)
        record_credit_lot(self.app, lot)

    def customer_credits(self, *rows: str) -> None:
        """Rows of `event_id,customer,grant,kind,date,amount,currency,product,expires_on`."""
        path = self.tmp / f"customer-credits-{len(list(self.tmp.glob('customer-*')))}.csv"
        header = "event_id,customer,grant,kind,date,amount,currency,product,expires_on\n"
        path.write_text(header + "\n".join(rows) + "\n")
        report = import_customer_credits(self.app, path, entity=ENTITY)
        assert not report.quarantined, report.quarantined

    def invoice(self, number: str, period: str, issued: str, total: str, lines=()) -> None:
        path = self.tmp / f"invoice-{number}.json"
        body = {
            "provider": "openai",
            "account": "org-1",
            "number": number,
            "period": period,
            "issue_date": issued,
            "total": total,
            "currency": "USD",
        }
        if lines:
            body["lines"] = [{"description": d, "amount": a, "kind": k} for d, a, k in lines]
        path.write_text(json.dumps({"invoices": [body]}))
        import_invoices(self.app, path, entity=ENTITY)

    def enter_bill(self, account: str, amount: str, day: date) -> None:
        """What the AP team does by hand: the provider's bill, Dr `account` / Cr Accounts payable."""
        self.enter(account, "2000", amount, day)

    def enter(self, debit: str, credit: str, amount: str, day: date) -> None:
        """An entry a person makes in the ledger outside tokenbooks (a bill, a sale, a payment)."""
        serial = len(self.ledger.journals) + 1
        entry = Journal(
            f"HAND-{serial}",
            ENTITY,
            JournalKind.USAGE_ACCRUAL,
            day,
            "USD",
            (
                JournalLine(LedgerTarget(debit), Decimal(amount)),
                JournalLine(LedgerTarget(credit), -Decimal(amount)),
            ),
        )
        [result] = self.ledger.post([PostRequest(entry, f"hand-{serial}")])
        assert result.outcome.value == "created", result.message


def _app(tmp: Path, policies_path: Path, source, ledger, clock, database_url: str) -> App:
    mapping = tmp / "mapping.yaml"
    settings = Settings(
        database_url=database_url,
        mapping_file=mapping,
        policies_file=policies_path,
        data_dir=tmp,
        _env_file=None,
    )
    return build_app(settings, clock=clock, ledgers={ENTITY: ledger}, sources=[source], sleep=lambda _: None)


def books_world(tmp: Path, policies_text: str | None = None, database_url: str | None = None) -> BooksWorld:
    """The world on SQLite, or on the database `database_url` names (tests/conftest.py: both backends)."""
    database_url = database_url or f"sqlite:///{tmp / 'tb.db'}"
    (tmp / "mapping.yaml").write_text(FULL_MAPPING)
    policies_path = tmp / "policies.yaml"
    policies_path.write_text(policies_text or policies())
    source = ScriptedSource()
    ledger = MemoryLedger(CHART_ACCOUNTS, options=CHART_OPTIONS)
    clock = Clock()
    app = _app(tmp, policies_path, source, ledger, clock, database_url)
    return BooksWorld(tmp, source, ledger, clock, policies_path, app, database_url)


FX_POLICY = "{source: table, rates_file: rates.csv}"


def pound_world(tmp_path: Path, account: str = "billing: arrears") -> BooksWorld:
    """Books in GBP on a ledger whose journals are in its base currency only (Xero), OpenAI billing USD;
    the pound moves between the last day of October and the first of November."""
    world = books_world(tmp_path)
    (tmp_path / "mapping.yaml").write_text(FULL_MAPPING.replace("currency: USD", "currency: GBP"))
    (tmp_path / "rates.csv").write_text(
        "date,from,to,rate,source\n2026-10-01,USD,GBP,0.7800,BoE\n2026-11-01,USD,GBP,0.7600,BoE\n"
    )
    world.ledger.currencies = CurrencySetup("GBP", False)
    world.rewrite_policies(policies(account, fx=FX_POLICY))
    return world


NOVEMBER_DAYS = (13, 14, 15, 16)


def pound_november(world: BooksWorld) -> None:
    """1,000.01 USD of usage on each of 13–16 November, booked night by night, the pound moving again on
    the 15th: 760.01 GBP a day at 0.76 (760.0076), then 770.01 at 0.77 (770.0077) — 3,060.04 GBP for
    4,000.04 USD, a penny above the dollars at those rates (3,060.0306) from rounding each day once."""
    with (world.tmp / "rates.csv").open("a") as rates:
        rates.write("2026-11-15,USD,GBP,0.7700,BoE\n")
    for day in NOVEMBER_DAYS:
        world.source.set("1000.01", date(2026, 11, day))
    for day in NOVEMBER_DAYS:
        world.night(date(2026, 11, day))


def invoice_november(world: BooksWorld, total: str) -> None:
    """OpenAI's invoice for November in dollars, issued on 3 December, and the night after it."""
    world.invoice("INV-11", "2026-11", "2026-12-03", total)
    world.night(date(2026, 12, 4))

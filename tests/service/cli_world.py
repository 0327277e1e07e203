"""The real `tokenbooks` command line, in process, over the fakes of `books_world`: a scripted source, an
in-memory ledger holding the sandbox company's chart, and a manual clock. `build_app` is wrapped (as the
child-process harness does) so every command the test runs opens the same fakes and the same database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import connector.bootstrap as bootstrap
from connector.cli import app as cli
from connector.ledgers.memory import MemoryLedger
from tests.service.books_world import ENTITY, policies
from tests.service.conftest import Clock, ScriptedSource
from tests.support import CHART_ACCOUNTS, CHART_OPTIONS, FULL_MAPPING

runner = CliRunner()


@dataclass
class CliWorld:
    tmp: Path
    source: ScriptedSource
    ledger: MemoryLedger
    clock: Clock
    env: dict[str, str]

    def run(self, *args: str, code: int | None = 0) -> Result:
        """Run a command; `code` is the exit status it must end with (None: any)."""
        result = runner.invoke(cli, list(args), env=self.env)
        assert code is None or result.exit_code == code, result.output
        return result

    def json(self, *args: str, code: int | None = 0) -> Any:
        return json.loads(self.run(*args, "--json", code=code).stdout)

    def night(self, day: date) -> None:
        self.clock.night_after(day)
        self.run("sync", "--until", str(day))

    def write(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text)
        return path

    def invoice(self, number: str, period: str, issued: str, total: str, account: str = "org-1") -> None:
        header = "provider,account,number,period,issue_date,total,currency\n"
        row = f"openai,{account},{number},{period},{issued},{total},USD\n"
        self.run("import", "invoices", str(self.write(f"{number}.csv", header + row)))

    def customer_credits(self, *rows: str) -> None:
        header = "event_id,customer,grant,kind,date,amount,currency,product,expires_on\n"
        path = self.write(f"customer-credits-{len(list(self.tmp.glob('customer-*')))}.csv", header)
        path.write_text(header + "\n".join(rows) + "\n")
        self.run("import", "customer-credits", str(path))


def cli_world_for(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliWorld]:
    """A CLI world with the test policies (see `books_world.policies`); tests rewrite the files at will.
    The `cli_world` fixture (tests/service/conftest.py) gives one per backend."""
    (tmp_path / "mapping.yaml").write_text(FULL_MAPPING)
    (tmp_path / "policies.yaml").write_text(policies())
    source, clock = ScriptedSource(), Clock()
    ledger = MemoryLedger(CHART_ACCOUNTS, options=CHART_OPTIONS)
    real_build_app = bootstrap.build_app
    built = []

    def build_app(settings=None, **kwargs):
        app = real_build_app(
            settings, clock=clock, ledgers={ENTITY: ledger}, sources=[source], sleep=lambda _: None
        )
        built.append(app)
        return app

    monkeypatch.setattr(bootstrap, "build_app", build_app)
    env = {
        "TOKENBOOKS_DATABASE_URL": database_url,
        "TOKENBOOKS_MAPPING_FILE": str(tmp_path / "mapping.yaml"),
        "TOKENBOOKS_POLICIES_FILE": str(tmp_path / "policies.yaml"),
        "TOKENBOOKS_DATA_DIR": str(tmp_path),
        "TOKENBOOKS_INVOICES_DIR": str(tmp_path / "inbox"),
        "TOKENBOOKS_ACTOR": "j.rivera",
    }
    yield CliWorld(tmp_path, source, ledger, clock, env)
    for app in built:
        app.engine.dispose()

"""Beancount: the export of a posted period passes `bean-check` (run for real), reads as accounting, and its
balance assertions catch a changed figure; a `ledger: beancount` entity posts into a file exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.bootstrap import build_app
from connector.cli import app as cli
from connector.domain.periods import Period
from connector.service.beancount_export import export_beancount
from connector.service.sync import sync
from connector.settings import Settings
from tests.service.conftest import Clock, ScriptedSource, World

ENTITY = "acme-us"
OCTOBER = Period(2026, 10)
BEAN_CHECK = Path(sys.executable).with_name("bean-check")


def bean_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BEAN_CHECK), str(path)], capture_output=True, text=True, timeout=120)


def book_three_nights(world: World) -> None:
    for day, amount in (
        (date(2026, 10, 1), "120.00"),
        (date(2026, 10, 2), "80.50"),
        (date(2026, 10, 3), "9.99"),
    ):
        world.source.set(amount, day)  # the support assistant: AI COGS, class Support Assistant
        world.source.set("30.25", day, project="proj_eng_tools")  # R&D
        world.source.set("4.75", day, project="proj_hackathon")  # no rule: suspense
        world.clock.night_after(day)
        assert sync(world.app, entity=ENTITY, until=day).status == "succeeded"


def test_the_export_of_a_posted_month_passes_bean_check(world: World, tmp_path):
    book_three_nights(world)
    mapping, _ = world.app.mapping()
    exported = export_beancount(world.app.store, mapping, entity=ENTITY, period=OCTOBER, now=world.clock())
    path = tmp_path / "october.beancount"
    path.write_text(exported.text)
    checked = bean_check(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert exported.journals == 3
    first = exported.text.split("\n\n")[2]  # opens come first, then the journals in date order
    assert first == (
        '2026-10-01 * "openai" "TB-AC-261001-001 · tokenbooks usage accrual: OpenAI usage accrual for '
        '2026-10-01, org-1" ^TB-AC-261001-001\n'
        '  key: "TB-AC-261001-001"\n'
        '  kind: "usage_accrual"\n'
        '  provider-account: "org-1"\n'
        '  quickbooks-id: "1"\n'
        "  Expenses:AI:COGS                                           120.00 USD\n"
        '    class: "Support Assistant"\n'
        '    description: "OpenAI usage accrual 2026-10-01"\n'
        "  Expenses:AI:Research-Development                            30.25 USD\n"
        '    description: "OpenAI usage accrual 2026-10-01"\n'
        "  Expenses:AI:Suspense                                         4.75 USD\n"
        '    description: "OpenAI usage accrual 2026-10-01"\n'
        "  Liabilities:Accrued-AI-Costs                              -155.00 USD\n"
        '    description: "OpenAI usage accrual 2026-10-01"'
    )
    assert "2026-11-01 balance Liabilities:Accrued-AI-Costs" in exported.text
    assert exported.balances[("Liabilities:Accrued-AI-Costs", "USD")] == Decimal("-315.49")
    assert exported.balances[("Expenses:AI:COGS", "USD")] == Decimal("210.49")


def test_a_balance_assertion_catches_a_figure_changed_in_the_file(world: World, tmp_path):
    book_three_nights(world)
    mapping, _ = world.app.mapping()
    text = export_beancount(world.app.store, mapping, entity=ENTITY, period=OCTOBER, now=world.clock()).text
    tampered = tmp_path / "tampered.beancount"
    tampered.write_text(text.replace("80.50 USD", "85.50 USD").replace("-115.50 USD", "-120.50 USD"))
    checked = bean_check(tampered)
    assert checked.returncode != 0
    assert "Balance failed" in checked.stdout + checked.stderr


def test_the_export_command_writes_the_file_and_says_what_it_holds(world: World, tmp_path, monkeypatch):
    book_three_nights(world)
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "TOKENBOOKS_DATABASE_URL": world.app.settings.database_url,
        "TOKENBOOKS_MAPPING_FILE": str(world.mapping_path),
    }.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "export" / "acme-2026-10.beancount"
    result = CliRunner().invoke(
        cli, ["export", "beancount", "--period", "2026-10", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["journals"], summary["out"], summary["text"]) == (3, str(out), None)
    assert bean_check(out).returncode == 0
    printed = CliRunner().invoke(cli, ["export", "beancount", "--period", "2026-10"])
    assert printed.stdout.splitlines()[1:] == out.read_text().splitlines()[1:]  # (line 1: 'as of' time)
    empty = CliRunner().invoke(
        cli, ["export", "beancount", "--period", "2026-09", "--out", str(tmp_path / "e.bean")]
    )
    assert empty.exit_code == 0
    assert bean_check(tmp_path / "e.bean").returncode == 0  # an empty period is still a valid file


BEANCOUNT_MAPPING = """\
mapping_version: 1
effective_from: 2026-01-01
change_note: plain-text books
entities:
  acme-us: {name: Acme Analytics, ledger: beancount, currency: USD, timezone: America/New_York}
roles:
  ai_cogs: {beancount: "Expenses:AI:COGS"}
  rnd: {beancount: "Expenses:AI:RnD"}
  sales_marketing: {beancount: "Expenses:AI:Marketing"}
  g_and_a: {beancount: "Expenses:AI:Admin"}
  accrued_ai_costs: {beancount: "Liabilities:Accrued:AI"}
  suspense: {beancount: "Expenses:AI:Suspense"}
rules:
  - id: support
    when: {project: proj_support_assistant}
    category: cogs
    beancount: {account: "Expenses:AI:COGS:Support", tracking: {Product: Support Assistant}}
"""


def test_a_beancount_entity_posts_into_its_file_once_and_reads_it_back(tmp_path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(BEANCOUNT_MAPPING)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'tb.db'}",
        mapping_file=mapping,
        data_dir=tmp_path,
        _env_file=None,
    )
    source, clock = ScriptedSource(), Clock()
    application = build_app(settings, clock=clock, sources=[source], sleep=lambda _s: None)
    source.set("120.00", date(2026, 10, 1))
    source.set("7.00", date(2026, 10, 1), project="proj_eng_tools")
    clock.night_after(date(2026, 10, 1))
    first = sync(application, entity=ENTITY, until=date(2026, 10, 1))
    assert first.post.posted == ["TB-AC-261001-001"]
    ledger_file = tmp_path / "ledgers" / "acme-us.beancount"
    assert bean_check(ledger_file).returncode == 0
    assert "Expenses:AI:COGS:Support" in ledger_file.read_text()
    again = sync(application, entity=ENTITY, until=date(2026, 10, 1))
    assert again.plan.planned == []
    ledger = application.ledger(ENTITY)
    [read] = ledger.read_back(date(2026, 10, 1), date(2026, 10, 31))
    assert read.key == "TB-AC-261001-001"
    assert read.debit_total == Decimal("127.00")
    assert {a.id for a in ledger.chart_of_accounts()} >= {
        "Expenses:AI:COGS:Support",
        "Liabilities:Accrued:AI",
    }
    [found] = ledger.post([first_request(application)])
    assert found.outcome.value == "found"  # a key already in the file is never written twice
    assert ledger_file.read_text().count("^TB-AC-261001-001") == 1


def first_request(application):
    from connector.ledgers.port import PostRequest
    from connector.store.unit_of_work import UnitOfWork

    with UnitOfWork(application.engine) as uow:
        [stored] = uow.outbox.list(ENTITY)
    return PostRequest(stored.journal, "request-id")


def test_a_beancount_account_in_the_mapping_must_follow_beancount_grammar(tmp_path):
    from connector.domain.mapping_parser import parse_mapping

    parsed, problems = parse_mapping(
        BEANCOUNT_MAPPING.replace('"Expenses:AI:RnD"', '"ai research"'), "m.yaml"
    )
    assert parsed is None
    assert any("'ai research' is not a beancount account name" in str(p) for p in problems)


@pytest.fixture(autouse=True)
def _needs_bean_check():
    assert BEAN_CHECK.exists(), "bean-check comes with the beancount package (dev extras)"

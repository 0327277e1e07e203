"""`tokenbooks report spend` tied to the ledger month by month, as a controller ties the report to the trial
balance: spend by the month it belongs to beside what the ledger holds by posting date, every difference
named (a late restatement moved out of a locked month, the reversal of a month-end accrual)."""

import json
from datetime import date
from decimal import Decimal

from typer.testing import CliRunner

from connector.cli import app as cli
from connector.domain.periods import Period
from connector.service import finance_reports
from connector.service.finance_reports import run_report
from connector.service.sync import sync
from connector.store.unit_of_work import UnitOfWork
from tests.service.books_world import ENTITY, books_world, policies
from tests.service.test_policy_journals import PROMOTIONAL_ROLE
from tests.support import FULL_MAPPING

NOV, DEC = Period(2026, 11), Period(2026, 12)


def locked_november(tmp_path, database_url=None):
    """November accrued at month-end and reversed on 1 December; the ledger locks November; the provider
    then restates 18 November (+2.76), booked on the first open day; December's usage accrued on its last."""
    world = books_world(tmp_path, policies("accrual: month_end_reversing"), database_url)
    world.source.set("1200.00", date(2026, 11, 3))
    world.source.set("1050.54", date(2026, 11, 18), project="proj_eng_tools")
    world.night(date(2026, 11, 30))
    world.night(date(2026, 12, 1))  # November has ended: its accrual (30 Nov) and reversal (1 Dec)
    world.ledger.lock = date(2026, 11, 30)  # the controller closes November in the ledger
    world.source.set("1053.30", date(2026, 11, 18), project="proj_eng_tools")  # restated: +2.76
    world.source.set("168.30", date(2026, 12, 2))
    world.clock.night_after(date(2026, 12, 5))  # the restatement is read back from 1 November
    assert sync(world.app, entity=ENTITY, since=NOV.first_day, until=date(2026, 12, 5)).status == "succeeded"
    world.night(date(2026, 12, 31))
    world.night(date(2027, 1, 1))  # December has ended: its accrual (31 Dec)
    return world


def tie_text(report) -> list[str]:
    lines = []
    for tie in report.ledger_ties:
        lines.append(f"{tie.month} {tie.currency} spend {tie.spend}")
        lines += [f"  {d.amount:+} {d.why}" for d in tie.differences]
        lines.append(f"  = ledger {tie.ledger}")
    return lines


def test_the_spend_report_ties_each_month_to_the_ledger_naming_moved_journals_and_reversals(
    tmp_path, database_url
):
    world = locked_november(tmp_path, database_url)
    report = run_report(world.app, "spend", entity=ENTITY, first=NOV, last=DEC)
    assert [(*r.keys, *r.figures) for r in report.rows] == [
        ("2026-11", "AI COGS", "USD", Decimal("1200.00"), Decimal("1200.00")),
        ("2026-11", "R&D", "USD", Decimal("1053.30"), Decimal("1050.54")),
        ("2026-12", "AI COGS", "USD", Decimal("168.30"), Decimal("-1031.70")),
        ("2026-12", "R&D", "USD", Decimal("0.00"), Decimal("-1050.54")),
    ]
    assert tie_text(report) == [
        "2026-11 USD spend 2253.30",
        "  -2.76 TB-AC-261201-001 (usage accrual, 2026-12-01) belongs to 2026-11 but was moved to 2026-12-01: "
        "2026-11 was locked in the ledger",
        "  = ledger 2250.54",
        "2026-12 USD spend 168.30",
        "  +2.76 TB-AC-261201-001 (usage accrual, 2026-12-01) belongs to 2026-11, locked in the ledger: "
        "moved into 2026-12",
        "  -2250.54 TB-RV-261201-001 (month-end reversal, 2026-12-01) reverses the month-end accrual of "
        "2026-11: in the ledger, not spend of 2026-12",
        "  -2.76 TB-RV-261201-002 (month-end reversal, 2026-12-01) reverses the month-end accrual of "
        "2026-11: in the ledger, not spend of 2026-12",
        "  = ledger -2082.24",
    ]
    for tie in report.ledger_ties:  # spend + the differences = the ledger, line by line
        assert tie.spend + sum(d.amount for d in tie.differences) == tie.ledger
    # what the ledger itself holds on the expense accounts, by the month of each journal's date
    mapping, _ = world.app.mapping()
    accrued = mapping.role_target("accrued_ai_costs", mapping.entity(ENTITY).ledger).account
    for tie in report.ledger_ties:
        month = Period.parse(tie.month)
        held = world.ledger.read_back(month.first_day, month.last_day)
        assert sum(ln.amount for j in held for ln in j.lines if ln.account != accrued) == tie.ledger


def test_the_spend_report_on_the_command_line_says_both_views_and_the_difference(tmp_path):
    world = locked_november(tmp_path)
    env = {**world.cli_env(), "COLUMNS": "200"}
    args = ["report", "spend", "--from", "2026-11", "--to", "2026-12"]
    printed = CliRunner().invoke(cli, [*args, "--json"], env=env)
    assert printed.exit_code == 0, printed.output
    body = json.loads(printed.stdout)
    assert body["rows"][1] == {
        "month": "2026-11",
        "category": "R&D",
        "currency": "USD",
        "spend": "1053.30",
        "ledger": "1050.54",
    }
    november = body["ledger_ties"][0]
    assert (november["month"], november["spend"], november["ledger"]) == ("2026-11", "2253.30", "2250.54")
    assert [(d["key"], d["amount"]) for d in november["differences"]] == [("TB-AC-261201-001", "-2.76")]
    table = CliRunner().invoke(cli, args, env=env)
    assert table.exit_code == 0, table.output
    text = " ".join(table.output.translate({ord(c): " " for c in "│┃┡┩━─┏┓┗┛╇╈┳┻├┤┼"}).split())
    assert "spend that belongs to the month 2,253.30" in text
    assert "in the ledger, by posting date 2,250.54" in text
    assert (
        "TB-RV-261201-001 (month-end reversal, 2026-12-01) reverses the month-end accrual of 2026-11" in text
    )


def test_a_changed_true_up_event_says_the_true_up_in_all_and_the_change_its_journal_books(tmp_path):
    """The invoice trues October up by −0.10; the provider then restates a day 0.01 lower: the true-up is
    −0.09 in all, but the journal posted books only +0.01. The run's event said "true-up of -0.09" beside
    a journal of +0.01, as if it had booked −0.09 again."""
    world = books_world(tmp_path)
    world.source.set("100.00", date(2026, 10, 3))
    world.night(date(2026, 10, 31))
    world.invoice("INV-10", "2026-10", "2026-11-03", "99.90")
    first = world.night(date(2026, 11, 4))
    world.source.set("99.99", date(2026, 10, 3))  # restated after the invoice
    world.clock.night_after(date(2026, 11, 5))
    second = sync(world.app, entity=ENTITY, since=date(2026, 10, 1), until=date(2026, 11, 5))
    with UnitOfWork(world.app.engine) as uow:
        [before] = [e for e in uow.events.for_run(first.run_id) if e.kind == "trueup"]
        [now] = [e for e in uow.events.for_run(second.run_id) if e.kind == "trueup"]
    assert "true-up of -0.10 USD in all, all of it booked now (-0.10 USD)" in before.message
    assert (
        "true-up of -0.09 USD in all, of which +0.01 USD is booked now (the journal posted) and -0.10 USD "
        "was booked before"
    ) in now.message
    assert now.data["booked_now"] == "0.01"


def test_the_promotional_credits_account_is_a_category_of_the_report_so_its_month_end_reversal_is_too(
    tmp_path,
):
    """A month-end reversal is labelled by the account it books: the promotional credits' account must be
    labelled as the report's "Promotional credits", or its reversal would show as a bare account number."""
    world = books_world(tmp_path)
    capitalized = '  capitalized_software: {quickbooks: "1650"}\n'
    (tmp_path / "mapping.yaml").write_text(FULL_MAPPING.replace(capitalized, capitalized + PROMOTIONAL_ROLE))
    world.rewrite_policies(world.policies_path.read_text())  # a fresh app reads the new mapping
    mapping, _ = world.app.mapping()
    account = mapping.role_target("promotional_credits", "quickbooks").account
    assert finance_reports._labels(world.app, ENTITY)[account] == "Promotional credits"

"""`tokenbooks report …`: the figures finance tracks, from the books and the facts, as tables or --json."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal

from typer.testing import CliRunner

from connector.cli import app as cli
from connector.domain.facts import Dimensions
from connector.domain.periods import Period
from connector.domain.usage import Usage
from connector.service.finance_reports import run_report
from connector.store.unit_of_work import UnitOfWork
from tests.service.books_world import ENTITY, books_world, policies
from tests.support import fact

OCT = Period(2026, 10)


def rows(report):
    return [(*r.keys, *r.figures) for r in report.rows]


def booked_october(tmp_path, account="billing: arrears"):
    world = books_world(tmp_path, policies(account))
    world.source.set("12.00", date(2026, 10, 2), line_item="gpt-4.1, output")
    tagged = {"tag:team": "platform"}
    world.source.facts.append(
        fact("3.00", date(2026, 10, 2), project="proj_eng_tools", line_item="o4-mini, input", **tagged)
    )
    world.customer_credits(
        "s-1,globex,g-1,purchase,2026-10-01,1000.00,USD,api-credits,2026-10-20",
        "r-1,globex,g-1,redemption,2026-10-15,460.00,USD,api-credits,",
    )
    world.night(date(2026, 10, 31))
    return world


def test_spend_by_month_and_category_and_cost_by_project_or_tag(tmp_path):
    world = booked_october(tmp_path)
    spend = run_report(world.app, "spend", entity=ENTITY, first=OCT, last=OCT)
    assert rows(spend) == [  # spend of the month, and what the ledger holds that month: nothing moved
        ("2026-10", "AI COGS", "USD", Decimal("12.00"), Decimal("12.00")),
        ("2026-10", "R&D", "USD", Decimal("3.00"), Decimal("3.00")),
    ]
    by_team = run_report(world.app, "costs", entity=ENTITY, first=OCT, last=OCT, by="tag:team")
    assert rows(by_team) == [
        ("2026-10", "(none)", "USD", Decimal("12.00")),
        ("2026-10", "platform", "USD", Decimal("3.00")),
    ]


def test_cost_per_thousand_tokens_joins_billed_cost_to_the_usage_by_model(tmp_path):
    world = booked_october(tmp_path)
    usage = Usage(
        ENTITY,
        "openai",
        "org-1",
        date(2026, 10, 2),
        date(2026, 10, 2),
        "u-1",
        Dimensions.of(model="gpt-4.1"),
        (("input_tokens", Decimal(1_000_000)), ("output_tokens", Decimal(200_000))),
    )
    with UnitOfWork(world.app.engine) as uow:
        uow.usage.replace_window(
            source="openai.usage",
            provider_account="org-1",
            first_day=date(2026, 10, 2),
            last_day=date(2026, 10, 2),
            usage=[usage],
            raw_payload_ids={},
            run_id=None,
            now=datetime(2026, 10, 3, tzinfo=UTC),
        )
        uow.commit()
    report = run_report(world.app, "tokens", entity=ENTITY, first=OCT, last=OCT)
    assert rows(report) == [
        ("gpt-4.1", "USD", Decimal("12.00"), Decimal(1_200_000), Decimal("0.010000")),
        ("o4-mini", "USD", Decimal("3.00"), Decimal(0), None),  # no usage known: no rate, not a guess
    ]


def test_prepaid_utilization_breakage_actual_against_expected_and_gross_margin(tmp_path):
    world = booked_october(tmp_path, "billing: prepaid")
    world.buy_credits("lot-1", "40.00", date(2026, 10, 1), date(2026, 12, 1))
    world.night(date(2026, 10, 31))
    day = date(2026, 10, 31)
    prepaid = run_report(world.app, "prepaid", entity=ENTITY, first=OCT, last=OCT, day=day)
    assert rows(prepaid) == [
        (
            "lot-1",
            "openai org-1",
            "USD",
            "2026-12-01",
            "60 days",
            Decimal("40.00"),
            Decimal("15.00"),
            Decimal(0),
            Decimal("25.00"),
            Decimal("37.5"),
        )
    ]
    breakage = run_report(world.app, "breakage", entity=ENTITY, first=OCT, last=OCT, day=day)
    # the grant expired on 20 October: 540 of 1,000 never redeemed, against 8 % expected
    assert rows(breakage) == [
        (
            "api-credits",
            "USD",
            Decimal("1000.00"),
            Decimal("460.00"),
            Decimal("540.00"),
            Decimal("54.00"),
            Decimal("8.00"),
        )
    ]
    margin = run_report(world.app, "margin", entity=ENTITY, first=OCT, last=OCT)
    assert rows(margin) == [
        ("2026-10", "USD", Decimal("1000.00"), Decimal("12.00"), Decimal("988.00"), Decimal("98.80"))
    ]


def test_gross_margin_keeps_a_month_of_ai_cogs_without_redemptions_so_the_year_adds_up(tmp_path):
    # credits sold and redeemed in October; November serves customers (AI COGS) but nobody redeems: the
    # month is a loss, and the range's margin must count its COGS (it showed October alone)
    world = booked_october(tmp_path)
    world.source.set("30.00", date(2026, 11, 5), line_item="gpt-4.1, output")
    world.night(date(2026, 11, 30))
    margin = run_report(world.app, "margin", entity=ENTITY, first=OCT, last=Period(2026, 11))
    assert rows(margin) == [
        ("2026-10", "USD", Decimal("1000.00"), Decimal("12.00"), Decimal("988.00"), Decimal("98.80")),
        ("2026-11", "USD", Decimal(0), Decimal("30.00"), Decimal("-30.00"), None),
    ]
    assert str(margin.rows[1].figures[0]) == "0.00"  # printed in cents like every amount
    spend = run_report(world.app, "spend", entity=ENTITY, first=OCT, last=Period(2026, 11))
    cogs = sum(r.figures[0] for r in spend.rows if r.keys[1] == "AI COGS")
    assert sum(r.figures[1] for r in margin.rows) == cogs


def test_prepaid_report_prints_every_lot_figure_in_cents_even_a_lot_not_drawn_or_not_expired(tmp_path):
    # a lot bought for later, untouched, beside one in use: `0` stood beside `15.00` and `25.00`
    world = booked_october(tmp_path, "billing: prepaid")
    world.buy_credits("lot-1", "40.00", date(2026, 10, 1), date(2026, 12, 1))
    world.buy_credits("lot-2", "50.00", date(2026, 10, 20), date(2027, 10, 20))
    world.night(date(2026, 10, 31))
    prepaid = run_report(world.app, "prepaid", entity=ENTITY, first=OCT, last=OCT, day=date(2026, 10, 31))
    figures = {row[0]: [str(amount) for amount in row[5:9]] for row in rows(prepaid)}
    assert figures == {
        "lot-1": ["40.00", "15.00", "0.00", "25.00"],
        "lot-2": ["50.00", "0.00", "0.00", "50.00"],
    }


def test_breakage_report_counts_credits_sold_net_of_refunds(tmp_path):
    # 1,000 sold, 400 refunded, 460 redeemed, expired on 20 October: 140 broke, of the 600 the customer
    # kept (23.33 %), not of the 1,000 first sold (14 %)
    world = booked_october(tmp_path)
    world.customer_credits("f-1,globex,g-1,refund,2026-10-10,400.00,USD,api-credits,")
    world.night(date(2026, 10, 31))
    breakage = run_report(world.app, "breakage", entity=ENTITY, first=OCT, last=OCT, day=date(2026, 10, 31))
    assert rows(breakage) == [
        (
            "api-credits",
            "USD",
            Decimal("600.00"),
            Decimal("460.00"),
            Decimal("140.00"),
            Decimal("23.33"),
            Decimal("8.00"),
        )
    ]


def test_report_on_the_command_line_prints_a_table_or_json(tmp_path):
    world = booked_october(tmp_path)
    env = world.cli_env()
    printed = CliRunner().invoke(
        cli, ["report", "spend", "--from", "2026-10", "--to", "2026-10", "--json"], env=env
    )
    assert printed.exit_code == 0, printed.output
    body = json.loads(printed.stdout)
    assert body["rows"][0] == {
        "month": "2026-10",
        "category": "AI COGS",
        "currency": "USD",
        "spend": "12.00",
        "ledger": "12.00",
    }
    table = CliRunner().invoke(
        cli, ["report", "costs", "--by", "project", "--from", "2026-10", "--to", "2026-10"], env=env
    )
    assert "proj_support_assistant" in table.output
    assert "12.00" in table.output
    wrong = CliRunner().invoke(cli, ["report", "profits"], env=env)
    assert wrong.exit_code == 2
    assert "there is no report 'profits'" in wrong.output

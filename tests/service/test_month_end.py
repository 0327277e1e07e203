"""Month-end through the command line: reconciliation without false variances, a close that reaches
"ready" for months with no provider invoice to wait for, and a close that names each blocker and its fix."""

from datetime import UTC, date, datetime
from decimal import Decimal

from tests.service.books_world import policies
from tests.service.cli_world import CliWorld
from tests.service.test_capitalization_journals import CAPITALIZE_RULE
from tests.support import FULL_MAPPING

INVOICE_HEADER = "provider,account,number,period,issue_date,total,currency\n"


def words(text: str) -> str:
    """Text without the table's box drawing, one space between words."""
    return " ".join(text.translate({ord(c): " " for c in "│┃┡┩━─┏┓┗┛╇╈┳┻"}).split())


def test_a_backfill_pulled_after_the_invoice_reconciles_matched(cli_world: CliWorld):
    world = cli_world
    world.invoice("INV-10", "2026-10", "2026-11-03", "150.00")
    for day, amount in ((3, "100.00"), (20, "50.00")):
        world.source.set(amount, date(2026, 10, day))
    world.clock.now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # the history pull, weeks after the invoice
    world.run("sync", "--since", "2026-10-01", "--until", "2026-10-31")
    [result] = world.json("reconcile", "--period", "2026-10")["results"]
    assert result["status"] == "matched", result
    assert result["explained"] == []  # nothing is "usage reported after the invoice was issued"
    assert (result["provider_cost"], result["invoice_total"], result["posted_total"]) == (
        "150.00",
        "150.00",
        "150.00",
    )


def test_a_provider_restatement_after_the_invoice_is_still_late_usage(cli_world: CliWorld):
    world = cli_world
    world.source.set("100.00", date(2026, 10, 3))
    world.night(date(2026, 10, 31))  # read before the invoice
    world.invoice("INV-10", "2026-10", "2026-11-03", "100.00")
    world.source.set("104.50", date(2026, 10, 3))  # the provider restates the day afterwards
    world.source.set("2.00", date(2026, 10, 3), project="proj_eng_tools")  # and reports a new bucket
    world.clock.now = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
    world.run("sync", "--since", "2026-10-01", "--until", "2026-10-31")
    [result] = world.json("reconcile", "--period", "2026-10")["results"]
    assert result["explained"] == [{"item": "usage reported after the invoice was issued", "amount": "-6.50"}]
    assert result["status"] == "matched"


def test_the_reconcile_table_counts_the_true_up_in_posted_and_in_the_ledger(cli_world: CliWorld):
    world = cli_world
    world.source.set("100.00", date(2026, 10, 3))
    world.night(date(2026, 10, 31))
    world.invoice("INV-10", "2026-10", "2026-11-03", "103.00")
    world.clock.now = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
    world.run("sync")  # books the true-up of 3.00
    [result] = world.json("reconcile", "--period", "2026-10")["results"]
    assert (result["posted_total"], result["true_up_total"], result["ledger_total"]) == (
        "103.00",
        "3.00",
        "103.00",
    )
    [posted] = [f for f in result["findings"] if f["check"].startswith("posted")]
    assert posted["holds"]
    assert "true-up of +3.00" in posted["explanation"]
    assert result["explained"] == [{"item": "booked as an invoice true-up", "amount": "3.00"}]
    assert result["status"] == "matched"
    table = words(world.run("reconcile", "--period", "2026-10").output)
    assert "Posted by tokenbooks 103.00" in table
    assert "of which true-up 3.00" in table
    assert "In the ledger 103.00" in table


def test_an_invoice_for_an_account_the_source_does_not_read_is_refused_naming_the_accounts(
    cli_world: CliWorld,
):
    world = cli_world
    world.source.set("100.00", date(2026, 10, 3))
    world.night(date(2026, 10, 31))
    path = world.write("INV-10.csv", INVOICE_HEADER + "openai,default,INV-10,2026-10,2026-11-03,100.00,USD\n")
    report = world.json("import", "invoices", str(path), code=None)
    [row] = report["quarantined"]
    assert (row["location"], row["field"]) == ("row 2", "account")
    assert (
        "openai account 'default' is not one tokenbooks knows (its openai account(s): org-1)"
        in row["message"]
    )
    assert "write the account as the source names it (org-1)" in row["fix"]


def test_an_invoice_for_an_account_no_source_knows_is_named_in_reconciliation_and_close(cli_world: CliWorld):
    world = cli_world
    world.source.set("100.00", date(2026, 10, 3))
    world.night(date(2026, 10, 31))
    path = world.write("A-10.csv", INVOICE_HEADER + "anthropic,default,A-10,2026-10,2026-11-03,80.00,USD\n")
    world.run("import", "invoices", str(path))  # no anthropic account is known: nothing to judge it by
    world.clock.now = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
    results = {r["provider"]: r for r in world.json("reconcile", "--period", "2026-10")["results"]}
    unknown = results["anthropic"]
    assert unknown["status"] == "unknown_account"
    finding = unknown["findings"][0]
    assert finding["check"] == "the invoice's provider account is one a source knows"
    assert "invoice A-10 is for anthropic account 'default'" in finding["explanation"]
    assert "tokenbooks knows no anthropic account" in finding["explanation"]
    world.run("alerts", "check")
    [alert] = [a for a in world.json("alerts", "list") if a["subject"] == "anthropic/default"]
    assert (alert["kind"], alert["period"]) == ("reconciliation_variance", "2026-10")
    assert "unknown_account, invoice − cost 80.00 USD" in alert["message"]
    close = world.json("close", "--period", "2026-10")
    assert not close["ready"]
    [blocker] = [b for b in close["blockers"] if "for 2026-10: unknown account" in b["what"]]
    assert "invoice A-10 is for anthropic account 'default'" in blocker["what"]
    assert "tokenbooks import invoices FILE" in blocker["fix"]


def test_a_month_with_only_amortization_revenue_breakage_and_reversals_closes_ready(cli_world: CliWorld):
    world = cli_world
    world.write("mapping.yaml", FULL_MAPPING.replace("  - id: eng\n", CAPITALIZE_RULE))
    world.write(
        "policies.yaml",
        policies("accrual: month_end_reversing", capitalization="{useful_life_months: 12}"),
    )
    world.source.set("1200.00", date(2026, 10, 5), project="proj_eng_billing_v2")  # capitalized
    world.source.set("300.00", date(2026, 10, 6))  # accrued at month end, reversed on 1 November
    world.customer_credits(
        "s-1,globex,g-1,purchase,2026-09-01,1000.00,USD,api-credits,2027-09-01",
        "r-1,globex,g-1,redemption,2026-11-10,460.00,USD,api-credits,",
    )
    world.invoice("INV-10", "2026-10", "2026-11-03", "1500.00")
    world.clock.now = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
    october = world.json("close", "--period", "2026-10")
    assert october["ready"], october["blockers"]
    world.clock.now = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
    november = world.json("close", "--period", "2026-11")
    kinds = {key.split("-")[1] for key in november["posted"]}
    assert kinds == {"AM", "RR", "BK"}  # amortization, revenue, breakage; the reversal posted in October's
    assert november["reconciliation"] == []  # none of those waits for a provider invoice
    assert november["blockers"] == []
    assert november["ready"] is True
    assert "ready to sign off" in words(world.run("close", "--period", "2026-11").output)


def test_close_names_each_blocker_and_the_command_that_fixes_it(cli_world: CliWorld):
    world = cli_world
    world.write("policies.yaml", policies(posting_mode="approve"))
    world.source.set("100.00", date(2026, 10, 3))
    world.source.set("7.50", date(2026, 10, 3), project="proj_nobody_mapped")
    world.clock.now = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
    result = world.json("close", "--period", "2026-10")
    assert not result["ready"]
    blockers = {b["what"].split(" ")[0]: b for b in result["blockers"]}
    [held] = [b for b in result["blockers"] if b["what"].startswith("TB-AC-261003-001")]
    assert "is held: posting mode approve" in held["what"]
    assert held["fix"].startswith('tokenbooks approve TB-AC-261003-001 --by "<your name>"')
    suspense = blockers["7.50"]
    assert "sits in suspense" in suspense["what"]
    assert suspense["fix"].startswith("tokenbooks mappings coverage --period 2026-10")
    [invoice] = [b for b in result["blockers"] if "for 2026-10: missing invoice" in b["what"]]
    assert invoice["fix"].startswith("tokenbooks import invoices FILE")
    text = world.run("close", "--period", "2026-10").output
    assert f"Not ready to sign off — {len(result['blockers'])} item(s)" in words(text)
    assert "missing_invoice" not in text  # a status in words, as a controller reads it
    assert words(text).count("Fix:") == len(result["blockers"])


ENG_SPLIT = (
    FULL_MAPPING.replace("mapping_version: 1", "mapping_version: 2")
    .replace("effective_from: 2026-01-01", "effective_from: 2026-09-01")
    .replace("change_note: test mapping", "change_note: half the coding tools demo the product to prospects")
    .replace(
        "    category: rnd\n  - id: shared",
        "    split:\n      - {percent: 50, category: rnd}\n      - {percent: 50, category: sales_marketing}\n"
        "  - id: shared",
    )
)


def test_a_mapping_change_into_a_closed_month_posts_one_reclass_that_leaves_the_liability_untouched(
    cli_world: CliWorld,
):
    world = cli_world
    world.source.set("100.00", date(2026, 9, 10))
    world.source.set("10.005", date(2026, 9, 10), project="proj_eng_tools")  # 110.005: 110.01 accrued
    world.night(date(2026, 9, 30))
    world.invoice("INV-09", "2026-09", "2026-10-03", "110.01")
    world.night(date(2026, 10, 4))
    world.ledger.lock = date(2026, 9, 30)  # September is closed in the ledger
    liability = world.ledger.balance("2150")
    assert liability == Decimal("-110.01")
    world.write("mapping.yaml", ENG_SPLIT)
    world.night(date(2026, 10, 5))
    # 10.005 split in halves is 5.003 + 5.002: rounded apart, 5.00 + 5.00 would lose a cent against the
    # accrual; rounded together they are 5.01 + 5.00, so the reclass moves 5.00 and nets to zero
    [reclass] = [j for j in world.ledger.journals.values() if j.key.startswith("TB-RC-")]
    assert reclass.key == "TB-RC-261001-001"  # the first open day
    assert sorted((ln.account, ln.amount) for ln in reclass.lines) == [
        ("6110", Decimal("-5.00")),
        ("6120", Decimal("5.00")),
    ]
    assert (
        "Moved to 2026-10-01: the books are closed through 2026-09-30; it belongs to 2026-09" in reclass.memo
    )
    assert (
        "Reclass for a mapping change: version 1 → 2 (version 2 effective 2026-09-01: half the coding "
        "tools demo the product to prospects)" in reclass.memo
    )
    assert world.ledger.balance("2150") == liability  # the accrued liability is untouched
    assert [key for key in world.ledger.journals if key.startswith(("TB-AC-26100", "TB-TU-"))] == []
    assert world.json("sync", "--until", "2026-10-05")["planned"] == []  # and nothing more to post


def test_credits_sold_as_a_product_the_policies_do_not_name_are_refused_at_import_and_by_policies_check(
    cli_world: CliWorld,
):
    world = cli_world
    header = "event_id,customer,grant,kind,date,amount,currency,product,expires_on\n"
    path = world.write(
        "sold.csv",
        header
        + "s-1,globex,g-1,purchase,2026-09-01,1000.00,USD,API credits,2027-09-01\n"
        + "s-2,initech,g-2,purchase,2026-09-01,500.00,USD,api-credits,2027-09-01\n",
    )
    report = world.json("import", "customer-credits", str(path), code=None)
    [row] = report["quarantined"]
    assert (row["location"], row["field"]) == ("row 2", "product")
    assert (
        "product 'API credits' has no expected breakage in the accounting policies of acme-us"
        in row["message"]
    )
    assert "(expected_breakage_percent names: api-credits)" in row["message"]
    assert report["stored"] == {"events_new": 1, "events_unchanged": 0, "events_replaced": 0}
    # credits sold before the policies named their products: `policies check` finds them
    world.write("policies.yaml", policies().replace("api-credits: 8", "api-credit: 8"))
    check = world.json("policies", "check", code=2)
    [problem] = [p for p in check["problems"] if p["field"] == "expected_breakage_percent"]
    assert "product 'api-credits' has no expected breakage" in problem["message"]
    assert "(expected_breakage_percent names: api-credit)" in problem["message"]
    assert "grant(s) g-2 were sold as it" in problem["message"]


def test_policies_check_ties_each_capitalized_project_to_a_capitalize_rule_of_the_mapping(
    cli_world: CliWorld,
):
    world = cli_world
    world.write("mapping.yaml", FULL_MAPPING.replace("  - id: eng\n", CAPITALIZE_RULE))
    undeclared = world.json("policies", "check")
    [warning] = [p for p in undeclared["problems"] if p["field"] == "rules.billing-v2"]
    assert warning["severity"] == "warning"
    assert "declare no project for it" in warning["message"]
    world.write(
        "policies.yaml", policies(capitalization="{projects: {billing-v2: {in_service: 2026-06-01}}}")
    )
    [missing] = world.json("policies", "check", code=2)["problems"]
    assert (missing["field"], missing["message"]) == (
        "entities.acme-us.capitalization.projects.billing-v2.expensed_as",
        "missing",
    )
    assert "say where the project's spend goes once it is in service" in missing["fix"]
    world.write("policies.yaml", policies(capitalization="{projects: {billing-v3: {expensed_as: rnd}}}"))
    check = world.json("policies", "check", code=2)
    [wrong] = [
        p for p in check["problems"] if p["field"] == "entities.acme-us.capitalization.projects.billing-v3"
    ]
    assert "no mapping rule 'billing-v3' with category capitalize" in wrong["message"]
    assert wrong["fix"].endswith("(billing-v2)")


def test_a_close_with_a_day_its_source_refused_says_which_day_and_exits_3(cli_world: CliWorld):
    """The night before the close, a row of October 20th failed a check: the sync posts the rest and
    exits 3, and the close names the stale day as a blocker, in words and in its JSON."""
    world = cli_world
    world.source.set("100.00", date(2026, 10, 3))
    world.source.set("50.00", date(2026, 10, 20))
    world.source.refused = {date(2026, 10, 20): "'$50.00' is not a plain decimal"}
    world.clock.night_after(date(2026, 10, 31))
    synced = world.run("sync", "--since", "2026-10-01", "--until", "2026-10-31", code=3)
    said = words(synced.output)
    assert "refused days (left as stored; read again next run): 2026-10-20" in said
    assert "partial — openai.costs: 1 day(s) refused" in said
    world.clock.now = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
    closed = world.json("close", "--period", "2026-10", code=3)
    [refused] = closed["refused_days"]
    assert (refused["source"], refused["first_day"], refused["days"]) == (
        "openai.costs:org-1",
        "2026-10-20",
        1,
    )
    assert any(b["what"].startswith("openai.costs:org-1: 1 day(s) of 2026-10") for b in closed["blockers"])


def test_the_close_shows_a_grant_sold_net_of_its_refunds_so_its_row_adds_up(cli_world: CliWorld):
    # 1,000 sold, 400 refunded, 460 redeemed, expired on 20 October: the row said sold 1,000 beside
    # revenue 460 + breakage 140 + deferred 0
    world = cli_world
    world.customer_credits(
        "s-1,globex,g-1,purchase,2026-10-01,1000.00,USD,api-credits,2026-10-20",
        "f-1,globex,g-1,refund,2026-10-10,400.00,USD,api-credits,",
        "r-1,globex,g-1,redemption,2026-10-15,460.00,USD,api-credits,",
    )
    world.clock.now = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
    [grant] = world.json("close", "--period", "2026-10", code=None)["deferred_revenue"]
    assert (grant["sold"], grant["revenue"], grant["breakage"], grant["deferred"]) == (
        "600.00",
        "460.00",
        "140.00",
        "0.00",
    )

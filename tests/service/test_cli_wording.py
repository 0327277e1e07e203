"""Small things that make users doubt the numbers, through the command line: words that say what happened,
and `mappings check` reporting every mistake in one run."""

from datetime import UTC, date, datetime

from tests.service.books_world import policies
from tests.service.cli_world import CliWorld
from tests.service.test_month_end import words
from tests.support import FULL_MAPPING


def test_mappings_check_counts_in_words_and_names_the_chart_once(cli_world: CliWorld):
    text = words(cli_world.run("mappings", "check").output)
    assert "acme-us: accounts checked against the QuickBooks chart fetched now" in text
    assert "checked against the checked against" not in text
    assert "3 rules, 1 entity." in text
    assert "entit(ies)" not in text


def test_mappings_check_reports_every_mistake_in_one_run(cli_world: CliWorld):
    world = cli_world
    broken = (
        FULL_MAPPING.replace(
            "    category: cogs\n    quickbooks: {class: Support Assistant}",
            "    category: cogz\n    quickbooks: {class: Support Assistant}",
        )
        .replace("    category: rnd\n", '    category: rnd\n    quickbooks: "9999"\n')
        .replace(
            "  - id: shared\n    when: {project: proj_shared}",
            "  - id: shared\n    when: {provider: google, project: proj_shared}",
        )
    )
    world.write("mapping.yaml", broken)
    report = world.json("mappings", "check", code=2)
    messages = [f"{p['field']}: {p['message']}" for p in report["problems"]]
    assert any("cogz" in m for m in messages), messages  # the file
    assert any("9999" in m for m in messages), messages  # the ledger's chart, in the same run
    [google] = [p for p in report["problems"] if p["field"] == "rules.shared.when.provider"]
    assert "provider 'google' never matches: facts name this provider 'gcp'" in google["message"]
    assert google["fix"] == "write provider: gcp"


def test_a_sync_that_posts_journals_held_by_an_earlier_run_does_not_say_nothing_new_to_post(
    cli_world: CliWorld,
):
    world = cli_world
    world.write("policies.yaml", policies(posting_mode="approve"))
    world.source.set("100.00", date(2026, 10, 3))
    world.night(date(2026, 10, 3))
    world.run("approve", "TB-AC-261003-001", "--by", "J. Rivera")
    world.clock.now = datetime(2026, 10, 4, 9, 0, tzinfo=UTC)
    text = words(world.run("sync", "--until", "2026-10-03").output)
    assert "Nothing new to plan: posting the journals left from earlier runs" in text
    assert "Nothing new to post" not in text
    assert "Posted 1," in text


def test_promotional_credits_are_recorded_by_hand_or_from_a_file_and_listed_as_such(cli_world: CliWorld):
    world = cli_world
    world.run(
        "credits", "add", "--provider", "openai", "--account", "org-1", "--amount", "100.00",
        "--purchased", "2026-10-01", "--lot-id", "PROMO-1", "--promotional",
    )  # fmt: skip
    lots = world.write(
        "lots.csv",
        "lot_id,provider,account,purchase_date,amount,currency,expires_on,promotional\n"
        "R-1,openai,org-1,2026-10-01,500.00,USD,,false\n"
        "R-2,openai,org-1,2026-10-01,50.00,USD,,maybe\n",
    )
    report = world.json("import", "credits", str(lots), code=None)
    [row] = report["quarantined"]
    assert (row["field"], row["message"]) == ("promotional", "'maybe' is not true or false")
    kinds = {lot["lot_id"]: lot["kind"] for lot in world.json("credits", "list")}
    assert kinds == {"PROMO-1": "promotional", "R-1": "bought"}

"""The mapping preview of books kept in pounds for a provider billing dollars: the preview plans as the
sync does — in the books' currency, at the policy's rates — so a change reaching posted days shows the
reclasses the next sync posts, in pounds, not a second copy of every posted journal in dollars."""

from __future__ import annotations

from datetime import date

from connector.domain.journals import JournalKind
from connector.domain.periods import Period
from connector.service.console_edits import check_mapping, preview
from tests.service.books_world import ENTITY, pound_november, pound_world

NOVEMBER = Period(2026, 11)


def support_moved_to_rnd(world) -> str:
    """The mapping with the support assistant's spend moved from COGS to R&D from 14 November."""
    text = (world.tmp / "mapping.yaml").read_text()
    text = text.replace("mapping_version: 1", "mapping_version: 2").replace(
        "effective_from: 2026-01-01", "effective_from: 2026-11-14"
    )
    return text.replace(
        "    when: {project: proj_support_assistant}\n    category: cogs\n",
        "    when: {project: proj_support_assistant}\n    category: rnd\n",
    )


def test_the_preview_of_converted_books_shows_the_reclass_the_sync_posts_in_the_books_currency(tmp_path):
    world = pound_world(tmp_path)
    pound_november(world)  # 13-16 November posted, in pounds
    candidate = check_mapping(world.app, support_moved_to_rnd(world))
    assert candidate.ok, [p.describe() for p in candidate.errors]
    report, _ = preview(world.app, candidate, entity=ENTITY, period=NOVEMBER)
    previewed = [(p.journal.kind, p.journal.currency) for p in report.journals]
    assert report.due_anyway == []  # the current mapping owes nothing: all four days are posted
    assert previewed == [(JournalKind.RECLASS, "GBP")] * 3  # a reclass a day moved: 14, 15 and 16 November

    (world.tmp / "mapping.yaml").write_text(support_moved_to_rnd(world))
    world.rewrite_mapping(support_moved_to_rnd(world))
    world.night(date(2026, 11, 16))
    posted = [(j.txn_date, j.lines) for j in world.journals(JournalKind.RECLASS)]
    assert [(p.journal.txn_date, p.journal.lines) for p in report.journals] == posted  # as the sync posted


def test_the_totals_by_account_say_their_currency_beside_journals_in_the_books_currency(
    tmp_path, capsys, monkeypatch
):
    from connector.cli import mappings as mappings_cli

    world = pound_world(tmp_path)
    pound_november(world)
    candidate = check_mapping(world.app, support_moved_to_rnd(world))
    report, _ = preview(world.app, candidate, entity=ENTITY, period=NOVEMBER)
    assert {line.currency for line in report.lines} == {"USD"}  # as classified: the provider bills dollars
    assert {p.journal.currency for p in report.journals} == {"GBP"}  # converted, as the sync posts them
    assert (
        "totals by account are in the provider's currency (USD), as classified; the journals are in the "
        "books' currency (GBP), converted at each day's rate"
    ) in report.notes
    monkeypatch.setenv("COLUMNS", "200")
    mappings_cli._print_preview(report)
    printed = " ".join(capsys.readouterr().out.split())
    assert "4,000.04 USD" in printed, printed  # Support Assistant's total, before
    assert "-3,000.03 USD" in printed, printed  # what moves from it, 14-16 November

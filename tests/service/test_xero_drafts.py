"""The `draft` posting mode against the Xero sandbox: manual journals saved as DRAFT for review in Xero."""

from __future__ import annotations

import copy

from connector.bootstrap import build_app
from connector.domain.periods import Period
from connector.domain.reconcile import ReconStatus
from connector.service.reconcile import reconcile_run
from tests.service.test_xero_sync import ENTITY, OCTOBER, XeroWorld, world  # noqa: F401 (the fixture)

POLICIES = """\
policy_version: 1
effective_from: 2026-01-01
change_note: journals are reviewed in Xero before they post
defaults: {posting_mode: draft}
"""


def test_in_draft_mode_journals_reach_xero_as_drafts_and_are_not_posted_twice(world: XeroWorld, tmp_path):  # noqa: F811
    (tmp_path / "policies.yaml").write_text(POLICIES)
    world.settings = world.settings.model_copy(update={"policies_file": tmp_path / "policies.yaml"})
    world.app = build_app(world.settings, clock=world.rig.now, sources=[world.source], sleep=world.rig.sleep)
    world.spend(OCTOBER[0], "120.37")
    first = world.night_after(OCTOBER[0])
    assert first.post.posted == ["TB-AC-261001-001"]
    [journal] = world.rig.live_journals()
    assert journal["Status"] == "DRAFT"
    assert world.night_after(OCTOBER[1]).post.posted == []


def test_a_draft_moved_by_hand_to_another_account_and_region_is_drift_saying_where(
    world: XeroWorld,  # noqa: F811 (the fixture)
    tmp_path,
):
    """A reviewer opens tokenbooks' draft in Xero and, before approving it, moves its expense line to 613 AI
    G&A and Region EU (amounts untouched). The draft is still tokenbooks' journal, but not where it booked
    the spend: reconcile names the line and where it went."""
    (tmp_path / "policies.yaml").write_text(POLICIES)
    world.settings = world.settings.model_copy(update={"policies_file": tmp_path / "policies.yaml"})
    world.app = build_app(world.settings, clock=world.rig.now, sources=[world.source], sleep=world.rig.sleep)
    world.spend(OCTOBER[0], "120.37")
    assert world.night_after(OCTOBER[0]).post.posted == ["TB-AC-261001-001"]
    [before] = reconcile_run(world.app, entity=ENTITY, period=Period(2026, 10))
    assert before.input.drifted_keys == ()
    assert before.input.draft_keys == ("TB-AC-261001-001",)

    [draft] = world.rig.live_journals()
    lines = copy.deepcopy(draft["JournalLines"])
    [expense] = [ln for ln in lines if ln["AccountCode"] == "510"]
    expense["AccountCode"] = "613"
    expense["Tracking"] = [{"Name": "Region", "Option": "EU"}]
    world.rig.box.edit_journal_by_hand("TB-AC-261001-001", JournalLines=lines)

    [drift] = reconcile_run(world.app, entity=ENTITY, period=Period(2026, 10))
    assert drift.status is ReconStatus.DRIFT
    assert drift.input.drifted_keys == (
        "TB-AC-261001-001 (changed: line 1 (debit 120.37) moved from 510 AI COGS (Product: Support Assistant, "
        "Region: US) to 613 AI G&A (Region: EU))",
    )

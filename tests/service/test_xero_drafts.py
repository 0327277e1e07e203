"""The `draft` posting mode against the Xero sandbox: manual journals saved as DRAFT for review in Xero."""

from __future__ import annotations

from connector.bootstrap import build_app
from tests.service.test_xero_sync import OCTOBER, XeroWorld, world  # noqa: F401 (the fixture)

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

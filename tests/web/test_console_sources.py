"""The overview's Sources section: per source of the entity, how far it has read, its last success and its
state in plain words — up to date, behind, last pull failed, days refused — over the real store."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from starlette.testclient import TestClient

from connector.service import console as reads
from connector.service.console_sources import state_of
from connector.service.pull import SourceStatus
from tests.service.conftest import World, builds_counted
from tests.web.conftest import BAD_ROW, sign_in


def test_each_source_of_the_entity_is_shown_with_its_state_in_plain_words(sources_world: World):
    rows = {s.source: s for s in reads.overview(sources_world.app, "acme-us").sources}

    assert list(rows) == [
        "openai.costs:org-1",  # configured ones first, in the settings' order
        "warehouse.billing:proj-1",
        "anthropic:org-a",
        "focus:billing-acct",  # an import of acme-us; acme-eu's import is not shown
    ]
    fresh = rows["openai.costs:org-1"]
    assert (fresh.read_to, fresh.state, fresh.tone) == (date(2026, 10, 3), "up to date", "ok")
    assert fresh.last_success_at == datetime(2026, 10, 4, 2, 30, tzinfo=UTC)

    refused = rows["warehouse.billing:proj-1"]
    assert refused.refused_days == (date(2026, 10, 2),)
    assert refused.bookmark == date(2026, 10, 1)  # before the refused day: every run reads it again
    assert refused.read_to == date(2026, 10, 3)  # yet the pull read (and stored) the 3rd: it is fresh
    assert refused.failure is None
    assert refused.tone == "bad"
    assert refused.state.startswith("up to date; 1 day(s) refused: 2026-10-02: ")
    assert BAD_ROW in refused.state

    failed = rows["anthropic:org-a"]
    assert (failed.read_to, failed.behind, failed.tone) == (date(2026, 10, 2), 1, "bad")
    assert failed.failed_at == datetime(2026, 10, 4, 3, 30, tzinfo=UTC)
    assert failed.last_success_at == datetime(2026, 10, 4, 2, 30, tzinfo=UTC)
    assert failed.state.startswith("behind by 1 day; last pull failed: ")
    assert "HTTP 500" in failed.state

    imported = rows["focus:billing-acct"]
    assert (imported.origin, imported.state, imported.tone) == (
        "imported from FOCUS files",
        "behind by 3 days",
        "warn",
    )


def test_a_source_that_never_read_and_one_whose_failure_came_after_a_refusal():
    """The state from a bookmark alone: never read; a failure later than the last success wins over the
    refusal's reason (which it overwrote), the refused days still shown."""
    yesterday = date(2026, 10, 3)
    at = datetime(2026, 10, 4, 2, 30, tzinfo=UTC)
    never = state_of(SourceStatus("openai.usage:org-1", None, None, None, None, True), yesterday)
    assert (never.state, never.tone) == ("never pulled", "warn")

    later = SourceStatus(
        "warehouse.billing:proj-1",
        "2026-10-01",
        at,
        "warehouse unreachable",
        at + timedelta(days=1),
        True,
        (date(2026, 10, 2),),
    )
    state = state_of(later, yesterday)
    assert state.refusal is None
    assert state.failure == "warehouse unreachable"
    assert state.state == (
        "behind by 2 days; last pull failed: warehouse unreachable; 1 day(s) refused: 2026-10-02"
    )


def test_the_overview_shows_the_sources_to_every_role_with_the_error_escaped(
    sources_world: World, client: TestClient
):
    for username in ("carl", "ada"):  # a controller and an auditor
        sign_in(client, username)
        page = client.get("/")
        assert page.status_code == 200
        assert 'id="sources-h"' in page.text
        assert '<mark class="refused-day">2026-10-02</mark>' in page.text
        assert "HTTP 500 &lt;script&gt;window.__xss" in page.text
        assert "<script>window.__xss" not in page.text
        assert "focus:billing-acct" in page.text
        assert "other-acct" not in page.text
        client.post("/logout", data={}, follow_redirects=False)
        client.cookies.clear()


def test_a_section_whose_settings_are_wrong_is_its_source_s_row_and_the_others_show_as_usual(
    misconfigured_world: World,
):
    rows = {s.source: s for s in reads.overview(misconfigured_world.app, "acme-us").sources}

    assert list(rows) == [
        "warehouse.billing:proj-1",  # the sources built, then the sections refused, in the settings' order
        "anthropic:org-a",
        "warehouse.gcp:01-AB",
        "openai.costs:org-1",  # synced before, no longer in the settings: its facts are acme-us's
    ]
    good = rows["warehouse.billing:proj-1"]
    assert (good.state, good.tone, good.misconfigured) == ("up to date", "ok", None)

    gcp = rows["warehouse.gcp:01-AB"]
    assert (gcp.configured, gcp.tone, gcp.read_to) == (True, "bad", None)
    assert gcp.misconfigured is not None
    assert gcp.misconfigured.section == "TOKENBOOKS_WAREHOUSE__GCP__"
    assert "gcp-standard flavour is read on BigQuery" in gcp.misconfigured.error
    assert "ENGINE=bigquery" in gcp.misconfigured.fix
    assert gcp.state.startswith(
        "never pulled; settings TOKENBOOKS_WAREHOUSE__GCP__… refused: warehouse.gcp: "
    )

    anthropic = rows["anthropic:org-a"]
    assert anthropic.misconfigured is not None
    assert "cannot read the price catalog" in anthropic.misconfigured.error
    assert anthropic.misconfigured.fix == "check TOKENBOOKS_PRICES_FILE"


def test_the_overview_renders_with_a_refused_section_its_reason_and_fix_escaped(
    misconfigured_world: World, client: TestClient
):
    sign_in(client, "carl")
    page = client.get("/")
    assert page.status_code == 200, page.text
    assert 'id="sources-h"' in page.text
    assert 'tr data-source="warehouse.gcp:01-AB" class="source-bad"' in page.text
    assert "TOKENBOOKS_WAREHOUSE__GCP__…" in page.text
    assert "set TOKENBOOKS_WAREHOUSE__GCP__ENGINE=bigquery" in page.text
    assert "&lt;img src=x onerror=window.__xss=1&gt;.yaml" in page.text
    assert "<img src=x" not in page.text
    assert 'tr data-source="warehouse.billing:proj-1" class="source-ok"' in page.text
    assert 'id="spend-h"' in page.text  # the rest of the page as usual


def test_each_source_whose_settings_are_refused_blocks_the_close_until_they_are_fixed(
    misconfigured_world: World,
):
    """The month is not ready to sign off while a source of the entity cannot even be built: its spend
    may be missing from the books. Read live: the stored checklist does not know the settings changed."""
    app = misconfigured_world.app
    seen = reads.overview(app, "acme-us")
    assert str(seen.close_period) == "2026-09"
    blockers = {b.what.split(" ")[0]: b for b in seen.blockers}
    assert list(blockers) == ["anthropic:org-a", "warehouse.gcp:01-AB"]  # not the good warehouse
    gcp = blockers["warehouse.gcp:01-AB"]
    assert gcp.what.startswith(
        "warehouse.gcp:01-AB is not pulled: its settings TOKENBOOKS_WAREHOUSE__GCP__… are refused, so its "
        "spend of 2026-09 may be missing from the books and from the reconciliation: "
    )
    assert "gcp-standard flavour is read on BigQuery" in gcp.what
    assert gcp.fix.startswith("set TOKENBOOKS_WAREHOUSE__GCP__ENGINE=bigquery")
    assert gcp.fix.endswith("`tokenbooks close --period 2026-09`")
    assert blockers["anthropic:org-a"].fix.startswith("check TOKENBOOKS_PRICES_FILE; then")
    assert not reads.close_checklist(app, "acme-us", seen.close_period)[0].ready

    fixed = {"billing": app.settings.warehouse["billing"]}  # the gcp section taken out of the settings
    app.settings = app.settings.model_copy(update={"warehouse": fixed})
    again = reads.overview(app, "acme-us")
    assert again.close_computed_at == seen.close_computed_at  # the books did not change: stored …
    assert [b.what.split(" ")[0] for b in again.blockers] == ["anthropic:org-a"]  # … the settings did


def test_the_overview_and_the_close_page_name_a_refused_section_as_blocking_the_close_escaped(
    misconfigured_world: World, client: TestClient
):
    sign_in(client, "carl")
    page = client.get("/")
    assert page.status_code == 200, page.text
    blocking = page.text[page.text.index('id="blockers-h"') :]
    blocking = blocking[: blocking.index("</section>")]
    assert "Nothing: the period is ready to sign off" not in blocking
    assert (
        "warehouse.gcp:01-AB is not pulled: its settings TOKENBOOKS_WAREHOUSE__GCP__… are refused" in blocking
    )
    assert "set TOKENBOOKS_WAREHOUSE__GCP__ENGINE=bigquery" in blocking
    assert "anthropic:org-a is not pulled: its settings TOKENBOOKS_ANTHROPIC__… are refused" in blocking
    assert "&lt;img src=x onerror=window.__xss=1&gt;.yaml" in blocking
    assert "<img src=x" not in page.text
    assert "warehouse.billing" not in blocking
    assert "2 item(s) blocking" in page.text

    close = client.get("/reconciliation?period=2026-09")
    assert close.status_code == 200, close.text
    assert "2 item(s) block sign-off" in close.text
    assert "warehouse.gcp:01-AB is not pulled" in close.text
    assert "<img src=x" not in close.text


def test_a_page_view_builds_the_entity_s_sources_once_and_each_view_builds_them_again(
    misconfigured_world: World, client: TestClient
):
    """The overview shows the Sources section and the close's blockers from one build of the settings'
    sections per request (building one may open a warehouse engine or read a price catalog); the next
    request builds them again, so a section fixed in between is seen. The close page builds them once."""
    app = misconfigured_world.app
    built = builds_counted(app)
    sign_in(client, "carl")
    for views in (1, 2):
        page = client.get("/")
        assert page.status_code == 200, page.text
        assert 'tr data-source="warehouse.gcp:01-AB" class="source-bad"' in page.text
        assert "2 item(s) blocking" in page.text
        assert built == ["acme-us"] * views

    built.clear()
    close = client.get("/reconciliation?period=2026-08")  # a month whose checklist is not stored yet
    assert close.status_code == 200, close.text
    assert "warehouse.gcp:01-AB is not pulled" in close.text
    assert built == ["acme-us"]


def test_the_summaries_stored_after_a_run_build_the_entity_s_sources_once(misconfigured_world: World):
    """After a run the overview and this month's close are computed for the next page view; both show the
    sources' state, from one build of the settings' sections."""
    app = misconfigured_world.app
    built = builds_counted(app)
    reads.refresh_summaries(app, "acme-us")
    assert built == ["acme-us"]

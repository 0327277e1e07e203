"""The console end to end in a real browser: Playwright driving Debian's chromium (its own browser
download cannot run here), against the console served by uvicorn over the test fakes. Each scenario is
the issue's; a screenshot of every page is kept in `.artifacts/screenshots/` (gitignored) to look at."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.web.server import ConsoleServer
from tests.service.conftest import World
from tests.web.conftest import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[2] / ".artifacts" / "screenshots"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no browser: Debian's chromium is not installed (`apt-get install -y chromium`; .ci/run installs it)",
)


@pytest.fixture
def served(console_world: World) -> Iterator[str]:
    console_world.app.settings = console_world.app.settings.model_copy(update={"ledger_mode": "approve"})
    server = ConsoleServer(console_world.app, host="127.0.0.1", port=0).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def on_one_line(element) -> bool:
    """Whether the element's text sits on one line (a journal key or a date broken in two is misread)."""
    return element.evaluate(
        """e => { const range = document.createRange(); range.selectNodeContents(e);
                  const tops = [...range.getClientRects()].map(rect => rect.top);
                  return Math.max(...tops) - Math.min(...tops) < parseFloat(getComputedStyle(e).fontSize); }"""
    )


def signed_in(browser, url: str, username: str, width: int = 1366):
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the confirm step before a change to the books
    page.goto(f"{url}/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")  # the keyboard alone signs in
    page.wait_for_url(f"{url}/")
    return page


def test_controller_accountant_approver_and_auditor_in_a_browser(served: str, browser, console_world: World):
    url = served
    # a controller moves a project from R&D to COGS effective a past date, sees the reclass, saves
    page = signed_in(browser, url, "carl")
    shot(page, "01-overview")
    page.get_by_role("link", name="Mappings", exact=True).click()
    shot(page, "02-mappings")
    page.fill("#mv-project", "proj_eng_copilot")
    page.select_option("#mv-category", "cogs")
    page.fill("#mv-from", "2026-10-01")
    page.fill("#mv-note", "The copilot now answers paying customers")
    page.get_by_role("button", name="Preview").first.click()
    page.wait_for_url(f"{url}/mappings/candidate")
    assert page.get_by_text("reclass journal(s)").is_visible()
    shot(page, "03-mapping-preview")
    page.get_by_role("button", name=re.compile("Save as version 2")).click()
    page.wait_for_url(re.compile(r".*/mappings/history"))
    assert page.get_by_text("The copilot now answers paying customers").first.is_visible()
    shot(page, "04-mapping-history")
    page.context.close()

    # an accountant runs a sync: the reclass is planned and held (posting mode approve)
    page = signed_in(browser, url, "ann")
    page.get_by_role("link", name="Runs", exact=True).click()
    page.get_by_role("button", name="Run a sync now").click()
    page.wait_for_url(re.compile(r".*/runs/[0-9a-f-]{36}$"))
    assert page.locator("h1").get_by_text("succeeded").is_visible()
    reclass = page.locator("a.mono", has_text="TB-RC-").first.inner_text()
    shot(page, "05-run")
    page.context.close()

    # an approver who is not the controller approves the held reclass
    page = signed_in(browser, url, "april")
    page.get_by_role("link", name="Journals", exact=True).click()
    page.select_option("#j-status", "held")
    page.get_by_role("button", name="Filter").click()
    shot(page, "06-journals-held")
    page.get_by_role("link", name=reclass).click()
    shot(page, "07-journal-held")
    page.get_by_role("button", name="Approve for posting").click()
    page.wait_for_url(re.compile(r".*approved=1"))
    assert page.get_by_text("Approved. The next sync posts it.").is_visible()
    page.context.close()

    # an auditor starts from the journal entry she found in the ledger: its id finds the journal, one
    # line a row, and the journal names the run that posted it
    page = signed_in(browser, url, "ada", width=1280)
    page.get_by_role("link", name="Journals", exact=True).click()
    for cell in (page.get_by_role("link", name="TB-AC-261001-001"), page.locator("td.r.num").first):
        assert on_one_line(cell)
    with console_world.app.store.unit_of_work() as uow:
        posted = uow.outbox.by_key("acme-us", "TB-AC-261001-001")
    assert posted is not None
    assert posted.ledger_id
    page.fill("#j-ledger-id", posted.ledger_id)
    page.get_by_role("button", name="Filter").click()
    assert page.locator("tbody tr").count() == 1
    page.get_by_role("link", name="TB-AC-261001-001").click()
    page.get_by_text("posted as ledger id").locator("a").last.click()  # the run that posted it
    assert page.get_by_role("heading", name=re.compile(r"Sync run")).is_visible()
    page.go_back()

    # and follows a ledger line to its raw payload and downloads the xlsx
    page.get_by_role("link", name="Trace line 1").click()
    shot(page, "08-lineage")
    page.locator("a", has_text="payload").first.click()
    assert page.get_by_text("openai.test").first.is_visible()
    shot(page, "09-payload")
    page.get_by_role("link", name="Reconciliation & close").click()
    shot(page, "10-reconciliation")
    page.get_by_role("link", name="Audit").click()
    page.wait_for_selector("text=Intact.")
    shot(page, "11-audit")
    page.fill("#ex-period", "2026-10")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    saved = download.value
    assert saved.suggested_filename.endswith(".xlsx")
    assert Path(saved.path()).read_bytes()[:2] == b"PK"
    page.get_by_role("link", name="Policies").click()
    shot(page, "12-policies")

    # … and cannot edit: no button, and a forged POST is refused
    page.get_by_role("link", name="Mappings", exact=True).click()
    assert page.get_by_role("button", name="Preview").count() == 0
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    forged = page.request.post(
        f"{url}/mappings/save", form={"csrf_token": token, "text": "x", "base_hash": "x"}
    )
    assert forged.status == 403
    page.set_viewport_size({"width": 1024, "height": 768})  # a small laptop: the sidebar folds into a bar
    page.get_by_role("link", name="Overview").click()
    shot(page, "13-overview-1024")
    page.context.close()


def test_an_accountant_imports_an_invoice_file_in_a_browser(served: str, browser, tmp_path: Path):
    url = served
    invoices = tmp_path / "october-invoices.csv"
    invoices.write_text(
        "provider,account,number,period,issue_date,total,currency\n"
        "openai,org-1,INV-0042,2026-10,2026-11-03,1280.40,USD\n"
        "openai,org-1,INV-0043,2026-09,2026-10-03,99.5O,USD\n"
    )
    page = signed_in(browser, url, "ann")
    page.get_by_role("link", name="Import files", exact=True).click()
    shot(page, "14-imports")
    page.get_by_label("Provider invoices").check()  # the keyboard-reachable radio, by its label
    page.set_input_files("#im-files", str(invoices))
    page.get_by_role("button", name="Import").click()
    page.wait_for_url(f"{url}/imports")
    assert page.locator("h1").get_by_text("partial").is_visible()
    assert page.get_by_text("conserved", exact=True).is_visible()
    assert page.get_by_role("cell", name="row 3").is_visible()
    shot(page, "15-import-result")
    page.get_by_role("link", name="← Import files").click()
    assert page.get_by_role("cell", name="october-invoices.csv").is_visible()
    page.context.close()

    page = signed_in(browser, url, "ada")  # an auditor sees the imports, and no form
    page.get_by_role("link", name="Import files", exact=True).click()
    assert page.get_by_role("button", name="Import").count() == 0
    assert page.get_by_text("Only accountants import files").is_visible()
    page.context.close()


def test_a_controller_sees_each_source_s_state_on_the_overview(sources_world: World, served: str, browser):
    page = signed_in(browser, served, "carl")
    section = page.locator("section#sources")
    section.scroll_into_view_if_needed()
    shot(page, "16-overview-sources")
    rows = section.locator("tbody tr")
    assert rows.count() == 4  # acme-us's three configured sources and its FOCUS import; not acme-eu's

    def row(source: str):
        return section.locator(f'tr[data-source="{source}"]')

    assert row("openai.costs:org-1").locator(".badge").inner_text() == "up to date"
    refused = row("warehouse.billing:proj-1")
    assert refused.locator(".badge").inner_text() == "up to date"  # it read the 3rd, past its held bookmark
    day = refused.locator("mark.refused-day")
    assert day.inner_text() == "2026-10-02"
    assert day.is_visible()
    # highlighted: the day stands out from the text around it
    assert day.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(251, 230, 228)"
    assert "is not a plain decimal" in refused.inner_text()
    failed = row("anthropic:org-a")
    assert "last pull failed" in failed.inner_text()
    assert "<script>window.__xss = 1</script>" in failed.inner_text()  # shown as text, never run
    assert page.evaluate("() => window.__xss === undefined")
    assert row("focus:billing-acct").locator(".badge").inner_text() == "behind by 3 days"
    page.context.close()


def test_a_controller_sees_a_source_whose_settings_are_wrong_beside_the_good_one(
    misconfigured_world: World, served: str, browser
):
    """One section's bad settings refuse its source only: the overview renders, that row says what is wrong
    and the fix (as text, never markup), the good source and the rest of the page as usual."""
    page = signed_in(browser, served, "carl")
    section = page.locator("section#sources")
    section.scroll_into_view_if_needed()
    shot(page, "17-overview-misconfigured-source")

    def row(source: str):
        return section.locator(f'tr[data-source="{source}"]')

    assert row("warehouse.billing:proj-1").locator(".badge").inner_text() == "up to date"
    gcp = row("warehouse.gcp:01-AB")
    assert gcp.get_attribute("class") == "source-bad"
    said = gcp.locator(".source-settings")
    assert said.is_visible()
    assert "settings refused TOKENBOOKS_WAREHOUSE__GCP__…" in said.inner_text()
    assert "the gcp-standard flavour is read on BigQuery" in said.inner_text()
    assert "Fix: set TOKENBOOKS_WAREHOUSE__GCP__ENGINE=bigquery" in said.inner_text()
    prices = row("anthropic:org-a").locator(".source-settings")
    assert "<img src=x onerror=window.__xss=1>.yaml" in prices.inner_text()  # shown as text, never run
    assert page.evaluate("() => window.__xss === undefined")
    assert page.locator("h2#spend-h").is_visible()
    page.context.close()


def test_a_controller_sees_the_close_blocked_by_a_source_whose_settings_are_wrong(
    misconfigured_world: World, served: str, browser
):
    """The month is not ready to sign off while a source cannot be built: the overview's "Blocking the
    close" names each such source, its variables and the fix (as text, never markup), not the good one."""
    page = signed_in(browser, served, "carl")
    section = page.locator("section", has=page.locator("h2#blockers-h"))
    section.scroll_into_view_if_needed()
    shot(page, "18-overview-close-blocked-by-settings")

    assert section.locator("h2").inner_text() == "Blocking the close of 2026-09"
    items = section.locator("li")
    assert items.count() == 2
    said = section.inner_text()
    assert "Nothing: the period is ready to sign off" not in said
    assert "warehouse.gcp:01-AB is not pulled: its settings TOKENBOOKS_WAREHOUSE__GCP__… are refused" in said
    assert "set TOKENBOOKS_WAREHOUSE__GCP__ENGINE=bigquery" in said
    assert "<img src=x onerror=window.__xss=1>.yaml" in said  # shown as text, never run
    assert "warehouse.billing" not in said
    assert page.evaluate("() => window.__xss === undefined")
    assert page.get_by_text("2 item(s) blocking").is_visible()
    page.context.close()

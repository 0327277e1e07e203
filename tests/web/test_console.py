"""The console over HTTP (Starlette's test client, the real ASGI application): every page, each role's
permissions, CSRF, sessions that expire, sign-in limits, and the controller's edit cycle with its refusals."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import date, timedelta

import pytest
from starlette.testclient import TestClient

from connector.domain.periods import Period
from connector.domain.users import Role
from connector.service.audit_package import period_export
from connector.service.sync import sync
from connector.service.users import disable_user, enable_user, set_password, set_role
from connector.store.unit_of_work import UnitOfWork
from connector.web.asgi import create_console
from tests.service.conftest import World
from tests.service.test_reconcile import invoice
from tests.web.conftest import PASSWORD, csrf_of, sign_in

PAGES = [
    "/",
    "/mappings",
    "/mappings/history",
    "/policies",
    "/policies/history",
    "/runs",
    "/journals",
    "/reconciliation",
    "/reconciliation?period=2026-10",
    "/audit",
    "/audit/verify",
    "/users",
]
MOVE = {
    "action": "move",
    "project": "proj_eng_copilot",
    "category": "cogs",
    "effective_from": "2026-10-01",
    "note": "the copilot now answers paying customers",
}


def keys_of(html: str) -> list[str]:
    return re.findall(r'href="/journals/(TB-[A-Z]{2}-\d{6}-\w+)"', html)


@pytest.mark.parametrize("username", ["ada", "ann", "carl", "april"])
def test_every_page_renders_for_every_role(client: TestClient, username: str):
    sign_in(client, username)
    for path in PAGES:
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text[:500])
    [key, *_] = keys_of(client.get("/journals").text)
    assert client.get(f"/journals/{key}").status_code == 200
    lineage = client.get(f"/journals/{key}/lines/1")
    assert lineage.status_code == 200
    [payload] = set(re.findall(r'href="/payloads/(\d+)"', lineage.text))
    assert "openai.test" in client.get(f"/payloads/{payload}").text
    [run] = set(re.findall(r'href="/runs/([0-9a-f-]{36})"', client.get("/runs").text))
    assert "run.finished" in client.get(f"/runs/{run}").text


def test_signed_out_people_are_sent_to_sign_in_and_health_needs_no_session(client: TestClient):
    answer = client.get("/journals?period=2026-10", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=/journals%3Fperiod%3D2026-10")
    assert client.post("/runs/sync", data={"csrf_token": "x"}).status_code == 403
    assert client.get("/healthz").json()["status"] in ("ok", "degraded")
    assert "tokenbooks_runs_total" in client.get("/metrics").text
    assert client.get("/static/vendor/htmx-2.0.11.min.js").status_code == 200


POSTS = {
    "/runs/sync": ({}, Role.ACCOUNTANT),
    "/reconciliation/close": ({"period": "2026-09"}, Role.ACCOUNTANT),
    "/mappings/check": ({"text": "x"}, Role.CONTROLLER),
    "/mappings/candidate": (MOVE, Role.CONTROLLER),
    "/mappings/save": ({"text": "x", "base_hash": "x"}, Role.CONTROLLER),
    "/policies/check": ({"text": "x"}, Role.CONTROLLER),
    "/policies/candidate": ({"text": "x"}, Role.CONTROLLER),
    "/policies/save": ({"text": "x", "base_hash": "x"}, Role.CONTROLLER),
    "/journals/TB-AC-261001-001/approve": ({}, Role.APPROVER),
}


@pytest.mark.parametrize("username", ["ada", "ann", "carl", "april"])
def test_each_role_may_do_only_its_own_work(client: TestClient, console_world: World, username: str):
    csrf = sign_in(client, username)
    role = {"ada": Role.AUDITOR, "ann": Role.ACCOUNTANT, "carl": Role.CONTROLLER, "april": Role.APPROVER}[
        username
    ]
    for path, (form, allowed) in POSTS.items():
        answer = client.post(path, data={"csrf_token": csrf, **form}, follow_redirects=False)
        if role is allowed:
            assert answer.status_code != 403, (path, answer.text[:300])
        else:
            assert answer.status_code == 403, (path, answer.status_code)
            assert "may not do this here" in answer.text
    downloaded = client.get("/audit/export?period=2026-10&format=xlsx")
    assert downloaded.status_code == 200
    assert downloaded.content[:2] == b"PK"


def test_an_auditor_sees_no_edit_button_and_a_forged_post_changes_nothing(
    client: TestClient, console_world: World
):
    csrf = sign_in(client, "ada")
    page = client.get("/mappings").text
    assert "Only controllers change the mapping" in page
    assert 'action="/mappings/candidate"' not in page
    assert 'action="/mappings/save"' not in page
    before = console_world.mapping_path.read_text()
    forged = client.post(
        "/mappings/save", data={"csrf_token": csrf, "text": before + "\n# x", "base_hash": "x"}
    )
    assert forged.status_code == 403
    assert console_world.mapping_path.read_text() == before
    assert "Approve for posting" not in client.get("/journals/TB-AC-261001-001").text


def test_a_post_without_the_sessions_csrf_token_is_refused_and_does_nothing(
    client: TestClient, console_world: World
):
    csrf = sign_in(client, "ann")
    runs_before = _runs(console_world)
    assert client.post("/runs/sync", data={"csrf_token": "forged"}).status_code == 403
    assert client.post("/runs/sync", data={}).status_code == 403
    assert _runs(console_world) == runs_before
    answer = client.post("/runs/sync", data={"csrf_token": csrf}, follow_redirects=False)
    assert answer.status_code == 303  # the same request with the token runs the sync
    assert _runs(console_world) == runs_before + 1
    login = client.get("/login")
    assert client.post("/login", data={"username": "ann", "password": PASSWORD}).status_code == 403
    assert login.status_code == 200


def _runs(world: World) -> int:
    with UnitOfWork(world.app.engine) as uow:
        return len(uow.runs.latest(1000))


def test_a_session_ends_after_idle_minutes_and_after_its_lifetime(client: TestClient, console_world: World):
    sign_in(client, "ada")
    clock = console_world.clock
    clock.now += timedelta(minutes=29)
    assert client.get("/runs").status_code == 200  # still alive: and the idle timer starts again
    clock.now += timedelta(minutes=29)
    assert client.get("/runs").status_code == 200
    clock.now += timedelta(minutes=31)
    answer = client.get("/runs", follow_redirects=False)
    assert answer.status_code == 303
    assert "notice=expired" in answer.headers["location"]
    assert "Your session ended" in client.get(answer.headers["location"]).text

    sign_in(client, "ada")
    for _ in range(25):  # used every 29 minutes: the 12-hour lifetime still ends it
        clock.now += timedelta(minutes=29)
        last = client.get("/runs", follow_redirects=False)
    assert last.status_code == 303


def test_sign_in_is_refused_after_repeated_failures_even_with_the_right_password(
    client: TestClient, console_world: World
):
    for _ in range(5):
        page = client.get("/login")
        answer = client.post(
            "/login",
            data={"csrf_token": csrf_of(page.text), "username": "ann", "password": "wrong password!"},
        )
        assert answer.status_code == 401
        assert "not right" in answer.text
    page = client.get("/login")
    blocked = client.post(
        "/login", data={"csrf_token": csrf_of(page.text), "username": "ann", "password": PASSWORD}
    )
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.text
    console_world.clock.now += timedelta(minutes=16)
    sign_in(client, "ann")


def test_a_failed_sign_in_logs_a_users_name_but_never_what_was_typed_for_a_name_nobody_has(
    client: TestClient, console_world: World, caplog: pytest.LogCaptureFixture
):
    """A person typed their password into the name field (and nothing as the password): the warning quoted
    it, lower-cased, for anyone who reads the log. A name that is a user's is still named, with why."""
    disable_user(console_world.app.store, console_world.clock, username="abe", by="admin")
    caplog.set_level(logging.WARNING, logger="tokenbooks.web")
    for name, password in [("Tr0ub4dor&3-Horse", ""), ("ann", "wrong password!"), ("abe", PASSWORD)]:
        page = client.get("/login")
        answer = client.post(
            "/login", data={"csrf_token": csrf_of(page.text), "username": name, "password": password}
        )
        assert answer.status_code == 401
    said = [r.getMessage() for r in caplog.records if r.name == "tokenbooks.web"]
    assert said == [
        "failed console sign-in from testclient: a name that is no console user "
        "(not logged: it may be a password typed in the wrong field)",
        "failed console sign-in from testclient: user 'ann', wrong password",
        "failed console sign-in from testclient: user 'abe', who is disabled",
    ]
    assert "tr0ub4dor" not in caplog.text.lower()


@pytest.mark.parametrize(
    ("public_url", "secure_cookies", "secure"),
    [
        ("https://books.example.com", None, True),  # people reach it over https: Secure without being asked
        ("https://books.example.com", False, False),  # still overridable (a test rig on plain http)
        ("http://127.0.0.1:8787", None, False),
        (None, None, False),
        (None, True, True),
    ],
)
def test_the_session_cookie_is_secure_by_default_when_the_console_is_reached_over_https(
    console_world: World, public_url: str | None, secure_cookies: bool | None, secure: bool
):
    """Behind a TLS-terminating proxy the console answers plain http, and its cookie went out without
    `Secure` unless TOKENBOOKS_WEB__SECURE_COOKIES was set too: a sign-in at https://… then let the
    session cookie travel over any http:// link to the same host. The public URL says https: it is on."""
    app = console_world.app
    web = app.settings.web.model_copy(update={"public_url": public_url, "secure_cookies": secure_cookies})
    app.settings = app.settings.model_copy(update={"web": web})
    with TestClient(create_console(app, secret="s"), base_url="https://console.test") as client:
        sign_in(client, "ann")  # the browser reaches the proxy over https
        answer = client.get("/runs?entity=acme-us")
    cookies = answer.headers.get_list("set-cookie")
    assert {c.split("=")[0] for c in cookies} == {"tokenbooks_session", "tokenbooks_entity"}
    assert all(("; secure" in c.lower()) == secure for c in cookies), cookies


def test_a_disabled_user_or_a_new_role_applies_at_the_next_click(client: TestClient, console_world: World):
    csrf = sign_in(client, "ann")
    set_role(console_world.app.store, console_world.clock, username="ann", role=Role.AUDITOR, by="admin")
    assert client.post("/runs/sync", data={"csrf_token": csrf}).status_code == 403
    disable_user(console_world.app.store, console_world.clock, username="ann", by="admin")
    assert client.get("/runs", follow_redirects=False).status_code == 303


def test_signing_out_ends_the_session_even_for_a_copy_of_its_cookie(client: TestClient, console_world: World):
    """Sessions are signed cookies: signing out only asked the browser to forget its copy, and a copy kept
    (a shared computer, a cookie lifted from a proxy log) went on working for up to 12 hours."""
    csrf = sign_in(client, "carl")
    copied = client.cookies.get("tokenbooks_session")
    before = console_world.mapping_path.read_text()
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    console_world.clock.now += timedelta(seconds=5)

    client.cookies.set("tokenbooks_session", copied)
    answer = client.get("/mappings", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")
    saved = client.post("/mappings/save", data={"csrf_token": csrf, "text": before + "\n# hi\n"})
    assert saved.status_code == 403
    assert console_world.mapping_path.read_text() == before
    client.cookies.clear()
    sign_in(client, "carl")  # signing in again opens a new session
    assert client.get("/mappings", follow_redirects=False).status_code == 200


@pytest.mark.parametrize("change", ["disabled then enabled", "password set"])
def test_a_session_opened_before_a_user_is_disabled_or_given_a_new_password_stays_ended(
    client: TestClient, console_world: World, change: str
):
    """A user disabled and enabled again, or whose password an administrator reset (it may have leaked),
    signs in afresh: the sessions opened before do not come back."""
    sign_in(client, "ann")
    console_world.clock.now += timedelta(seconds=5)
    store, clock = console_world.app.store, console_world.clock
    if change == "password set":
        set_password(store, clock, username="ann", password="a brand new passphrase", by="admin")
    else:
        disable_user(store, clock, username="ann", by="admin")
        enable_user(store, clock, username="ann", by="admin")
    console_world.clock.now += timedelta(seconds=5)
    assert client.get("/runs", follow_redirects=False).status_code == 303


def test_a_controller_moves_a_project_sees_the_reclass_and_saves_a_new_version_keeping_comments(
    client: TestClient, console_world: World
):
    path = console_world.mapping_path
    path.write_text("# why each rule is there: the controller's notes\n" + path.read_text())
    csrf = sign_in(client, "carl")
    preview = client.post("/mappings/candidate", data={"csrf_token": csrf, **MOVE})
    assert preview.status_code == 200, preview.text[:2000]
    assert "Reclass" in preview.text
    assert "reclass journal(s)" in preview.text
    assert re.search(r"5010.*?15\.00", preview.text, re.S)  # 3 days × 5.00 of copilot spend move to COGS
    text = _textarea(preview.text, "save-text")
    assert text.startswith("# why each rule is there")
    assert "mapping_version: 2" in text
    saved = client.post(
        "/mappings/save",
        data={"csrf_token": csrf, "text": text, "base_hash": _hidden(preview.text, "base_hash")},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert path.read_text() == text
    history = client.get(saved.headers["location"]).text
    assert "carl" in history
    assert "the copilot now answers paying customers" in history
    assert "proj_eng_copilot" in history  # the diff of version 1 → 2
    with UnitOfWork(console_world.app.engine) as uow:
        [event] = uow.events.of_kind("mapping.saved")
    assert event.actor == "carl"
    assert event.data["version"] == 2


def test_the_auditors_export_names_the_controller_who_saved_each_mapping_version_and_when(
    client: TestClient, console_world: World
):
    """A save is no run's event: the period's export listed the versions with no author and left the
    save out of its events, so the auditor could not tell who changed where spend lands."""
    csrf = sign_in(client, "carl")
    preview = client.post("/mappings/candidate", data={"csrf_token": csrf, **MOVE})
    form = {"csrf_token": csrf, "text": _textarea(preview.text, "save-text")}
    client.post("/mappings/save", data={**form, "base_hash": _hidden(preview.text, "base_hash")})
    saved_at = console_world.clock()

    def versions() -> dict[int, dict]:
        export = period_export(console_world.app.store, entity="acme-us", period=Period(2026, 10))
        assert any(
            e["kind"] == "mapping.saved" and e["actor"] == "carl" for e in export.tables["events"].records()
        )
        return {v["version"]: v for v in export.tables["mapping_versions"].records()}

    before_use = versions()[2]  # saved, not used by a sync yet
    assert (before_use["saved_by"], before_use["saved_at"], before_use["run_id"]) == ("carl", saved_at, None)
    console_world.clock.night_after(date(2026, 10, 4))
    sync(console_world.app, entity="acme-us", until=date(2026, 10, 4))
    first, second = versions()[1], versions()[2]
    assert first["saved_by"] is None  # the file as deployed, first used by a run
    assert (second["saved_by"], second["saved_at"]) == ("carl", saved_at)
    assert second["run_id"] is not None


def test_a_lines_lineage_names_the_invoice_that_bills_its_month(client: TestClient, console_world: World):
    sign_in(client, "ada")
    [key, *_] = keys_of(client.get("/journals").text)
    before = " ".join(re.sub(r"<[^>]+>", " ", client.get(f"/journals/{key}/lines/1").text).split())
    assert "openai org-1 2026-10: no invoice imported yet" in before
    invoice(console_world, "75.00")
    after = " ".join(re.sub(r"<[^>]+>", " ", client.get(f"/journals/{key}/lines/1").text).split())
    assert "openai org-1 2026-10: invoice INV-1 , 75.00 USD, issued 2026-11-03" in after


def test_a_broken_yaml_edit_is_refused_with_its_line_and_nothing_is_saved(
    client: TestClient, console_world: World
):
    before = console_world.mapping_path.read_text()
    csrf = sign_in(client, "carl")
    broken = before.replace("category: rnd", "category: rnd\n  oops: [unclosed")
    checked = client.post(
        "/mappings/check", data={"csrf_token": csrf, "text": broken}, headers={"HX-Request": "true"}
    )
    assert re.search(r"line \d+", checked.text)
    assert "error" in checked.text
    line = broken.splitlines().index("  oops: [unclosed") + 1
    refused = client.post(
        "/mappings/save",
        data={"csrf_token": csrf, "text": broken, "base_hash": _hash(before)},
    )
    assert refused.status_code == 400
    assert "was not saved" in refused.text
    assert f"{line}" in refused.text
    assert console_world.mapping_path.read_text() == before


def test_two_controllers_editing_at_once_the_second_save_is_detected_not_lost(
    client: TestClient, console_world: World
):
    other = TestClient(client.app, base_url="http://console.test")
    first, second = sign_in(client, "carl"), None
    from connector.service.users import add_user

    add_user(
        console_world.app.store,
        console_world.clock,
        username="cleo",
        role=Role.CONTROLLER,
        by="t",
        password=PASSWORD,
    )
    second = sign_in(other, "cleo")
    a = client.post("/mappings/candidate", data={"csrf_token": first, **MOVE})
    b = other.post(
        "/mappings/candidate", data={"csrf_token": second, **MOVE, "category": "g_and_a", "note": "G&A"}
    )
    saved = client.post(
        "/mappings/save",
        data={
            "csrf_token": first,
            "text": _textarea(a.text, "save-text"),
            "base_hash": _hidden(a.text, "base_hash"),
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    late = other.post(
        "/mappings/save",
        data={
            "csrf_token": second,
            "text": _textarea(b.text, "save-text"),
            "base_hash": _hidden(b.text, "base_hash"),
        },
    )
    assert late.status_code == 409
    assert "carl saved version 2" in late.text
    assert "not saved" in late.text
    assert console_world.mapping_path.read_text() == _textarea(a.text, "save-text")


def test_an_approver_who_ran_the_sync_may_not_approve_what_it_held_another_may(
    client: TestClient, console_world: World
):
    world = console_world
    world.app.settings = world.app.settings.model_copy(update={"ledger_mode": "approve"})
    from connector.service.console import acting_as

    world.source.set("7.00", date(2026, 10, 4))
    world.clock.night_after(date(2026, 10, 4))
    result = sync(acting_as(world.app, "abe"), entity="acme-us", until=date(2026, 10, 4))
    [held] = [p.journal.key for p in result.plan.planned if p.held]
    csrf = sign_in(client, "abe")
    refused = client.post(f"/journals/{held}/approve", data={"csrf_token": csrf})
    assert refused.status_code == 400
    assert "segregation of duties" in refused.text
    assert "ran the sync run" in refused.text
    other = TestClient(client.app, base_url="http://console.test")
    csrf = sign_in(other, "april")
    approved = other.post(f"/journals/{held}/approve", data={"csrf_token": csrf}, follow_redirects=False)
    assert approved.status_code == 303
    with UnitOfWork(world.app.engine) as uow:
        [event] = uow.events.of_kind("journal.approved")
        assert uow.outbox.by_key("acme-us", held).status == "planned"
    assert event.actor == "april"


def test_an_internal_error_is_a_plain_page_without_a_trace(
    client: TestClient, console_world: World, monkeypatch
):
    from connector.service import console as reads

    def broken(*_args, **_kwargs):
        raise ZeroDivisionError("division by zero")

    sign_in(client, "ada")
    monkeypatch.setattr(reads, "runs_page", broken)
    answer = client.get("/runs")
    assert answer.status_code == 500
    assert "internal error (ZeroDivisionError: division by zero)" in answer.text
    assert "Traceback" not in answer.text
    assert "File " not in answer.text


def _textarea(html: str, element_id: str) -> str:
    import html as entities

    found = re.search(rf'<textarea id="{element_id}"[^>]*>(.*?)</textarea>', html, re.S)
    assert found, f"no textarea {element_id}"
    return entities.unescape(found.group(1))


def _hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found
    return found.group(1)


def _hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def test_accounts_show_number_and_name_from_the_ledgers_chart_and_say_when_it_was_never_read(
    client: TestClient, console_world: World
):
    from connector.store.tables import LedgerChartRow

    sign_in(client, "ada")
    [key, *_] = keys_of(client.get("/journals?kind=usage_accrual").text)
    journal = client.get(f"/journals/{key}").text  # the sync read the chart before it posted
    assert "6110 · AI R&amp;D" in journal
    assert "2150 · Accrued AI costs" in journal
    assert "Account names from the ledger's chart as read 2026-10-04 02:30 UTC" in journal
    mappings = client.get("/mappings").text
    assert "5010 · AI COGS" in mappings
    assert "6190 · AI spend suspense" in mappings
    assert '<option value="6110">6110 · AI R&amp;D</option>' in client.get("/journals").text
    lineage = client.get(f"/journals/{key}/lines/1").text
    assert re.search(r"<h1>Line 1: (5010 · AI COGS|6110 · AI R&amp;D) ", lineage)

    with UnitOfWork(console_world.app.engine) as uow:  # an account the ledger no longer has
        chart = uow.charts.get("acme-us")
        assert chart is not None
        uow.charts.save("acme-us", replace(chart, accounts=chart.accounts[1:]))
        uow.commit()
    assert "5010 · not in the QuickBooks chart" in client.get("/mappings").text

    with UnitOfWork(console_world.app.engine) as uow:  # the chart was never read: numbers, and why
        uow.session.delete(uow.session.get(LedgerChartRow, "acme-us"))
        uow.commit()
    journal = client.get(f"/journals/{key}").text
    assert "AI R&amp;D" not in journal
    assert ">6110<" in journal
    assert "Account names appear once the ledger's chart of accounts has been read" in journal


POLICIES_V1 = """\
# the controller's policies: each choice explained in the accounting guide
policy_version: 1
effective_from: 2026-01-01
change_note: first policies
defaults: {billing: arrears, accrual: daily}
"""


def test_a_policies_candidate_is_previewed_with_the_journals_it_would_post(
    client: TestClient, console_world: World, tmp_path
):
    path = tmp_path / "policies.yaml"
    path.write_text(POLICIES_V1)
    world = console_world
    world.app.settings = world.app.settings.model_copy(update={"policies_file": path})
    world.app.forget_files()
    candidate = (
        POLICIES_V1.replace("policy_version: 1", "policy_version: 2")
        .replace("effective_from: 2026-01-01", "effective_from: 2026-10-01")
        .replace("change_note: first policies", "change_note: one accrual at month end")
        .replace("accrual: daily", "accrual: month_end_reversing")
    )
    csrf = sign_in(client, "carl")
    preview = client.post(
        "/policies/candidate", data={"csrf_token": csrf, "text": candidate, "base_hash": _hash(POLICIES_V1)}
    )
    assert preview.status_code == 200, preview.text[:3000]
    page = preview.text
    # month-end accruals from October: the daily accruals of Oct 1-3 already posted come back out until the
    # month ends (one journal a day, expense credited, the accrued liability debited), nothing else
    assert "<strong>3</strong> journal(s) the change adds or alters" in page
    for day, total in (("01", "15.00"), ("02", "25.00"), ("03", "35.00")):
        journal = page[page.index(f"<h3>Usage accrual · 2026-10-{day}</h3>") :]
        journal = journal[: journal.index("</table>")]
        assert re.search(
            r"6110 · AI R&amp;D</td><td class=\"r\"></td><td class=\"r\"><span class=\"num\">5.00<", journal
        )
        assert re.search(
            rf"2150 · Accrued AI costs</td><td class=\"r\"><span class=\"num\">{total}<", journal
        )
        assert f'<td>Total</td><td class="r"><span class="num">{total}</span>' in journal
    assert "due anyway" not in page
    assert path.read_text() == POLICIES_V1  # a preview writes nothing

    broken = client.post(
        "/policies/candidate",
        data={
            "csrf_token": csrf,
            "text": candidate.replace("month_end_reversing", "weekly"),
            "base_hash": "x",
        },
    )
    assert broken.status_code == 422
    assert "journal(s) the change adds or alters" not in broken.text
    saved = client.post(
        "/policies/save",
        data={"csrf_token": csrf, "text": candidate, "base_hash": _hash(POLICIES_V1)},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert path.read_text() == candidate


def test_a_sync_from_the_console_raises_the_alerts_a_scheduled_one_would(
    client: TestClient, console_world: World
):
    console_world.source.set("7.25", date(2026, 10, 4), project="proj_nobody_mapped")
    console_world.clock.night_after(date(2026, 10, 4))
    csrf = sign_in(client, "ann")
    assert _alert_kinds(console_world) == []
    answer = client.post("/runs/sync", data={"csrf_token": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    assert "suspense" in _alert_kinds(console_world)


def _alert_kinds(world: World) -> list[str]:
    with UnitOfWork(world.app.engine) as uow:
        return [a.kind for a in uow.alerts.newest(100)]

"""The console over the fakes of tests/service (a scripted source, the in-memory ledger, a manual clock),
with one user per role, and a client that signs in as any of them; `sources_world` adds sources in every
state the overview's Sources section names (up to date, days refused, last pull failed, a FOCUS import);
`misconfigured_world` configures its sources by settings, two of whose sections cannot be built."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from connector.domain.users import Role
from connector.service.pull import pull_sources
from connector.service.sync import sync
from connector.service.users import add_user
from connector.settings import AnthropicSettings, WarehouseSettings
from connector.sources.base import bookmark_id
from connector.web.asgi import create_console
from tests.service.conftest import ScriptedSource, World, world  # noqa: F401 - the fixture
from tests.support import fact

PASSWORD = "correct horse battery"
USERS = {
    "ada": Role.AUDITOR,
    "ann": Role.ACCOUNTANT,
    "carl": Role.CONTROLLER,
    "april": Role.APPROVER,
    "abe": Role.APPROVER,
}


@pytest.fixture
def console_world(world: World) -> World:  # noqa: F811
    """The world with a month of usage synced and one console user per role (two approvers)."""
    for day in (1, 2, 3):
        world.source.set(f"{day}0.00", date(2026, 10, day))
        world.source.set("5.00", date(2026, 10, day), project="proj_eng_copilot")
    world.clock.night_after(date(2026, 10, 3))
    sync(world.app, entity="acme-us", until=date(2026, 10, 3))
    for name, role in USERS.items():
        add_user(world.app.store, world.clock, username=name, role=role, by="test", password=PASSWORD)
    return world


OCT = date(2026, 10, 1)
BAD_ROW = "'$95.00' is not a plain decimal"
BROKEN = "HTTP 500 <script>window.__xss = 1</script> from the provider"


def _import_bookmark(scene: World, entity: str, account: str, day: date) -> None:
    """What a FOCUS import of `entity` leaves: facts of source `focus` and a bookmark `focus:<account>`."""
    now = scene.clock()
    imported = replace(fact("3.00", day, entity=entity, provider="aws", account=account), source="focus")
    with scene.app.store.unit_of_work() as uow:
        uow.facts.replace_window(
            source="focus",
            provider_account=account,
            first_day=day,
            last_day=day,
            facts=[imported],
            raw_payload_ids={},
            run_id=None,
            now=now,
        )
        uow.bookmarks.advance(bookmark_id("focus", account), day.isoformat(), now, entity=entity)
        uow.commit()


@pytest.fixture
def sources_world(console_world: World) -> World:
    """The console world (openai.costs synced to Oct 3, the night after) with three more sources of acme-us:
    a warehouse whose row charged on Oct 2 fails a check, a provider whose latest pull failed after one
    that succeeded (to Oct 2), a FOCUS import; and another entity's FOCUS import, not to be shown."""
    scene = console_world
    warehouse = ScriptedSource(name="warehouse.billing", provider="warehouse", provider_account="proj-1")
    warehouse.facts = [fact("7.00", OCT + timedelta(days=d)) for d in range(3)]
    warehouse.refused = {date(2026, 10, 2): BAD_ROW}
    anthropic = ScriptedSource(name="anthropic", provider="anthropic", provider_account="org-a")
    assert scene.app.source_overrides is not None
    scene.app.source_overrides += [warehouse, anthropic]
    pull_sources(scene.app, entity="acme-us", providers={"warehouse"}, until=date(2026, 10, 3))
    pull_sources(scene.app, entity="acme-us", providers={"anthropic"}, until=date(2026, 10, 2))
    scene.clock.now += timedelta(hours=1)
    anthropic.broken = BROKEN
    pull_sources(scene.app, entity="acme-us", providers={"anthropic"}, until=date(2026, 10, 3))
    _import_bookmark(scene, "acme-us", "billing-acct", date(2026, 9, 30))
    _import_bookmark(scene, "acme-eu", "other-acct", date(2026, 10, 3))
    return scene


PRICES = "<img src=x onerror=window.__xss=1>.yaml"  # a price catalog that is not there, named with markup


@pytest.fixture
def misconfigured_world(console_world: World, tmp_path: Path) -> World:
    """The console world with its sources from the settings: a DuckDB warehouse `billing` read through
    Oct 3 (up to date), a warehouse `gcp` whose standard export is set on Athena (refused: that export is
    read on BigQuery or DuckDB only), and Anthropic whose price catalog cannot be read (refused)."""
    scene = console_world
    app = scene.app
    app.source_overrides = None
    app._catalog = None  # read at the next use, from the settings below
    app.settings = app.settings.model_copy(
        update={
            "prices_file": tmp_path / PRICES,
            "anthropic": AnthropicSettings(admin_key="sk-ant-admin-test", organization="org-a"),
            "warehouse": {
                "billing": WarehouseSettings(
                    engine="duckdb",
                    table="billing.focus",
                    account="proj-1",
                    database=str(tmp_path / "w.duckdb"),
                ),
                "gcp": WarehouseSettings(
                    engine="athena",
                    table="billing.gcp",
                    account="01-AB",
                    flavour="gcp-standard",
                    region="eu-west-1",
                ),
            },
        }
    )
    with app.store.unit_of_work() as uow:
        uow.bookmarks.advance(bookmark_id("warehouse.billing", "proj-1"), "2026-10-03", scene.clock(), OCT)
        uow.commit()
    return scene


@pytest.fixture
def client(console_world: World) -> Iterator[TestClient]:
    app = create_console(console_world.app, secret="test-secret")
    with TestClient(app, base_url="http://console.test", raise_server_exceptions=False) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in; returns the session's CSRF token for forms."""
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"csrf_token": csrf_of(page.text), "username": username, "password": password, "next": "/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/runs").text)


def controller_page(books, path: str = "/") -> str:
    """A page of a books world's console (tests/service/books_world.py) as a controller, carl, sees it."""
    add_user(
        books.app.store, books.clock, username="carl", role=Role.CONTROLLER, by="test", password=PASSWORD
    )
    with TestClient(
        create_console(books.app, secret="test-secret"), base_url="http://console.test"
    ) as client:
        sign_in(client, "carl")
        return client.get(path).text

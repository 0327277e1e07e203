"""The console over the fakes of tests/service (a scripted source, the in-memory ledger, a manual clock),
with one user per role, and a client that signs in as any of them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import pytest
from starlette.testclient import TestClient

from connector.domain.users import Role
from connector.service.sync import sync
from connector.service.users import add_user
from connector.web.asgi import create_console
from tests.service.conftest import World, world  # noqa: F401 - the fixture

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

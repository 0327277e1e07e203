"""Alerts: found after a run, stored once per subject and period, sent to a real local webhook and a real
local SMTP server, each saying what to do."""

from __future__ import annotations

import json
import socket
import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr
from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from connector.domain.alerts import Budget, crossings, parse_budgets, spikes
from connector.service.alerts import raise_alerts
from connector.service.sync import sync
from connector.store.tables import AlertRow
from connector.store.unit_of_work import UnitOfWork
from tests.service.conftest import World


class Webhook:
    """A Slack-compatible incoming webhook on loopback that records what it is sent."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.fail = False
        self.server = make_server("127.0.0.1", 0, self.app)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T0/B0/secret"

    def app(self, environ, start_response):
        request = Request(environ)
        if self.fail:
            return Response("no_service", status=503)(environ, start_response)
        self.posts.append(json.loads(request.get_data()))
        return Response("ok")(environ, start_response)


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content.decode())
        return "250 OK"


@pytest.fixture
def channels(world: World):
    webhook, mailbox = Webhook(), Mailbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    smtp = Controller(mailbox, hostname="127.0.0.1", port=port)
    smtp.start()
    alerts = world.app.settings.alerts
    alerts.webhook_url = SecretStr(webhook.url)
    alerts.smtp_host, alerts.smtp_port, alerts.smtp_starttls = "127.0.0.1", port, False
    alerts.email_from, alerts.email_to = "tokenbooks@acme.test", "controller@acme.test, ops@acme.test"
    yield webhook, mailbox
    smtp.stop()
    webhook.server.shutdown()


def nights(world: World, amounts: dict[int, str], project: str = "proj_support_assistant") -> None:
    for day, amount in amounts.items():
        world.source.set(amount, date(2026, 10, day), project=project)
    last = date(2026, 10, max(amounts))
    world.clock.night_after(last)
    sync(world.app, entity="acme-us", since=date(2026, 10, 1), until=last)


def test_suspense_and_a_spend_spike_are_sent_once_to_webhook_and_email_with_what_to_do(
    world: World, channels
):
    webhook, mailbox = channels
    nights(world, dict.fromkeys(range(1, 16), "10.00") | {16: "95.00"})
    nights(world, {16: "7.77"}, project="proj_nobody_mapped")

    sent = raise_alerts(world.app, "acme-us")

    assert sorted(a.kind for a in sent) == ["spend_spike", "suspense"]
    texts = [p["text"] for p in webhook.posts]
    [spike] = [t for t in texts if "spend spike" in t]
    assert "project proj_support_assistant spent 95.00 on 2026-10-16" in spike
    assert "10.00" in spike  # the trailing average
    assert "What to do:" in spike
    [suspense] = [t for t in texts if "suspense" in t]
    assert "7.77 USD of openai spend in 2026-10 (up to 2026-10-16) matched no mapping rule" in suspense
    assert len(mailbox.messages) == 2
    assert all("To: controller@acme.test, ops@acme.test" in m for m in mailbox.messages)
    assert any("What to do: Add a rule" in m for m in mailbox.messages)

    assert raise_alerts(world.app, "acme-us") == []  # the same alerts are not sent twice
    assert len(webhook.posts) == 2
    with UnitOfWork(world.app.engine) as uow:
        kinds = sorted(
            e.kind for e in uow.events.all() if e.kind.startswith("alert.spend") or e.kind == "alert.suspense"
        )
    assert kinds.count("alert.spend_spike") == 1


def test_an_alert_no_channel_accepted_is_kept_and_sent_later(world: World, channels):
    webhook, _ = channels
    world.app.settings.alerts.smtp_host = None
    world.source.broken = "the page has no data array"
    world.clock.night_after(date(2026, 10, 1))
    sync(world.app, entity="acme-us", until=date(2026, 10, 1))
    webhook.fail = True
    assert raise_alerts(world.app, "acme-us") == []
    with UnitOfWork(world.app.engine) as uow:
        [row] = list(uow.session.exec(select(AlertRow)).scalars())
    assert row.kind == "run_failed"
    assert "503" in row.last_error
    webhook.fail = False
    [sent] = raise_alerts(world.app, "acme-us")
    assert sent.kind == "run_failed"
    assert "tokenbooks runs --run" in webhook.posts[0]["text"]


def test_alerts_reach_slack_and_microsoft_teams_in_their_own_formats(world: World):
    slack, teams = Webhook(), Webhook()
    world.app.settings.alerts.slack_webhook_url = SecretStr(slack.url)
    world.app.settings.alerts.teams_webhook_url = SecretStr(teams.url)
    world.source.broken = "the page has no data array"
    world.clock.night_after(date(2026, 10, 1))
    sync(world.app, entity="acme-us", until=date(2026, 10, 1))

    [sent] = raise_alerts(world.app, "acme-us")
    assert sent.channels == ["slack", "teams"]
    [message] = slack.posts
    assert "run failed" in message["text"]
    header, body, action, _context = message["blocks"]
    assert header["type"] == "header"
    assert "the page has no data array" in body["text"]["text"]
    assert action["text"]["text"].startswith("*What to do:* Read `tokenbooks runs --run")
    [card_message] = teams.posts
    assert card_message["type"] == "message"
    [attachment] = card_message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert "the page has no data array" in card["body"][1]["text"]
    assert card["body"][2]["facts"][0]["title"] == "What to do"
    for hook in (slack, teams):
        hook.server.shutdown()


def raise_alerts_stored(world: World) -> list[AlertRow]:
    raise_alerts(world.app, "acme-us")
    with UnitOfWork(world.app.engine) as uow:
        return list(uow.session.exec(select(AlertRow)).scalars())


def test_spikes_compare_a_day_with_its_trailing_average():
    day = date(2026, 10, 20)
    history = {day - timedelta(days=n): Decimal("10") for n in range(1, 8)}
    daily = {
        "steady": history | {day: Decimal("29")},
        "spiking": history | {day: Decimal("31")},
        "new": {day: Decimal("40")},
    }
    found = spikes(daily, day, window_days=7, factor=Decimal(3), min_amount=Decimal(25))
    assert [(s.value, s.average) for s in found] == [("new", Decimal("0.00")), ("spiking", Decimal("10.00"))]


def test_a_budget_file_with_mistakes_says_where_and_how_to_fix_them():
    budgets, problems = parse_budgets("cost_centers:\n  Growth: {monthly: 12.5}\n  Ops: {}\n", "budgets.yaml")
    assert budgets == []
    assert [str(p).split(":")[1] for p in problems] == ["2", "3"]
    assert "quoted decimal" in str(problems[0])
    assert crossings({"X": Decimal("50")}, [Budget("X", Decimal("100"), (Decimal(50),))])[0].threshold == 50

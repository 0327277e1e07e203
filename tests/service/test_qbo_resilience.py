"""The whole sync against the QuickBooks sandbox when things go wrong: faults on a fifth of the calls, a 429
storm, a crash right after a refresh token rotated, a revoked connection. Each run is a fresh `App` on
the same database, as each night is a fresh process."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from connector.bootstrap import App, build_app
from connector.domain.errors import ReconnectNeeded
from connector.ledgers.quickbooks.settings import QuickBooksSettings
from connector.retrying import no_sleep
from connector.sandbox.common import FaultPlan, ManualClock
from connector.sandbox.demo_data import month_of_costs
from connector.sandbox.quickbooks import QuickBooksSandbox
from connector.service.connections import connect_ledger, connection_health
from connector.service.sync import SyncResult, sync
from connector.settings import Settings
from connector.store.unit_of_work import UnitOfWork
from tests.ledgers.conftest import wait_idle
from tests.service.conftest import Clock, ScriptedSource
from tests.support import MINIMAL_MAPPING, Browser, fact, free_port

ENTITY = "acme-us"
OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))
MAX_RUNS = 8


def october_facts() -> list:
    """The demo company's October, as the provider finally states it."""
    return [
        fact(line.amount_as_of(date(2026, 12, 1)), line.day, project=line.project, line_item=line.line_item)
        for line in month_of_costs()
    ]


class World:
    """A database, a mapping, a provider, and the QuickBooks sandbox; `app()` is one nightly process."""

    def __init__(
        self, tmp_path: Path, box: QuickBooksSandbox, *, sleep=no_sleep, monotonic=None, timeout=30.0
    ) -> None:
        # a test that injects delays (0.25 s) passes a short client timeout, so they become uncertain
        # answers quickly; the others keep a long one, so a busy machine's slow answer is not taken for a
        # lost one (a second refresh of a revoked token, a retry counted as a call of its own)
        self.box = box
        self.clock = Clock()
        self.clock.now = datetime(2026, 11, 2, 2, 30, tzinfo=UTC)
        self.sleep, self.monotonic = sleep, monotonic
        self.source = ScriptedSource(facts=october_facts())
        mapping = tmp_path / "mapping.yaml"
        mapping.write_text(MINIMAL_MAPPING)
        self.settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'tb.db'}",
            mapping_file=mapping,
            data_dir=tmp_path,
            encryption_key=SecretStr(Fernet.generate_key().decode()),
            quickbooks=QuickBooksSettings(
                client_id=box.client_id,
                client_secret=SecretStr(box.client_secret),
                base_url=box.base_url,
                discovery_url=box.discovery_url,
                redirect_uri=f"http://127.0.0.1:{free_port()}/callback",
                timeout_seconds=timeout,
                max_retries=3,
            ),
            _env_file=None,
        )

    def app(self) -> App:
        return build_app(
            self.settings, clock=self.clock, sources=[self.source], sleep=self.sleep, monotonic=self.monotonic
        )

    def connect(self) -> None:
        connect_ledger(self.app(), "quickbooks", ENTITY, open_browser=False, say=approve)

    def run(self) -> SyncResult:
        return sync(self.app(), entity=ENTITY, since=OCTOBER[0], until=OCTOBER[1])

    def outbox(self) -> list:
        with UnitOfWork(self.app().engine) as uow:
            return uow.outbox.list(ENTITY)


def approve(text: str) -> None:
    """The person opens the consent URL that `connect` prints (the sandbox approves by itself)."""
    Browser().open(text.rsplit(" ", 1)[-1])


def ledger_totals(box: QuickBooksSandbox) -> dict[str, Decimal]:
    numbers = {a["Id"]: a.get("AcctNum") for a in box.company.rows("Account")}
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for entry in box.journal_entries():
        for line in entry["Line"]:
            detail = line["JournalEntryLineDetail"]
            sign = 1 if detail["PostingType"] == "Debit" else -1
            totals[numbers[detail["AccountRef"]["value"]]] += sign * line["Amount"]
    return dict(totals)


def planned_totals(stored: list) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for s in stored:
        for line in s.journal.lines:
            totals[line.target.account] += line.amount
    return dict(totals)


def test_write_calls_grow_with_journals_not_with_facts(tmp_path):
    with QuickBooksSandbox(tmp_path / "qbo.json") as box:
        world = World(tmp_path, box)
        world.connect()
        box.reset_request_log()
        result = world.run()  # October at once: hundreds of cost facts, a journal a day
        assert result.status == "succeeded", result.reason
        journals = len(result.post.posted)
        facts = sum(p.facts for p in result.pulls)
        assert facts > 10 * journals
        writes = [r for r in box.requests if r["method"] == "POST" and not r["path"].endswith("/query")]
        assert [r["path"].rsplit("/", 1)[-1] for r in writes] == ["batch"] * math.ceil(journals / 30)


@pytest.mark.parametrize("seed", [7])
def test_a_month_posts_exactly_once_with_faults_on_a_fifth_of_the_calls(tmp_path, seed):
    with QuickBooksSandbox(tmp_path / "qbo.json", faults=FaultPlan(delay_seconds=0.25)) as box:
        world = World(tmp_path, box, timeout=0.2)
        world.connect()
        box.set_preference(
            "WarnDuplicateJournalNumber", False
        )  # QuickBooks itself would not stop a duplicate
        box.faults.configure_random(0.2, seed=seed)
        scheduler = world.app()  # one long-running process runs the nights (`tokenbooks schedule`)
        for day in (OCTOBER[0] + timedelta(days=n) for n in range(31)):
            world.clock.night_after(day)
            sync(scheduler, entity=ENTITY, until=day)
        catch_up = []  # then as many runs as it takes, bounded, each a fresh process
        while len(catch_up) < MAX_RUNS and not all(s.status == "posted" for s in world.outbox()):
            catch_up.append(world.run())
        assert all(s.status == "posted" for s in world.outbox()), [r.reason for r in catch_up]
        injected = box.faults.injected
        box.faults.clear()
        wait_idle(box)
        stored = world.outbox()
        assert len(stored) >= 31  # a journal a day at least
        doc_numbers = [entry["DocNumber"] for entry in box.journal_entries()]
        assert len(doc_numbers) == len(set(doc_numbers))  # nothing created twice
        assert set(doc_numbers) == {s.journal.key for s in stored}
        assert ledger_totals(box) == planned_totals(stored)  # the ledger holds exactly the plan
        assert set(injected) == {"timeout", "server_error", "throttle", "lost_response"}
        assert sum(injected.values()) >= 8
        again = world.run()  # and a run with nothing new posts nothing
        assert again.status == "succeeded"
        assert (again.posted_count, again.plan.planned) == (0, [])


def test_a_429_storm_is_waited_out_and_the_run_finishes_later_without_failing(tmp_path):
    clock = ManualClock(datetime(2026, 11, 2, 2, 30, tzinfo=UTC))
    with QuickBooksSandbox(tmp_path / "qbo.json", clock=clock) as box:
        world = World(
            tmp_path,
            box,
            sleep=lambda seconds: clock.advance(seconds=seconds),
            monotonic=lambda: clock.now().timestamp(),
        )
        world.connect()
        box.faults.storm("throttle", calls=12)  # three times the retries a failing call gets
        started = clock.now()
        result = world.run()
        assert result.status == "succeeded", result.reason
        assert len(result.post.posted) == len(world.outbox()) >= 31
        assert clock.now() - started >= timedelta(minutes=12)  # 60 s per 429: later, not failed
        own_limits = [r for r in box.requests if r.get("throttled")]
        assert own_limits == []  # between the injected 429s, tokenbooks kept within QuickBooks' limits


class ProcessDied(BaseException):
    """The process is killed: nothing after this point runs, no handler catches it."""


def test_a_crash_right_after_a_refresh_token_rotated_loses_nothing(tmp_path):
    clock = ManualClock(datetime(2026, 11, 2, 2, 30, tzinfo=UTC))
    with QuickBooksSandbox(tmp_path / "qbo.json", clock=clock) as box:
        world = World(tmp_path, box)
        world.connect()
        before = world.app().token_vault().load("quickbooks", ENTITY)
        box.expire_access_tokens()  # the first call of the run gets a 401 and refreshes
        crashing = world.app()
        vault = crashing.token_vault()
        save = vault.save

        def save_then_die(*args):
            save(*args)  # the rotated refresh token is written and committed…
            raise ProcessDied  # …and then the process dies

        vault.save = save_then_die
        with pytest.raises(ProcessDied):
            sync(crashing, entity=ENTITY, since=OCTOBER[0], until=OCTOBER[1])
        clock.advance(hours=25)  # the refresh token used before the crash is dead by now (24 h grace)
        with pytest.raises(ReconnectNeeded):
            world.app().oauth("quickbooks").refresh(before)
        result = world.run()  # the next process connects with the token saved just before the crash
        assert result.status == "succeeded", result.reason
        assert len(result.post.posted) >= 31


def test_a_revoked_connection_raises_one_alert_and_fails_fast_until_reconnected(tmp_path):
    with QuickBooksSandbox(tmp_path / "qbo.json") as box:
        world = World(tmp_path, box)
        world.connect()
        box.revoke_all_tokens()  # a person disconnected tokenbooks in QuickBooks
        box.reset_request_log()
        first = world.run()
        assert first.status == "failed"
        assert "reconnect" in first.reason
        token_calls = [r for r in box.requests if r["path"].endswith("/tokens/bearer")]
        assert len(token_calls) == 1  # one refresh was tried and refused; no retry loop
        assert alerts(world, first.run_id) == 1
        box.reset_request_log()
        second = world.run()  # the next night: fails at once, with the same reason
        assert second.status == "failed"
        assert "QuickBooks refused to refresh the access token" in first.reason
        assert "QuickBooks refused to refresh the access token" in second.reason
        assert box.requests == []  # not one call to QuickBooks
        assert alerts(world, second.run_id) == 1
        [health] = connection_health(
            world.app().store,
            datetime.now(UTC),
            world.app().token_vault().cipher.readable,
        )
        assert (health.health, health.last_success_at) == ("reconnect needed", None)
        assert "QuickBooks refused to refresh the access token" in health.reason
        world.connect()  # a person reconnects
        third = world.run()
        assert third.status == "succeeded", third.reason
        assert len(third.post.posted) >= 31
        [health] = connection_health(
            world.app().store,
            datetime.now(UTC),
            world.app().token_vault().cipher.readable,
        )
        assert health.health == "ok"
        assert health.last_success_at is not None


def alerts(world: World, run_id: str) -> int:
    with UnitOfWork(world.app().engine) as uow:
        return len([e for e in uow.events.for_run(run_id) if e.kind == "alert.reconnect_needed"])


@pytest.mark.parametrize("shape", ["json", "xml"])
def test_a_403_application_authorization_failed_is_reconnect_needed_at_once_not_retried(tmp_path, shape):
    # Real QuickBooks answers 3100 from its gateway in lower case ({"fault":{"error":[…]}}) or as XML;
    # python-quickbooks knows neither, which made it a retriable "status code 403" error every night.
    with QuickBooksSandbox(tmp_path / "qbo.json", gateway_faults=shape) as box:
        world = World(tmp_path, box)
        world.connect()
        box.deauthorize_app()  # the connecting user lost admin rights: tokens live on, calls get 403
        box.reset_request_log()
        first = world.run()
        assert first.status == "failed"
        assert "code 3100" in first.reason
        assert "ApplicationAuthorizationFailed" in first.reason
        assert "tokenbooks connect quickbooks" in first.reason
        assert len([r for r in box.requests if "/v3/" in r["path"]]) == 1  # no retry loop
        assert alerts(world, first.run_id) == 1
        [health] = connection_health(
            world.app().store,
            datetime.now(UTC),
            world.app().token_vault().cipher.readable,
        )
        assert health.health == "reconnect needed"
        box.reset_request_log()
        second = world.run()  # the next night fails at once, without calling QuickBooks
        assert second.status == "failed"
        assert box.requests == []
        box.authorize_app()
        world.connect()  # an admin reconnects
        assert world.run().status == "succeeded"


def test_intuits_sign_in_down_at_night_fails_the_run_saying_no_reconnect_is_needed(tmp_path):
    """The access token expired and Intuit's token endpoint answers 503 all night: the run fails with the
    reason and what to do (nothing: the connection is intact), the connection stays ok, and the next night
    posts the month once."""
    with QuickBooksSandbox(tmp_path / "qbo.json") as box:
        world = World(tmp_path, box)
        world.connect()
        box.expire_access_tokens()
        box.token_faults.queue("server_error", times=20, status=503)
        night = world.run()
        assert night.status == "failed"
        assert night.reason.startswith("QuickBooks OAuth failed to refresh the access token (HTTP 503) Fix: ")
        assert "the connection is intact (no reconnect)" in night.reason
        assert "the journals wait in the outbox and the next run retries" in night.reason
        [health] = connection_health(
            world.app().store, datetime.now(UTC), world.app().token_vault().cipher.readable
        )
        assert health.health == "ok"
        box.token_faults.clear()
        next_night = world.run()
        assert next_night.status == "succeeded", next_night.reason
        assert len(next_night.post.posted) >= 31

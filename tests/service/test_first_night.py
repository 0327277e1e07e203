"""The first real night (issue 11): provider answers shaped exactly as the specifications allow, stored and
booked without a crash."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import responses

from connector.service.pull import pull_sources
from connector.service.sync import sync
from connector.store.unit_of_work import UnitOfWork
from tests.contracts import openai_schema_errors
from tests.service.test_ingestion import costs_source, make_app
from tests.sources.builders import OPENAI, openai_bucket, openai_cost, openai_page

COSTS = f"{OPENAI}/organization/costs"
DAY = date(2026, 10, 1)


def test_an_integer_quantity_as_the_costs_spec_shows_it_is_stored_as_an_exact_decimal(tmp_path: Path):
    # The spec's own CostsResult example: "quantity": 10000, "quantity_unit": "tokens" (an integer).
    result = openai_cost(0.06, project="proj_abc", line_item="input_tokens") | {
        "quantity": 10000,
        "quantity_unit": "tokens",
    }
    page = openai_page(openai_bucket(DAY, result))
    assert openai_schema_errors(page) == []
    app = make_app(tmp_path, "tokenbooks.db", sources=[costs_source()])
    with responses.RequestsMock() as mock:
        mock.get(COSTS, json=page)
        run = pull_sources(app, entity="acme-us", since=DAY, until=DAY)
    assert (run.status, run.reason) == ("succeeded", None)
    with UnitOfWork(app.engine) as uow:
        (stored,) = uow.facts.current("acme-us")
    assert stored.fact.amount == Decimal("0.06")
    assert (stored.fact.quantity, stored.fact.unit) == (Decimal(10000), "tokens")
    assert isinstance(stored.fact.quantity, Decimal)


def test_the_outbox_hands_the_ledger_as_many_journals_as_one_of_its_writes_carries(world):
    """Xero takes 50 journals a PUT (docs/xero.md), QuickBooks 30 a batch: a sync of 61 journals makes
    ceil(61 / n) post calls of at most n, n being the ledger's own `journals_per_request`."""
    sizes: list[int] = []
    post = world.ledger.post

    def counted(requests):
        sizes.append(len(requests))
        return post(requests)

    world.ledger.post = counted
    world.ledger.journals_per_request = 50
    first = date(2026, 8, 1)
    for n in range(61):
        world.source.set("1.00", first + timedelta(days=n))
    world.clock.night_after(first + timedelta(days=60))
    result = sync(world.app, entity="acme-us", since=first)
    assert result.status == "succeeded", result.reason
    assert sizes == [50, 11]


def test_a_run_right_after_an_uncertain_write_leaves_it_alone_until_it_can_no_longer_commit(world):
    """A process restarted at once (a crash, `serve` catching up) must not look up — and resend — a write the
    ledger may still be committing: that journal waits for a run `settle_seconds` later."""
    world.ledger.settle_seconds = 130.0
    day = date(2026, 10, 1)
    world.source.set("12.00", day)
    world.ledger.faults.append("lost")  # applied, but the answer never came back
    first = sync(world.app, entity="acme-us", since=day, until=day)
    assert first.status == "partial"
    world.clock.now += timedelta(seconds=30)  # restarted 30 s later
    writes = world.ledger.stats.write_calls
    second = sync(world.app, entity="acme-us", since=day, until=day)
    assert second.status == "partial"
    assert "may still be committing" in second.reason
    assert world.ledger.stats.write_calls == writes  # nothing sent again
    world.clock.now += timedelta(seconds=130)
    third = sync(world.app, entity="acme-us", since=day, until=day)
    assert third.status == "succeeded", third.reason
    assert third.post.found  # found,
    assert not third.post.posted  # never sent twice
    assert len(world.ledger.journals) == 1


def test_a_source_whose_very_first_pull_failed_is_pulled_from_its_first_day_the_next_night(world):
    """Walking a new company's first nights: the first pull of a source failed (the provider answered 404),
    which recorded the error on a bookmark that has read nothing. The next night must pull the source
    from its first day, not stop on an internal error reading that empty bookmark as a date."""
    world.source.set("4.00", date(2026, 11, 1))
    world.source.set("5.00", date(2026, 11, 2))
    world.source.broken = "the page has no data array"
    world.clock.night_after(date(2026, 11, 2))
    failed = sync(world.app, entity="acme-us", until=date(2026, 11, 2))
    assert failed.status == "failed"
    world.source.broken = None
    world.clock.night_after(date(2026, 11, 3))
    result = sync(world.app, entity="acme-us", until=date(2026, 11, 3))
    assert result.status == "succeeded", result.reason
    assert world.source.pulls[-1].first_day == world.source.pulls[0].first_day
    assert world.ledger.balance("2150") == Decimal("-9.00")

"""The posting step's one answer for "this key is already in the ledger" (the shared settle step): the same
content is found and recorded posted; other content under the key is refused as a conflict, reported with
the key, the ledger's entry and the differing field, and never overwritten or accepted."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from connector.ledgers.port import LedgerJournal, LedgerLine
from connector.service.sync import sync
from connector.store.repositories import UnitOfWork
from tests.service.conftest import World

OCT1 = date(2026, 10, 1)
KEY = "TB-AC-261001-001"


def night(world: World, day: date):
    world.clock.night_after(day)
    return sync(world.app, entity="acme-us", until=day)


def planted(amount: str, day: date = OCT1) -> LedgerJournal:
    """An entry someone put in the ledger under tokenbooks' key (or tokenbooks' own, edited by hand)."""
    value = Decimal(amount)
    return LedgerJournal(KEY, "99", day, (LedgerLine("5010", value), LedgerLine("2150", -value)))


def test_other_content_under_the_key_is_refused_as_a_conflict_and_left_alone(world: World):
    world.ledger.journals[KEY] = planted("999.00")
    world.source.set("120.00", OCT1)
    run = night(world, OCT1)
    assert run.post.posted == []
    assert run.post.found == []
    [(key, message)] = run.post.rejected
    assert key == KEY
    for words in (KEY, "id 99", "differs in its lines", "Dr 5010 999.00", "Dr 5010 120.00"):
        assert words in message
    assert world.ledger.journals[KEY] == planted("999.00")  # not overwritten
    with UnitOfWork(world.app.engine) as uow:
        [journal] = uow.outbox.list("acme-us")
        assert journal.status == "rejected"


def test_the_same_content_under_the_key_is_recorded_posted_without_sending(world: World):
    world.source.set("120.00", OCT1)
    world.ledger.journals[KEY] = planted("120.00")  # an earlier attempt landed, the store never heard
    writes_before = world.ledger.stats.write_calls
    run = night(world, OCT1)
    assert run.post.found == [KEY]
    assert run.post.rejected == []
    assert world.ledger.stats.write_calls == writes_before

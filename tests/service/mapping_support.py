"""Shared by the mapping service tests: a month booked under version 1, and a version 2 that reaches back."""

from datetime import date
from decimal import Decimal

from connector.service.sync import SyncResult, sync
from tests.service.conftest import World
from tests.support import MINIMAL_MAPPING

ENTITY = "acme-us"
SEP10, SEP11, OCT5, OCT6 = date(2026, 9, 10), date(2026, 9, 11), date(2026, 10, 5), date(2026, 10, 6)

# Version 2 moves the engineers' tools from R&D to Sales & Marketing, from 1 September on.
ENG_TO_SALES = (
    MINIMAL_MAPPING.replace("mapping_version: 1", "mapping_version: 2")
    .replace("effective_from: 2026-01-01", "effective_from: 2026-09-01")
    .replace("change_note: test mapping", "change_note: coding tools are sales demos now")
    .replace("    category: rnd\n  - id: shared", "    category: sales_marketing\n  - id: shared")
)


def nightly(world: World, day: date, **kw) -> SyncResult:
    world.clock.night_after(day)
    return sync(world.app, entity=ENTITY, until=day, **kw)


def new_mapping(world: World, text: str) -> None:
    """The controller saves a new mapping file; the next run reads it."""
    world.mapping_path.write_text(text)
    world.app._mapping = None


def book_september(world: World) -> World:
    """September booked and posted under version 1, then the first days of October."""
    world.source.set("100.00", SEP10)  # support → AI COGS
    world.source.set("40.00", SEP10, project="proj_eng_agents")  # eng → R&D
    world.source.set("60.00", SEP11, project="proj_eng_copilot")
    nightly(world, SEP10)
    nightly(world, SEP11)
    world.source.set("25.00", OCT5, project="proj_eng_copilot")
    nightly(world, OCT5)
    assert world.ledger.balance("6110") == Decimal("125.00")
    return world

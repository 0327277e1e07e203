"""The ledgers tokenbooks posts to, registered in one place: one line per ledger package.

A ledger is a package `connector/ledgers/<name>/` whose `entry.ENTRY` says how a mapping names a target in
it (its `TargetShape`, with the JSON Schema fragment and chart rule), the settings model of its section, and
how the composition root builds its adapter for an entity. Registering an entry hands its target shape to
the domain (`domain.ledger_targets.TARGETS`), so the mapping parser, schema and chart checks know it, and
its settings model to `connector.settings` (read from `TOKENBOOKS_<LEDGER>__…` into `Settings.ledgers`);
the composition root (`bootstrap.App.ledger`) builds adapters through `LEDGERS`, and an OAuth ledger's
`connection` (`ledgers/connection.py`) is how `tokenbooks connect`, `App.oauth` and `App.rate_limiter`
reach it. See docs/architecture.md, "Adding a ledger".

The command line loads this registry to start (`tokenbooks connect --help` lists the connectable ledgers),
so an entry is light: **an entry module must not import its adapter at
module level**, nor anything that loads the ledger's SDK or HTTP stack. `build` imports the adapter inside
the function; a constant the entry needs lives in a light module of the package that the adapter imports
too (Xero's `limits.py`); the connection imports its OAuth client where it builds one.
`tests/test_cli_imports.py` fails if importing the command line loads an SDK.
"""

from __future__ import annotations

from collections.abc import Iterator

from connector.domain.errors import ConfigError
from connector.domain.ledger_targets import TARGETS
from connector.ledgers.beancount import entry as beancount
from connector.ledgers.connection import LedgerConnection
from connector.ledgers.quickbooks import entry as quickbooks
from connector.ledgers.registry_types import LedgerEntry
from connector.ledgers.xero import entry as xero

__all__ = ["LEDGERS", "LedgerEntry", "LedgerRegistry"]


class LedgerRegistry:
    def __init__(self) -> None:
        self._entries: dict[str, LedgerEntry] = {}

    def register(self, entry: LedgerEntry) -> None:
        self._entries[entry.name] = entry
        TARGETS.register(entry.target)

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)
        TARGETS.unregister(name)

    def entry(self, name: str) -> LedgerEntry:
        if name not in self._entries:
            raise ConfigError(
                f"{name!r} is not a ledger tokenbooks posts to",
                fix=f"use one of: {', '.join(self._entries)}",
            )
        return self._entries[name]

    def title(self, name: str) -> str:
        return self._entries[name].target.title if name in self._entries else name

    def connectable(self) -> tuple[str, ...]:
        return tuple(name for name, e in self._entries.items() if e.connectable)

    def connection(self, name: str) -> LedgerConnection:
        """How `tokenbooks connect <name>` reaches the ledger (its entry's `connection`)."""
        entry = self._entries.get(name)
        if entry is None or entry.connection is None:
            raise ConfigError(f"cannot connect {name!r}", fix=f"use one of: {', '.join(self.connectable())}")
        return entry.connection

    def __iter__(self) -> Iterator[LedgerEntry]:
        return iter(list(self._entries.values()))


LEDGERS = LedgerRegistry()
LEDGERS.register(quickbooks.ENTRY)
LEDGERS.register(xero.ENTRY)
LEDGERS.register(beancount.ENTRY)

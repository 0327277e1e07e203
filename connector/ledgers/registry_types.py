"""The shape of a ledger's registry entry (kept apart from the registry so ledger packages can build theirs
without importing each other)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from connector.domain.ledger_targets import TargetShape

if TYPE_CHECKING:  # annotations only: the registry loads with the command line, the port with a ledger
    from connector.ledgers.connection import LedgerConnection
    from connector.ledgers.port import Ledger


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger, as the rest of tokenbooks sees it."""

    target: TargetShape  # how a mapping names a place in it (the domain's only view of a ledger)
    build: Callable[[Any, str], Ledger]  # (the composition root, entity) → the adapter
    # its settings section, read from TOKENBOOKS_<NAME>__… into `Settings.ledgers[name]`, if it has one
    settings: type[BaseModel] | None = None
    # how `tokenbooks connect <name>` reaches it through OAuth (`ledgers/connection.py`), if it does
    connection: LedgerConnection | None = None

    @property
    def name(self) -> str:
        return self.target.ledger

    @property
    def connectable(self) -> bool:
        return self.connection is not None

"""The composition root: the one place that builds real (or, for tests, fake) parts and wires them.

`build_app(settings)` gives an `App` holding the engine, the clock, the token vault, and factories for
sources and ledgers. Tests pass fakes (a MemoryLedger, scripted sources, a manual clock) through the same
function, so production and tests share the wiring.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from connector.domain.errors import ConfigError
from connector.domain.mapping import MappingSet
from connector.domain.periods import Period
from connector.domain.planner import LockedBehaviour
from connector.domain.reconcile import Tolerance
from connector.ledgers.port import Ledger
from connector.ledgers.quickbooks import QuickBooksLedger, QuickBooksOAuth
from connector.ledgers.tokens import TokenCipher, TokenManager, TokenVault
from connector.retrying import RetryPolicy
from connector.service.mappings import load_mapping
from connector.settings import Settings, load_settings
from connector.sources.base import Source
from connector.sources.http import HttpClient
from connector.sources.openai import OpenAICostsSource
from connector.store.connections import DatabaseVault
from connector.store.db import create_schema, make_engine

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    """Everything a command needs, built once."""

    settings: Settings
    engine: Engine
    clock: Clock = system_clock
    vault: TokenVault | None = None
    sleep: Callable[[float], None] = time.sleep
    ledger_overrides: Mapping[str, Ledger] = field(default_factory=dict)
    source_overrides: list[Source] | None = None
    _mapping: tuple[MappingSet, str] | None = None
    _ledgers: dict[str, Ledger] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)  # set by `serve` on SIGTERM/SIGINT

    @property
    def actor(self) -> str:
        return self.settings.actor

    def stop_requested(self) -> bool:
        return self.stopping.is_set()

    # ---------------------------------------------------------------------------------------- mapping

    def mapping(self) -> tuple[MappingSet, str]:
        if self._mapping is None:
            self._mapping = load_mapping(self.settings.mapping_file)
        return self._mapping

    def entities(self) -> list[str]:
        return [e.id for e in self.mapping()[0].entities]

    def default_entity(self) -> str:
        entities = self.entities()
        chosen = self.settings.entity or entities[0]
        if chosen not in entities:
            raise ConfigError(
                f"entity {chosen!r} is not in the mapping {self.settings.mapping_file}",
                fix=f"use one of: {', '.join(entities)}",
            )
        return chosen

    def locked_behaviour(self, entity: str) -> LockedBehaviour:
        return LockedBehaviour.NEXT_OPEN_DAY

    def tolerance(self, provider: str) -> Tolerance:
        """The reconciliation tolerance for `provider` (its override, or the default)."""
        chosen = self.settings.reconcile.providers.get(provider, self.settings.reconcile)
        return Tolerance(chosen.absolute, chosen.percent)

    def policy_inputs(self, entity: str) -> dict:
        """The accounting policies a run applies to `entity`, as recorded in its audit inputs.

        Issue 5's policies (close, prepaid, breakage …) add their names and versions here.
        """
        return {
            "locked_period": self.locked_behaviour(entity).value,
            "accrual_granularity": "daily",
            "ledger_mode": self.settings.ledger_mode,
        }

    def default_start(self, until: date) -> date:
        """Where a source with no bookmark starts: the configured start date, or the month being booked."""
        configured = self.settings.openai.start_date
        return date.fromisoformat(configured) if configured else Period.of(until).first_day

    # ---------------------------------------------------------------------------------------- sources

    def sources(self, entity: str) -> list[Source]:
        if self.source_overrides is not None:
            return [s for s in self.source_overrides if s.entity == entity]
        found: list[Source] = []
        openai = self.settings.openai
        if openai.admin_key and (openai.entity or self.default_entity()) == entity:
            client = HttpClient(
                name="OpenAI",
                base_url=openai.base_url,
                headers={"Authorization": f"Bearer {openai.admin_key.get_secret_value()}"},
                timeout=openai.timeout_seconds,
                retry=RetryPolicy(openai.max_retries + 1, sleep=self.sleep),
                credential_hint="TOKENBOOKS_OPENAI__ADMIN_KEY",
            )
            timezone = self.mapping()[0].entity(entity).timezone
            found.append(
                OpenAICostsSource(
                    client,
                    organization=openai.organization,
                    entity=entity,
                    timezone=timezone,
                    lag_days=openai.lag_days,
                )
            )
        return found

    # ---------------------------------------------------------------------------------------- ledgers

    def token_vault(self) -> TokenVault:
        if self.vault is None:
            key = self.settings.encryption_key.get_secret_value() if self.settings.encryption_key else None
            self.vault = DatabaseVault(self.engine, TokenCipher(key), self.clock)
        return self.vault

    def quickbooks_oauth(self) -> QuickBooksOAuth:
        qbo = self.settings.quickbooks
        if not qbo.client_id or not qbo.client_secret:
            raise ConfigError(
                "QuickBooks app credentials are not set",
                fix="set TOKENBOOKS_QUICKBOOKS__CLIENT_ID and TOKENBOOKS_QUICKBOOKS__CLIENT_SECRET "
                "(from developer.intuit.com → your app → Keys)",
            )
        return QuickBooksOAuth(
            client_id=qbo.client_id,
            client_secret=qbo.client_secret.get_secret_value(),
            redirect_uri=qbo.redirect_uri,
            discovery_url=qbo.discovery_url,
            timeout=qbo.timeout_seconds,
            clock=self.clock,
        )

    def ledger(self, entity: str) -> Ledger:
        if entity in self.ledger_overrides:
            return self.ledger_overrides[entity]
        if entity not in self._ledgers:
            self._ledgers[entity] = self._build_ledger(entity)
        return self._ledgers[entity]

    def _build_ledger(self, entity: str) -> Ledger:
        kind = self.mapping()[0].entity(entity).ledger
        if kind == "quickbooks":
            qbo = self.settings.quickbooks
            oauth = self.quickbooks_oauth()
            tokens = TokenManager(
                self.token_vault(),
                ledger="quickbooks",
                entity=entity,
                refresher=oauth.refresh,
                clock=self.clock,
            )
            return QuickBooksLedger(
                base_url=qbo.base_url,
                tokens=tokens,
                minorversion=qbo.minorversion,
                timeout=qbo.timeout_seconds,
                retry=RetryPolicy(qbo.max_retries + 1, sleep=self.sleep),
            )
        raise ConfigError(
            f"entity {entity!r} posts to {kind}, which this build cannot post to yet",
            fix="use a quickbooks entity",
        )

    # ------------------------------------------------------------------------------------ after a run

    def after_run(self, entity: str) -> list:
        """What the service does after each scheduled run: raise the alerts that are due, and send them."""
        from connector.service.alerts import raise_alerts

        return raise_alerts(self, entity)

    def notifier(self):
        from connector.service.alerts import Notifier

        return Notifier.from_settings(self.settings.alerts)


def build_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    vault: TokenVault | None = None,
    ledgers: Mapping[str, Ledger] | None = None,
    sources: list[Source] | None = None,
    sleep: Callable[[float], None] | None = None,
    create: bool = True,
) -> App:
    """Wire the application. Everything not given is built from settings."""
    settings = settings or load_settings()
    engine = make_engine(settings.database_url)
    if create:
        create_schema(engine)
    return App(
        settings=settings,
        engine=engine,
        clock=clock or system_clock,
        vault=vault,
        sleep=sleep or time.sleep,
        ledger_overrides=dict(ledgers or {}),
        source_overrides=sources,
    )


def data_path(settings: Settings, *parts: str) -> Path:
    path = settings.data_dir.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path

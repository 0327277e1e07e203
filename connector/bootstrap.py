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
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from connector.domain.accounting_policy import PolicySet
from connector.domain.errors import ConfigError
from connector.domain.mapping import MappingSet
from connector.domain.periods import Period
from connector.domain.planner import LockedBehaviour
from connector.domain.pricing import PriceCatalog
from connector.domain.reconcile import Tolerance
from connector.ledgers.port import Ledger
from connector.ledgers.rate_limits import RateLimiter
from connector.ledgers.registry import LEDGERS
from connector.ledgers.tokens import TokenCipher, TokenManager, TokenVault
from connector.redaction import remember
from connector.retrying import RetryPolicy
from connector.service.mappings import load_mapping
from connector.service.policies import load_policies
from connector.settings import Settings, load_settings, secret_values
from connector.shutdown import interruptible_sleep
from connector.sources.anthropic import AnthropicSource
from connector.sources.aws_cost_explorer import AwsCostExplorerSource, cost_explorer_client
from connector.sources.azure_cost_management import AzureCostManagementSource, AzureCredentials
from connector.sources.base import ConfiguredSources, RefusedSource, Source, bookmark_id
from connector.sources.focus import AI_SERVICES as FOCUS_AI_SERVICES
from connector.sources.http import HttpClient
from connector.sources.openai import OpenAICostsSource
from connector.sources.openai_usage import OpenAIUsageSource
from connector.sources.prices import load_catalog
from connector.sources.warehouse.choice import MIB, FocusReader
from connector.sources.warehouse.duckdb_engine import DuckDBLimits
from connector.sources.warehouse.engines import build_engine, section_variable
from connector.store.connections import DatabaseVault
from connector.store.db import (
    Engine,
    create_schema,
    has_schema,
    head_revision,
    make_engine,
    missing_store,
)
from connector.store.port import Store
from connector.store.unit_of_work import SqlStore
from connector.store.urls import describe_url

Clock = Callable[[], datetime]
ANTHROPIC_VERSION = "2023-06-01"  # the Admin API's required anthropic-version header


@dataclass(frozen=True, slots=True)
class SourceSection:
    """One settings section configuring sources of an entity: its variables, the bookmarks its sources
    read on, and what builds them (given the entity's timezone)."""

    variables: str
    source_ids: tuple[str, ...]
    build: Callable[[str], list[Source]]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    """The application's parts, built once and wired: settings, the engine, the clock, the token vault, the
    mapping and policies files as loaded, and the factories of sources and ledgers.

    It wires; it decides nothing. Use cases are functions in `connector/service/` that take an App (through
    the small protocol each declares) and whatever else they need."""

    settings: Settings
    engine: Engine
    clock: Clock = system_clock
    vault: TokenVault | None = None
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic  # float ok: seconds, for pacing calls to ledgers
    ledger_overrides: Mapping[str, Ledger] = field(default_factory=dict)
    source_overrides: list[Source] | None = None
    _mapping: tuple[MappingSet, str] | None = None
    _policies: tuple[PolicySet, str] | None = None
    _catalog: PriceCatalog | None = None
    _ledgers: dict[str, Ledger] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)  # set by `serve` on SIGTERM/SIGINT
    _limiters: dict[tuple[str, str], RateLimiter | None] = field(default_factory=dict)

    @property
    def actor(self) -> str:
        return self.settings.actor

    def stop_requested(self) -> bool:
        return self.stopping.is_set()

    @property
    def store(self) -> Store:
        """The store services take (`connector/store/port.py`), on this app's database."""
        # the SQL unit of work's repositories are concrete classes the port declares only in part (issue 15
        # follow-up: declare the rest, then drop this ignore)
        return SqlStore(self.engine)

    # ---------------------------------------------------------------------------------------- mapping

    def mapping(self) -> tuple[MappingSet, str]:
        if self._mapping is None:
            self._mapping = load_mapping(self.settings.mapping_file)
        return self._mapping

    def forget_files(self) -> None:
        """Read the mapping and the policies again at next use (the console saved a new version)."""
        self._mapping = self._policies = None

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

    def chart_max_age(self) -> timedelta:
        return timedelta(hours=self.settings.chart_max_age_hours)

    # ------------------------------------------------------------------------------- policies (issue 5)

    def policies(self) -> tuple[PolicySet, str]:
        """The accounting policies file (TOKENBOOKS_POLICIES_FILE), or the built-in defaults."""
        if self._policies is None:
            self._policies = load_policies(self.settings.policies_file)
        return self._policies

    def default_posting_mode(self) -> str:
        return self.settings.ledger_mode

    def locked_behaviour(self, entity: str) -> LockedBehaviour:
        return self.policies()[0].entity(entity).locked_period

    def tolerance(self, provider: str) -> Tolerance:
        """The reconciliation tolerance for `provider` (its override, or the default)."""
        chosen = self.settings.reconcile.providers.get(provider, self.settings.reconcile)
        return Tolerance(chosen.absolute, chosen.percent)

    def start_date(self, provider: str) -> date | None:
        """`provider`'s configured first day (TOKENBOOKS_OPENAI__START_DATE, …), if one is set."""
        section = self.settings.provider_sections().get(provider)
        return section.start_date if section else None

    def default_start(self, provider: str, until: date) -> date:
        """Where a source of `provider` with no bookmark starts: its configured first day, or the month
        being booked."""
        return self.start_date(provider) or Period.of(until).first_day

    # ---------------------------------------------------------------------------------------- sources

    def sources(self, entity: str) -> list[Source]:
        """The entity's sources, to pull: a section whose settings are wrong stops the pull before anything
        is read (its ConfigError names the section and the fix)."""
        configured = self.configured_sources(entity)
        if configured.refused:
            raise configured.refused[0].error
        return configured.sources

    def configured_sources(self, entity: str) -> ConfiguredSources:
        """Every source the settings configure for the entity, each section built on its own: a section
        whose settings are wrong (a ConfigError while it is built) is refused with its reason and the
        others are built, so that what lists them (`sources status`, the console) still shows them all."""
        if self.source_overrides is not None:
            return ConfiguredSources([s for s in self.source_overrides if s.entity == entity])
        configured = ConfiguredSources()
        sections = self._source_sections(entity)
        if not sections:
            return configured
        # the entity's, not one section's: a mapping without the entity is no source's problem
        timezone = self.mapping()[0].entity(entity).timezone
        for section in sections:
            try:
                configured.sources += section.build(timezone)
            except ConfigError as exc:  # this section's settings: the other sections are still built
                configured.refused.append(RefusedSource(section.variables, section.source_ids, exc))
        return configured

    def _of(self, section: Any, entity: str) -> bool:
        """Whether a provider section's sources are the entity's (no ENTITY: the default entity's)."""
        return bool((section.entity or self.default_entity()) == entity)

    def _source_sections(self, entity: str) -> list[SourceSection]:
        """The settings sections that configure sources of the entity, in the order they are pulled."""
        openai, anthropic = self.settings.openai, self.settings.anthropic
        aws, azure = self.settings.aws_cost_explorer, self.settings.azure_cost
        found: list[SourceSection] = []
        if (openai_key := openai.admin_key) and self._of(openai, entity):
            names = ("openai.costs", "openai.usage") if openai.usage else ("openai.costs",)
            found.append(
                SourceSection(
                    "TOKENBOOKS_OPENAI__",
                    tuple(bookmark_id(name, openai.organization) for name in names),
                    lambda timezone: self._openai_sources(entity, timezone, openai_key.get_secret_value()),
                )
            )
        if (anthropic_key := anthropic.admin_key) and self._of(anthropic, entity):
            found.append(
                SourceSection(
                    "TOKENBOOKS_ANTHROPIC__",
                    (bookmark_id("anthropic", anthropic.organization),),
                    lambda timezone: self._anthropic_sources(
                        entity, timezone, anthropic_key.get_secret_value()
                    ),
                )
            )
        if aws.enabled and self._of(aws, entity):
            found.append(
                SourceSection(
                    "TOKENBOOKS_AWS_COST_EXPLORER__",
                    (bookmark_id(AwsCostExplorerSource.name, aws.organization),),
                    lambda timezone: [self._aws_source(entity, timezone)],
                )
            )
        tenant, app, secret, scope = azure.tenant_id, azure.client_id, azure.client_secret, azure.scope
        if tenant and app and secret and scope and self._of(azure, entity):
            credentials = AzureCredentials(
                tenant_id=tenant,
                client_id=app,
                client_secret=secret.get_secret_value(),
                login_url=str(azure.login_url),
            )
            found.append(
                SourceSection(
                    "TOKENBOOKS_AZURE_COST__",
                    (bookmark_id(AzureCostManagementSource.name, azure.organization),),
                    lambda timezone: [self._azure_source(entity, timezone, credentials, scope)],
                )
            )
        for name, section in sorted(self.settings.warehouse.items()):
            if self._of(section, entity):
                found.append(
                    SourceSection(
                        section_variable(name),
                        (bookmark_id(f"warehouse.{name}", section.account),),
                        partial(self._warehouse_sources, name, section, entity),
                    )
                )
        return found

    def _openai_sources(self, entity: str, timezone: str, key: str) -> list[Source]:
        openai = self.settings.openai
        client = self._http_client("OpenAI", openai, {"Authorization": f"Bearer {key}"})
        kinds: tuple[type[OpenAICostsSource] | type[OpenAIUsageSource], ...] = (OpenAICostsSource,)
        if openai.usage:
            kinds += (OpenAIUsageSource,)
        return [
            kind(
                client,
                organization=openai.organization,
                entity=entity,
                timezone=timezone,
                lag_days=openai.lag_days,
            )
            for kind in kinds
        ]

    def _warehouse_sources(self, name: str, section: Any, entity: str, timezone: str) -> list[Source]:
        """The billing table in a warehouse of one `TOKENBOOKS_WAREHOUSE__<NAME>__…` section (issue 16)."""
        # here: the query builder's sqlglot loads only where a warehouse is configured, not for every command
        from connector.sources.warehouse.nightly import CUR_SERVICES, GCP_SERVICES, Dataset, WarehouseSource

        flavour_services = {"cur-2.0": CUR_SERVICES, "gcp-standard": GCP_SERVICES}
        default_services = flavour_services.get(section.flavour, FOCUS_AI_SERVICES)
        dataset = Dataset(
            section.table,
            flavour=section.flavour,
            columns=tuple(section.columns),
            timestamps_as_text=section.timestamps_as_text,
            double_amounts=section.double_amounts,
            partition_column=section.partition_column,
            partition_format=section.partition_format,
            services=tuple(section.services) if section.services is not None else default_services,
            unique_line_ids=section.unique_line_ids,
        )
        source = WarehouseSource(
            build_engine(name, section.engine, section, self.sleep),
            dataset,
            name=name,
            provider=section.provider or WAREHOUSE_PROVIDERS.get(section.engine, section.engine),
            account=section.account,
            entity=entity,
            timezone=timezone,
            retry=RetryPolicy(section.max_retries + 1, sleep=self.sleep),
            lag_days=section.lag_days,
            start_date=section.start_date,
            restates=section.restates,
            final_after_day=section.final_after_day,
        )
        return [source]

    def _aws_source(self, entity: str, timezone: str) -> Source:
        """AWS Cost Explorer (issue 16)."""
        aws = self.settings.aws_cost_explorer
        return AwsCostExplorerSource(
            cost_explorer_client(aws),
            account=aws.organization,
            entity=entity,
            timezone=timezone,
            retry=RetryPolicy(aws.max_retries + 1, sleep=self.sleep),
            lag_days=aws.lag_days,
            services=tuple(aws.services),
            service_search=tuple(aws.service_search),
        )

    def _azure_source(self, entity: str, timezone: str, credentials: AzureCredentials, scope: str) -> Source:
        """Azure Cost Management (issue 16)."""
        azure = self.settings.azure_cost
        return AzureCostManagementSource(
            credentials,
            scope=scope,
            account=azure.organization,
            entity=entity,
            timezone=timezone,
            retry=RetryPolicy(azure.max_retries + 1, sleep=self.sleep),
            timeout=azure.timeout_seconds,
            lag_days=azure.lag_days,
            services=tuple(azure.services),
            base_url=str(azure.base_url),
        )

    # ------------------------------------------------------------------------------ ingestion (issue 3)

    def _anthropic_sources(self, entity: str, timezone: str, key: str) -> list[Source]:
        anthropic = self.settings.anthropic
        headers = {
            "x-api-key": key,
            "anthropic-version": ANTHROPIC_VERSION,
        }
        client = self._http_client("Anthropic", anthropic, headers)
        return [
            AnthropicSource(
                client,
                organization=anthropic.organization,
                entity=entity,
                timezone=timezone,
                catalog=self.price_catalog(),
                lag_days=anthropic.lag_days,
            )
        ]

    def _http_client(self, name: str, section: Any, headers: dict[str, str]) -> HttpClient:
        """The shared HTTP client for one provider section of the settings (timeouts, retries, key hint)."""
        return HttpClient(
            name=name,
            base_url=section.base_url,
            headers=headers,
            timeout=section.timeout_seconds,
            retry=RetryPolicy(section.max_retries + 1, sleep=self.sleep),
            credential_hint=f"TOKENBOOKS_{name.upper()}__ADMIN_KEY",
        )

    def price_catalog(self) -> PriceCatalog:
        if self._catalog is None:
            self._catalog = load_catalog(self.settings.prices_file)
        return self._catalog

    def focus_reader(self, engine: str | None = None) -> FocusReader:
        """What reads FOCUS files (`engine` overrides the setting): the Python importer or DuckDB."""
        focus = self.settings.focus
        return FocusReader(
            kind=engine or focus.engine,
            duckdb_above_bytes=focus.duckdb_above_mb * MIB,
            duckdb_parquet_above_bytes=focus.duckdb_parquet_above_kb * 1024,
            limits=DuckDBLimits(focus.duckdb_memory_limit, focus.duckdb_threads, focus.duckdb_temp_directory),
        )

    # ---------------------------------------------------------------------------------------- ledgers

    def token_vault(self) -> TokenVault:
        if self.vault is None:
            key = self.settings.encryption_key.get_secret_value() if self.settings.encryption_key else None
            self.vault = DatabaseVault(self.engine, TokenCipher(key), self.clock)
        return self.vault

    def oauth(self, ledger: str) -> Any:
        """The OAuth client of a connectable ledger (its registry entry's `connection`, from its settings)."""
        return LEDGERS.connection(ledger).oauth(self)

    def ledger(self, entity: str) -> Ledger:
        if entity in self.ledger_overrides:
            return self.ledger_overrides[entity]
        if entity not in self._ledgers:
            self._ledgers[entity] = self._build_ledger(entity)
        return self._ledgers[entity]

    def ledgers_in_use(self) -> dict[str, Ledger]:
        """The ledgers this process has connected so far, by entity (their `stats` count API calls)."""
        return {**self._ledgers, **self.ledger_overrides}

    def _build_ledger(self, entity: str) -> Ledger:
        """The adapter of the ledger the mapping names for `entity`, built by its registry entry."""
        return LEDGERS.entry(self.mapping()[0].entity(entity).ledger).build(self, entity)

    def tokens(self, ledger: str, entity: str, refresher: Callable) -> TokenManager:
        """The token manager of one ledger connection (the vault holds its tokens, encrypted)."""
        return TokenManager(
            self.token_vault(), ledger=ledger, entity=entity, refresher=refresher, clock=self.clock
        )

    def data_path(self, *parts: str) -> Path:
        return data_path(self.settings, *parts)

    def rate_limiter(self, ledger: str, company_id: str) -> RateLimiter | None:
        """One limiter per ledger company in this process, shared by every adapter that posts to it (None
        when the ledger's adapter paces itself)."""
        key = (ledger, company_id)
        if key not in self._limiters:
            self._limiters[key] = LEDGERS.connection(ledger).rate_limiter(self)
        return self._limiters[key]


WAREHOUSE_PROVIDERS = {"bigquery": "gcp", "athena": "aws"}  # whose bills each engine usually holds


def upgrade_store(settings: Settings) -> tuple[str, str | None, str]:
    """Apply the schema migrations to the settings' database: (where, revision before, revision now)."""
    engine = make_engine(settings.database_url)
    try:
        before = create_schema(engine)
    finally:
        engine.dispose()
    return describe_url(settings.database_url), before, head_revision()


def build_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    vault: TokenVault | None = None,
    ledgers: Mapping[str, Ledger] | None = None,
    sources: list[Source] | None = None,
    sleep: Callable[[float], None] | None = None,
    monotonic: Callable[[], float] | None = None,  # float ok: seconds
    create: bool = True,
    read_only: bool = False,
) -> App:
    """Wire the application. Everything not given is built from settings.

    `read_only` (commands that only read): the store must exist already — a mistyped
    TOKENBOOKS_DATABASE_URL is refused, never answered with a new, empty store."""
    settings = settings or load_settings()
    remember(secret_values(settings))
    if read_only:
        _require_store(settings.database_url)
    engine = make_engine(settings.database_url)
    if read_only and not has_schema(engine):
        engine.dispose()
        _require_store(settings.database_url, "the database holds no tokenbooks tables")
    if create:
        create_schema(engine)  # a store that exists is brought to the current schema
    app = App(
        settings=settings,
        engine=engine,
        clock=clock or system_clock,
        vault=vault,
        monotonic=monotonic or time.monotonic,
        ledger_overrides=dict(ledgers or {}),
        source_overrides=sources,
    )
    # waits (ledger pacing, retry back-off, 429s) end at once on a shutdown request (`shutdown.py`)
    app.sleep = sleep or interruptible_sleep(app.stopping)
    return app


def _require_store(url: str, why: str | None = None) -> None:
    why = why or missing_store(url)
    if why:
        raise ConfigError(
            f"{why} (TOKENBOOKS_DATABASE_URL={describe_url(url)}); this command only reads and creates nothing",
            fix="check TOKENBOOKS_DATABASE_URL (a typo names a new, empty store), or run a command that records "
            "data first (`tokenbooks sync`, `tokenbooks import …`, `tokenbooks db upgrade`)",
        )


def data_path(settings: Settings, *parts: str) -> Path:
    path = settings.data_dir.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path

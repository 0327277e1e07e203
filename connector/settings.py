"""Settings: one typed model, read from the environment and `.env`, validated once at start.

Every variable is `TOKENBOOKS_<NAME>`, nested sections joined with `__`
(e.g. `TOKENBOOKS_OPENAI__ADMIN_KEY`, `TOKENBOOKS_QUICKBOOKS__BASE_URL`). `.env.example` documents each
one. Secrets are `SecretStr`, so they never print; every secret setting can also be read from a file
named by `<NAME>_FILE` (Docker and Kubernetes secrets, systemd credentials): `SecretFiles` below.
Nothing here runs at import time: the composition root (`bootstrap.py`) calls `load_settings()`.
"""

from __future__ import annotations

import json
import os
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    SecretStr,
    SerializeAsAny,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonDict
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.exceptions import SettingsError

from connector.domain.errors import ConfigError
from connector.ledgers.registry import LEDGERS  # each ledger package declares its own section
from connector.redaction import remember
from connector.setting_types import HttpUrl
from connector.sources import aws_cost_explorer, azure_cost_management  # their AI service lists
from connector.store.urls import url_password, url_problem

Hours = float  # float ok: a duration, never an amount
SECRET: JsonDict = {
    "secret": True
}  # marks a plain-text setting that is secret all the same (the database URL)
ENV_PREFIX = "TOKENBOOKS_"
SETTINGS_CONFIG = SettingsConfigDict(
    env_prefix=ENV_PREFIX,
    env_nested_delimiter="__",
    env_file=".env",
    env_file_encoding="utf-8",
    extra="ignore",
    env_ignore_empty=True,  # `NAME=` (as in .env.example) means "not set", not an empty value
)
Section = TypeVar("Section", bound=BaseModel)


def _json_value(kind: type, example: str):
    """A list or dict setting is JSON (`TOKENBOOKS_FOCUS__SERVICES=["AI and Machine Learning"]`); anything
    else is refused with the variable's name and an example, never a traceback."""

    def parse(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"{value[:60]!r} is not JSON: write it as {example}") from None
        if not isinstance(parsed, kind):
            raise ValueError(f"is JSON but not a {kind.__name__}: write it as {example}")
        return parsed

    return parse


JsonList = Annotated[list[str], NoDecode, BeforeValidator(_json_value(list, '["AI and Machine Learning"]'))]


class ProviderSettings(BaseModel):
    """What every provider source shares."""

    entity: str | None = Field(None, description="entity (company) these costs belong to; default: the first")
    lag_days: int = Field(3, ge=0, le=31, description="days re-read every run, because providers restate")
    start_date: date | None = Field(
        None, description="first day to pull when there is no bookmark yet (YYYY-MM-DD)"
    )
    timeout_seconds: float = Field(30.0, gt=0, description="HTTP timeout per request")  # float ok: seconds
    max_retries: int = Field(5, ge=0, le=20)
    ledger_vendor: str | None = Field(
        None, description="the vendor name the AP team enters this provider's bills under in the ledger"
    )
    organization: str = Field("default", description="a label for the provider's organization (account)")


class OpenAISettings(ProviderSettings):
    admin_key: SecretStr | None = Field(None, description="organization Admin key (sk-admin-…)")
    base_url: HttpUrl = "https://api.openai.com/v1"
    organization: str = Field("default", description="a label for the OpenAI organization (provider account)")
    usage: bool = Field(
        True, description="also pull the Usage API (tokens per key, model, tier) for enrichment"
    )


class AnthropicSettings(ProviderSettings):
    admin_key: SecretStr | None = Field(None, description="Admin API key (sk-ant-admin…)")
    base_url: HttpUrl = "https://api.anthropic.com"
    organization: str = Field("default", description="a label for the Anthropic organization")


class AwsCostExplorerSettings(ProviderSettings):
    """AWS Cost Explorer pulls (Bedrock without a CUR export). Credentials: the keys below, or boto3's own
    chain (AWS_* variables, an instance or task role) when they are left empty."""

    enabled: bool = Field(False, description="pull Cost Explorer every sync (each request costs $0.01)")
    access_key_id: str | None = Field(
        None, description="an IAM key allowed ce:GetCostAndUsage and ce:GetDimensionValues only"
    )
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    region: str = Field("us-east-1", description="Cost Explorer's endpoint region (it lives in us-east-1)")
    organization: str = Field("default", description="the payer account id or a label (provider account)")
    services: JsonList = Field(
        default_factory=lambda: list(aws_cost_explorer.AI_SERVICES),
        description="SERVICE values to pull (Cost Explorer's names, exactly)",
    )
    service_search: JsonList = Field(
        default_factory=lambda: list(aws_cost_explorer.SERVICE_SEARCH),
        description="SERVICE values containing one of these words are pulled too, found each pull with "
        "ce:GetDimensionValues (models sold on AWS Marketplace are billed as '<model> (Amazon Bedrock "
        "Edition)'); [] to pull SERVICES only",
    )


class AzureCostSettings(ProviderSettings):
    """Azure Cost Management Query pulls (Azure OpenAI without an export), as an Entra ID app."""

    tenant_id: str | None = None
    client_id: str | None = Field(None, description="the app registration given Cost Management Reader")
    client_secret: SecretStr | None = None
    scope: str | None = Field(None, description="subscriptions/<id>, or a billing account or resource group")
    organization: str = Field("default", description="a label for the scope (provider account)")
    services: JsonList = Field(
        default_factory=lambda: list(azure_cost_management.AI_SERVICES),
        description="ServiceName values to pull",
    )
    base_url: HttpUrl = "https://management.azure.com"
    login_url: HttpUrl = "https://login.microsoftonline.com"


class WarehouseSettings(ProviderSettings):
    """One billing table in a warehouse, pulled nightly (`TOKENBOOKS_WAREHOUSE__<NAME>__…`, docs/warehouses.md).
    Credentials come from the environment or .env only (or `<NAME>_FILE`); they are never stored."""

    engine: Literal["bigquery", "athena", "snowflake", "duckdb"]
    table: str = Field(
        description="the table or view: project.dataset.view, database.table, DB.SCHEMA.TABLE", min_length=1
    )
    account: str = Field(
        description="the billing account the source stands for (BillingAccountId; CUR: the payer account)",
        min_length=1,
    )
    flavour: Literal["focus-1.0", "focus-1.1", "focus-1.2", "cur-2.0", "gcp-standard"] = "focus-1.2"
    provider: str | None = Field(None, description="the provider its facts are of; default: by engine")
    columns: JsonList = Field(
        default_factory=list, description="the FOCUS columns to read; empty: the flavour's (see the docs)"
    )
    services: JsonList | None = Field(
        None,
        description='FOCUS: ServiceCategory values (default ["AI and Machine Learning"]); CUR 2.0: '
        'line_item_product_code values (default ["AmazonBedrock", "AmazonBedrockFoundationModels", '
        '"AmazonBedrockService"]); gcp-standard: service.description '
        'values (default ["Vertex AI"])',
    )
    timestamps_as_text: bool = Field(False, description="the charge period columns hold ISO 8601 text")
    double_amounts: bool | None = Field(
        None,
        description="the cost columns are DOUBLE (AWS's Parquet exports, GCP's standard export); "
        "empty: on for gcp-standard, off otherwise",
    )
    unique_line_ids: bool = Field(
        False,
        description="the provider writes each line id once (CUR 2.0: identity_line_item_id per time "
        "interval): a repeated id is not looked for, which saves the query a pass over every id",
    )
    partition_column: str | None = Field(
        None,
        description="a partition column named with the window's values; BigQuery's _PARTITIONTIME or "
        "_PARTITIONDATE (the day a row was loaded) is read from the day before the window, late rows included",
    )
    partition_format: str = Field(
        "%Y-%m", description="strftime of a partition value (billing_period: %Y-%m)"
    )
    restates: Literal["billing_period", "lag_days"] = Field(
        "billing_period",
        description="what each night reads again: the open billing period(s) (cloud exports restate the "
        "month until the bill is final), or only LAG_DAYS",
    )
    final_after_day: int = Field(
        5, ge=1, le=28, description="the day of the month from which last month's bill is final (not re-read)"
    )
    # BigQuery
    project: str | None = Field(None, description="BigQuery: the project that runs (and pays for) the query")
    location: str | None = Field(None, description="BigQuery: the dataset's location (US, EU …)")
    credentials_json: SecretStr | None = Field(
        None, description="BigQuery: a service account key (JSON); empty: Application Default Credentials"
    )
    maximum_bytes_billed: int | None = Field(None, ge=1, description="BigQuery: refuse a query scanning more")
    # Athena
    region: str | None = Field(None, description="Athena: the AWS region of the workgroup")
    workgroup: str = Field("primary", description="Athena: the workgroup")
    output_location: str | None = Field(
        None, description="Athena: s3://… for results, if the workgroup has none"
    )
    access_key_id: str | None = Field(None, description="Athena: an IAM key; empty: boto3's own chain")
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    poll_seconds: float = Field(  # float ok: seconds, not money
        1.0, gt=0, description="Athena: wait between status checks"
    )
    # Snowflake
    snowflake_account: str | None = Field(
        None, description="Snowflake: the account identifier (orgname-account)"
    )
    user: str | None = None
    password: SecretStr | None = None
    private_key: SecretStr | None = Field(
        None, description="Snowflake: key-pair authentication (PEM, PKCS#8)"
    )
    role: str | None = None
    warehouse: str | None = Field(None, description="Snowflake: the virtual warehouse that runs the query")
    # DuckDB
    database: str | None = Field(
        None, description="DuckDB: a database file; Athena: the Glue database; Snowflake: the database"
    )
    setup: JsonList = Field(default_factory=list, description="DuckDB: statements run first (CREATE VIEW …)")
    memory_limit: str = Field(
        "1GB",
        description="DuckDB: its memory_limit (beyond it, it spills to disk); its default is 80 % of RAM",
    )
    threads: int | None = Field(None, ge=1, description="DuckDB: its threads; default: every core")
    temp_directory: str | None = Field(None, description="DuckDB: where it spills; default: its own")

    @model_validator(mode="before")
    @classmethod
    def _engine_needs(cls, data: Any) -> Any:
        """What each engine cannot run without, said when the settings are read (not at 2:30 at night)."""
        if not isinstance(data, dict):
            return data
        every: dict[str, list[tuple[str, ...]]] = {
            "athena": [("region",)],
            "snowflake": [("snowflake_account",), ("user",), ("password", "private_key")],
        }
        needs = every.get(str(data.get("engine")), [])
        missing = [" or ".join(names).upper() for names in needs if not any(data.get(n) for n in names)]
        if missing:
            raise ValueError(f"{data.get('engine')} needs {', '.join(missing)} (in this section)")
        return data


class FocusSettings(BaseModel):
    """FOCUS exports (AWS Bedrock, Azure OpenAI, Vertex AI …), imported with `tokenbooks import focus`."""

    services: JsonList = Field(
        default_factory=lambda: ["AI and Machine Learning"],
        description='ServiceCategory values to import; ["*"] imports every service',
    )
    entity: str | None = Field(None, description="entity the imported costs belong to; default: the first")
    engine: Literal["auto", "python", "duckdb"] = Field(
        "auto",
        description="what reads the rows: auto gives DuckDB imports larger than duckdb_above_mb (CSV) or "
        "duckdb_parquet_above_kb (Parquet); both readers give the same batch",
    )
    duckdb_above_mb: int = Field(
        32, ge=0, description="auto: CSV files together larger than this go to DuckDB"
    )
    duckdb_parquet_above_kb: int = Field(
        512,
        ge=0,
        description="auto: Parquet files together larger than this go to DuckDB (measured: docs/performance.md)",
    )
    duckdb_memory_limit: str = Field(
        "1GB", description="DuckDB's memory_limit (beyond it, it spills to disk)"
    )
    duckdb_threads: int | None = Field(None, ge=1, description="DuckDB's threads; default: every core")
    duckdb_temp_directory: str | None = Field(None, description="where DuckDB spills; default: its own")
    unique_line_ids: bool = Field(
        False,
        description="trust each file's line ids to be unique (AWS CUR 2.0: unique in a partition): a "
        "repeated id is not looked for; `import focus --checked-line-ids` overrides it for one import",
    )


# ------------------------------------------------------------------- service: reconcile, serve, alerts


class ToleranceSettings(BaseModel):
    absolute: Decimal | None = Field(Decimal("1.00"), ge=0, description="in the invoice's currency")
    percent: Decimal | None = Field(None, ge=0, le=100, description="of the invoice total")


class ReconcileSettings(ToleranceSettings):
    """Reconciliation tolerance: absolute and/or percent (the larger applies), per provider if needed."""

    providers: Annotated[
        dict[str, ToleranceSettings],
        NoDecode,
        BeforeValidator(_json_value(dict, '{"anthropic": {"absolute": "5.00"}}')),
    ] = Field(
        default_factory=dict,
        description='per-provider overrides as JSON, e.g. {"anthropic": {"absolute": "5.00", "percent": "0.5"}}',
    )


class ScheduleSettings(BaseModel):
    """`tokenbooks serve`: when the jobs run, in each entity's own timezone (from the mapping)."""

    nightly_at: str = Field("02:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, local")
    month_end_day: int = Field(3, ge=1, le=28, description="day of the next month the month-end job runs")
    month_end_at: str = Field("06:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, local")
    misfire_grace_minutes: int = Field(360, ge=1, description="a job missed by less than this still runs")
    catch_up: bool = Field(True, description="at start, run a nightly sync missed while the service was down")


class WebSettings(BaseModel):
    """The web console and, on the same server, `/healthz` and `/metrics` (`tokenbooks serve`, `tokenbooks web`)."""

    host: str = Field(
        "127.0.0.1", description="address to listen on (0.0.0.0 in a container, behind a proxy)"
    )
    port: int = Field(8787, ge=0, le=65535, description="0 picks a free port")
    secret_key: SecretStr | None = Field(
        None,
        description="signs session cookies; empty: a random key kept in the data dir (console-secret)",
    )
    session_idle_minutes: int = Field(30, ge=1, description="a session unused this long ends")
    session_max_hours: int = Field(
        12, ge=1, description="a session ends this long after sign-in, used or not"
    )
    secure_cookies: bool | None = Field(
        None,
        description="send the session cookie only over HTTPS; unset: on when public_url is https "
        "(`cookies_secure`)",
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="proxies trusted for X-Forwarded-For/-Proto (comma-separated addresses, or *)",
    )
    login_attempts: int = Field(5, ge=1, description="failed sign-ins allowed per name and per address …")
    login_window_minutes: int = Field(15, ge=1, description="… within this many minutes, then refused")
    segregation_of_duties: bool = Field(
        True,
        description="whoever changed the mapping or policies, or ran the sync, that produced a held journal "
        "cannot approve it",
    )
    oidc_discovery_url: HttpUrl | None = Field(
        None, description="single sign-on: the identity provider's /.well-known/openid-configuration"
    )
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_label: str = Field("single sign-on", description="the sign-in button's text")
    public_url: HttpUrl | None = Field(
        None, description="the console's address as people reach it (the SSO redirect is built from it)"
    )

    @property
    def cookies_secure(self) -> bool:
        """Whether the session cookie carries `Secure`: as set, or else on when people reach the console
        over https (behind a TLS-terminating proxy the console itself only sees http, so it cannot tell)."""
        if self.secure_cookies is not None:
            return self.secure_cookies
        return (self.public_url or "").lower().startswith("https://")


class AlertSettings(BaseModel):
    """Where alerts go (Slack, Microsoft Teams, a generic webhook, email) and what counts as a spike."""

    webhook_url: SecretStr | None = Field(None, description="Slack-compatible incoming webhook URL")
    slack_webhook_url: SecretStr | None = Field(
        None, description="Slack incoming webhook URL (a formatted message with the action)"
    )
    teams_webhook_url: SecretStr | None = Field(
        None, description="Microsoft Teams workflow webhook URL (an Adaptive Card)"
    )
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    email_from: str | None = None
    email_to: str | None = Field(None, description="comma-separated recipients")
    spike_dimension: str = Field("project", description="project, workspace, or tag:<name> (e.g. tag:team)")
    spike_window_days: int = Field(14, ge=2, le=90, description="trailing days the average is taken over")
    spike_factor: Decimal = Field(Decimal("3"), gt=1, description="a day above factor × average is a spike")
    spike_min_amount: Decimal = Field(Decimal("25"), ge=0, description="ignore days below this amount")
    budgets_file: Path | None = Field(None, description="budgets per cost center (see docs/alerts.md)")


class Settings(BaseSettings):
    """Every setting. The ledgers' sections are not fields written here: each ledger package's registry entry
    declares its settings model (`LedgerEntry.settings`), read from `TOKENBOOKS_<LEDGER>__…` like any
    section (`LedgerSections`) and kept in `ledgers` by ledger name; `ledger(name, Model)` hands one out,
    typed. `Settings(quickbooks=QuickBooksSettings(…))` still sets a section by its name."""

    model_config = SETTINGS_CONFIG

    database_url: str = Field(
        "",
        description="SQLite file or PostgreSQL URL; empty: the SQLite file tokenbooks.db in the data dir",
        json_schema_extra=SECRET,  # a PostgreSQL URL holds the password
    )
    encryption_key: SecretStr | None = Field(
        None, description="Fernet key that encrypts ledger tokens at rest"
    )
    mapping_file: Path = Path("mappings/example.yaml")
    policies_file: Path | None = Field(
        None, description="accounting policies beside the mapping; none: the built-in defaults"
    )
    chart_max_age_hours: Hours = Field(
        24.0, ge=0, description="how long `mappings check` trusts the cached chart of accounts"
    )
    data_dir: Path = Path(".tokenbooks")
    invoices_dir: Path = Path("invoices")
    prices_file: Path | None = Field(
        None, description="price catalog overriding the one shipped with tokenbooks"
    )
    entity: str | None = Field(None, description="default entity for commands that need one")
    full_plan: bool = Field(
        False,
        description="plan every day of the months a sync covers, not only the days whose inputs changed "
        "(the same journals: a check, and a way out should the kept day sums be doubted)",
    )
    ledger_mode: Literal["auto", "draft", "approve"] = Field(
        "auto", description="posting mode where the policies file does not set one for the entity"
    )
    actor: str = Field("tokenbooks", description="who runs tokenbooks, as written in the audit log")
    log_format: Literal["text", "json"] = Field(
        "text", description="text for people; json: one JSON object a line, with the run id (log collectors)"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    openai: OpenAISettings = OpenAISettings()
    anthropic: AnthropicSettings = AnthropicSettings()
    aws_cost_explorer: AwsCostExplorerSettings = AwsCostExplorerSettings()
    azure_cost: AzureCostSettings = AzureCostSettings()
    focus: FocusSettings = FocusSettings()
    ledgers: dict[str, SerializeAsAny[BaseModel]] = Field(
        default_factory=dict, description="each registered ledger's section, by ledger name"
    )
    warehouse: dict[str, WarehouseSettings] = Field(
        default_factory=dict,
        description="billing tables in warehouses, by name (TOKENBOOKS_WAREHOUSE__<NAME>__…)",
    )
    reconcile: ReconcileSettings = ReconcileSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    web: WebSettings = WebSettings()
    alerts: AlertSettings = AlertSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            SecretFiles(settings_cls),
            LedgerSections(settings_cls, dotenv_settings),
            dotenv_settings,
            file_secret_settings,
        )

    def ledger(self, name: str, model: type[Section]) -> Section:
        """The settings section of the ledger `name`, as the model its registry entry declares."""
        section = self.ledgers.get(name)
        if not isinstance(section, model):
            raise ConfigError(
                f"there are no {model.__name__} settings for the ledger {name!r}",
                fix=f"register the ledger's entry with settings={model.__name__} (connector/ledgers/registry.py)",
            )
        return section

    def with_ledger(self, name: str, section: BaseModel) -> Settings:
        """A copy of these settings with the ledger `name`'s section replaced."""
        return self.model_copy(update={"ledgers": {**self.ledgers, name: section}})

    @model_validator(mode="before")
    @classmethod
    def _ledger_sections(cls, data: Any) -> Any:
        """Each registered ledger's section goes to `ledgers`: read by `LedgerSections`, or given by name
        (`Settings(xero=XeroSettings(…))`, `load_settings(xero={…})`), else its defaults."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        sections = dict(data.get("ledgers") or {})
        problems = []
        for name, model in ledger_settings_models().items():
            given = data.pop(name, sections.get(name))
            try:
                sections[name] = given if isinstance(given, model) else model.model_validate(given or {})
            except ValidationError as exc:  # named as the variable, as `load_settings` names the others
                problems += [
                    f"{ENV_PREFIX}{'__'.join(str(p).upper() for p in (name, *e['loc']))}: "
                    f"{e['msg'].removeprefix('Value error, ')}"
                    for e in exc.errors()
                ]
        if problems:
            raise ValueError("; ".join(problems))
        data["ledgers"] = sections
        return data

    def provider_sections(self) -> dict[str, ProviderSettings]:
        """The settings of each provider pulled over its API, by provider name as its facts carry it."""
        return {
            "openai": self.openai,
            "anthropic": self.anthropic,
            "aws": self.aws_cost_explorer,
            "azure": self.azure_cost,
        }

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value:
            return value  # none named: the store in the data dir (`_store_in_the_data_dir`)
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError("use a sqlite:///path or postgresql://user:pass@host/db URL")
        value = value.replace("postgres://", "postgresql://", 1)

        problem = url_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _store_in_the_data_dir(self) -> Settings:
        """No database named: the SQLite store lives in the data dir (a container's volume, systemd's
        StateDirectory), never in whatever directory the process happened to start in."""
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'tokenbooks.db'}"
        return self


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment and `.env`; turn validation errors into one clear ConfigError."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except SettingsError as exc:  # a value pydantic-settings could not even decode
        raise ConfigError(
            f"Settings are invalid: {exc}",
            fix="correct this variable in the environment or .env (see .env.example); lists and dicts are JSON",
        ) from None
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            message = error["msg"].removeprefix("Value error, ")
            if not error["loc"]:  # a ledger's section: its message names its variables (`_ledger_sections`)
                lines.append(message)
                continue
            name = "TOKENBOOKS_" + "__".join(str(p).upper() for p in error["loc"])
            lines.append(f"{name}: {message}")
        raise ConfigError(
            "Settings are invalid: " + "; ".join(lines),
            fix="correct these variables in the environment or .env (see .env.example)",
        ) from None
    # known as secrets from here on, whatever the command does next (`db upgrade` builds no application)
    remember(secret_values(settings))
    return settings


# ------------------------------------------------------------------------------ the ledgers' sections


def ledger_settings_models() -> dict[str, type[BaseModel]]:
    """The settings model of each registered ledger that has one, by ledger name (its section's name)."""
    return {entry.name: entry.settings for entry in LEDGERS if entry.settings is not None}


class LedgerSectionsBase(BaseSettings):
    """What `LedgerSections` reads the ledgers' sections with: the same prefix, delimiter, `.env` and
    `_FILE` secrets as `Settings`, so a ledger's variables behave exactly as the fields written there."""

    model_config = SETTINGS_CONFIG

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return env_settings, SecretFiles(settings_cls), dotenv_settings


@cache
def sections_reader(sections: tuple[tuple[str, type[BaseModel]], ...]) -> type[BaseSettings]:
    """A settings class whose fields are the ledgers' sections (built once per set of registered ledgers)."""
    fields: dict[str, Any] = {name: (model, model()) for name, model in sections}
    return create_model("LedgerSettings", __base__=LedgerSectionsBase, **fields)


class LedgerSections(PydanticBaseSettingsSource):
    """The registered ledgers' sections, from `TOKENBOOKS_<LEDGER>__…` in the environment, the `.env` file
    this `Settings` reads and `…_FILE` secrets; a ledger registered later (a test's) is read all the same,
    because the sections are looked up when settings are built, not when this module is imported."""

    def __init__(self, settings_cls: type[BaseSettings], dotenv: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self.dotenv = dotenv

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is done in __call__, section by section

    def __call__(self) -> dict[str, Any]:
        models = ledger_settings_models()
        if not models:
            return {}
        reader = sections_reader(tuple(models.items()))
        if isinstance(self.dotenv, DotEnvSettingsSource):
            read = reader(
                _env_file=self.dotenv.env_file,
                _env_file_encoding=self.dotenv.env_file_encoding,
            )
        else:
            read = reader(_env_file=None)
        return {name: getattr(read, name) for name in models}


# ------------------------------------------------------------------------------ secrets read from files


def secret_settings(model: type[BaseModel], prefix: str = ENV_PREFIX) -> dict[str, tuple[str, ...]]:
    """Every secret setting: its variable name → its path in the settings (e.g. ("openai", "admin_key")),
    the registered ledgers' sections included."""
    found = field_secrets(model, prefix)
    if issubclass(model, Settings):
        for name, section in ledger_settings_models().items():
            for variable, path in field_secrets(section, f"{prefix}{name.upper()}__").items():
                found[variable] = ("ledgers", name, *path)
    return found


def field_secrets(model: type[BaseModel], prefix: str = ENV_PREFIX) -> dict[str, tuple[str, ...]]:
    """The secret settings among a model's own fields and nested sections."""
    found: dict[str, tuple[str, ...]] = {}
    for name, info in model.model_fields.items():
        kinds = (info.annotation, *get_args(info.annotation))
        if get_origin(info.annotation) is dict:
            continue  # named sections: their secrets are found by name (`named_secret_settings`)
        nested = next((k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)), None)
        if nested is not None and nested is not SecretStr:
            for variable, path in field_secrets(nested, f"{prefix}{name.upper()}__").items():
                found[variable] = (name, *path)
        elif SecretStr in kinds or (
            isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("secret")
        ):
            found[f"{prefix}{name.upper()}"] = (name,)
    return found


def named_secret_settings(model: type[BaseModel], prefix: str = ENV_PREFIX) -> dict[str, tuple[str, ...]]:
    """The secret settings of named sections (`TOKENBOOKS_WAREHOUSE__<NAME>__PASSWORD`) whose `_FILE` is
    set: the names are the operator's, so they are found in the environment."""
    found: dict[str, tuple[str, ...]] = {}
    for name, info in model.model_fields.items():
        if get_origin(info.annotation) is not dict:
            continue
        section = get_args(info.annotation)[1]
        if not (isinstance(section, type) and issubclass(section, BaseModel)) or section is BaseModel:
            continue  # the ledgers' sections: read by `LedgerSections`, each with its own model
        secrets = {
            variable.removeprefix(ENV_PREFIX): path for variable, path in secret_settings(section).items()
        }
        head = f"{prefix}{name.upper()}__"
        for variable in os.environ:
            if not (variable.startswith(head) and variable.endswith("_FILE")):
                continue
            named, _, rest = variable.removeprefix(head).removesuffix("_FILE").partition("__")
            if rest in secrets and named:
                found[variable.removesuffix("_FILE")] = (name, named.lower(), *secrets[rest])
    return found


class SecretFiles(PydanticBaseSettingsSource):
    """`<SECRET SETTING>_FILE=/path`: the secret is the file's content (one trailing newline dropped).

    Docker and Kubernetes mount secrets as files, systemd passes credentials as files
    (`LoadCredential=` → `$CREDENTIALS_DIRECTORY`); a secret in a file stays out of `ps e`, `docker
    inspect` and the pod spec. Setting both the variable and its `_FILE` is refused: which one wins
    would be a guess.
    """

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is done in __call__, over the nested sections

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        # the ledgers' sections are read by `LedgerSections`, with their own `SecretFiles`
        found = field_secrets(self.settings_cls) | named_secret_settings(self.settings_cls)
        for variable, path in found.items():
            file_name = os.environ.get(f"{variable}_FILE")
            if not file_name:
                continue
            if os.environ.get(variable):
                raise ConfigError(
                    f"both {variable} and {variable}_FILE are set",
                    fix=f"keep one of them: {variable}_FILE for a secret mounted as a file",
                )
            section = values
            for part in path[:-1]:
                section = section.setdefault(part, {})
            section[path[-1]] = _read_secret_file(variable, Path(file_name))
        return values


def _read_secret_file(variable: str, path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(
            f"{variable}_FILE names {path}, which cannot be read: {reason}",
            fix=f"mount the secret at {path} readable by this user, or correct {variable}_FILE",
        ) from None
    return text[:-1] if text.endswith("\n") else text


def secret_values(model: BaseModel) -> list[str]:
    """Every secret the settings hold (API keys, client secrets, webhook URL …), to scrub from exports."""
    found: list[str] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr) and value.get_secret_value():
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            found += secret_values(value)
        elif isinstance(value, dict):  # named sections: the ledgers, the warehouses
            found += [
                s
                for section in value.values()
                if isinstance(section, BaseModel)
                for s in secret_values(section)
            ]
    if isinstance(model, Settings) and model.database_url.startswith("postgres"):
        password = url_password(model.database_url)
        found += [password] if password else []
    return found

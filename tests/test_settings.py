"""Settings: one typed model from TOKENBOOKS_* variables; every variable documented; secrets never print."""

import re
from datetime import date
from pathlib import Path

import pytest
from pydantic import BaseModel

from connector.bootstrap import build_app
from connector.domain.errors import ConfigError
from connector.ledgers.quickbooks.settings import QuickBooksSettings
from connector.settings import Settings, WarehouseSettings, ledger_settings_models, load_settings

ROOT = Path(__file__).resolve().parents[1]


def env_names(model: type[BaseModel], prefix: str = "TOKENBOOKS_") -> list[str]:
    """Every variable of the settings, the registered ledgers' sections included."""
    names = []
    if issubclass(model, Settings):
        for name, section in ledger_settings_models().items():
            names += env_names(section, f"{prefix}{name.upper()}__")
    for name, info in model.model_fields.items():
        if model is Settings and name == "ledgers":
            continue  # the sections above, each under its ledger's name
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += env_names(annotation, f"{prefix}{name.upper()}__")
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


def test_every_warehouse_setting_is_documented_in_env_example():
    """Named sections (`TOKENBOOKS_WAREHOUSE__<NAME>__…`) are documented under example names."""
    documented = (ROOT / ".env.example").read_text()
    missing = [
        name
        for name in WarehouseSettings.model_fields
        if not re.search(rf"WAREHOUSE__\w+__{name.upper()}=", documented)
    ]
    assert missing == []


def test_every_setting_is_documented_in_env_example():
    documented = (ROOT / ".env.example").read_text()
    missing = [name for name in env_names(Settings) if f"{name}=" not in documented]
    assert missing == []


def test_nested_variables_and_secrets(monkeypatch):
    monkeypatch.setenv("TOKENBOOKS_OPENAI__ADMIN_KEY", "sk-admin-very-secret")
    monkeypatch.setenv("TOKENBOOKS_OPENAI__BASE_URL", "http://127.0.0.1:9999/v1")
    monkeypatch.setenv("TOKENBOOKS_QUICKBOOKS__BASE_URL", "http://127.0.0.1:8888")
    settings = Settings(_env_file=None)
    assert settings.openai.base_url == "http://127.0.0.1:9999/v1"
    assert settings.ledger("quickbooks", QuickBooksSettings).base_url == "http://127.0.0.1:8888"
    assert settings.openai.admin_key.get_secret_value() == "sk-admin-very-secret"
    assert "very-secret" not in repr(settings)
    assert "very-secret" not in str(settings.model_dump())


def test_a_dotenv_file_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("TOKENBOOKS_DATABASE_URL=postgresql://tb:pw@db:5432/tokenbooks\n")
    assert Settings().database_url == "postgresql://tb:pw@db:5432/tokenbooks"


def test_invalid_settings_name_the_variable_and_the_fix(monkeypatch):
    monkeypatch.setenv("TOKENBOOKS_OPENAI__LAG_DAYS", "lots")
    with pytest.raises(ConfigError, match="TOKENBOOKS_OPENAI__LAG_DAYS") as caught:
        load_settings(_env_file=None)
    assert ".env.example" in caught.value.fix


def test_each_provider_starts_from_its_own_start_date_and_a_bad_date_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("TOKENBOOKS_ANTHROPIC__START_DATE", "2026-08-15")
    settings = load_settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'tb.db'}")
    app = build_app(settings, sources=[])
    assert app.default_start("anthropic", date(2026, 10, 20)) == date(2026, 8, 15)
    assert app.default_start("openai", date(2026, 10, 20)) == date(2026, 10, 1)  # no date: the month
    monkeypatch.setenv("TOKENBOOKS_OPENAI__START_DATE", "15/08/2026")
    with pytest.raises(ConfigError, match="TOKENBOOKS_OPENAI__START_DATE"):
        load_settings(_env_file=None)


def test_an_unknown_database_is_refused(monkeypatch):
    monkeypatch.setenv("TOKENBOOKS_DATABASE_URL", "mysql://x")
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_settings(_env_file=None)


def test_a_copy_of_env_example_is_valid_settings():
    settings = Settings(_env_file=ROOT / ".env.example")
    assert settings.alerts.webhook_url is None
    assert settings.reconcile.percent is None
    assert settings.schedule.nightly_at == "02:30"


def test_a_copy_of_env_example_given_an_https_public_url_sends_the_session_cookie_secure(
    tmp_path, monkeypatch
):
    """Only the public URL is filled in: the cookie's `Secure` follows it (the example set
    SECURE_COOKIES=false, which would have turned that off for everyone who copied it)."""
    env = tmp_path / ".env"
    example = (ROOT / ".env.example").read_text()
    env.write_text(
        example.replace(
            "TOKENBOOKS_WEB__PUBLIC_URL=\n", "TOKENBOOKS_WEB__PUBLIC_URL=https://books.example.com\n"
        )
    )
    assert Settings(_env_file=env).web.cookies_secure
    assert not Settings(_env_file=ROOT / ".env.example").web.cookies_secure
    monkeypatch.setenv("TOKENBOOKS_WEB__SECURE_COOKIES", "false")
    assert not Settings(_env_file=env).web.cookies_secure


def test_a_warehouse_secret_is_read_from_its_file_and_known_for_redaction(tmp_path, monkeypatch):
    from connector.settings import secret_values

    key = tmp_path / "snowflake-password"
    key.write_text("correct horse battery\n")
    monkeypatch.setenv("TOKENBOOKS_WAREHOUSE__LOADED__ENGINE", "snowflake")
    monkeypatch.setenv("TOKENBOOKS_WAREHOUSE__LOADED__TABLE", "BILLING.PUBLIC.FOCUS")
    monkeypatch.setenv("TOKENBOOKS_WAREHOUSE__LOADED__ACCOUNT", "acct-1")
    monkeypatch.setenv("TOKENBOOKS_WAREHOUSE__LOADED__PASSWORD_FILE", str(key))
    monkeypatch.setenv("TOKENBOOKS_WAREHOUSE__LOADED__SNOWFLAKE_ACCOUNT", "org-acct")
    monkeypatch.setenv("TOKENBOOKS_WAREHOUSE__LOADED__USER", "TOKENBOOKS")
    settings = load_settings(_env_file=None)
    section = settings.warehouse["loaded"]
    assert section.password is not None
    assert section.password.get_secret_value() == "correct horse battery"
    assert "correct horse battery" not in repr(settings)
    assert "correct horse battery" in secret_values(settings)


def test_a_warehouse_without_its_table_names_the_variable(monkeypatch):
    monkeypatch.setenv("TOKENBOOKS_WAREHOUSE__VERTEX__ENGINE", "bigquery")
    monkeypatch.setenv("TOKENBOOKS_WAREHOUSE__VERTEX__ACCOUNT", "01-AB")
    with pytest.raises(ConfigError, match="TOKENBOOKS_WAREHOUSE__VERTEX__TABLE: Field required"):
        load_settings(_env_file=None)


def test_an_unknown_warehouse_engine_names_the_ones_there_are(monkeypatch):
    monkeypatch.setenv("TOKENBOOKS_WAREHOUSE__VERTEX__ENGINE", "oracle")
    monkeypatch.setenv("TOKENBOOKS_WAREHOUSE__VERTEX__TABLE", "t")
    monkeypatch.setenv("TOKENBOOKS_WAREHOUSE__VERTEX__ACCOUNT", "01-AB")
    with pytest.raises(ConfigError) as raised:
        load_settings(_env_file=None)
    assert "TOKENBOOKS_WAREHOUSE__VERTEX__ENGINE" in str(raised.value)
    assert "'bigquery'" in str(raised.value)


def test_warehouses_can_be_given_as_one_json_object(monkeypatch):
    monkeypatch.setenv(
        "TOKENBOOKS_WAREHOUSE",
        '{"bedrock": {"engine": "athena", "table": "cur.cur2", "account": "111", "flavour": "cur-2.0", '
        '"region": "us-east-1", "double_amounts": true}}',
    )
    [(name, section)] = load_settings(_env_file=None).warehouse.items()
    assert (name, section.engine, section.flavour, section.double_amounts) == (
        "bedrock",
        "athena",
        "cur-2.0",
        True,
    )


def test_an_engine_without_what_it_needs_is_refused_when_the_settings_are_read(monkeypatch):
    monkeypatch.setenv("TOKENBOOKS_WAREHOUSE__LOADED__ENGINE", "snowflake")
    monkeypatch.setenv("TOKENBOOKS_WAREHOUSE__LOADED__TABLE", "BILLING.PUBLIC.FOCUS")
    monkeypatch.setenv("TOKENBOOKS_WAREHOUSE__LOADED__ACCOUNT", "acct-1")
    monkeypatch.setenv("TOKENBOOKS_WAREHOUSE__LOADED__USER", "TOKENBOOKS")
    with pytest.raises(ConfigError) as raised:
        load_settings(_env_file=None)
    assert "TOKENBOOKS_WAREHOUSE__LOADED: snowflake needs SNOWFLAKE_ACCOUNT, PASSWORD OR PRIVATE_KEY" in str(
        raised.value
    )

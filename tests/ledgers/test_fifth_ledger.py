"""Adding a ledger is one package and one registry line: a ledger package written in the tests
(`tests/ledgers/toybooks/`) is registered, and a mapping that names it is checked, planned and posted
through it by the real composition root, its settings section read from `TOKENBOOKS_TOYBOOKS__*` — with
nothing else edited (`connector/settings.py` names no ledger)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from connector.bootstrap import build_app
from connector.domain.errors import ConfigError
from connector.domain.mapping_schema import mapping_schema
from connector.ledgers.registry import LEDGERS
from connector.ledgers.tokens import TokenCipher
from connector.redaction import REDACTED, redact, remember
from connector.service.connections import connection_health, import_connection
from connector.service.sync import sync
from connector.settings import Settings, load_settings, secret_settings, secret_values
from tests.ledgers.toybooks import entry as toybooks
from tests.ledgers.toybooks.connection import CONNECTION
from tests.ledgers.toybooks.settings import ToybooksSettings
from tests.service.conftest import Clock, ScriptedSource
from tests.test_settings import env_names

MAPPING = """\
mapping_version: 1
effective_from: 2026-01-01
change_note: books in Toybooks
entities:
  acme-us: {name: Toy Co, ledger: toybooks, currency: USD}
roles:
  ai_cogs: {toybooks: T-5010}
  rnd: {toybooks: T-6010}
  sales_marketing: {toybooks: T-6110}
  g_and_a: {toybooks: T-6210}
  accrued_ai_costs: {toybooks: T-2150}
  suspense: {toybooks: T-9990}
rules:
  - id: support
    when: {project: proj_support_assistant}
    category: cogs
"""


@pytest.fixture
def registered():
    LEDGERS.register(toybooks.ENTRY)  # the one registry line
    yield toybooks.BOOKS
    LEDGERS.unregister("toybooks")
    toybooks.BOOKS.clear()


def app_for(tmp_path, mapping: str):
    path = tmp_path / "mapping.yaml"
    path.write_text(mapping)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'tb.db'}", mapping_file=path, data_dir=tmp_path, _env_file=None
    )
    source, clock = ScriptedSource(), Clock()
    return build_app(settings, clock=clock, sources=[source], sleep=lambda _s: None), source, clock


def test_a_registered_ledger_package_is_planned_and_posted_through(tmp_path, registered):
    app, source, clock = app_for(tmp_path, MAPPING)
    source.set("120.00", date(2026, 10, 1))
    clock.night_after(date(2026, 10, 1))
    first = sync(app, entity="acme-us", until=date(2026, 10, 1))
    assert first.post.posted == ["TB-AC-261001-001"]
    books = registered["acme-us"]
    assert books.balance("T-5010") == Decimal("120.00")
    assert books.balance("T-2150") == Decimal("-120.00")
    again = sync(app, entity="acme-us", until=date(2026, 10, 1))
    assert again.plan.planned == []  # converged: nothing posted twice
    assert "toybooks_target" in mapping_schema()["$defs"]  # editors validate its targets too


def test_its_target_grammar_is_checked_and_an_unregistered_ledger_is_refused(tmp_path, registered):
    app, _source, _clock = app_for(tmp_path, MAPPING.replace("T-6010", "R-6010"))
    with pytest.raises(ConfigError) as bad_account:
        app.mapping()
    assert "roles.rnd.toybooks.account: 'R-6010' is not a toybooks account name" in str(bad_account.value)
    assert "write e.g. `T-5010`" in str(bad_account.value)
    LEDGERS.unregister("toybooks")
    (tmp_path / "gone").mkdir()
    app, _source, _clock = app_for(tmp_path / "gone", MAPPING)
    with pytest.raises(ConfigError, match="'toybooks' is not a ledger tokenbooks posts to"):
        app.mapping()


def test_its_settings_section_is_read_like_any_other(tmp_path, monkeypatch, registered):
    monkeypatch.setenv("TOKENBOOKS_TOYBOOKS__COMPANY", "Toy Co (EU)")
    key_file = tmp_path / "toy-key"
    key_file.write_text("toy-canary-1234\n")  # a mounted secret: its trailing newline is not part of it
    monkeypatch.setenv("TOKENBOOKS_TOYBOOKS__API_KEY_FILE", str(key_file))
    (tmp_path / ".env").write_text("TOKENBOOKS_TOYBOOKS__MAX_LINES=40\n")
    settings = load_settings(_env_file=tmp_path / ".env", database_url=f"sqlite:///{tmp_path / 'tb.db'}")
    section = settings.ledger("toybooks", ToybooksSettings)
    assert (section.company, section.max_lines) == ("Toy Co (EU)", 40)  # environment and .env
    assert section.api_key is not None
    assert section.api_key.get_secret_value() == "toy-canary-1234"
    assert "toy-canary" not in repr(settings)
    assert "toy-canary-1234" in secret_values(settings)  # so it is scrubbed from errors, logs and exports
    remember(secret_values(settings))
    assert redact("refused key toy-canary-1234") == f"refused key {REDACTED}"
    assert "TOKENBOOKS_TOYBOOKS__API_KEY" in secret_settings(Settings)  # has its _FILE variant
    assert "TOKENBOOKS_TOYBOOKS__MAX_LINES" in env_names(Settings)  # .env.example's check covers it

    path = tmp_path / "mapping.yaml"
    path.write_text(MAPPING)
    app = build_app(settings.model_copy(update={"mapping_file": path, "data_dir": tmp_path}))
    assert app.ledger("acme-us").company == "Toy Co (EU)"  # the adapter is built from its section


def test_a_bad_value_in_its_section_names_the_variable(monkeypatch, registered):
    monkeypatch.setenv("TOKENBOOKS_TOYBOOKS__MAX_LINES", "1")
    with pytest.raises(ConfigError, match="TOKENBOOKS_TOYBOOKS__MAX_LINES: Input should be greater than"):
        load_settings(_env_file=None)
    monkeypatch.delenv("TOKENBOOKS_TOYBOOKS__MAX_LINES")
    with pytest.raises(ConfigError, match="TOKENBOOKS_TOYBOOKS__MAX_LINES: Input should be a valid integer"):
        load_settings(_env_file=None, toybooks={"max_lines": "many"})


def test_unregistered_its_variables_are_not_settings(monkeypatch, registered):
    LEDGERS.unregister("toybooks")
    monkeypatch.setenv("TOKENBOOKS_TOYBOOKS__COMPANY", "Toy Co (EU)")
    settings = load_settings(_env_file=None)
    assert "toybooks" not in settings.ledgers
    assert not any(name.startswith("TOKENBOOKS_TOYBOOKS__") for name in env_names(Settings))
    with pytest.raises(ConfigError, match="no ToybooksSettings settings for the ledger 'toybooks'"):
        settings.ledger("toybooks", ToybooksSettings)


def test_its_oauth_connection_is_reached_through_the_registry(tmp_path, registered):
    """`connect --import-tokens`, `connections` and the per-company limiter reach a fifth ledger's own
    connection (`tests/ledgers/toybooks/connection.py`): nothing in the service, the composition root or
    the CLI names it."""
    assert "toybooks" in LEDGERS.connectable()
    path = tmp_path / "mapping.yaml"
    path.write_text(MAPPING)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'tb.db'}",
        mapping_file=path,
        data_dir=tmp_path,
        encryption_key=SecretStr(Fernet.generate_key().decode()),
        toybooks=ToybooksSettings(api_key=SecretStr("toy-key")),
        _env_file=None,
    )
    clock = Clock()
    app = build_app(settings, clock=clock, sleep=lambda _s: None)

    connected = import_connection(app, "toybooks", "acme-us", {"refresh_token": "theirs", "company": "toy-2"})
    assert (connected.company_id, connected.company_name) == ("toy-2", "Toy Co (UK) books")
    assert CONNECTION.clients[-1].refreshed == ["theirs"]  # spent at once through its own OAuth client
    stored = app.token_vault().load("toybooks", "acme-us")
    assert (stored.refresh_token, stored.company_id) == ("rotated-1", "toy-2")  # the rotated one is kept

    clock.now += timedelta(days=20)  # its refresh token lives 30 days (it declares so): 10 left
    key = settings.encryption_key.get_secret_value() if settings.encryption_key else None
    (health,) = connection_health(app.store, clock(), TokenCipher(key).readable)
    assert (health.ledger, health.health) == ("toybooks", "expiring")
    assert health.refresh_expires_at == clock.now + timedelta(days=10)

    limiter = app.rate_limiter("toybooks", "toy-2")
    assert limiter is app.rate_limiter("toybooks", "toy-2")  # one per company in this process
    assert limiter is not app.rate_limiter("toybooks", "toy-1")

    with pytest.raises(ConfigError, match="cannot connect 'beancount'"):
        import_connection(app, "beancount", "acme-us", {"refresh_token": "x"})  # declares no connection
    LEDGERS.unregister("toybooks")
    with pytest.raises(ConfigError, match="cannot connect 'toybooks'") as refused:
        app.oauth("toybooks")
    assert "quickbooks, xero" in refused.value.fix

"""Secrets: read from files (`…_FILE`, as Docker, Kubernetes and systemd mount them), and never stored or
printed in clear — each test plants a canary secret and looks for it everywhere it could leak."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys

import pytest

from connector.domain.errors import ConfigError
from connector.redaction import REDACTED, Redactor, redact, redact_data, remember
from connector.settings import Settings, load_settings, secret_settings
from tests.support import MINIMAL_MAPPING

CLI = [sys.executable, "-c", "from connector.cli import main; main()"]


def test_every_secret_setting_has_a_file_variant(monkeypatch, tmp_path):
    names = secret_settings(Settings)
    assert {
        "TOKENBOOKS_DATABASE_URL",
        "TOKENBOOKS_ENCRYPTION_KEY",
        "TOKENBOOKS_OPENAI__ADMIN_KEY",
        "TOKENBOOKS_ANTHROPIC__ADMIN_KEY",
        "TOKENBOOKS_QUICKBOOKS__CLIENT_SECRET",
        "TOKENBOOKS_XERO__CLIENT_SECRET",
        "TOKENBOOKS_ALERTS__WEBHOOK_URL",
        "TOKENBOOKS_ALERTS__SMTP_PASSWORD",
    } <= set(names)
    for index, variable in enumerate(names):
        secret = tmp_path / f"secret-{index}"
        value = "postgresql://tb:pw@db/tb" if variable.endswith("DATABASE_URL") else f"canary-{index}-xyz"
        secret.write_text(value + "\n")  # `echo … > file` leaves a newline: it is not part of the secret
        monkeypatch.setenv(f"{variable}_FILE", str(secret))
    settings = load_settings(_env_file=None)
    for variable, path in names.items():
        value = settings
        for part in path:  # e.g. ("openai", "admin_key"), ("ledgers", "xero", "client_secret")
            value = value[part] if isinstance(value, dict) else getattr(value, part)
        shown = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        assert not shown.endswith("\n")
        assert shown.startswith(("canary-", "postgresql://")), variable


def test_a_secret_file_that_cannot_be_read_is_named_without_its_content(monkeypatch, tmp_path):
    monkeypatch.setenv("TOKENBOOKS_OPENAI__ADMIN_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"TOKENBOOKS_OPENAI__ADMIN_KEY_FILE names .*missing"):
        load_settings(_env_file=None)


def test_a_secret_set_twice_is_refused(monkeypatch, tmp_path):
    (tmp_path / "key").write_text("sk-from-file")
    monkeypatch.setenv("TOKENBOOKS_OPENAI__ADMIN_KEY", "sk-from-env")
    monkeypatch.setenv("TOKENBOOKS_OPENAI__ADMIN_KEY_FILE", str(tmp_path / "key"))
    with pytest.raises(ConfigError, match="both TOKENBOOKS_OPENAI__ADMIN_KEY and"):
        load_settings(_env_file=None)


def test_a_webhook_url_is_redacted_whole_and_by_its_path():
    redactor = Redactor()
    redactor.remember(["https://hooks.slack.test/services/T0/B0/canaryWEBHOOK", None, "abc"])
    assert redactor("POST https://hooks.slack.test/services/T0/B0/canaryWEBHOOK failed") == (
        f"POST {REDACTED} failed"
    )
    assert "canaryWEBHOOK" not in redactor("Max retries exceeded with url: /services/T0/B0/canaryWEBHOOK")
    assert redactor("abc stays: too short to be a secret") == "abc stays: too short to be a secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def test_an_alert_channel_error_names_no_secret_in_the_store_or_the_cli(tmp_path):
    """The webhook is down: its error is stored, listed and printed — without the webhook URL."""
    canary = "CanaryWebhookPath7Q"
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MINIMAL_MAPPING)
    (tmp_path / "webhook").write_text(f"http://127.0.0.1:{_free_port()}/services/T0/B0/{canary}\n")
    env = {
        **os.environ,
        "TOKENBOOKS_DATABASE_URL": f"sqlite:///{tmp_path / 'tb.db'}",
        "TOKENBOOKS_MAPPING_FILE": str(mapping),
        "TOKENBOOKS_DATA_DIR": str(tmp_path / "data"),
        "TOKENBOOKS_ALERTS__WEBHOOK_URL_FILE": str(tmp_path / "webhook"),
    }
    # a run that failed is an alert: a sync with no source configured fails (a configuration error, exit 2)
    failed = subprocess.run([*CLI, "sync", "--until", "2026-10-01"], env=env, capture_output=True, text=True)
    listed = subprocess.run([*CLI, "alerts", "list"], env=env, capture_output=True, text=True)
    as_json = subprocess.run([*CLI, "alerts", "list", "--json"], env=env, capture_output=True, text=True)
    assert failed.returncode == 2, failed.stderr
    assert "Traceback" not in failed.stderr
    alerts = json.loads(as_json.stdout)
    assert alerts
    assert all(a["sent_to"] == [] for a in alerts)
    assert any(REDACTED in (a["error"] or "") for a in alerts)  # the error is there, the secret is not
    assert "last error: webhook" in listed.stdout
    for output in (failed.stdout, failed.stderr, listed.stdout, listed.stderr, as_json.stdout):
        assert canary not in output
    with sqlite3.connect(tmp_path / "tb.db") as db:
        dump = "\n".join(db.iterdump())
    assert canary not in dump


def test_events_are_redacted_before_they_are_hashed(tmp_path):
    from connector.service.audit import verify_chain
    from connector.store.db import create_schema, make_engine
    from connector.store.unit_of_work import SqlStore, UnitOfWork

    remember(["sk-admin-CanaryForEvents"])
    engine = make_engine(f"sqlite:///{tmp_path / 'tb.db'}")
    create_schema(engine)
    with UnitOfWork(engine) as uow:
        uow.events.append(
            "pull.failed", "401 for key sk-admin-CanaryForEvents", data={"k": "sk-admin-CanaryForEvents"}
        )
        uow.commit()
    with sqlite3.connect(tmp_path / "tb.db") as db:
        assert "Canary" not in "\n".join(db.iterdump())
    assert verify_chain(SqlStore(engine)).intact
    assert redact("sk-admin-CanaryForEvents") == REDACTED


def test_the_store_locks_and_exports_are_private_whatever_the_umask(tmp_path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MINIMAL_MAPPING)
    env = {
        **os.environ,
        "TOKENBOOKS_DATABASE_URL": f"sqlite:///{tmp_path / 'store' / 'tb.db'}",
        "TOKENBOOKS_MAPPING_FILE": str(mapping),
        "TOKENBOOKS_DATA_DIR": str(tmp_path / "data"),
    }

    def run(*args: str) -> None:
        done = subprocess.run(
            [*CLI, *args], env=env, capture_output=True, text=True, preexec_fn=lambda: os.umask(0o022)
        )
        assert "Traceback" not in done.stderr

    run("sync", "--until", "2026-10-01")  # fails (no ledger connected) after taking the entity lock
    run("audit", "export", "--period", "2026-10", "--format", "csv", "--out", str(tmp_path / "audit"))
    made = [*(tmp_path / "store").rglob("*"), *(tmp_path / "audit").rglob("*")]
    assert {p.name for p in made} >= {"tb.db", "tb.db.entity-acme-us.lock"}
    assert any(p.suffix == ".csv" for p in made)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in made}
    assert modes == {p.name: ("0o700" if p.is_dir() else "0o600") for p in made}
    for folder in (tmp_path / "store", tmp_path / "audit"):
        assert oct(folder.stat().st_mode & 0o777) == "0o700"


def test_a_key_a_provider_quotes_back_masked_is_redacted_whole_known_or_not():
    said = (
        "Incorrect API key provided: sk-VKMIs***************************************wjh3. "
        "You can find your API key at https://platform.openai.com/account/api-keys."
    )
    assert Redactor()(said) == (
        f"Incorrect API key provided: {REDACTED}. You can find your API key at "
        "https://platform.openai.com/account/api-keys."
    )
    assert Redactor()("a **bold** word and 3 * 4 stay") == "a **bold** word and 3 * 4 stay"


def test_nested_data_is_redacted_in_its_keys_too():
    """A run's stats and a reconciliation's findings are keyed by names tokenbooks was given: the export's
    own redaction replaced a secret used as a key, the one the logs, the store and the audit log share
    did not (what the export did is now done in one place)."""
    remember(["sk-admin-KeyCanary-77"])
    data = {"by key": {"sk-admin-KeyCanary-77": ["401 for sk-admin-KeyCanary-77", 3]}, "n": (1, "x")}
    assert redact_data(data) == {"by key": {REDACTED: [f"401 for {REDACTED}", 3]}, "n": [1, "x"]}


def test_a_secret_in_console_markup_is_shown_redacted_not_read_as_a_style():
    from rich.console import Console

    from connector.redaction import redact_markup, remember

    remember(["sk-admin-Markup-Canary-42"])
    console = Console(record=True, width=200)
    console.print(redact_markup("[red]failed:[/] key sk-admin-Markup-Canary-42 refused"))
    assert console.export_text().strip() == "failed: key [redacted] refused"


def test_a_database_password_holding_an_unescaped_at_sign_is_refused_without_showing_it(tmp_path):
    """`postgresql://tb:Canary1@Secret2@host/db`: SQLAlchemy reads the password up to the first `@`, libpq
    (and `urlsplit`) up to the last; the rest of the password was read as the host and printed in the
    "unavailable" error. Such a URL is refused at start, naming the fix and no part of the password."""
    env = {
        **os.environ,
        "TOKENBOOKS_DATABASE_URL": "postgresql://tb:CanaryOne1@CanaryTwo2@127.0.0.1:1/tokenbooks",
        "TOKENBOOKS_DATA_DIR": str(tmp_path / "data"),
        "TOKENBOOKS_MAPPING_FILE": str(tmp_path / "mapping.yaml"),
    }
    for command in (["runs"], ["db", "upgrade"], ["sync", "--json"]):
        done = subprocess.run([*CLI, *command], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        shown = done.stdout + done.stderr  # --json: the error is the JSON on stdout
        assert "%40" in shown  # the fix: percent-encode the '@'
        assert "CanaryOne1" not in shown
        assert "CanaryTwo2" not in shown


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://tb@127.0.0.1:{port}/tokenbooks?password=CanaryQuery77",
        "postgresql:///tokenbooks?host=127.0.0.1&port={port}&user=tb&password=CanaryQuery77",
        "postgresql://tb@127.0.0.1:{port}/tokenbooks?password=CanaryQuery77&sslmode=bogus",
    ],
)
def test_a_database_password_given_as_a_url_parameter_is_never_shown(tmp_path, url):
    """libpq also takes the password as a parameter (`…/db?password=…`, the usual form beside a Unix
    socket's `host=`): only the one in the user info was hidden, and "the database … is unavailable"
    printed the other in clear on stderr, in `--json` and in the run it recorded."""
    env = {
        **os.environ,
        "TOKENBOOKS_DATABASE_URL": url.format(port=_free_port()),
        "TOKENBOOKS_DATA_DIR": str(tmp_path / "data"),
        "TOKENBOOKS_MAPPING_FILE": str(tmp_path / "mapping.yaml"),
    }
    for command in (["runs"], ["sync", "--json"], ["db", "upgrade"]):
        done = subprocess.run([*CLI, *command], env=env, capture_output=True, text=True, timeout=120)
        shown = done.stdout + done.stderr
        assert done.returncode != 0
        assert "unavailable" in shown or "invalid sslmode" in shown, shown
        assert "CanaryQuery77" not in shown

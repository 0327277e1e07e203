"""The service's own failure modes, seen from the command line: the database down, a full disk."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tests.support import MINIMAL_MAPPING

CLI = [sys.executable, "-c", "from connector.cli import main; main()"]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_with_the_database_down_the_cli_names_the_database_not_its_password(tmp_path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MINIMAL_MAPPING)
    url = f"postgresql://tokenbooks:Pw-Canary-91@127.0.0.1:{closed_port()}/books"
    env = {**os.environ, "TOKENBOOKS_DATABASE_URL": url, "TOKENBOOKS_MAPPING_FILE": str(mapping)}
    for command in (["sync"], ["runs"], ["db", "upgrade"]):
        done = subprocess.run([*CLI, *command], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, (command, done.stderr)
        said = " ".join(done.stderr.split())  # as read, whatever the terminal's width
        assert "Traceback" not in said
        assert "Pw-Canary-91" not in said + done.stdout
        port = url.rsplit(":", 1)[1].split("/")[0]
        assert (
            f"Error: the database postgresql://tokenbooks:***@127.0.0.1:{port}/books is unavailable" in said
        )


def test_a_wrong_openai_key_quoted_back_masked_by_openai_is_named_in_no_error_log_or_run(tmp_path):
    """OpenAI's 401 quotes the key it was given, masked around its first 8 and last 4 characters: a key
    that may be real (another organization's, a project key) though wrong for this setting."""
    from connector.sandbox.openai_replay import OpenAIReplay

    replay = OpenAIReplay()
    base_url = replay.start()
    try:
        mapping = tmp_path / "mapping.yaml"
        mapping.write_text(MINIMAL_MAPPING)
        env = {
            **os.environ,
            "TOKENBOOKS_DATABASE_URL": f"sqlite:///{tmp_path / 'tb.db'}",
            "TOKENBOOKS_MAPPING_FILE": str(mapping),
            "TOKENBOOKS_OPENAI__ADMIN_KEY": "sk-admin-OtherOrgKey-Canary7Q",
            "TOKENBOOKS_OPENAI__BASE_URL": base_url,
            "TOKENBOOKS_OPENAI__START_DATE": "2026-10-01",
        }
        done = subprocess.run([*CLI, "pull"], env=env, capture_output=True, text=True, timeout=120)
        runs = subprocess.run([*CLI, "runs", "--json"], env=env, capture_output=True, text=True, timeout=60)
    finally:
        replay.stop()
    said = " ".join(done.stderr.split())
    assert done.returncode != 0
    assert "Traceback" not in said, said
    assert "Incorrect API key provided: [redacted]." in said, said  # OpenAI's words, not its quote of the key
    for text in (said, done.stdout, runs.stdout):
        assert "sk-admin" not in text
        assert "ry7Q" not in text


def test_a_data_folder_tokenbooks_cannot_write_is_named_with_the_fix_not_called_a_bug(tmp_path):
    """The SQLite store's folder became read-only (a volume mounted read-only, a restore by another user):
    tokenbooks needs to write its lock files beside the database. As root (this suite's container) no mode
    refuses a write, so a folder where the lock file should be stands in for the file that cannot be opened."""
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MINIMAL_MAPPING)
    data = tmp_path / "data"
    env = {**os.environ, "TOKENBOOKS_DATA_DIR": str(data), "TOKENBOOKS_MAPPING_FILE": str(mapping)}
    env.pop("TOKENBOOKS_DATABASE_URL", None)
    made = subprocess.run([*CLI, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    lock = data / "tokenbooks.db.schema.lock"
    lock.unlink(missing_ok=True)  # `db upgrade` made it, once it took the schema lock
    lock.mkdir()
    for command in (["sync"], ["runs"], ["db", "upgrade"]):
        done = subprocess.run([*CLI, *command], env=env, capture_output=True, text=True, timeout=60)
        said = "".join(done.stderr.split())  # as read, however the terminal folded it (paths mid-word)
        assert done.returncode == 1, (command, done.stderr)
        assert "bugintokenbooks" not in said
        assert f"Error:thedatabasesqlite:///{data}/tokenbooks.dbisunavailable:{lock}cannotbewritten" in said
        assert f"Fix:make{data}writablebytheusertokenbooksrunsas" in said


def test_an_error_written_to_a_log_not_a_terminal_keeps_each_sentence_on_one_line(tmp_path):
    """`tokenbooks sync` under a systemd timer or a CronJob writes to a journal, not a terminal: folded at
    80 columns, one error became four journal entries and its path was cut mid-word ('…/to' 'kenbooks.db')."""
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MINIMAL_MAPPING)
    store = tmp_path / "a" / "folder" / "deep" / "enough" / "to" / "fold" / "a" / "line" / "tokenbooks.db"
    env = {
        **os.environ,
        "TOKENBOOKS_DATABASE_URL": f"sqlite:///{store}",
        "TOKENBOOKS_MAPPING_FILE": str(mapping),
    }
    done = subprocess.run([*CLI, "runs"], env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 2, done.stderr
    error, fix = done.stderr.splitlines()
    assert error.startswith(f"Error: there is no tokenbooks database at {store} (TOKENBOOKS_DATABASE_URL=")
    assert error.endswith("this command only reads and creates nothing")
    assert fix.startswith("Fix: check TOKENBOOKS_DATABASE_URL")
    assert fix.endswith("`tokenbooks db upgrade`)")

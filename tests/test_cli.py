"""The command line: plain words with the fix, non-zero exits, --json for scripts."""

import json

from typer.testing import CliRunner

from connector.cli import app
from tests.support import MINIMAL_MAPPING

runner = CliRunner()


def env(tmp_path, mapping_text=MINIMAL_MAPPING):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(mapping_text)
    return {
        "TOKENBOOKS_DATABASE_URL": f"sqlite:///{tmp_path / 'tb.db'}",
        "TOKENBOOKS_MAPPING_FILE": str(mapping),
        "TOKENBOOKS_DATA_DIR": str(tmp_path),
    }


def test_mappings_check_reports_file_line_and_fix_and_exits_2(tmp_path):
    broken = MINIMAL_MAPPING.replace("percent: 40", "percent: 39")
    result = runner.invoke(app, ["mappings", "check"], env=env(tmp_path, broken))
    assert result.exit_code == 2
    assert "mapping.yaml:23" in result.output
    assert "sum to 99" in result.output


def test_mappings_check_json(tmp_path):
    result = runner.invoke(app, ["mappings", "check", "--offline", "--json"], env=env(tmp_path))
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert payload["file"] == str(tmp_path / "mapping.yaml")
    assert (payload["ok"], payload["version"], payload["effective_from"]) == (True, 1, "2026-01-01")
    assert payload["charts"] == {"acme-us": "not checked"}
    [warning] = payload["problems"]  # offline with nothing cached: the chart check is skipped, and says so
    assert warning["severity"] == "warning"
    assert "no chart is cached yet" in warning["message"]


def test_a_sync_with_a_broken_mapping_fails_in_plain_words_and_is_recorded(tmp_path):
    variables = env(tmp_path, "mapping_version: [\n")
    result = runner.invoke(app, ["sync", "--until", "2026-10-01", "--json"], env=variables)
    assert result.exit_code == 2
    payload = json.loads(result.stdout)
    assert "mapping" in payload["error"]
    assert payload["kind"] == "ConfigError"


def test_bad_dates_are_explained(tmp_path):
    result = runner.invoke(app, ["sync", "--since", "10/01/2026"], env=env(tmp_path))
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output


def test_keygen_prints_a_usable_key():
    from connector.ledgers.tokens import TokenCipher

    result = runner.invoke(app, ["keygen"])
    key = result.output.strip().split("=", 1)[1]
    TokenCipher(key)  # a valid Fernet key


def tokenbooks(tmp_path, *args: str):
    """The real CLI in a child process: what a user's shell sees (exit status, stdout, stderr)."""
    return tokenbooks_with(env(tmp_path), tmp_path, *args)


def tokenbooks_with(variables: dict[str, str], cwd, *args: str):
    """The real CLI of this checkout in a child process with these settings in its environment, run in
    `cwd` (the checkout first on its path: the installed package may be another checkout's, a worktree's)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    checkout = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (checkout, os.environ.get("PYTHONPATH")) if p)
    return subprocess.run(
        [str(Path(sys.executable).with_name("tokenbooks")), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": path, **variables},
        cwd=cwd,
    )


def test_a_sync_with_no_source_and_nothing_imported_fails_as_a_configuration_error(tmp_path):
    done = tokenbooks(tmp_path, "sync", "--until", "2026-10-01")
    assert done.returncode == 2, done.stderr
    output = " ".join((done.stdout + done.stderr).split())
    assert "no provider source is configured for entity acme-us and nothing was imported for it" in output
    assert "TOKENBOOKS_OPENAI__ADMIN_KEY" in output
    assert "Traceback" not in done.stderr
    runs = json.loads(tokenbooks(tmp_path, "runs", "--json").stdout)
    [run] = [r for r in runs if r["kind"] == "sync"]
    assert run["status"] == "failed"
    assert run["reason"].startswith("no provider source is configured")


def test_runs_with_an_unknown_run_id_is_an_error_not_an_empty_table(tmp_path):
    assert tokenbooks(tmp_path, "db", "upgrade").returncode == 0  # a store exists (`runs` only reads)
    done = tokenbooks(tmp_path, "runs", "--run", "no-such-run")
    assert done.returncode == 1
    assert "Error: no run has the id 'no-such-run'" in done.stderr
    assert "`tokenbooks runs` lists the runs" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


def test_the_consoles_width_is_the_one_columns_says_when_it_prints_not_when_it_was_made(monkeypatch):
    """The CLI's consoles are made at import; Rich fixed their width from COLUMNS then, so a process that
    imported tokenbooks under one width (a test runner's worker sets COLUMNS=80) laid every later table out
    at it, whatever COLUMNS said when the table was printed."""
    from connector.cli.base import RedactingConsole

    monkeypatch.setenv("COLUMNS", "80")
    console = RedactingConsole()
    monkeypatch.setenv("COLUMNS", "200")
    assert console.width == 200
    assert RedactingConsole(width=120).width == 120  # a width given is kept

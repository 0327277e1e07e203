"""`tokenbooks pull` with the cloud cost pulls misconfigured, in a child process: the run is recorded
failed with a reason that says what to fix, no traceback, and no secret in what is printed."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.test_cli_bad_input import Cli

SECRET = "azure-client-secret-value"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_aws_without_credentials_says_which_settings_to_set(tmp_path: Path):
    cli = Cli(tmp_path)
    cli.env = {k: v for k, v in cli.env.items() if not k.startswith("AWS_")} | {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    out = cli.run("pull", "--since", "2026-11-01", "--until", "2026-11-02", AWS_COST_EXPLORER__ENABLED="true")
    assert out.code != 0
    assert "Traceback" not in out.stderr + out.stdout
    assert "aws.cost_explorer" in out.said
    assert "TOKENBOOKS_AWS_COST_EXPLORER__ACCESS_KEY_ID" in out.said
    [(kind, status, reason)] = cli.runs()
    assert (kind, status) == ("pull", "failed")
    assert "no usable AWS credentials" in reason


def test_azure_unreachable_is_recorded_without_a_traceback_or_the_secret(tmp_path: Path):
    cli = Cli(tmp_path)
    out = cli.run(
        "pull",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-02",
        AZURE_COST__TENANT_ID="tenant-1",
        AZURE_COST__CLIENT_ID="app-1",
        AZURE_COST__CLIENT_SECRET=SECRET,
        AZURE_COST__SCOPE="subscriptions/sub-1",
        AZURE_COST__LOGIN_URL=f"http://127.0.0.1:{closed_port()}",
        AZURE_COST__MAX_RETRIES="0",
    )
    assert out.code != 0
    assert "Traceback" not in out.stderr + out.stdout
    assert "azure.cost_management" in out.said
    assert SECRET not in out.stderr + out.stdout
    [(kind, status, reason)] = cli.runs()
    assert (kind, status) == ("pull", "failed")
    assert "cannot reach" in reason
    assert SECRET not in reason

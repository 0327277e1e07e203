"""The nightly sync run as an accountant replays past nights: under `faketime`, against the Xero sandbox
over HTTP in real time, in a child process, reading stderr as the person does.

Under libfaketime the monotonic clock reads decades ahead of the kernel's, so a wait built on a
monotonic deadline (a `threading.Event.wait(timeout)`) never ends: a 429's 2-second Retry-After left
`tokenbooks sync` sitting, silent, before its first pull until the person stopped it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from connector.ledgers.tokens import TokenCipher
from connector.sandbox.common import FaultPlan
from connector.sandbox.openai_replay import DEMO_ADMIN_KEY, OpenAIReplay
from connector.sandbox.xero import XeroSandbox
from tests.test_cli_bad_input import Cli, Outcome

pytestmark = pytest.mark.skipif(shutil.which("faketime") is None, reason="needs the faketime command")
EXAMPLE_XERO = Path(__file__).resolve().parents[1] / "mappings" / "example-xero.yaml"


@pytest.fixture
def xero(tmp_path: Path) -> Iterator[XeroSandbox]:
    """The sandbox on the real clock (as `tokenbooks sandbox xero` runs), its injected 429s asking 2 s."""
    faults = FaultPlan(delay_seconds=0)
    with XeroSandbox(tmp_path / "xero.json", faults=faults, throttle_retry_after=2) as box:
        yield box


@pytest.fixture
def openai() -> Iterator[str]:
    replay = OpenAIReplay()
    try:
        yield replay.start()
    finally:
        replay.stop()


def connected(cli: Cli, box: XeroSandbox, openai: str) -> Cli:
    """The workspace of an accountant on the Xero sandbox and OpenAI's replay, connected (not faked)."""
    cli.env |= {
        "TOKENBOOKS_MAPPING_FILE": str(EXAMPLE_XERO),
        "TOKENBOOKS_ENCRYPTION_KEY": TokenCipher.generate_key(),
        "TOKENBOOKS_XERO__CLIENT_ID": box.client_id,
        "TOKENBOOKS_XERO__CLIENT_SECRET": box.client_secret,
        "TOKENBOOKS_XERO__BASE_URL": box.base_url + "/api.xro/2.0",
        "TOKENBOOKS_XERO__IDENTITY_URL": box.base_url,
        "TOKENBOOKS_XERO__CONNECTIONS_URL": box.base_url,
        "TOKENBOOKS_XERO__LOGIN_URL": box.base_url,
        "TOKENBOOKS_OPENAI__ADMIN_KEY": DEMO_ADMIN_KEY,
        "TOKENBOOKS_OPENAI__BASE_URL": openai,
        "TOKENBOOKS_OPENAI__ENTITY": "acme-xero",
        "TOKENBOOKS_OPENAI__USAGE": "false",
        "TOKENBOOKS_OPENAI__START_DATE": "2026-10-01",
    }
    tokens = cli.file(
        "tokens.json", json.dumps(requests.post(box.base_url + "/_sandbox/tokens", timeout=5).json())
    )
    out = cli.run("connect", "xero", "--import-tokens", str(tokens))
    assert out.code == 0, out.said
    return cli


def night(cli: Cli, when: str, *args: str, timeout: float = 60) -> tuple[Outcome, float]:
    """`tokenbooks <args>` under `faketime '<when>'`: (what it said, real seconds it took)."""
    started = time.monotonic()
    child = subprocess.Popen(
        ["faketime", when, sys.executable, "-c", "from connector.cli import main; main()", *args],
        env=cli.env,
        cwd=cli.tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # faketime forks: a stuck run is stopped with its whole group
    )
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        pytest.fail(f"`tokenbooks {' '.join(args)}` under faketime '{when}' still waited after {timeout:g} s")
    return Outcome(child.returncode, out, err), time.monotonic() - started


def test_a_night_replayed_under_faketime_waits_out_a_429_as_asked_and_says_so(
    tmp_path: Path, xero: XeroSandbox, openai: str
):
    cli = connected(Cli(tmp_path), xero, openai)
    xero.faults.queue("throttle")  # the night's first call to Xero: 429, Retry-After: 2

    done, took = night(cli, "2026-11-02 07:30", "sync")

    assert done.code == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "waiting 2 s before trying again: Xero is throttling calls (minute limit)" in done.stderr
    assert "pulling openai.costs" in done.stderr  # it went on to the night's work
    assert took < 30
    statuses = [r["status"] for r in xero.requests if r["path"].startswith("/api.xro")]
    assert statuses[0] == 429
    assert 429 not in statuses[1:]

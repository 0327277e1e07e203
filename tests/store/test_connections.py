"""The database token vault: encrypted at rest, and refreshes of one connection serialized across processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from connector.domain.errors import BusyError, ReconnectNeeded
from connector.ledgers.tokens import TokenCipher, TokenManager, TokenSet
from connector.store.connections import DatabaseVault
from connector.store.db import create_schema, make_engine

ROOT = Path(__file__).resolve().parents[2]

# One process of tokenbooks: loads the connection, waits for the starting gun, then refreshes. The refresher
# stands for the provider's token endpoint; it logs when it runs, so overlaps would show.
REFRESHING_PROCESS = """
import json, sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from connector.ledgers.tokens import TokenCipher, TokenManager, TokenSet
from connector.store.connections import DatabaseVault
from connector.store.db import make_engine

url, key, log, go, name, force = sys.argv[1:7]
vault = DatabaseVault(make_engine(url), TokenCipher(key), lambda: datetime.now(UTC))

def refresher(tokens):
    with open(log, "a") as out:
        out.write(f"start {name} {time.time()}\\n")
    time.sleep(0.25)
    with open(log, "a") as out:
        out.write(f"end {name} {time.time()}\\n")
    return TokenSet(f"access-{name}", f"refresh-{name}", datetime.now(UTC) + timedelta(hours=1))

manager = TokenManager(vault, ledger="quickbooks", entity="acme-us", refresher=refresher)
stale = manager.current()
Path(go + "." + name).write_text("ready")
while not Path(go).exists():
    time.sleep(0.005)
fresh = manager.refresh(stale=None if force == "force" else stale)
print(json.dumps({"name": name, "access": fresh.access_token, "refresh": fresh.refresh_token}))
"""


@pytest.fixture
def store(tmp_path):
    url = f"sqlite:///{tmp_path / 'tb.db'}"
    engine = make_engine(url)
    create_schema(engine)
    key = Fernet.generate_key().decode()
    vault = DatabaseVault(engine, TokenCipher(key), lambda: datetime.now(UTC))
    first = TokenSet("access-0", "refresh-0", datetime.now(UTC) + timedelta(hours=1), company_id="9341")
    vault.connected("quickbooks", "acme-us", first, "Acme")
    return url, key, vault


def run_two_processes(tmp_path: Path, url: str, key: str, force: bool) -> tuple[list[dict], list[str]]:
    log, go = tmp_path / "refresh.log", tmp_path / "go"
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                REFRESHING_PROCESS,
                url,
                key,
                str(log),
                str(go),
                name,
                "force" if force else "",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    deadline = time.monotonic() + 60
    while not all(Path(f"{go}.{n}").exists() for n in ("a", "b")) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.write_text("go")
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        outputs.append(json.loads(out))
    return outputs, log.read_text().splitlines()


def test_two_processes_refreshing_a_stale_token_at_once_refresh_it_once(tmp_path, store):
    url, key, vault = store
    outputs, log = run_two_processes(tmp_path, url, key, force=False)
    assert len([line for line in log if line.startswith("start")]) == 1  # the second saw the new token
    assert outputs[0]["access"] == outputs[1]["access"]
    assert vault.load("quickbooks", "acme-us").access_token == outputs[0]["access"]


def test_two_processes_that_both_must_refresh_never_overlap(tmp_path, store):
    url, key, vault = store
    _, log = run_two_processes(tmp_path, url, key, force=True)
    events = [(line.split()[0], line.split()[1], float(line.split()[2])) for line in log]
    assert [kind for kind, _, _ in events] == ["start", "end", "start", "end"]
    assert events[0][1] == events[1][1]  # one process's refresh ran to its end before the other began
    assert events[2][2] >= events[1][2]
    last = events[3][1]
    assert vault.load("quickbooks", "acme-us").refresh_token == f"refresh-{last}"  # the last rotation kept


def test_a_lease_left_by_a_dead_process_expires(store):
    _, _, vault = store
    vault.lease_clock = lambda: datetime.now(UTC) - timedelta(minutes=5)  # 5 minutes ago, a process…
    vault.refresh_lock("quickbooks", "acme-us").__enter__()  # …took the lease and died holding it
    vault.lease_clock = lambda: datetime.now(UTC)
    manager = TokenManager(
        vault, ledger="quickbooks", entity="acme-us", refresher=lambda t: replace(t, access_token="access-1")
    )
    started = time.monotonic()
    assert manager.refresh().access_token == "access-1"
    assert time.monotonic() - started < 5  # not blocked by the dead holder


def test_a_lease_whose_holder_process_died_is_taken_over_at_once(store):
    """A process crashed during a refresh, a moment ago: its lease would last two more minutes, but its
    process is gone, so the next refresh takes the lease over at once."""
    _, _, vault = store
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)  # a process that has exited: its pid names no process now
    with vault.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE connections SET refresh_lock_owner = ?, refresh_lock_until = ?",
            (f"{socket.gethostname()}:{pid}:1:dead", datetime.now(UTC) + timedelta(minutes=2)),
        )
    patient = DatabaseVault(vault.engine, vault.cipher, vault.clock, lease_wait_seconds=1.0)
    manager = TokenManager(
        patient,
        ledger="quickbooks",
        entity="acme-us",
        refresher=lambda t: replace(t, access_token="access-2"),
    )
    started = time.monotonic()
    assert manager.refresh().access_token == "access-2"
    assert time.monotonic() - started < 0.5


def test_a_live_holder_is_never_taken_over(store):
    _, _, vault = store
    with vault.engine.begin() as connection:  # this very process holds it, as far as the row says
        connection.exec_driver_sql(
            "UPDATE connections SET refresh_lock_owner = ?, refresh_lock_until = ?",
            (f"{socket.gethostname()}:{os.getpid()}:1:alive", datetime.now(UTC) + timedelta(minutes=2)),
        )
    impatient = DatabaseVault(vault.engine, vault.cipher, vault.clock, lease_wait_seconds=0.2)
    manager = TokenManager(impatient, ledger="quickbooks", entity="acme-us", refresher=lambda t: t)
    with pytest.raises(BusyError):
        manager.refresh()


def test_a_lease_written_before_the_clock_stepped_back_does_not_hold_for_the_step(store):
    """A holder on another machine (not checkable from here) took the lease, then the wall clock stepped
    back three hours (a VM restored, NTP): its expiry reads three hours ahead, longer than any lease is
    taken for, so the next refresh takes it over rather than waiting and failing for three hours."""
    _, _, vault = store
    with vault.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE connections SET refresh_lock_owner = ?, refresh_lock_until = ?",
            ("another-host:4242:1:old", datetime.now(UTC) + timedelta(hours=3, minutes=2)),
        )
    impatient = DatabaseVault(vault.engine, vault.cipher, vault.clock, lease_wait_seconds=1.0)
    manager = TokenManager(
        impatient, ledger="quickbooks", entity="acme-us", refresher=lambda t: replace(t, access_token="a-3")
    )
    assert manager.refresh().access_token == "a-3"


def test_a_live_lease_makes_a_second_refresher_wait_then_give_up_clearly(store):
    _, _, vault = store
    impatient = DatabaseVault(vault.engine, vault.cipher, vault.clock, lease_wait_seconds=0.2)
    with vault.refresh_lock("quickbooks", "acme-us"):
        manager = TokenManager(impatient, ledger="quickbooks", entity="acme-us", refresher=lambda t: t)
        with pytest.raises(BusyError, match="another tokenbooks process has been refreshing"):
            manager.refresh()


def test_tokens_are_encrypted_at_rest_and_a_refused_refresh_marks_the_connection(store):
    _, _, vault = store
    [row] = vault.status()  # a health record: the tokens stay in the vault
    assert (row.ledger, row.entity, row.status, row.tokens_readable) == ("quickbooks", "acme-us", "ok", True)
    assert not hasattr(row, "token_ciphertext")
    with vault.engine.connect() as connection:  # at rest, in the table itself
        [stored] = connection.execute(text("SELECT token_ciphertext FROM connections")).scalars()
    assert "access-0" not in stored
    assert "refresh-0" not in stored

    def refused(_tokens):
        raise ReconnectNeeded("QuickBooks refused to refresh the access token (HTTP 400)", fix="reconnect")

    manager = TokenManager(vault, ledger="quickbooks", entity="acme-us", refresher=refused)
    with pytest.raises(ReconnectNeeded):
        manager.refresh()
    with pytest.raises(ReconnectNeeded, match="needs a person to reconnect: QuickBooks refused to refresh"):
        manager.current()  # every later use fails at once, with the reason
    [row] = vault.status()
    assert (row.status, row.last_error) == (
        "reconnect_needed",
        "QuickBooks refused to refresh the access token (HTTP 400)",
    )

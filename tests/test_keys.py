"""The encryption key of ledger tokens: rotated without reconnecting (MultiFernet), and a wrong key is
never reported as a healthy connection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet

from connector.ledgers.tokens import TokenCipher, TokenSet
from connector.store.connections import DatabaseVault
from connector.store.db import create_schema, make_engine
from tests.support import MINIMAL_MAPPING

CLI = [sys.executable, "-c", "from connector.cli import main; main()"]


def test_a_key_is_rotated_without_reconnecting_and_a_wrong_key_is_never_ok(tmp_path):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    url = f"sqlite:///{tmp_path / 'tb.db'}"
    engine = make_engine(url)
    create_schema(engine)
    tokens = TokenSet("access-1", "refresh-1", datetime.now(UTC) + timedelta(hours=1), company_id="9130")
    DatabaseVault(engine, TokenCipher(old), lambda: datetime.now(UTC)).connected(
        "quickbooks", "acme-us", tokens, "Acme"
    )
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MINIMAL_MAPPING)
    base = {**os.environ, "TOKENBOOKS_DATABASE_URL": url, "TOKENBOOKS_MAPPING_FILE": str(mapping)}

    def tokenbooks(key: str, *args: str) -> subprocess.CompletedProcess:
        env = {**base, "TOKENBOOKS_ENCRYPTION_KEY": key}
        return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60)

    def health(key: str) -> str:
        listed = tokenbooks(key, "connections", "--json")
        [connection] = json.loads(listed.stdout)
        # a key that cannot read the tokens is a configuration a monitor must see (exit 2), --json or not
        assert listed.returncode == {"ok": 0, "wrong key": 2}[connection["health"]], listed.stderr
        return connection["health"]

    assert health(old) == "ok"
    assert health(new) == "wrong key"  # the tokens cannot be read with it: not ok
    refused = tokenbooks(new, "keys", "rotate")
    assert refused.returncode == 2
    assert "could not be read with any key" in " ".join(refused.stderr.split())
    assert "Traceback" not in refused.stderr

    rotated = tokenbooks(f"{new},{old}", "keys", "rotate", "--json")
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout) == {"rotated": 1}
    assert health(new) == "ok"  # the old key can go now
    assert health(old) == "wrong key"
    vault = DatabaseVault(engine, TokenCipher(new), lambda: datetime.now(UTC))
    assert vault.load("quickbooks", "acme-us").refresh_token == "refresh-1"  # nobody reconnected

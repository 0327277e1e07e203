"""`tokenbooks audit trace` run as a user would, on books kept in pounds for a provider billing dollars:
every amount says its currency — the journal's on its lines and contributions, the provider's on the
allocations and facts behind them — so 760.01 beside 1000.01 reads as the same usage, converted."""

from __future__ import annotations

from datetime import date

from tests.service.books_world import pound_world
from tests.test_cli import tokenbooks_with


def test_the_trace_of_a_converted_journal_names_the_books_and_the_providers_currency(tmp_path):
    world = pound_world(tmp_path)
    world.source.set("1000.01", date(2026, 11, 13))
    world.night(date(2026, 11, 13))
    variables = {
        "TOKENBOOKS_DATABASE_URL": world.database_url,
        "TOKENBOOKS_MAPPING_FILE": str(tmp_path / "mapping.yaml"),
        "TOKENBOOKS_POLICIES_FILE": str(world.policies_path),
        "TOKENBOOKS_DATA_DIR": str(tmp_path),
    }
    done = tokenbooks_with(variables, tmp_path, "audit", "trace", "TB-AC-261113-001", "1")
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.split())
    assert "TB-AC-261113-001 of acme-us: usage_accrual 2026-11-13 in GBP" in out
    assert "line 1: Dr 5010|class=Support Assistant 760.01 GBP" in out
    assert "this journal adds 760.01 GBP (from 1000.01 USD); allocated now 1000.01 USD" in out
    assert "1000.01 USD by rule" in out

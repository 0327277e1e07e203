"""A Snowflake table of loaded FOCUS exports, pulled nightly through snowflake-connector-python, with a stub at
the DB-API boundary (PEP 249: `connection.cursor()`, `cursor.execute`, `cursor.fetchmany`, `description`,
`close`; the connector's errors carry `errno`, `sqlstate` and `sfqid`:
https://docs.snowflake.com/en/developer-guide/python-connector/python-connector-api). The stub answers
NUMBER(38, 10) sums as Decimal and counts as int, as the connector does, from the SQL it received run on
the test's table after sqlglot transpiles it back to DuckDB.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from snowflake.connector import errors

from connector.domain.errors import ConfigError, InputError
from connector.sources.warehouse.engines import SnowflakeEngine
from tests.sources.warehouse_support import (
    BILLING,
    WINDOW,
    random_export,
    run_received,
    settings_named,
    source_on,
)


class StubCursor:
    def __init__(self, connection: StubConnection) -> None:
        self.connection = connection
        self.rows: list[tuple] = []
        self.description: list[tuple] | None = None
        self.sfqid: str | None = None
        self.batches: list[int] = []

    def execute(self, sql: str):
        self.connection.executed.append(sql)
        if self.connection.failures:
            raise self.connection.failures.pop(0)
        names, self.rows = run_received(self.connection.duckdb, sql, "snowflake")
        self.description = [(n, None, None, None, None, None, True) for n in names]
        self.sfqid = f"01b2-{len(self.connection.executed)}"
        return self

    def fetchmany(self, size: int):
        batch = self.rows[: min(size, self.connection.batch)]
        self.rows = self.rows[len(batch) :]
        self.connection.batches.append(len(batch))
        return batch

    def close(self) -> None:
        self.connection.closed_cursors += 1


class StubConnection:
    def __init__(self, duckdb, batch: int = 4) -> None:
        self.duckdb, self.batch = duckdb, batch
        self.executed: list[str] = []
        self.failures: list[Exception] = []
        self.batches: list[int] = []
        self.closed_cursors = 0
        self.closed = 0

    def cursor(self) -> StubCursor:
        return StubCursor(self)

    def close(self) -> None:
        self.closed += 1


def test_a_nightly_window_gives_the_facts_the_importer_gives_in_batches(tmp_path: Path) -> None:
    export = random_export(tmp_path, 31)
    connection = StubConnection(export.table)
    pulled = source_on(SnowflakeEngine(lambda: connection)).pull(WINDOW)
    export.pulled_as_imported(pulled)
    assert len([b for b in connection.batches if b]) >= 3  # fetched in several fetchmany batches
    assert 'TO_CHAR(ChargePeriodStart, \'YYYY-MM-DD"T"HH24:MI:SS"Z"\')' in connection.executed[0]
    assert (connection.closed_cursors, connection.closed) == (1, 1)  # the session is not left open
    assert pulled.stats[0]["query_id"] == "01b2-1"


def test_a_queued_statement_that_timed_out_is_retried(tmp_path: Path) -> None:
    export = random_export(tmp_path, 32, count=30)
    connection = StubConnection(export.table)
    connection.failures = [
        errors.ProgrammingError(
            msg="Statement reached its statement or warehouse timeout of 60 second(s) and was canceled.",
            errno=630,
            sqlstate="57014",
        ),
        errors.OperationalError(msg="Failed to execute request: connection reset", errno=251005),
    ]
    pulled = source_on(SnowflakeEngine(lambda: connection), attempts=3).pull(WINDOW)
    export.pulled_as_imported(pulled)
    assert len(connection.executed) == 3


def test_a_failed_query_says_what_snowflake_said(tmp_path: Path) -> None:
    connection = StubConnection(random_export(tmp_path, 33, count=5).table)
    connection.failures = [
        errors.ProgrammingError(
            msg="SQL compilation error: error line 4 at position 4\ninvalid identifier '\"BilledCost\"'",
            errno=904,
            sqlstate="42000",
            sfqid="01b2-x",
        )
    ]
    with pytest.raises(InputError) as raised:
        source_on(SnowflakeEngine(lambda: connection)).pull(WINDOW)
    text = str(raised.value)
    assert "warehouse.billing bucket query failed on Snowflake (904, SQLSTATE 42000)" in text
    assert "invalid identifier" in text


def test_a_missing_table_or_grant_is_a_config_error_with_the_grants(tmp_path: Path) -> None:
    connection = StubConnection(random_export(tmp_path, 34, count=5).table)
    connection.failures = [
        errors.ProgrammingError(
            msg="SQL compilation error:\nObject 'BILLING.FOCUS_EXPORT' does not exist or not authorized.",
            errno=2003,
            sqlstate="02000",
        )
    ]
    with pytest.raises(ConfigError) as raised:
        source_on(SnowflakeEngine(lambda: connection, BILLING)).pull(WINDOW)
    assert "SELECT on the table" in str(raised.value)
    # the section's own variables, by the names the settings read (the account is SNOWFLAKE_ACCOUNT:
    # ACCOUNT is the billing account the source stands for)
    assert settings_named(raised.value.fix) == ["SNOWFLAKE_ACCOUNT", "USER", "PASSWORD", "PRIVATE_KEY"]

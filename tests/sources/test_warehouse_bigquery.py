"""A BigQuery FOCUS view pulled nightly through google-cloud-bigquery, faked at its REST boundary.

The client speaks BigQuery REST v2 over `requests` (google-auth's AuthorizedSession with anonymous
credentials here: no metadata server); `responses` answers in the documented shapes:
- jobs.insert (https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/insert) → a Job;
- jobs.get (…/jobs/get) → the Job with `status.state` DONE, `status.errorResult` when it failed, and
  `statistics.query.totalBytesProcessed`;
- jobs.getQueryResults (…/jobs/getQueryResults) → `schema`, `rows` as `{"f": [{"v": "text"}]}`, paged
  by `pageToken` / `maxResults`;
- errors as `{"error": {"code", "message", "errors": [{"reason", "message"}], "status"}}`
  (https://cloud.google.com/bigquery/docs/error-messages).
The fake runs the SQL it received, transpiled back to DuckDB, on the test's table.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
import responses
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from connector.domain.errors import ConfigError, InputError
from connector.sources.warehouse.engines import BigQueryEngine
from tests.sources.warehouse_support import (
    BILLING,
    WINDOW,
    random_export,
    run_received,
    settings_named,
    source_on,
)

API = "https://bigquery.googleapis.com/bigquery/v2/projects/billing-proj"
SCANNED = 7_340_032


class FakeBigQuery:
    def __init__(self, connection, page_rows: int = 5) -> None:
        self.connection, self.page_rows = connection, page_rows
        self.jobs: dict[str, dict] = {}
        self.results: dict[str, tuple[list, list]] = {}
        self.inserts: list[str] = []
        self.failures: list[tuple[int, dict]] = []  # answers to the next inserts, before any success
        self.job_error: dict | None = None
        self.job_errors: list[dict] | None = None  # the job's `status.errors`: [job_error] unless set
        self.page_tokens: list[str | None] = []

    def install(self, mocked: responses.RequestsMock) -> None:
        mocked.add_callback(responses.POST, f"{API}/jobs", callback=self.insert)
        mocked.add_callback(responses.GET, re.compile(rf"{API}/jobs/[^/?]+"), callback=self.get)
        mocked.add_callback(responses.GET, re.compile(rf"{API}/queries/[^/?]+"), callback=self.query_results)

    def insert(self, request):
        if self.failures:
            status, body = self.failures.pop(0)
            return status, {}, json.dumps(body)
        job = json.loads(request.body)
        sql = job["configuration"]["query"]["query"]
        self.inserts.append(sql)
        job_id = job["jobReference"]["jobId"]
        if self.job_error is None:
            names, rows = run_received(self.connection, sql, "bigquery")
            self.results[job_id] = (names, rows)
        job.update(status={"state": "RUNNING"}, id=f"billing-proj:US.{job_id}", kind="bigquery#job")
        job["jobReference"]["location"] = "US"
        self.jobs[job_id] = job
        return 200, {}, json.dumps(job)

    def get(self, request):
        job_id = request.path_url.split("/jobs/")[1].split("?")[0]
        job = dict(self.jobs[job_id])
        job["status"] = {"state": "DONE"}
        if self.job_error:
            job["status"] |= {"errorResult": self.job_error, "errors": self.job_errors or [self.job_error]}
        else:
            job["statistics"] = {
                "query": {"totalBytesProcessed": str(SCANNED), "totalBytesBilled": "10485760"},
                "totalBytesProcessed": str(SCANNED),
            }
        return 200, {}, json.dumps(job)

    def query_results(self, request):
        job_id = request.path_url.split("/queries/")[1].split("?")[0]
        names, rows = self.results[job_id]
        params = request.params
        start = int(params.get("pageToken") or 0)
        size = int(params["maxResults"]) if "maxResults" in params else self.page_rows
        size = min(size, self.page_rows)
        self.page_tokens.append(params.get("pageToken"))
        page = rows[start : start + size]
        body = {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": self.jobs[job_id]["jobReference"],
            "jobComplete": True,
            "totalRows": str(len(rows)),
            "schema": {
                "fields": [
                    {"name": n, "type": _type(rows, i), "mode": "NULLABLE"} for i, n in enumerate(names)
                ]
            },
            "rows": [{"f": [{"v": _text(value)} for value in row]} for row in page],
        }
        if start + size < len(rows) and size:
            body["pageToken"] = str(start + size)
        return 200, {}, json.dumps(body)


def _type(rows: list, column: int) -> str:
    values = [row[column] for row in rows if row[column] is not None]
    if values and isinstance(values[0], bool):
        return "BOOLEAN"
    if values and isinstance(values[0], Decimal):
        return "BIGNUMERIC"
    if values and isinstance(values[0], int):
        return "INTEGER"
    return "STRING"


def _text(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def engine() -> BigQueryEngine:
    client = bigquery.Client(project="billing-proj", credentials=AnonymousCredentials())
    return BigQueryEngine(client, location="US", page_size=5, variable=BILLING)


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_a_nightly_window_gives_the_facts_the_importer_gives_paged(tmp_path: Path, mocked) -> None:
    export = random_export(tmp_path, 11)
    fake = FakeBigQuery(export.table)
    fake.install(mocked)
    pulled = source_on(engine()).pull(WINDOW)
    export.pulled_as_imported(pulled)
    assert "BIGNUMERIC" in fake.inserts[0]
    assert "FROM billing.focus_export" in fake.inserts[0]
    assert len([t for t in fake.page_tokens if t]) >= 2  # the groups came over several pages
    [stats] = pulled.stats
    assert stats["bytes_scanned"] == SCANNED
    assert stats["engine"] == "bigquery"


def test_an_ingestion_time_partition_is_read_from_the_day_before_late_rows_included(
    tmp_path: Path, mocked
) -> None:
    """`PARTITION_COLUMN=_PARTITIONTIME`: BigQuery partitions the table by the day each row was loaded,
    and a row may be loaded days after the day it is charged for (a late or restated row). The night reads
    the partitions from the day before its window on, with no upper bound: the rows loaded late are in,
    and the table's older partitions are not scanned."""
    export = random_export(tmp_path, 12)
    # each row loaded 0 to 5 days after its charge period starts (the 5th: after the window's last day)
    export.table.execute(
        "ALTER TABLE billing.focus_export ADD COLUMN _PARTITIONTIME TIMESTAMPTZ;"
        "UPDATE billing.focus_export SET _PARTITIONTIME = DATE_TRUNC('day', ChargePeriodStart)"
        " + TO_DAYS(CAST(HASH(ChargeDescription, BilledCost) % 6 AS INTEGER))"
    )
    [late] = export.table.execute(
        "SELECT COUNT(*) FROM billing.focus_export WHERE ChargePeriodStart >= '2026-11-02'"
        " AND ChargePeriodStart < '2026-11-05' AND _PARTITIONTIME >= '2026-11-05'"
    ).fetchall()
    assert late[0] > 0  # rows of the window loaded after it
    fake = FakeBigQuery(export.table)
    fake.install(mocked)
    pulled = source_on(engine(), partition_column="_PARTITIONTIME").pull(WINDOW)
    export.pulled_as_imported(pulled)  # every row of the window, the late ones too
    assert "_PARTITIONTIME >= TIMESTAMP('2026-11-01 00:00:00+00')" in fake.inserts[0]
    assert fake.inserts[0].count("_PARTITIONTIME") == 1  # no upper bound


@pytest.mark.parametrize(
    ("status", "reason"),
    [(403, "rateLimitExceeded"), (429, "rateLimitExceeded"), (500, "backendError")],
)
def test_a_throttled_insert_is_retried_by_the_one_retry_policy(
    tmp_path: Path, mocked, status, reason
) -> None:
    export = random_export(tmp_path, 12, count=30)
    fake = FakeBigQuery(export.table)
    error = {
        "code": status,
        "message": "Exceeded rate limits: too many api requests per user per method",
        "errors": [{"reason": reason, "message": "Exceeded rate limits", "domain": "usageLimits"}],
        "status": "RESOURCE_EXHAUSTED",
    }
    fake.failures = [(status, {"error": error})]
    fake.install(mocked)
    pulled = source_on(engine(), attempts=2).pull(WINDOW)
    export.pulled_as_imported(pulled)
    assert len(fake.inserts) == 1  # one failed insert, then the one that ran


def test_a_failed_job_says_what_bigquery_said(tmp_path: Path, mocked) -> None:
    fake = FakeBigQuery(random_export(tmp_path, 13, count=10).table)
    fake.job_error = {
        "reason": "invalidQuery",
        "location": "query",
        "message": "Unrecognized name: BilledCost at [4:5]",
    }
    fake.install(mocked)
    with pytest.raises(InputError) as raised:
        source_on(engine()).pull(WINDOW)
    text = str(raised.value)
    assert "warehouse.billing bucket query failed on BigQuery" in text
    # said once: google-cloud-bigquery follows the errorResult's message with the job's errors, the
    # errorResult among them ("…; reason: invalidQuery, location: query, message: <the same text>")
    assert text.count("Unrecognized name: BilledCost at [4:5]") == 1
    assert "reason: invalidQuery" not in text


def test_a_failed_jobs_other_errors_are_said_beside_its_error_result(tmp_path: Path, mocked) -> None:
    """A load of bad rows: the errorResult says to look into the job's errors, the second of which
    says which value (https://cloud.google.com/bigquery/docs/error-messages): that one stays, the
    errorResult repeated does not."""
    fake = FakeBigQuery(random_export(tmp_path, 16, count=10).table)
    fake.job_error = {
        "reason": "invalid",
        "message": "Error while reading table: billing.focus_export, error message: CSV table encountered too "
        "many errors, giving up. Rows: 1; errors: 1. Please look into the errors[] collection for more details.",
    }
    parse = (
        "Error while reading table: billing.focus_export, error message: Could not parse '12.5x' as NUMERIC "
        "for field BilledCost (position 3) starting at location 120"
    )
    fake.job_errors = [
        fake.job_error,
        {"reason": "invalid", "location": "gs://billing/focus-2026-11.csv", "message": parse},
    ]
    fake.install(mocked)
    with pytest.raises(InputError) as raised:
        source_on(engine()).pull(WINDOW)
    text = str(raised.value)
    assert text.count("CSV table encountered too many errors") == 1
    assert f"; reason: invalid, location: gs://billing/focus-2026-11.csv, message: {parse} (job " in text


def test_a_query_over_the_bytes_limit_names_the_setting(tmp_path: Path, mocked) -> None:
    fake = FakeBigQuery(random_export(tmp_path, 14, count=10).table)
    fake.job_error = {
        "reason": "bytesBilledLimitExceeded",
        "message": "Query exceeded limit for bytes billed: 10485760. 20971520 or higher required.",
    }
    fake.install(mocked)
    with pytest.raises(ConfigError) as raised:
        source_on(engine()).pull(WINDOW)
    assert settings_named(raised.value.fix) == ["MAXIMUM_BYTES_BILLED"]
    assert "20971520 or higher required" in str(raised.value)


ACCESS_DENIED = {
    "code": 403,
    "message": "Access Denied: Table billing-proj:billing.focus_export: User does not have permission to query "
    "table billing-proj:billing.focus_export, or perhaps it does not exist.",
    "errors": [{"reason": "accessDenied", "domain": "global", "message": "Access Denied: Table …"}],
    "status": "PERMISSION_DENIED",
}


@pytest.mark.parametrize("where", ["insert", "job"])
def test_a_bigquery_error_is_said_on_one_line_with_its_job_and_no_request_address(
    tmp_path: Path, mocked, where: str
) -> None:
    """google-cloud-bigquery words a refusal `POST https://…/jobs?prettyPrint=false: <message>` and a
    failed job's with a footer `\\n\\nLocation: US\\nJob ID: …\\n`: a log line, the run's reason and
    stderr were cut in three (a night's log read `Location: US` alone on a line). BigQuery's message is
    said on the run's one line, with the job (to find it in the console) when BigQuery ran one."""
    fake = FakeBigQuery(random_export(tmp_path, 15, count=10).table)
    if where == "insert":
        fake.failures = [(403, {"error": ACCESS_DENIED})]
    else:
        fake.job_error = {"reason": "accessDenied", "message": ACCESS_DENIED["message"]}
    fake.install(mocked)
    with pytest.raises(ConfigError) as raised:
        source_on(engine()).pull(WINDOW)
    text = str(raised.value)
    assert "\n" not in text
    assert "https://" not in text
    assert "prettyPrint" not in text
    assert f"warehouse.billing bucket query failed on BigQuery: {ACCESS_DENIED['message']}" in text
    [job_id] = list(fake.jobs) or [None]  # a refused insert leaves no job: none is named
    assert f"(job {job_id}, location US)" in text if job_id else "(job " not in text
    assert settings_named(raised.value.fix) == ["TABLE"]

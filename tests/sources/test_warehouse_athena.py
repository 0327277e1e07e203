"""An Athena table over a FOCUS (or CUR 2.0) export in S3, pulled nightly through boto3, faked with botocore's
Stubber, which checks every request and response against Athena's own service model:
StartQueryExecution → GetQueryExecution (QUEUED, RUNNING, then SUCCEEDED with
`Statistics.DataScannedInBytes`, or FAILED with `StateChangeReason`) → GetQueryResults (every value a
`VarCharValue` string, the header row first, paged by `NextToken`).
https://docs.aws.amazon.com/athena/latest/APIReference/API_GetQueryResults.html
The rows answered are those of the SQL the source sends, transpiled back to DuckDB and run on the table.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from connector.domain.errors import ConfigError, InputError
from connector.sources.warehouse.engines import QUERY_FIX, AthenaEngine
from tests.sources.warehouse_support import (
    BILLING,
    CUR_TABLE,
    WINDOW,
    cur_table,
    per_day_and_meter,
    per_tag,
    random_export,
    reference_facts,
    run_received,
    settings_named,
    source_on,
)

SCANNED = 52_428_800
OUTPUT = "s3://athena-results/tokenbooks/"


def client():
    return boto3.client(
        "athena", region_name="us-east-1", aws_access_key_id="AKIATEST", aws_secret_access_key="secret-test"
    )


def engine(athena) -> AthenaEngine:
    return AthenaEngine(
        athena, workgroup="tokenbooks", output_location=OUTPUT, sleep=lambda _s: None, variable=BILLING
    )


def _cell(value) -> dict:
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"VarCharValue": "true" if value else "false"}
    return {"VarCharValue": str(value)}


def expect_query(stub: Stubber, connection, sql: str, query_id: str, *, page_rows: int = 4) -> int:
    """The calls of one successful query, in order; returns how many result pages it takes."""
    stub.add_response(
        "start_query_execution",
        {"QueryExecutionId": query_id},
        {"QueryString": sql, "WorkGroup": "tokenbooks", "ResultConfiguration": {"OutputLocation": OUTPUT}},
    )
    for state in ("QUEUED", "RUNNING"):
        stub.add_response(
            "get_query_execution",
            {"QueryExecution": {"QueryExecutionId": query_id, "Status": {"State": state}}},
            {"QueryExecutionId": query_id},
        )
    stub.add_response(
        "get_query_execution",
        {
            "QueryExecution": {
                "QueryExecutionId": query_id,
                "Status": {"State": "SUCCEEDED"},
                "Statistics": {"DataScannedInBytes": SCANNED, "EngineExecutionTimeInMillis": 1200},
            }
        },
        {"QueryExecutionId": query_id},
    )
    names, rows = run_received(connection, sql, "athena")
    header = {"Data": [{"VarCharValue": n} for n in names]}
    all_rows = [header] + [{"Data": [_cell(v) for v in row]} for row in rows]
    pages = [all_rows[i : i + page_rows] for i in range(0, len(all_rows), page_rows)]
    for number, page in enumerate(pages):
        answer = {
            "ResultSet": {
                "Rows": page,
                "ResultSetMetadata": {"ColumnInfo": [{"Name": n, "Type": "varchar"} for n in names]},
            }
        }
        params = {"QueryExecutionId": query_id, "MaxResults": 1000}
        if number:
            params["NextToken"] = f"token-{number}"
        if number + 1 < len(pages):
            answer["NextToken"] = f"token-{number + 1}"
        stub.add_response("get_query_results", answer, params)
    return len(pages)


def test_a_nightly_window_gives_the_facts_the_importer_gives_paged(tmp_path: Path) -> None:
    export = random_export(tmp_path, 21)
    athena = client()
    source = source_on(engine(athena))
    sql, _review = source.queries(WINDOW)
    with Stubber(athena) as stub:
        pages = expect_query(stub, export.table, sql, "q-1")
        pulled = source.pull(WINDOW)
        stub.assert_no_pending_responses()
    assert pages >= 3
    export.pulled_as_imported(pulled)
    [stats] = pulled.stats
    assert stats["bytes_scanned"] == SCANNED
    assert stats["query_execution_id"] == "q-1"


@pytest.mark.parametrize("code", ["ThrottlingException", "TooManyRequestsException"])
def test_a_throttled_call_is_retried_by_the_one_retry_policy(tmp_path: Path, code: str) -> None:
    export = random_export(tmp_path, 22, count=30)
    athena = client()
    source = source_on(engine(athena), attempts=2)
    sql, _review = source.queries(WINDOW)
    with Stubber(athena) as stub:
        stub.add_client_error(
            "start_query_execution", service_error_code=code, service_message="Rate exceeded"
        )
        expect_query(stub, export.table, sql, "q-2")
        pulled = source.pull(WINDOW)
        stub.assert_no_pending_responses()
    export.pulled_as_imported(pulled)


def test_a_failed_query_says_what_athena_said(tmp_path: Path) -> None:
    athena = client()
    source = source_on(engine(athena))
    reason = "COLUMN_NOT_FOUND: line 4:5: Column 'billedcost' cannot be resolved"
    with Stubber(athena) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q-3"})
        stub.add_response(
            "get_query_execution",
            {
                "QueryExecution": {
                    "QueryExecutionId": "q-3",
                    "Status": {
                        "State": "FAILED",
                        "StateChangeReason": reason,
                        "AthenaError": {"ErrorCategory": 2, "ErrorType": 1006, "Retryable": False},
                    },
                }
            },
        )
        with pytest.raises(InputError) as raised:
            source.pull(WINDOW)
    assert "warehouse.billing bucket query failed on Athena (query q-3)" in str(raised.value)
    assert reason in str(raised.value)
    assert "secret-test" not in str(raised.value)


def test_access_denied_names_the_permissions(tmp_path: Path) -> None:
    athena = client()
    with Stubber(athena) as stub:
        stub.add_client_error(
            "start_query_execution",
            service_error_code="AccessDeniedException",
            service_message="not authorized",
        )
        with pytest.raises(ConfigError) as raised:
            source_on(engine(athena)).pull(WINDOW)
    assert "athena:StartQueryExecution" in str(raised.value)
    assert settings_named(raised.value.fix) == ["ACCESS_KEY_ID", "SECRET_ACCESS_KEY"]


def _refused_request(message: str, athena_error_code: str | None = None) -> ConfigError | InputError:
    """What pulling says when Athena refuses StartQueryExecution with an InvalidRequestException (its
    shape in Athena's model: `AthenaErrorCode`, `Message`)."""
    athena = client()
    with Stubber(athena) as stub:
        stub.add_client_error(
            "start_query_execution",
            service_error_code="InvalidRequestException",
            service_message=message,
            modeled_fields={"AthenaErrorCode": athena_error_code} if athena_error_code else None,
        )
        with pytest.raises((ConfigError, InputError)) as raised:
            source_on(engine(athena)).pull(WINDOW)
    return raised.value


def test_a_query_athena_refuses_is_a_query_problem_not_a_missing_permission() -> None:
    """Athena refuses a query it cannot parse with the same InvalidRequestException as a request it is
    not allowed: a table name the settings give with a stray character is no IAM matter."""
    refused = _refused_request("line 4:20: mismatched input '-'. Expecting: <EOF>, <identifier>")

    assert isinstance(refused, InputError)
    assert "mismatched input '-'" in str(refused)
    assert refused.fix == QUERY_FIX
    assert "athena:StartQueryExecution" not in str(refused)


def test_an_output_bucket_athena_may_not_use_names_the_permissions_and_the_bucket() -> None:
    refused = _refused_request(
        "Unable to verify/create output bucket athena-results", "INSUFFICIENT_PERMISSIONS"
    )

    assert isinstance(refused, ConfigError)
    assert "s3:PutObject on the results location" in str(refused.fix)
    assert settings_named(refused.fix) == ["ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "OUTPUT_LOCATION", "REGION"]


@pytest.mark.parametrize(
    ("message", "settings"),
    [
        (
            "No output location provided. An output location is required either through the Workgroup "
            "result configuration setting or as an API input.",
            ["OUTPUT_LOCATION", "REGION"],
        ),
        ("outputLocation is not a valid S3 path. Provided string", ["OUTPUT_LOCATION", "REGION"]),
        ("WorkGroup is not found.", ["WORKGROUP", "REGION"]),
    ],
)
def test_a_results_location_or_workgroup_athena_refuses_names_that_setting(message: str, settings) -> None:
    refused = _refused_request(message)

    assert isinstance(refused, ConfigError)
    assert message in str(refused)
    assert settings_named(refused.fix) == settings
    assert "athena:StartQueryExecution" not in str(refused.fix)  # no IAM advice: no permission is missing


def test_a_cur_2_table_gives_the_money_a_focus_import_of_the_same_charges_gives(tmp_path: Path) -> None:
    export = random_export(tmp_path, 23)
    cur_table(export.rows, export.table)
    athena = client()
    source = source_on(engine(athena), flavour="cur-2.0", double_amounts=True, services=("AmazonBedrock",))
    source.dataset = replace(source.dataset, table=CUR_TABLE)
    sql, _review = source.queries(WINDOW)
    assert "line_item_unblended_cost AS DECIMAL(38, 10)" in sql
    assert "line_item_product_code IN ('AmazonBedrock')" in sql
    with Stubber(athena) as stub:
        expect_query(stub, export.table, sql, "q-cur", page_rows=50)
        pulled = source.pull(WINDOW)
    assert pulled.errors == []
    reference = reference_facts(export.rows, tmp_path)
    assert per_day_and_meter(pulled.facts) == per_day_and_meter(reference)
    assert sum(f.amount for f in pulled.facts) == sum(f.amount for f in reference)
    # resource_tags' user_<tag> keys are the tags, as CUR names them: the same money per tag value
    assert per_tag(pulled.facts, "tag:user_project") == per_tag(reference, "tag:project")
    assert per_tag(pulled.facts, "tag:user_project").keys() > {None}

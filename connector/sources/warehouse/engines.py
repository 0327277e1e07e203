"""The engines a warehouse source runs its query on, each behind one method: `run(sql, label) → Answer`.

Every engine answers with rows of text or exact values (Decimal, int, bool, str; never a float for money)
and the query's statistics, and fails with the tokenbooks error that says how to recover:

- `ConfigError`: credentials, permissions, a table or workgroup that does not exist — the fix is named;
- `RateLimited` / `Retriable`: throttling, an engine busy or unreachable — retried by the source's one
  `RetryPolicy` (the clients' own retries are off);
- `InputError`: the query failed — the engine's own message and which query, never a secret.

Each engine's client library is imported only when that engine is used.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from connector.domain.errors import ConfigError, InputError, RateLimited, Retriable
from connector.sources.aws_cost_explorer import aws_client
from connector.sources.warehouse.duckdb_engine import DuckDBLimits, bound

FETCH_ROWS = 10_000
UNNAMED = "TOKENBOOKS_WAREHOUSE__<NAME>__"  # an engine built outside the settings (a test, the benchmark)
QUERY_FIX = (
    "check the table and its columns (docs/warehouses.md lists what each flavour reads); the next run retries"
)


@dataclass
class Answer:
    rows: list[tuple]
    stats: dict[str, Any] = field(default_factory=dict)  # bytes_scanned, job id … (the run's events)


def section_variable(name: str) -> str:
    """The prefix of one warehouse section's variables as a user sets them: `TOKENBOOKS_WAREHOUSE__SPEND__`
    (a fix names the variable to change, not a pattern to fill in)."""
    return f"TOKENBOOKS_WAREHOUSE__{name.upper()}__"


class WarehouseEngine(Protocol):
    kind: str  # bigquery | athena | snowflake | duckdb
    dialect: str  # sqlglot's name for its SQL
    variable: str  # its section's variables' prefix (`section_variable`), for the fixes its errors name

    def run(self, sql: str, label: str) -> Answer: ...


# ------------------------------------------------------------------------------------------------ DuckDB


class DuckDBWarehouse:
    """DuckDB as a warehouse: a database file, or `read_parquet('s3://…')` views set up by `setup` SQL."""

    kind = "duckdb"
    dialect = "duckdb"

    def __init__(
        self,
        database: str = ":memory:",
        setup: tuple[str, ...] = (),
        connection: Any = None,
        limits: DuckDBLimits | None = None,
        variable: str = UNNAMED,
    ) -> None:
        # a connection given (tests, the benchmark) is used as it is; else one is opened per query
        self.database, self.setup, self.connection = database, setup, connection
        self.limits, self.variable = limits or DuckDBLimits(), variable

    def _connect(self) -> Any:
        import duckdb

        try:
            connection = duckdb.connect(self.database, read_only=self.database != ":memory:")
            connection.execute("SET TimeZone = 'UTC'")
        except duckdb.Error as exc:
            raise ConfigError(
                f"DuckDB cannot open {self.database}: {str(exc).splitlines()[0]}",
                fix=f"check {self.variable}DATABASE",
            ) from None
        try:
            bound(connection, self.limits)
        except duckdb.Error as exc:
            v = self.variable
            raise _refused(
                connection, exc, "limits", f"{v}MEMORY_LIMIT, {v}THREADS and {v}TEMP_DIRECTORY"
            ) from None
        try:
            for statement in self.setup:
                connection.execute(statement)
        except duckdb.Error as exc:
            raise _refused(connection, exc, "setup statements", f"{self.variable}SETUP") from None
        return connection

    @contextmanager
    def _session(self) -> Iterator[Any]:
        """The connection a query runs on: the one given (tests, the benchmark), else one opened for it and
        closed after (the database file is not held open between nights)."""
        connection = self.connection or self._connect()
        try:
            yield connection
        finally:
            if connection is not self.connection:
                connection.close()

    def run(self, sql: str, label: str) -> Answer:
        import duckdb

        try:
            with self._session() as connection:
                cursor = connection.execute(sql)
                rows: list[tuple] = []
                while chunk := cursor.fetchmany(FETCH_ROWS):
                    rows += chunk
        except (
            duckdb.OutOfMemoryException
        ) as exc:  # it would fail again every night: the settings must change
            raise ConfigError(
                f"{label} needs more memory than DuckDB may take ({self.limits.memory_limit}): "
                f"{str(exc).splitlines()[0]}",
                fix=f"raise {self.variable}MEMORY_LIMIT, or read fewer rows a night "
                f"({self.variable}RESTATES=lag_days)",
            ) from None
        except duckdb.Error as exc:
            raise InputError(f"{label} failed on DuckDB: {str(exc).splitlines()[0]}", fix=QUERY_FIX) from None
        return Answer(rows)

    def column_types(self, table: str) -> dict[str, str]:
        """The columns of `table` (as the query names it) and DuckDB's name of each one's type; none when
        DuckDB cannot read them (the bucket query then fails, in DuckDB's own words)."""
        import duckdb

        try:
            with self._session() as connection:
                described = connection.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()
        except duckdb.Error:
            return {}
        return {name: kind for name, kind, *_ in described}


def _refused(connection: Any, exc: Exception, what: str, settings: str) -> ConfigError:
    """A DuckDB warehouse whose settings DuckDB refused: the connection closed, the settings named."""
    connection.close()
    return ConfigError(
        f"DuckDB refused the warehouse source's {what}: {str(exc).splitlines()[0]}",
        fix=f"check {settings}",
    )


# ---------------------------------------------------------------------------------------------- BigQuery

# https://cloud.google.com/bigquery/docs/error-messages: the `reason` of each error, by how to recover
BIGQUERY_THROTTLED = {"rateLimitExceeded", "quotaExceeded", "jobRateLimitExceeded"}
BIGQUERY_BUSY = {"backendError", "internalError"}
BIGQUERY_ACCESS = {"accessDenied", "notFound", "billingNotEnabled", "authError"}


class BigQueryEngine:
    """google-cloud-bigquery: `jobs.insert`, then `jobs.get` / `jobs.getQueryResults` (paged by pageToken).

    The client's own retries (request and job) are off: retries happen in the source's RetryPolicy.
    Rows come typed by the result schema: BIGNUMERIC sums as Decimal, INT64 as int, BOOL as bool."""

    kind = "bigquery"
    dialect = "bigquery"

    def __init__(
        self,
        client: Any,
        *,
        location: str | None = None,
        page_size: int = FETCH_ROWS,
        maximum_bytes_billed: int | None = None,
        timeout: float = 300.0,  # float ok: seconds
        variable: str = UNNAMED,
    ) -> None:
        self.client, self.location, self.page_size = client, location, page_size
        self.maximum_bytes_billed, self.timeout, self.variable = maximum_bytes_billed, timeout, variable

    def run(self, sql: str, label: str) -> Answer:
        from google.api_core import exceptions as google
        from google.auth import exceptions as auth
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            use_legacy_sql=False,
            maximum_bytes_billed=self.maximum_bytes_billed,
            labels={"tool": "tokenbooks"},
        )
        job = None
        try:
            job = self.client.query(
                sql, job_config=config, location=self.location, retry=None, job_retry=None
            )
            result = job.result(page_size=self.page_size, retry=None, job_retry=None, timeout=self.timeout)
            rows = [tuple(row.values()) for row in result]
        except auth.GoogleAuthError as exc:
            raise ConfigError(
                f"{label}: BigQuery refused the credentials ({type(exc).__name__})",
                fix=f"check {self.variable}CREDENTIALS_JSON (a service account key) and its project",
            ) from None
        except google.GoogleAPICallError as exc:
            raise _bigquery_error(exc, label, self.variable) from None
        except (ConnectionError, TimeoutError, OSError) as exc:
            raise Retriable(f"{label}: BigQuery could not be reached ({type(exc).__name__})") from None
        stats: dict[str, Any] = {"job_id": job.job_id}
        if job.total_bytes_processed is not None:
            stats["bytes_scanned"] = int(job.total_bytes_processed)
        if job.total_bytes_billed is not None:
            stats["bytes_billed"] = int(job.total_bytes_billed)
        return Answer(rows, stats)


def _bigquery_error(exc: Any, label: str, variable: str = UNNAMED) -> Exception:
    """A BigQuery error (`{"error": {"code", "message", "errors": [{"reason", "message"}]}}`, or a job's
    `status.errorResult`) as the error that says how to recover."""
    reasons = {e.get("reason") for e in (getattr(exc, "errors", None) or []) if isinstance(e, dict)}
    what = f"{label} failed on BigQuery: {_bigquery_message(exc)}"
    if "bytesBilledLimitExceeded" in reasons:  # the guard the settings set: the query would cost more
        return ConfigError(
            what,
            fix=f"raise {variable}MAXIMUM_BYTES_BILLED, or partition the table by day or "
            "billing period (PARTITION_COLUMN) so a night reads less",
        )
    if reasons & BIGQUERY_THROTTLED or getattr(exc, "code", None) == 429:
        return RateLimited(what)
    if reasons & BIGQUERY_BUSY or (getattr(exc, "code", None) or 0) >= 500:
        return Retriable(what)
    if reasons & BIGQUERY_ACCESS or getattr(exc, "code", None) in (401, 403):
        return ConfigError(
            what,
            fix="grant the service account roles/bigquery.jobUser on the project and roles/bigquery.dataViewer "
            f"on the export's dataset, and check {variable}TABLE",
        )
    return InputError(what, fix=QUERY_FIX)


# google-api-core words an HTTP refusal "POST https://…/jobs?prettyPrint=false: <BigQuery's message>";
# google-cloud-bigquery appends "\n\nLocation: US\nJob ID: …\n" to a failed job's
_BIGQUERY_REQUEST = re.compile(r"^[A-Z]+ https?://\S+: ")
_BIGQUERY_FOOTER = re.compile(r"\s*Location: (?P<location>\S+)\s+Job ID: (?P<job>\S+)\s*$")


def _bigquery_message(exc: Any) -> str:
    """BigQuery's own message on one line (a run's reason and a log record are one line each), said
    once, without the request's address, with the failed job named when there is one (to find it in the
    console): a job BigQuery refused to create has an id only on this side, and no state."""
    message = _BIGQUERY_REQUEST.sub("", (getattr(exc, "message", None) or str(exc)).strip())
    footer = _BIGQUERY_FOOTER.search(message)
    job = ""
    if footer:
        ran = getattr(getattr(exc, "query_job", None), "state", None)
        job = f" (job {footer['job']}, location {footer['location']})" if ran else ""
        message = message[: footer.start()]
    return " ".join((_said_once(message, exc) + job).split())


def _said_once(message: str, exc: Any) -> str:
    """`message` without the job's errorResult said a second time: google-cloud-bigquery words a failed
    job's error as the errorResult's message followed by each of the job's `status.errors`
    ("…; reason: invalidQuery, location: query, message: <the same text>"), one of which is the
    errorResult itself (said once here). Another error of the job, with news in it, stays."""
    error_result = (getattr(exc, "errors", None) or [None])[0]  # what the exception was made from
    said = error_result.get("message") if isinstance(error_result, dict) else None
    if not said:
        return message
    again = re.compile(rf"; (?:(?:reason|location|debugInfo): [^;]*?, )*message: {re.escape(said)}(?=; |$)")
    return again.sub("", message, count=1)


# ------------------------------------------------------------------------------------------------ Athena

ATHENA_THROTTLED = {"ThrottlingException", "TooManyRequestsException", "LimitExceededException"}
ATHENA_ACCESS = {"AccessDeniedException", "UnrecognizedClientException"}
# InvalidRequestException is Athena's answer to any request it refuses before running it, a bad query
# included ("line 1:8: mismatched input …"): only its `AthenaErrorCode` says a permission is missing
# (`INSUFFICIENT_PERMISSIONS`, e.g. "Unable to verify/create output bucket …")
ATHENA_INVALID_REQUEST = "InvalidRequestException"
ATHENA_NO_PERMISSION = "INSUFFICIENT_PERMISSIONS"


class AthenaEngine:
    """boto3 `athena`: StartQueryExecution, GetQueryExecution polled until SUCCEEDED (QUEUED, RUNNING;
    FAILED/CANCELLED carry `StateChangeReason`), GetQueryResults paged by NextToken. Every value comes as
    text (`VarCharValue`), the header row first. Shapes:
    https://docs.aws.amazon.com/athena/latest/APIReference/API_GetQueryResults.html"""

    kind = "athena"
    dialect = "athena"

    def __init__(
        self,
        client: Any,
        *,
        workgroup: str = "primary",
        output_location: str | None = None,
        database: str | None = None,
        poll_seconds: float = 1.0,  # float ok: seconds
        timeout: float = 900.0,  # float ok: seconds
        sleep: Callable[[float], None] = time.sleep,
        variable: str = UNNAMED,
    ) -> None:
        self.client, self.workgroup, self.output_location = client, workgroup, output_location
        self.variable = variable
        self.database, self.poll_seconds, self.timeout, self.sleep = database, poll_seconds, timeout, sleep

    def run(self, sql: str, label: str) -> Answer:
        request: dict[str, Any] = {"QueryString": sql, "WorkGroup": self.workgroup}
        if self.output_location:
            request["ResultConfiguration"] = {"OutputLocation": self.output_location}
        if self.database:
            request["QueryExecutionContext"] = {"Database": self.database}
        query_id = self._call("StartQueryExecution", label, **request)["QueryExecutionId"]
        execution = self._wait(query_id, label)
        rows: list[tuple] = []
        token: str | None = None
        first = True
        while True:
            params: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": 1000}
            if token:
                params["NextToken"] = token
            page = self._call("GetQueryResults", label, **params)
            data = page["ResultSet"]["Rows"]
            if first:
                data = data[1:]  # the first page starts with the column names
                first = False
            rows += [tuple(cell.get("VarCharValue") for cell in row["Data"]) for row in data]
            token = page.get("NextToken")
            if not token:
                break
        statistics = execution.get("Statistics", {})
        stats = {"query_execution_id": query_id}
        if "DataScannedInBytes" in statistics:
            stats["bytes_scanned"] = int(statistics["DataScannedInBytes"])
        return Answer(rows, stats)

    def _wait(self, query_id: str, label: str) -> dict[str, Any]:
        waited = 0.0  # float ok: seconds
        while True:
            execution = self._call("GetQueryExecution", label, QueryExecutionId=query_id)["QueryExecution"]
            status = execution["Status"]
            state = status["State"]
            if state == "SUCCEEDED":
                return execution
            if state in ("FAILED", "CANCELLED"):
                reason = status.get("StateChangeReason", "no reason given")
                error = status.get("AthenaError", {})
                what = f"{label} {state.lower()} on Athena (query {query_id}): {reason}"
                if error.get("ErrorCategory") == 1 or error.get("Retryable"):  # 1: SYSTEM, Athena's side
                    raise Retriable(what)
                if "Insufficient permissions" in reason or "Access Denied" in reason:
                    raise ConfigError(what, fix=_athena_fix(self.variable))
                raise InputError(what, fix=QUERY_FIX)
            if waited >= self.timeout:
                self._call("StopQueryExecution", label, QueryExecutionId=query_id)
                raise Retriable(f"{label}: Athena query {query_id} still {state} after {waited:g}s; stopped")
            self.sleep(self.poll_seconds)
            waited += self.poll_seconds

    def _call(self, operation: str, label: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            NoCredentialsError,
            ParamValidationError,
            PartialCredentialsError,
        )

        method = getattr(self.client, _snake(operation))
        try:
            return method(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = error.get("Code", ""), error.get("Message", "")
            what = f"{label}: Athena {operation} failed: {code}: {message}"
            if code in ATHENA_THROTTLED:
                raise RateLimited(what) from None
            if code in ATHENA_ACCESS:
                raise ConfigError(what, fix=_athena_fix(self.variable)) from None
            if code == ATHENA_INVALID_REQUEST:
                raise _invalid_request(what, exc.response, self.variable) from None
            raise InputError(what, fix=QUERY_FIX) from None
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise ConfigError(
                f"{label}: no usable AWS credentials for Athena ({exc})", fix=_athena_fix(self.variable)
            ) from None
        except ParamValidationError as exc:  # a request Athena's model refuses (e.g. an empty workgroup)
            raise ConfigError(
                f"{label}: Athena {operation} refused the request: {exc}", fix=_athena_fix(self.variable)
            ) from None
        except BotoCoreError as exc:
            raise Retriable(f"{label}: Athena could not be reached ({type(exc).__name__})") from None


def _invalid_request(what: str, response: dict[str, Any], variable: str) -> ConfigError | InputError:
    """The error for a request Athena refused (`ATHENA_INVALID_REQUEST`), with the advice for its cause:
    a missing permission (by its `AthenaErrorCode`), a results location or a workgroup the settings name
    wrong (by the message Athena gives: "No output location provided …", "outputLocation is not a valid
    S3 path", "WorkGroup is not found"), else the query itself."""
    said = response.get("Error", {}).get("Message", "").lower()
    results = "output location" in said or "outputlocation" in said or "query results is invalid" in said
    if response.get("AthenaErrorCode") == ATHENA_NO_PERMISSION:
        fix = _athena_fix(variable)
        if "output bucket" in said:  # also said when the bucket does not exist, or is in another region
            fix += f"; and check that the bucket of {variable}OUTPUT_LOCATION exists in {variable}REGION"
        return ConfigError(what, fix=fix)
    if results:
        return ConfigError(
            what,
            fix=f"set {variable}OUTPUT_LOCATION to an s3://bucket/prefix/ in {variable}REGION (or give the "
            "workgroup a query result location in the Athena console)",
        )
    if "workgroup" in said and "not found" in said:
        return ConfigError(
            what,
            fix=f"set {variable}WORKGROUP to a workgroup of {variable}REGION (the Athena console lists "
            "them; unset, it is `primary`)",
        )
    return InputError(what, fix=QUERY_FIX)


def _athena_fix(variable: str) -> str:
    return (
        f"set {variable}ACCESS_KEY_ID and {variable}SECRET_ACCESS_KEY (or a role) allowed "
        "athena:StartQueryExecution/GetQueryExecution/GetQueryResults on the workgroup, glue:GetTable/"
        "GetPartitions on the table, s3:GetObject/ListBucket on the export and s3:PutObject on the results "
        "location"
    )


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


# --------------------------------------------------------------------------------------------- Snowflake

# https://docs.snowflake.com/en/developer-guide/python-connector/python-connector-api#label-python-connector-exceptions
# and https://docs.snowflake.com/en/user-guide/snowsql-start#label-connecting-errors
SNOWFLAKE_AUTH_ERRNOS = {250001, 390100, 390144, 390318}  # cannot connect / bad credentials / JWT / SSO
SNOWFLAKE_ACCESS_SQLSTATES = {"02000", "42501", "08001", "28000"}  # no object / not authorized / auth
SNOWFLAKE_TIMEOUT_SQLSTATE = "57014"  # a statement canceled or timed out (a warehouse queue): try later


class SnowflakeEngine:
    """snowflake-connector-python, through DB-API (PEP 249): `cursor.execute`, rows in `fetchmany` batches.
    NUMBER(38, s) comes as Decimal (the connector's default for a scale > 0), counts as int."""

    kind = "snowflake"
    dialect = "snowflake"

    def __init__(self, connect: Callable[[], Any], variable: str = UNNAMED) -> None:
        self.connect, self.variable = connect, variable

    def run(self, sql: str, label: str) -> Answer:
        """One session per query, closed after it: a nightly pull runs one or two queries, and a session
        left open by a long-lived `serve` would hold a Snowflake login."""
        from snowflake.connector import errors

        try:
            connection = self.connect()
            try:
                cursor = connection.cursor()
                try:
                    cursor.execute(sql)
                    rows: list[tuple] = []
                    while chunk := cursor.fetchmany(FETCH_ROWS):
                        rows += [tuple(row) for row in chunk]
                    query_id = getattr(cursor, "sfqid", None)
                finally:
                    cursor.close()
            finally:
                connection.close()
        except errors.Error as exc:
            raise _snowflake_error(exc, label, self.variable) from None
        return Answer(rows, {"query_id": query_id} if query_id else {})


def _snowflake_error(exc: Any, label: str, variable: str = UNNAMED) -> Exception:
    """A connector error (errno, SQLSTATE, message) as the error that says how to recover."""
    from snowflake.connector import errors

    errno, sqlstate = getattr(exc, "errno", None), getattr(exc, "sqlstate", None)
    message = getattr(exc, "raw_msg", None) or str(exc)
    what = f"{label} failed on Snowflake ({errno}, SQLSTATE {sqlstate or '-'}): {message}"
    if sqlstate == SNOWFLAKE_TIMEOUT_SQLSTATE:  # queued behind other work too long: the warehouse is busy
        return RateLimited(what)
    if errno in SNOWFLAKE_AUTH_ERRNOS or sqlstate in SNOWFLAKE_ACCESS_SQLSTATES:
        return ConfigError(what, fix=_snowflake_fix(variable))
    if isinstance(exc, errors.OperationalError | errors.InterfaceError):
        return Retriable(what)
    return InputError(what, fix=QUERY_FIX)


def _snowflake_fix(variable: str) -> str:
    return (
        f"check {variable}SNOWFLAKE_ACCOUNT, {variable}USER and {variable}PASSWORD (or {variable}PRIVATE_KEY), "
        "and grant its role USAGE on the warehouse, database and schema and SELECT on the table"
    )


# ------------------------------------------------------------------------------------- from the settings


class Lazy:
    """A client built at its first use: listing the sources (`sources status`) connects to nothing, and a
    client that cannot be built fails the pull of its source only, with the fix."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._build()
        return getattr(self._client, name)


def build_engine(name: str, kind: str, settings: Any, sleep: Callable[[float], None]) -> WarehouseEngine:
    """The engine (`kind`) of one `TOKENBOOKS_WAREHOUSE__<NAME>__…` section, its client built at first use."""
    variable = section_variable(name)
    if kind == "bigquery":
        return BigQueryEngine(
            Lazy(lambda: _bigquery_client(settings, variable)),
            location=settings.location,
            maximum_bytes_billed=settings.maximum_bytes_billed,
            timeout=settings.timeout_seconds * 10,  # a query job runs longer than one HTTP call
            variable=variable,
        )
    if kind == "athena":
        return AthenaEngine(
            Lazy(lambda: _athena_client(settings, variable)),
            workgroup=settings.workgroup,
            output_location=settings.output_location,
            database=settings.database,
            poll_seconds=settings.poll_seconds,
            sleep=sleep,
            variable=variable,
        )
    if kind == "snowflake":
        return SnowflakeEngine(lambda: _snowflake_connection(settings, variable), variable)
    limits = DuckDBLimits(settings.memory_limit, settings.threads, settings.temp_directory)
    return DuckDBWarehouse(
        settings.database or ":memory:", tuple(settings.setup), limits=limits, variable=variable
    )


def _bigquery_client(settings: Any, variable: str) -> Any:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError
    from google.cloud import bigquery
    from google.oauth2 import service_account

    project = settings.project
    if settings.credentials_json:
        try:
            info = json.loads(settings.credentials_json.get_secret_value())
            credentials = service_account.Credentials.from_service_account_info(
                info, scopes=["https://www.googleapis.com/auth/bigquery"]
            )
        except (ValueError, TypeError, KeyError) as exc:  # the message names fields, never their values
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
            raise ConfigError(
                f"{variable}CREDENTIALS_JSON is not a service account key ({reason})",
                fix=f"set {variable}CREDENTIALS_JSON (or {variable}CREDENTIALS_JSON_FILE) to the key file's JSON",
            ) from None
        project = project or info.get("project_id")
    else:
        try:
            credentials, found = google.auth.default(scopes=["https://www.googleapis.com/auth/bigquery"])
        except DefaultCredentialsError:
            raise ConfigError(
                "BigQuery: no credentials",
                fix=f"set {variable}CREDENTIALS_JSON_FILE to a service account key, or run where Application "
                "Default Credentials exist (GOOGLE_APPLICATION_CREDENTIALS, a workload identity)",
            ) from None
        project = project or found
    if not project:
        raise ConfigError("BigQuery: no project to run the query in", fix=f"set {variable}PROJECT")
    return bigquery.Client(project=project, credentials=credentials, location=settings.location)


def _athena_client(settings: Any, variable: str) -> Any:
    if not settings.region:
        raise ConfigError("Athena: no region", fix=f"set {variable}REGION (the workgroup's AWS region)")
    return aws_client("athena", settings)


def _snowflake_connection(settings: Any, variable: str) -> Any:
    import snowflake.connector

    if not settings.snowflake_account or not settings.user:
        raise ConfigError(
            "Snowflake: no account or user", fix=f"set {variable}SNOWFLAKE_ACCOUNT and {variable}USER"
        )
    options: dict[str, Any] = {
        "account": settings.snowflake_account,
        "user": settings.user,
        "role": settings.role,
        "warehouse": settings.warehouse,
        "database": settings.database,
        "login_timeout": settings.timeout_seconds,
        "network_timeout": settings.timeout_seconds * 10,
        "application": "tokenbooks",
        "arrow_number_to_decimal": True,  # NUMBER(38, 10) sums as Decimal, never float
    }
    if settings.private_key:
        options["private_key"] = _der_key(settings.private_key.get_secret_value(), variable)
    elif settings.password:
        options["password"] = settings.password.get_secret_value()
    else:
        raise ConfigError(
            "Snowflake: no password or key", fix=f"set {variable}PRIVATE_KEY_FILE or {variable}PASSWORD"
        )
    try:
        return snowflake.connector.connect(**{k: v for k, v in options.items() if v is not None})
    except snowflake.connector.errors.Error as exc:
        raise _snowflake_error(exc, "Snowflake connection", variable) from None


def _der_key(pem: str, variable: str) -> bytes:
    """A PKCS#8 PEM private key as the DER bytes the connector takes."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigError(
            f"{variable}PRIVATE_KEY is not an unencrypted PEM private key", fix="give the PKCS#8 PEM key file"
        ) from None
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )

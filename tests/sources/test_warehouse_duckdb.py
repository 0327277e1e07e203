"""DuckDB's aggregation of FOCUS files equals the Python importer's, to the cent and to the row.

Hypothesis writes exports of random rows — good ones of every kind (usage, commitments and their fees,
virtual currency, purchases over a term, corrections, other services) and bad ones (amounts that are not
numbers or carry a sign, E-notation, too many digits, empty EffectiveCost on a commitment, a bad time,
a bad tag, a second currency for an account, repeated lines and line ids) — and both importers read them:
the facts, lots, invoices, quarantined rows (row, column, reason, raw text), the tally and the rows read
must be the same, values and exponents alike (compared by repr). Each run also checks that DuckDB really
did the work (the batch says which reader read each file).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.sources.focus import FocusFileError, FocusOptions, read_focus
from connector.sources.warehouse.focus_duckdb import read_focus_duckdb
from tests.sources.builders import FOCUS_COMMITMENT_COLUMNS, focus_csv, focus_row

COLUMNS = [*FOCUS_COMMITMENT_COLUMNS, "x_LineItemId"]
GOOD_AMOUNTS = st.one_of(
    st.decimals(min_value=-1000, max_value=100000, places=2, allow_nan=False).map(str),
    st.decimals(min_value=0, max_value=10, places=10, allow_nan=False).map(str),
    st.integers(min_value=0, max_value=10**6).map(str),
    st.sampled_from(["0", "0.00", "1.50", "12.345678", "2.220446049250313E-16", "123456789012345678.5"]),
)
BAD_AMOUNTS = st.sampled_from(
    [
        "abc",
        "1e3",
        " 1.5",
        "+2",
        "-0.00",
        "-0",
        "1,000",
        "",
        "$5",
        "0.12345678901",
        "1234567890123456789",
        ".5",
    ]
)
AMOUNTS = st.one_of(GOOD_AMOUNTS, GOOD_AMOUNTS, GOOD_AMOUNTS, BAD_AMOUNTS)


@st.composite
def rows(draw) -> dict:
    cost = draw(AMOUNTS)
    category = draw(st.sampled_from(["Usage", "Usage", "Usage", "Purchase", "Credit", "Tax", "Refund"]))
    commitment = draw(st.sampled_from(["", "", "cd-1", "cd-2"]))
    row = focus_row(
        cost,
        hour=draw(st.integers(0, 23)),
        day=date(2026, 10, draw(st.integers(1, 4))),
        category=category,
        charge_class=draw(st.sampled_from(["", "", "", "Correction", "Other"])),
        account=draw(st.sampled_from(["111", "222"])),
        sub_account=draw(st.sampled_from(["prod", "dev", ""])),
        service_category=draw(st.sampled_from(["AI and Machine Learning"] * 4 + ["Compute"])),
        sku=draw(st.sampled_from(["sku-in", "sku-out"])),
        tags=draw(st.sampled_from(['{"team": "support"}', "", '{"team": "ml", "env": 1}', "{bad"])),
        invoice=draw(st.sampled_from(["", "INV-1", "INV-2"])),
        quantity=draw(st.one_of(st.just(""), st.just("null"), GOOD_AMOUNTS, st.just("lots"))),
        end_hours=draw(st.sampled_from([1, 1, 1, 24, 50, 24 * 30, 0])),
    )
    row["BillingCurrency"] = draw(st.sampled_from(["USD", "USD", "USD", "EUR", "usd", "XX"]))
    row["CommitmentDiscountId"] = commitment
    row["EffectiveCost"] = draw(st.one_of(st.just(cost), st.just(""), st.just("null"), AMOUNTS))
    row["ChargeFrequency"] = draw(st.sampled_from(["", "Recurring", "One-Time", "Usage-Based", "Weekly"]))
    row["PricingCurrency"] = draw(st.sampled_from(["", "", "USD", "Credits"]))
    row["SkuPriceId"] = draw(st.sampled_from(["", "price-1"]))
    row["x_LineItemId"] = draw(
        st.sampled_from(["", "", "line-1", "line-2", " line-1 ", "\tline-2", "é-1", " "])
    )
    if draw(st.integers(0, 9)) == 0:
        row["ChargePeriodStart"] = draw(st.sampled_from(["yesterday", "2026-10-01 00:00:00 UTC", ""]))
    return row


@st.composite
def exports(draw, kind=rows) -> list[dict]:
    """Rows (of the strategy `kind`), some of them repeated (a duplicated line) later in the file."""
    made = draw(st.lists(kind(), min_size=1, max_size=25))
    for _ in range(draw(st.integers(0, 3))):
        made.insert(draw(st.integers(0, len(made))), dict(draw(st.sampled_from(made))))
    return made


def write_parquet(path: Path, rows: list[dict], *, columns) -> Path:
    """The rows as a Parquet file of text columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = path.with_suffix(".parquet")
    pq.write_table(pa.table({name: [row.get(name, "") for row in rows] for name in columns}), path)
    return path


def same_batches(python, duck) -> None:
    assert repr(duck.facts) == repr(python.facts)
    assert repr(duck.lots) == repr(python.lots)
    assert repr(duck.invoices) == repr(python.invoices)
    assert duck.quarantined == python.quarantined
    assert duck.tally.as_dict() == python.tally.as_dict()
    assert duck.tally.unparsed_amounts == python.tally.unparsed_amounts
    assert [f.as_dict() for f in duck.files] == [f.as_dict() for f in python.files]


def both(paths: list[Path], options: FocusOptions):
    """The two importers' batches, or the two problems that refused the import."""
    refused = None
    try:
        python = read_focus(paths, options)
    except FocusFileError as exc:
        refused = exc.problem
    if refused is None:
        return python, read_focus_duckdb(paths, options)
    with pytest.raises(FocusFileError) as duck:
        read_focus_duckdb(paths, options)
    assert duck.value.problem == refused
    return None, None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    export=exports(),
    columns=st.sampled_from([COLUMNS, FOCUS_COMMITMENT_COLUMNS]),
    accept=st.booleans(),
    unique=st.booleans(),
    parquet=st.booleans(),
)
def test_duckdb_buckets_equal_the_python_importers(
    tmp_path, export, columns, accept, unique, parquet
) -> None:
    path = (write_parquet if parquet else focus_csv)(tmp_path / "export", export, columns=columns)
    options = FocusOptions(entity="main", accept_duplicates=accept, unique_line_ids=unique)
    python, duck = both([path], options)
    if python is None:
        return
    same_batches(python, duck)
    assert duck.readers == {str(path): "duckdb"}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=exports(), second=exports())
def test_two_files_of_one_export_and_gzip(tmp_path, first, second) -> None:
    """Several files share the checks' state (an account's one currency, the buckets): same result."""
    paths = [
        focus_csv(tmp_path / "part-1.csv.gz", first, columns=COLUMNS, gz=True),
        focus_csv(tmp_path / "part-2.csv", second, columns=COLUMNS, bom=True),
    ]
    python, duck = both(paths, FocusOptions(entity="main", services=None))
    if python is not None:
        same_batches(python, duck)
        assert set(duck.readers.values()) == {"duckdb"}


def test_a_clean_export_is_summed_by_duckdb_with_python_exponents(tmp_path) -> None:
    """Golden: 1.50 + 2.5 + 0.125 is 4.125 (three places), as Decimal addition gives it."""
    export = [focus_row("1.50"), focus_row("2.5", hour=1), focus_row("0.125", hour=2, quantity="")]
    path = focus_csv(tmp_path / "export.csv", export, columns=COLUMNS)
    duck = read_focus_duckdb([path], FocusOptions(entity="main"))
    assert duck.readers == {str(path): "duckdb"}
    [fact] = duck.facts
    assert str(fact.amount) == "4.125"
    assert fact.quantity is None  # one row had no quantity: the bucket's quantity is unknown
    assert duck.tally.as_dict()["amounts"]["accepted"] == {"USD": "4.125"}


def test_a_file_duckdb_cannot_read_as_python_does_is_read_by_python(tmp_path) -> None:
    """A quoted value spanning lines: the importer refuses the file, naming the row, whichever reads it."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerow(focus_row("1.00"))
    writer.writerow(focus_row("2.00", hour=1) | {"ChargeDescription": "two\nlines"})
    path = tmp_path / "export.csv"
    path.write_text(buffer.getvalue())
    with pytest.raises(FocusFileError) as python:
        read_focus([path], FocusOptions(entity="main"))
    with pytest.raises(FocusFileError) as duck:
        read_focus_duckdb([path], FocusOptions(entity="main"))
    assert duck.value.problem == python.value.problem
    assert "row 3" in str(duck.value.problem)


def second_row_changed(path: Path, changes: dict) -> Path:
    """A CSV of three hourly rows of one stream, the second with `changes`."""
    rows = [focus_row("1.00"), focus_row("2.00", hour=1) | changes, focus_row("3.00", hour=2)]
    return focus_csv(path, rows, columns=COLUMNS)


def test_a_nul_in_a_static_value_of_a_csv_is_quarantined_as_python_does(tmp_path) -> None:
    """A CSV's groups carry their static values joined by NUL (the importer's key for their checks); a
    value holding NUL would not split back into its columns, so such a file is read by the importer,
    which quarantines the row naming the column."""
    path = second_row_changed(tmp_path / "export.csv", {"ChargeDescription": "model\x00one"})
    python, duck = both([path], FocusOptions(entity="main"))
    same_batches(python, duck)
    [row] = duck.quarantined
    assert (row.problem.location, row.problem.field, row.problem.message) == (
        "row 3",
        "ChargeDescription",
        "holds a NUL character",
    )
    assert duck.readers == {str(path): "python (a value holds a NUL character)"}


def test_a_short_line_is_quarantined_as_python_does(tmp_path) -> None:
    path = focus_csv(tmp_path / "export.csv", [focus_row("1.00"), focus_row("2.00", hour=1)], columns=COLUMNS)
    path.write_text(path.read_text() + "1.00,111\n")
    python = read_focus([path], FocusOptions(entity="main"))
    duck = read_focus_duckdb([path], FocusOptions(entity="main"))
    same_batches(python, duck)
    assert duck.readers[str(path)].startswith("python")
    assert [q.problem.location for q in duck.quarantined] == ["row 4"]


SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "specs" / "focus-1.2" / "data"


@pytest.mark.parametrize("sample", sorted(SAMPLES.rglob("*.csv")), ids=lambda p: p.name)
def test_the_spec_samples_read_the_same_by_duckdb(sample) -> None:
    python, duck = both([sample], FocusOptions(entity="main", services=None))
    if python is not None:
        same_batches(python, duck)


def test_negative_zeros_are_summed_by_duckdb_with_pythons_sign(tmp_path) -> None:
    """-0.00 is a Decimal of its own sign: -0.00 + -0.00 is -0.00 in Python, -0.00 + 0.00 is 0.00. DuckDB
    sums them (no second pass for Python), giving each group's sum the sign Python's addition gives it."""
    rows = [focus_row("-0.00"), focus_row("-0.00", hour=1)]
    rows += [focus_row("-0.00", day=date(2026, 10, 2)), focus_row("0.00", hour=1, day=date(2026, 10, 2))]
    path = focus_csv(tmp_path / "export.csv", rows, columns=COLUMNS)
    python, duck = both([path], FocusOptions(entity="main"))
    same_batches(python, duck)
    assert duck.readers == {str(path): "duckdb"}
    assert [str(f.amount) for f in duck.facts] == ["0.00", "0.00"]  # as booked (step 2 adds to +0)


def test_parquet_of_text_decimals_and_timestamps_is_read_by_duckdb(tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    export = [focus_row("1.25"), focus_row("2.50", hour=3), focus_row("bad", hour=4)]
    table = pa.table({name: [row.get(name, "") for row in export] for name in COLUMNS})
    table = table.set_column(
        COLUMNS.index("BilledCost"),
        "BilledCost",
        pa.array([Decimal("1.2500"), Decimal("2.5000"), None], pa.decimal128(12, 4)),
    )
    for name in ("ChargePeriodStart", "ChargePeriodEnd"):
        moments = [datetime.fromisoformat(row[name].replace("Z", "+00:00")) for row in export]
        table = table.set_column(COLUMNS.index(name), name, pa.array(moments, pa.timestamp("us", tz="UTC")))
    path = tmp_path / "export.parquet"
    pq.write_table(table, path)
    python, duck = both([path], FocusOptions(entity="main"))
    same_batches(python, duck)
    assert duck.readers == {str(path): "duckdb"}
    assert str(duck.facts[0].amount) == "3.7500"
    assert [q.problem.field for q in duck.quarantined] == ["BilledCost"]


def test_parquet_float32_is_left_to_python(tmp_path) -> None:
    """DuckDB writes some 32-bit floats with more digits than pyarrow's shortest text: Python reads them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    export = [focus_row("1.25"), focus_row("2.5", hour=3)]
    table = pa.table({name: [row.get(name, "") for row in export] for name in COLUMNS})
    table = table.set_column(COLUMNS.index("BilledCost"), "BilledCost", pa.array([1.25, 2.5], pa.float32()))
    path = tmp_path / "export.parquet"
    pq.write_table(table, path)
    python, duck = both([path], FocusOptions(entity="main"))
    same_batches(python, duck)
    assert duck.readers[str(path)].startswith("python")


def aws_focus_parquet(path: Path, rows: list[dict], costs: list[float | None], tags: list) -> Path:
    """A FOCUS file shaped as AWS Data Exports writes it (the AWS FOCUS 1.2 columns page): costs and
    quantities DOUBLE, charge periods timestamp[ms, UTC], Tags a MAP of strings."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({name: [row.get(name, "") for row in rows] for name in COLUMNS})
    for name in ("BilledCost", "EffectiveCost"):
        table = table.set_column(COLUMNS.index(name), name, pa.array(costs, pa.float64()))
    quantities = [None if row["ConsumedQuantity"] == "" else float(row["ConsumedQuantity"]) for row in rows]
    table = table.set_column(
        COLUMNS.index("ConsumedQuantity"), "ConsumedQuantity", pa.array(quantities, pa.float64())
    )
    for name in ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart"):
        moments = [datetime.fromisoformat(row[name].replace("Z", "+00:00")) for row in rows]
        table = table.set_column(COLUMNS.index(name), name, pa.array(moments, pa.timestamp("ms", tz="UTC")))
    table = table.set_column(COLUMNS.index("Tags"), "Tags", pa.array(tags, pa.map_(pa.string(), pa.string())))
    pq.write_table(table, path)
    return path


def test_aws_focus_parquet_doubles_and_map_tags_are_read_by_duckdb_exactly(tmp_path) -> None:
    """AWS's own shape: DuckDB reads it (no fallback), to the same facts as Python; a DOUBLE is read as
    its shortest round-trip text (0.1 + 0.2 is 0.3 in the books, not 0.30000000000000004), and MAP tags
    land in the same tag dimension as the JSON text tags of a CSV export."""
    export = [focus_row("0", hour=h) for h in range(24)] + [focus_row("0", hour=1, day=date(2026, 10, 2))]
    costs = [0.1, 0.2, 1e-7, 1234567.5, -0.0, 100.0, *([0.000731] * 18), 2.5]
    tags = [
        [("team", "support")],
        [("team", "support")],
        [("team", "r\u00e9search")],
        None,
        [],
        *([[("env", "prod"), ("team", "ml")]] * 20),
    ]
    path = aws_focus_parquet(tmp_path / "aws.parquet", export, costs, tags)
    python, duck = both([path], FocusOptions(entity="main"))
    same_batches(python, duck)
    assert duck.readers == {str(path): "duckdb"}
    # the same export as CSV, tags as FOCUS's JSON text: the same facts, dimension for dimension
    as_csv = [
        row | {"BilledCost": repr(cost), "EffectiveCost": repr(cost), "Tags": json.dumps(dict(tag or []))}
        for row, cost, tag in zip(export, costs, tags, strict=True)
    ]
    from_csv = read_focus(
        [focus_csv(tmp_path / "aws.csv", as_csv, columns=COLUMNS)], FocusOptions(entity="main")
    )
    assert [(f.charge_date, f.amount, f.dimensions.as_dict()) for f in duck.facts] == [
        (f.charge_date, f.amount, f.dimensions.as_dict()) for f in from_csv.facts
    ]
    assert {f.dimensions.tags().get("team") for f in duck.facts} == {"support", "r\u00e9search", None, "ml"}
    assert sum((f.amount for f in duck.facts), Decimal(0)) == Decimal(
        "1234670.3131581"
    )  # 0.1 + 0.2 + 1e-7 + … as decimals


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.decimals(places=6, min_value=-1e6, max_value=1e6).map(float),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_a_double_is_written_as_pyarrow_writes_it(tmp_path, values) -> None:
    """The text DuckDB gives a DOUBLE is the text the Python importer reads (pyarrow's cast): the same
    shortest round-trip digits, written the same way, whatever the double."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from connector.sources.warehouse.duckdb_engine import DuckDBLimits, connect

    column = pa.array(values, pa.float64())
    path = tmp_path / "doubles.parquet"
    pq.write_table(pa.table({"x": column}), path)
    connection = connect(DuckDBLimits())
    texts = [
        row[0]
        for row in connection.execute(f"SELECT tb_float_text(x) FROM read_parquet('{path}')").fetchall()
    ]
    assert texts == pc.cast(column, pa.string()).to_pylist()


TYPED_AMOUNTS = ("BilledCost", "EffectiveCost", "ConsumedQuantity")
TYPED_MOMENTS = ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart")


def _typed_amount(text: str, kind: str):
    """A random row's amount text as a typed Parquet value: what the type can hold, else NULL."""
    try:
        value = Decimal(text)
    except ArithmeticError:
        return None
    if not value.is_finite():
        return None
    if kind == "double":
        return float(value)
    if value.as_tuple().exponent < -10 or abs(value) >= 10**28:  # DECIMAL(38, 10) cannot hold it
        return None
    return value


def _typed_moment(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def write_typed_parquet(path: Path, rows: list[dict], amounts: str, unit: str, zone: str | None) -> Path:
    """The rows as Parquet typed as the clouds write it: amounts DECIMAL(38, 10) (a warehouse's NUMERIC)
    or DOUBLE (AWS's FOCUS), charge and billing periods TIMESTAMP (AWS: milliseconds, UTC); a value
    its type cannot hold is NULL."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {}
    for name in COLUMNS:
        values = [row.get(name, "") for row in rows]
        if name in TYPED_AMOUNTS:
            kind = pa.float64() if amounts == "double" else pa.decimal128(38, 10)
            arrays[name] = pa.array([_typed_amount(v, amounts) for v in values], kind)
        elif name in TYPED_MOMENTS:
            moments = [_typed_moment(v) for v in values]
            if zone is None:
                moments = [m.replace(tzinfo=None) if m else None for m in moments]
            arrays[name] = pa.array(moments, pa.timestamp(unit, tz=zone))
        else:
            arrays[name] = pa.array(values, pa.string())
    path = path.with_suffix(".parquet")
    pq.write_table(pa.table(arrays), path)
    return path


@st.composite
def typed_rows(draw) -> dict:
    """A random row with what typed files add: NULL amounts and periods, periods ending before they
    start, DOUBLEs that are not plain decimals (1e-07, 0.30000000000000004, NaN), moments with
    fractions of a second."""
    row = draw(rows())
    for name in ("BilledCost", "EffectiveCost"):
        row[name] = draw(
            st.one_of(
                st.just(row[name]),
                st.sampled_from(["", "1e-7", "0.30000000000000004", "NaN", "5.2e-06", "-0.0", "1e12"]),
                st.decimals(min_value=-(10**6), max_value=10**6, places=4, allow_nan=False).map(str),
            )
        )
    if draw(st.integers(0, 5)) == 0:
        start = _typed_moment(row["ChargePeriodStart"])
        if start is not None:
            end = start + timedelta(
                milliseconds=draw(st.sampled_from([-3_600_000, 1, 1500, 86_400_000, 86_400_001]))
            )
            row["ChargePeriodEnd"] = end.isoformat().replace("+00:00", "Z")
    return row


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    export=exports(typed_rows),
    amounts=st.sampled_from(["decimal", "double"]),
    unit=st.sampled_from(["ms", "us", "s"]),
    zone=st.sampled_from(["UTC", None]),
    accept=st.booleans(),
    unique=st.booleans(),
)
def test_typed_parquet_takes_the_typed_path_to_the_python_importers_facts(
    tmp_path, export, amounts, unit, zone, accept, unique
) -> None:
    """Typed Parquet (DECIMAL or DOUBLE amounts, TIMESTAMP periods, NULLs where the type holds no value)
    read by DuckDB's typed path gives the Python importer's facts, lots, invoices, quarantined rows and
    tally: a NULL amount or period, an end before its start, a DOUBLE with more than ten fraction digits
    are quarantined or read as the importer does."""
    path = write_typed_parquet(tmp_path / "typed", export, amounts, unit, zone)
    python, duck = both([path], FocusOptions(entity="main", accept_duplicates=accept, unique_line_ids=unique))
    if python is None:
        return
    same_batches(python, duck)
    assert duck.readers == {str(path): "duckdb"}


def test_the_typed_path_reads_typed_columns_without_text_checks(tmp_path) -> None:
    """The typed path is taken: the bucket query for a typed file matches no regular expression on an
    amount or a charge period (what the type guarantees), and still gives the importer's facts."""
    from connector.sources.focus import FileReader, FocusBatch
    from connector.sources.focus_aggregate import FocusAggregate
    from connector.sources.warehouse import duckdb_engine
    from connector.sources.warehouse.aggregation import PLAIN_DECIMAL, bucket_query, render
    from connector.sources.warehouse.focus_duckdb import bucket_spec

    export = [focus_row("1.25"), focus_row("2.5", hour=1), focus_row("", hour=2)]
    path = write_typed_parquet(tmp_path / "typed", export, "decimal", "ms", "UTC")
    options = FocusOptions(entity="main")
    reader = FileReader(path, options, FocusBatch(), FocusAggregate(), None)
    reader.open().close()
    connection = duckdb_engine.connect(duckdb_engine.DuckDBLimits())
    found = duckdb_engine.source(connection, path, reader.col.width)
    assert found is not None
    spec = bucket_spec(reader.col, found.columns, options, found.typed)
    query = render(bucket_query(spec, found.table, found.row_number, None), "duckdb")
    assert PLAIN_DECIMAL not in query
    assert "REGEXP" not in query.upper()
    python, duck = both([path], options)
    same_batches(python, duck)
    assert [str(f.amount) for f in duck.facts] == ["3.7500000000"]
    assert [q.problem.field for q in duck.quarantined] == ["BilledCost"]


@pytest.mark.parametrize("typed", [False, True], ids=["text", "typed"])
def test_parquet_repeats_are_found_by_line_id_and_by_whole_row(tmp_path, typed) -> None:
    """Golden: the sorted survey of line ids finds a repeated id (other values) and, because some ids are
    empty, surveys whole rows too and finds the exact repeat among them: both quarantined, as Python."""
    export = [
        focus_row("1.00") | {"x_LineItemId": "a"},
        focus_row("2.00", hour=1) | {"x_LineItemId": ""},
        focus_row("3.00", hour=2) | {"x_LineItemId": "a"},  # id a again, other values
        focus_row("2.00", hour=1) | {"x_LineItemId": ""},  # row 3 again, no id
        focus_row("4.00", hour=3) | {"x_LineItemId": "b"},
    ]
    if typed:
        path = write_typed_parquet(tmp_path / "typed", export, "decimal", "ms", "UTC")
    else:
        path = write_parquet(tmp_path / "text", export, columns=COLUMNS)
    python, duck = both([path], FocusOptions(entity="main"))
    same_batches(python, duck)
    assert duck.readers == {str(path): "duckdb"}
    assert [q.problem.location for q in duck.quarantined] == ["row 4", "row 5"]
    assert sum(f.amount for f in duck.facts) == Decimal("7")


def test_auto_gives_parquet_and_csv_above_their_sizes_to_duckdb(tmp_path) -> None:
    """`--engine auto`: Parquet above its (smaller) threshold and CSV above its own go to DuckDB; the rest
    stays with the Python importer. Same batch either way."""
    from connector.sources.warehouse.choice import FocusReader

    rows = [focus_row("1.25"), focus_row("2.5", hour=1)]
    csv_path = focus_csv(tmp_path / "export.csv", rows, columns=COLUMNS)
    parquet_path = write_parquet(tmp_path / "export", rows, columns=COLUMNS)
    options = FocusOptions(entity="main")
    small = FocusReader(
        "auto",
        duckdb_above_bytes=csv_path.stat().st_size,
        duckdb_parquet_above_bytes=parquet_path.stat().st_size,
    )
    assert not small.uses_duckdb([csv_path])
    assert not small.uses_duckdb([parquet_path])
    large = FocusReader("auto", duckdb_above_bytes=csv_path.stat().st_size - 1, duckdb_parquet_above_bytes=0)
    assert large.read([csv_path], options).readers == {str(csv_path): "duckdb"}
    assert large.read([parquet_path], options).readers == {str(parquet_path): "duckdb"}
    assert FocusReader("auto").read([csv_path], options).readers == {str(csv_path): "python"}
    assert FocusReader().duckdb_parquet_above_bytes < FocusReader().duckdb_above_bytes


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pieces=st.lists(st.sampled_from([b"a", b",", b"\n", b"\r", b"\r\n", b'"']), max_size=60),
    cut=st.integers(0, 60),
)
def test_the_line_count_in_blocks_is_the_csv_modules(tmp_path, pieces, cut) -> None:
    """`LineCount` fed in blocks (split anywhere, a \\r\\n across two blocks included) counts the lines the
    csv module counts; `Lineage` gives them beside `fingerprint`'s size and sha256."""
    from concurrent.futures import ThreadPoolExecutor

    from connector.sources.focus_files import fingerprint
    from connector.sources.warehouse.duckdb_engine import LineCount, physical_lines
    from connector.sources.warehouse.focus_duckdb import Lineage

    data = b"".join(pieces)
    path = tmp_path / "lines.csv"
    path.write_bytes(data)
    counted = LineCount()
    counted.add(data[:cut])
    counted.add(data[cut:])
    expected = len(data.decode().splitlines()) if data else 0  # csv's line ends: \n, \r\n and a lone \r
    assert counted.total() == physical_lines(path) == expected
    with ThreadPoolExecutor(max_workers=1) as pool:
        lineage = Lineage(pool, path)
        assert (lineage.lines(), lineage.result()) == (expected, fingerprint(path))


def test_repeated_rows_without_line_ids_are_found_in_one_read_and_quarantined_as_python_does(
    tmp_path, monkeypatch
) -> None:
    """Identical rows fall in one group: the bucket query flags it and the importer's loop reads its rows,
    quarantining the repeats by row number; no survey reads the file first."""
    import connector.sources.warehouse.focus_duckdb as focus_duckdb

    export = [focus_row("1.00"), focus_row("2.00", hour=1), focus_row("3.00", hour=2, sku="sku-out")]
    export += [dict(export[1]), focus_row("4.00", hour=3), dict(export[1]), dict(export[2])]
    path = focus_csv(tmp_path / "export.csv", export, columns=FOCUS_COMMITMENT_COLUMNS)
    python = read_focus([path], FocusOptions(entity="main"))

    def no_survey(*args, **kwargs):
        raise AssertionError("a file without line ids is read once: no survey")

    monkeypatch.setattr(focus_duckdb, "survey_query", no_survey)
    duck = read_focus_duckdb([path], FocusOptions(entity="main"))
    same_batches(python, duck)
    assert duck.readers == {str(path): "duckdb"}
    assert [(q.problem.location, q.problem.message[:14]) for q in duck.quarantined] == [
        ("row 5", "repeats row 3 "),
        ("row 7", "repeats row 3 "),
        ("row 8", "repeats row 4 "),
    ]
    assert sum(f.amount for f in duck.facts) == Decimal("10.00")


@pytest.mark.parametrize("kind", ["csv", "parquet", "typed"])
def test_unique_line_ids_are_not_surveyed_and_rows_without_an_id_still_are(
    tmp_path, monkeypatch, kind
) -> None:
    """Golden, `unique_line_ids` (the provider writes each id once per file): an id given twice is two
    charges for both readers, and no survey reads the ids first; an exact repeat of a row without an id
    is still quarantined, naming the row it repeats."""
    import connector.sources.warehouse.focus_duckdb as focus_duckdb

    export = [
        focus_row("1.00") | {"x_LineItemId": "a"},
        focus_row("2.00", hour=1) | {"x_LineItemId": ""},
        focus_row("3.00", hour=2) | {"x_LineItemId": "a"},  # id a again, other values: trusted
        focus_row("2.00", hour=1) | {"x_LineItemId": ""},  # row 3 again, no id: a duplicated line
        focus_row("4.00", hour=3) | {"x_LineItemId": "b"},
    ]
    if kind == "typed":
        path = write_typed_parquet(tmp_path / "typed", export, "decimal", "ms", "UTC")
    else:
        path = (write_parquet if kind == "parquet" else focus_csv)(
            tmp_path / "export", export, columns=COLUMNS
        )
    options = FocusOptions(entity="main", unique_line_ids=True)
    python = read_focus([path], options)

    def no_survey(*args, **kwargs):
        raise AssertionError("unique line ids: no survey")

    monkeypatch.setattr(focus_duckdb, "survey_query", no_survey)
    duck = read_focus_duckdb([path], options)
    same_batches(python, duck)
    assert duck.readers == {str(path): "duckdb"}
    assert [(q.problem.location, q.problem.message[:14]) for q in duck.quarantined] == [
        ("row 5", "repeats row 3 ")
    ]
    assert sum(f.amount for f in duck.facts) == Decimal("10")
    checked = read_focus([path], FocusOptions(entity="main"))  # the default: the repeated id is refused
    assert [q.problem.location for q in checked.quarantined] == ["row 4", "row 5"]


def test_a_line_id_of_unicode_spaces_alone_sends_a_unique_ids_file_to_python(tmp_path) -> None:
    """An id that is only a no-break space is empty for the importer (str.strip), so its row is checked
    as a row without an id; DuckDB's trim keeps it: the query flags it and the importer reads the file."""
    export = [
        focus_row("1.00") | {"x_LineItemId": "\u00a0"},
        focus_row("2.00", hour=1) | {"x_LineItemId": "b"},
        focus_row("1.00") | {"x_LineItemId": "\u00a0"},  # row 2 again: a duplicated line for the importer
    ]
    path = focus_csv(tmp_path / "export.csv", export, columns=COLUMNS)
    python, duck = both([path], FocusOptions(entity="main", unique_line_ids=True))
    same_batches(python, duck)
    assert duck.readers == {str(path): "python (a line id has unusual whitespace at an edge)"}
    assert [q.problem.location for q in duck.quarantined] == ["row 4"]


@pytest.mark.parametrize("parquet", [False, True], ids=["csv", "parquet"])
def test_a_large_amount_and_double_residues_sum_exactly_and_19_digits_are_quarantined(
    tmp_path, parquet
) -> None:
    """Golden: 1234567890.5 and two DOUBLE residues of one day sum to every one of their 42 digits (28 would
    round, and the conservation check would then fail the import), in both readers; an amount of 19
    digits before the point is quarantined by both, naming the bound."""
    export = [
        focus_row("1234567890.5"),
        focus_row("2.220446049250313E-16", hour=1),
        focus_row("-1.1102230246251565E-16", hour=2),
        focus_row("1000000000000000000", hour=3),
    ]
    path = (write_parquet if parquet else focus_csv)(tmp_path / "export", export, columns=COLUMNS)
    python, duck = both([path], FocusOptions(entity="main"))
    same_batches(python, duck)
    assert [str(f.amount) for f in duck.facts] == ["1234567890.50000000000000011102230246251565"]
    [quarantined] = duck.quarantined
    assert (quarantined.problem.location, quarantined.problem.field) == ("row 5", "BilledCost")
    assert "more than 18 digits before the decimal point" in quarantined.problem.message


@pytest.fixture
def row_numbers(monkeypatch) -> list[str]:
    """The row-number expression of every bucket query DuckDB's import runs, in order ("0": unnumbered)."""
    import connector.sources.warehouse.focus_duckdb as focus_duckdb

    numbers: list[str] = []
    real = focus_duckdb.bucket_query

    def recorded(spec, source, row_number, *args, **kwargs):
        numbers.append(row_number)
        return real(spec, source, row_number, *args, **kwargs)

    monkeypatch.setattr(focus_duckdb, "bucket_query", recorded)
    return numbers


def test_a_csv_is_checked_unnumbered_unless_a_check_refuses_and_then_in_file_order(
    tmp_path, row_numbers
) -> None:
    """Numbering a CSV's rows keeps DuckDB on one core, so its groups are first read unnumbered and
    checked in any order. A file whose checks all pass keeps that one read; one where a check refuses a
    group (an account billed in a second currency: the first row decides) is read again, numbered, and
    gives the importer's batch, naming the row that decided. A file before the last of an import is
    read numbered: a later file's message may name its rows."""

    clean = [focus_row("1.00"), focus_row("2.00", hour=1, sku="sku-out"), focus_row("3.00", hour=2)]
    path = focus_csv(tmp_path / "clean.csv", clean, columns=COLUMNS)
    python, duck = both([path], FocusOptions(entity="main"))
    same_batches(python, duck)
    assert row_numbers == ["0"]

    row_numbers.clear()
    path = second_row_changed(tmp_path / "mixed.csv", {"BillingCurrency": "EUR"})
    python, duck = both([path], FocusOptions(entity="main"))
    same_batches(python, duck)
    assert row_numbers == ["0", "ROW_NUMBER() OVER () + 1"]
    assert [q.problem.location for q in duck.quarantined] == ["row 3"]
    assert "row 2" in duck.quarantined[0].problem.message  # the first USD row decided

    row_numbers.clear()
    first = focus_csv(tmp_path / "part-1.csv", clean, columns=COLUMNS)
    python, duck = both([first, path], FocusOptions(entity="main"))
    same_batches(python, duck)
    assert row_numbers == ["ROW_NUMBER() OVER () + 1", "0", "ROW_NUMBER() OVER () + 1"]


def test_a_csv_of_more_groups_than_are_held_is_read_again_numbered(
    tmp_path, monkeypatch, row_numbers
) -> None:
    """The unnumbered read holds its groups until all are checked; past UNORDERED_GROUPS the file is read
    again, numbered, and streamed: the same batch as the importer's."""
    import connector.sources.warehouse.focus_duckdb as focus_duckdb

    monkeypatch.setattr(focus_duckdb, "UNORDERED_GROUPS", 2)
    rows = [focus_row("1.00", hour=h, day=date(2026, 10, 1 + h % 4)) for h in range(8)]
    path = focus_csv(tmp_path / "many.csv", rows, columns=COLUMNS)
    python, duck = both([path], FocusOptions(entity="main"))
    same_batches(python, duck)
    assert len(duck.facts) == 4
    assert row_numbers == ["0", "ROW_NUMBER() OVER () + 1"]

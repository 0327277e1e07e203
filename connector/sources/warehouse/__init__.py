"""Billing exports aggregated where they live: the FOCUS bucket query written once (`aggregation`), run
by an engine (`duckdb_engine`: embedded, over local CSV or Parquet files) and turned into the same buckets
the Python FOCUS importer sums row by row (`focus_duckdb`). docs/warehouses.md says what runs where.
"""

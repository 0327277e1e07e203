"""Which reader imports a FOCUS export: the Python importer, or DuckDB for large files.

`auto` gives DuckDB an import whose files together exceed a size, where its speed pays for starting it;
smaller ones stay with the Python importer. Both give the same batch (tests/sources/test_warehouse_duckdb.py);
DuckDB is imported only when it is used. The sizes are measured (docs/performance.md, "Warehouses"):

- Parquet: DuckDB needs half the Python importer's CPU from 100,000 rows (0.68 MB: 0.57 s against 1.1 s)
  and a quarter at 1,000,000 (2.2 s against 8.6 s), so above 512 KiB;
- CSV: both parse every byte. Since DuckDB reads a file without line ids once (repeated rows flagged per
  group) it needs less CPU than the Python importer from about 30,000 rows (16 MB: 0.37 s against 0.35 s;
  100,000 rows, 54 MB: 0.88 s against 1.02 s; 1,000,000 rows, 544 MB: 6.6 s against 10.2 s), and it
  runs on both cores: above 32 MiB (it was 64 MiB while DuckDB parsed such a file twice).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from connector.sources.focus import FocusBatch, FocusOptions, read_focus
from connector.sources.focus_files import is_parquet
from connector.sources.warehouse.duckdb_engine import DuckDBLimits

ENGINES = ("auto", "python", "duckdb")
KIB, MIB = 1 << 10, 1 << 20


@dataclass(frozen=True)
class FocusReader:
    kind: str = "auto"  # auto | python | duckdb (the reading engine; `engine` names the database elsewhere)
    duckdb_above_bytes: int = 32 * MIB  # CSV
    duckdb_parquet_above_bytes: int = 512 * KIB
    limits: DuckDBLimits = field(default_factory=DuckDBLimits)

    def uses_duckdb(self, paths: list[Path]) -> bool:
        if self.kind != "auto":
            return self.kind == "duckdb"
        files = [path for path in paths if path.is_file()]
        parquet = sum(path.stat().st_size for path in files if is_parquet(path))
        text = sum(path.stat().st_size for path in files if not is_parquet(path))
        return parquet > self.duckdb_parquet_above_bytes or text > self.duckdb_above_bytes

    def read(
        self,
        paths: Iterable[Path],
        options: FocusOptions,
        progress: Callable[[int, str], None] | None = None,
    ) -> FocusBatch:
        paths = list(paths)
        if not self.uses_duckdb(paths):
            return read_focus(paths, options, progress)
        # here: an import of small files (and `tokenbooks --help`) loads neither DuckDB nor sqlglot
        from connector.sources.warehouse.focus_duckdb import read_focus_duckdb

        return read_focus_duckdb(paths, options, self.limits, progress)

"""Which reader imports a FOCUS export: the Python importer, or DuckDB for large files.

`auto` (the default) gives DuckDB an import whose files together exceed a size (64 MiB unless set), where
its speed pays for starting it; smaller ones stay with the Python importer. Both give the same batch
(tests/sources/test_warehouse_duckdb.py); DuckDB is imported only when it is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from connector.sources.focus import FocusBatch, FocusOptions, read_focus
from connector.sources.warehouse.duckdb_engine import DuckDBLimits
from connector.sources.warehouse.focus_duckdb import read_focus_duckdb

ENGINES = ("auto", "python", "duckdb")
MIB = 1 << 20


@dataclass(frozen=True)
class FocusReader:
    kind: str = "auto"  # auto | python | duckdb (the reading engine; `engine` names the database elsewhere)
    duckdb_above_bytes: int = 64 * MIB
    limits: DuckDBLimits = field(default_factory=DuckDBLimits)

    def uses_duckdb(self, paths: list[Path]) -> bool:
        if self.kind != "auto":
            return self.kind == "duckdb"
        return sum(path.stat().st_size for path in paths if path.is_file()) > self.duckdb_above_bytes

    def read(
        self,
        paths: Iterable[Path],
        options: FocusOptions,
        progress: Callable[[int, str], None] | None = None,
    ) -> FocusBatch:
        paths = list(paths)
        if not self.uses_duckdb(paths):
            return read_focus(paths, options, progress)
        return read_focus_duckdb(paths, options, self.limits, progress)

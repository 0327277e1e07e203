"""Run every benchmark: `python -m bench` (one module per benchmark; each reports its own figures)."""

from __future__ import annotations

import sys

from bench import classify, console, focus_import, nightly_sync, warehouse_duckdb

BENCHMARKS = {
    "classify": classify,
    "focus_import": focus_import,
    "nightly_sync": nightly_sync,
    "console": console,
    "warehouse_duckdb": warehouse_duckdb,
}


def main() -> int:
    failed = []
    for name, module in BENCHMARKS.items():
        print(f"== {name}", flush=True)
        result = module.run()
        print(module.report(result), flush=True)
        if not result["meets_targets"]:
            failed.append(name)
    if failed:
        print(f"targets not met: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Run the benchmarks: `python -m bench [--facts N] [--database-url URL] [--json]` (see bench/nightly_sync.py)."""

from __future__ import annotations

import argparse
import json
import sys

from bench.nightly_sync import run


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="tokenbooks nightly sync benchmark")
    parser.add_argument(
        "--facts", type=int, default=1_000_000, help="cost facts in the month (default 1,000,000)"
    )
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temp folder")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = run(args.facts, args.database_url)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(
        f"Nightly sync: {figures['facts']:,} cost facts, {figures['rules']} rules, {figures['journals']} journals"
    )
    for r in figures["runs"]:
        print(
            f"  {r['label']:<26} {r['seconds']:>7.1f} s  status {r['status']:<9} facts {r['facts']:>9,}  "
            f"journals {r['journals']:>3}  ledger calls: {r['reads']} read, {r['writes']} write"
        )
    targets = figures["targets"]
    print(f"  peak memory (max RSS)      {figures['peak_memory_mb']:,} MB")
    print(
        f"  targets: ≤ {targets['write_calls_at_most']} write calls (ceil(journals / 30)), "
        f"0 writes on the second run, < {targets['seconds']} s per run"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Run every benchmark: `python -m bench`, each in a process of its own.

A benchmark's peak memory is its own process's (`bench/memory.py`): every one is started from this small
process, never after another in the same interpreter, so no figure carries what an earlier benchmark held.
Each prints its own report; the exit status says whether all met their targets.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ("classify", "focus_import", "nightly_sync", "console")


def main(argv: list[str] | None = None) -> int:
    chosen = argv if argv else list(BENCHMARKS)
    failed = []
    for name in chosen:
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{name}"], check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"targets not met: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

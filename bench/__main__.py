"""Run every benchmark: `python -m bench`."""

if __name__ == "__main__":
    raise SystemExit("no benchmarks yet")
